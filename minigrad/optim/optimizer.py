"""Optimizer base: parameter groups (PyTorch's ``param_groups``), per-parameter state, argument
checks, ``zero_grad``, ``step`` and ``state_dict`` / ``load_state_dict`` in PyTorch's shape.

A subclass gives its ``defaults`` to ``__init__``, checks a group's options in ``_check`` and
updates one group's parameters in ``_update``; the base validates every gradient before any
parameter changes, and bumps each updated parameter's version once per step.
"""

import collections
import warnings

import numpy as np

from ..grad_mode import enable_grad
from ..tensor import Tensor


class Optimizer:
    """Base class. ``params``: an iterable of Tensors that require grad, or of dicts (parameter
    groups: ``{"params": [...], "lr": ...}``, options missing from a group take the
    optimizer's defaults). A parameter may appear only once over all groups."""

    # names of per-parameter state entries that are arrays of the parameter's shape
    _state_arrays = ()

    def __init__(self, params, defaults):
        who = type(self).__name__
        self.defaults = self._check(dict(defaults))
        self.param_groups = []
        self.state = collections.defaultdict(dict)
        if isinstance(params, Tensor):
            raise TypeError(f"{who}: params must be an iterable of tensors or of dicts, got a "
                            "Tensor; pass e.g. model.parameters() or [tensor]")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{who}: params must be an ordered iterable, got a "
                            f"{type(params).__name__} (its order, and so the state_dict's "
                            "indices, would change from run to run)")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{who}: params must be an iterable of tensors or of dicts, got "
                            f"{type(params).__name__}") from None
        if not params:
            raise ValueError(f"{who}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # ---- groups ---------------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group (a dict with ``"params"`` and optional options). Raises, changing
        nothing, when a parameter is not a tensor that requires grad, appears twice, or an
        option is out of range."""
        who = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{who}: a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{who}: a parameter group needs a 'params' entry, got keys "
                             f"{sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{who}: a group's params must be an ordered iterable, got a "
                            f"{type(params).__name__}")
        else:
            params = list(params)
        start = sum(len(g["params"]) for g in self.param_groups)
        seen = {id(p): k for k, g in enumerate(self.param_groups) for p in g["params"]}
        mine = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{who}: parameter {start + i} is not a tensor that requires "
                                f"grad (got {type(p).__name__})")
            if p._node is not None:
                raise ValueError(f"{who}: parameter {start + i} is not a leaf tensor (made by "
                                 f"op {p.op}); optimizers update leaves")
            if id(p) in mine:
                raise ValueError(f"{who}: parameter {start + i} appears twice in its group "
                                 "(it would be stepped twice)")
            if id(p) in seen:
                raise ValueError(f"{who}: parameter {start + i} is already in parameter group "
                                 f"{seen[id(p)]} (it would be stepped twice)")
            mine.add(id(p))
        options = {k: v for k, v in param_group.items() if k != "params"}
        group = self._check({**self.defaults, **options})
        group["params"] = params
        self.param_groups.append(group)

    @property
    def params(self):
        """Every parameter, group after group (a new list)."""
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def lr(self):
        """The first group's learning rate (setting it sets every group's)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for group in self.param_groups:
            self._check({**group, "lr": value})
        for group in self.param_groups:
            group["lr"] = float(value.item() if isinstance(value, Tensor) else value)

    def _check(self, options):
        """Return ``options`` checked and normalised (subclasses)."""
        raise NotImplementedError

    # ---- gradients ------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Drop every gradient (``set_to_none=True``) or fill it with zeros in place."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                g = p.grad
                if g.requires_grad or g._node is not None or not g._array.flags.writeable:
                    p.grad = Tensor._wrap(np.zeros_like(g._array))  # a graph value: not edited
                else:
                    g._array[...] = 0
                    g._bump_version()

    def step(self, closure=None):
        """Update every parameter that has a gradient, group by group. ``closure``: an
        optional function that recomputes and returns the loss (called with gradients
        enabled before the update); its value is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        plan = self._plan()
        for group, items in plan:
            self._update(group, items)
        for _, items in plan:
            for p, _, _ in items:
                p._bump_version()
        return loss

    def _plan(self):
        """[(group, [(param, flat gradient, flat parameter or None), ...]), ...] for every
        parameter with a gradient; checks them all first, so a bad gradient raises before any
        parameter is changed. The flat parameter is a view of its array (None when the array
        is not C-contiguous: ``_write_back`` then copies)."""
        who = type(self).__name__
        plan = []
        index = 0
        for group in self.param_groups:
            items = []
            for p in group["params"]:
                i, index = index, index + 1
                if p.grad is None:
                    continue
                g = p.grad._array if isinstance(p.grad, Tensor) else np.asarray(p.grad)
                if g.shape != p.shape:
                    raise ValueError(f"{who}: parameter {i} has shape {p.shape} but its "
                                     f"gradient has shape {g.shape}")
                if not p._array.flags.writeable:
                    raise ValueError(f"{who}: parameter {i} is read-only; it cannot be "
                                     "updated in place")
                flat_p, flat_g = _flat_pair(p._array, g)
                items.append((p, flat_g, flat_p))
            plan.append((group, items))
        return plan

    def _update(self, group, items):
        raise NotImplementedError

    @staticmethod
    def _work_array(p, flat_p):
        return flat_p if flat_p is not None else np.ascontiguousarray(p._array).reshape(-1)

    @staticmethod
    def _write_back(p, flat_p, work):
        if flat_p is None:
            p._array[...] = work.reshape(p.shape)

    def _buffer(self, state, name, p):
        """The state array ``name`` of parameter p (zeros when new), flat."""
        buf = state.get(name)
        if buf is None:
            buf = state[name] = Tensor._wrap(np.zeros(p.shape, dtype=p.dtype))
        return buf._array.reshape(-1)

    # ---- state_dict -----------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {name: value}}, "param_groups": [{option: value, "params":
        [index, ...]}]}`` as in PyTorch: parameters are numbered over all groups in order;
        state arrays are copies (Tensors), so the dict does not change as training goes on."""
        index = {}
        groups = []
        for group in self.param_groups:
            entry = {k: v for k, v in group.items() if k != "params"}
            entry["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(entry)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if st:
                    state[index[id(p)]] = {k: _copy(v) for k, v in st.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load what ``state_dict`` returned (this optimizer's or PyTorch's for the same
        parameters in the same order). Arrays may be Tensors, numpy arrays or anything numpy
        converts (PyTorch tensors); they are copied in each parameter's dtype. Raises, changing
        nothing, when the groups, sizes or shapes do not match."""
        who = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            got = sorted(state_dict) if isinstance(state_dict, dict) else repr(state_dict)
            raise ValueError(f"{who}: expected a dict with keys 'state' and 'param_groups', got "
                             f"{got}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{who}: the state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer {len(self.param_groups)}")
        by_index = {}
        new_options = []
        for k, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            ids = list(saved["params"])
            if len(ids) != len(group["params"]):
                raise ValueError(f"{who}: parameter group {k} has {len(ids)} parameters in the "
                                 f"state dict, {len(group['params'])} here")
            by_index.update({int(i): p for i, p in zip(ids, group["params"], strict=True)})
            new_options.append(self._check({k2: v for k2, v in saved.items()
                                            if k2 != "params"}))
        new_state = collections.defaultdict(dict)
        for key, entry in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"{who}: state for parameter {key}, which no group lists")
            new_state[p] = self._load_entry(who, int(key), p, entry)
        for group, options in zip(self.param_groups, new_options, strict=True):
            group.update(options)
        self.state = new_state

    def _load_entry(self, who, index, p, entry):
        out = {}
        for name, value in entry.items():
            if name in self._state_arrays:
                if value is None:
                    continue
                with warnings.catch_warnings():  # torch tensors' __array__ takes no copy=
                    warnings.simplefilter("ignore", DeprecationWarning)
                    arr = np.array(value._array if isinstance(value, Tensor) else value,
                                   dtype=p.dtype)
                if arr.shape != p.shape:
                    raise ValueError(f"{who}: state {name!r} of parameter {index} has shape "
                                     f"{arr.shape}, the parameter {p.shape}")
                out[name] = Tensor._wrap(np.ascontiguousarray(arr))
            elif name == "step":
                out[name] = int(float(np.asarray(value._array if isinstance(value, Tensor)
                                                 else value)))
            else:
                out[name] = value
        return out

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            lines.extend(f"    {name}: {value}" for name, value in sorted(group.items())
                         if name != "params")
        return "\n".join(lines + [")"])


def _flat_pair(param, grad):
    """(flat view of param or None, flat gradient in the same entry order, param's dtype).
    Both are read in memory order when they are laid out alike (C- or F-contiguous); else the
    gradient is copied into param's order, and a param that is not contiguous gets None
    (the update then works on a copy and writes it back)."""
    if grad.dtype != param.dtype:
        grad = grad.astype(param.dtype)
    if param.flags.c_contiguous:
        return param.reshape(-1), np.ascontiguousarray(grad).reshape(-1)
    if param.flags.f_contiguous and grad.flags.f_contiguous:
        return param.ravel(order="F"), grad.ravel(order="F")
    return None, np.ascontiguousarray(grad).reshape(-1)


def _copy(value):
    if isinstance(value, Tensor):
        return Tensor._wrap(value._array.copy())
    if isinstance(value, np.ndarray):
        return value.copy()
    return value
