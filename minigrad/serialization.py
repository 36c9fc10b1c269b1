"""save / load of checkpoints as ``.npz`` files: no pickle, atomic writes, clear errors.

A checkpoint is a tree: dicts (str or int keys), lists and tuples, whose leaves are Tensors,
numpy arrays of numbers (bool, int, float, complex), numpy scalars, Python ints, floats, bools
and None. Each array is one ``.npy`` member of the zip file, named by its place in the tree
(``model/head.0.weight``, ``opt/state/0/exp_avg``), so plain ``numpy.load`` can read it too;
the tree itself is a JSON manifest in the member ``__minigrad__`` (kept as a uint8 array).
Nothing is ever pickled, and ``load`` reads with ``allow_pickle=False``.

A file written by older versions (a flat ``.npz`` of name -> array, no manifest) loads as the
same dict of numpy arrays as before.
"""

import collections
import errno
import io
import json
import os
import uuid
import zipfile
import zlib

import numpy as np

from .tensor import Tensor

MANIFEST = "__minigrad__"
FORMAT = "minigrad-checkpoint"
VERSION = 1
_RESERVED = {MANIFEST, "file", "allow_pickle", "args", "kwds"}  # numpy.savez's own names
_NUMERIC = "biufc"
_WHAT = ("a checkpoint holds Tensors, numpy arrays of numbers, numbers, bools, None, and "
         "dicts (str or int keys), lists and tuples of them")


# ---- save ------------------------------------------------------------------------------------
def save(obj, f):
    """Write ``obj`` (a state dict, or any tree of dicts / lists / tuples of Tensors, numpy
    arrays and numbers, e.g. ``{"model": model.state_dict(), "epoch": 3}``) to ``f``: a path
    or a binary file object. A path is written to a temporary file in the same folder, which
    is then renamed over it, so an interrupted save never destroys the previous file.

    Raises ``TypeError`` (before anything is written) for a value that is not data: a Module
    or optimizer (save its ``state_dict()``), a string, an object array, a non-str/int key.
    """
    target = _describe(f)
    encoder = _Encoder(target)
    tree = encoder.encode(obj, ())
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree},
                          separators=(",", ":")).encode()
    members = {MANIFEST: np.frombuffer(manifest, dtype=np.uint8)}
    members.update(encoder.arrays)
    if hasattr(f, "write"):
        if isinstance(f, io.TextIOBase):
            raise TypeError(f"save: {target} is opened in text mode; open it with 'wb'")
        try:
            np.savez(f, **members)
        except OSError as err:
            raise _os_error(err, "save: cannot write the checkpoint", target) from None
        return
    path = os.fsdecode(_fspath(f, "save"))
    _write_atomic(path, members)


def _fspath(f, who):
    try:
        return os.fspath(f)
    except TypeError:
        raise TypeError(f"{who}: expected a path or a binary file object, got "
                        f"{type(f).__name__}") from None


def _describe(f):
    """How messages name the target: the path, or the file object's name."""
    if hasattr(f, "write") or hasattr(f, "read"):
        name = getattr(f, "name", None)
        return repr(name) if isinstance(name, str) else f"the file object {type(f).__name__}"
    try:
        return repr(os.fsdecode(os.fspath(f)))
    except TypeError:
        return repr(f)


def _os_error(err, what, target):
    """``err`` (an OSError) again, saying what failed on ``target`` (never the temp file)."""
    reason = err.strerror or str(err)
    return type(err)(err.errno or errno.EIO, f"{what} {target} ({reason})")


def _write_atomic(path, members):
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"save: the target {path!r} is a folder")
    folder, base = os.path.split(os.path.abspath(path))
    # A plain open() (not mkstemp, which makes 0600 files) so the file gets the usual
    # permissions; "x" refuses to reuse an existing name.
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as fh:
            np.savez(fh, **members)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise _os_error(err, "save: cannot write the checkpoint", repr(path)) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp):
    try:
        os.unlink(tmp)
    except OSError:
        pass


class _Encoder:
    """Turns a checkpoint tree into JSON-able nodes plus a dict member name -> array."""

    def __init__(self, target):
        self.target = target
        self.arrays = {}
        self.open = set()  # ids of the containers on the current path (to refuse cycles)

    def refuse(self, where, message):
        raise TypeError(f"save: cannot save {_where(where)} to {self.target}: {message}")

    def add(self, where, arr):
        name = "/".join(str(k) for k in where) or "value"
        base, n = name, 1
        while name in self.arrays or name in _RESERVED:
            name, n = f"{base}~{n}", n + 1
        self.arrays[name] = arr
        return name

    def numeric(self, where, arr):
        if arr.dtype.kind not in _NUMERIC or arr.dtype.names is not None:
            self.refuse(where, f"an array of dtype {arr.dtype} is not numbers; {_WHAT}")
        return arr

    def encode(self, obj, where):
        if obj is None or type(obj) in (bool, int, float):
            return obj
        if isinstance(obj, Tensor):
            from .nn.parameter import Parameter
            kind = "parameter" if isinstance(obj, Parameter) else "tensor"
            return {kind: self.add(where, self.numeric(where, obj._array)),
                    "requires_grad": bool(obj.requires_grad)}
        if isinstance(obj, np.ndarray):
            return {"array": self.add(where, self.numeric(where, obj))}
        if isinstance(obj, np.generic):
            return {"scalar": self.add(where, self.numeric(where, np.asarray(obj)))}
        if isinstance(obj, int):  # subclasses (IntEnum, ...) as plain numbers
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self.open:
                self.refuse(where, "it contains itself")
            self.open.add(id(obj))
            try:
                return self.container(obj, where)
            finally:
                self.open.discard(id(obj))
        self.refuse(where, _hint(obj))

    def container(self, obj, where):
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if isinstance(k, np.integer):
                    k = int(k)
                if type(k) not in (str, int):
                    self.refuse(where, f"the key {k!r} ({type(k).__name__}) is not a str "
                                       "or an int")
                items.append([k, self.encode(v, where + (k,))])
            return {"ordered_dict" if isinstance(obj, collections.OrderedDict) else "dict": items}
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {kind: [self.encode(v, where + (i,)) for i, v in enumerate(obj)]}


def _where(where):
    return "checkpoint" + "".join(f"[{k!r}]" for k in where)


def _hint(obj):
    name = type(obj).__name__
    a = "an" if name[:1].lower() in "aeiou" else "a"
    from .nn.module import Module
    from .optim.optimizer import Optimizer
    if isinstance(obj, (Module, Optimizer)) or callable(getattr(obj, "state_dict", None)):
        return (f"{a} {name} object is not data (mg.save never pickles); save its state_dict() "
                f"instead, e.g. mg.save({{'model': model.state_dict(), 'optimizer': "
                f"opt.state_dict()}}, path), and restore with load_state_dict")
    if isinstance(obj, (str, bytes)):
        return f"{a} {name} ({obj[:20]!r}) is not a number; {_WHAT}"
    return f"{a} {name} object is not data (mg.save never pickles; save a state_dict()); {_WHAT}"


# ---- load ------------------------------------------------------------------------------------
def load(f, map_location=None, weights_only=None):
    """Read a checkpoint written by ``save`` from a path or a binary file object.

    Returns the saved tree: Tensors come back as Tensors (Parameters as Parameters, with their
    ``requires_grad``), numpy arrays as numpy arrays, numbers as Python numbers, tuples as
    tuples, int keys as ints. A flat file written by older versions loads as before (a dict
    name -> numpy array). ``map_location`` may be None, ``"cpu"`` or a device whose type is
    cpu (minigrad runs on the CPU only); ``weights_only`` is accepted and ignored for
    PyTorch's sake (a checkpoint holds only data: nothing is ever unpickled).

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` naming the file for
    anything that is not a readable checkpoint (empty, truncated, a pickle, a lone ``.npy``).
    """
    _check_location(map_location)
    if weights_only is not None and not isinstance(weights_only, (bool, np.bool_)):
        raise TypeError(f"load: weights_only must be a bool or None, got {weights_only!r}")
    if hasattr(f, "read"):
        return _load_stream(f, _describe(f))
    path = os.fsdecode(_fspath(f, "load"))
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"load: no checkpoint at {path!r} (no such "
                                              "file)") from None
    except OSError as err:
        raise _os_error(err, "load: cannot read the checkpoint", repr(path)) from None
    with fh:
        return _load_stream(fh, repr(path))


def _check_location(loc):
    if loc is None:
        return
    kind = loc if isinstance(loc, str) else getattr(loc, "type", None)
    if not isinstance(kind, str):
        raise TypeError(f"load: map_location must be None, 'cpu' or a device of type cpu, "
                        f"got {type(loc).__name__} {loc!r}")
    if kind.split(":")[0].strip().lower() != "cpu":
        raise ValueError(f"load: map_location={loc!r}: minigrad runs on the CPU only; give "
                         "map_location='cpu' or None")


def _load_stream(fh, name):
    if isinstance(fh, io.TextIOBase):
        raise TypeError(f"load: {name} is opened in text mode; open it with 'rb'")
    head = fh.read(6)
    if not head:
        raise ValueError(f"load: {name} is empty (0 bytes), not a checkpoint (an interrupted "
                         "copy?)")
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(f"load: {name} is a single .npy array, not a checkpoint (an .npz "
                         "archive written by mg.save); read it with numpy.load")
    if head[:1] == b"\x80":
        raise ValueError(f"load: {name} is a Python pickle (an old torch.save or pickle file), "
                         "not a checkpoint written by mg.save; mg.load never unpickles")
    if head[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError(f"load: {name} is not a checkpoint: expected an .npz (zip) archive "
                         f"written by mg.save, found the bytes {head!r} at its start")
    seekable = getattr(fh, "seekable", None)
    if seekable is not None and seekable():
        fh.seek(fh.tell() - len(head))
    else:
        fh = io.BytesIO(head + fh.read())
    arrays = _read_members(fh, name)
    if MANIFEST not in arrays:
        return arrays  # a flat file written before the manifest existed
    return _Decoder(arrays, name).decode_file()


def _read_members(fh, name):
    """Every member of the .npz archive as a dict name -> array, read without pickle."""
    key = None
    try:
        with np.load(fh, allow_pickle=False) as npz:
            for member in npz.zip.namelist():
                if not member.endswith(".npy"):
                    raise ValueError(
                        f"load: {name} is a zip archive but not a checkpoint written by "
                        f"mg.save: its member {member!r} is not a .npy array (a torch.save "
                        "file? read it with torch.load and save the arrays with mg.save)")
            out = {}
            for key in npz.files:
                out[key] = npz[key]
            return out
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        if str(err).startswith(f"load: {name}"):
            raise
        if "allow_pickle" in str(err) or "pickled" in str(err):
            raise ValueError(f"load: {name}: the entry {key!r} holds Python objects, which "
                             "mg.load refuses to unpickle (allow_pickle=False)") from None
        where = f" (entry {key!r})" if key is not None else ""
        raise ValueError(f"load: {name} is damaged or truncated{where}: {err}") from None


class _Decoder:
    """Rebuilds the tree of a manifest from the archive's arrays."""

    def __init__(self, arrays, name):
        self.arrays = arrays
        self.name = name

    def damaged(self, why):
        raise ValueError(f"load: {self.name} has a damaged manifest ({why})")

    def decode_file(self):
        raw = self.arrays.pop(MANIFEST)
        try:
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"a {raw.dtype} array of shape {raw.shape}")
            head = json.loads(raw.tobytes().decode())
        except (ValueError, UnicodeDecodeError) as err:
            self.damaged(f"not JSON: {err}")
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            self.damaged("no format header")
        version = head.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise ValueError(f"load: {self.name} was written in checkpoint format version "
                             f"{version!r}; this minigrad reads versions up to {VERSION}")
        if "tree" not in head:
            self.damaged("no tree")
        return self.decode(head["tree"])

    def take(self, member):
        if not isinstance(member, str) or member not in self.arrays:
            self.damaged(f"the array {member!r} is missing")
        return self.arrays[member]

    def decode(self, node):
        if node is None or type(node) in (bool, int, float):
            return node
        if not isinstance(node, dict) or not node:
            self.damaged(f"an unexpected entry {str(node)[:40]!r}")
        kind = next(iter(node))
        value = node[kind]
        if kind in ("tensor", "parameter"):
            return self.tensor(kind, self.take(value), node.get("requires_grad", False))
        if kind == "array":
            return self.take(value)
        if kind == "scalar":
            arr = self.take(value)
            if arr.ndim != 0:
                self.damaged(f"the scalar {value!r} has shape {arr.shape}")
            return arr[()]
        if kind in ("list", "tuple") and isinstance(value, list):
            items = [self.decode(v) for v in value]
            return tuple(items) if kind == "tuple" else items
        if kind in ("dict", "ordered_dict") and isinstance(value, list):
            out = collections.OrderedDict() if kind == "ordered_dict" else {}
            for item in value:
                if not (isinstance(item, list) and len(item) == 2 and
                        type(item[0]) in (str, int)):
                    self.damaged(f"a dict entry {str(item)[:40]!r}")
                out[item[0]] = self.decode(item[1])
            return out
        self.damaged(f"an unknown entry kind {kind!r}")

    def tensor(self, kind, arr, requires_grad):
        try:
            if kind == "parameter":
                from .nn.parameter import Parameter
                return Parameter(arr, requires_grad=bool(requires_grad), dtype=arr.dtype)
            return Tensor(arr, dtype=arr.dtype, requires_grad=bool(requires_grad))
        except (TypeError, ValueError) as err:
            self.damaged(f"a {kind} of dtype {arr.dtype}: {err}")
