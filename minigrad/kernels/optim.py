"""Optimizer updates: one pass over a parameter's flat array, in place, with PyTorch's formulas
(``torch.optim``'s single-tensor SGD / Adam / AdamW) in the parameter's own dtype.

Every array is 1-D, C-contiguous and of one dtype (float32 or float64); the scalars come in that
dtype too, so float32 parameters are updated in float32 arithmetic, as PyTorch does.
"""

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def sgd_plain(param, grad, lr):
    """param -= lr * grad (SGD without momentum or weight decay; maximize: pass -lr).
    param, grad: (N,)."""
    for i in range(param.shape[0]):
        param[i] = param[i] - lr * grad[i]


@njit(cache=True, error_model="numpy")
def sgd(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, sign, first):
    """One SGD step of PyTorch's formula, per entry::

        d = sign * grad + weight_decay * param
        buf = d                                        on the first step (first = True)
        buf = momentum * buf + (1 - dampening) * d     after it
        d = d + momentum * buf if nesterov else buf    (when momentum != 0)
        param = param - lr * d

    param, grad, buf: (N,) (buf unused when momentum == 0); sign: 1 or -1 (maximize)."""
    keep = 1 - dampening
    for i in range(param.shape[0]):
        d = sign * grad[i]
        if weight_decay != 0:
            d = d + weight_decay * param[i]
        if momentum != 0:
            b = d if first else momentum * buf[i] + keep * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        param[i] = param[i] - lr * d


@njit(cache=True, error_model="numpy")
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
         weight_decay, decoupled, amsgrad, sign, step_size, bias_correction2_sqrt):
    """One Adam / AdamW step of PyTorch's formula, per entry::

        param = param * (1 - lr * weight_decay)          AdamW (decoupled)
        d = sign * grad (+ weight_decay * param)         Adam (L2 in the gradient)
        exp_avg = lerp(exp_avg, d, 1 - beta1)
        exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * d * d
        max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq) (amsgrad; then used below)
        param = param - step_size * exp_avg / (sqrt(exp_avg_sq) / bias_correction2_sqrt + eps)

    with step_size = lr / (1 - beta1^step), bias_correction2_sqrt = sqrt(1 - beta2^step).
    param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq: (N,) (the last unused without amsgrad);
    sign: 1 or -1 (maximize). lerp(a, b, w) is PyTorch's: a + w (b - a) for w < 0.5, else
    b - (b - a)(1 - w)."""
    w1 = 1 - beta1
    w2 = 1 - beta2
    decay = 1 - lr * weight_decay
    low = w1 < 0.5
    for i in range(param.shape[0]):
        p = param[i]
        if decoupled:
            if weight_decay != 0:
                p = p * decay
            d = sign * grad[i]
        else:
            d = sign * grad[i]
            if weight_decay != 0:
                d = d + weight_decay * p
        m = exp_avg[i]
        m = m + w1 * (d - m) if low else d - (d - m) * beta1
        exp_avg[i] = m
        v = exp_avg_sq[i] * beta2 + w2 * d * d
        exp_avg_sq[i] = v
        if amsgrad:
            old = max_exp_avg_sq[i]
            v = old if old > v or old != old else v  # NaN wins, as in torch.maximum
            max_exp_avg_sq[i] = v
        denom = np.sqrt(v) / bias_correction2_sqrt + eps
        param[i] = p - step_size * (m / denom)
