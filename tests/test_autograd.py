"""The engine: backward / grad and their options, accumulation, grad modes, hooks, retain_grad,
higher order, the iterative graph walk, scopes and anomaly detection."""

import threading

import numpy as np
import pytest

import minigrad as mg


def _leaf(values, dtype=mg.float64):
    return mg.tensor(values, dtype=dtype, requires_grad=True)


# ---- backward ------------------------------------------------------------------------------------
def test_backward_of_a_scalar_fills_leaf_grads():
    x = _leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    assert x.grad.dtype == x.dtype and x.grad.requires_grad is False


def test_gradients_accumulate_across_backward_calls():
    x = _leaf([1.0, -2.0])
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * 2 * x.numpy())


def test_fan_out_sums_the_paths():
    x = _leaf([0.5, 2.0])
    y = x * x + x.exp() + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + np.exp(x.numpy()) + 1)


def test_backward_on_non_scalar_explains_what_to_pass():
    y = _leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*gradient=.*ones_like"):
        y.backward()


def test_backward_with_gradient_is_a_vector_jacobian_product():
    x = _leaf([1.0, 2.0, 3.0])
    y = x * x
    y.backward(gradient=mg.tensor([1.0, 10.0, 100.0], dtype=mg.float64))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 40.0, 600.0])


def test_backward_gradient_of_the_wrong_shape_names_both_shapes():
    y = _leaf([1.0, 2.0]) * 2
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(gradient=np.ones(3))


def test_backward_on_a_tensor_without_graph_says_why():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).sum().backward()


def test_second_backward_through_a_freed_graph_says_retain_graph():
    x = _leaf([1.0, 2.0])
    y = (x.tanh() * 3).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = _leaf([1.0, 2.0])
    y = (x.tanh() * 3).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_backward_inputs_limits_accumulation():
    a, b = _leaf(1.0), _leaf(2.0)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 2.0 and b.grad is None


def test_float32_leaf_gets_a_float32_grad_through_float64_ops():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * mg.tensor([3.0, 4.0], dtype=mg.float64)).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


def test_an_error_during_backward_changes_no_grad():
    a, b = _leaf(1.0), _leaf(2.0)
    u = a * 2

    def failing_hook(g):
        raise ValueError("boom")
    u.register_hook(failing_hook)
    z = u + b * 3  # b's leaf is reached before u's hook runs
    with pytest.raises(ValueError, match="boom"):
        z.backward()
    assert a.grad is None and b.grad is None


def test_plain_backward_after_create_graph_accumulates():
    x = _leaf([1.0, 2.0])
    x.sum().backward(create_graph=True)
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


# ---- mg.grad -------------------------------------------------------------------------------------
def test_grad_returns_gradients_and_leaves_dot_grad_alone():
    x, w = _leaf([1.0, 2.0]), _leaf([3.0, -1.0])
    gx, gw = mg.grad((x * w).sum(), [x, w])
    np.testing.assert_allclose(gx.numpy(), w.numpy())
    np.testing.assert_allclose(gw.numpy(), x.numpy())
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad


def test_grad_with_grad_outputs_and_several_outputs():
    x = _leaf([1.0, 2.0])
    (g,) = mg.grad([x * 3, x * x], x, grad_outputs=[mg.tensor([1.0, 10.0], dtype=mg.float64),
                                                   mg.ones(2, dtype=mg.float64)])
    np.testing.assert_allclose(g.numpy(), [3.0 + 2.0, 30.0 + 4.0])


def test_grad_unused_input_raises_unless_allowed():
    a, b = _leaf(1.0), _leaf(2.0)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        mg.grad(a * 2, [a, b])
    ga, gb = mg.grad(a * 2, [a, b], allow_unused=True)
    assert ga.item() == 2.0 and gb is None


def test_grad_of_an_input_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="input 1 does not require grad"):
        mg.grad(_leaf(1.0) * 2, [_leaf(1.0), mg.tensor(1.0)])


# ---- higher order --------------------------------------------------------------------------------
def test_create_graph_gives_exact_second_derivatives():
    x = _leaf([0.3, -1.2, 2.0])
    (g,) = mg.grad((x ** 3).sum() + x.tanh().sum(), x, create_graph=True)
    assert g.requires_grad
    (h,) = mg.grad(g.sum(), x)
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy() - 2 * t * (1 - t * t), rtol=1e-12)


def test_hessian_vector_product_matches_the_explicit_hessian(rng):
    a = rng.standard_normal((3, 3))
    x = _leaf(rng.standard_normal(3))
    v = rng.standard_normal(3)

    def f(t):  # f = sum(tanh(A x)) + 0.5 x.x
        return (mg.tensor(a) @ t).tanh().sum() + 0.5 * (t * t).sum()
    (g,) = mg.grad(f(x), x, create_graph=True)
    (hv,) = mg.grad((g * mg.tensor(v)).sum(), x)
    y = np.tanh(a @ x.numpy())
    hessian = a.T @ np.diag(-2 * y * (1 - y * y)) @ a + np.eye(3)
    np.testing.assert_allclose(hv.numpy(), hessian @ v, rtol=1e-10)


def test_gradient_norm_penalty_is_differentiable(rng):
    """Pascanu's regulariser needs d/dW ||dL/dW||^2: a gradient of a gradient."""
    x = mg.tensor(rng.standard_normal((4, 3)), dtype=mg.float64)

    def penalty(w):
        loss = (x @ w).tanh().sum()
        (g,) = mg.grad(loss, w, create_graph=True)
        return (g * g).sum()
    mg.gradcheck(penalty, (_leaf(rng.standard_normal((3, 2))),))


def test_third_order_derivative():
    x = _leaf(0.7)
    (g1,) = mg.grad(x.exp() * x, x, create_graph=True)
    (g2,) = mg.grad(g1, x, create_graph=True)
    (g3,) = mg.grad(g2, x)
    np.testing.assert_allclose(g3.item(), np.exp(0.7) * (0.7 + 3), rtol=1e-12)


# ---- grad modes ----------------------------------------------------------------------------------
def test_no_grad_as_context_manager_and_decorator():
    x = _leaf([1.0])
    with mg.no_grad():
        assert not (x * 2).requires_grad
        assert not mg.is_grad_enabled()
    assert (x * 2).requires_grad

    @mg.no_grad()
    def double(t):
        return t * 2
    assert not double(x).requires_grad
    assert mg.is_grad_enabled()


def test_enable_grad_inside_no_grad_and_as_decorator():
    x = _leaf([1.0])

    @mg.enable_grad()
    def double(t):
        return t * 2
    with mg.no_grad():
        with mg.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
        assert double(x).requires_grad
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with mg.no_grad():
            raise ZeroDivisionError
    assert mg.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []
    with mg.no_grad():
        worker = threading.Thread(target=lambda: seen.append(mg.is_grad_enabled()))
        worker.start()
        worker.join()
    assert seen == [True]


def test_detach_cuts_the_graph_and_shares_data():
    x = _leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), d.numpy())


# ---- hooks and retain_grad -----------------------------------------------------------------------
def test_hook_replaces_the_gradient_and_can_be_removed():
    x = _leaf([1.0, 2.0])
    z = x * 2
    seen = []
    z.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = z.register_hook(lambda g: g * 10)
    z.sum().backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [20.0, 20.0])
    handle.remove()
    x.grad = None
    z = x * 2
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_hook_on_a_leaf_changes_what_is_accumulated():
    x = _leaf([1.0, 2.0])
    x.register_hook(lambda g: g * 0.5)
    (x * 4).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_bad_hooks_are_refused():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).register_hook(lambda g: g)
    z = _leaf([1.0, 2.0]) * 1
    z.register_hook(lambda g: g.sum())
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        z.sum().backward()


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = _leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    k = x * 5
    (h * h + k).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    assert k.grad is None
    with pytest.raises(RuntimeError):
        mg.tensor([1.0]).retain_grad()


# ---- the graph walk ------------------------------------------------------------------------------
def test_ten_thousand_step_rnn_chain_has_no_recursion_error(rng):
    """An unrolled tanh-RNN over 10,000 steps: backward is iterative (no RecursionError)."""
    w = _leaf(rng.standard_normal((4, 4)) * 0.5, dtype=mg.float32)
    u = _leaf(rng.standard_normal((2, 4)) * 0.5, dtype=mg.float32)
    xs = mg.tensor(rng.standard_normal((2, 2)))
    h = mg.zeros(2, 4)
    for t in range(10_000):
        h = (h @ w + xs[t % 2] @ u).tanh()
    h.sum().backward()
    assert np.isfinite(w.grad.numpy()).all() and np.isfinite(u.grad.numpy()).all()
    assert len(mg.topological_order([h])) > 40_000


def test_topological_order_is_deterministic_and_parents_first():
    def build():
        a, b = _leaf(1.0), _leaf(2.0)
        c = a * b
        d = c + a
        e = d * c
        return [a, b], e
    (a, b), e = build()
    order = mg.topological_order([e])
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:
        for p in t.parents:
            assert position[id(p)] < position[id(t)]
    assert [t.op for t in order] == [t.op for t in mg.topological_order([build()[1]])]
    assert order[0] is a and order[-1] is e


def test_graph_facts_on_tensors():
    x = _leaf([1.0])
    y = x * 2
    assert x.is_leaf and x.op is None and x.parents == ()
    assert not y.is_leaf and y.op == "mul" and y.parents[0] is x
    assert y.grad_fn is not None


# ---- scopes --------------------------------------------------------------------------------------
def test_scopes_are_recorded_on_nodes():
    x = _leaf([1.0])
    with mg.scope("RNN"):
        with mg.scope("layer0"):
            with mg.scope("t=3"):
                assert mg.current_scope() == ("RNN", "layer0", "t=3")
                h = x.tanh()
        g = h * 2
    assert h.scope == "RNN/layer0/t=3" and h.grad_fn.scope == ("RNN", "layer0", "t=3")
    assert g.scope == "RNN"
    assert x.scope == "" and mg.current_scope() == ()


def test_scope_as_decorator_and_bad_names():
    @mg.scope("decoder")
    def step(t):
        return t * 2
    assert step(_leaf([1.0])).scope == "decoder"
    for bad in ["", "a/b", 3]:
        with pytest.raises(ValueError):
            mg.scope(bad)


def test_scope_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with mg.scope("outer"):
            raise KeyError
    assert mg.current_scope() == ()


# ---- anomaly detection ---------------------------------------------------------------------------
def test_detect_anomaly_names_the_op_and_scope_in_forward():
    x = _leaf([-1.0, 1.0])
    with mg.detect_anomaly():
        with mg.scope("encoder"), mg.scope("t=2"):
            with pytest.raises(FloatingPointError, match=r"log.*encoder/t=2"):
                with np.errstate(invalid="ignore"):
                    mg.log(x)


def test_detect_anomaly_as_decorator_and_off_by_default():
    @mg.detect_anomaly()
    def f(t):
        return mg.log(t)
    with np.errstate(invalid="ignore"):
        assert np.isnan(mg.log(_leaf([-1.0])).numpy()).all()  # off: NaN flows
        with pytest.raises(FloatingPointError):
            f(_leaf([-1.0]))


def test_detect_anomaly_catches_nan_in_backward():
    x = _leaf([0.0, 1.0])
    with mg.detect_anomaly():
        y = mg.sqrt(x)  # finite forward, infinite gradient at 0
        with np.errstate(divide="ignore"):
            with pytest.raises(FloatingPointError):
                y.sum().backward()


def test_detect_anomaly_in_backward_names_the_op_and_scope():
    x = _leaf([0.0, 1.0])
    with mg.detect_anomaly():
        with mg.scope("layer1"):
            y = mg.sqrt(x)
        with np.errstate(divide="ignore"):
            with pytest.raises(FloatingPointError, match=r"sqrt.*layer1"):
                y.sum().backward()


def test_many_slices_of_one_tensor_sum_their_gradients(rng):
    """x[t] for every t (the unrolled-RNN pattern), plus repeated int-array picks, with a hook
    and retain_grad on the sliced tensor; first order and create_graph agree."""
    v = rng.standard_normal((6, 3))

    def loss(x):
        total = sum((x[t] * float(t + 1)).sum() for t in range(6))
        return total + x[[0, 0, 5]].sum() + (x[1:4] ** 2).sum()
    expected = np.repeat(np.arange(1.0, 7.0)[:, None], 3, axis=1)
    expected[0] += 2
    expected[5] += 1
    expected[1:4] += 2 * v[1:4]
    x = _leaf(v)
    h = x * 1.0
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    loss(h).backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(h.grad.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(seen[0], expected, rtol=1e-12)
    (g,) = mg.grad(loss(x), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-12)
    x32 = mg.tensor(v.astype(np.float32), requires_grad=True)
    loss(x32).backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad.numpy(), expected, rtol=1e-5)


# ---- .grad takes a fresh gradient array instead of copying it, never a shared one -----------
def test_leaf_grads_never_alias_each_other_or_the_callers_arrays():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # add's rule hands one gradient to both inputs
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.numpy()[0] = 99.0
    assert b.grad.numpy()[0] == 1.0
    seed = mg.tensor([1.0, 1.0])
    c = mg.tensor([1.0, 2.0], requires_grad=True)
    c.backward(seed)
    assert not np.shares_memory(c.grad.numpy(), seed.numpy())
    kept = []
    d = mg.tensor([1.0, 2.0], requires_grad=True)
    d.register_hook(lambda g: kept.append(g))
    (d * 2).sum().backward()
    assert not np.shares_memory(d.grad.numpy(), kept[0].numpy())
    h = a * 2
    h.retain_grad()
    e = h + 0  # the same gradient reaches h (retained) and then a
    a.grad = None
    e.sum().backward()
    assert not np.shares_memory(a.grad.numpy(), h.grad.numpy())


def test_leaf_grad_takes_the_rules_fresh_array():
    seen = {}
    prim = mg.Primitive("test_fresh_gradient")
    prim.def_forward(lambda x: x * 3.0)

    @prim.def_backward
    def _backward(ctx, g):
        out = mg.tensor(g.numpy() * 3.0)
        seen["id"] = id(out.numpy())
        return (out,)

    try:
        x = mg.tensor([1.0, 2.0], requires_grad=True)
        mg.bind(prim, x).sum().backward()
        assert id(x.grad.numpy()) == seen["id"]
        np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
        mg.bind(prim, x).sum().backward()  # accumulates into it
        np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    finally:
        del mg.REGISTRY["test_fresh_gradient"]
