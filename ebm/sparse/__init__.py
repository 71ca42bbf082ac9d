"""Sparse coding: ``x (n, f) ≈ codes (n, k) @ dictionary (k, f)`` with the per-signal objective
``½‖x - z D‖² + α‖z‖₁`` (scikit-learn's convention: ``alpha`` is the plain l1 weight, as in
``sklearn.decomposition.sparse_encode``).

- `ista`, `fista`: batched proximal-gradient solvers with per-signal stopping (`SparseCode`).
- `objective`, `duality_gap`, `lipschitz_constant`, `soft_threshold`: the problem's pieces.
"""

from ebm.sparse.problem import duality_gap, lipschitz_constant, objective, soft_threshold
from ebm.sparse.solvers import SparseCode, fista, ista

__all__ = ["SparseCode", "ista", "fista", "objective", "duality_gap", "lipschitz_constant", "soft_threshold"]
