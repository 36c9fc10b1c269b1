"""PyTorch's legacy typed constructors: ``LongTensor(data)`` / ``LongTensor(*sizes)`` (and
``FloatTensor``, ``DoubleTensor``). They are functions here (``isinstance`` against them does
not work); ``tensor(data, dtype=...)`` is the modern form."""

import numpy as np

import minigrad as mg


def _typed(dtype, name):
    def make(*args):
        if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            return mg.zeros(*args, dtype=dtype)  # sizes (PyTorch leaves them uninitialised)
        if len(args) != 1:
            raise TypeError(f"{name}: expected data (a list or array) or int sizes, got "
                            f"{args!r}")
        data = args[0]
        return mg.tensor(data.numpy() if isinstance(data, mg.Tensor) else data, dtype=dtype)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"``{name}(data)``: a {np.dtype(dtype)} tensor; ``{name}(*sizes)``: zeros."
    return make


LongTensor = _typed(np.int64, "LongTensor")
FloatTensor = _typed(np.float32, "FloatTensor")
DoubleTensor = _typed(np.float64, "DoubleTensor")
