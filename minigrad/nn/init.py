"""In-place initialisers (PyTorch's names). Each writes into the tensor's memory and returns it."""

import math

import numpy as np

from ..random import default_generator

_SQRT5 = math.sqrt(5)  # PyTorch's Linear default slope


def _fan_in_out(tensor, who):
    if tensor.ndim < 2:
        raise ValueError(f"{who}: expected a tensor with at least 2 dims, got {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    rng = generator or default_generator()
    tensor._array[...] = rng.uniform(a, b, size=tensor.shape)
    tensor._bump_version()
    return tensor


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std**2)."""
    rng = generator or default_generator()
    tensor._array[...] = rng.normal(mean, std, size=tensor.shape)
    tensor._bump_version()
    return tensor


def constant_(tensor, value):
    tensor._array[...] = value
    tensor._bump_version()
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _fan_in_out(tensor, "xavier_uniform_")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _fan_in_out(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for ``nonlinearity``: 1 for linear / conv / sigmoid, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope ``param``, default
    0.01), 3/4 for selu."""
    ones = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
            "conv_transpose3d", "sigmoid")
    if nonlinearity in ones:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r} (expected one "
                     f"of {', '.join(ones)}, tanh, relu, leaky_relu, selu)")


def _kaiming_std(tensor, a, mode, nonlinearity, who):
    fan_in, fan_out = _fan_in_out(tensor, who)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{who}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"{who}: cannot initialise a tensor with zero elements "
                         f"{tensor.shape}")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He et al. 2015: U(-b, b) with b = gain * sqrt(3 / fan), gain from ``calculate_gain``
    (``a``: the leaky ReLU's slope). PyTorch's defaults."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He et al. 2015: N(0, std^2) with std = gain / sqrt(fan). PyTorch's defaults."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return normal_(tensor, 0.0, std, generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std^2) restricted to [a, b] (absolute bounds, as in PyTorch); drawn by
    redrawing the samples that fall outside."""
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    rng = generator or default_generator()
    out = rng.normal(mean, std, size=tensor.shape)
    bad = (out < a) | (out > b)
    for _ in range(1000):
        if not bad.any():
            break
        out[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = (out < a) | (out > b)
    np.clip(out, a, b, out=out)  # only if [a, b] is far out in a tail
    tensor._array[...] = out
    tensor._bump_version()
    return tensor


def orthogonal_(tensor, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix (Saxe et al.
    2014); rows x cols with trailing dims flattened."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: expected at least 2 dims, got {tensor.shape}")
    rng = generator or default_generator()
    rows = tensor.shape[0]
    cols = tensor._array.size // rows
    flat = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    tensor._array[...] = (gain * q[:rows, :cols]).reshape(tensor.shape)
    tensor._bump_version()
    return tensor


def eye_(tensor, gain=1.0):
    """The identity (times ``gain``) on a 2-D tensor; Le, Jaitly & Hinton's IRNN init."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: expected a 2-D tensor, got {tensor.shape}")
    tensor._array[...] = gain * np.eye(*tensor.shape)
    tensor._bump_version()
    return tensor
