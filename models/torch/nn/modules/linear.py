"""``torch.nn.modules.linear``. ``NonDynamicallyQuantizableLinear`` is PyTorch's name for the
Linear inside its attention; here it is ``Linear``."""

from minigrad.nn import Linear

NonDynamicallyQuantizableLinear = Linear

__all__ = ["Linear", "NonDynamicallyQuantizableLinear"]
