"""``torch.save`` / ``torch.load`` / ``torch.serialization.safe_globals``.

A checkpoint of plain data (state dicts, nested dicts / lists / tuples of tensors, arrays and
numbers) is written by ``mg.save``: an ``.npz`` with a JSON manifest, never pickled. Anything
else, such as a whole model (``torch.save(model, f)``) or strings, is written the way PyTorch
writes it: a pickle of the object graph, with every tensor and array stored beside it as an
``.npy`` member of the same zip (the pickle holds only references to them; tied weights stay
tied). Loading such a file follows PyTorch's ``weights_only=True`` rule (its default): only
builtin containers, tensors, and the classes allowed with ``safe_globals([...])`` /
``add_safe_globals([...])`` may be rebuilt; anything else raises ``pickle.UnpicklingError``
naming the class. ``weights_only=False`` rebuilds any class: only for files you trust.
"""

import collections
import contextlib
import io
import os
import pickle
import zipfile

import numpy as np

import minigrad as mg

PICKLE_MEMBER = "__torch_pickle__"
_ALWAYS = (collections.OrderedDict, set, frozenset, slice, range, complex, np.dtype)
_allowed = []  # add_safe_globals
_scoped = []  # safe_globals context managers


def add_safe_globals(safe_globals):
    """Allow these classes / functions to be rebuilt by ``load`` from now on."""
    _allowed.extend(_checked_globals(safe_globals, "add_safe_globals"))


def get_safe_globals():
    return list(_allowed)


def clear_safe_globals():
    _allowed.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """Context manager: allow these classes / functions inside the ``with`` block."""
    entries = _checked_globals(safe_globals, "safe_globals")
    _scoped.append(entries)
    try:
        yield
    finally:
        _scoped.remove(entries)


def _checked_globals(entries, who):
    if not isinstance(entries, (list, tuple)):
        raise TypeError(f"{who}: expected a list of classes or functions, got "
                        f"{type(entries).__name__}")
    out = []
    for e in entries:
        if isinstance(e, tuple) and len(e) == 2:  # (object, "module.name"), as PyTorch allows
            e = e[0]
        if not callable(e):
            raise TypeError(f"{who}: expected classes or functions, got {e!r}")
        out.append(e)
    return out


# ---- save ------------------------------------------------------------------------------------
def _plain(obj):
    """True for what ``mg.save`` writes: trees of dicts (str/int keys), lists, tuples of
    Tensors, numeric arrays, numbers, bools and None."""
    if obj is None or isinstance(obj, (bool, int, float, np.generic, mg.Tensor)):
        return not isinstance(obj, (np.str_, np.bytes_, np.void))
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind in "biufc"
    if isinstance(obj, dict):
        return all(isinstance(k, (str, int)) and not isinstance(k, bool) and _plain(v)
                   for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_plain(v) for v in obj)
    return False


class _Pickler(pickle.Pickler):
    def __init__(self, fh):
        super().__init__(fh, protocol=4)
        self.arrays, self._keys = {}, {}

    def persistent_id(self, obj):
        if isinstance(obj, mg.Tensor):
            kind = "parameter" if isinstance(obj, mg.nn.Parameter) else "tensor"
            return ("tensor", self._key(obj, obj.data), kind, bool(obj.requires_grad))
        if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc":
            return ("array", self._key(obj, obj))
        return None

    def _key(self, obj, array):
        key = self._keys.get(id(obj))
        if key is None:
            key = self._keys[id(obj)] = f"t{len(self._keys)}"
            self.arrays[key] = (obj, np.ascontiguousarray(array))  # obj kept alive: ids stay
        return key


def save(obj, f, pickle_module=None, pickle_protocol=None, **unused):
    """Write ``obj`` to ``f`` (a path or a binary file object). Plain data goes through
    ``mg.save``; a model or any other object graph is pickled with its tensors beside it."""
    if _plain(obj):
        return mg.save(obj, f)
    stream = io.BytesIO()
    pickler = _Pickler(stream)
    try:
        pickler.dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise TypeError(f"save: cannot save a {type(obj).__name__}: {err}") from None
    members = {PICKLE_MEMBER: np.frombuffer(stream.getvalue(), dtype=np.uint8)}
    members.update({k: a for k, (_, a) in pickler.arrays.items()})
    if hasattr(f, "write"):
        np.savez(f, **members)
        return None
    path = os.fspath(f)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        np.savez(fh, **members)
    os.replace(tmp, path)
    return None


# ---- load ------------------------------------------------------------------------------------
class _Unpickler(pickle.Unpickler):
    def __init__(self, fh, arrays, weights_only):
        super().__init__(fh)
        self.arrays, self.weights_only, self._made = arrays, weights_only, {}

    def find_class(self, module, name):
        if not self.weights_only:
            return super().find_class(module, name)
        allowed = list(_ALWAYS) + _allowed + [e for group in _scoped for e in group]
        names = {f"{getattr(a, '__module__', '')}.{getattr(a, '__qualname__', '')}"
                 for a in allowed}
        if f"{module}.{name}" in names:  # checked by name first: nothing else is imported
            found = super().find_class(module, name)
            if any(found is a for a in allowed):
                return found
        raise pickle.UnpicklingError(
            f"load: weights_only=True refuses to rebuild {module}.{name}; if you trust this "
            f"file, allow it with torch.serialization.safe_globals([{name}]) (or "
            f"add_safe_globals), or load with weights_only=False")

    def persistent_load(self, pid):
        kind, key = pid[0], pid[1]
        if key in self._made:
            return self._made[key]
        if key not in self.arrays:
            raise pickle.UnpicklingError(f"load: the checkpoint lacks the array {key!r}")
        array = np.array(self.arrays[key])
        if kind == "array":
            made = array
        elif pid[2] == "parameter":
            made = mg.nn.Parameter(array, requires_grad=pid[3])
        else:
            made = mg.from_numpy(array)
            if pid[3]:
                made.requires_grad_(True)
        self._made[key] = made
        return made


def _check_location(map_location):
    if map_location is None:
        return
    if isinstance(map_location, dict):
        targets = list(map_location.values())
    elif isinstance(map_location, (str, mg.device)):
        targets = [map_location]
    else:
        raise TypeError(f"load: map_location expected None, 'cpu', a device or a dict of them, "
                        f"got {type(map_location).__name__}")
    for t in targets:
        if mg.device(t).type != "cpu":
            raise RuntimeError(f"load: map_location={map_location!r}: minigrad runs on the CPU "
                               "only; use map_location='cpu' or None")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **unused):
    """Read what ``save`` wrote (or ``mg.save``): the same object, tensors on the CPU."""
    _check_location(map_location)
    members = _pickled_members(f)
    if members is None:
        return mg.load(f, map_location=None, weights_only=weights_only)
    stream = io.BytesIO(members.pop(PICKLE_MEMBER).tobytes())
    return _Unpickler(stream, members, weights_only is not False).load()


def _pickled_members(f):
    """The members of a file ``save`` pickled, or None for anything else (left to mg.load)."""
    fh = f if hasattr(f, "read") else None
    try:
        if fh is None:
            if not os.path.isfile(os.fspath(f)) or not zipfile.is_zipfile(os.fspath(f)):
                return None
            with np.load(os.fspath(f), allow_pickle=False) as z:
                return dict(z) if PICKLE_MEMBER in z.files else None
        start = fh.tell()
        data = fh.read()
        fh.seek(start)
        if not zipfile.is_zipfile(io.BytesIO(data)):
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if PICKLE_MEMBER not in z.files:
                return None
            fh.seek(0, os.SEEK_END)
            return dict(z)
    except (OSError, ValueError, zipfile.BadZipFile):
        if fh is not None:
            fh.seek(start)
        return None
