r"""Layer normalisation (Ba, Kiros & Hinton 2016), PyTorch's ``layer_norm`` / ``LayerNorm``:

.. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \odot \gamma + \beta

with the mean and the biased variance over the last ``len(normalized_shape)`` dims. Built from
existing ops, so its gradients (of any order) come from theirs.
"""

import numpy as np

from .. import dtypes
from ..ops import elementwise as ew
from ..ops import reduce as red
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


def _normalized_shape(shape, who):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{who}: normalized_shape expected an int or a tuple of ints, got "
                        f"{shape!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"{who}: normalized_shape expected positive sizes, got {shape}")
    return shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise ``input`` (*, *normalized_shape) over its last dims; ``weight`` and ``bias``
    (normalized_shape) scale and shift. Returns a tensor of ``input``'s shape."""
    shape = _normalized_shape(normalized_shape, "layer_norm")
    if not isinstance(input, Tensor):
        raise TypeError(f"layer_norm: expected a Tensor input, got {type(input).__name__}")
    if input.shape[input.ndim - len(shape):] != shape or input.ndim < len(shape):
        raise ValueError(f"layer_norm: expected input of shape (*, {', '.join(map(str, shape))})"
                         f", got {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} expected shape {shape}, got {t.shape}")
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    centred = ew.sub(input, red.mean(input, dim=dims, keepdim=True))
    var = red.mean(ew.mul(centred, centred), dim=dims, keepdim=True)
    out = ew.mul(centred, ew.pow(ew.add(var, eps), -0.5))
    if weight is not None:
        out = ew.mul(out, weight)
    if bias is not None:
        out = ew.add(out, bias)
    return out


class LayerNorm(Module):
    """``LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
    dtype=None)``: x (*, *normalized_shape) -> the same shape. ``weight`` starts at ones and
    ``bias`` at zeros (both ``normalized_shape``), as in PyTorch."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        from ..device import check_device
        check_device(device, "LayerNorm")
        self.normalized_shape = _normalized_shape(normalized_shape, "LayerNorm")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = dtypes.get_default_dtype() if dtype is None else np.dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
