"""Top-level functions PyTorch has and ``minigrad`` has only as Tensor methods (or not at all):
thin shims with PyTorch's signatures, ``torch.argmax(x, dim)`` calling ``x.argmax(dim)``.
Anything that needs a new primitive belongs in the core, not here."""

import numpy as np

import minigrad as mg
from minigrad.nn import functional as _functional

__all__ = ["allclose", "argmax", "argmin", "clone", "dropout", "equal", "isinf", "isnan",
           "masked_fill", "mm", "numel", "randperm", "topk", "tril", "triu"]


def _tensor(x, who):
    if not isinstance(x, mg.Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")
    return x


def argmax(input, dim=None, keepdim=False):  # noqa: A002 - PyTorch's names
    return _tensor(input, "argmax").argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):  # noqa: A002
    return _tensor(input, "argmin").argmin(dim, keepdim)


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    return _tensor(input, "topk").topk(k, dim, largest, sorted)


def clone(input):  # noqa: A002
    return _tensor(input, "clone").clone()


def numel(input):  # noqa: A002
    return _tensor(input, "numel").numel()


def masked_fill(input, mask, value):  # noqa: A002
    return _tensor(input, "masked_fill").masked_fill(mask, value)


def mm(input, mat2):  # noqa: A002
    """(n, m) @ (m, p) -> (n, p); 2-D only, as in PyTorch."""
    if _tensor(input, "mm").ndim != 2 or _tensor(mat2, "mm").ndim != 2:
        raise ValueError(f"mm: expected two 2-D tensors, got {input.shape} and {mat2.shape}")
    return mg.matmul(input, mat2)


def dropout(input, p=0.5, train=True):  # noqa: A002
    return _functional.dropout(input, p, train)


def randperm(n, dtype=None, device=None, requires_grad=False, generator=None):
    """A random permutation of 0..n-1 (int64), from minigrad's generator."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n expected an int >= 0, got {n!r}")
    order = (generator or mg.random.default_generator()).permutation(int(n))
    return mg.tensor(order, dtype=dtype or mg.int64, device=device)


def isnan(input):  # noqa: A002
    return mg.from_numpy(np.isnan(_tensor(input, "isnan").numpy()))


def isinf(input):  # noqa: A002
    return mg.from_numpy(np.isinf(_tensor(input, "isinf").numpy()))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    return bool(np.allclose(_tensor(input, "allclose").numpy(), _tensor(other, "allclose").numpy(),
                            rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):  # noqa: A002
    a, b = _tensor(input, "equal").numpy(), _tensor(other, "equal").numpy()
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _triangle(input, diagonal, keep, who):  # noqa: A002
    x = _tensor(input, who)
    if x.ndim < 2:
        raise ValueError(f"{who}: expected a tensor of at least 2 dims, got {x.shape}")
    mask = keep(np.ones(x.shape[-2:], dtype=bool), diagonal)
    return x.masked_fill(mg.from_numpy(~mask), 0)


def tril(input, diagonal=0):  # noqa: A002
    """Zero above the ``diagonal``-th diagonal of the last two dims (gradients flow)."""
    return _triangle(input, diagonal, np.tril, "tril")


def triu(input, diagonal=0):  # noqa: A002
    """Zero below the ``diagonal``-th diagonal of the last two dims (gradients flow)."""
    return _triangle(input, diagonal, np.triu, "triu")
