"""Class weights and label smoothing for ``nll_loss`` / ``cross_entropy`` (PyTorch's formulas),
as composites of Tensor ops over the rows that ``functional._class_rows`` makes (the fused
primitives in ``losses`` serve the unweighted, unsmoothed case).

With rows x (R, C), targets t (R,), kept rows k (target != ignore_index), class weights w (C,):

    nll:      l_r = -w[t_r] x[r, t_r] k_r;   "mean" = sum_r l_r / sum_r w[t_r] k_r
    smoothing (x = log_softmax of the logits, eps = label_smoothing):
              s_r = -sum_c w_c x[r, c] k_r;  "mean" = sum_r s_r / sum_r w[t_r] k_r
                                             (without weights: / number of kept rows)
    cross_entropy = (1 - eps) nll + (eps / C) smoothing
"""

import numpy as np

from ..ops import elementwise as ew
from ..ops import reduce as red
from ..ops import shape as sh
from ..ops.gather import gather
from ..ops.index import index_select
from ..tensor import Tensor


def check_weight(weight, num_classes, dtype, who):
    """``weight`` as a Tensor of shape (C,) and the input's dtype, or None."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        raise TypeError(f"{who}: weight must be a Tensor of shape ({num_classes},) or None, "
                        f"got {type(weight).__name__}")
    if weight.shape != (num_classes,):
        raise ValueError(f"{who}: weight must have shape ({num_classes},) (one per class), "
                         f"got {weight.shape}")
    if weight.dtype != dtype:
        raise TypeError(f"{who}: weight has dtype {weight.dtype}, expected the input's {dtype}")
    return weight


def _safe_targets(target, keep):
    return np.where(keep, target, 0)


def _reduce(losses, denominator, reduction):
    """losses (R,) -> () or (R,); denominator: a 0-d Tensor or a count."""
    if reduction == "none":
        return losses
    total = red.sum(losses)
    if reduction != "mean":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: NaN, as in PyTorch
        return ew.div(total, denominator)


def _denominator(weight, safe, keep, dtype):
    if weight is None:
        return Tensor._wrap(np.asarray(keep.sum(), dtype=dtype))
    picked = index_select(weight, 0, safe)
    return red.sum(ew.mul(picked, Tensor._wrap(keep.astype(dtype))))


def weighted_nll_rows(rows, target, weight, ignore_index, reduction):
    """rows: (R, C) log-probabilities, target: (R,) int64 -> () or (R,): the (weighted) negative
    log-likelihood, reduced by PyTorch's weighted mean."""
    keep = target != ignore_index
    safe = _safe_targets(target, keep)
    kept = Tensor._wrap(keep.astype(rows.dtype))
    picked = sh.reshape(gather(rows, 1, safe[:, None]), -1)
    losses = ew.neg(ew.mul(picked, kept))
    if weight is not None:
        losses = ew.mul(losses, index_select(weight, 0, safe))
    return _reduce(losses, _denominator(weight, safe, keep, rows.dtype), reduction)


def smoothing_rows(logp, target, weight, ignore_index, reduction):
    """The smoothing term: logp (R, C) log-probabilities -> () or (R,), before the eps / C
    factor."""
    keep = target != ignore_index
    safe = _safe_targets(target, keep)
    terms = logp if weight is None else ew.mul(logp, weight)
    losses = ew.neg(ew.mul(red.sum(terms, 1), Tensor._wrap(keep.astype(logp.dtype))))
    return _reduce(losses, _denominator(weight, safe, keep, logp.dtype), reduction)
