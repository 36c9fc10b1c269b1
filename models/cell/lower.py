"""From a traced step (``graph.StepGraph``) to what the fused path runs.

The step's values fall into three parts (``graph``: X = depends on the input, S = on the
state):

- weight-level (neither): computed once per call through the engine (``prelude``);
- input-level (X only): computed once per call for all T B rows at once through the engine
  (``hoisted``; x W^T becomes one GEMM over every step);
- state-level (S): computed step by step inside a generated kernel (``Program``).

The backward ``Program`` is derived, not written: the state-level part is replayed through
the engine on stand-ins and differentiated with ``create_graph=True``, so the engine's own
backward rules give the ops of the vector-Jacobian product, which the same code generator
compiles. Ops of that graph that sum over the rows (weight gradients ``u^T g``, bias
gradients ``sum(g, 0)``) are taken out of the time loop: the kernel writes their row inputs
for every step, and each is then evaluated once over all T B rows (``Reduction``), which is
one GEMM per weight, as a hand-written BPTT kernel would do.
"""

import numpy as np

import minigrad as mg

from .graph import CompileError, S, Value, X, column_slice, replay

R = 4  # backward graphs: depends on the step's rows
# primitives whose backward rules build masks from their inputs' values (not compilable)
_MASKED_BACKWARD = {"abs", "amax", "amin", "clamp", "max_dim", "maximum", "min_dim", "minimum",
                    "pow"}


class Program:
    """What one generated kernel computes at each time step.

    nodes: row-level op Values in topological order. carries: leaf Values for the rows carried
    from step to step (B, H); carry_next: per carry, the Value carried on (None: zeros);
    hold: per carry, the Value a sequence past its end carries on. inputs: (Value, source)
    rows read at each step, source ``("seq", k)`` (argument k, (T, B, w)), ``("hist", i)``
    (the forward's state i after the step), ``("prev", i)`` (its state i before the step) or
    ``("gout", i)`` (the incoming gradient of state i). weights: weight-level leaf Values
    (arrays fixed over the call). outputs: row Values written at each step into (T, B, w)
    arrays, zero in the rows of sequences past their end. history: carry_next is written
    into the states array (the forward; see ``codegen.generate``).
    """

    def __init__(self, history):
        self.nodes, self.carries, self.carry_next, self.hold = [], [], [], []
        self.inputs, self.weights, self.outputs = [], [], []
        self.history = history


class ForwardPlan:
    """graph; prelude (weight-level op Values); hoisted (input-level op Values); seq (the
    input-level Values the step reads, arguments of the fused primitive); weights (the
    weight-level Values it reads); program (the forward ``Program``)."""


def _link(values):
    for v in values:
        v.users = []
    for v in values:
        for v_in in v.inputs:
            v_in.users.append(v)


def _ancestors(roots, keep):
    """Op Values that ``roots`` depend on (roots included) for which ``keep(v)``, in
    topological order."""
    seen, order, stack = set(), [], [(r, False) for r in roots]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
            continue
        if id(v) in seen or v.origin != "op" or not keep(v):
            continue
        seen.add(id(v))
        stack.append((v, True))
        stack.extend((i, False) for i in reversed(v.inputs))
    return order


def _new(values, origin, shape, dtype, deps, **kw):
    v = Value(len(values), origin, shape, dtype, deps, **kw)
    values.append(v)
    return v


def _rewrite_linear(graph):
    """``linear(a, W, b)`` on rows of the state -> ``matmul(a, W^T) + b`` (W^T weight-level)."""
    values = []
    for v in graph.values:
        if v.origin == "op" and v.op == "linear" and v.deps & S:
            a, w = v.inputs[0], v.inputs[1]
            wt = Value(0, "op", w.shape[::-1], w.dtype, w.deps, op="permute",
                       params={"dims": (1, 0)}, inputs=(w,))
            mm = Value(0, "op", v.shape, v.dtype, v.deps, op="matmul", inputs=(a, wt))
            values += [wt, mm]
            if len(v.inputs) == 3:
                v.op, v.inputs, v.params = "add", (mm, v.inputs[2]), {}
            else:
                v.op, v.inputs, v.params = "matmul", (a, wt), {}
        values.append(v)
    for k, v in enumerate(values):
        v.index = k
    graph.values = values
    _link(values)


def _fuse_input_linear(graph):
    """``x @ W.t() + b`` on the input's rows -> ``linear(x, W, b)``: the bias is added in
    place into the product (one (T B, w) array per call, not two, and one op each way)."""
    for v in graph.values:
        if v.origin != "op" or v.op != "add" or v.deps != X or len(v.inputs) != 2:
            continue
        mm, b = v.inputs if v.inputs[0].op == "matmul" else v.inputs[::-1]
        if (mm.op != "matmul" or mm.deps != X or len(mm.users) != 1 or b.deps != 0
                or len(b.shape) != 1 or mm.shape != v.shape or b.dtype != v.dtype):
            continue
        rows, wt = mm.inputs
        if (wt.op != "permute" or wt.params.get("dims") != (1, 0) or wt.deps != 0
                or b.shape != (wt.shape[1],) or rows.dtype != v.dtype):
            continue
        v.op, v.inputs, v.params = "linear", (rows, wt.inputs[0], b), {}
    for v in graph.values:  # x @ W.t() alone: no transpose op either
        if (v.origin == "op" and v.op == "matmul" and v.deps == X and len(v.inputs) == 2
                and v.inputs[1].op == "permute" and v.inputs[1].params.get("dims") == (1, 0)
                and v.inputs[1].deps == 0 and len(v.inputs[1].shape) == 2
                and v.inputs[0].dtype == v.dtype == v.inputs[1].dtype):
            v.op, v.inputs, v.params = "linear", (v.inputs[0], v.inputs[1].inputs[0]), {}
    _link(graph.values)


def _window_of_input(v):
    """A slice of columns of an input-level row (GRU's ``gi[:, :2H]``) is read in the step,
    at its offset in the whole row: the kernel takes the row once (no copy of each slice)
    and the backward writes the row's gradient whole (no scatter of each slice's)."""
    return (v.origin == "op" and v.op == "getitem" and v.deps == X and len(v.shape) == 2
            and len(v.inputs) == 1 and len(v.inputs[0].shape) == 2
            and column_slice(v.params.get("index"), v.inputs[0].shape[1]) is not None)


def lower_forward(graph):
    """The forward plan of a traced step (see the module docstring)."""
    _rewrite_linear(graph)
    _fuse_input_linear(graph)
    values = graph.values
    outputs = []
    for o in graph.outputs:
        if o.origin != "op" or not o.deps & S:  # a new state that is not made from the state
            o = _new(values, "op", o.shape, o.dtype, o.deps | S, op="copy", inputs=(o,))
        outputs.append(o)
    _link(values)
    step = _ancestors(outputs, lambda v: bool(v.deps & S) or _window_of_input(v))
    seq, weights = [], []
    in_step = {id(v) for v in step}
    for v in step:
        for v_in in v.inputs:
            if v_in.deps & S or id(v_in) in in_step:
                continue
            target = seq if v_in.deps & X else weights
            if v_in not in target:
                target.append(v_in)
    plan = ForwardPlan()
    plan.graph, plan.seq, plan.weights = graph, seq, weights
    plan.hoisted = _ancestors(seq, lambda v: v.deps == X)
    plan.prelude = _ancestors(weights + [i for h in plan.hoisted for i in h.inputs],
                              lambda v: v.deps == 0)
    prog = Program(history=True)
    prog.nodes = step
    prog.carries = list(graph.states)
    prog.carry_next = outputs
    prog.hold = list(graph.states)
    prog.inputs = [(v, ("seq", k, 0)) for k, v in enumerate(seq)]
    prog.weights = weights
    plan.program = prog
    return plan


# ---- the backward ---------------------------------------------------------------------------
class Reduction:
    """One op that sums over the rows, evaluated once over all steps: ``nodes`` (topological,
    the op last, with the permutes before it), ``rows``: its row-level leaf Values."""

    def __init__(self, nodes, rows):
        self.nodes, self.rows = nodes, rows


class BackwardPlan:
    """program (the backward ``Program``); saved: forward op Values the backward reads
    (written by the forward kernel); weight_prelude: weight-level op Values (from the
    forward's weights) its kernel reads; reductions; post: op Values after the reductions;
    grads: per forward input ('seq' k / 'weight' k / 'carry' i) the Value of its gradient or
    None; fwd: Value -> the forward Value it stands for (leaves of the backward graph)."""


def _stand_in(v, rng):
    data = rng.uniform(-0.5, 0.5, v.shape).astype(v.dtype) if v.dtype.kind == "f" else \
        np.zeros(v.shape, v.dtype)
    return mg.tensor(data, requires_grad=v.dtype.kind == "f")


def lower_backward(fplan):
    """The backward plan of a forward plan (see the module docstring)."""
    graph, fprog = fplan.graph, fplan.program
    rng = np.random.default_rng(1)
    leaves = list(fprog.carries) + list(fplan.seq) + list(fplan.weights)
    env = {v: _stand_in(v, rng) for v in leaves}
    for v in graph.values:  # constants and captured tensors the step reads
        if v.origin in ("const", "captured") and v in _inputs_of(fprog.nodes):
            env[v] = v.tensor if v.origin == "const" else mg.tensor(v.tensor.numpy())
    with mg.enable_grad():
        for v in fprog.nodes:
            if v.op == "copy":
                env[v] = env[v.inputs[0]] * 1.0
        replay(fprog.nodes, env)
        fwd_of = {id(t): v for v, t in env.items()}
        B0, H = graph.batch, graph.hidden_size
        gs = [mg.tensor(rng.uniform(-1, 1, (B0, H)).astype(v.dtype), requires_grad=True)
              for v in fprog.carries]
        wrt = [env[v] for v in leaves if env[v].requires_grad]
        found = iter(mg.grad([env[o] for o in fprog.carry_next], wrt, grad_outputs=gs,
                             create_graph=True, allow_unused=True))
        grads = [next(found) if env[v].requires_grad else None for v in leaves]
    return _build_backward(fplan, leaves, env, fwd_of, gs, grads)


def _inputs_of(nodes):
    seen = set()
    for v in nodes:
        seen.update(v.inputs)
    return seen


def _build_backward(fplan, leaves, env, fwd_of, gs, grads):
    B0 = fplan.graph.batch
    values = []
    by_id = {}
    g_vals = []
    for i, g in enumerate(gs):
        v = _new(values, "gtotal", g.shape, g.dtype, R, name=f"g{i}")
        by_id[id(g)] = v
        g_vals.append(v)
    fwd = {}

    def leaf(t):
        f = fwd_of.get(id(t))
        if f is not None:
            v = _new(values, "fwd", f.shape, f.dtype, R if f.row else 0, name=f"f{f.index}")
            fwd[v] = f
            return v
        if t.requires_grad:
            raise CompileError(f"cell compiler: a backward rule read a tensor of shape "
                               f"{t.shape} that is not a value of the step")
        if t.ndim >= 1 and t.shape[0] == B0:
            ops = sorted({v.op for v in fplan.program.nodes} & _MASKED_BACKWARD)
            raise CompileError(
                f"{fplan.graph.who}: the fused compiler cannot handle op "
                f"{' / '.join(repr(o) for o in ops) or 'in the step'}: its backward rule "
                "reads the rows' values outside autograd (a mask or a sign, as the rules of "
                f"{', '.join(sorted(_MASKED_BACKWARD))} do), which the generated backward "
                "cannot follow; use fused=False (or relu / leaky_relu / softplus, whose rules "
                "are ops)")
        return _new(values, "const", t.shape, t.dtype, 0, tensor=t)

    roots = [g for g in grads if g is not None]
    stack = [(t, False) for t in reversed(roots)]
    while stack:
        t, expanded = stack.pop()
        if id(t) in by_id:
            continue
        node = None if id(t) in fwd_of else t._node
        if node is None:
            by_id[id(t)] = leaf(t)
            continue
        if not expanded:
            stack.append((t, True))
            stack.extend((p, False) for p in reversed(node.resolve_inputs())
                         if id(p) not in by_id)
            continue
        ins = [by_id[id(p)] for p in node.resolve_inputs()]
        deps = 0
        for v_in in ins:
            deps |= v_in.deps
        by_id[id(t)] = _new(values, "op", t.shape, t.dtype, deps, op=node.prim.name,
                            params=dict(node.params), inputs=ins)
    _link(values)
    grad_vals = [None if g is None else by_id[id(g)] for g in grads]
    return _partition(fplan, leaves, values, g_vals, grad_vals, fwd, B0)


def _is_row(v, B0):
    return len(v.shape) in (1, 2) and v.shape[:1] == (B0,)


def _partition(fplan, leaves, values, g_vals, grad_vals, fwd, B0):
    fprog = fplan.program
    kind = {}  # Value -> 'row' | 'rowT' | 'weight' | 'reduced'
    reductions = []
    for v in values:
        if v.origin != "op":
            kind[v] = "row" if v.deps & R else "weight"
            continue
        ks = {kind[i] for i in v.inputs}
        if ks <= {"weight"}:
            kind[v] = "weight"
        elif "row" in ks or "rowT" in ks:
            if "reduced" in ks:
                raise CompileError(f"cell compiler: op {v.op!r} mixes a per-step value with a "
                                   "sum over steps; use fused=False")
            if _is_row(v, B0) and "rowT" not in ks:
                kind[v] = "row"
            elif v.op == "permute" and len(v.shape) == 2 and v.shape[1] == B0:
                kind[v] = "rowT"
            else:
                if not _reduces_rows(v, B0):
                    raise CompileError(f"cell compiler: the backward of the step has op "
                                       f"{v.op!r} over rows of shape "
                                       f"{[i.shape for i in v.inputs]} -> {v.shape}, which "
                                       "it cannot split by time step; use fused=False")
                kind[v] = "reduced"
                cluster = _ancestors([v], lambda u, v=v: u is v or kind.get(u) == "rowT")
                rows = []
                for u in cluster:
                    for i in u.inputs:
                        if kind[i] == "row" and i not in rows:
                            rows.append(i)
                reductions.append(Reduction(cluster, rows))
        else:
            kind[v] = "reduced"
    plan = BackwardPlan()
    plan.fwd, plan.reductions = fwd, reductions
    plan.post = [v for v in values if v.origin == "op" and kind[v] == "reduced"
                 and not any(v is r.nodes[-1] for r in reductions)]
    # the kernel: every row op the gradients of rows or the reductions need
    carries = [_new(values, "carry", g.shape, g.dtype, R, name=f"d{i}")
               for i, g in enumerate(g_vals)]
    gouts = [_new(values, "gout", g.shape, g.dtype, R, name=f"gout{i}")
             for i, g in enumerate(g_vals)]
    for g, c, o in zip(g_vals, carries, gouts, strict=True):  # g_total = carried + incoming
        g.origin, g.op, g.inputs = "op", "add", (c, o)
    n_carry, n_seq = len(fprog.carries), len(fplan.seq)
    carry_grads = grad_vals[:n_carry]
    seq_grads = grad_vals[n_carry:n_carry + n_seq]
    weight_grads = grad_vals[n_carry + n_seq:]
    outputs = [g for g in seq_grads if g is not None and kind[g] == "row"]
    for r in reductions:
        for i in r.rows:
            if i.origin not in ("fwd",) and i not in outputs:
                outputs.append(i)
    roots = [g for g in carry_grads if g is not None] + outputs
    for g in carry_grads + seq_grads:
        if g is not None and kind[g] != "row":
            raise CompileError("cell compiler: a gradient w.r.t. a row of the step is not "
                               "per row; use fused=False")
    nodes = _ancestors(roots + g_vals, lambda v: kind.get(v) == "row")
    prog = Program(history=False)
    prog.nodes = nodes
    prog.carries = carries
    prog.carry_next = list(carry_grads)
    prog.hold = g_vals
    prog.outputs = outputs
    used = _inputs_of(nodes)
    saved = []
    hist = {id(o): i for i, o in enumerate(fprog.carry_next)}
    carry_index = {id(c): i for i, c in enumerate(fprog.carries)}
    seq_index = {id(s): k for k, s in enumerate(fplan.seq)}
    inputs = [(o, ("gout", i, 0)) for i, o in enumerate(gouts)]
    reduced_rows = {id(i) for r in reductions for i in r.rows}
    weights, sources = [], {}
    for v in values:
        if v.origin == "fwd" and fwd[v].row:
            f, offset = fwd[v], 0
            while not (id(f) in hist or id(f) in carry_index or id(f) in seq_index):
                cut = _column_of(f)  # a slice of a wider row: read it there
                if cut is None:
                    break
                f, offset = f.inputs[0], offset + cut
            if id(f) in hist:
                source = ("hist", hist[id(f)], offset)
            elif id(f) in carry_index:
                source = ("prev", carry_index[id(f)], offset)
            elif id(f) in seq_index:
                source = ("seq", seq_index[id(f)], offset)
            else:
                if f not in saved:
                    saved.append(f)
                source = ("saved", saved.index(f), offset)
            sources[v] = source
            if v in used:
                inputs.append((v, source))
            elif id(v) not in reduced_rows:
                continue
        elif v in used and kind.get(v) == "weight" and v.origin in ("op", "fwd", "const"):
            weights.append(v)
    plan.sources = sources
    prog.inputs = inputs
    prog.weights = weights
    plan.program, plan.saved = prog, saved
    plan.weight_prelude = _ancestors(
        [w for w in weights if w.origin == "op"] + [i for p in plan.post for i in p.inputs],
        lambda v: kind.get(v) == "weight")
    plan.grads = {"carry": carry_grads, "seq": seq_grads, "weight": weight_grads}
    plan.kind = kind
    return plan


def _column_of(f):
    """The first column of ``f`` in its input when ``f`` is a slice of columns of a wider
    row-level op value, else None."""
    if f.origin != "op" or f.op != "getitem" or len(f.shape) != 2:
        return None
    src = f.inputs[0]
    if not src.row or len(src.shape) != 2:
        return None
    cut = column_slice(f.params["index"], src.shape[1])
    if cut is None or cut[2]:
        return None
    return cut[0]


def _reduces_rows(v, B0):
    if v.op == "matmul":
        a, b = v.inputs
        return a.shape[-1:] == (B0,) and _is_row(b, B0)
    if v.op == "sum":
        return 0 in v.params.get("dims", ())
    if v.op == "sum_to":
        return not (len(v.shape) == 2 and v.shape[0] == B0)
    return False
