"""``torch.backends``: ``mps`` and ``cudnn`` report nothing available."""

from . import cudnn, mps

__all__ = ["cudnn", "mps"]
