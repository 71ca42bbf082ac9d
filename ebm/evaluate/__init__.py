"""Evaluation: partition functions, likelihoods, sample quality and representation monitors."""

from ebm.evaluate.representation import knn_accuracy, linear_probe_accuracy, normalized_std, rank_me, singular_values
from ebm.grid import energy_on_grid, grid_log_partition

__all__ = ["grid_log_partition", "energy_on_grid", "rank_me", "singular_values", "normalized_std", "linear_probe_accuracy", "knn_accuracy"]
