"""Where generated kernels live: one module per source text, in a cache directory, so that
numba's own disk cache (``cache=True``, kept beside the module) spares the compile in the
next process.

The directory is ``$MINIGRAD_CACHE_DIR/cells`` when that variable is set (the library reads
it, never sets it), else ``$XDG_CACHE_HOME/minigrad/cells`` or ``~/.cache/minigrad/cells``;
if none can be written, a temporary directory of this process.
"""

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading

_LOCK = threading.Lock()
_LOADED = {}
_DIR = []


def cache_dir():
    """The directory generated kernels are written to (made on first use)."""
    if _DIR:
        return _DIR[0]
    root = os.environ.get("MINIGRAD_CACHE_DIR")
    if root:
        candidates = [os.path.join(root, "cells")]
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                   ".cache")
        candidates = [os.path.join(base, "minigrad", "cells")]
    for path in candidates:
        try:
            os.makedirs(path, exist_ok=True)
            if os.access(path, os.W_OK):
                _DIR.append(path)
                return path
        except OSError:
            pass
    _DIR.append(tempfile.mkdtemp(prefix="minigrad_cells_"))
    return _DIR[0]


def load(source, name="kernel"):
    """The function ``name`` of the module whose text is ``source`` (written once, imported
    once per process)."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:20]
    with _LOCK:
        module = _LOADED.get(digest)
        if module is None:
            path = os.path.join(cache_dir(), f"cell_{digest}.py")
            if not os.path.exists(path):
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "w") as f:
                    f.write(source)
                os.replace(tmp, path)  # atomic: a reader never sees half a file
            mod_name = f"minigrad_cells.cell_{digest}"
            spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
            _LOADED[digest] = module
    return getattr(module, name)
