"""Find the per-step recurrent states in a recorded graph.

Unrolled recurrent layers follow one convention (CONTRIBUTING.md): every step runs inside
``mg.scope(<ClassName>) / mg.scope("layer{k}") / [mg.scope("forward"|"reverse")] /
mg.scope("t={t}")`` and names its new hidden state ``"h"`` (and an LSTM's cell state ``"c"``).
``find_states`` walks the graph behind some output tensors and returns those tensors grouped
by layer, ordered by time; nothing here knows any particular layer class.
"""

import re
from dataclasses import dataclass, field

import minigrad as mg

STATE_NAMES = ("h", "c")
_STEP = re.compile(r"^t=(\d+)$")


@dataclass
class LayerStates:
    """The state tensors of one recurrent layer (one direction), indexed by time step.

    ``key`` is the scope path above the step scopes, e.g. ``"LSTM/layer0"`` or
    ``"GRU/layer1/reverse"``. ``states["h"][t]`` is the ``(B, H)`` tensor ``h_t``.
    """

    key: str
    states: dict = field(default_factory=dict)

    @property
    def steps(self):
        return len(self.states.get("h", ()))

    @property
    def kinds(self):
        return tuple(k for k in STATE_NAMES if k in self.states)


def _layer_and_step(scope_path):
    parts = scope_path.split("/") if scope_path else []
    for i in range(len(parts) - 1, -1, -1):
        m = _STEP.match(parts[i])
        if m:
            return "/".join(parts[:i]), int(m.group(1))
    return None, None


def find_states(outputs):
    """The recurrent states recorded behind ``outputs`` (a Tensor or a sequence of them).

    Returns ``{layer_key: LayerStates}`` in the order the layers were first met, keeping only
    layers whose steps form a complete range ``t = 0 .. T-1``. A tensor counts as a state when
    its ``name`` is ``"h"`` or ``"c"`` and its scope path contains a ``t={t}`` component; when
    a layer was run twice into the same graph, the later run gets the key ``"<key>#2"``.
    """
    roots = [outputs] if isinstance(outputs, mg.Tensor) else list(outputs)
    found = {}
    for t in mg.topological_order(roots):
        if t.name not in STATE_NAMES:
            continue
        key, step = _layer_and_step(t.scope)
        if key is None:
            continue
        run = 1
        while (step, t.name) in found.get(_run_key(key, run), {}):
            run += 1
        found.setdefault(_run_key(key, run), {})[(step, t.name)] = t
    result = {}
    for key, by_step in found.items():
        layer = LayerStates(key)
        for kind in STATE_NAMES:
            steps = sorted(s for s, k in by_step if k == kind)
            if steps and steps == list(range(len(steps))):
                layer.states[kind] = [by_step[(s, kind)] for s in steps]
        if "h" in layer.states:
            steps = len(layer.states["h"])
            layer.states = {k: v for k, v in layer.states.items() if len(v) == steps}
            result[key] = layer
    return result


def _run_key(key, run):
    return key if run == 1 else f"{key}#{run}"
