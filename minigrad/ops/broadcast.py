"""Broadcasting helpers shared by every op's backward rule."""

from ..primitive import bind
from .reduce import sum_to_p


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``.

    grad: a Tensor whose shape ``shape`` broadcasts to (not checked: backward rules only pass
    shapes that did broadcast); returns a Tensor of ``shape``.
    """
    if grad._array.shape == shape:
        return grad
    return bind(sum_to_p, grad, shape=tuple(shape))


def unbroadcast_array(grad, shape):
    """``unbroadcast`` on arrays (the first-order array rules): ``grad`` itself when it has
    ``shape``, else its sum down to ``shape`` by ``sum_to``'s own forward."""
    if grad.shape == shape:
        return grad
    return sum_to_p.forward(grad, shape=tuple(shape))
