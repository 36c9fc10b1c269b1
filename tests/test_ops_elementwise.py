"""Elementwise ops through the public API: broadcasting and its gradients, operators with Python
numbers on either side, the dtype rule, kinks and ties, numerical stability, error messages."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg


def _leaf(values, dtype=mg.float64):
    return mg.tensor(values, dtype=dtype, requires_grad=True)


# ---- operators and broadcasting ------------------------------------------------------------------
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                min_side=1, max_side=3),
       seed=st.integers(0, 2**16))
def test_broadcast_gradients_sum_over_stretched_dims(shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = _leaf(rng.standard_normal(sa)), _leaf(rng.uniform(0.5, 2, sb))
    out = (a * b + a / b - b).sum()
    out.backward()
    bb = np.broadcast_to(b.numpy(), shapes.result_shape)
    ga = np.broadcast_to(bb + 1 / bb, shapes.result_shape)
    aa = np.broadcast_to(a.numpy(), shapes.result_shape)
    gb = aa - aa / bb**2 - 1
    lead_a = len(shapes.result_shape) - len(sa)
    lead_b = len(shapes.result_shape) - len(sb)
    np.testing.assert_allclose(a.grad.numpy(), _sum_to(ga, sa, lead_a), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), _sum_to(gb, sb, lead_b), rtol=1e-12)


def _sum_to(g, shape, lead):
    g = g.sum(axis=tuple(range(lead)))
    return g.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True)


def test_python_numbers_on_either_side():
    x = _leaf([1.0, 2.0, 4.0])
    mg.gradcheck(lambda t: (2 - t, 3 / t, 2 ** t, t ** 2, -t, +t, abs(-t), 1 + t * 0.5), (x,))
    np.testing.assert_allclose((2 - x).numpy(), [1.0, 0.0, -2.0])
    np.testing.assert_allclose((8 / x).numpy(), [8.0, 4.0, 2.0])
    np.testing.assert_allclose((2 ** x).numpy(), [2.0, 4.0, 16.0])


def test_numpy_arrays_on_the_left_dispatch_to_the_tensor():
    x = _leaf([1.0, 2.0])
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, mg.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.numpy(), [3.0, 8.0])


def test_shape_mismatch_names_the_op_and_both_shapes():
    for op, name in [(mg.add, "add"), (mg.mul, "mul"), (mg.sub, "sub"), (mg.div, "div"),
                     (mg.maximum, "maximum"), (mg.pow, "pow")]:
        with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4, 3\)"):
            op(mg.ones(2, 3), mg.ones(4, 3))
    with pytest.raises(ValueError, match=r"where: shapes \(2,\), \(3,\) and \(3,\)"):
        mg.where(mg.tensor([True, False]), mg.ones(3), mg.ones(3))


def test_zero_dim_results_are_arrays():
    x = _leaf(0.5)
    for y in [x * 2, x + x, x.exp(), x.tanh(), x.sigmoid(), mg.softplus(x), x ** 2,
              x.relu(), mg.clamp(x, 0.0, 1.0), mg.maximum(x, 0.1), abs(x), x.sqrt()]:
        assert type(y.numpy()) is np.ndarray and y.shape == ()
    (x.sigmoid() * x).backward()
    assert type(x.grad.numpy()) is np.ndarray


# ---- the dtype rule ------------------------------------------------------------------------------
def test_python_and_numpy_scalars_never_widen_a_tensor():
    x = mg.tensor([1.0, 2.0])  # float32
    for y in [x * 0.5, 0.5 * x, x + 1, x / np.float64(3.0), np.float64(2.0) * x, x ** 2.0,
              mg.where(x > 1, x, 0.0), mg.maximum(x, 1.5)]:
        assert y.dtype == np.float32


def test_signed_zero_scalars_keep_their_sign():
    x = mg.tensor([1.0, -2.0])
    np.testing.assert_array_equal(np.signbit((x * 0.0).numpy()), [False, True])
    np.testing.assert_array_equal(np.signbit((x * -0.0).numpy()), [True, False])
    np.testing.assert_array_equal(np.signbit((x * 0.0).numpy()), [False, True])


def test_the_wider_float_wins_and_ints_take_the_float_dtype():
    f32, f64 = mg.tensor([1.0, 2.0]), mg.tensor([1.0, 2.0], dtype=mg.float64)
    ints, bools = mg.tensor([1, 2]), mg.tensor([True, False])
    assert (f32 + f64).dtype == np.float64 and (f64 * f32).dtype == np.float64
    assert (ints + f32).dtype == np.float32 and (f32 - ints).dtype == np.float32
    assert (bools * f32).dtype == np.float32 and (ints * f64).dtype == np.float64
    assert (ints * 0.5).dtype == mg.get_default_dtype()
    assert (ints + 1).dtype == np.int64 and (bools + 2).dtype == np.int64
    np.testing.assert_array_equal((bools + 2).numpy(), [3, 2])
    assert (ints @ mg.ones(2, 2)).dtype == np.float32
    assert mg.concat([ints, f32]).dtype == np.float32


def test_float_functions_of_ints_give_the_default_float():
    ints = mg.tensor([1, 4])
    for y in [ints.exp(), ints.log(), ints.sqrt(), ints.tanh(), ints.sigmoid(),
              mg.softplus(ints), ints ** 0.5]:
        assert y.dtype == np.float32
    np.testing.assert_allclose((ints ** 0.5).numpy(), [1.0, 2.0])
    np.testing.assert_array_equal((ints ** 2).numpy(), [1, 16])


def test_default_dtype_float64(monkeypatch):
    mg.set_default_dtype(mg.float64)
    assert (mg.tensor([1, 2]) * 0.5).dtype == np.float64
    assert mg.tensor([1.0]).dtype == np.float64
    with pytest.raises(TypeError):
        mg.set_default_dtype(np.float16)


def test_gradients_take_the_dtype_of_their_tensor():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], dtype=mg.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_cast_keeps_the_gradient_and_refuses_other_floats():
    x = mg.tensor([1.5, 2.5], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.op == "cast"
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0])
    assert x.long().dtype == np.int64 and not x.long().requires_grad
    with pytest.raises(TypeError, match="float16"):
        x.to(np.float16)


# ---- kinks, ties and selections ------------------------------------------------------------------
def test_gradient_at_kinks_is_zero_or_the_subgradient_pytorch_uses():
    x = _leaf([-1.0, 0.0, 2.0])
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])
    x.grad = None
    abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 1.0])
    x.grad = None
    mg.leaky_relu(x, 0.1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 0.1, 1.0])


def test_clamp_passes_the_gradient_inside_and_on_the_bounds():
    x = _leaf([-2.0, -1.0, 0.0, 1.0, 2.0])
    y = mg.clamp(x, -1.0, 1.0)
    np.testing.assert_array_equal(y.numpy(), [-1.0, -1.0, 0.0, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(x.clamp(min=0.5).numpy(), [0.5, 0.5, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(mg.clip(x, max=0.0).numpy(), [-2.0, -1.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="min"):
        mg.clamp(x)
    with pytest.raises(ValueError, match="greater than max"):
        mg.clamp(x, 1.0, -1.0)


def test_maximum_and_minimum_split_ties_evenly():
    a, b = _leaf([1.0, 2.0, 3.0]), _leaf([2.0, 2.0, 1.0])
    (mg.maximum(a, b).sum() + 10 * mg.minimum(a, b).sum()).backward()
    np.testing.assert_allclose(a.grad.numpy(), [10.0, 5.5, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 5.5, 10.0])


def test_where_routes_gradients_and_needs_a_bool_condition():
    a, b = _leaf([1.0, 2.0, 3.0]), _leaf(5.0)
    cond = mg.tensor([True, False, True])
    y = mg.where(cond, a, b)
    np.testing.assert_array_equal(y.numpy(), [1.0, 5.0, 3.0])
    (y * mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 0.0, 3.0])
    assert b.grad.item() == 2.0
    with pytest.raises(TypeError, match="bool"):
        mg.where(mg.tensor([1.0]), a, b)


def test_pow_gradient_in_the_exponent_is_zero_at_a_zero_base():
    a, b = _leaf([0.0, 2.0]), _leaf([2.0, 3.0])
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 8.0 * np.log(2.0)])
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 12.0])
    a, b = _leaf([0.0]), _leaf([0.0])
    (a ** b).sum().backward()  # d/da a**b at a = b = 0 is taken as 0, not NaN
    assert a.grad.item() == 0.0 and b.grad.item() == 0.0


# ---- numerical stability -------------------------------------------------------------------------
def test_activations_are_stable_at_extreme_inputs():
    x = _leaf([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no warnings either
        sp = mg.softplus(x)
        sg = x.sigmoid()
        th = x.tanh()
    np.testing.assert_allclose(sp.numpy(), np.logaddexp(0, x.numpy()), rtol=1e-12)
    np.testing.assert_allclose(sg.numpy(), [0.0, 1 / (1 + np.exp(30.0)), 0.5,
                                         1 / (1 + np.exp(-30.0)), 1.0], rtol=1e-12)
    (sp.sum() + sg.sum() + th.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(mg.softplus(x, beta=2.0).numpy(), np.logaddexp(0, 2 * x.numpy()) / 2)
    with pytest.raises(ValueError, match="beta"):
        mg.softplus(x, beta=0.0)


def test_float32_sigmoid_and_tanh_backward_kernels_agree_with_numpy(rng):
    x = mg.tensor(rng.standard_normal((5, 7)).astype(np.float32), requires_grad=True)
    (x.tanh() + x.sigmoid()).sum().backward()
    t, s = np.tanh(x.numpy()), 1 / (1 + np.exp(-x.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), (1 - t * t) + s * (1 - s), rtol=1e-5)
    assert x.grad.dtype == np.float32


def test_unary_functions_match_numpy(rng):
    v = rng.uniform(0.2, 3.0, size=(3, 4))
    x = mg.tensor(v, dtype=mg.float64)
    for ours, ref in [(mg.exp, np.exp), (mg.log, np.log), (mg.sqrt, np.sqrt),
                      (mg.tanh, np.tanh), (mg.neg, np.negative), (mg.abs, np.abs),
                      (mg.relu, lambda a: np.maximum(a, 0))]:
        np.testing.assert_allclose(ours(x).numpy(), ref(v), rtol=1e-14)
    np.testing.assert_allclose(x.sigmoid().numpy(), 1 / (1 + np.exp(-v)), rtol=1e-14)


def test_comparisons_give_bool_tensors_without_graph():
    x = _leaf([1.0, 2.0, 3.0])
    for m in [x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, ~(x > 2)]:
        assert m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal((x > 1.5).numpy(), [False, True, True])
