r"""The gradient theory of recurrent networks, derived with sympy from the models' own graphs.

Every derivation here runs a real cell or layer of ``models.rnn`` (``RNNCell``, ``LSTMCell``,
``GRUCell``; ``RNN/LSTM/GRU(fused=False)`` for T steps) on tiny sizes, traces the recorded graph
with ``minigrad.symbolic.to_sympy`` (weights, inputs and the previous state as symbols), and
differentiates the traced expressions. The result is then rewritten in the names the lectures
use, by replacing the traced subexpressions of the graph's own activation nodes with symbols:
``tanh(a)`` -> ``h_t`` (or ``g_t``, ``n_t``), ``1/(1+exp(-a))`` -> ``f_t`` (with
``exp(-a) -> (1 - f_t)/f_t``), the state tensors named ``"h"``/``"c"`` -> ``h_t``/``c_t``. Which
gate an activation is follows from the weight rows in its argument (PyTorch's gate order).
Finally the rewritten Jacobian is compared, exactly, with the lectures' formula:

- Elman RNN: :math:`\partial h_t/\partial h_{t-1} = \mathrm{diag}(1 - h_t^2) W_{hh}` (tanh),
  :math:`\mathrm{diag}(\mathbb{1}[a_t > 0]) W_{hh}` (ReLU);
- LSTM: the (h, c) Jacobian, whose (c, c) block is the direct cell path
  :math:`\mathrm{diag}(f_t)`;
- GRU: :math:`\mathrm{diag}(z) + \mathrm{diag}((h-n) z (1-z)) W_{hz} + \mathrm{diag}((1-z)(1-n^2))
  [\mathrm{diag}(r) W_{hn} + \mathrm{diag}((W_{hn} h + b_{hn}) r (1-r)) W_{hr}]`, whose
  update-gate path is :math:`\mathrm{diag}(z_t)`.

The numeric side (``verify_*``) ``lambdify``-s the derived formulas and compares them with the
engine (``mg.grad`` in float64) on the same numbers.
"""

import contextlib
import dataclasses
import functools
import re

import numpy as np
import sympy

import minigrad as mg
from minigrad import symbolic
from minigrad.symbolic import bounds, cost, rules_check, swell, trace

from .cell.registry import NAMES, kind
from .rnn import RNN, RNNCell

MODES = NAMES  # the built-in kinds (models.cell.registry)
GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}  # the lectures'
_CELLS = {name: kind(name).cell for name in MODES}
_LAYERS = {name: kind(name).layer for name in MODES}
if set(GATES) != set(MODES):
    raise ImportError(f"models.theory: the lectures' gate names cover {sorted(GATES)}, the "
                      f"built-in kinds are {MODES}")
_ACTIVATIONS = ("tanh", "sigmoid", "relu")


def activation_gamma(nonlinearity, **params):
    """:math:`\\gamma = \\sup |\\phi'|` (exact: tanh 1, sigmoid 1/4, ReLU 1), derived by sympy
    from the activation op's symbolic rule."""
    return bounds.activation_gamma(nonlinearity, **params)


# ---- symbols -----------------------------------------------------------------------------------
def _name(base, label, unit, hidden):
    """``h_t`` / ``h_{t-1}`` / ``h_3`` for one unit; ``h_t_0`` ... when H > 1."""
    label = str(label)
    sub = label if len(label) == 1 or label.isdigit() else "{" + label + "}"
    return f"{base}_{sub}" if hidden == 1 else f"{base}_{sub}_{unit}"


def state_symbols(base, label, hidden):
    """A column Matrix of real symbols ``base_label`` for one state (H entries)."""
    return sympy.Matrix([sympy.Symbol(_name(base, label, u, hidden), real=True)
                         for u in range(hidden)])


def weight_symbols(mode, hidden, inputs):
    """Symbols for one layer-direction's parameters, named per gate block as in PyTorch's docs.

    Returns ``(arrays, rows)``: ``arrays`` maps weight_ih (G H, I), weight_hh (G H, H), bias_ih,
    bias_hh (G H,) to object arrays (names ``W_hh_01``, ``W_hf_10``, ``b_in_0``; scalars
    ``w_hh`` when H = I = 1); ``rows`` maps each symbol to its row.
    """
    gates = GATES[mode]
    arrays, rows = {}, {}
    for stem, side, cols in (("weight_ih", "i", inputs), ("weight_hh", "h", hidden),
                             ("bias_ih", "i", None), ("bias_hh", "h", None)):
        shape = (len(gates) * hidden,) if cols is None else (len(gates) * hidden, cols)
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            k, r = divmod(idx[0], hidden)
            head = "b" if cols is None else ("w" if hidden == 1 and cols == 1 else "W")
            name = f"{head}_{side}{gates[k]}"
            if hidden > 1 or (cols is not None and cols > 1):
                index = (r,) + idx[1:]
                name += "_" + ("" if max(index) < 10 else "_").join(map(str, index))
            arr[idx] = sympy.Symbol(name, real=True)
            rows[arr[idx]] = idx[0]
        arrays[stem] = arr
    return arrays, rows


def weight_matrices(mode, hidden, inputs=1):
    """The gate blocks as sympy Matrices: ``{"W_hf": (H, H) Matrix, "W_if": ..., "b_hn": column,
    ...}`` (for the Elman RNN ``W_hh``, ``W_ih``, ``b_ih``, ``b_hh``)."""
    arrays, _ = weight_symbols(mode, hidden, inputs)
    out = {}
    for k, gate in enumerate(GATES[mode]):
        block = slice(k * hidden, (k + 1) * hidden)
        out[f"W_h{gate}"] = sympy.Matrix(arrays["weight_hh"][block].tolist())
        out[f"W_i{gate}"] = sympy.Matrix(arrays["weight_ih"][block].tolist())
        out[f"b_i{gate}"] = sympy.Matrix(list(arrays["bias_ih"][block]))
        out[f"b_h{gate}"] = sympy.Matrix(list(arrays["bias_hh"][block]))
    return out


# ---- naming the graph's own nodes ------------------------------------------------------------
_STEP = re.compile(r"^t=(\d+)$")


def _step_label(tensor, default):
    """The time step of a node: scope ``t=k`` (0-based) is step k + 1; else ``default``."""
    for part in tensor.scope.split("/"):
        m = _STEP.match(part)
        if m:
            return int(m.group(1)) + 1
    return default


def name_nodes(result, mode, hidden, rows, default_label="t"):
    """Replacement rules that rewrite traced expressions in the lectures' names.

    Walks the trace's recorded activations (tanh, sigmoid, relu) and named states ("h", "c")
    parents first. A state gets ``h_k``/``c_k``; an activation whose argument holds the weight
    rows of one gate block and one unit gets that gate's name (``f_k``, ``n_k``, ...). Returns
    ``(keys, gates, defs)``: ``keys`` maps traced subexpressions to symbols (for ``xreplace``;
    a sigmoid's ``exp(-a)`` maps to ``(1 - s)/s``), ``gates`` maps each new symbol to its
    traced expression, and ``defs`` maps the states that are not an activation's output (LSTM
    h and c, GRU h) to their definition in the earlier symbols (``c_t -> c_{t-1} f_t + g_t
    i_t``, resolved down to the first state; for ReLU also h_t and a_t), for comparisons in
    which sympy has dissolved a state into its parts (flattened sums, folded Piecewise).
    """
    keys, gates, defs = {}, {}, {}
    for tensor, value in result.nodes():
        op = tensor.op
        state = tensor.name if tensor.name in ("h", "c") else None
        if op not in _ACTIVATIONS and state is None:
            continue
        label = _step_label(tensor, default_label)
        arg = result.value(tensor.parents[0]) if op in _ACTIVATIONS else None
        flat = value.reshape(-1)
        for j, expr in enumerate(flat):
            unit = j % hidden
            if state is not None:
                base = state
            else:
                base = _gate_of(arg.reshape(-1)[j].xreplace(keys), rows, hidden, mode)
                if base is None:
                    continue
            symbol = sympy.Symbol(_name(base, label, unit, hidden), real=True)
            if op == "sigmoid":
                a = arg.reshape(-1)[j]
                keys[sympy.exp(-a)] = (1 - symbol) / symbol
            elif op == "relu":
                a = arg.reshape(-1)[j]
                pre = sympy.Symbol(_name("a", label, unit, hidden), real=True)
                defs[pre] = a.xreplace(keys).xreplace(defs)
                defs[symbol] = sympy.Piecewise((defs[pre], defs[pre] > 0), (0, True))
                keys[a] = pre
                gates[pre] = a
            if state is not None and op not in _ACTIVATIONS:
                defs[symbol] = expr.xreplace(keys).xreplace(defs)
            keys[expr] = symbol
            gates[symbol] = expr
    return keys, gates, defs


def _gate_of(expr, rows, hidden, mode):
    """The gate name when ``expr`` holds weight rows of exactly one gate block and unit."""
    found = {rows[s] for s in expr.free_symbols if s in rows}
    blocks = {r // hidden for r in found}
    units = {r % hidden for r in found}
    if len(blocks) != 1 or len(units) != 1:
        return None
    return GATES[mode][blocks.pop()]


def rewrite(matrix, keys, cancel=True):
    """``matrix`` with the traced subexpressions replaced (``xreplace``) and, with ``cancel``,
    each entry put over a common denominator and cancelled: a polynomial in the gate symbols."""
    out = matrix.xreplace(keys)
    return out.applyfunc(sympy.cancel) if cancel else out


def is_zero_matrix(matrix, exact=True, trials=3, seed=0):
    """Whether every entry is identically 0.

    exact: expand each entry (Piecewise entries folded first). Otherwise an identity test at
    random exact rational points: every function atom (``tanh(c_t)``) and every symbol gets a
    random rational and the entries must evaluate to exactly 0 (a nonzero rational function
    vanishes at random points with negligible probability); for products too large to expand.
    The first point is positive (every ReLU open), the others have mixed signs.
    """
    if not exact:
        return _zero_at_random_points(matrix, trials, seed)
    for e in matrix:
        e = sympy.piecewise_fold(e) if e.has(sympy.Piecewise) else e
        if isinstance(e, sympy.Piecewise):
            if any(sympy.expand(piece) != 0 for piece, _ in e.args):
                return False
        elif sympy.expand(e) != 0:
            return False
    return True


def _zero_at_random_points(matrix, trials, seed):
    rng = np.random.default_rng(seed)
    atoms = set()
    for e in matrix:
        atoms |= {f for f in e.atoms(sympy.Function) if not isinstance(f, sympy.Piecewise)}
        atoms |= e.free_symbols
    for trial in range(trials):
        low = 1 if trial == 0 else -97
        point = {a: sympy.Rational(int(rng.integers(low, 98)), int(rng.integers(1, 89)))
                 for a in sorted(atoms, key=sympy.default_sort_key)}
        if any(sympy.nsimplify(e.xreplace(point)) != 0 for e in matrix):
            return False
    return True


# ---- the lectures' formulas ------------------------------------------------------------------
def _diag(column):
    return sympy.diag(*list(column))


def _hadamard(*columns):
    out = columns[0]
    for c in columns[1:]:
        out = out.multiply_elementwise(c)
    return out


def textbook_jacobian(mode, hidden, label="t", prev="t-1", nonlinearity="tanh"):
    """The lectures' one-step Jacobian, typed from the formulas (in gate/state symbols).

    RNN: d h_t / d h_{t-1}; LSTM: d (h_t, c_t) / d (h_{t-1}, c_{t-1}) as a 2H x 2H block
    matrix; GRU: d h_t / d h_{t-1}.
    """
    w = weight_matrices(mode, hidden)
    one = sympy.ones(hidden, 1)

    def s(base, lab=label):
        return state_symbols(base, lab, hidden)
    if mode == "rnn":
        if nonlinearity == "relu":
            slope = s("a").applyfunc(lambda a: sympy.Piecewise((1, a > 0), (0, True)))
        else:
            slope = one - _hadamard(s("h"), s("h"))
        return _diag(slope) * w["W_hh"]
    if mode == "lstm":
        i, f, g, o, c = s("i"), s("f"), s("g"), s("o"), s("c")
        c_prev = s("c", prev)
        tanh_c = c.applyfunc(sympy.tanh)
        dc_dh = (_diag(_hadamard(c_prev, f, one - f)) * w["W_hf"] +
                 _diag(_hadamard(g, i, one - i)) * w["W_hi"] +
                 _diag(_hadamard(i, one - _hadamard(g, g))) * w["W_hg"])
        dc_dc = _diag(f)
        dh_dc_new = _diag(_hadamard(o, one - _hadamard(tanh_c, tanh_c)))
        dh_dh = _diag(_hadamard(tanh_c, o, one - o)) * w["W_ho"] + dh_dc_new * dc_dh
        dh_dc = dh_dc_new * dc_dc
        return sympy.BlockMatrix([[dh_dh, dh_dc], [dc_dh, dc_dc]]).as_explicit()
    r, z, n, h = s("r"), s("z"), s("n"), s("h", prev)
    pre_n = w["W_hn"] * h + w["b_hn"]
    return (_diag(z) + _diag(_hadamard(h - n, z, one - z)) * w["W_hz"] +
            _diag(_hadamard(one - z, one - _hadamard(n, n))) *
            (_diag(r) * w["W_hn"] + _diag(_hadamard(pre_n, r, one - r)) * w["W_hr"]))


def direct_path(mode, hidden, label="t"):
    """The path that carries the gradient unchanged when its gate is open: the LSTM cell path
    d c_t / d c_{t-1} = diag(f_t), the GRU update-gate path diag(z_t) (None for the RNN)."""
    if mode == "rnn":
        return None
    return _diag(state_symbols("f" if mode == "lstm" else "z", label, hidden))


# ---- one step, traced from the cell ---------------------------------------------------------
@contextlib.contextmanager
def _own_rng():
    """Build modules without consuming the user's random stream."""
    gen = mg.random.default_generator()
    state = gen.bit_generator.state
    try:
        yield
    finally:
        gen.bit_generator.state = state


@dataclasses.dataclass
class StepDerivation:
    """One step of a model's cell, traced and differentiated.

    Attributes:
        mode, nonlinearity, hidden_size, input_size: what was traced.
        x, prev, new: column Matrices of the input x_t, the previous state (h_{t-1}; LSTM
            (h_{t-1}, c_{t-1}) stacked) and the new state's symbols (h_t[, c_t]).
        weights: ``{"weight_hh": object array, ...}`` of weight symbols.
        traced: the Jacobian d new / d prev of the traced expressions (in x, prev, weights).
        gates: gate/state symbol -> its traced expression.
        closed_form: ``traced`` rewritten in the gate/state symbols (``rewrite``).
        textbook: the lectures' formula (``textbook_jacobian``).
        path: the direct path (``direct_path``) or None.
        new_values: the traced expressions of the new state (a column Matrix).
        local_weight: the immediate partial d new / d vec(weight_hh) (h_{t-1} held fixed),
            rewritten: the last factor of each BPTT term.
    """

    mode: str
    nonlinearity: str
    hidden_size: int
    input_size: int
    x: sympy.Matrix
    prev: sympy.Matrix
    new: sympy.Matrix
    weights: dict
    traced: sympy.Matrix
    gates: dict
    closed_form: sympy.Matrix
    textbook: sympy.Matrix
    path: object
    new_values: sympy.Matrix
    local_weight: sympy.Matrix

    @property
    def matches_textbook(self):
        """Whether the derived closed form equals the lectures' formula (by expansion for
        H <= 2, by exact evaluation at random rational points above)."""
        return is_zero_matrix(self.closed_form - self.textbook, exact=self.hidden_size <= 2)

    @property
    def path_matches(self):
        """LSTM: whether the (c, c) block of the derived Jacobian is diag(f_t)."""
        if self.mode != "lstm":
            return None
        h = self.hidden_size
        return is_zero_matrix(self.closed_form[h:, h:] - self.path,
                              exact=self.hidden_size <= 2)

    def scalar_form(self):
        """H = 1: the closed form's entries with common factors pulled out (``factor_terms``),
        e.g. ``w_hh*(1 - h_t**2)``."""
        return self.closed_form.applyfunc(sympy.factor_terms)

    def latex(self):
        """``\\frac{\\partial h_t}{\\partial h_{t-1}} = ...`` for the closed form."""
        lhs = {"rnn": r"\frac{\partial h_t}{\partial h_{t-1}}",
               "gru": r"\frac{\partial h_t}{\partial h_{t-1}}",
               "lstm": r"\frac{\partial (h_t, c_t)}{\partial (h_{t-1}, c_{t-1})}"}[self.mode]
        body = self.scalar_form() if self.hidden_size == 1 else self.closed_form
        return lhs + " = " + sympy.latex(body)


def _leaf(shape):
    """A float64 leaf that requires grad, so that every op on it (slicing included) is recorded
    and ``to_sympy`` can replace it by symbols. The values only choose the ReLU branches."""
    return mg.tensor(np.full(shape, 0.5), dtype=mg.float64, requires_grad=True)


def _state_tensors(mode, hidden, inputs):
    x, h = _leaf((1, inputs)), _leaf((1, hidden))
    return x, h, (_leaf((1, hidden)) if mode == "lstm" else None)


@functools.lru_cache(maxsize=None)
def derive_step(mode, hidden_size=1, input_size=1, nonlinearity="tanh"):
    """Trace one step of ``models.RNNCell`` / ``LSTMCell`` / ``GRUCell`` with every weight,
    the input and the previous state symbolic, differentiate, rewrite and compare with the
    lectures. Returns a ``StepDerivation`` (cached)."""
    if mode not in MODES:
        raise ValueError(f"derive_step: mode expected one of {MODES}, got {mode!r}")
    with _own_rng():
        if mode == "rnn":
            cell = RNNCell(input_size, hidden_size, nonlinearity=nonlinearity, dtype=mg.float64)
        else:
            cell = _CELLS[mode](input_size, hidden_size, dtype=mg.float64)
    x, h, c = _state_tensors(mode, hidden_size, input_size)
    out = cell(x, (h, c)) if mode == "lstm" else (cell(x, h),)
    arrays, rows = weight_symbols(mode, hidden_size, input_size)
    x_sym = state_symbols("x", "t", input_size)
    h_prev = state_symbols("h", "t-1", hidden_size)
    inputs = {x: x_sym.T, h: h_prev.T, cell.weight_ih: arrays["weight_ih"],
              cell.weight_hh: arrays["weight_hh"], cell.bias_ih: arrays["bias_ih"],
              cell.bias_hh: arrays["bias_hh"]}
    prev, new = h_prev, state_symbols("h", "t", hidden_size)
    if mode == "lstm":
        c_prev = state_symbols("c", "t-1", hidden_size)
        inputs[c] = c_prev.T
        prev = prev.col_join(c_prev)
        new = new.col_join(state_symbols("c", "t", hidden_size))
    result = trace(list(out), inputs)
    new_values = sympy.Matrix([e for v in result.outputs for e in v.reshape(-1)])
    traced = new_values.jacobian(list(prev))
    keys, gates, _ = name_nodes(result, mode, hidden_size, rows)
    small = hidden_size <= 2
    closed = rewrite(traced, keys, cancel=small)
    local = rewrite(new_values.jacobian(list(arrays["weight_hh"].reshape(-1))), keys, small)
    frozen = sympy.ImmutableMatrix  # derive_step is cached: its results must not change
    path = direct_path(mode, hidden_size)
    return StepDerivation(mode, nonlinearity, hidden_size, input_size, frozen(x_sym),
                          frozen(prev), frozen(new), arrays, frozen(traced), gates,
                          frozen(closed), frozen(textbook_jacobian(mode, hidden_size,
                                                                   nonlinearity=nonlinearity)),
                          None if path is None else frozen(path), frozen(new_values),
                          frozen(local))


# ---- T steps, traced from the unrolled layer --------------------------------------------------
@dataclasses.dataclass
class ProductDerivation:
    """d state_T / d state_0 over T steps of a layer's unrolled graph.

    Attributes:
        traced: the Jacobian of the traced T-step expressions (in x_k, h_0, weights).
        closed_form: ``traced`` rewritten in the per-step gate/state symbols.
        product: the product J_T ... J_1 of the lectures' one-step Jacobians with step indices.
        general: for H = 1, the product as a ``sympy.Product`` over t = k+1..T.
        state_defs: LSTM/GRU states in terms of gates and the first state (``name_nodes``).
    """

    mode: str
    nonlinearity: str
    steps: int
    hidden_size: int
    traced: sympy.Matrix
    closed_form: sympy.Matrix
    product: sympy.Matrix
    general: object
    state_defs: dict

    @property
    def matches_product(self):
        """Whether the traced Jacobian equals the product of one-step Jacobians: by expansion
        for a small tanh RNN, else by exact evaluation at random rational points (expanded
        products grow like 2^T), states expressed through their definitions."""
        diff = (self.closed_form - self.product).xreplace(self.state_defs)
        small = self.steps * self.hidden_size <= 6
        return is_zero_matrix(diff, exact=small and self.mode == "rnn" and
                              self.nonlinearity == "tanh")


def step_jacobian(mode, hidden, label, nonlinearity="tanh"):
    """The lectures' one-step Jacobian at step ``label`` (symbols h_label, h_{label-1}, ...)."""
    prev = label - 1 if isinstance(label, int) else f"{label}-1"
    return textbook_jacobian(mode, hidden, label=label, prev=prev, nonlinearity=nonlinearity)


def _layer(mode, inputs, hidden, nonlinearity="tanh"):
    with _own_rng():
        if mode == "rnn":
            return RNN(inputs, hidden, nonlinearity=nonlinearity, fused=False, dtype=mg.float64)
        return _LAYERS[mode](inputs, hidden, fused=False, dtype=mg.float64)


def _run_layer(layer, x, h0, c0=None):
    """Run an unrolled layer; returns the per-step (h, c) tensors lists."""
    hx = (h0, c0) if c0 is not None else h0
    *_, states = layer(x, hx, return_all_states=True)
    hs = list(states.h_steps[0])
    cs = list(states.c_steps[0]) if states.c_steps is not None else None
    return hs, cs


def derive_product(mode, steps=3, hidden_size=1, nonlinearity="tanh", max_size=None):
    """Trace ``steps`` steps of ``models.RNN/LSTM/GRU(fused=False)`` from a symbolic h_0 (and
    c_0), take the Jacobian of the last state w.r.t. the first, rewrite it per step (the step of
    each node is read off its ``t=k`` scope) and compare with the product of one-step
    Jacobians. Returns a ``ProductDerivation``."""
    hidden = hidden_size
    layer = _layer(mode, 1, hidden, nonlinearity)
    x = _leaf((steps, 1, 1))
    h0 = _leaf((1, 1, hidden))
    c0 = _leaf((1, 1, hidden)) if mode == "lstm" else None
    hs, cs = _run_layer(layer, x, h0, c0)
    arrays, rows = weight_symbols(mode, hidden, 1)
    x_sym = np.array([[[sympy.Symbol(f"x_{t + 1}", real=True)]] for t in range(steps)])
    h_first = state_symbols("h", 0, hidden)
    inputs = {x: x_sym, h0: np.array(list(h_first)).reshape(1, 1, hidden),
              layer.weight_ih_l0: arrays["weight_ih"], layer.weight_hh_l0: arrays["weight_hh"],
              layer.bias_ih_l0: arrays["bias_ih"], layer.bias_hh_l0: arrays["bias_hh"]}
    first, outs = h_first, [hs[-1]]
    if mode == "lstm":
        c_first = state_symbols("c", 0, hidden)
        inputs[c0] = np.array(list(c_first)).reshape(1, 1, hidden)
        first = first.col_join(c_first)
        outs.append(cs[-1])
    result = trace(outs, inputs, max_size=max_size or 10 ** 7)
    last = sympy.Matrix([e for v in result.outputs for e in v.reshape(-1)])
    traced = last.jacobian(list(first))
    keys, _, defs = name_nodes(result, mode, hidden, rows)
    closed = rewrite(traced, keys, cancel=False)  # a product: cancel would expand it
    product = sympy.eye(first.rows)
    for t in range(steps, 0, -1):
        product = product * step_jacobian(mode, hidden, t, nonlinearity)
    return ProductDerivation(mode, nonlinearity, steps, hidden, traced, closed, product,
                             general_product(mode, nonlinearity) if hidden == 1 else None,
                             defs)


def general_product(mode, nonlinearity="tanh"):
    """H = 1: d h_T / d h_k as ``sympy.Product`` over t = k+1..T of the one-step closed form
    (for the LSTM the direct cell path, for the GRU the update-gate path)."""
    t, k, T = sympy.symbols("t k T", integer=True, positive=True)
    base = {"rnn": "h", "lstm": "f", "gru": "z"}[mode]
    seq = sympy.IndexedBase(base, real=True)
    if mode == "rnn":
        w = sympy.Symbol("w_hh", real=True)
        if nonlinearity == "relu":
            a = sympy.IndexedBase("a", real=True)
            factor = w * sympy.Piecewise((1, a[t] > 0), (0, True))
        else:
            factor = w * (1 - seq[t] ** 2)
    else:
        factor = seq[t]
    return sympy.Product(factor, (t, k + 1, T))


# ---- BPTT as the lectures write it -------------------------------------------------------------
@dataclasses.dataclass
class BPTTDerivation:
    """dL/dW_hh for a scalar tanh RNN over T steps, L = (h_T - y)^2 / 2.

    Attributes:
        sum_of_products: sum over k of dL/dh_T * prod_{t=k+1..T} w (1 - h_t^2) * (1 - h_k^2)
            h_{k-1} (the lecture form, in state symbols).
        symbolic: ``sympy.diff`` of the traced loss, rewritten in state symbols.
        reverse: what reverse accumulation computes: the engine's gradient graph
            (``create_graph=True``) traced with ``to_sympy`` and rewritten.
    """

    steps: int
    sum_of_products: sympy.Expr
    symbolic: sympy.Expr
    reverse: sympy.Expr

    @property
    def matches(self):
        d1 = sympy.expand(self.symbolic - self.sum_of_products)
        d2 = sympy.expand(self.reverse - self.sum_of_products)
        return d1 == 0 and d2 == 0


def bptt_sum_of_products(steps, w=None, y=None):
    """The lecture form of dL/dw_hh for the scalar tanh RNN, in the symbols h_0..h_T."""
    w = w if w is not None else sympy.Symbol("w_hh", real=True)
    y = y if y is not None else sympy.Symbol("y", real=True)
    h = [sympy.Symbol(f"h_{t}", real=True) for t in range(steps + 1)]
    dl_dh = h[steps] - y
    total = sympy.Integer(0)
    for k in range(1, steps + 1):
        chain = sympy.Mul(*[w * (1 - h[t] ** 2) for t in range(k + 1, steps + 1)])
        total += dl_dh * chain * (1 - h[k] ** 2) * h[k - 1]
    return total


def derive_bptt(steps=3):
    """Trace a scalar ``RNN(1, 1, fused=False)`` over ``steps`` steps; differentiate the traced
    loss by w_hh with sympy, trace the engine's own reverse-mode gradient graph, rewrite both
    in the state symbols and compare with the lecture's sum of products."""
    layer = _layer("rnn", 1, 1)
    x, h0, y = _leaf((steps, 1, 1)), _leaf((1, 1, 1)), _leaf((1, 1))
    hs, _ = _run_layer(layer, x, h0)
    loss = ((hs[-1] - y) ** 2).sum() * 0.5
    (g,) = mg.grad(loss, [layer.weight_hh_l0], create_graph=True)
    arrays, rows = weight_symbols("rnn", 1, 1)
    y_sym = sympy.Symbol("y", real=True)
    inputs = {x: np.array([[[sympy.Symbol(f"x_{t + 1}", real=True)]] for t in range(steps)]),
              h0: np.array([[[sympy.Symbol("h_0", real=True)]]]), y: np.array([[y_sym]]),
              layer.weight_ih_l0: arrays["weight_ih"], layer.weight_hh_l0: arrays["weight_hh"],
              layer.bias_ih_l0: arrays["bias_ih"], layer.bias_hh_l0: arrays["bias_hh"]}
    result = trace([loss, g], inputs)
    keys, _, _ = name_nodes(result, "rnn", 1, rows)
    w = arrays["weight_hh"][0, 0]
    loss_expr = result.outputs[0].reshape(-1)[0]
    symbolic = sympy.cancel(sympy.diff(loss_expr, w).xreplace(keys))
    reverse = sympy.cancel(result.outputs[1].reshape(-1)[0].xreplace(keys))
    return BPTTDerivation(steps, bptt_sum_of_products(steps, w, y_sym), symbolic, reverse)


# ---- numbers: lambdify is the bridge back to the engine ------------------------------------
STEMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class StepFunctions:
    """A ``StepDerivation``'s formulas as numpy functions (``sympy.lambdify``).

    Every call takes the step's numbers: x: (I,), prev: the previous state (H,) or (2H,),
    new: the new state the engine computed, weights: the concatenated flat weight_ih,
    weight_hh, bias_ih, bias_hh. Gate values are computed from their traced expressions.
    """

    def __init__(self, derivation):
        d = derivation
        self.derivation = d
        weights = [s for stem in STEMS for s in d.weights[stem].reshape(-1)]
        base = list(d.x) + list(d.prev) + weights
        new = set(d.new)
        self.gate_symbols = [g for g in d.gates if g not in new]
        self._gates = sympy.lambdify(base, [d.gates[g] for g in self.gate_symbols], "numpy")
        args = base + self.gate_symbols + list(d.new)
        self._jacobian = sympy.lambdify(args, d.closed_form, "numpy")
        self._local = sympy.lambdify(args, d.local_weight, "numpy")
        self._path = None if d.path is None else sympy.lambdify(args, d.path, "numpy")

    def _args(self, x, prev, new, weights):
        base = [*x, *prev, *weights]
        return base + list(self._gates(*base)) + list(new)

    def jacobian(self, x, prev, new, weights):
        """The one-step Jacobian d new / d prev: (n, n)."""
        return np.asarray(self._jacobian(*self._args(x, prev, new, weights)), dtype=np.float64)

    def local_weight(self, x, prev, new, weights):
        """The immediate partial d new / d vec(weight_hh): (n, G H H)."""
        return np.asarray(self._local(*self._args(x, prev, new, weights)), dtype=np.float64)

    def path(self, x, prev, new, weights):
        """The direct path diag(f_t) / diag(z_t): (H, H)."""
        return np.asarray(self._path(*self._args(x, prev, new, weights)), dtype=np.float64)


def layer_weights(layer):
    """The flat weight vector (weight_ih, weight_hh, bias_ih, bias_hh of layer 0) that
    ``StepFunctions`` takes."""
    return np.concatenate([getattr(layer, f"{stem}_l0").numpy().reshape(-1) for stem in STEMS])


def random_layer(mode, input_size, hidden, rng, scale=1.0, nonlinearity="tanh",
                 recurrent=True):
    """An unrolled float64 layer with weights drawn from ``rng`` (PyTorch's uniform init times
    ``scale``; ``recurrent=False`` zeroes weight_hh)."""
    layer = _layer(mode, input_size, hidden, nonlinearity)
    bound = scale / np.sqrt(hidden)
    state = {k: rng.uniform(-bound, bound, v.shape) for k, v in layer.state_dict().items()}
    if not recurrent:
        state["weight_hh_l0"] = np.zeros_like(state["weight_hh_l0"])
    layer.load_state_dict(state)
    return layer


def engine_states(layer, mode, x, state0):
    """Run the unrolled layer on x: (T, 1, I) from state0 (n,); returns S: (T + 1, n), the
    states the engine computed (LSTM: h and c stacked)."""
    hidden = layer.hidden_size
    h0 = mg.tensor(state0[:hidden].reshape(1, 1, hidden), dtype=mg.float64)
    c0 = (mg.tensor(state0[hidden:].reshape(1, 1, hidden), dtype=mg.float64)
          if mode == "lstm" else None)
    with mg.no_grad():
        hs, cs = _run_layer(layer, mg.tensor(x, dtype=mg.float64), h0, c0)
    rows = [np.concatenate([h.numpy().reshape(-1)] + ([cs[t].numpy().reshape(-1)] if cs else []))
            for t, h in enumerate(hs)]
    return np.vstack([state0[None, :]] + rows)


def engine_jacobian(layer, mode, x, state):
    """d S_T / d S_k by the engine's reverse mode: the layer run on x: (T - k, 1, I) from
    ``state`` (n,); one backward pass over a batch of n copies, copy b seeded with unit b."""
    n, hidden = state.shape[0], layer.hidden_size
    if x.shape[0] == 0:
        return np.eye(n)
    xs = mg.tensor(np.repeat(x, n, axis=1), dtype=mg.float64)
    h0 = mg.tensor(np.tile(state[:hidden], (1, n, 1)), dtype=mg.float64, requires_grad=True)
    seeds = np.eye(n).reshape(1, n, n)
    if mode == "lstm":
        c0 = mg.tensor(np.tile(state[hidden:], (1, n, 1)), dtype=mg.float64,
                       requires_grad=True)
        _, (h_n, c_n) = layer(xs, (h0, c0))
        g_h, g_c = mg.grad([h_n, c_n], [h0, c0], grad_outputs=[
            mg.tensor(seeds[:, :, :hidden]), mg.tensor(seeds[:, :, hidden:])])
        return np.concatenate([g_h.numpy()[0], g_c.numpy()[0]], axis=1)
    _, h_n = layer(xs, h0)
    (g_h,) = mg.grad(h_n, [h0], grad_outputs=mg.tensor(seeds))
    return g_h.numpy()[0]


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.max(np.abs(b)) if b.size else 0.0
    err = np.max(np.abs(a - b)) if b.size else 0.0
    return float(err / scale) if scale > 0 else float(err)


@dataclasses.dataclass
class Check:
    """One row of ``minigrad verify``: a formula, its worst error against the reference, the
    tolerance, and a detail (what was compared)."""

    formula: str
    error: float
    tol: float
    detail: str = ""

    @property
    def passed(self):
        return bool(self.error <= self.tol)


def _exact(flag):
    return 0.0 if flag else float("inf")


def _setup(mode, hidden, input_size, rng, steps, scale, nonlinearity="tanh", recurrent=True):
    layer = random_layer(mode, input_size, hidden, rng, scale, nonlinearity, recurrent)
    n = 2 * hidden if mode == "lstm" else hidden
    x = rng.standard_normal((steps, 1, input_size))
    states = engine_states(layer, mode, x, rng.uniform(-0.5, 0.5, n))
    return layer, x, states


def _step_jacobians(fn, layer, x, states):
    w = layer_weights(layer)
    return [fn.jacobian(x[t - 1, 0], states[t - 1], states[t], w)
            for t in range(1, x.shape[0] + 1)]


def verify_products(mode, hidden_sizes=(1, 2, 4), steps=50, input_size=2, scales=(1.0, 2.0),
                    nonlinearity="tanh", seed=0):
    """The derived product of one-step Jacobians against the engine's d S_T / d S_k for
    k = 0, T/2, T-1, every hidden size and weight scale. Returns the worst relative error."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for hidden in hidden_sizes:
        fn = StepFunctions(derive_step(mode, hidden, input_size, nonlinearity))
        for scale in scales:
            layer, x, states = _setup(mode, hidden, input_size, rng, steps, scale, nonlinearity)
            jac = _step_jacobians(fn, layer, x, states)
            for k in sorted({0, steps // 2, steps - 1}):
                product = np.eye(states.shape[1])
                for t in range(k + 1, steps + 1):
                    product = jac[t - 1] @ product
                engine = engine_jacobian(layer, mode, x[k:], states[k])
                worst = max(worst, _rel(product, engine))
    return worst


def verify_paths(mode, hidden=2, steps=50, input_size=2, seed=0):
    """The direct paths. LSTM: each step's derived diag(f_t) against the (c, c) block of the
    engine's one-step Jacobian. Both: with weight_hh = 0 the engine's d c_T / d c_0 (LSTM) or
    d h_T / d h_0 (GRU) is the product of the paths, diag(prod f_t) / diag(prod z_t).
    Returns ``(worst one-step error, worst product error)``."""
    rng = np.random.default_rng(seed)
    fn = StepFunctions(derive_step(mode, hidden, input_size))
    step_err = 0.0
    if mode == "lstm":
        layer, x, states = _setup(mode, hidden, input_size, rng, steps, 1.0)
        w = layer_weights(layer)
        for t in range(1, steps + 1, 7):
            path = fn.path(x[t - 1, 0], states[t - 1], states[t], w)
            engine = engine_jacobian(layer, mode, x[t - 1:t], states[t - 1])
            step_err = max(step_err, _rel(path, engine[hidden:, hidden:]))
    layer, x, states = _setup(mode, hidden, input_size, rng, steps, 1.0, recurrent=False)
    w = layer_weights(layer)
    product = np.eye(hidden)
    for t in range(1, steps + 1):
        product = fn.path(x[t - 1, 0], states[t - 1], states[t], w) @ product
    engine = engine_jacobian(layer, mode, x, states[0])
    block = engine[hidden:, hidden:] if mode == "lstm" else engine
    return step_err, _rel(product, block)


def verify_bptt(mode, hidden_sizes=(1, 2, 4), steps=50, input_size=2, seed=0):
    """The lecture form of dL/dW_hh, L = |h_T - y|^2 / 2, evaluated naively (for every k the
    product of Jacobians from T down to k+1, then the immediate partial), against the
    engine's reverse accumulation (``mg.grad``). Returns the worst relative error."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for hidden in hidden_sizes:
        fn = StepFunctions(derive_step(mode, hidden, input_size))
        layer, x, states = _setup(mode, hidden, input_size, rng, steps, 1.5)
        w = layer_weights(layer)
        y = rng.standard_normal(hidden)
        jac = _step_jacobians(fn, layer, x, states)
        seed_grad = np.zeros(states.shape[1])
        seed_grad[:hidden] = states[-1, :hidden] - y
        total = np.zeros(layer.weight_hh_l0.shape).reshape(-1)
        for k in range(1, steps + 1):
            delta = seed_grad
            for t in range(steps, k, -1):  # the product, recomputed for every term
                delta = delta @ jac[t - 1]
            total += delta @ fn.local_weight(x[k - 1, 0], states[k - 1], states[k], w)
        hidden0 = mg.tensor(states[0, :hidden].reshape(1, 1, hidden), dtype=mg.float64)
        cell0 = (mg.tensor(states[0, hidden:].reshape(1, 1, hidden), dtype=mg.float64)
                 if mode == "lstm" else None)
        hs, _ = _run_layer(layer, mg.tensor(x, dtype=mg.float64), hidden0, cell0)
        loss = ((hs[-1] - mg.tensor(y[None, :], dtype=mg.float64)) ** 2).sum() * 0.5
        (engine,) = mg.grad(loss, [layer.weight_hh_l0])
        worst = max(worst, _rel(total.reshape(engine.shape), engine.numpy()))
    return worst


def verify_bound(trials=60, max_steps=50, seed=0):
    """Random tanh and ReLU RNNs (H in 1..4, T in 1..max_steps, weight scales from 0.3 to 4):
    the engine's ||d h_T / d h_k||_2 against (gamma sigma_max(W_hh))^(T-k). Returns
    ``(worst norm / bound, vanishing trials, exploding trials, PMB violations)``: a trial
    with gamma sigma < 1 must have norm <= (gamma sigma)^(T-k) < 1 (vanishing); a trial whose
    norm exceeds 1 must have gamma sigma > 1 (necessary for exploding)."""
    rng = np.random.default_rng(seed)
    worst, vanishing, exploding, violations = 0.0, 0, 0, 0
    for trial in range(trials):
        nonlinearity = ("tanh", "relu")[trial % 2]
        gamma = float(activation_gamma(nonlinearity))
        hidden = int(rng.integers(1, 5))
        steps = int(rng.integers(1, max_steps + 1))
        k = int(rng.integers(0, steps))
        scale = float(np.exp(rng.uniform(np.log(0.3), np.log(4.0))))
        layer, x, states = _setup("rnn", hidden, 2, rng, steps, scale, nonlinearity)
        engine = engine_jacobian(layer, "rnn", x[k:], states[k])
        holds, norm, bound = bounds.check_bound(engine, gamma, layer.weight_hh_l0.numpy(),
                                                steps - k)
        worst = max(worst, norm / bound if bound > 0 else (0.0 if norm == 0 else np.inf))
        rate = gamma * float(np.linalg.norm(layer.weight_hh_l0.numpy(), 2))
        if rate < 1:
            vanishing += 1
            violations += int(not holds)
        if norm > 1:
            exploding += 1
            violations += int(rate <= 1)
    return worst, vanishing, exploding, violations


def rnn_unroll(hidden=3, input_size=2, seed=0):
    """``unroll(T) -> (loss, [h_1..h_T])`` on a ``RNN(fused=False)`` for ``cost.measure_costs``
    (the loss uses h_T only)."""
    rng = np.random.default_rng(seed)
    layer = random_layer("rnn", input_size, hidden, rng)
    v = mg.tensor(rng.standard_normal((1, hidden)), dtype=mg.float64)

    def unroll(steps):
        x = mg.tensor(rng.standard_normal((steps, 1, input_size)), dtype=mg.float64)
        hs, _ = _run_layer(layer, x, mg.zeros(1, 1, hidden, dtype=mg.float64))
        return (hs[-1] * v).sum(), hs
    return unroll


def scalar_rnn_unroll(seed=0):
    """``unroll(T) -> (h_T, weight_hh, inputs)`` on a scalar ``RNN(1, 1, fused=False)`` for
    ``swell.expression_swell`` (weights, inputs and h_0 symbolic)."""
    rng = np.random.default_rng(seed)
    layer = random_layer("rnn", 1, 1, rng)
    arrays, _ = weight_symbols("rnn", 1, 1)

    def unroll(steps):
        x, h0 = _leaf((steps, 1, 1)), _leaf((1, 1, 1))
        hs, _ = _run_layer(layer, x, h0)
        inputs = {x: np.array([[[sympy.Symbol(f"x_{t + 1}", real=True)]]
                               for t in range(steps)]),
                  h0: np.array([[[sympy.Symbol("h_0", real=True)]]]),
                  layer.weight_ih_l0: arrays["weight_ih"],
                  layer.weight_hh_l0: arrays["weight_hh"][0, 0],
                  layer.bias_ih_l0: arrays["bias_ih"], layer.bias_hh_l0: arrays["bias_hh"]}
        return hs[-1], layer.weight_hh_l0, inputs
    return unroll


def verify_lambdify(seed=0):
    """The bridge itself: each derived one-step closed form (H = 1), ``lambdify``-ed, against
    ``evalf`` at 30 digits on random rational points. Returns the worst relative error."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for mode in MODES:
        expr = derive_step(mode, 1).closed_form
        symbols = sorted(expr.free_symbols, key=sympy.default_sort_key)
        fn = sympy.lambdify(symbols, expr, "numpy")
        for _ in range(3):
            point = [sympy.Rational(int(rng.integers(-90, 91)), 97) for _ in symbols]
            exact = np.array(expr.evalf(30, subs=dict(zip(symbols, point, strict=True))).tolist(),
                             dtype=np.float64)
            worst = max(worst, _rel(fn(*[float(p) for p in point]), exact))
    return worst


def _why(rule):
    for cause in ("no symbolic rule", "no sample point"):
        if cause in rule.note:
            return f"{rule.op} ({cause})"
    return rule.op


def run_checks(quick=False, seed=0):
    """Every check of ``minigrad verify``, as a list of ``Check`` rows. ``quick`` uses smaller
    sizes (H up to 2, T = 20) for a fast run."""
    sizes, steps = ((1, 2), 20) if quick else ((1, 2, 4), 50)
    rows = []
    rules = rules_check.check_all_rules(seed=seed)
    bad1 = [_why(r) for r in rules if not (np.isnan(r.first) or r.first <= r.tol) or
            not r.value <= r.tol]
    bad2 = [_why(r) for r in rules if not (np.isnan(r.second) or r.second <= r.tol)]
    worst1 = max((r.first for r in rules if not np.isnan(r.first)), default=0.0)
    worst2 = max((r.second for r in rules if not np.isnan(r.second)), default=0.0)
    rows.append(Check(f"backward rules = sympy.diff of symbolic rules ({len(rules)} ops)",
                      np.inf if bad1 else worst1, 1e-12,
                      "failing: " + ", ".join(bad1) if bad1 else "first derivatives"))
    rows.append(Check(f"second derivatives = sympy.diff twice ({len(rules)} ops)",
                      np.inf if bad2 else worst2, 1e-12,
                      "failing: " + ", ".join(bad2) if bad2 else "create_graph=True"))
    gam_tanh, gam_sig = activation_gamma("tanh"), activation_gamma("sigmoid")
    rows.append(Check("gamma = sup|phi'|: tanh 1, sigmoid 1/4 (sympy)",
                      _exact(gam_tanh == 1 and gam_sig == sympy.Rational(1, 4)), 0,
                      f"tanh {gam_tanh}, sigmoid {gam_sig}, relu {activation_gamma('relu')}"))
    for mode, nl, label in (("rnn", "tanh", "RNN: dh_t/dh_{t-1} = diag(1-h_t^2) W_hh"),
                            ("rnn", "relu", "RNN relu: diag(1[a_t>0]) W_hh"),
                            ("lstm", "tanh", "LSTM: d(h_t,c_t)/d(h_{t-1},c_{t-1})"),
                            ("gru", "tanh", "GRU: dh_t/dh_{t-1} (z, r, n paths)")):
        ok = all(derive_step(mode, h, 1, nl).matches_textbook for h in (1, 2))
        rows.append(Check(label + " (traced = lectures)", _exact(ok), 0,
                          "exact, H = 1, 2, from models' cells"))
    rows.append(Check("LSTM direct cell path dc_t/dc_{t-1} = diag(f_t)",
                      _exact(all(derive_step("lstm", h).path_matches for h in (1, 2))), 0,
                      "exact, H = 1, 2"))
    for mode, hidden, n in (("rnn", 2, 3), ("lstm", 1, 2), ("gru", 1, 2)):
        ok = derive_product(mode, n, hidden).matches_product
        rows.append(Check(f"{mode.upper()}: traced dS_T/dS_0 = J_T ... J_1 (T={n}, H={hidden})",
                          _exact(ok), 0, "from the unrolled layer's scopes t=k"))
    rows.append(Check("BPTT: sum_k dL/dh_T prod J d+h_k/dW = diff = reverse graph",
                      _exact(derive_bptt(3).matches), 0, "exact, scalar RNN, T = 3"))
    rows.append(Check("lambdify(closed forms) = evalf(30 digits)", verify_lambdify(seed), 1e-12,
                      "RNN, LSTM, GRU, H = 1"))
    for mode, nl in (("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")):
        err = verify_products(mode, sizes, steps, nonlinearity=nl, seed=seed)
        name = f"{mode.upper()}{' relu' if nl == 'relu' else ''}"
        rows.append(Check(f"{name}: prod of derived J_t = engine dS_T/dS_k", err, 1e-10,
                          f"T = {steps}, H = {', '.join(map(str, sizes))}, float64"))
    for mode, what in (("lstm", "prod diag(f_t) = dc_T/dc_0"), ("gru", "prod diag(z_t)")):
        step_err, prod_err = verify_paths(mode, sizes[-1], steps, seed=seed)
        rows.append(Check(f"{mode.upper()} path: {what} (W_hh = 0)", max(step_err, prod_err),
                          1e-10, f"T = {steps}, H = {sizes[-1]}"))
    for mode in MODES:
        rows.append(Check(f"{mode.upper()}: naive sum of products = engine dL/dW_hh",
                          verify_bptt(mode, sizes, steps, seed=seed), 1e-10,
                          f"T = {steps}, O(T^2) products vs reverse mode"))
    worst, vanish, explode, bad = verify_bound(30 if quick else 100, steps, seed)
    rows.append(Check("||dh_T/dh_k|| <= (gamma sigma_max)^(T-k)", worst, 1 + 1e-12,
                      f"worst norm/bound over {30 if quick else 100} random RNNs"))
    rows.append(Check("PMB: sigma<1/gamma => vanishing; explode => sigma>1/gamma", float(bad),
                      0, f"{vanish} vanishing-regime trials, {explode} with norm > 1"))
    cost_rows = cost.measure_costs(rnn_unroll(seed=seed), range(1, 9))
    for name, mismatch in cost.check_costs(cost_rows):
        solution = cost.cost_recurrences()[name][1]
        rows.append(Check(f"cost {name} = {solution} (rsolve)", float(mismatch), 0,
                          "T = 1..8, read off the engine's graphs"))
    swell_rows = swell.expression_swell(scalar_rnn_unroll(seed), (2, 4, 8, 16))
    ratios = [r.ratio for r in swell_rows]
    growing = all(b > a for a, b in zip(ratios, ratios[1:], strict=False))
    rows.append(Check("swell: count_ops(d h_T/d w) grows faster than the graph", _exact(growing),
                      0, "; ".join(f"T={r.steps}: {r.derivative_ops} vs "
                                   f"{r.graph_ops + r.backward_ops}" for r in swell_rows)))
    return rows


# ---- samples for the models' own primitives (for minigrad.symbolic.rules_check) -------------
def _fused_case(rng, mode, nonlinearity="tanh", steps=2, hidden=1):
    """Arrays and params of one small ``rnn_fused`` call (T = 2, B = 1, I = 1)."""
    gates = len(GATES[mode]) * hidden
    arrays = {"x": rng.standard_normal((steps, 1, 1)), "h0": rng.uniform(-0.5, 0.5, (1, hidden)),
              "c0": rng.uniform(-0.5, 0.5, (1, hidden)) if mode == "lstm" else None,
              "weight_ih": rng.uniform(-1, 1, (gates, 1)),
              "weight_hh": rng.uniform(-1, 1, (gates, hidden)),
              "bias_ih": rng.uniform(-1, 1, gates), "bias_hh": rng.uniform(-1, 1, gates)}
    names = tuple(k for k, v in arrays.items() if v is not None)
    params = {"mode": mode, "names": names, "nonlinearity": nonlinearity, "lengths": None,
              "reverse": False, "hidden_mask": None, "coupled": False, "reset_after": True,
              "save": True}
    return [arrays[k] for k in names], params


def _fused_cases(rng):
    return [_fused_case(rng, "rnn"), _fused_case(rng, "rnn", "relu"), _fused_case(rng, "lstm"),
            _fused_case(rng, "gru")]


def _fused_bptt_cases(rng):
    cases = []
    for args, params in _fused_cases(rng):
        tensors = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in args]
        out = mg.bind(mg.REGISTRY["rnn_fused"], *tensors, **params)
        extra = {"saved": out.grad_fn.saved, "needs": (True,) * len(args)}
        cases.append(([rng.standard_normal(out.shape)] + list(args), {**params, **extra}))
    return cases


def _fused_size(node, sizes):
    """Size guard for ``rnn_fused``: each step's state element holds, per gate, H copies of
    the previous state's expression (so the tree grows like (G H)^T)."""
    names = node.params["names"]
    steps, _, inputs = node.inputs[0].shape
    hidden = node.inputs[names.index("h0")].shape[1]
    gates = len(GATES[node.params["mode"]])
    leaf = max(sizes, default=1.0)
    size, total = leaf, 0.0
    for _ in range(steps):
        size = gates * (hidden * (size + leaf + 1) + inputs * (2 * leaf + 1) + 4 * leaf)
        total += size
    return total / max(steps, 1)


def _register_model_samples():
    """Sample points for the primitives declared in ``models`` (attention's masked softmax,
    the fused recurrent kernel and its BPTT), so that ``check_all_rules`` covers them."""
    import importlib

    for module in ("models.attention", "models.rnn.fused"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    samples = {
        "attention_masked_softmax": lambda rng: (
            [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))], {"scale": 0.5}),
        "attention_masked_softmax_grad": lambda rng: (
            [rng.standard_normal((2, 3)), rng.uniform(0.1, 0.5, (2, 3))], {"scale": 0.5}),
        "rnn_fused": _fused_cases,
        "rnn_fused_bptt": _fused_bptt_cases,
    }
    for name, sample in samples.items():
        if name in mg.REGISTRY:
            rules_check.register_sample(name)(sample)
    if "rnn_fused" in mg.REGISTRY:
        symbolic.register_size_rule("rnn_fused")(_fused_size)


_register_model_samples()
__all__ = ["activation_gamma", "derive_step", "derive_product", "derive_bptt",
           "bptt_sum_of_products", "textbook_jacobian", "step_jacobian", "direct_path",
           "general_product", "weight_symbols", "weight_matrices", "state_symbols",
           "name_nodes", "rewrite", "is_zero_matrix", "StepDerivation", "ProductDerivation",
           "BPTTDerivation", "StepFunctions", "engine_states", "engine_jacobian",
           "random_layer", "layer_weights", "verify_products", "verify_paths", "verify_bptt",
           "verify_bound", "verify_lambdify", "rnn_unroll", "scalar_rnn_unroll", "Check",
           "run_checks"]
