"""Version counters and in-place ops: an edit of a value that backward needs raises; in-place
ops recorded in the graph give the gradients of the same program written out of place."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg


def _leaf(values):
    return mg.tensor(np.asarray(values, dtype=np.float64), dtype=mg.float64, requires_grad=True)


# ---- version counters ----------------------------------------------------------------------
def test_the_issue_example_raises_instead_of_a_wrong_gradient():
    x = _leaf([1.0, 2.0])
    y = (x * x).sum()
    with mg.no_grad():
        x.mul_(10.0)
    with pytest.raises(RuntimeError, match=r"op mul .*input 0, shape \(2,\), float64, is at "
                                           r"version 1; expected version 0"):
        y.backward()
    assert x.grad is None


def test_the_message_names_the_scope():
    x = _leaf([1.0, 2.0])
    with mg.scope("encoder"):
        y = (x.exp()).sum()
    with mg.no_grad():
        x += 1
    with pytest.raises(RuntimeError, match=r"op exp \(scope encoder\)"):
        y.backward()


def test_every_in_place_op_bumps_the_version():
    t = mg.zeros(2, 3)
    edits = [lambda: t.add_(1), lambda: t.sub_(1, alpha=2), lambda: t.mul_(2),
             lambda: t.div_(2), lambda: t.copy_(np.ones(3)), lambda: t.zero_(),
             lambda: t.fill_(3.0), lambda: t.clamp_(max=1.0), lambda: t.__setitem__(0, 5.0)]
    for k, edit in enumerate(edits, start=1):
        edit()
        assert t._version == k
    t += 1
    t -= 1
    t *= 2
    t /= 2
    assert t._version == len(edits) + 4


def test_views_and_detach_share_the_counter():
    base = _leaf(np.arange(6.0)) * 1  # a non-leaf with its own memory
    row = base.reshape(2, 3)[0]       # views of it
    alias = base.detach()
    y = (base * base).sum()
    with mg.no_grad():
        row.mul_(0.0)                 # writes into base's memory
    assert base._version == row._version == alias._version == 1
    assert base.numpy()[0] == 0.0
    with pytest.raises(RuntimeError, match="op mul"):
        y.backward()


def test_an_edit_that_no_rule_reads_is_allowed_as_in_pytorch():
    x = _leaf([1.0, 2.0])
    y = (x + 1).sum()                # add does not save its inputs
    with mg.no_grad():
        x.mul_(3.0)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_an_edited_output_that_the_rule_reads_raises():
    x = _leaf([0.5, -0.2])
    h = x.tanh()                     # tanh's backward reads its output
    with mg.no_grad():
        h.mul_(2.0)
    with pytest.raises(RuntimeError, match="op tanh .*its output"):
        h.sum().backward()


def test_optimizer_style_update_then_a_retained_second_backward_raises():
    w = _leaf([1.0, -1.0])
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    with mg.no_grad():
        w.sub_(w.grad, alpha=0.1)
    with pytest.raises(RuntimeError, match="version 1; expected version 0"):
        loss.backward()


def test_init_and_zero_grad_bump_versions():
    lin = mg.nn.Linear(3, 2)
    v = lin.weight._version
    mg.nn.init.xavier_uniform_(lin.weight)
    assert lin.weight._version == v + 1
    (lin(mg.ones(1, 3)).sum()).backward()
    g = lin.weight.grad
    lin.zero_grad(set_to_none=False)
    assert g._version == 1 and not g.numpy().any()


# ---- in-place ops while recording ------------------------------------------------------------
def test_loss_accumulated_with_plus_equals():
    a = _leaf([1.0, 2.0])
    loss = 0
    loss += (a * a).sum()
    loss += (a * 3).sum()
    loss.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * np.array([1.0, 2.0]) + 3)


def test_in_place_on_a_leaf_that_requires_grad_is_refused_and_changes_nothing():
    a = _leaf([1.0, 2.0])
    for edit in (lambda: a.add_(1.0), lambda: a.__setitem__(0, 3.0), lambda: a.zero_(),
                 lambda: a.__imul__(2.0)):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
            edit()
    np.testing.assert_array_equal(a.numpy(), [1.0, 2.0])
    assert a._version == 0 and a.is_leaf


def test_setitem_on_a_non_leaf_sends_gradients_to_both():
    a = _leaf([1.0, 2.0, 3.0])
    v = _leaf([5.0])
    t = a * 2
    t[1] = v * 3
    (t * mg.tensor([10.0, 100.0, 1000.0], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [20.0, 0.0, 2000.0])
    np.testing.assert_array_equal(v.grad.numpy(), [300.0])


def test_setitem_filling_a_buffer_that_does_not_require_grad():
    a = _leaf([1.0, 2.0])
    out = mg.zeros(3, 2, dtype=mg.float64)
    for i in range(3):
        out[i] = a * i
    assert out.requires_grad and not out.is_leaf
    (out ** 2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.numpy() * (0 + 1 + 4))


def test_consumers_recorded_before_an_edit_keep_the_earlier_value():
    a = _leaf([1.0, 2.0])
    h = a.tanh()
    z = h * h                    # reads h before the edit
    h += 1                       # recorded: h is rebound, z keeps the earlier h
    h *= h                       # and again
    (z.sum() + h.sum()).backward()
    th = np.tanh(a.numpy())
    ref = (2 * th + 2 * (th + 1)) * (1 - th ** 2)
    np.testing.assert_allclose(a.grad.numpy(), ref, rtol=1e-12)


def test_in_place_result_must_keep_shape_and_dtype():
    a = _leaf([1.0, 2.0])
    t = a * 1
    with pytest.raises(ValueError, match=r"add_: the result has shape \(2, 2\)"):
        t.add_(mg.ones(2, 2, dtype=mg.float64))
    ints = mg.tensor([1, 2])
    with pytest.raises(TypeError, match=r"\+=.*cannot cast|\+=.*Cannot cast"):
        ints += 0.5 * mg.ones(2)
    np.testing.assert_array_equal(ints.numpy(), [1, 2])
    with pytest.raises(ValueError, match="read-only"):
        mg.zeros(3).expand(2, 3).add_(1.0)


def test_gradcheck_through_setitem_and_in_place_arithmetic():
    rng = np.random.default_rng(0)
    x = _leaf(rng.standard_normal((3, 4)))
    v = _leaf(rng.standard_normal(4))

    def fn(x, v):
        t = x.tanh() * 1
        t[1] = v * v
        t[:, 0] += v[:3]
        t *= x
        return t

    assert mg.gradcheck(fn, (x, v))
    assert mg.gradgradcheck(fn, (x, v))


_OPS = ["add_", "sub_", "mul_", "div_", "iadd", "imul", "setitem_row", "setitem_mask",
        "clamp_", "fill_", "copy_"]


def _apply(kind, t, other, in_place):
    """One edit of t by other (both (3, 2)); in place or written out of place."""
    if kind in ("add_", "iadd"):
        return (t.add_(other) if kind == "add_" else t.__iadd__(other)) if in_place else t + other
    if kind == "sub_":
        return t.sub_(other, alpha=0.5) if in_place else t - other * 0.5
    if kind in ("mul_", "imul"):
        return (t.mul_(other) if kind == "mul_" else t.__imul__(other)) if in_place \
            else t * other
    if kind == "div_":
        return t.div_(other.abs() + 1) if in_place else t / (other.abs() + 1)
    if kind == "clamp_":
        return t.clamp_(-0.4, 0.7) if in_place else t.clamp(-0.4, 0.7)
    if kind == "fill_":
        return t.fill_(0.25) if in_place else t * 0 + 0.25
    if kind == "copy_":
        return t.copy_(other[0]) if in_place else other[0].expand(3, 2) + t * 0
    if kind == "setitem_row":
        if in_place:
            t[1] = other[2] * 2
            return t
        return mg.stack([t[0], other[2] * 2, t[2]])
    mask = np.array([[True, False], [False, True], [True, True]])
    if in_place:
        t[mask] = other[mask]
        return t
    return mg.where(mg.tensor(mask), other, t)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_OPS), min_size=1, max_size=5), st.integers(0, 2**31))
def test_in_place_programs_equal_their_out_of_place_twins(kinds, seed):
    """Values and gradients of a random chain of in-place edits equal those of the same chain
    written with out-of-place ops (clamp bounds and fill are kinks: data is kept off them)."""
    rng = np.random.default_rng(seed)
    x0, o0 = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 2))
    x0[np.abs(np.abs(x0 - 0.15) - 0.55) < 0.05] = 0.0
    results = []
    for in_place in (True, False):
        x, other = _leaf(x0), _leaf(o0)
        t = x * 1.5
        for kind in kinds:
            t = _apply(kind, t, other * 1, in_place)
        (t * t).sum().backward()
        results.append((t.numpy(), x.grad, other.grad))
    (ti, gxi, goi), (to, gxo, goo) = results
    np.testing.assert_allclose(ti, to, rtol=1e-12, atol=1e-15)
    for gi, go in ((gxi, gxo), (goi, goo)):
        if go is None:
            assert gi is None or not gi.numpy().any()
        else:
            np.testing.assert_allclose(gi.numpy(), go.numpy(), rtol=1e-12, atol=1e-15)


def test_the_graph_readers_see_the_earlier_value():
    a = _leaf([1.0, 2.0])
    h = a * 2
    z = h.exp()
    h += 1
    assert z.parents[0] is not h and z.parents[0].op == "mul"
    assert h.op == "add" and h.parents[0].op == "mul"
    order = mg.topological_order([z.sum() + h.sum()])
    assert sum(t.op == "mul" for t in order) == 1


# ---- PyTorch as the oracle -----------------------------------------------------------------
def test_same_errors_and_gradients_as_pytorch():
    torch = pytest.importorskip("torch")

    def program(lib, tensor):
        x = tensor([0.3, -0.7, 1.1])
        y = tensor([0.5, 0.25, -2.0])
        t = x.tanh() * y
        loss = 0
        loss += (t * 3).sum()
        t[1] = y[0] * 4
        t *= x
        t.add_(y, alpha=2)
        loss += (t * y).sum()
        loss *= 2
        loss.backward()
        return [loss.item(), x.grad.tolist(), y.grad.tolist()]

    ours = program(mg, lambda v: _leaf(v))
    theirs = program(torch, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-13)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-13)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-13)

    for make in (lambda v: _leaf(v),
                 lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True)):
        x = make([1.0, 2.0])
        y = (x * x).sum()
        grad_off = mg.no_grad() if isinstance(x, mg.Tensor) else torch.no_grad()
        with grad_off:
            x.mul_(10.0)
        with pytest.raises(RuntimeError):
            y.backward()
        with pytest.raises(RuntimeError):
            x.add_(1.0)
