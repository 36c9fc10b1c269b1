"""``torch.nn.modules.dropout``."""

from minigrad.nn import Dropout

__all__ = ["Dropout"]
