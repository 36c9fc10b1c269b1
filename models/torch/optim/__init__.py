"""``torch.optim``: ``minigrad.optim`` and ``lr_scheduler``."""

from minigrad.optim import LBFGS, SGD, Adam, AdamW, Optimizer

from . import lr_scheduler

__all__ = ["LBFGS", "SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
