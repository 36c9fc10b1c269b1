"""Module: the base class of layers. Parameters and sub-modules assigned as attributes are
registered in order; names are dotted paths (``encoder.rnn.weight_hh_l0``)."""

import collections

import numpy as np

from .. import dtypes
from ..device import check_device, is_device_like
from ..grad_mode import no_grad
from ..tensor import Tensor
from .parameter import Parameter


class _InitArgs(tuple):
    """``(args, kwargs)`` a module was made with. ``copy.deepcopy`` of a module shares it
    (the copy was made with the same arguments), so an argument that cannot be copied (a lock,
    a file) never breaks copying a module."""

    __slots__ = ()

    def __deepcopy__(self, memo):
        return self


class Module:
    """Base class: subclasses set parameters/sub-modules in ``__init__`` and define
    ``forward``; calling the module calls ``forward``."""

    def __new__(cls, *args, **kwargs):
        """Record the constructor's arguments (``_init_args``): a whole-module checkpoint
        (``mg.save(model, f)``) is the class, these arguments and the state dict."""
        obj = super().__new__(cls)
        obj.__dict__["_init_args"] = _InitArgs((args, kwargs))
        return obj

    def __init__(self):
        object.__setattr__(self, "_parameters", collections.OrderedDict())
        object.__setattr__(self, "_modules", collections.OrderedDict())
        object.__setattr__(self, "_buffers", collections.OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               "assigning attributes")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        buffers = self.__dict__.get("_buffers", {})
        if name in buffers and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign a "
                                f"{type(value).__name__} to buffer {name!r} (expected a "
                                "Tensor or None)")
            buffers[name] = value
            object.__setattr__(self, name, value)
            return
        # Re-assigning a registered name keeps its place in the order (as in PyTorch).
        if isinstance(value, Parameter):
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value
        else:
            params.pop(name, None)
            modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self.__dict__.get("_buffers", {}).pop(name, None)
        self.__dict__.get("_non_persistent_buffers_set", set()).discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor, persistent=True):
        """Register ``tensor`` (a Tensor or None) as a buffer: state that is not a parameter
        (no gradient, not in ``parameters()``), converted by ``to(dtype)``, and saved in
        ``state_dict()`` unless ``persistent=False``. Re-assigning ``self.name`` updates it."""
        who = f"{type(self).__name__}.register_buffer"
        if "_buffers" not in self.__dict__:
            raise RuntimeError(f"{who}: call super().__init__() before registering buffers")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{who}: the name must be a non-empty string without '.', got "
                           f"{name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{who}: expected a Tensor or None for {name!r}, got "
                            f"{type(tensor).__name__}")
        if name in self._parameters or name in self._modules or (
                hasattr(self, name) and name not in self._buffers):
            raise KeyError(f"{who}: attribute {name!r} already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name, module):
        setattr(self, name, module)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- traversal --------------------------------------------------------------------
    def named_modules(self, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and all below it, depth first, in order; a
        module reached by two paths comes once (under every path with
        ``remove_duplicate=False``, as PyTorch's state dicts list it)."""
        stack = [(prefix, self, ())]
        seen = set()
        while stack:
            name, mod, above = stack.pop()
            if id(mod) in seen and (remove_duplicate or id(mod) in above):
                continue  # (a module inside itself is walked once, whatever the flag)
            seen.add(id(mod))
            yield name, mod
            below = above + (id(mod),)
            children = [(f"{name}.{k}" if name else k, m, below)
                        for k, m in mod._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        yield from ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs, each shared parameter once (every name of it with
        ``remove_duplicate=False``, as PyTorch's state dicts list tied weights)."""
        seen = set()
        mods = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for k, p in mod._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{k}" if mod_name else k), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        """(dotted name, Tensor) pairs of the registered buffers, each shared buffer once."""
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for k, b in mod.__dict__.get("_buffers", {}).items():
                if b is None or id(b) in seen:
                    continue
                seen.add(id(b))
                yield (f"{mod_name}.{k}" if mod_name else k), b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module (children first, depth first), then on
        this module; returns ``self`` (PyTorch's order: ``model.apply(init_weights)``)."""
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}.apply: expected a callable, got "
                            f"{type(fn).__name__}")
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ----------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad._array[...] = 0
                p.grad._bump_version()

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def to(self, *args, **kwargs):
        """PyTorch's forms: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``,
        ``to(device=None, dtype=None, non_blocking=False)``. The device must be the CPU
        (``"cpu"``, ``mg.device("cpu")``; others raise ``RuntimeError``); a dtype (float32 or
        float64) converts every floating parameter and buffer in place. Returns ``self``."""
        device, dtype = _to_arguments(f"{type(self).__name__}.to", args, kwargs)
        check_device(device, f"{type(self).__name__}.to")
        if dtype is not None:
            self._convert(dtype)
        return self

    def _convert(self, dtype):
        dt = np.dtype(dtype)
        if not dtypes.is_floating(dt):
            raise TypeError(f"{type(self).__name__}.to: parameters are float32 or float64, "
                            f"got {dt}")
        for p in self.parameters():
            p._array = p._array.astype(dt)
            p.grad = None
        for b in self.buffers():
            if dtypes.is_floating(b.dtype):
                b._array = b._array.astype(dt)

    def cpu(self):
        """Every module lives on the CPU: returns ``self``."""
        return self

    def cuda(self, device=None):
        """Raises ``RuntimeError``: minigrad runs on the CPU only."""
        if device is None or isinstance(device, int):
            device = "cuda" if device is None else f"cuda:{device}"
        check_device(device, f"{type(self).__name__}.cuda")
        return self

    def double(self):
        self._convert(np.float64)
        return self

    def float(self):
        self._convert(np.float32)
        return self

    def num_parameters(self):
        return sum(p._array.size for p in self.parameters())

    # ---- state -----------------------------------------------------------------------
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An ordered dict name -> Tensor of ``_named_state()``, as in PyTorch: each value is
        ``detach()``-ed (it shares the parameter's memory and version counter; copy it, e.g.
        ``copy.deepcopy(model.state_dict())``, to keep a snapshot); ``keep_vars=True`` gives
        the parameters and buffers themselves. A tied (shared) parameter or buffer appears
        under each of its names. ``destination`` (a dict to fill) and ``prefix`` (put before
        every name) are PyTorch's."""
        out = collections.OrderedDict() if destination is None else destination
        for k, t in self._named_state():
            out[prefix + k] = t if keep_vars else t.detach()
        return out

    def _named_state(self):
        """(dotted name, Tensor) of what a state dict holds, module by module (depth first, as
        in PyTorch): its parameters, then its persistent buffers; a shared one under every
        name it has."""
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            prefix = f"{mod_name}." if mod_name else ""
            for k, p in mod._parameters.items():
                if p is not None:
                    yield prefix + k, p
            skip = mod.__dict__.get("_non_persistent_buffers_set", ())
            for k, b in mod.__dict__.get("_buffers", {}).items():
                if b is not None and k not in skip:
                    yield prefix + k, b

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (numpy arrays or Tensors) into the parameters and persistent buffers by
        name (what ``state_dict()`` wrote).

        With ``strict``, missing or unexpected keys raise ``KeyError``; a shape mismatch always
        raises ``ValueError``, and so do two names of one tied tensor holding different values.
        Everything is checked before anything is written, so a failed load changes nothing.
        Every tensor written gets its version bumped. Returns ``(missing_keys,
        unexpected_keys)``.
        """
        who = f"{type(self).__name__}.load_state_dict"
        own = list(self._named_state())
        names = {k for k, _ in own}
        missing = [k for k, _ in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in names]
        if strict and (missing or unexpected):
            raise KeyError(f"{who}: missing keys {missing}, unexpected keys {unexpected}")
        staged = {}  # id(tensor) -> (tensor, first key, array)
        for k, p in own:
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = np.asarray(v._array if isinstance(v, Tensor) else v)
            if arr.shape != p.shape:
                raise ValueError(f"{who}: {k} expected shape {p.shape}, got {arr.shape}")
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"{who}: {k} expected numbers, got dtype {arr.dtype}")
            earlier = staged.get(id(p))
            if earlier is None:
                staged[id(p)] = (p, k, arr)
            elif not np.array_equal(earlier[2], arr, equal_nan=arr.dtype.kind == "f"):
                raise ValueError(f"{who}: {earlier[1]} and {k} name one tied tensor but hold "
                                 "different values")
        with no_grad():
            for p, _, arr in staged.values():
                p._array[...] = arr.astype(p.dtype)
                p._bump_version()  # an in-place write: what is derived from p is stale
        return missing, unexpected

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for k, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({k}): {sub}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


def _to_arguments(who, args, kwargs):
    """(device, dtype) from the arguments of ``Module.to``; either may be None."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "memory_format"}
    if unknown:
        raise TypeError(f"{who}: unexpected keyword arguments {sorted(unknown)}")
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, bool):
            continue  # non_blocking, positionally
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif is_device_like(arg) or isinstance(arg, int):
            device = arg
        else:
            try:
                dtype = np.dtype(arg)
            except TypeError:
                raise TypeError(f"{who}: expected a device, a dtype or a tensor, got "
                                f"{arg!r}") from None
    return device, dtype
