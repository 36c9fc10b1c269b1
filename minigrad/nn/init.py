"""In-place initialisers (PyTorch's names). Each writes into ``tensor.data`` and returns it."""

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
    tensor.data[...] = rng.uniform(a, b, size=tensor.shape)
    tensor._bump_version()
    return tensor


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std**2)."""
    rng = generator or default_generator()
    tensor.data[...] = rng.normal(mean, std, size=tensor.shape)
    tensor._bump_version()
    return tensor


def constant_(tensor, value):
    tensor.data[...] = value
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


def kaiming_uniform_(tensor, a=_SQRT5, generator=None):
    """He init for leaky ReLU slope ``a`` (PyTorch's Linear default uses a = sqrt(5))."""
    fan_in, _ = _fan_in_out(tensor, "kaiming_uniform_")
    gain = math.sqrt(2.0 / (1 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in)
    return uniform_(tensor, -bound, bound, generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix (Saxe et al.
    2014); rows x cols with trailing dims flattened."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: expected at least 2 dims, got {tensor.shape}")
    rng = generator or default_generator()
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    tensor.data[...] = (gain * q[:rows, :cols]).reshape(tensor.shape)
    tensor._bump_version()
    return tensor


def eye_(tensor, gain=1.0):
    """The identity (times ``gain``) on a 2-D tensor; Le, Jaitly & Hinton's IRNN init."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: expected a 2-D tensor, got {tensor.shape}")
    tensor.data[...] = gain * np.eye(*tensor.shape)
    tensor._bump_version()
    return tensor
