"""save / load of checkpoints as ``.npz`` files: no pickle, atomic writes, clear errors.

A checkpoint is a tree: dicts (str or int keys), lists and tuples, whose leaves are Tensors,
numpy arrays of numbers (bool, int, float, complex), numpy scalars, Python ints, floats, bools
and None. Each array is one ``.npy`` member of the zip file, named by its place in the tree
(``model/head.0.weight``, ``opt/state/0/exp_avg``), so plain ``numpy.load`` can read it too;
the tree itself is a JSON manifest in the member ``__minigrad__`` (kept as a uint8 array).
Nothing is ever pickled, and ``load`` reads with ``allow_pickle=False``.

A whole Module (``mg.save(model, f)``, also inside a tree) is saved as data too: its class by
import path, the arguments its constructor was called with (recorded by ``Module.__new__``:
numbers, strings, dtypes, tensors, arrays, modules and containers of them), the public plain
attributes (numbers, strings, bools, None: ``training`` and the like) of it and its
sub-modules, and its state dict. ``load`` rebuilds it by calling the class with those
arguments (the random generator's state is kept, so loading draws nothing) and loading the
state dict. Like PyTorch's ``weights_only=True`` loading (the default), a class is made only
when it is allowed: minigrad's and ``models``' own classes, and those given to
``add_safe_globals`` / ``safe_globals``; ``weights_only=False`` allows any importable Module
class. A Module class given to a constructor (``models.Recurrent``'s cell, or a
``functools.partial`` of one) is saved by import path and allowed by the same rules. Nothing
but importing an allowed class and calling it runs.

A file written by older versions (a flat ``.npz`` of name -> array, no manifest) loads as the
same dict of numpy arrays as before.
"""

import collections
import contextlib
import errno
import functools
import importlib
import importlib.util
import io
import json
import os
import pickle
import uuid
import zipfile
import zlib

import numpy as np

from . import random as _random
from .tensor import Tensor

MANIFEST = "__minigrad__"
FORMAT = "minigrad-checkpoint"
VERSION = 1
_RESERVED = {MANIFEST, "file", "allow_pickle", "args", "kwds"}  # numpy.savez's own names
_NUMERIC = "biufc"
_WHAT = ("a checkpoint holds Tensors, numpy arrays of numbers, numbers, bools, None, whole "
         "Modules, and dicts (str or int keys), lists and tuples of them")
_TRUSTED = ("minigrad", "models")  # packages whose Module classes load without safe_globals
_ARGS_WHAT = ("a whole module is saved as its class, its constructor's arguments (numbers, "
              "strings, dtypes, tensors, arrays, modules, Module classes, functools.partial "
              "of a Module class, and containers of them) and its "
              "state dict; save model.state_dict() instead and load it into a model you build "
              "(model.load_state_dict(load(f)))")


def _trusted_package(name):
    """Whether ``name`` is one of this project's own packages (``_TRUSTED``) *and* is found
    beside ``minigrad`` itself: a user's own top-level package that happens to be called
    ``models`` is not trusted. Found without importing anything (``find_spec``)."""
    if name not in _TRUSTED:
        return False
    if name == "minigrad":
        return True
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return False
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.dirname(os.path.dirname(os.path.abspath(spec.origin))) == here


# ---- allowed classes (PyTorch's safe globals) --------------------------------------------------
_safe = []  # add_safe_globals
_scoped = []  # the lists of the active safe_globals contexts


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint names a class that is not allowed (PyTorch raises ``UnpicklingError``
    there too). Nothing is unpickled: the name is refused before it is imported."""


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


def add_safe_globals(safe_globals):
    """Allow these classes (a list) in whole-module checkpoints loaded with
    ``weights_only=True`` (PyTorch's ``torch.serialization.add_safe_globals``)."""
    _safe.extend(_checked_globals(safe_globals, "add_safe_globals"))


def get_safe_globals():
    return list(_safe)


def clear_safe_globals():
    _safe.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """``with safe_globals([MyModel]):`` allows these classes while the block runs."""
    _scoped.append(_checked_globals(safe_globals, "safe_globals"))
    try:
        yield
    finally:
        _scoped.pop()


def _class_path(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


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
        self.in_args = 0  # > 0 inside a module's constructor arguments

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
        from .nn.module import Module
        if isinstance(obj, Module):
            return self.module(obj, where)
        if self.in_args and isinstance(obj, str):
            return {"str": obj}
        if self.in_args and (isinstance(obj, type) and issubclass(obj, Module)):
            return {"class": self.class_path(obj, where)}
        if self.in_args and isinstance(obj, functools.partial) and isinstance(
                obj.func, type) and issubclass(obj.func, Module):
            # a Module class with some arguments given, e.g. a cell factory of Recurrent
            return {"partial": self.class_path(obj.func, where),
                    "args": [self.encode(v, where + ("args", i)) for i, v in
                             enumerate(obj.args)],
                    "kwargs": [[k, self.encode(v, where + ("kwargs", k))]
                               for k, v in obj.keywords.items()]}
        if self.in_args and _is_dtype(obj):
            return {"dtype": np.dtype(obj).name}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self.open:
                self.refuse(where, "it contains itself")
            self.open.add(id(obj))
            try:
                return self.container(obj, where)
            finally:
                self.open.discard(id(obj))
        if self.in_args:
            self.refuse(where, f"a {type(obj).__name__} constructor argument is not data; "
                               f"{_ARGS_WHAT}")
        self.refuse(where, _hint(obj))

    def class_path(self, cls, where):
        """The import path of a Module class given as a constructor argument."""
        if "<locals>" in cls.__qualname__:
            self.refuse(where, f"the class {cls.__qualname__} is defined inside a function, "
                               f"so it cannot be found by name when loading; {_ARGS_WHAT}")
        return _class_path(cls)

    def module(self, obj, where):
        """A whole module: its class path, constructor arguments, plain attributes, frozen
        parameters and state dict (see the module docstring)."""
        cls = type(obj)
        recorded = obj.__dict__.get("_init_args")
        if recorded is None:
            self.refuse(where, f"this {cls.__name__} has no recorded constructor arguments; "
                               f"{_ARGS_WHAT}")
        if "<locals>" in cls.__qualname__:
            self.refuse(where, f"its class {cls.__qualname__} is defined inside a function, so "
                               f"it cannot be found by name when loading; {_ARGS_WHAT}")
        if id(obj) in self.open:
            self.refuse(where, "it contains itself")
        self.open.add(id(obj))
        self.in_args += 1
        try:
            args, kwargs = recorded
            enc_args = [self.encode(v, where + ("args", i)) for i, v in enumerate(args)]
            enc_kwargs = []
            for k, v in kwargs.items():
                enc_kwargs.append([k, self.encode(v, where + ("kwargs", k))])
        finally:
            self.in_args -= 1
            self.open.discard(id(obj))
        attrs = []
        for name, m in obj.named_modules():
            plain = [[k, v] for k, v in m.__dict__.items()
                     if not k.startswith("_") and (v is None or type(v) in (bool, int, float, str))]
            attrs.append([name, plain])
        frozen = [k for k, p in obj.named_parameters() if not p.requires_grad]
        state = self.encode(obj.state_dict(), where + ("state",))
        return {"module": _class_path(cls), "args": enc_args, "kwargs": enc_kwargs,
                "attrs": attrs, "frozen": frozen, "state": state}

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


def _is_dtype(obj):
    return isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic))


def _where(where):
    return "checkpoint" + "".join(f"[{k!r}]" for k in where)


def _hint(obj):
    name = type(obj).__name__
    a = "an" if name[:1].lower() in "aeiou" else "a"
    from .optim.optimizer import Optimizer
    if isinstance(obj, Optimizer) or callable(getattr(obj, "state_dict", None)):
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
    cpu (minigrad runs on the CPU only). A whole module is rebuilt from its class (see the
    module docstring): with ``weights_only`` True or None (PyTorch's default) only an allowed
    class (minigrad's and models' own, and ``add_safe_globals`` / ``safe_globals``) is made,
    else ``UnsafeCheckpointError`` (an ``UnpicklingError``, as PyTorch raises) names it;
    ``weights_only=False`` allows any importable Module class. Nothing is ever unpickled.

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` naming the file for
    anything that is not a readable checkpoint (empty, truncated, a pickle, a lone ``.npy``).
    """
    _check_location(map_location)
    if weights_only is not None and not isinstance(weights_only, (bool, np.bool_)):
        raise TypeError(f"load: weights_only must be a bool or None, got {weights_only!r}")
    strict = weights_only is None or bool(weights_only)
    if hasattr(f, "read"):
        return _load_stream(f, _describe(f), strict)
    path = os.fsdecode(_fspath(f, "load"))
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"load: no checkpoint at {path!r} (no such "
                                              "file)") from None
    except OSError as err:
        raise _os_error(err, "load: cannot read the checkpoint", repr(path)) from None
    with fh:
        return _load_stream(fh, repr(path), strict)


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


def _load_stream(fh, name, weights_only=True):
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
    return _Decoder(arrays, name, weights_only).decode_file()


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

    def __init__(self, arrays, name, weights_only=True):
        self.arrays = arrays
        self.name = name
        self.weights_only = weights_only

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
        if kind == "str" and isinstance(value, str):
            return value
        if kind == "dtype" and isinstance(value, str):
            try:
                return np.dtype(value)
            except TypeError:
                self.damaged(f"an unknown dtype {value!r}")
        if kind == "module" and isinstance(value, str):
            return self.module(node)
        if kind == "class" and isinstance(value, str):
            return self.resolve(value)  # a Module class given to a constructor
        if kind == "partial" and isinstance(value, str):
            try:
                args = [self.decode(v) for v in node.get("args", [])]
                kwargs = {k: self.decode(v) for k, v in node.get("kwargs", [])}
            except (TypeError, ValueError) as err:
                if str(err).startswith("load:"):
                    raise
                self.damaged(f"the partial entry of {value}: {err}")
            return functools.partial(self.resolve(value), *args, **kwargs)
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

    def resolve(self, path):
        """The Module class ``path`` ("module:Qual.Name") names, if it may be made."""
        from .nn.module import Module
        for allowed in [*_safe, *(e for scoped in _scoped for e in scoped)]:
            if isinstance(allowed, type) and _class_path(allowed) == path:
                cls = allowed
                break
        else:
            module_name, _, qualname = path.partition(":")
            trusted = _trusted_package(module_name.split(".")[0])
            if self.weights_only and not trusted:
                short = qualname.rsplit(".", 1)[-1]
                raise UnsafeCheckpointError(
                    f"load: {self.name} holds a whole module of class {path}, which is not an "
                    f"allowed class for weights_only=True loading (the default, as in "
                    f"PyTorch). If you trust it, allow it with add_safe_globals([{short}]) or "
                    f"`with safe_globals([{short}]):` (torch.serialization's names), or load "
                    f"with weights_only=False; or save model.state_dict() and load it into a "
                    f"model you build")
            try:
                cls = importlib.import_module(module_name)
                for part in qualname.split("."):
                    cls = getattr(cls, part)
            except (ImportError, AttributeError) as err:
                raise ValueError(f"load: {self.name} holds a whole module of class {path}, "
                                 f"which cannot be found ({err}); import it, or pass it to "
                                 "safe_globals") from None
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise ValueError(f"load: {self.name}: {path} is not a Module class")
        return cls

    def module(self, node):
        """Rebuild a whole module: class(*args, **kwargs) without drawing random numbers, its
        plain attributes, its state dict."""
        path = node["module"]
        cls = self.resolve(path)
        try:
            args = [self.decode(v) for v in node.get("args", [])]
            kwargs = {k: self.decode(v) for k, v in node.get("kwargs", [])}
            attrs, frozen = list(node.get("attrs", [])), list(node.get("frozen", []))
        except (TypeError, ValueError, AttributeError) as err:
            if str(err).startswith("load:"):
                raise
            self.damaged(f"the module entry of {path}: {err}")
        state = self.decode(node.get("state"))
        with _random.state_kept():
            try:
                obj = cls(*args, **kwargs)
            except Exception as err:
                raise ValueError(f"load: {self.name}: rebuilding {path} from its saved "
                                 f"constructor arguments failed ({type(err).__name__}: "
                                 f"{err})") from err
        mismatch = (f"load: {self.name}: the {cls.__name__} rebuilt from its constructor "
                    "arguments does not match the saved one (was it changed after it was "
                    "made?); save model.state_dict() instead and load it into a model you "
                    "build")
        mods = dict(obj.named_modules())
        params = dict(obj.named_parameters())
        try:
            obj.load_state_dict(state)
        except (KeyError, ValueError) as err:
            raise ValueError(f"{mismatch}: {err}") from None
        for entry in attrs:
            name, plain = entry
            if name not in mods:
                raise ValueError(f"{mismatch}: it has no sub-module {name!r}")
            for k, v in plain:
                setattr(mods[name], k, v)
        for name in frozen:
            if name not in params:
                raise ValueError(f"{mismatch}: it has no parameter {name!r}")
            params[name].requires_grad_(False)
        return obj

    def tensor(self, kind, arr, requires_grad):
        try:
            if kind == "parameter":
                from .nn.parameter import Parameter
                return Parameter(arr, requires_grad=bool(requires_grad), dtype=arr.dtype)
            return Tensor(arr, dtype=arr.dtype, requires_grad=bool(requires_grad))
        except (TypeError, ValueError) as err:
            self.damaged(f"a {kind} of dtype {arr.dtype}: {err}")
