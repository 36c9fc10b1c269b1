"""``torch.autograd``: ``grad`` and ``backward`` (minigrad's), the recording switches, and
the legacy ``Variable`` (a tensor, as it has been in PyTorch since 0.4). Custom
``autograd.Function`` classes are not supported (minigrad's extension point is
``mg.Primitive``)."""

import minigrad as mg
from minigrad import (
    backward,
    detect_anomaly,
    enable_grad,
    grad,
    inference_mode,
    no_grad,
    set_grad_enabled,
)

__all__ = ["Variable", "backward", "detect_anomaly", "enable_grad", "grad", "inference_mode",
           "no_grad", "set_detect_anomaly", "set_grad_enabled"]


def Variable(data, requires_grad=False, volatile=False):  # noqa: N802 - PyTorch's name
    """The tensor itself (or one made from ``data``), requiring grad if asked."""
    t = data if isinstance(data, mg.Tensor) else mg.tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t


class set_detect_anomaly(detect_anomaly):  # noqa: N801 - PyTorch's name
    """``detect_anomaly`` when ``mode`` is True, nothing otherwise (context manager)."""

    def __init__(self, mode, check_nan=True):
        super().__init__()
        self.mode = bool(mode)

    def __enter__(self):
        return super().__enter__() if self.mode else self

    def __exit__(self, *exc):
        return super().__exit__(*exc) if self.mode else False
