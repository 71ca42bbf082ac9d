"""A tiny stand-in for torchvision, for benchmarks/peers/lightly_loss_check.py only.

lightly's loss modules import `torchvision.ops.roi_align` and `torchvision.ops.StochasticDepth` at
module level; the registry's torchvision wheel is a CUDA build that does not load beside the CPU
torch. The losses cross-checked here never call either, so this package provides small working
versions of the two names and nothing else. It is put on sys.path by the check script only.
"""

from torchvision import ops  # noqa: F401
