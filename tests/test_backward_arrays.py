"""The first-order array rules (``Primitive.def_backward_arrays``) give the Tensor rules' numbers.

A first-order pass (``create_graph=False``) runs a primitive's array rule when it has one and its
Tensor rule otherwise. Each array rule calls the same array functions the Tensor rule's ops bind,
so the two must agree bit for bit: per rule on hand-made cases (every primitive with an array
rule needs one, ``test_every_array_rule_has_a_case``), and per whole pass on random graphs of
the fuzz generator (the engine's array path against the same pass with every array rule
switched off).
"""

import contextlib

import fuzz_graphs as fg
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import primitive
from minigrad.nn import functional as F  # noqa: N812 - PyTorch's name

RNG = np.random.default_rng(0)


def _t(*shape, dtype=np.float64, low=-2.0, high=2.0, grad=True):
    return mg.tensor(RNG.uniform(low, high, shape).astype(dtype), requires_grad=grad)


def _pos(*shape, dtype=np.float64):
    return _t(*shape, dtype=dtype, low=0.5, high=2.0)


def _lstm_call(dtype):
    import models
    layer = models.LSTM(3, 4, batch_first=True, dtype=dtype)
    out, _ = layer(_t(2, 5, 3, dtype=dtype))
    return out


# name -> functions making an output whose node is the primitive under test
CASES = {
    "add": [lambda: _t(3, 4) + _t(4), lambda: _t(3, 1) + _t(1, 4),
            lambda: _t(2, 3, dtype=np.float32) + 0.5, lambda: _t() + _t(2, 2)],
    "sub": [lambda: _t(3, 4) - _t(3, 1), lambda: 1.5 - _t(2, 3), lambda: _t(4) - _t(2, 4)],
    "mul": [lambda: _t(3, 4) * _t(4), lambda: _t(2, 1, 3) * _t(4, 1),
            lambda: _t(2, 3, dtype=np.float32) * 2.0, lambda: _t() * _t()],
    "div": [lambda: _t(3, 4) / _pos(4), lambda: _t(3, 1) / _pos(1, 4),
            lambda: 2.0 / _pos(3, dtype=np.float32)],
    "neg": [lambda: -_t(3, 4)],
    "exp": [lambda: mg.exp(_t(3, 4)), lambda: mg.exp(_t(5, dtype=np.float32))],
    "log": [lambda: mg.log(_pos(3, 4))],
    "tanh": [lambda: mg.tanh(_t(3, 4)), lambda: mg.tanh(_t(7, dtype=np.float32))],
    "sigmoid": [lambda: mg.sigmoid(_t(3, 4)), lambda: mg.sigmoid(_t(2, 3, dtype=np.float32))],
    "relu": [lambda: mg.relu(_t(3, 4)), lambda: mg.relu(mg.tensor([-1.0, 0.0, 2.0],
                                                                 requires_grad=True))],
    "leaky_relu": [lambda: F.leaky_relu(_t(3, 4), 0.2)],
    "pow_scalar": [lambda: _pos(3, 4) ** 0, lambda: _pos(3) ** 1, lambda: _t(3, 4) ** 2,
                   lambda: _pos(3, 4) ** 3, lambda: _pos(5, dtype=np.float32) ** 0.5,
                   lambda: _pos(2, 2) ** -1.5],
    "cast": [lambda: _t(3, dtype=np.float32).to(mg.float64),
             lambda: _t(3).to(mg.float32)],
    "sum": [lambda: _t(3, 4).sum(), lambda: _t(3, 4).sum(dim=1), lambda: _t(2, 3, 4).sum(
        dim=(0, 2), keepdim=True), lambda: _t(2, 3).sum(dim=0, keepdim=False)],
    "sum_to": [lambda: mg.ops.reduce.sum_to(_t(3, 4), (1, 4)),
               lambda: mg.ops.reduce.sum_to(_t(2, 3, 4), (3, 1))],
    "reshape": [lambda: _t(3, 4).reshape(2, 6), lambda: _t(6).reshape(1, 6, 1)],
    "permute": [lambda: _t(2, 3, 4).permute(2, 0, 1), lambda: _t(3, 4).T],
    "expand": [lambda: _t(3, 1).expand(3, 4), lambda: _t(4).expand(2, 3, 4)],
    "getitem": [lambda: _t(4, 5)[1:3], lambda: _t(4, 5)[:, 2], lambda: _t(4, 5)[[0, 2, 0]],
                lambda: _t(3, 4)[mg.tensor([[True, False, True, False]] * 3)]],
    "concat": [lambda: mg.cat([_t(2, 3), _t(1, 3, grad=False), _t(4, 3)]),
               lambda: mg.cat([_t(2, 3), _t(2, 2)], dim=1)],
    "matmul": [lambda: _t(3, 4) @ _t(4, 5), lambda: _t(2, 3, 4) @ _t(4, 2),
               lambda: _t(3, 4, dtype=np.float32) @ _t(4, 2, dtype=np.float32),
               lambda: _t(4) @ _t(4, 3), lambda: _t(3, 4, grad=False) @ _t(4, 2)],
    "linear": [lambda: F.linear(_t(5, 3), _t(4, 3), _t(4)), lambda: F.linear(_t(5, 3), _t(4, 3)),
               lambda: F.linear(_t(2, 3, dtype=np.float32), _t(4, 3, dtype=np.float32),
                                _t(4, dtype=np.float32))],
    "rnn_fused": [lambda: _lstm_call(np.float64), lambda: _lstm_call(np.float32)],
    "softmax": [lambda: F.softmax(_t(3, 5), dim=1), lambda: F.softmax(_t(3, 5), dim=0),
                lambda: F.softmax(_t(2, 7, dtype=np.float32), dim=-1)],
    "log_softmax": [lambda: F.log_softmax(_t(3, 5), dim=1), lambda: F.log_softmax(_t(3, 5), dim=0),
                    lambda: F.log_softmax(_t(4, 9, dtype=np.float32), dim=-1)],
    "nll_loss": [lambda: F.nll_loss(_t(4, 5), mg.tensor([1, 0, 4, 1])),
                 lambda: F.nll_loss(_t(4, 5), mg.tensor([1, -100, 4, 1]), reduction="sum"),
                 lambda: F.nll_loss(_t(4, 5, dtype=np.float32), mg.tensor([2, 0, 4, 1]),
                                    reduction="none")],
    "cross_entropy": [lambda: F.cross_entropy(_t(4, 5), mg.tensor([1, 0, 4, 1])),
                      lambda: F.cross_entropy(_t(4, 5, dtype=np.float32), mg.tensor([1, 3, 4, 2]),
                                              ignore_index=3, reduction="sum")],
    "embedding": [lambda: F.embedding(mg.tensor([[1, 2], [2, 0]]), _t(4, 3)),
                  lambda: F.embedding(mg.tensor([1, 2, 1, 0]), _t(4, 3, dtype=np.float32),
                                      padding_idx=1)],
}


def _node_of(out, name):
    """The node of primitive ``name`` nearest to ``out`` (going up through first inputs)."""
    t = out
    while t._node is not None:
        if t._node.prim.name == name:
            return t
        t = next(p for p in t._node.inputs if p.requires_grad)
    raise AssertionError(f"no {name} node above the case's output")


def _dense(result, inp):
    """A rule's gradient for ``inp`` as a dense array (None stays None)."""
    if result is None:
        return None
    if isinstance(result, primitive.PartialGrad):
        out = np.zeros(result.shape, inp.dtype)
        result.add(out, result.values, result.index)
        return out
    return np.asarray(result._array if isinstance(result, mg.Tensor) else result)


def _both_rules(t):
    node = t._node
    g = RNG.standard_normal(t.shape).astype(t.dtype)
    node._out = t
    try:
        with mg.no_grad():
            by_tensors = node.prim.backward(node, mg.Tensor._wrap(g.copy()))
            by_arrays = node.prim.backward_arrays(node, g.copy())
    finally:
        node._out = None
    return node, by_tensors, by_arrays


@pytest.mark.parametrize("name,k", [(n, k) for n, fns in CASES.items()
                                    for k in range(len(fns))])
def test_array_rule_equals_tensor_rule(name, k):
    out = CASES[name][k]()
    t = _node_of(out, name)
    node, by_tensors, by_arrays = _both_rules(t)
    assert len(by_tensors) == len(by_arrays) == len(node.inputs)
    for i, (a, b, inp) in enumerate(zip(by_tensors, by_arrays, node.inputs, strict=True)):
        a, b = _dense(a, inp), _dense(b, inp)
        if not node.needs_input_grad[i]:
            continue
        assert (a is None) == (b is None), f"{name} input {i}"
        if a is not None:
            assert a.shape == b.shape and a.dtype == b.dtype, f"{name} input {i}"
            np.testing.assert_array_equal(a, b, err_msg=f"{name} input {i}")


def test_every_array_rule_has_a_case():
    import models  # noqa: F401 - registers the models' primitives
    with_rule = {name for name, p in primitive.REGISTRY.items() if p.backward_arrays}
    assert with_rule == set(CASES), (with_rule ^ set(CASES))


@contextlib.contextmanager
def _tensor_rules_only():
    saved = {name: p.backward_arrays for name, p in primitive.REGISTRY.items()}
    try:
        for p in primitive.REGISTRY.values():
            p.backward_arrays = None
        yield
    finally:
        for name, rule in saved.items():
            primitive.REGISTRY[name].backward_arrays = rule


def _first_order(graph, vs):
    leaves = fg.mg_leaves(graph)
    nodes = fg.run(graph, "mg", leaves)
    outs = [nodes[o] for o in graph.outputs]
    live = [(o, v) for o, v in zip(outs, vs, strict=True) if o.requires_grad]
    if not live:
        return None
    total = sum((o * mg.tensor(v, dtype=o.dtype)).sum() for o, v in live)
    total.backward()
    return [None if t.grad is None else t.grad.numpy().copy()
            for t, g in zip(leaves, graph.grad_leaves, strict=True) if g]


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(["smooth", "grid", "ties"]),
       st.sampled_from(["float64", "float32"]))
def test_first_order_pass_equals_tensor_rules_on_random_graphs(data, mode, dtype):
    graph = fg.random_graph(fg.HypothesisChooser(data), mode=mode, max_steps=6, dtype=dtype)
    if graph is None:
        from hypothesis import reject
        reject()
    vs = [np.random.default_rng(1).standard_normal(s) for s in fg.output_shapes(graph)]
    with np.errstate(all="ignore"):
        try:
            fast = _first_order(graph, vs)
        except Exception as err:  # the same error must come from both paths
            with _tensor_rules_only(), pytest.raises(type(err)):
                _first_order(graph, vs)
            return
        with _tensor_rules_only():
            slow = _first_order(graph, vs)
    if fast is None:
        assert slow is None
        return
    for a, b in zip(fast, slow, strict=True):
        assert (a is None) == (b is None), graph.describe()
        if a is not None:
            assert a.dtype == b.dtype, graph.describe()
            np.testing.assert_array_equal(a, b, err_msg=graph.describe())


def test_hooks_retain_grad_and_grad_see_the_same_values_on_both_paths():
    def run():
        x = mg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
        w = mg.tensor(np.linspace(0.5, 2, 3), requires_grad=True)
        seen = []
        y = mg.tanh(x * w)
        y.retain_grad()
        y.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 2)
        z = (y.sum(dim=1) ** 2).sum() + y[0].sum()
        gx, = mg.grad(z, [x], retain_graph=True)
        z.backward()
        return [gx.numpy(), x.grad.numpy(), w.grad.numpy(), y.grad.numpy()] + seen

    fast = run()
    with _tensor_rules_only():
        slow = run()
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)
