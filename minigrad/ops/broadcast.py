"""Broadcasting helpers shared by every op's backward rule."""

from .reduce import sum_to


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``.

    grad: a Tensor whose shape ``shape`` broadcasts to; returns a Tensor of ``shape``.
    """
    if grad.shape == tuple(shape):
        return grad
    return sum_to(grad, tuple(shape))
