"""``torch.optim``: ``minigrad.optim`` and ``lr_scheduler``."""

from minigrad.optim import SGD, Adam, AdamW, Optimizer

from . import lr_scheduler

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
