"""``torch.nn.modules.normalization``."""

from minigrad.nn import LayerNorm

__all__ = ["LayerNorm"]
