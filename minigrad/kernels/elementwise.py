"""Fused elementwise kernels on flat (1-D, C-contiguous) arrays of equal length.

Only pure arithmetic is fused here (it vectorises); transcendental functions stay with numpy's
ufuncs, which are faster than numba's scalar libm calls on this machine.
"""

from numba import njit


@njit(cache=True, error_model="numpy")
def tanh_backward(grad_out, y, out):
    """out = grad_out * (1 - y**2), the vector-Jacobian product of y = tanh(x).
    All arrays: (N,)."""
    for i in range(out.shape[0]):
        out[i] = grad_out[i] * (1.0 - y[i] * y[i])


@njit(cache=True, error_model="numpy")
def sigmoid_backward(grad_out, y, out):
    """out = grad_out * y * (1 - y), the vector-Jacobian product of y = sigmoid(x).
    All arrays: (N,)."""
    for i in range(out.shape[0]):
        out[i] = grad_out[i] * y[i] * (1.0 - y[i])


@njit(cache=True, error_model="numpy")
def leaky_relu_forward(x, slope, out):
    """out = x if x > 0 else slope * x. Arrays: (N,)."""
    for i in range(out.shape[0]):
        v = x[i]
        out[i] = v if v > 0 else slope * v


@njit(cache=True, error_model="numpy")
def leaky_relu_backward(grad_out, x, slope, out):
    """out = grad_out if x > 0 else slope * grad_out (slope 0 gives ReLU's). Arrays: (N,)."""
    for i in range(out.shape[0]):
        out[i] = grad_out[i] if x[i] > 0 else slope * grad_out[i]
