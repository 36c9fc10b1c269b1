"""Cells defined once: ``Cell`` (one step in Tensor ops) and ``Recurrent`` (any cell over
sequences, unrolled or compiled into fused kernels)."""

from .base import Cell  # noqa: F401
from .graph import CompileError  # noqa: F401
from .jacobian import CellJacobian, step_jacobian  # noqa: F401
from .recurrent import Recurrent  # noqa: F401
