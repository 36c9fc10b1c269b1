"""A cell compiled for one dtype, and the primitive ``cell_fused`` that runs it over a
sequence.

``compile_cell(cell, dtype)`` traces the step (``graph``), splits it (``lower``), generates
the forward and backward kernels (``codegen``) and keeps the result on the cell, per dtype.
``run(compiled, cell, x, states0, lengths, reverse)`` evaluates the weight-level part and
the input-level part (over all T B rows) through the engine and the state-level part
through ``cell_fused``, whose backward runs the generated backward kernel and then the sums
over rows (weight and bias gradients) once over all steps.

``cell_fused`` is first order only, as ``rnn_fused`` is: differentiating its gradient
(``create_graph=True``) raises and points to ``fused=False``.
"""

import numpy as np

import minigrad as mg
from minigrad.symbolic import rules_check
from models.rnn.kernels import family as families
from models.rnn.kernels import launch, operands
from models.rnn.kernels.launch import pooled_empty

from .codegen import generate
from .graph import rebatch, replay, replay_arrays, trace
from .loader import load
from .lower import lower_backward, lower_forward

_SECOND_ORDER = (
    "cell_fused: a compiled cell is first order only; its backward pass is one generated "
    "kernel that cannot itself "
    "be differentiated, so create_graph=True (double backward, Hessian-vector products, "
    "gradient penalties) is not supported through it. Build the layer with fused=False.")

cell_fused_p = mg.Primitive("cell_fused", has_residuals=True)


class CompiledCell:
    """The plans and kernels of one cell in one dtype."""

    def __init__(self, cell, dtype, masked=False):
        who = type(cell).__name__
        self.who, self.dtype = who, np.dtype(dtype)
        self.graph = trace(cell, dtype, masked)
        self.fplan = lower_forward(self.graph)
        self.bplan = lower_backward(self.fplan)
        self.fplan.program.outputs = list(self.bplan.saved)
        n_seq, n_saved = len(self.fplan.seq), len(self.bplan.saved)
        B0 = self.graph.batch
        self.fsource, self.fspec = generate(self.fplan.program, B0, n_seq, 0, True, who)
        self.bsource, self.bspec = generate(self.bplan.program, B0, n_seq, n_saved, False,
                                            who)
        self.fkernel = load(self.fsource)
        self.bkernel = load(self.bsource)
        self.state_count = len(self.graph.states)
        self.hidden_size = self.graph.hidden_size
        # where each product's weight comes from: (parameter name, view ops), or None; its
        # packed form is then kept from call to call until the parameter changes
        self.fchains = [_chain(self.fplan.weights[k], {}) for _, k in self.fspec.products]
        self.bchains = [_chain(self.bplan.program.weights[k], self.bplan.fwd)
                        for _, k in self.bspec.products]
        self.constants = [v for v in self.graph.values if v.origin in ("const", "captured")]
        self._refs = None
        fwd_weights = {id(v): k for k, v in enumerate(self.fplan.weights)}
        # the backward's leaves that stand for the forward's weights, and its constants
        self.bweight_leaves = [(v, fwd_weights[id(f)]) for v, f in self.bplan.fwd.items()
                               if not f.row and id(f) in fwd_weights]
        self.bconstants = [v for v in _leaves(self.bplan.weight_prelude + self.bplan.post
                                              + [n for r in self.bplan.reductions for n in r.nodes])
                           if v.origin == "const"]
        self.bconstants += [v for v in self.bplan.program.weights
                            if v.origin == "const" and v not in self.bconstants]
        for v, f in self.bplan.fwd.items():  # a constant of the forward read by the backward
            if not f.row and id(f) not in fwd_weights and f.tensor is not None:
                self.bconstants.append(v)
                v.tensor = f.tensor
        self.bweight_source = []  # per backward weight: ('fwd', k) | ('value', Value)
        for v in self.bplan.program.weights:
            f = self.bplan.fwd.get(v)
            if f is not None and id(f) in fwd_weights:
                self.bweight_source.append(("fwd", fwd_weights[id(f)]))
            else:
                self.bweight_source.append(("value", v))


    def param_refs(self, cell):
        """(Value, module, attribute) of every parameter the step reads (looked up by
        attribute at each call, so a parameter replaced by another object is seen)."""
        if self._refs is None:
            refs = []
            for v in self.graph.values:
                if v.origin == "param":
                    *path, attr = v.name.split(".")
                    module = cell
                    for part in path:
                        module = getattr(module, part)
                    refs.append((v, module, attr))
            self._refs = refs
        return self._refs


def compile_cell(cell, dtype, masked=False):
    """The CompiledCell of ``cell`` for ``dtype`` (``masked``: with a recurrent-dropout mask
    on the first state), made on first use and kept on the cell."""
    kept = cell.__dict__.setdefault("_compiled", {})
    found = kept.get((dtype, masked))  # a dtype object as given: no name lookup per call
    if found is None:
        key = (np.dtype(dtype).name, bool(masked))
        if key not in kept:
            kept[key] = CompiledCell(cell, dtype, masked)
        found = kept[(dtype, masked)] = kept[key]
    return found


def run(compiled, cell, x, states0, lengths=None, reverse=False, mask=None):
    """One layer-direction: x (T, B, I) Tensor, states0 a tuple of (B, H) Tensors ->
    (S, T, B, H) Tensor of every state after every step (original time order; a sequence
    past its end holds its last state, or with ``reverse`` its initial one). mask: (B, H)
    array multiplying the first state where it enters each step (compiled ``masked``)."""
    if not mg.is_grad_enabled():
        return _run_arrays(compiled, cell, x, states0, lengths, reverse, mask)
    inputs, params = primitive_inputs(compiled, cell, x, states0, lengths, reverse, mask)
    return mg.bind(cell_fused_p, *inputs, **params)


def run_sequence(cell, x, states0, lengths=None, reverse=False, mask=None, valid=None):
    """``cell`` compiled for x's dtype and run over x (T, B, I) -> (S, T, B, H) (see ``run``).
    valid: (T, B, 1) bool Tensor of the steps inside each sequence (made from ``lengths``
    when not given); x is zero past a sequence's end, so that nothing flows there."""
    if lengths is not None:
        if valid is None:
            T = x.shape[0]
            valid = mg.as_tensor((np.arange(T)[:, None] < np.asarray(lengths)[None, :])
                                 [:, :, None])
        x = mg.where(valid, x, mg.zeros((), dtype=x.dtype))
    compiled = compile_cell(cell, x.dtype, masked=mask is not None)
    return run(compiled, cell, x, states0, lengths, reverse, mask)


def _run_arrays(compiled, cell, x, states0, lengths, reverse, mask):
    """``run`` without gradient recording: the weight- and input-level values through each
    primitive's forward rule on arrays (no Tensor, no bind per op), then the kernel."""
    T, B = x.shape[0], x.shape[1]
    graph, plan = compiled.graph, compiled.fplan
    env, params = {}, {}
    for v, module, attr in compiled.param_refs(cell):
        params[v.name] = p = getattr(module, attr)
        env[v] = p.numpy()
    for v in compiled.constants:
        env[v] = v.tensor.numpy()
    if graph.x is not None:
        env[graph.x] = x.numpy().reshape(T * B, x.shape[2])
    if graph.mask is not None:
        env[graph.mask] = _mask_rows(compiled, mask, T, B)
    replay_arrays(plan.prelude, env)
    replay_arrays(plan.hoisted, env, batch=graph.batch, rows=T * B)
    seq = [env[v].reshape((T, B) + tuple(v.shape[1:])) for v in plan.seq]
    weights = [env[v] for v in plan.weights]
    lens = np.full(B, T, np.int64) if lengths is None else np.asarray(lengths, np.int64)
    keys = _operand_keys(compiled.fchains, params)
    hist, _ = _forward(*seq, *weights, *[s.numpy() for s in states0], compiled=compiled,
                       lengths=lens, reverse=bool(reverse), save=False, steps=T, keys=keys)
    return mg.from_numpy(hist)


def primitive_inputs(compiled, cell, x, states0, lengths=None, reverse=False, mask=None):
    """``run``'s call of ``cell_fused``: its input Tensors (the input-level values (T, B, w),
    the weight-level values, the initial states) and its parameters."""
    T, B = x.shape[0], x.shape[1]
    graph, plan = compiled.graph, compiled.fplan
    env = {}
    params = {}
    for v, module, attr in compiled.param_refs(cell):
        env[v] = params[v.name] = getattr(module, attr)
    for v in compiled.constants:
        env[v] = v.tensor
    if graph.x is not None:
        env[graph.x] = mg.reshape(x, (T * B, x.shape[2]))
    if graph.mask is not None:
        env[graph.mask] = mg.from_numpy(_mask_rows(compiled, mask, T, B))
    replay(plan.prelude, env)
    replay(plan.hoisted, env, batch=graph.batch, rows=T * B)
    seq = [mg.reshape(env[v], (T, B) + tuple(v.shape[1:])) for v in plan.seq]
    weights = [env[v] for v in plan.weights]
    lens = np.full(B, T, np.int64) if lengths is None else np.asarray(lengths, np.int64)
    save = mg.is_grad_enabled() and any(t.requires_grad for t in seq + weights + list(states0))
    keys = _operand_keys(compiled.fchains + compiled.bchains, params)
    return [*seq, *weights, *states0], dict(compiled=compiled, lengths=lens,
                                             reverse=bool(reverse), save=save, steps=T,
                                             keys=keys)


def _mask_rows(compiled, mask, T, B):
    """The (B, H) recurrent-dropout mask as input-level rows (T B, H), the same at every step."""
    rows = np.broadcast_to(np.asarray(mask, compiled.dtype), (T, B, mask.shape[-1]))
    return np.ascontiguousarray(rows).reshape(T * B, -1)


def _operand_keys(chains, params):
    """{parameter name: (operands key, its array)} of the parameters the products' weights
    are views of (``chains``), so that their packed forms are kept from call to call."""
    keys = {}
    for chain in chains:
        if chain is not None and chain[0] not in keys:
            p = params[chain[0]]
            keys[chain[0]] = (operands.key(p), p.numpy())
    return keys


def _split(compiled, arrays):
    n_seq, n_w = len(compiled.fplan.seq), len(compiled.fplan.weights)
    return (list(arrays[:n_seq]), list(arrays[n_seq:n_seq + n_w]),
            list(arrays[n_seq + n_w:]))


def _chain(v, fwd):
    """(parameter name, the view ops from it to ``v``) when ``v`` is a parameter seen through
    transposes, slices and reshapes only (``fwd``: backward leaves -> forward Values), else
    None."""
    ops = []
    while True:
        if v.origin == "fwd":
            v = fwd[v]
            continue
        if v.origin == "param":
            return v.name, tuple(reversed(ops))
        if v.origin != "op" or v.op not in ("permute", "getitem", "reshape") or len(
                v.inputs) != 1:
            return None
        ops.append((v.op, repr(sorted(v.params.items()))))
        v = v.inputs[0]


def _operands(fam, spec, weights, chains=None, keys=None):
    """Per product: its weight's packed panels and C-contiguous form (``matmul_into``), kept
    per parameter and version when the weight is a view of one (``chains``, ``keys``)."""
    ops, pads = [], []
    for n, (_v, k) in enumerate(spec.products):
        w = weights[k]
        source = None
        chain = chains[n] if chains is not None else None
        if chain is not None and keys and chain[0] in keys:
            key, array = keys[chain[0]]
            if key is not None:
                source = (key, ("cell",) + chain[1], array)
        wp, wt = launch._operand(fam, w, source)
        ops += [wp, wt]
        pads.append(fam.padded_cols(w.shape[1], w.dtype))
    return ops, np.asarray(pads, np.int64)


def _vectors(weights):
    return [np.ascontiguousarray(w).reshape(-1) for w in weights]


@cell_fused_p.def_forward
def _forward(*arrays, compiled, lengths, reverse, save, steps, keys=None):
    seq, weights, h0 = _split(compiled, arrays)
    dtype = compiled.dtype
    seq = [np.ascontiguousarray(a, dtype) for a in seq]
    weights = [np.asarray(w, dtype) for w in weights]
    h0 = [np.ascontiguousarray(h, dtype) for h in h0]
    T, B, H, S = steps, lengths.shape[0], compiled.hidden_size, compiled.state_count
    fam = families.active()
    ops, pads = _operands(fam, compiled.fspec, weights, compiled.fchains, keys)
    # every state with the initial one at its place (see ``codegen.generate``): the states
    # before each step are then one slice of it for the backward's weight gradients
    hist = pooled_empty((S, T + 1, B, H), dtype)
    first = T if reverse else 0
    for i in range(S):
        hist[i, first] = h0[i]
    saved_values = compiled.fplan.program.outputs
    # without save, one row per value, reused at every step: small, not worth the pool
    outs = [pooled_empty((T, B, _width(v)), dtype) if save else np.empty((1, B, _width(v)),
                                                                          dtype)
            for v in saved_values]
    fin = [np.empty((B, H), dtype) for _ in range(S)]
    compiled.fkernel(fam.token, lengths, reverse, save, *h0, hist, _dummy(dtype), *seq,
                     *_vectors(weights), *ops, pads, *outs, *fin)
    res = None
    if save:
        res = {"seq": seq, "weights": weights, "hist": hist, "saved": outs}
    return (hist[:, :T] if reverse else hist[:, 1:]), res


def _width(v):
    return v.shape[1] if len(v.shape) == 2 else 1


_DUMMIES = {}


def _dummy(dtype):
    d = _DUMMIES.get(dtype)
    if d is None:
        d = _DUMMIES[dtype] = np.zeros((1, 1, 1, 1), dtype)
    return d


@cell_fused_p.def_backward
def _backward(ctx, g):
    if mg.is_grad_enabled():
        raise RuntimeError(_SECOND_ORDER)
    res = ctx.saved
    if res is None:
        raise RuntimeError("cell_fused: the forward pass saved nothing for backward")
    compiled, lengths = ctx.params["compiled"], ctx.params["lengths"]
    reverse = ctx.params["reverse"]
    grads = backward_arrays(compiled, res, np.ascontiguousarray(g.numpy(), compiled.dtype),
                            lengths, reverse, ctx.params.get("keys"))
    return tuple(None if a is None else mg.from_numpy(a) for a in grads)


def backward_arrays(compiled, res, gout, lengths, reverse, keys=None):
    """The gradients w.r.t. (seq..., weights..., states0...) as arrays (None: zero)."""
    bplan, dtype = compiled.bplan, compiled.dtype
    seq, weights, hist, saved = res["seq"], res["weights"], res["hist"], res["saved"]
    S, T, B, H = gout.shape
    sh = 0 if reverse else 1
    fam = families.active()
    # weight-level values of the backward kernel (transposes of the weights, ...)
    env = {v: weights[k] for v, k in compiled.bweight_leaves}
    for v in compiled.bconstants:
        env[v] = v.tensor.numpy()
    replay_arrays(bplan.weight_prelude, env)
    bweights = []
    for v, (kind, k) in zip(bplan.program.weights, compiled.bweight_source, strict=True):
        bweights.append(weights[k] if kind == "fwd" else np.asarray(env[v], dtype))
    ops, pads = _operands(fam, compiled.bspec, bweights, compiled.bchains, keys)
    outs = [pooled_empty((T, B, _width(v)), dtype) for v in bplan.program.outputs]
    zeros = [np.zeros((B, H), dtype) for _ in range(S)]
    fin = [np.empty((B, H), dtype) for _ in range(S)]
    compiled.bkernel(fam.token, lengths, reverse, True, *zeros, hist, gout, *seq, *saved,
                     *_vectors(bweights), *ops, pads, *outs, *fin)
    out_index = {id(v): k for k, v in enumerate(bplan.program.outputs)}

    def rows_of(v):
        if id(v) in out_index:
            a = outs[out_index[id(v)]]
        else:
            kind, i, offset = bplan.sources[v]
            if kind == "hist":
                a = hist[i, sh:sh + T]
            elif kind == "prev":
                a = hist[i, 1 - sh:1 - sh + T]
            elif kind == "seq":
                a = seq[i]
            else:
                a = saved[i]
            a = a[:, :, offset:offset + _width(v)]
        return np.ascontiguousarray(a).reshape((T * B,) + a.shape[2:])

    for r in bplan.reductions:
        for v in r.rows:
            env[v] = rows_of(v)
        replay_arrays(r.nodes, env, batch=compiled.graph.batch, rows=T * B)
    replay_arrays(bplan.post, env)
    result = []
    for k, gv in enumerate(bplan.grads["seq"]):
        result.append(None if gv is None else outs[out_index[id(gv)]].reshape(seq[k].shape))
    for k, gv in enumerate(bplan.grads["weight"]):
        if gv is None:
            result.append(None)
        else:
            result.append(np.asarray(env[gv], dtype).reshape(weights[k].shape))
    result += fin
    return result


def _leaves(values):
    for v in values:
        for i in v.inputs:
            if i.origin != "op":
                yield i


@cell_fused_p.def_symbolic
def _symbolic(*arrays, compiled, lengths, reverse, save, steps, keys=None):
    """The compiled step replayed on object arrays of sympy expressions, step by step, with
    every primitive's own symbolic rule: the same recurrence as the unrolled graph."""
    from minigrad.ops.sym import sym_constant
    from minigrad.primitive import REGISTRY

    seq, weights, h0 = _split(compiled, [np.asarray(a, dtype=object) for a in arrays])
    prog, B0 = compiled.fplan.program, compiled.graph.batch
    T, B = steps, lengths.shape[0]
    S, H = compiled.state_count, compiled.hidden_size
    hist = np.empty((S, T, B, H), dtype=object)
    state = list(h0)
    consts = {}
    for v in prog.nodes:
        for i in v.inputs:
            if i.origin == "const":
                consts[i] = sym_constant(i.tensor.numpy())
    for s in range(T):
        t = T - 1 - s if reverse else s
        env = dict(consts)
        env.update({v: seq[k][t] for v, (_, k, _) in prog.inputs})
        env.update(zip(prog.weights, weights, strict=True))
        env.update(zip(prog.carries, state, strict=True))
        for v in prog.nodes:
            ins = [env[i] for i in v.inputs]
            if v.op == "copy":
                env[v] = ins[0]
                continue
            params = rebatch(v.params, B0, B)
            env[v] = np.asarray(REGISTRY[v.op].symbolic(*ins, **params), dtype=object)
        new = [np.array(env[o], dtype=object) for o in prog.carry_next]
        for b in range(B):
            if t >= lengths[b]:
                for i in range(S):
                    new[i][b] = state[i][b]
        for i in range(S):
            hist[i, t] = new[i]
        state = new
    return hist


def _rule_check_sample(rng):
    """The point at which ``minigrad.symbolic.rules_check`` checks ``cell_fused``: the
    built-in tanh RNN cell (3 inputs, 5 units, compiled once for the tests too), 2 steps of
    one sequence, float64."""
    from models.rnn.cells import RNNCell

    cell = RNNCell(3, 5, dtype=mg.float64)
    for p in cell.parameters():
        p.numpy()[...] = rng.uniform(-0.8, 0.8, p.shape)
    x = mg.tensor(rng.standard_normal((2, 1, 3)))
    h0 = mg.tensor(rng.uniform(-0.5, 0.5, (1, 5)))
    with mg.no_grad():
        inputs, params = primitive_inputs(compile_cell(cell, mg.float64), cell, x, (h0,))
    return [t.numpy() for t in inputs], dict(params, save=True, keys={})


rules_check.register_sample("cell_fused")(_rule_check_sample)
