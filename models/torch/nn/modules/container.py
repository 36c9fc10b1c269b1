"""``torch.nn.modules.container``."""

from minigrad.nn import ModuleList, Sequential

__all__ = ["ModuleList", "Sequential"]
