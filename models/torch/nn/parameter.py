"""``torch.nn.parameter``."""

from minigrad.nn import Parameter

__all__ = ["Parameter"]
