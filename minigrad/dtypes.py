"""Floating-point dtypes and the one promotion rule.

The rule (PyTorch's): when two tensors meet in an op, the result has the wider dtype (float32
with float64 gives float64; an integer or bool tensor with a float tensor gives the float dtype,
so int64 with float32 is float32, unlike numpy). A Python or numpy scalar never widens a tensor:
``x * 0.5`` and ``x * np.float64(0.5)`` keep ``x.dtype``; a float scalar with an int tensor gives
the default float dtype. Float functions of int tensors (``exp``, ``x ** 0.5``, ...) give the
default float dtype. Gradients always have the dtype of the tensor they belong to. Floating
tensors are float32 or float64; ``cast`` refuses other float dtypes.
"""

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
float32 = np.float32
float64 = np.float64
int64 = np.int64
bool_ = np.bool_

_default_dtype = np.dtype(np.float32)


def get_default_dtype():
    """The dtype of new floating tensors made from Python numbers or lists (float32 at start)."""
    return _default_dtype


def set_default_dtype(dtype):
    """Set the default floating dtype; only float32 and float64 are accepted."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dt}")
    _default_dtype = dt


def is_floating(dtype):
    """True for float32 and float64."""
    return np.dtype(dtype) in FLOAT_DTYPES


SUPPORTED = "float32, float64, integer and bool"


def check_supported(dtype, who):
    """Raise ``TypeError`` unless ``dtype`` is one a tensor may hold: a float (float32/float64,
    or another float that the caller converts), a signed or unsigned integer, or bool. Complex,
    object, string, bytes, void and datetime dtypes are refused (complex would lose its
    imaginary part, objects turn None into NaN)."""
    dt = np.dtype(dtype)
    if dt.kind not in "fiub":
        raise TypeError(f"{who}: dtype {dt} is not supported; tensors hold {SUPPORTED} values")
    return dt


def result_type(*dtypes_):
    """The dtype two or more tensors meet in, by the rule above: the widest float when any
    operand is floating (int64 with float32 gives float32, unlike numpy), else numpy's rule."""
    dts = [np.dtype(d) for d in dtypes_]
    floats = [d for d in dts if d.kind == "f"]
    if floats and len(floats) != len(dts):
        return np.result_type(*floats)
    return np.result_type(*dts)
