"""Softmax modules (PyTorch's names): ``Softmax(dim)``, ``LogSoftmax(dim)``; x -> the same
shape, normalised along ``dim``. Without ``dim`` they pick PyTorch's legacy axis (0 for 0-, 1-
and 3-D inputs, else 1) and warn, as PyTorch does."""

import warnings

from ..ops import reduce as red
from .module import Module


def _legacy_dim(ndim, who):
    warnings.warn(f"{who}: implicit dimension choice is deprecated (as in PyTorch); pass dim=",
                  stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _check_dim(dim, who):
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
        raise TypeError(f"{who}: dim expected an int or None, got {dim!r}")
    return dim


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = _check_dim(dim, "Softmax")

    def forward(self, x):
        dim = _legacy_dim(x.ndim, "Softmax") if self.dim is None else self.dim
        return red.softmax(x, dim=dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = _check_dim(dim, "LogSoftmax")

    def forward(self, x):
        dim = _legacy_dim(x.ndim, "LogSoftmax") if self.dim is None else self.dim
        return red.log_softmax(x, dim=dim)

    def extra_repr(self):
        return f"dim={self.dim}"
