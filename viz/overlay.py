"""The gradient overlay: record ``||dL/dh_t||`` and ``||dL/dc_t||`` during the real backward pass.

Usage::

    out, (h_n, c_n) = lstm(x)
    loss = head(h_n[-1]).sum()
    rec = viz.watch(loss)          # BEFORE backward: hooks on every step's "h" and "c"
    loss.backward()
    viz.draw_bptt(loss, grads=True)      # or grads=rec

``watch`` is an explicit user action: it registers gradient hooks (``Tensor.register_hook``) on
the state tensors it finds (tensors named ``"h"`` / ``"c"`` recorded inside ``t=<k>`` scopes).
The hooks only read the gradient (they return ``None``, so nothing changes) and keep its norm
(the Frobenius norm over the batch, computed in float64). ``rec.remove()`` takes them off.
Tensors on which the user called ``retain_grad()`` are read from ``.grad`` without any hook.
"""

import math
import weakref

import numpy as np

from . import escape
from .graph import GraphView, step_key

STATE_NAMES = ("h", "c")
_RECORDERS = weakref.WeakSet()


class GradientRecorder:
    """Gradient norms of recurrent state tensors, captured by hooks during ``backward``.

    Attributes:
        hook_calls: how many times a hook has fired (0 until a backward pass reaches a
            watched tensor).
    """

    def __init__(self, names=STATE_NAMES):
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"GradientRecorder: names must be a sequence of str, got {names!r}")
        self.names = tuple(names)
        self._entries = {}   # id(tensor) -> _Entry
        self._handles = []
        self.hook_calls = 0
        _RECORDERS.add(self)

    def watch(self, outputs, model=None):
        """Register hooks on the state tensors in the graph behind ``outputs`` (a Tensor or a
        tuple / list of them, e.g. a layer's ``(output, (h_n, c_n))`` or the loss). Returns
        ``self``. Raises ``ValueError`` if the graph holds no such tensor."""
        if hasattr(outputs, "named_parameters"):
            raise TypeError("watch: pass the output (or loss) of a forward pass, not the "
                            "model: the hidden states to watch exist only once the model has "
                            "run, e.g. rec = viz.watch(loss, model)")
        view = GraphView(outputs, model, None, "watch")
        found = 0
        for i, t in enumerate(view.tensors):
            if t.grad_fn is None or t.name not in self.names or id(t) in self._entries:
                continue
            if step_key(view.scope(i)) is None:
                continue
            entry = _Entry(t)
            self._entries[id(t)] = entry
            self._handles.append(t.register_hook(self._hook(entry)))
            found += 1
        if not found and not self._entries:
            names = " / ".join(repr(n) for n in self.names)
            raise ValueError(
                f"watch: found no state tensors named {names} recorded inside a 't=<k>' scope "
                "in this graph; expected an unrolled recurrent layer (e.g. models.LSTM(..., "
                "fused=False)) that follows the scope convention of CONTRIBUTING.md")
        return self

    def _hook(self, entry):
        def hook(grad):
            entry.norm = grad_norm(grad.numpy())
            self.hook_calls += 1
            return None
        return hook

    def norm(self, tensor):
        """The last captured gradient norm of ``tensor`` (``None`` if none was captured)."""
        entry = self._entries.get(id(tensor))
        if entry is None or entry.ref() is not tensor:
            return None
        return entry.norm

    def watches(self, tensor):
        entry = self._entries.get(id(tensor))
        return entry is not None and entry.ref() is tensor

    @property
    def num_watched(self):
        return sum(1 for e in self._entries.values() if e.ref() is not None)

    @property
    def num_captured(self):
        return sum(1 for e in self._entries.values() if e.ref() is not None and
                   e.norm is not None)

    def remove(self):
        """Take every hook off (captured norms are kept)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __repr__(self):
        return (f"GradientRecorder(watched={self.num_watched}, captured={self.num_captured}, "
                f"hook_calls={self.hook_calls})")


class _Entry:
    __slots__ = ("ref", "norm")

    def __init__(self, tensor):
        self.ref = weakref.ref(tensor)
        self.norm = None


def watch(outputs, model=None, names=STATE_NAMES):
    """Start recording the gradient norms of the hidden / cell states behind ``outputs``.

    Call it after the forward pass and BEFORE ``backward()``; returns a
    :class:`GradientRecorder` that ``draw_bptt(..., grads=True)`` (or ``grads=recorder``) reads.
    """
    return GradientRecorder(names).watch(outputs, model)


def grad_norm(array):
    """The Frobenius norm of ``array`` in float64 (``inf`` / ``nan`` kept)."""
    a = np.asarray(array, dtype=np.float64).ravel()
    if not np.all(np.isfinite(a)):
        return float("nan") if np.isnan(a).any() else float("inf")
    return float(np.sqrt(np.dot(a, a)))


def lookup_norms(view, state_ids, grads, who="draw_bptt"):
    """``position -> norm`` for the positions ``state_ids`` of ``view``, read from ``grads``
    (a GradientRecorder, or ``True``: every live recorder, then ``.grad`` of tensors that
    retained it). Raises ``RuntimeError`` with a hint when nothing was captured."""
    if isinstance(grads, GradientRecorder):
        recorders = [grads]
    elif grads is True:
        recorders = list(_RECORDERS)
    else:
        raise TypeError(f"{who}: grads must be True, False or a GradientRecorder, got "
                        f"{type(grads).__name__}")
    norms = {}
    watched = 0
    for i in state_ids:
        t = view.tensors[i]
        for rec in recorders:
            if rec.watches(t):
                watched += 1
                value = rec.norm(t)
                if value is not None:
                    norms[i] = value
                    break
        else:
            if t.grad is not None:
                norms[i] = grad_norm(t.grad.numpy())
    if not state_ids:
        raise RuntimeError(f"{who}: grads requested, but the graph has no state tensors "
                           "named 'h' / 'c' inside 't=<k>' scopes")
    if not norms:
        if watched:
            raise RuntimeError(
                f"{who}: grads requested, but no gradient has reached the watched states yet: "
                "run loss.backward() after viz.watch(...) and before drawing")
        raise RuntimeError(
            f"{who}: grads requested, but no gradients were recorded for this graph. Call "
            "rec = viz.watch(loss) after the forward pass and BEFORE loss.backward(), then "
            "draw with grads=True (or grads=rec)")
    return norms


# ---- the colour / width scale ------------------------------------------------------------
_RAMP = ((0.0, (254, 224, 144)), (0.25, (253, 174, 97)), (0.5, (244, 109, 67)),
         (0.75, (215, 48, 39)), (1.0, (103, 0, 13)))
MIN_WIDTH, MAX_WIDTH = 0.6, 8.0
ZERO_COLOR, BAD_COLOR = "#bbbbbb", "#5e3c99"


class LogScale:
    """Maps gradient norms to edge colour and width on a log10 scale spanning the finite
    positive norms drawn (zero: dotted grey; inf / nan: purple, widest)."""

    def __init__(self, values):
        logs = [math.log10(v) for v in values if math.isfinite(v) and v > 0]
        self.lo = min(logs) if logs else 0.0
        self.hi = max(logs) if logs else 0.0
        if self.hi - self.lo < 1e-12:
            self.lo -= 0.5
            self.hi += 0.5

    def fraction(self, value):
        return min(1.0, max(0.0, (math.log10(value) - self.lo) / (self.hi - self.lo)))

    def color(self, value):
        if not math.isfinite(value):
            return BAD_COLOR
        if value <= 0:
            return ZERO_COLOR
        return ramp_color(self.fraction(value))

    def width(self, value):
        if not math.isfinite(value):
            return MAX_WIDTH
        if value <= 0:
            return MIN_WIDTH
        return MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * self.fraction(value)

    def edge_attrs(self, value):
        """``color``, ``penwidth`` (and ``style=dotted`` for zero) for an edge of norm
        ``value``."""
        attrs = {"color": self.color(value), "penwidth": f"{self.width(value):.2f}"}
        if math.isfinite(value) and value <= 0:
            attrs["style"] = "dotted"
        return attrs

    def ticks(self, n=5):
        return [10 ** (self.lo + (self.hi - self.lo) * k / (n - 1)) for k in range(n)]


def ramp_color(frac):
    """The colour at ``frac`` in [0, 1] of a pale-yellow -> dark-red ramp, as ``#rrggbb``."""
    for (f0, c0), (f1, c1) in zip(_RAMP, _RAMP[1:], strict=False):
        if frac <= f1:
            w = (frac - f0) / (f1 - f0)
            rgb = [round(a + (b - a) * w) for a, b in zip(c0, c1, strict=True)]
            return "#%02x%02x%02x" % tuple(rgb)
    return "#%02x%02x%02x" % _RAMP[-1][1]


def fmt(value):
    """A norm as short text: ``3.1e-04``, ``0``, ``inf``, ``nan``."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    if value == 0:
        return "0"
    return f"{value:.1e}"


def legend_rows(scale):
    """HTML table rows (markup) explaining the gradient scale."""
    cells = "".join(
        f'<TD BGCOLOR="{scale.color(v)}" FIXEDSIZE="TRUE" WIDTH="52" HEIGHT="16">'
        f'<FONT POINT-SIZE="8">{escape.html(fmt(v))}</FONT></TD>' for v in scale.ticks())
    return (
        '<TR><TD COLSPAN="5" ALIGN="LEFT"><B>gradient overlay</B> (real backward pass)</TD></TR>'
        '<TR><TD COLSPAN="5" ALIGN="LEFT"><FONT POINT-SIZE="9">edge colour and width: '
        "||∂L/∂h<SUB>t</SUB>||, ||∂L/∂c<SUB>t</SUB>|| of the state the edge carries, "
        "log scale</FONT></TD></TR>"
        f"<TR>{cells}</TR>"
        '<TR><TD COLSPAN="5" ALIGN="LEFT"><FONT POINT-SIZE="9">thin and pale: vanishing; '
        "thick and dark: exploding; dotted grey: exactly 0; "
        f'<FONT COLOR="{BAD_COLOR}">purple: inf / nan</FONT></FONT></TD></TR>')
