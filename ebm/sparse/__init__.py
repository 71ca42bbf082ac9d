"""Sparse coding: ``x (n, f) ≈ codes (n, k) @ dictionary (k, f)`` with the per-signal objective
``½‖x - z D‖² + α‖z‖₁`` (scikit-learn's convention)."""

__all__: list[str] = []
