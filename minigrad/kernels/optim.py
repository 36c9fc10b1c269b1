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
def sgd_weight_decay(param, grad, lr, weight_decay, sign):
    """param -= lr * (sign * grad + weight_decay * param) (SGD without momentum).
    param, grad: (N,); sign: 1 or -1 (maximize)."""
    for i in range(param.shape[0]):
        p = param[i]
        param[i] = p - lr * (sign * grad[i] + weight_decay * p)


@njit(cache=True, error_model="numpy")
def sgd_momentum(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, sign,
                 first):
    """One SGD step with momentum, PyTorch's formula, per entry::

        d = sign * grad (+ weight_decay * param when weight_decay != 0)
        buf = d                                        on the first step (first = True)
        buf = momentum * buf + (1 - dampening) * d     after it
        d = d + momentum * buf if nesterov else buf
        param = param - lr * d

    param, grad, buf: (N,); sign: 1 or -1 (maximize). The options are the same for every
    entry: each choice is a select of two values, so the loop vectorises."""
    keep = 1 - dampening
    decay = weight_decay != 0
    for i in range(param.shape[0]):
        p = param[i]
        d = sign * grad[i]
        d = d + weight_decay * p if decay else d
        b = d if first else momentum * buf[i] + keep * d
        buf[i] = b
        param[i] = p - lr * (d + momentum * b if nesterov else b)
@njit(cache=True, error_model="numpy")
def adam(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, decoupled,
         sign, step_size, bias_correction2_sqrt):
    """One Adam / AdamW step of PyTorch's formula, per entry::

        param = param * (1 - lr * weight_decay)          AdamW (decoupled)
        d = sign * grad (+ weight_decay * param)         Adam (L2 in the gradient)
        exp_avg = lerp(exp_avg, d, 1 - beta1)
        exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * d * d
        param = param - step_size * exp_avg / (sqrt(exp_avg_sq) / bias_correction2_sqrt + eps)

    with step_size = lr / (1 - beta1^step), bias_correction2_sqrt = sqrt(1 - beta2^step).
    param, grad, exp_avg, exp_avg_sq: (N,); sign: 1 or -1 (maximize). lerp(a, b, w) is
    PyTorch's: a + w (b - a) for w < 0.5, else b - (b - a)(1 - w). Every option is a select
    of two values (the same for every entry), so the loop vectorises."""
    w1 = 1 - beta1
    w2 = 1 - beta2
    low = w1 < 0.5
    l2 = weight_decay != 0 and not decoupled
    decay = 1 - lr * weight_decay if decoupled and weight_decay != 0 else param.dtype.type(1)
    for i in range(param.shape[0]):
        p = param[i] * decay  # times 1 (exact, inf and NaN kept) unless decoupled
        d = sign * grad[i]
        d = d + weight_decay * p if l2 else d
        m = exp_avg[i]
        m = m + w1 * (d - m) if low else d - (d - m) * beta1
        exp_avg[i] = m
        v = exp_avg_sq[i] * beta2 + w2 * d * d
        exp_avg_sq[i] = v
        param[i] = p - step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + eps))


@njit(cache=True, error_model="numpy")
def adam_amsgrad(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                 weight_decay, decoupled, sign, step_size, bias_correction2_sqrt):
    """``adam`` with AMSGrad: max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq) (NaN wins, as
    in torch.maximum) takes exp_avg_sq's place in the denominator. Arrays: (N,)."""
    w1 = 1 - beta1
    w2 = 1 - beta2
    low = w1 < 0.5
    l2 = weight_decay != 0 and not decoupled
    decay = 1 - lr * weight_decay if decoupled and weight_decay != 0 else param.dtype.type(1)
    for i in range(param.shape[0]):
        p = param[i] * decay
        d = sign * grad[i]
        d = d + weight_decay * p if l2 else d
        m = exp_avg[i]
        m = m + w1 * (d - m) if low else d - (d - m) * beta1
        exp_avg[i] = m
        v = exp_avg_sq[i] * beta2 + w2 * d * d
        exp_avg_sq[i] = v
        old = max_exp_avg_sq[i]
        v = old if old > v or old != old else v
        max_exp_avg_sq[i] = v
        param[i] = p - step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + eps))
