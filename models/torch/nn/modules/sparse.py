"""``torch.nn.modules.sparse``."""

from minigrad.nn import Embedding

__all__ = ["Embedding"]
