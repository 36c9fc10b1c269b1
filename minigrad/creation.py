"""Functions that make tensors: ``tensor``, ``zeros``, ``ones``, ``randn``, ``arange``, ..."""

import numpy as np

from . import dtypes
from .random import default_generator
from .tensor import Tensor


def _float_dtype(dtype):
    return dtypes.get_default_dtype() if dtype is None else _checked(dtype)


def _checked(dtype):
    """np.dtype(dtype), refusing floats other than float32/float64 (see ``minigrad.dtypes``)
    and dtypes a tensor cannot hold (complex, object, strings)."""
    dt = dtypes.check_supported(dtype, "tensor")
    if dt.kind == "f" and not dtypes.is_floating(dt):
        raise TypeError(f"floating tensors are float32 or float64, got {dt}")
    return dt


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"expected non-negative int sizes, got {size!r}")
    return tuple(int(s) for s in size)


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (Python floats become the default dtype)."""
    return Tensor(data, dtype=None if dtype is None else _checked(dtype),
                  requires_grad=requires_grad)


def as_tensor(data, dtype=None):
    """Like ``tensor`` but shares memory with a numpy array of the right dtype."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or np.dtype(dtype) == data.dtype):
        if data.dtype.kind == "f" and dtypes.is_floating(data.dtype) or (
                data.dtype.kind in "iub"):
            return Tensor._wrap(data)
    return Tensor(data, dtype=None if dtype is None else _checked(dtype))


def from_numpy(array):
    """A tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}")
    dtypes.check_supported(array.dtype, "from_numpy")
    if array.dtype.kind == "f" and not dtypes.is_floating(array.dtype):
        raise TypeError(f"from_numpy: floating tensors are float32 or float64, got "
                        f"{array.dtype} (convert it first: array.astype(np.float32))")
    return Tensor._wrap(array)


def _make(array, requires_grad):
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, requires_grad=False):
    return _make(np.zeros(_shape(size), dtype=_float_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _make(np.ones(_shape(size), dtype=_float_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    return _make(np.empty(_shape(size), dtype=_float_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    return _make(np.full(_shape((size,)), fill_value, dtype=_float_dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return _make(np.zeros(t.shape, dtype=_checked(dtype or t.dtype)), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return _make(np.ones(t.shape, dtype=_checked(dtype or t.dtype)), requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return _make(np.full(t.shape, fill_value, dtype=_checked(dtype or t.dtype)), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    return _make(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Like ``numpy.arange``; int arguments give int64, float ones the default float dtype."""
    if end is None:
        start, end = 0, start
    is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    dt = _checked(dtype) if dtype is not None else (
        np.dtype(np.int64) if is_int else dtypes.get_default_dtype())
    return _make(np.arange(start, end, step, dtype=dt), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False):
    return _make(np.linspace(start, end, steps, dtype=_float_dtype(dtype)), requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None):
    """Standard normal samples."""
    rng = generator or default_generator()
    arr = rng.standard_normal(_shape(size)).astype(_float_dtype(dtype))
    return _make(arr, requires_grad)


def rand(*size, dtype=None, requires_grad=False, generator=None):
    """Uniform samples in [0, 1)."""
    rng = generator or default_generator()
    return _make(rng.random(_shape(size)).astype(_float_dtype(dtype)), requires_grad)


def randint(low, high, size, generator=None):
    """Uniform int64 samples in [low, high)."""
    rng = generator or default_generator()
    return Tensor._wrap(rng.integers(low, high, size=_shape((size,)), dtype=np.int64))
