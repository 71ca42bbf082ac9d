"""Evaluation: partition functions, likelihoods, sample quality and representation monitors."""

__all__: list[str] = []
