"""Optimizers with PyTorch's names, arguments, formulas and ``param_groups``: SGD (momentum,
dampening, Nesterov, weight decay), Adam and AdamW (AMSGrad; maximize), LBFGS (closure, optional
strong-Wolfe line search)."""

from . import lr_scheduler
from .adam import Adam
from .adamw import AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LBFGS"]
