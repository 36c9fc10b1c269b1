"""``gradient_flow``: how large ``dL/dh_t`` is at every time step of every recurrent layer.

The numbers come from the engine's own backward pass: the states are the tensors the forward
pass recorded (unrolled layers name them, see ``states.py``) and their gradients are what
reverse accumulation hands them — the *total* derivative of the loss, through every later step,
not just the loss's direct dependence on that step's output. Fused layers (one primitive per
layer) keep their steps inside a kernel; for them the model is driven through the same fused
kernel one step at a time (``stepwise.py``), which computes the same function with the per-step
states exposed.
"""

from dataclasses import dataclass, field

import numpy as np

import minigrad as mg

from .states import find_states
from .stepwise import exposed_states


def default_loss(output):
    """The sum of the last time step's output (``output[0][-1].sum()`` for a PyTorch-style
    ``(output, h_n)`` pair): a seed of ones on ``y_T``."""
    seq = output[0] if isinstance(output, (tuple, list)) else output
    return seq[-1].sum()


@dataclass
class GradientFlow:
    """Per-layer, per-step gradient norms from one backward pass.

    ``h[key]``: ``(T,)`` array of ``||dL/dh_t||`` (Frobenius norm over the ``(B, H)`` slice);
    ``c[key]`` the same for an LSTM's cell state. ``grads_h[key]`` keeps the ``(T, B, H)``
    gradients themselves when ``keep_grads=True``. ``loss`` is the loss value, ``path`` says
    how the states were exposed (``"unrolled"`` or ``"stepwise"``).
    """

    loss: float
    h: dict = field(default_factory=dict)
    c: dict = field(default_factory=dict)
    grads_h: dict = field(default_factory=dict)
    grads_c: dict = field(default_factory=dict)
    path: str = "unrolled"

    @property
    def layers(self):
        return list(self.h)

    def rows(self):
        """Table rows ``(layer, kind, t, norm)``."""
        out = []
        for kind, table in (("h", self.h), ("c", self.c)):
            for key, norms in table.items():
                out.extend((key, kind, t, float(v)) for t, v in enumerate(norms))
        return out


def as_input(x, model):
    """``x`` as a Tensor; floating inputs take the dtype of ``model``'s parameters (integer
    inputs such as token ids are left alone)."""
    params = list(model.parameters())
    dtype = params[0].dtype if params else None
    if not isinstance(x, mg.Tensor):
        x = mg.tensor(np.asarray(x))
    if dtype is not None and x.dtype.kind == "f" and x.dtype != dtype:
        x = x.to(dtype)
    return x


def run_with_states(model, x, loss_fn=None, **forward_kwargs):
    """Run ``model(x)`` with its per-step states exposed; return ``(loss, layers, path)``
    where ``layers`` is ``find_states``' dict for the graph behind the loss."""
    loss_fn = loss_fn or default_loss
    x = as_input(x, model)
    with exposed_states(model) as path:
        output = model(x, **forward_kwargs)
    loss = loss_fn(output)
    if not isinstance(loss, mg.Tensor) or loss.numpy().size != 1:
        raise ValueError("gradient_flow: loss_fn must return a one-element Tensor, got "
                         f"{getattr(loss, 'shape', type(loss).__name__)}")
    if not loss.requires_grad:
        raise ValueError("gradient_flow: the loss does not depend on any parameter or state "
                         "that requires grad")
    layers = find_states(loss)
    if not layers:
        raise ValueError(f"gradient_flow: no recurrent states were found in the graph of "
                         f"{type(model).__name__}; states are tensors named 'h'/'c' recorded "
                         "inside a 't={t}' scope (see CONTRIBUTING.md)")
    return loss, layers, path


def gradient_flow(model, x, loss_fn=None, keep_grads=False, **forward_kwargs):
    """``||dL/dh_t||`` (and ``||dL/dc_t||`` for an LSTM) per time step and layer.

    model: a recurrent module (or a model containing some) called as ``model(x)``;
    x: (T, B, I) input (a Tensor or array; batch_first models take what they take);
    loss_fn: ``output -> scalar Tensor`` (default: ``default_loss``).
    Returns a ``GradientFlow``. No ``.grad`` is changed: the gradients are taken with
    ``mg.grad`` over the recorded graph (the same reverse pass ``backward`` runs).
    """
    loss, layers, path = run_with_states(model, x, loss_fn, **forward_kwargs)
    tensors, slots = [], []
    for key, layer in layers.items():
        for kind in layer.kinds:
            for t, s in enumerate(layer.states[kind]):
                tensors.append(s)
                slots.append((key, kind, t))
    grads = mg.grad(loss, tensors, allow_unused=True)
    result = GradientFlow(loss=float(loss.item()), path=path)
    for key, layer in layers.items():
        for kind in layer.kinds:
            shape = (layer.steps,) + layer.states[kind][0].shape
            stacked = np.zeros(shape, dtype=np.float64)
            for (k, kd, t), g in zip(slots, grads, strict=True):
                if k == key and kd == kind and g is not None:
                    stacked[t] = g.numpy()
            norms = np.sqrt(np.sum(stacked.reshape(layer.steps, -1) ** 2, axis=1))
            getattr(result, kind)[key] = norms
            if keep_grads:
                getattr(result, f"grads_{kind}")[key] = stacked
    return result
