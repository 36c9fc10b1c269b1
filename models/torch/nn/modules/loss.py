"""``torch.nn.modules.loss``."""

from minigrad.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "NLLLoss"]
