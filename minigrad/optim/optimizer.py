"""Optimizer base: holds the parameter list and clears gradients."""

from ..tensor import Tensor


class Optimizer:
    """Base class. ``params``: an iterable of Tensors that require grad."""

    def __init__(self, params, lr):
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of tensors, "
                            "e.g. model.parameters()")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: parameter {i} is not a tensor that "
                                "requires grad")
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        self.lr = float(lr)
        self.state = [dict() for _ in self.params]

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def step(self):
        raise NotImplementedError

    def _params_with_grads(self):
        """(param, grad array, state) for every parameter that has a gradient; checks them all
        first, so a bad gradient raises before any parameter is changed."""
        todo = []
        for i, (p, st) in enumerate(zip(self.params, self.state, strict=True)):
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.shape:
                raise ValueError(f"{type(self).__name__}: parameter {i} has shape {p.shape} "
                                 f"but its gradient has shape {g.shape}")
            todo.append((p, g, st))
        return todo
