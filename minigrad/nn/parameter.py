"""Parameter: a leaf Tensor that a Module registers as trainable."""

import numpy as np

from .. import dtypes
from ..tensor import Tensor, _to_array


class Parameter(Tensor):
    """A Tensor with ``requires_grad=True`` (by default) that Modules collect.

    data: any float array; Python data takes the default dtype.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None):
        arr = _to_array(data, dtype)
        if not dtypes.is_floating(arr.dtype):
            arr = arr.astype(dtypes.get_default_dtype())
        super().__init__(np.ascontiguousarray(arr), requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
