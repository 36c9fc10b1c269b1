"""Argument checks shared by the optimizers: every option is a finite real number in its range,
and the messages name the optimizer, the argument and the value that came."""

import math
import numbers

from ..tensor import Tensor


def real(who, name, value, low=None, high=None, high_open=False, allow_inf=False):
    """``value`` as a float, after checking it is a finite real number (not a bool; +-inf too
    with ``allow_inf``, never NaN) with ``low <= value`` and ``value <= high`` (``< high``
    when ``high_open``)."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a real number, got {value!r} "
                        f"({type(value).__name__})")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{who}: {name} must be {'a number' if allow_inf else 'finite'}, got "
                         f"{value!r}")
    if low is not None and v < low:
        raise ValueError(f"{who}: {name} must be >= {low}, got {value!r}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{who}: {name} must be {'<' if high_open else '<='} {high}, got "
                         f"{value!r}")
    return v


def betas(who, value):
    """``(beta1, beta2)``, each a finite real in [0, 1)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{who}: betas must be a pair (beta1, beta2), got {value!r}")
    return tuple(real(who, f"betas[{i}]", b, low=0.0, high=1.0, high_open=True)
                 for i, b in enumerate(value))


def flag(who, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{who}: {name} must be True or False, got {value!r}")
    return value
