"""save / load of state dicts as ``.npz`` files: no pickle, and atomic writes."""

import os
import uuid

import numpy as np

from .tensor import Tensor


def save(state_dict, path):
    """Write a dict name -> array (or Tensor) to ``path`` (.npz). The file is written to a
    temporary file in the same folder and renamed over ``path``, so an interrupted save never
    destroys the previous file."""
    arrays = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise TypeError(f"save: keys must be strings, got {k!r}")
        arr = np.asarray(v.data if isinstance(v, Tensor) else v)
        if arr.dtype == object:
            raise TypeError(f"save: {k} is not a numeric array")
        arrays[k] = arr
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    # A plain open() (not mkstemp, which makes 0600 files) so the file gets the usual
    # permissions; "x" refuses to reuse an existing name.
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path):
    """Read a file written by ``save``: an ordered dict name -> numpy array (pickle refused)."""
    with np.load(os.fspath(path), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
