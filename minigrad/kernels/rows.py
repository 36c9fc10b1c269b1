"""Row-wise kernels on 2-D C-contiguous arrays: softmax's backward and scatter-add of rows."""

from numba import njit


@njit(cache=True, error_model="numpy")
def softmax_backward(grad_out, y, out):
    """Per row r: out[r] = y[r] * (grad_out[r] - sum(grad_out[r] * y[r])).

    grad_out, y, out: (R, C). The vector-Jacobian product of y = softmax(x) along the last axis.
    """
    for r in range(y.shape[0]):
        s = 0.0
        for c in range(y.shape[1]):
            s += grad_out[r, c] * y[r, c]
        for c in range(y.shape[1]):
            out[r, c] = y[r, c] * (grad_out[r, c] - s)


@njit(cache=True, error_model="numpy")
def scatter_add_rows(src, index, out):
    """out[index[n]] += src[n] for every n (repeated indices accumulate).

    src: (N, C); index: (N,) int64 in [0, R); out: (R, C), already holding the base values.
    """
    for n in range(index.shape[0]):
        row = index[n]
        for c in range(src.shape[1]):
            out[row, c] += src[n, c]
