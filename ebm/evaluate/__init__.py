"""Evaluation: partition functions, likelihoods, sample quality and representation monitors."""

from ebm.evaluate.ais import AISResult, ais_log_likelihood, ais_log_partition, sm_schedule
from ebm.evaluate.clustering import ari, clustering_accuracy, nmi
from ebm.evaluate.calibration import expected_calibration_error, ood_auroc
from ebm.evaluate.exact import empirical_entropy, exact_log_likelihood, pseudo_log_likelihood, reconstruction_error
from ebm.evaluate.goodness_of_fit import (
    DiscrepancyResult,
    classifier_two_sample_test,
    fisher_divergence,
    kernel_stein_discrepancy,
    median_bandwidth,
    mmd,
)
from ebm.evaluate.representation import knn_accuracy, linear_probe_accuracy, normalized_std, rank_me, singular_values
from ebm.grid import energy_on_grid, grid_log_partition, grid_sample

__all__ = [
    "grid_log_partition",
    "energy_on_grid",
    "grid_sample",
    "AISResult",
    "ais_log_likelihood",
    "ais_log_partition",
    "sm_schedule",
    "empirical_entropy",
    "exact_log_likelihood",
    "pseudo_log_likelihood",
    "reconstruction_error",
    "rank_me",
    "singular_values",
    "normalized_std",
    "linear_probe_accuracy",
    "knn_accuracy",
    "DiscrepancyResult",
    "median_bandwidth",
    "kernel_stein_discrepancy",
    "mmd",
    "fisher_divergence",
    "classifier_two_sample_test",
    "expected_calibration_error",
    "ood_auroc",
    "clustering_accuracy",
    "nmi",
    "ari",
]
