"""Reverse-mode accumulation over the recorded graph: ``backward`` and ``grad``.

The traversal is iterative (no recursion: a 10,000-step unrolled RNN is fine) and deterministic
(parents are ordered tuples, the topological order is a depth-first post-order over them).
Gradients are Tensors; with ``create_graph=True`` the backward rules run with recording on, so
the gradients themselves can be differentiated again.
"""

import sys

import numpy as np

from .grad_mode import STATE, set_grad_enabled
from .primitive import EDITS, PartialGrad, _check_finite
from .tensor import Tensor
from .tensor import _sh as _shape_ops  # minigrad.ops.shape (imported by tensor.py)


def topological_order(roots):
    """Tensors reachable from ``roots`` through recorded nodes, every tensor after all of its
    parents (a deterministic depth-first post-order over the ordered parents). Only tensors
    that require grad are listed."""
    order = []
    append = order.append
    seen = set()
    add = seen.add
    edits = EDITS
    for root in roots:
        if not root.requires_grad or id(root) in seen:
            continue
        add(id(root))
        node = root._node
        if node is None:
            append(root)
            continue
        stack = [(root, iter(node.inputs if node.epoch == edits[0] else
                             node.resolve_inputs()))]
        while stack:
            t, parents = stack[-1]
            for p in parents:
                if p.requires_grad and id(p) not in seen:
                    add(id(p))
                    node = p._node
                    if node is None:  # a leaf: no parents, it comes next in the post-order
                        append(p)
                        continue
                    stack.append((p, iter(node.inputs if node.epoch == edits[0] else
                                          node.resolve_inputs())))
                    break
            else:
                stack.pop()
                append(t)
    return order


def _seed(output, gradient, who):
    if gradient is None:
        if output._array.size != 1:
            raise RuntimeError(
                f"{who}: the output has shape {output.shape}; gradients can be implied only "
                "for outputs with one element. Pass gradient= (a tensor of the output's shape, "
                "e.g. mg.ones_like(out)), or reduce the output first (out.sum()).")
        out = output._array
        return Tensor._wrap(np.ones(out.shape, out.dtype))  # ones_like, without its dispatch
    g = gradient if isinstance(gradient, Tensor) else Tensor(gradient, dtype=output.dtype)
    if g.shape != output.shape:
        raise ValueError(f"{who}: gradient has shape {g.shape} but the output has shape "
                         f"{output.shape}")
    if g.dtype != output.dtype:
        g = g.to(output.dtype)
    return g


def _run(roots, seeds, retain_graph, create_graph, capture=None):
    """Propagate ``seeds`` from ``roots``. Without ``capture``, returns the list of
    ``(tensor, gradient)`` pairs to accumulate into ``.grad`` (``_write_leaves``) once the whole
    pass has succeeded; with ``capture`` (a dict id -> None of wanted tensors), returns it with
    the wanted gradients filled in."""
    if create_graph:
        return _run_tensors(roots, seeds, retain_graph, create_graph, capture)
    return _run_arrays(roots, seeds, retain_graph, capture)


def _wanted(order, capture):
    """The ids of the tensors in ``order`` from which a tensor in ``capture`` can be reached
    (None without ``capture``): only those need gradients."""
    if capture is None:
        return None
    wanted = set()
    for t in order:
        if id(t) in capture or any(id(p) in wanted for p in t.parents):
            wanted.add(id(t))
    return wanted


def _run_arrays(roots, seeds, retain_graph, capture):
    """``_run`` for a first-order pass (nothing recorded for the gradients): the gradients in
    flight are numpy arrays, wrapped in Tensors only where they leave the engine (hooks,
    ``.grad``, ``grad``'s results). A primitive's array rule (``backward_arrays``) runs when
    it has one, else its Tensor rule on a wrapped gradient; both give the same numbers."""
    order = topological_order(roots)
    wanted = _wanted(order, capture)
    grads = {}
    for r, s in zip(roots, seeds, strict=True):
        if r.requires_grad:
            k = id(r)
            grads[k] = _as_ndarray(grads[k] + s._array) if k in grads else s._array
    anomaly = STATE.anomaly
    collect = capture is None
    partials = {}
    sums = set()  # ids of the tensors whose gradient is a sum made here (added to in place)
    staged = []  # leaf gradients, written only once the whole pass has succeeded
    wrap = Tensor._wrap
    ndarray = np.ndarray
    edits = EDITS
    with set_grad_enabled(False):
        for t in reversed(order):
            k = id(t)
            g = grads.pop(k, None)
            if partials:
                parts = partials.pop(k, None)
                if parts is not None:
                    g = _densify_array(g, parts, t)
            if g is None:
                continue
            if t._hooks:
                gt = wrap(g)
                for hook in list(t._hooks):
                    new = hook(gt)
                    if new is not None:
                        gt = _check_hook_result(new, t)
                g = gt._array
                del gt
            if not collect and k in capture:
                capture[k] = wrap(g)
            node = t._node
            if node is None:
                if collect:
                    staged.append((t, wrap(g)))
                continue
            if t._retains_grad and collect:
                staged.append((t, wrap(g)))
            prim = node.prim
            if node.freed:
                raise RuntimeError(
                    f"backward: trying to go through the graph a second time (op "
                    f"{prim.name}); its saved values were freed after the first backward. "
                    "Pass retain_graph=True to the first backward (or grad) call.")
            rule = prim.backward_arrays
            if rule is None:
                if prim.backward is None:
                    raise NotImplementedError(f"backward: op {prim.name} has no backward rule")
                rule = _tensor_rule
            if node.epoch != edits[0]:
                node.check_versions()
            node._out = t  # for ctx.output(); cleared after, so no reference cycle stays
            if anomaly:  # the rule's own ops are not blamed: its results are checked below
                STATE.anomaly = False
                try:
                    in_grads = rule(node, g)
                finally:
                    STATE.anomaly = True
            else:
                in_grads = rule(node, g)
            node._out = None
            if not retain_graph:
                node.saved = None
                node.freed = True
            for inp, ig, need in zip(node.inputs, in_grads, node.needs_input_grad, strict=True):
                if not need or ig is None:
                    continue
                ki = id(inp)
                if wanted is not None and ki not in wanted:
                    continue
                ind = inp._array
                if type(ig) is not ndarray:
                    if type(ig) is PartialGrad:
                        if ig.shape != ind.shape:
                            raise RuntimeError(f"backward: op {prim.name} returned a gradient "
                                               f"of shape {ig.shape} for an input of shape "
                                               f"{ind.shape}")
                        if anomaly:
                            _check_finite(prim.name, "backward gradient", ig.values,
                                          node.scope)
                        partials.setdefault(ki, []).append(ig)
                        continue
                    ig = ig._array if isinstance(ig, Tensor) else np.asarray(ig)
                if ig.shape != ind.shape:
                    raise RuntimeError(f"backward: op {prim.name} returned a gradient of "
                                       f"shape {ig.shape} for an input of shape {ind.shape}")
                if ig.dtype is not ind.dtype and ig.dtype != ind.dtype:
                    ig = ig.astype(ind.dtype)
                if anomaly:
                    _check_finite(prim.name, "backward gradient", ig, node.scope)
                prev = grads.get(ki)
                if prev is None:
                    grads[ki] = ig
                elif ki in sums:  # a sum this loop made: nothing else has seen it yet
                    np.add(prev, ig, out=prev)
                else:
                    grads[ki] = _as_ndarray(prev + ig)
                    sums.add(ki)
    if collect:
        return staged
    return capture


def _tensor_rule(node, g):
    """A primitive's Tensor rule in a first-order pass: on the wrapped gradient, its results
    as they come (the engine takes the arrays of Tensors)."""
    return node.prim.backward(node, Tensor._wrap(g))


def _as_ndarray(a):
    """numpy gives scalars for 0-d sums: a gradient is always an ndarray."""
    return a if type(a) is np.ndarray else np.asarray(a)


def _densify_array(g, parts, t):
    """Sum a dense gradient array (or None) and a list of PartialGrads into one array of t's
    dtype (see ``_densify``). One partial gradient alone is written into the zeros, not added
    (the same numbers; a slice of a batch's states, h_n, ... in the common case)."""
    if g is None and len(parts) == 1 and parts[0].add is _shape_ops.scatter_add_into and (
            _shape_ops._is_basic(parts[0].index)):
        p = parts[0]
        out = np.zeros(t._array.shape, dtype=t._array.dtype)
        out[p.index] = p.values  # a basic index or a mask never repeats an entry
        return out
    out = np.zeros(t._array.shape, dtype=t._array.dtype) if g is None else np.array(
        g, dtype=t._array.dtype, order="C")
    for p in parts:
        p.add(out, p.values, p.index)
    return out


def _run_tensors(roots, seeds, retain_graph, create_graph, capture=None):
    """``_run`` with the gradients as Tensors and the Tensor rules (``create_graph=True``: the
    rules' ops are recorded, so the gradients can be differentiated again)."""
    order = topological_order(roots)
    wanted = _wanted(order, capture)
    grads = {}
    for r, s in zip(roots, seeds, strict=True):
        if r.requires_grad:
            grads[id(r)] = grads[id(r)] + s if id(r) in grads else s
    anomaly = STATE.anomaly
    collect = capture is None
    partials = {}
    staged = []  # leaf gradients, written only once the whole pass has succeeded
    with set_grad_enabled(create_graph):
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if partials:
                parts = partials.pop(id(t), None)
                if parts is not None:
                    g = _densify(g, parts, t)
            if g is None:
                continue
            if t._hooks:
                for hook in list(t._hooks):
                    new = hook(g)
                    if new is not None:
                        g = _check_hook_result(new, t)
            if not collect and id(t) in capture:
                capture[id(t)] = g
            node = t._node
            if node is None:
                if collect:
                    staged.append((t, g))
                continue
            if t._retains_grad and collect:
                staged.append((t, g))
            prim = node.prim
            if node.freed:
                raise RuntimeError(
                    f"backward: trying to go through the graph a second time (op "
                    f"{prim.name}); its saved values were freed after the first backward. "
                    "Pass retain_graph=True to the first backward (or grad) call.")
            if prim.backward is None:
                raise NotImplementedError(f"backward: op {prim.name} has no backward rule")
            node.check_versions()
            node._out = t  # for ctx.output(); cleared after, so no reference cycle stays
            if anomaly:  # the rule's own ops are not blamed: its results are checked below
                STATE.anomaly = False
                try:
                    in_grads = prim.backward(node, g)
                finally:
                    STATE.anomaly = True
            else:
                in_grads = prim.backward(node, g)
            node._out = None
            if not retain_graph:
                node.saved = None
                node.freed = True
            for inp, ig, need in zip(node.inputs, in_grads, node.needs_input_grad, strict=True):
                if not need or ig is None:
                    continue
                k = id(inp)
                if wanted is not None and k not in wanted:
                    continue
                if type(ig) is PartialGrad:
                    if ig.shape != inp._array.shape:
                        raise RuntimeError(f"backward: op {prim.name} returned a gradient of "
                                           f"shape {ig.shape} for an input of shape "
                                           f"{inp._array.shape}")
                    if anomaly:
                        _check_finite(prim.name, "backward gradient", ig.values, node.scope)
                    partials.setdefault(k, []).append(ig)
                    continue
                igd, ind = ig._array, inp._array
                if igd.shape != ind.shape:
                    raise RuntimeError(f"backward: op {prim.name} returned a gradient of "
                                       f"shape {igd.shape} for an input of shape {ind.shape}")
                if igd.dtype is not ind.dtype and igd.dtype != ind.dtype:
                    ig = ig.to(ind.dtype)
                if anomaly:
                    _check_finite(prim.name, "backward gradient", ig._array, node.scope)
                prev = grads.get(k)
                if prev is None:
                    grads[k] = ig
                elif create_graph:
                    grads[k] = prev + ig
                else:
                    grads[k] = Tensor._wrap(prev._array + ig._array)
    if collect:
        return staged
    return capture


def _write_leaves(staged, create_graph):
    """Accumulate the staged ``(tensor, gradient)`` pairs into ``.grad``. Called after ``_run``
    has returned, so that only this frame and the list reach a gradient (``_exclusive``)."""
    staged.reverse()
    with set_grad_enabled(create_graph):
        while staged:  # popped: the list keeps no reference to a gradient it hands on
            t, g = staged.pop()
            _accumulate_leaf(t, g, create_graph)


def _densify(g, parts, t):
    """Sum a dense gradient (or None) and a list of PartialGrads into one Tensor of t's dtype."""
    # C order: the partial gradients' scatter works on row views of ``out`` (a gradient that
    # arrived transposed would otherwise give a copy, and the rows' sums would be lost)
    out = np.zeros(t._array.shape, dtype=t._array.dtype) if g is None else np.array(
        g._array, dtype=t._array.dtype, order="C")
    for p in parts:
        p.add(out, p.values, p.index)
    return Tensor._wrap(out)


def _check_hook_result(new, t):
    if not isinstance(new, Tensor) or new.shape != t.shape:
        raise ValueError(f"register_hook: a hook must return None or a Tensor of shape "
                         f"{t.shape}, got {getattr(new, 'shape', type(new).__name__)}")
    return new


def _exclusive(g, t):
    """True when nothing but the engine's own references reach the gradient ``g`` and its array
    (a fresh result of a backward rule): ``.grad`` may then take that array instead of a copy.
    The reference counts of such a gradient on this path (``_write_leaves`` ->
    ``_accumulate_leaf`` -> here) are measured once at import (``_calibrate``), so that the
    test does not depend on how the interpreter counts references to locals. An array that is
    a view, shared by another tensor (add's rule hands one gradient to both inputs), kept by a
    hook or given by the caller (``backward(gradient=...)``) has more, and is copied."""
    a = g._array
    counts = sys.getrefcount(g), sys.getrefcount(a)
    if _LIMITS is None:  # calibrating: this gradient is exclusive by construction
        _CALIBRATION.append(counts)
        return False
    return (a.dtype == t.dtype and a.base is None and a.flags.writeable and a.flags.owndata
            and counts[0] <= _LIMITS[0] and counts[1] <= _LIMITS[1])


_LIMITS = None
_CALIBRATION = []


def _calibrate():
    """The reference counts ``_exclusive`` sees for a gradient held only by the staged list."""
    leaf = Tensor._wrap(np.zeros(1), True)
    _write_leaves([(leaf, Tensor._wrap(np.ones(1)))], False)
    return _CALIBRATION.pop()


def _accumulate_leaf(t, g, create_graph):
    # Without create_graph only g's array is read below: no detached copy of g is needed.
    if t.grad is None:
        # Own the buffer: later in-place accumulation must not write into a graph value.
        if create_graph:
            t.grad = g
        elif _exclusive(g, t):
            t.grad = Tensor._wrap(g._array)  # the rule's fresh array, as PyTorch takes it
        else:
            t.grad = Tensor._wrap(np.array(g._array, dtype=t.dtype))
    elif create_graph:
        t.grad = t.grad + g
    elif t.grad.requires_grad or not t.grad._array.flags.writeable:
        # .grad is a graph value from an earlier create_graph pass: never write into it
        t.grad = Tensor._wrap(t.grad._array + g._array)
    else:
        t.grad._array += g._array
        t.grad._bump_version()


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` (a Tensor or a sequence) into the leaves' ``.grad``.

    ``inputs``, when given, limits accumulation to those tensors.
    """
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor) or (
            isinstance(grad_tensors, np.ndarray)):
        grad_tensors = [grad_tensors] * len(roots) if grad_tensors is None else [grad_tensors]
    if len(grad_tensors) != len(roots):
        raise ValueError(f"backward: got {len(roots)} outputs but {len(grad_tensors)} gradients")
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError(
                "backward: the tensor does not require grad and has no graph (was it made "
                "under mg.no_grad(), or from tensors without requires_grad=True?)")
    seeds = [_seed(r, g, "backward") for r, g in zip(roots, grad_tensors, strict=True)]
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        got = _run(roots, seeds, retain_graph, create_graph, {id(t): None for t in inputs})
        for t in inputs:
            if got[id(t)] is not None:
                _accumulate_leaf(t, got[id(t)], create_graph)
        return
    _write_leaves(_run(roots, seeds, retain_graph, create_graph), create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Return d(outputs)/d(inputs) (times ``grad_outputs``) as a tuple of Tensors, without
    touching any ``.grad``. An input the outputs do not depend on raises unless
    ``allow_unused=True``, in which case its entry is ``None``."""
    single_out = isinstance(outputs, Tensor)
    roots = [outputs] if single_out else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(roots) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(roots):
        raise ValueError(f"grad: got {len(roots)} outputs but {len(grad_outputs)} grad_outputs")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError("grad: an output does not require grad and has no graph")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed(r, g, "grad") for r, g in zip(roots, grad_outputs, strict=True)]
    got = _run(roots, seeds, retain_graph, create_graph, {id(t): None for t in ins})
    result = []
    for i, t in enumerate(ins):
        g = got[id(t)]
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
        if g is not None and not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)


_LIMITS = _calibrate()
