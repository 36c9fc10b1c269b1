"""``torch.nn.modules.module``."""

from minigrad.nn import Module

__all__ = ["Module"]
