"""Functions that make tensors: ``tensor``, ``zeros``, ``ones``, ``randn``, ``arange``, ..."""

import numpy as np

from . import dtypes
from .device import check_device
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


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (Python floats become the default dtype)."""
    check_device(device, "tensor")
    return Tensor(data, dtype=None if dtype is None else _checked(dtype),
                  requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a numpy array of the right dtype."""
    check_device(device, "as_tensor")
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


def _make(array, requires_grad, device=None, who="tensor"):
    check_device(device, who)
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(_shape(size), dtype=_float_dtype(dtype)), requires_grad, device,
                 "zeros")


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(_shape(size), dtype=_float_dtype(dtype)), requires_grad, device, "ones")


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.empty(_shape(size), dtype=_float_dtype(dtype)), requires_grad, device,
                 "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value``; its dtype, when not given, follows the
    value as in PyTorch (bool, int64 for ints, the default float dtype for floats)."""
    if dtype is None:
        kind = np.asarray(_operand_value(fill_value)).dtype.kind
        dtype = {"b": np.bool_, "i": np.int64, "u": np.int64}.get(kind)
    return _make(np.full(_shape((size,)), _operand_value(fill_value),
                         dtype=_float_dtype(dtype)), requires_grad, device, "full")


def _operand_value(v):
    if isinstance(v, Tensor):
        if v._array.size != 1:
            raise ValueError(f"full: fill_value must be a number, got a tensor of shape "
                             f"{v.shape}")
        return v._array.item()
    if isinstance(v, complex) or not isinstance(v, (int, float, bool, np.number, np.bool_)):
        raise TypeError(f"full: fill_value must be a real number, got {type(v).__name__}")
    return v


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(t.shape, dtype=_checked(dtype or t.dtype)), requires_grad, device,
                 "zeros_like")


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(t.shape, dtype=_checked(dtype or t.dtype)), requires_grad, device,
                 "ones_like")


def empty_like(t, dtype=None, device=None, requires_grad=False):
    return _make(np.empty(t.shape, dtype=_checked(dtype or t.dtype)), requires_grad, device,
                 "empty_like")


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return _make(np.full(t.shape, _operand_value(fill_value), dtype=_checked(dtype or t.dtype)),
                 requires_grad, device, "full_like")


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device, "eye")


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Like ``numpy.arange``; int arguments give int64, float ones the default float dtype."""
    if end is None:
        start, end = 0, start
    is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    dt = _checked(dtype) if dtype is not None else (
        np.dtype(np.int64) if is_int else dtypes.get_default_dtype())
    return _make(np.arange(start, end, step, dtype=dt), requires_grad, device, "arange")


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _make(np.linspace(start, end, steps, dtype=_float_dtype(dtype)), requires_grad,
                 device, "linspace")


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal samples."""
    rng = generator or default_generator()
    arr = rng.standard_normal(_shape(size)).astype(_float_dtype(dtype))
    return _make(arr, requires_grad, device, "randn")


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform samples in [0, 1)."""
    rng = generator or default_generator()
    return _make(rng.random(_shape(size)).astype(_float_dtype(dtype)), requires_grad, device,
                 "rand")


def randint(*args, size=None, dtype=None, device=None, generator=None, requires_grad=False):
    """Uniform integer samples in [low, high): ``randint(high, size)`` or
    ``randint(low, high, size)`` (PyTorch's two forms; ``size`` may be a keyword). int64 unless
    ``dtype`` says otherwise."""
    if size is None and args:
        args, size = args[:-1], args[-1]
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    if size is None or isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        raise TypeError(f"randint: size must be a tuple of ints, got {size!r}")
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    check_device(device, "randint")
    dt = np.dtype(np.int64) if dtype is None else _checked(dtype)
    rng = generator or default_generator()
    out = rng.integers(low, high, size=_shape((size,))).astype(dt)
    if requires_grad:
        return _make(out, True, None, "randint")
    return Tensor._wrap(out)


def multinomial(input, num_samples, replacement=False, generator=None):  # noqa: A002
    """Indices drawn from the categories weighted by ``input`` (not necessarily normalised):
    input (C,) -> (num_samples,), or (N, C) -> (N, num_samples), int64. Without replacement
    no category is drawn twice in a row of samples (so ``num_samples`` <= the categories with
    weight > 0)."""
    w = np.asarray(input._array if isinstance(input, Tensor) else input, dtype=np.float64)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: expected a 1-D or 2-D tensor of weights, got shape "
                         f"{w.shape}")
    if not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be a positive int, got {num_samples!r}")
    rows = w.reshape(-1, w.shape[-1])
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise ValueError("multinomial: weights must be finite and >= 0")
    sums = rows.sum(axis=1)
    if np.any(sums <= 0):
        raise ValueError("multinomial: every row of weights must have a positive sum")
    if not replacement and num_samples > int((rows > 0).sum(axis=1).min()):
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {int((rows > 0).sum(axis=1).min())} categories with weight > 0")
    rng = generator or default_generator()
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for r, row in enumerate(rows):
        if replacement:
            out[r] = rng.choice(row.size, size=num_samples, replace=True, p=row / row.sum())
        else:
            out[r] = rng.choice(row.size, size=num_samples, replace=False, p=row / row.sum())
    return Tensor._wrap(out.reshape(w.shape[:-1] + (num_samples,)))
