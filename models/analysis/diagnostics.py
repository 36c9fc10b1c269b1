"""Training diagnostics: gradient norms per parameter and per time step, and clipping events.

``GradientMonitor`` is a callback for an ordinary training loop::

    rec = GradientMonitor(model, max_norm=1.0)   # max_norm=None: record, never clip
    for step in range(steps):
        with rec.exposed():                       # fused layers expose their states
            loss = loss_fn(model(x))
        rec.track(loss)                           # hooks on this step's states
        opt.zero_grad()
        loss.backward()
        rec.after_backward(loss)                  # norms, clipping, the step counter
        opt.step()

or ``rec.train_step(x, loss_fn, opt)`` doing the same in one call. The per-step gradients come
from hooks on the recorded states during the real backward pass (the states' gradients are the
total ``dL/dh_t``); parameter norms are read from ``.grad`` before clipping.
"""

import contextlib
import math
from dataclasses import dataclass

import numpy as np

import minigrad as mg

from .states import find_states
from .stepwise import exposed_states


@dataclass
class ClipEvent:
    """One clipping: at ``step`` the total norm ``norm`` exceeded ``max_norm`` and every
    gradient was scaled by ``max_norm / norm``."""

    step: int
    norm: float
    max_norm: float


class GradientMonitor:
    """Record gradient statistics across training steps.

    model: the module being trained; max_norm: clip the total gradient norm to this value
    (Pascanu et al. 2013) in ``after_backward`` (``None``: never clip); states_every: record the
    per-time-step norms every this many steps (0: never); params: which parameters to record
    (default all named parameters).

    History: ``steps``, ``losses``, ``total_norms`` (before clipping), ``param_norms``
    (``{name: [norm per step]}``), ``state_norms`` (``{(layer, kind): {step: (T,) array}}``),
    ``clip_events`` (``ClipEvent`` list), ``nonfinite_steps``.
    """

    def __init__(self, model, max_norm=None, states_every=1, params=None):
        if max_norm is not None and max_norm <= 0:
            raise ValueError(f"GradientMonitor: max_norm must be positive or None, got "
                             f"{max_norm}")
        self.model = model
        self.max_norm = max_norm
        self.states_every = int(states_every)
        named = list(model.named_parameters())
        if params is not None:
            wanted = set(params)
            unknown = wanted - {k for k, _ in named}
            if unknown:
                raise ValueError(f"GradientMonitor: unknown parameters {sorted(unknown)}")
            named = [(k, p) for k, p in named if k in wanted]
        self._params = named
        self.step = 0
        self.steps, self.losses, self.total_norms = [], [], []
        self.param_norms = {k: [] for k, _ in named}
        self.state_norms = {}
        self.clip_events = []
        self.nonfinite_steps = []
        self._handles = []

    # ---- phases of one training step ---------------------------------------------------
    def exposed(self):
        """Context manager for the forward pass: fused recurrent layers run step by step with
        named states (see ``stepwise.py``); unrolled layers are unchanged."""
        if self.states_every and self.step % self.states_every == 0:
            return exposed_states(self.model)
        return contextlib.nullcontext("unrolled")

    def track(self, loss):
        """Register hooks on the recurrent states behind ``loss`` (call before backward)."""
        self._remove_hooks()
        if not self.states_every or self.step % self.states_every:
            return
        for key, layer in find_states(loss).items():
            for kind in layer.kinds:
                row = np.full(layer.steps, np.nan)
                self.state_norms.setdefault((key, kind), {})[self.step] = row
                for t, s in enumerate(layer.states[kind]):
                    self._handles.append(s.register_hook(_norm_into(row, t)))

    def after_backward(self, loss=None):
        """Record parameter norms (before clipping), clip when ``max_norm`` is set, advance the
        step counter. Returns the total gradient norm before clipping."""
        self._remove_hooks()
        norms = {}
        for name, p in self._params:
            norms[name] = 0.0 if p.grad is None else float(
                np.sqrt(np.sum(p.grad.numpy().astype(np.float64) ** 2)))
        total = math.sqrt(sum(v * v for v in norms.values()))
        for name, v in norms.items():
            self.param_norms[name].append(v)
        self.steps.append(self.step)
        self.total_norms.append(total)
        self.losses.append(float("nan") if loss is None else float(loss.item()))
        if not math.isfinite(total):
            self.nonfinite_steps.append(self.step)
        if self.max_norm is not None:
            mg.nn.utils.clip_grad_norm_([p for _, p in self._params], self.max_norm)
            if total > self.max_norm or not math.isfinite(total):
                self.clip_events.append(ClipEvent(self.step, total, self.max_norm))
        self.step += 1
        return total

    def train_step(self, x, loss_fn, optimizer, **forward_kwargs):
        """One full step: forward (states exposed), hooks, backward, record/clip, update.
        ``loss_fn(output) -> scalar``. Returns the loss value."""
        with self.exposed():
            loss = loss_fn(self.model(x, **forward_kwargs))
        self.track(loss)
        optimizer.zero_grad()
        loss.backward()
        self.after_backward(loss)
        optimizer.step()
        return float(loss.item())

    # ---- results -----------------------------------------------------------------------
    def layers(self):
        """The ``(layer, kind)`` pairs with per-time-step records."""
        return list(self.state_norms)

    def heatmap(self, layer=None, kind="h"):
        """``(recorded_steps, matrix)``: the steps at which per-time-step norms were recorded
        and a ``(n_steps, T)`` array of ``||dL/dh_t||``; ``layer`` defaults to the first."""
        keys = [k for k in self.state_norms if k[1] == kind]
        if not keys:
            raise ValueError(f"GradientMonitor.heatmap: nothing recorded for kind {kind!r}")
        key = keys[0] if layer is None else (layer, kind)
        if key not in self.state_norms:
            raise ValueError(f"GradientMonitor.heatmap: no records for {key}; have {keys}")
        rows = self.state_norms[key]
        steps = sorted(rows)
        width = max(len(rows[s]) for s in steps)
        matrix = np.full((len(steps), width), np.nan)
        for i, s in enumerate(steps):
            matrix[i, :len(rows[s])] = rows[s]
        return np.array(steps), matrix

    def summary(self):
        """A small dict of headline numbers."""
        finite = [v for v in self.total_norms if math.isfinite(v)]
        return {
            "steps": self.step,
            "final_loss": self.losses[-1] if self.losses else float("nan"),
            "max_total_norm": max(finite) if finite else float("nan"),
            "median_total_norm": float(np.median(finite)) if finite else float("nan"),
            "clip_events": len(self.clip_events),
            "nonfinite_steps": len(self.nonfinite_steps),
        }

    def _remove_hooks(self):
        for h in self._handles:
            h.remove()
        self._handles = []


def _norm_into(row, t):
    def hook(grad):
        row[t] = float(np.sqrt(np.sum(grad.numpy().astype(np.float64) ** 2)))
    return hook
