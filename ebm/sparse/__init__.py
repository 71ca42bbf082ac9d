"""Sparse coding: ``x (n, f) ≈ codes (n, k) @ dictionary (k, f)`` with the per-signal objective
``½‖x - z D‖² + α‖z‖₁`` (scikit-learn's convention: ``alpha`` is the plain l1 weight, as in
``sklearn.decomposition.sparse_encode``).

- `ista`, `fista`: batched proximal-gradient solvers with per-signal stopping (`SparseCode`).
- `LISTA`, `ALISTA`: learned unrolled encoders; losses for `ebm.train.train`; `lista_warm_start` and
  the `LISTAEarlyStopping` callback to train them to convergence.
- `coordinate_descent`: greedy CoD (Gregor & LeCun 2010's baseline); `prediction_error`,
  `iterations_to_reach`: their code-prediction measure; `sample_image_patches`: natural patches.
- `learn_dictionary`: batch alternating minimisation and online (Mairal et al. 2009).
- `objective`, `duality_gap`, `lipschitz_constant`, `soft_threshold`: the problem's pieces.
"""

from ebm.sparse.problem import duality_gap, lipschitz_constant, objective, soft_threshold
from ebm.sparse.solvers import SparseCode, fista, ista
from ebm.sparse.lista import ALISTA, LISTA, LISTAEarlyStopping, iterations_to_reach, lista_objective_loss, lista_supervised_loss, lista_warm_start, prediction_error
from ebm.sparse.coordinate import coordinate_descent
from ebm.sparse.patches import sample_image_patches
from ebm.sparse.dictionary import DictionaryLearning, learn_dictionary

__all__ = [
    "SparseCode", "ista", "fista", "LISTA", "ALISTA", "lista_objective_loss", "lista_supervised_loss", "lista_warm_start", "LISTAEarlyStopping",
    "prediction_error", "iterations_to_reach", "coordinate_descent", "sample_image_patches",
    "DictionaryLearning", "learn_dictionary", "objective", "duality_gap", "lipschitz_constant", "soft_threshold"]
