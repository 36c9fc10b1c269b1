"""``torch.optim.lr_scheduler``: ``minigrad.optim.lr_scheduler``."""

from minigrad.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LRScheduler,
    MultiStepLR,
    ReduceLROnPlateau,
    StepLR,
)

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LambdaLR", "LRScheduler", "MultiStepLR",
           "ReduceLROnPlateau", "StepLR"]
