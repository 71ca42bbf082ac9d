"""Evaluation: partition functions, likelihoods, sample quality and representation monitors."""

from ebm.grid import energy_on_grid, grid_log_partition

__all__ = ["grid_log_partition", "energy_on_grid"]
