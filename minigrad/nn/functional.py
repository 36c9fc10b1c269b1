"""Stateless layer functions and losses (PyTorch's names, signatures and reductions)."""

import warnings

import numpy as np

from ..ops import elementwise as ew
from ..ops import reduce as red
from ..ops import shape as sh
from ..ops.index import embedding as embedding_op
from ..ops.linalg import matmul
from ..primitive import bind
from ..random import default_generator
from ..tensor import Tensor, as_tensor
from . import loss_weights, losses
from .linear_op import linear_rows
from .normalization import layer_norm

_REDUCTIONS = losses.REDUCTIONS


def _reduce(loss, reduction, who):
    if reduction == "mean":
        return red.mean(loss)
    if reduction == "sum":
        return red.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def linear(x, weight, bias=None):
    """x @ weight.T + bias. x: (*, in), weight: (out, in), bias: (out,) -> (*, out). One
    primitive (``linear_op``) when x, weight and bias share a float dtype."""
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input (*, {x.shape[-1]}) does not match weight "
                         f"{weight.shape} (expected (*, {weight.shape[-1]}))")
    if (weight.ndim == 2 and x.ndim >= 1 and x.dtype == weight.dtype
            and x.dtype.kind == "f" and (bias is None or (
                isinstance(bias, Tensor) and bias.dtype == x.dtype
                and bias.shape == weight.shape[:1]))):
        rows = x if x.ndim == 2 else sh.reshape(x, -1, x.shape[-1])
        out = linear_rows(rows, weight, bias)
        return out if x.ndim == 2 else sh.reshape(out, x.shape[:-1] + (weight.shape[0],))
    if x.ndim > 2:
        lead = x.shape[:-1]
        out = matmul(sh.reshape(x, -1, x.shape[-1]), sh.transpose(weight, 0, 1))
        out = sh.reshape(out, lead + (weight.shape[0],))
    else:
        out = matmul(x, sh.transpose(weight, 0, 1))
    return out if bias is None else ew.add(out, bias)


def dropout(input, p=0.5, training=True, inplace=False, generator=None):  # noqa: A002
    """Zero entries with probability p and scale the rest by 1/(1-p) (identity when not
    training or p == 0). ``inplace=True`` edits ``input`` itself and returns it (refused on a
    leaf that requires grad, as in PyTorch)."""
    x = input
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        mask = np.zeros((), dtype=x.dtype)
    else:
        rng = generator or default_generator()
        mask = (rng.random(x.shape) >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    if inplace:
        return x.mul_(Tensor._wrap(mask))
    return ew.mul(x, Tensor._wrap(mask))


def relu(input, inplace=False):  # noqa: A002 - PyTorch's name
    """max(x, 0); the gradient at 0 is 0. ``inplace=True`` edits ``input`` and returns it."""
    if not inplace:
        return ew.relu(input)
    return input._in_place("relu_", ew.relu,
                           lambda a: np.maximum(a, np.zeros((), a.dtype), out=a))


def _implicit_dim(x, dim, who, stacklevel):
    """PyTorch's deprecated choice when ``dim`` is None: 0 for 0-, 1- and 3-D inputs, else 1
    (with a warning)."""
    if dim is not None:
        return dim
    warnings.warn(f"{who}: implicit dimension choice is deprecated (as in PyTorch); pass dim= "
                  "explicitly", UserWarning, stacklevel=stacklevel)
    return 0 if x.ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002 - PyTorch's names
    """exp(x) / sum(exp(x)) along ``dim``, computed stably; ``dtype`` converts x first. dim=None
    is PyTorch's deprecated implicit choice (0 for 0-, 1- and 3-D inputs, else 1; warns)."""
    x = as_tensor(input) if dtype is None else as_tensor(input).to(dtype)
    return red.softmax(x, _implicit_dim(x, dim, "softmax", _stacklevel))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """log(softmax(x)) along ``dim``, computed stably; ``dim`` and ``dtype`` as in
    ``softmax``."""
    x = as_tensor(input) if dtype is None else as_tensor(input).to(dtype)
    return red.log_softmax(x, _implicit_dim(x, dim, "log_softmax", _stacklevel))


def one_hot(tensor, num_classes=-1):
    """An int64 tensor (*, C) with a 1 at each class index of the integer ``tensor`` (*);
    C = max + 1 when ``num_classes`` is -1."""
    if not isinstance(tensor, Tensor) or tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor, got "
                        f"{getattr(tensor, 'dtype', type(tensor).__name__)}")
    idx = tensor._array.astype(np.int64)
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class values must be >= 0, got {int(idx.min())}")
    if num_classes == -1 and not idx.size:
        raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
    count = int(idx.max()) + 1 if num_classes == -1 else int(num_classes)
    if idx.size and idx.max() >= count:
        raise ValueError(f"one_hot: class values must be < num_classes {count}, got "
                         f"{int(idx.max())}")
    return Tensor._wrap(np.eye(count, dtype=np.int64)[idx])


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - PyTorch's name
    """(input - target)**2, reduced."""
    target = as_tensor(target, like=input)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape "
                         f"{target.shape} differ")
    d = ew.sub(input, target)
    return _reduce(ew.mul(d, d), reduction, "mse_loss")


def _class_rows(input, target, ignore_index, reduction, who):  # noqa: A002
    """Validate a class-index loss's arguments and bring them to rows.

    input: (C,), (N, C) or (N, C, d1, ...); target: (), (N,) or (N, d1, ...) integer class
    indices in [0, C) or equal to ``ignore_index``. Returns (rows (R, C) Tensor, target (R,)
    int64, count of kept entries, target's shape)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{who}: expected input to be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{who}: expected floating-point input, got {input.dtype}")
    if reduction not in losses.REDUCTIONS:
        raise ValueError(f"{who}: reduction must be one of {losses.REDUCTIONS}, got "
                         f"{reduction!r}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{who}: ignore_index must be an int, got {ignore_index!r}")
    tgt = np.asarray(target._array if isinstance(target, Tensor) else target)
    if tgt.dtype.kind not in "iu":
        raise TypeError(f"{who}: expected integer class targets, got {tgt.dtype}")
    if input.ndim < 1:
        raise ValueError(f"{who}: expected input (C,), (N, C) or (N, C, d1, ...), got a 0-d "
                         "tensor")
    if input.ndim == 1:
        expected, c = (), input.shape[0]
    else:
        expected, c = (input.shape[0],) + input.shape[2:], input.shape[1]
    if tgt.shape != expected:
        raise ValueError(f"{who}: input {input.shape} needs target of shape {expected}, got "
                         f"{tgt.shape}")
    flat = tgt.reshape(-1).astype(np.int64)
    keep = flat != ignore_index
    if np.any((flat[keep] < 0) | (flat[keep] >= c)):
        bad = flat[keep][(flat[keep] < 0) | (flat[keep] >= c)]
        raise IndexError(f"{who}: targets must lie in [0, {c}) or equal ignore_index "
                         f"{ignore_index}, got {int(bad[0])}")
    if input.ndim == 1:
        rows = sh.reshape(input, 1, c)
    elif input.ndim == 2:
        rows = input
    else:
        rows = sh.reshape(sh.permute(input, 0, *range(2, input.ndim), 1), -1, c)
    return rows, flat, int(keep.sum()), tgt.shape


def _loss(prim, input, target, ignore_index, reduction, who, weight=None,  # noqa: A002
          label_smoothing=0.0):
    rows, flat, count, shape = _class_rows(input, target, ignore_index, reduction, who)
    weight = loss_weights.check_weight(weight, rows.shape[1], rows.dtype, who)
    if weight is None and label_smoothing == 0.0:
        out = bind(prim, rows, target=flat, ignore_index=int(ignore_index),
                   reduction=reduction, count=count)
    else:
        logp = red.log_softmax(rows, 1) if prim is losses.cross_entropy_p else rows
        out = loss_weights.weighted_nll_rows(logp, flat, weight, ignore_index, reduction)
        if label_smoothing:
            smooth = loss_weights.smoothing_rows(logp, flat, weight, ignore_index, reduction)
            out = ew.add(ew.mul(out, 1.0 - label_smoothing),
                         ew.mul(smooth, label_smoothing / rows.shape[1]))
    return sh.reshape(out, shape) if reduction == "none" and shape != out.shape else out


def cross_entropy(input, target, weight=None, ignore_index=-100,  # noqa: A002
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy with class-index targets: ``nll_loss(log_softmax(input, 1))``
    computed by one fused primitive (one row kernel forward, one backward; no one-hot) when
    there are no class weights and no smoothing.

    input: (C,), (N, C) or (N, C, d1, ...) logits; target: (), (N,) or (N, d1, ...) integer
    class indices. Entries whose target equals ``ignore_index`` (padding) contribute nothing;
    the mean is over the others (NaN when every entry is ignored, as in PyTorch).
    reduction "none" returns the per-entry losses, shaped like target. ``weight`` (C,): class
    weights (the mean divides by the kept entries' weights); ``label_smoothing`` in [0, 1]:
    (1 - eps) * nll + eps / C * (-sum_c w_c log p_c), PyTorch's formula.
    """
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing,
                                                           (int, float, np.floating)):
        raise TypeError(f"cross_entropy: label_smoothing must be a float, got "
                        f"{label_smoothing!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    return _loss(losses.cross_entropy_p, input, target, ignore_index, reduction,
                 "cross_entropy", weight, float(label_smoothing))


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Negative log-likelihood: ``-weight[t] * input[n, t]`` with t = target[n], gathered (no
    one-hot), reduced as in ``cross_entropy``. input: (C,), (N, C) or (N, C, d1, ...)
    log-probabilities (e.g. ``log_softmax(x, 1)``); target: (), (N,) or (N, d1, ...) integer
    class indices; weight: (C,) or None."""
    return _loss(losses.nll_loss_p, input, target, ignore_index, reduction, "nll_loss",
                 weight)


def embedding(input, weight, padding_idx=None):  # noqa: A002 - PyTorch's name
    """Rows of ``weight`` (V, D) picked by the integer ``input`` (any shape S) -> (*S, D). The
    row ``padding_idx`` (negative counts from the end) receives no gradient."""
    return embedding_op(weight, input, padding_idx=padding_idx)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):  # noqa: A002
    """-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), computed as softplus(x) - x*y."""
    target = as_tensor(target, like=input)
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input shape {input.shape} and "
                         f"target shape {target.shape} differ")
    return _reduce(ew.sub(ew.softplus(input), ew.mul(input, target)), reduction,
                   "binary_cross_entropy_with_logits")


tanh = ew.tanh
sigmoid = ew.sigmoid
softplus = ew.softplus
__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "dropout", "embedding",
           "layer_norm", "leaky_relu", "linear", "log_softmax", "mse_loss", "nll_loss",
           "one_hot", "relu", "sigmoid", "softmax", "softplus", "tanh"]


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002 - PyTorch's names
    """x where x > 0, negative_slope * x elsewhere; ``inplace=True`` edits ``input``."""
    if not inplace:
        return ew.leaky_relu(input, negative_slope)
    s = float(negative_slope)
    return input._in_place("leaky_relu_", lambda e: ew.leaky_relu(e, s),
                           lambda a: np.copyto(a, np.where(a > 0, a, a * a.dtype.type(s))))
