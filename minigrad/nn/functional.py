"""Stateless layer functions and losses (PyTorch's names and reductions)."""

import numpy as np

from ..ops import elementwise as ew
from ..ops import reduce as red
from ..ops import shape as sh
from ..ops.linalg import matmul
from ..random import default_generator
from ..tensor import Tensor, as_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss, reduction, who):
    if reduction == "mean":
        return red.mean(loss)
    if reduction == "sum":
        return red.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def linear(x, weight, bias=None):
    """x @ weight.T + bias. x: (*, in), weight: (out, in), bias: (out,) -> (*, out)."""
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input (*, {x.shape[-1]}) does not match weight "
                         f"{weight.shape} (expected (*, {weight.shape[-1]}))")
    if x.ndim > 2:
        lead = x.shape[:-1]
        out = matmul(sh.reshape(x, -1, x.shape[-1]), sh.transpose(weight, 0, 1))
        out = sh.reshape(out, lead + (weight.shape[0],))
    else:
        out = matmul(x, sh.transpose(weight, 0, 1))
    return out if bias is None else ew.add(out, bias)


def dropout(x, p=0.5, training=True, generator=None):
    """Zero entries with probability p and scale the rest by 1/(1-p) (identity when not
    training or p == 0)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return ew.mul(x, 0.0)
    rng = generator or default_generator()
    mask = (rng.random(x.shape) >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return ew.mul(x, Tensor._wrap(mask))


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - PyTorch's name
    """(input - target)**2, reduced."""
    target = as_tensor(target, like=input)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape "
                         f"{target.shape} differ")
    d = ew.sub(input, target)
    return _reduce(ew.mul(d, d), reduction, "mse_loss")


def cross_entropy(input, target, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Softmax cross-entropy with class-index targets.

    input: (N, C) or (N, C, d1, ...) logits; target: (N,) or (N, d1, ...) int64 class indices.
    Entries whose target equals ``ignore_index`` (padding) contribute nothing; the mean is over
    the others (NaN when every entry is ignored, as in PyTorch).
    """
    tgt = target.data if isinstance(target, Tensor) else np.asarray(target)
    if tgt.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: expected integer class targets, got {tgt.dtype}")
    if input.ndim < 2:
        raise ValueError(f"cross_entropy: expected input (N, C) or (N, C, ...), got "
                         f"{input.shape}")
    n, c = input.shape[0], input.shape[1]
    if tgt.shape != (n,) + input.shape[2:]:
        raise ValueError(f"cross_entropy: input {input.shape} needs target of shape "
                         f"{(n,) + input.shape[2:]}, got {tgt.shape}")
    keep = tgt != ignore_index
    if np.any((tgt[keep] < 0) | (tgt[keep] >= c)):
        raise IndexError(f"cross_entropy: targets must lie in [0, {c}) or equal ignore_index "
                         f"{ignore_index}")
    logits = sh.permute(input, 0, *range(2, input.ndim), 1) if input.ndim > 2 else input
    logp = red.log_softmax(sh.reshape(logits, -1, c), dim=1)
    flat_t, flat_keep = tgt.reshape(-1), keep.reshape(-1)
    onehot = np.zeros((flat_t.shape[0], c), dtype=input.dtype)
    onehot[np.nonzero(flat_keep)[0], flat_t[flat_keep]] = 1
    picked = red.sum(ew.mul(logp, Tensor._wrap(onehot)), dim=1)
    losses = ew.neg(sh.reshape(picked, tgt.shape))
    if reduction == "mean":
        count = int(flat_keep.sum())
        return ew.mul(red.sum(losses), 1.0 / count if count else float("nan"))
    return _reduce(losses, reduction, "cross_entropy")


def nll_loss(input, target, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Negative log-likelihood of log-probabilities ``input`` (N, C) at class ``target`` (N,)."""
    tgt = np.asarray(target.data if isinstance(target, Tensor) else target)
    c = input.shape[1]
    keep = tgt != ignore_index
    onehot = np.zeros(input.shape, dtype=input.dtype)
    onehot[np.nonzero(keep)[0], tgt[keep]] = 1
    losses = ew.neg(red.sum(ew.mul(input, Tensor._wrap(onehot)), dim=1))
    if c and reduction == "mean":
        count = int(keep.sum())
        return ew.mul(red.sum(losses), 1.0 / count if count else float("nan"))
    return _reduce(losses, reduction, "nll_loss")


def binary_cross_entropy_with_logits(input, target, reduction="mean"):  # noqa: A002
    """-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), computed as softplus(x) - x*y."""
    target = as_tensor(target, like=input)
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input shape {input.shape} and "
                         f"target shape {target.shape} differ")
    return _reduce(ew.sub(ew.softplus(input), ew.mul(input, target)), reduction,
                   "binary_cross_entropy_with_logits")


relu = ew.relu
leaky_relu = ew.leaky_relu
tanh = ew.tanh
sigmoid = ew.sigmoid
softplus = ew.softplus
softmax = red.softmax
log_softmax = red.log_softmax
