"""Module: the base class of layers. Parameters and sub-modules assigned as attributes are
registered in order; names are dotted paths (``encoder.rnn.weight_hh_l0``)."""

import collections

import numpy as np

from .. import dtypes
from ..grad_mode import no_grad
from ..tensor import Tensor
from .parameter import Parameter


class Module:
    """Base class: subclasses set parameters/sub-modules in ``__init__`` and define
    ``forward``; calling the module calls ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", collections.OrderedDict())
        object.__setattr__(self, "_modules", collections.OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               "assigning attributes")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
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
        object.__delattr__(self, name)

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
    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and all below it, depth first, in order."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        yield from ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) pairs, each shared parameter once."""
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for k, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{k}" if mod_name else k), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

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
                p.grad.data[...] = 0
                p.grad._bump_version()

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def to(self, dtype):
        """Convert every parameter to ``dtype`` in place (float32 or float64)."""
        dt = np.dtype(dtype)
        if not dtypes.is_floating(dt):
            raise TypeError(f"{type(self).__name__}.to: parameters are float32 or float64, "
                            f"got {dt}")
        for p in self.parameters():
            p.data = p.data.astype(dt)
            p.grad = None
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def num_parameters(self):
        return sum(p.data.size for p in self.parameters())

    # ---- state -----------------------------------------------------------------------
    def state_dict(self):
        """An ordered dict name -> numpy array (copies) of every parameter."""
        return collections.OrderedDict((k, p.data.copy()) for k, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (numpy arrays or Tensors) into the parameters by name.

        With ``strict``, missing or unexpected keys raise ``KeyError``; a shape mismatch always
        raises ``ValueError``. Everything is checked before anything is written, so a failed load
        changes nothing. Returns ``(missing_keys, unexpected_keys)``.
        """
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        staged = []
        for k, p in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = np.asarray(v.data if isinstance(v, Tensor) else v)
            if arr.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.load_state_dict: {k} expected shape "
                                 f"{p.shape}, got {arr.shape}")
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"{type(self).__name__}.load_state_dict: {k} expected numbers, "
                                f"got dtype {arr.dtype}")
            staged.append((p, arr))
        with no_grad():
            for p, arr in staged:
                p.data[...] = arr.astype(p.dtype)
        return missing, unexpected

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for k, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({k}): {sub}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"
