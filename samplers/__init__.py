"""Batched MCMC over any energy callable ``E: (batch, *event) -> (batch,)``; imports torch only.

Convention: ``p(x) ∝ exp(-E(x))``. Chains are the batch dimension; device and dtype follow ``x0``.
"""
