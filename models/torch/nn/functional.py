"""``torch.nn.functional``: ``minigrad.nn.functional`` with PyTorch's signatures where they
differ (``softmax(input, dim)``, ``dropout(..., inplace=)``, ``relu(..., inplace=)``), plus
``layer_norm`` and ``one_hot``.

``inplace=True`` is accepted and computes out of place (the result is returned, as PyTorch
code uses it).
"""

import numpy as np

import minigrad as mg
import minigrad.nn.functional as _core
from minigrad.nn import layer_norm

__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "dropout", "embedding",
           "layer_norm", "leaky_relu", "linear", "log_softmax", "mse_loss", "nll_loss",
           "one_hot", "relu", "sigmoid", "softmax", "softplus", "tanh"]

binary_cross_entropy_with_logits = _core.binary_cross_entropy_with_logits
cross_entropy = _core.cross_entropy
embedding = _core.embedding
linear = _core.linear
mse_loss = _core.mse_loss
nll_loss = _core.nll_loss
sigmoid = _core.sigmoid
softplus = _core.softplus
tanh = _core.tanh


def _dim(input, dim, who):  # noqa: A002
    if dim is None:  # PyTorch's legacy implicit choice
        return 0 if input.ndim in (0, 1, 3) else 1
    return dim


def softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002 - PyTorch's names
    """exp(x) / sum(exp(x)) along ``dim`` (``dtype``: cast first)."""
    x = input if dtype is None else input.to(dtype)
    return mg.softmax(x, dim=_dim(x, dim, "softmax"))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """log(softmax(x)) along ``dim``, computed stably."""
    x = input if dtype is None else input.to(dtype)
    return mg.log_softmax(x, dim=_dim(x, dim, "log_softmax"))


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    return _core.dropout(input, p, training)


def relu(input, inplace=False):  # noqa: A002
    return mg.relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    return mg.leaky_relu(input, negative_slope)


def one_hot(tensor, num_classes=-1):
    """int64 tensor (*, C) with a 1 at each index of ``tensor`` (*); C = max + 1 when -1."""
    if not isinstance(tensor, mg.Tensor) or tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor, got "
                        f"{getattr(tensor, 'dtype', type(tensor).__name__)}")
    idx = tensor.data.astype(np.int64)
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class values must be >= 0, got {int(idx.min())}")
    count = int(idx.max()) + 1 if num_classes == -1 and idx.size else int(num_classes)
    if num_classes == -1 and not idx.size:
        raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
    if idx.size and idx.max() >= count:
        raise ValueError(f"one_hot: class values must be < num_classes {count}, got "
                         f"{int(idx.max())}")
    return mg.from_numpy(np.eye(count, dtype=np.int64)[idx])
