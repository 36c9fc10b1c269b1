"""``jacobian_norms``: how strongly the last state depends on each earlier one.

For a recurrent layer with states ``h_0 .. h_{T-1}`` this measures the Jacobians
``dh_{T-1}/dh_t`` for every earlier ``t`` — the products of per-step Jacobians that BPTT
multiplies a gradient by (for a tanh RNN ``prod_{s=t+1}^{T-1} diag(1 - h_s^2) W_hh``) — by
reverse accumulation over the recorded graph: one backward pass per state unit gives that row of
every ``dh_{T-1}/dh_t`` at once (``H`` passes for all ``T`` Jacobians; batch rows are
independent, so one pass serves the whole batch). For an LSTM the state is ``(h, c)``: the
result holds the full ``2H x 2H`` state Jacobian and its ``h``/``c`` blocks.

Next to the measured norms sits the bound of Pascanu, Mikolov & Bengio (2013),
``||dh_T/dh_t|| <= (gamma sigma_max(W_hh))^(T-t)``, with ``gamma = max |phi'|`` taken from the
symbolic side for the layer's nonlinearity.
"""

from dataclasses import dataclass, field

import numpy as np

import minigrad as mg

from .flow import as_input
from .spectral import gate_blocks, sigma_max
from .states import find_states
from .stepwise import exposed_states
from .theory_bridge import activation_gamma, layer_module, layer_nonlinearity


@dataclass
class JacobianNorms:
    """Norms of ``d s_{T-1} / d s_{T-1-d}`` for distances ``d = 0 .. k``.

    ``distance``: (k+1,) ints; ``spectral``/``frobenius``: (B, k+1) per batch row;
    ``singular_values``: (B, k+1, n) largest first, ``n`` = H (or 2H for the LSTM state);
    ``blocks``: for an LSTM, ``{"h": (B, k+1), "c": (B, k+1)}`` spectral norms of the
    ``dh/dh`` and ``dc/dc`` blocks; ``bound``: (k+1,) ``(gamma sigma_max)^d`` or ``None`` when
    the theory has no bound for the layer (LSTM, GRU, skip connections);
    ``gamma``, ``sigma_max``: the bound's factors; ``layer``: the layer key; ``kind``: ``"h"``
    or ``"h,c"``.
    """

    layer: str
    kind: str
    distance: np.ndarray
    spectral: np.ndarray
    frobenius: np.ndarray
    singular_values: np.ndarray
    blocks: dict = field(default_factory=dict)
    bound: np.ndarray = None
    gamma: float = None
    sigma_max: float = None
    nonlinearity: str = None
    path: str = "unrolled"

    def curve(self, which="spectral", how="geometric"):
        """One value per distance: the batch's geometric mean (default), ``"mean"``,
        ``"max"`` or ``"median"`` of ``which`` (``"spectral"``, ``"frobenius"``, or a block
        name)."""
        values = self.blocks[which] if which in self.blocks else getattr(self, which)
        if how == "geometric":
            with np.errstate(divide="ignore"):
                return np.exp(np.mean(np.log(np.maximum(values, 1e-300)), axis=0))
        if how in ("mean", "max", "median"):
            return getattr(np, how)(values, axis=0)
        raise ValueError(f"JacobianNorms.curve: how must be geometric/mean/max/median, got {how!r}")

    def rows(self):
        """Table rows ``(distance, spectral (geo. mean), frobenius (geo. mean), bound)``."""
        spec, fro = self.curve("spectral"), self.curve("frobenius")
        bound = self.bound if self.bound is not None else [None] * len(spec)
        return [(int(d), float(s), float(f), None if b is None else float(b))
                for d, s, f, b in zip(self.distance, spec, fro, bound, strict=True)]


def state_jacobians(layer_states, k=None):
    """The Jacobians ``d s_{T-1} / d s_{T-1-d}``, ``d = 0 .. k``, of one layer, by reverse
    accumulation over its recorded graph.

    layer_states: a ``LayerStates`` (``find_states``); the state ``s`` is ``h`` or, when the
    layer has cell states, ``(h, c)`` concatenated, the two taken as independent variables (the
    product of the per-step ``2H x 2H`` Jacobians ``d(h_t, c_t)/d(h_{t-1}, c_{t-1})``).
    Returns ``(B, k+1, n, n)`` float64 with ``d = 0`` the identity.
    """
    kinds = layer_states.kinds
    steps = layer_states.steps
    k = steps - 1 if k is None else int(k)
    if not 0 <= k < steps:
        raise ValueError(f"jacobian_norms: k must lie in [0, {steps - 1}] for {steps} steps, "
                         f"got {k}")
    last = [layer_states.states[s][steps - 1] for s in kinds]
    batch, hidden = last[0].shape
    n = hidden * len(kinds)
    jac = np.zeros((batch, k + 1, n, n))
    jac[:, 0] = np.eye(n)
    if k == 0:
        return jac
    earlier = [(d, j, layer_states.states[s][steps - 1 - d])
               for d in range(1, k + 1) for j, s in enumerate(kinds)]
    inputs = [t for _, _, t in earlier]
    for j_out in range(len(last)):
        for i in range(hidden):
            seeds = []
            for j, o in enumerate(last):
                seed = np.zeros(o.shape, dtype=o.dtype)
                if j == j_out:
                    seed[:, i] = 1
                seeds.append(mg.tensor(seed))
            grads = mg.grad(last, inputs, grad_outputs=seeds, retain_graph=True,
                            allow_unused=True)
            row = j_out * hidden + i
            for (d, j_in, _), g in zip(earlier, grads, strict=True):
                if g is not None:
                    jac[:, d, row, j_in * hidden:(j_in + 1) * hidden] = g.numpy()
    if "c" in kinds:
        _remove_output_path(layer_states, jac, hidden)
    return jac


def _remove_output_path(layer_states, jac, hidden):
    """Turn the graph's derivative w.r.t. the node ``c_t`` — which also moves ``h_t``, made
    from ``c_t`` — into the state-space one, ``(h_t, c_t)`` independent:
    ``J[:, c_t] -= J[:, h_t] diag(dh_t/dc_t)``, with the local ``dh_t/dc_t`` (diagonal) read
    off the graph."""
    steps = layer_states.steps
    hs, cs = layer_states.states["h"], layer_states.states["c"]
    for d in range(1, jac.shape[1]):
        t = steps - 1 - d
        (local,) = mg.grad(hs[t], cs[t], grad_outputs=mg.ones_like(hs[t]), retain_graph=True,
                           allow_unused=True)
        if local is not None:
            jac[:, d, :, hidden:] -= jac[:, d, :, :hidden] * local.numpy()[:, None, :]


def _select_layer(layers, layer):
    keys = list(layers)
    if layer is None:
        return keys[0]
    if isinstance(layer, int):
        matches = [key for key in keys if key.split("/")[-1] == f"layer{layer}"
                   or f"/layer{layer}/" in f"/{key}/"]
        if not matches:
            raise ValueError(f"jacobian_norms: no layer {layer}; found {keys}")
        return matches[0]
    if layer not in layers:
        raise ValueError(f"jacobian_norms: no layer {layer!r}; found {keys}")
    return layer


def _layer_weight(model, key):
    """The ``weight_hh`` of the layer ``key`` (``.../layer{k}[/reverse]``), or None."""
    module = layer_module(model, key)
    parts = key.split("#")[0].split("/")
    index = next((p[5:] for p in reversed(parts) if p.startswith("layer")), None)
    if module is None or index is None:
        return None
    suffix = "_reverse" if parts[-1] == "reverse" else ""
    return getattr(module, f"weight_hh_l{index}{suffix}", None)


def _flatten(obj):
    if isinstance(obj, mg.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for item in obj for t in _flatten(item)]
    return []


def jacobian_norms(model, x, k=None, layer=None, **forward_kwargs):
    """Spectral and Frobenius norms, and singular values, of ``dh_{T-1}/dh_{T-1-d}`` for
    ``d = 0 .. k`` (default: all ``T - 1`` distances), with the theoretical bound.

    model: a recurrent module (fused or unrolled) or a model containing one;
    x: its input, e.g. (T, B, I); layer: which recurrent layer (an index or a key such as
    ``"RNN/layer0"``; default the first found). Returns a ``JacobianNorms``.
    """
    x = as_input(x, model)
    with exposed_states(model) as path:
        output = model(x, **forward_kwargs)
    roots = [o for o in _flatten(output) if o.requires_grad]
    layers = find_states(roots)
    if not layers:
        raise ValueError(f"jacobian_norms: no recurrent states found in {type(model).__name__}"
                         " (tensors named 'h'/'c' inside a 't={t}' scope)")
    key = _select_layer(layers, layer)
    states = layers[key]
    jac = state_jacobians(states, k)
    sv = np.linalg.svd(jac, compute_uv=False)
    hidden = states.states["h"][0].shape[1]
    blocks = {}
    if len(states.kinds) > 1:
        blocks["h"] = np.linalg.norm(jac[:, :, :hidden, :hidden], 2, axis=(2, 3))
        blocks["c"] = np.linalg.norm(jac[:, :, hidden:, hidden:], 2, axis=(2, 3))
    result = JacobianNorms(
        layer=key, kind=",".join(states.kinds), distance=np.arange(jac.shape[1]),
        spectral=sv[..., 0], frobenius=np.sqrt(np.sum(sv ** 2, axis=-1)), singular_values=sv,
        blocks=blocks, path=path)
    weight = _layer_weight(model, key)
    nonlin = layer_nonlinearity(model, key)
    result.nonlinearity = nonlin
    if weight is not None and len(gate_blocks(weight)) == 1 and nonlin is not None:
        slope = getattr(layer_module(model, key), "negative_slope", 0.01)
        gamma = activation_gamma(nonlin, slope)
        result.gamma = gamma
        result.sigma_max = sigma_max(weight)
        result.bound = (gamma * result.sigma_max) ** result.distance.astype(np.float64)
    return result
