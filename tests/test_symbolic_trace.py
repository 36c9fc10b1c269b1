"""``minigrad.symbolic.to_sympy``: graphs as sympy expressions, exact constants, cuts at
intermediate tensors, the size guard and the errors; ``lambdify`` as the bridge back."""

import warnings

import numpy as np
import pytest
import sympy

import minigrad as mg
from minigrad import symbolic
from minigrad.ops.sym import sym_number


def _f64(data, requires_grad=True):
    return mg.tensor(data, dtype=mg.float64, requires_grad=requires_grad)


def test_scalar_graph_with_symbols_and_exact_constants():
    w = _f64(0.5)
    h = _f64(0.25)
    out = (w * h + 0.1).tanh()
    w_s, h_s = sympy.symbols("w h", real=True)
    expr = symbolic.to_sympy(out, {w: w_s, h: h_s})
    assert expr == sympy.tanh(w_s * h_s + sympy.Rational(1, 10))
    # a leaf left out of inputs becomes its exact value
    assert symbolic.to_sympy(out, {w: w_s}) == sympy.tanh(w_s / 4 + sympy.Rational(1, 10))


def test_names_become_indexed_real_symbols_and_matrices_come_back():
    x = _f64(np.ones((2, 3)))
    weight = _f64(np.ones((3, 2)))
    out = x @ weight
    got = symbolic.to_sympy(out, {x: "x", weight: "W"})
    assert isinstance(got, sympy.Matrix) and got.shape == (2, 2)
    x_s = symbolic.symbols_like((2, 3), "x")
    w_s = symbolic.symbols_like((3, 2), "W")
    assert got == sympy.Matrix(x_s.tolist()) * sympy.Matrix(w_s.tolist())
    assert all(s.is_real for s in got.free_symbols)
    assert str(x_s[1, 2]) == "x_1_2"


def test_output_kinds_and_sequences():
    x = _f64(np.arange(6.0).reshape(1, 2, 3))
    col, scalar, arr = symbolic.to_sympy([x.sum((0, 1)), x.sum(), x * 2], {x: "x"})
    assert isinstance(col, sympy.Matrix) and col.shape == (3, 1)
    assert scalar == sum(symbolic.symbols_like((1, 2, 3), "x").reshape(-1))
    assert isinstance(arr, sympy.ImmutableDenseNDimArray) and arr.shape == (1, 2, 3)


def test_matrix_and_array_specs_and_shape_errors():
    h = _f64(np.zeros((1, 2)))
    out = h.tanh()
    a, b = sympy.symbols("a b", real=True)
    assert symbolic.to_sympy(out, {h: sympy.Matrix([a, b])}) == sympy.Matrix(
        [[sympy.tanh(a), sympy.tanh(b)]])
    assert symbolic.to_sympy(out, {h: [[a, b]]})[0, 1] == sympy.tanh(b)
    with pytest.raises(ValueError, match=r"shape \(3, 1\).*tensor of shape \(1, 2\)"):
        symbolic.to_sympy(out, {h: sympy.Matrix([a, b, a])})
    with pytest.raises(ValueError, match="single symbol"):
        symbolic.to_sympy(out, {h: a})
    with pytest.raises(TypeError, match="Tensors"):
        symbolic.to_sympy(out, {"h": "h"})
    with pytest.raises(TypeError, match="not a Tensor"):
        symbolic.to_sympy([out, 3.0], {h: "h"})


def test_cut_at_an_intermediate_tensor():
    w = _f64(0.7)
    x = _f64(0.3, requires_grad=False)
    h1 = (w * x).tanh()
    h2 = (w * h1).tanh()
    w_s, h_s = sympy.symbols("w h_1", real=True)
    assert symbolic.to_sympy(h2, {w: w_s, h1: h_s}) == sympy.tanh(w_s * h_s)
    deep = symbolic.to_sympy(h2, {w: w_s})
    assert deep == sympy.tanh(w_s * sympy.tanh(w_s * sympy.Rational(3, 10)))


def test_trace_keeps_intermediate_values_and_nodes():
    w = _f64(0.7)
    h = (w * 2.0).tanh()
    result = symbolic.trace(h, {w: "w"})
    (tanh_tensor, value), = result.nodes("tanh")
    assert tanh_tensor is h
    assert value[()] == sympy.tanh(2 * sympy.Symbol("w", real=True))
    with pytest.raises(KeyError, match="not visited"):
        result.value(_f64(1.0))


def test_unreached_input_warns():
    x = _f64(np.ones(3), requires_grad=False)
    w = _f64(2.0)
    out = x[0] * w  # x does not require grad: the slice is a new constant leaf
    with pytest.warns(UserWarning, match="not reached"):
        expr = symbolic.to_sympy(out, {x: "x", w: "w"})
    assert expr == 1 * sympy.Symbol("w", real=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.requires_grad_()
        symbolic.to_sympy(x[0] * w, {x: "x", w: "w"})


def test_unsupported_op_names_the_op():
    unknown = mg.Primitive("symbolic_test_no_rule")
    unknown.def_forward(lambda a: a * 2)
    unknown.def_backward(lambda ctx, g: (g * 2,))
    try:
        x = _f64(np.ones(2))
        with mg.scope("block"):
            out = mg.bind(unknown, x)
        with pytest.raises(NotImplementedError,
                           match=r"op 'symbolic_test_no_rule' .*scope block.*no symbolic"):
            symbolic.to_sympy(out, {x: "x"})
    finally:
        del mg.REGISTRY["symbolic_test_no_rule"]


def test_size_guard_refuses_with_the_expected_size():
    w = _f64(np.full((4, 4), 0.1))
    h0 = _f64(np.ones((1, 4)))
    h = h0
    for _ in range(30):  # every element of h_t uses all of h_{t-1}: 4^30-ish tree
        h = (h @ w).tanh()
    estimate = symbolic.expression_size(h, {w: "W", h0: "h"})
    assert estimate > 1e15
    with pytest.raises(symbolic.ExpressionTooLargeError,
                       match=r"about .* operations .*above max_size=200000") as info:
        symbolic.to_sympy(h, {w: "W", h0: "h"})
    assert info.value.estimate == pytest.approx(estimate)
    small = symbolic.expression_size(h0.tanh(), {h0: "h"})
    assert small == 8  # 4 elements, tanh of one symbol each


def test_sym_number_is_exact_and_fast_path_agrees_with_nsimplify():
    assert sym_number(0.1) == sympy.Rational(1, 10)
    assert sym_number(np.float32(0.1)) == sympy.Rational(1, 10)
    assert sym_number(-2.5) == sympy.Rational(-5, 2)
    assert sym_number(7) == 7 and sym_number(True) == 1
    assert sym_number(float("inf")) == sympy.oo and sym_number(float("-inf")) == -sympy.oo
    for v in (0.123456789, 1e-7, 3.0e12):
        assert sym_number(v) == sympy.nsimplify(v, rational=True)


def test_lambdify_bridge_reproduces_the_engine_forward(rng):
    x = _f64(rng.standard_normal((2, 3)))
    weight = _f64(rng.standard_normal((3, 3)))
    out = (x @ weight).sigmoid().log_softmax(-1)
    expr = symbolic.to_sympy(out, {x: "x", weight: "W"})
    symbols = list(symbolic.symbols_like(x, "x").reshape(-1)) + list(
        symbolic.symbols_like(weight, "W").reshape(-1))
    fn = sympy.lambdify(symbols, expr, "numpy")
    got = fn(*x.numpy().reshape(-1), *weight.numpy().reshape(-1))
    np.testing.assert_allclose(got, out.numpy(), rtol=1e-13, atol=0)


def test_symbolic_vjp_differentiates_a_forward_rule():
    x, g = sympy.symbols("x g", real=True)
    tanh_rule = mg.REGISTRY["tanh"].symbolic
    arr = np.array([x, sympy.Rational(1, 2)], dtype=object)
    (d,) = symbolic.symbolic_vjp(tanh_rule, np.array([g, 1], dtype=object), [arr], wrt=[0])
    assert d[0] == g * (1 - sympy.tanh(x) ** 2)
    assert d[1] == 1 - sympy.tanh(sympy.Rational(1, 2)) ** 2  # numbers are put back
    with pytest.raises(ValueError, match="grad_out has shape"):
        symbolic.symbolic_vjp(tanh_rule, np.array([g], dtype=object), [arr], wrt=[0])
