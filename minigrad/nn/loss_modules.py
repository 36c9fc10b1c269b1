"""Loss modules (PyTorch's names and arguments) over ``minigrad.nn.functional``'s losses:
``NLLLoss``, ``CrossEntropyLoss``, ``MSELoss``, ``BCEWithLogitsLoss``.

``loss_fn = nn.NLLLoss(); loss = loss_fn(log_probs, target)``: input (N, C) (or (C,), or
(N, C, d1, ...)), target (N,) integer class indices; returns a 0-d tensor (reduction "mean" or
"sum") or the per-entry losses (reduction "none"). Class weights (``weight``, (C,)) are kept
as a buffer named ``weight``, as in PyTorch.
"""

from ..tensor import Tensor
from . import functional as F  # noqa: N812 - PyTorch's name
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _check_common(who, weight, reduction, legacy=()):
    if weight is not None and not isinstance(weight, Tensor):
        raise TypeError(f"{who}: weight must be a Tensor of class weights (C,) or None, got "
                        f"a {type(weight).__name__}")
    if weight is not None and (weight.ndim != 1 or weight.dtype.kind != "f"):
        raise ValueError(f"{who}: weight must be a 1-D float Tensor (C,), got shape "
                         f"{weight.shape}, {weight.dtype}")
    if any(v is not None for v in legacy):
        raise ValueError(f"{who}: size_average and reduce are deprecated in PyTorch and not "
                         "supported; use reduction='mean' | 'sum' | 'none'")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


class NLLLoss(Module):
    """Negative log-likelihood of log-probabilities (``F.nll_loss``): -input[n, target[n]]."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__()
        self.reduction = _check_common("NLLLoss", weight, reduction, (size_average, reduce))
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):  # noqa: A002 - PyTorch's name
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits with class-index targets (``F.cross_entropy``)."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.reduction = _check_common("CrossEntropyLoss", weight, reduction,
                                       (size_average, reduce))
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
            raise TypeError(f"CrossEntropyLoss: label_smoothing must be a float, got "
                            f"{label_smoothing!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):  # noqa: A002
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self):
        extra = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return f"reduction={self.reduction!r}{extra}"


class MSELoss(Module):
    """Mean squared error (``F.mse_loss``); input and target of the same shape."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = _check_common("MSELoss", None, reduction, (size_average, reduce))

    def forward(self, input, target):  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy of logits (``F.binary_cross_entropy_with_logits``)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__()
        if weight is not None:
            raise ValueError("BCEWithLogitsLoss: weight is not supported yet (must be None)")
        self.reduction = _check_common("BCEWithLogitsLoss", None, reduction,
                                       (size_average, reduce))
        if pos_weight is not None:
            raise ValueError("BCEWithLogitsLoss: pos_weight is not supported yet (must be None)")

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction)
