"""The derivations traced from the models' own cells and layers, checked exactly against the
lectures' formulas and numerically (``lambdify``) against the engine in float64."""

import numpy as np
import pytest
import sympy

import minigrad as mg
from minigrad import symbolic
from models import theory


@pytest.mark.parametrize("mode,hidden,nonlinearity", [
    ("rnn", 1, "tanh"), ("rnn", 2, "tanh"), ("rnn", 2, "relu"), ("lstm", 1, "tanh"),
    ("lstm", 2, "tanh"), ("gru", 1, "tanh"), ("gru", 2, "tanh")])
def test_one_step_jacobian_traced_from_the_cell_is_the_lectures_formula(mode, hidden,
                                                                       nonlinearity):
    d = theory.derive_step(mode, hidden, 1, nonlinearity)
    n = 2 * hidden if mode == "lstm" else hidden
    assert d.traced.shape == d.closed_form.shape == (n, n)
    assert d.matches_textbook
    # the traced Jacobian is in the weights, input and previous state only
    names = {s.name for s in d.traced.free_symbols}
    assert not any(name.startswith(("f_", "z_", "n_", "h_t")) for name in names)


def test_scalar_closed_forms():
    w, h = sympy.symbols("w_hh h_t", real=True)
    assert theory.derive_step("rnn", 1).scalar_form()[0, 0] == w * (1 - h ** 2)
    relu = theory.derive_step("rnn", 1, 1, "relu").closed_form[0, 0]
    a = sympy.Symbol("a_t", real=True)
    assert relu == sympy.Piecewise((w, a > 0), (0, True))
    lstm = theory.derive_step("lstm", 1)
    f = sympy.Symbol("f_t", real=True)
    assert lstm.closed_form[1, 1] == f and lstm.path_matches  # the direct cell path
    gru = theory.derive_step("gru", 1)
    z = sympy.Symbol("z_t", real=True)
    # update-gate path: with every recurrent weight 0 only diag(z_t) is left
    zero = {s: 0 for s in gru.closed_form.free_symbols if s.name.startswith(("w_h", "b_hn"))}
    assert sympy.expand(gru.closed_form[0, 0].xreplace(zero)) == z


def test_a_wrong_formula_is_not_accepted():
    d = theory.derive_step("gru", 2)
    wrong = d.textbook - theory.direct_path("gru", 2)
    assert not theory.is_zero_matrix(d.closed_form - wrong)


@pytest.mark.parametrize("mode,steps,hidden", [("rnn", 3, 2), ("lstm", 2, 1), ("gru", 2, 1)])
def test_t_step_product_traced_from_the_unrolled_layer(mode, steps, hidden):
    p = theory.derive_product(mode, steps, hidden)
    assert p.matches_product
    reversed_order = sympy.eye(p.product.rows)
    for t in range(1, steps + 1):
        reversed_order = reversed_order * theory.step_jacobian(mode, hidden, t)
    if p.product.rows > 1:  # scalars commute; matrices do not
        diff = (p.closed_form - reversed_order).xreplace(p.state_defs)
        assert not theory.is_zero_matrix(diff, exact=False)


def test_scalar_rnn_product_and_general_form():
    p = theory.derive_product("rnn", 3)
    w = sympy.Symbol("w_hh", real=True)
    h = [sympy.Symbol(f"h_{t}", real=True) for t in range(4)]
    assert p.product[0, 0] == w ** 3 * (1 - h[1] ** 2) * (1 - h[2] ** 2) * (1 - h[3] ** 2)
    general = theory.general_product("rnn")
    T, k = sympy.symbols("T k", integer=True, positive=True)
    assert general.subs({T: 3, k: 0}).doit().subs(
        {sympy.IndexedBase("h", real=True)[t]: h[t] for t in range(1, 4)}) == p.product[0, 0]
    relu = theory.derive_product("rnn", 2, 1, "relu")
    assert relu.matches_product


def test_bptt_sum_of_products_equals_diff_and_reverse_accumulation():
    b = theory.derive_bptt(3)
    assert b.matches
    assert len(sympy.Add.make_args(b.sum_of_products)) == 3  # one term per step k


def test_gamma_is_derived():
    assert theory.activation_gamma("tanh") == 1
    assert theory.activation_gamma("sigmoid") == sympy.Rational(1, 4)
    assert theory.activation_gamma("relu") == 1
    assert theory.activation_gamma("leaky_relu", negative_slope=3.0) == 3
    conditions = theory.bounds.pmb_conditions(theory.activation_gamma("sigmoid"))
    sigma = theory.bounds.SIGMA
    assert conditions["vanishing_sufficient"] == (sigma < 4)
    assert conditions["exploding_necessary"] == (sigma > 4)
    assert conditions["bound_limit_below"] == 0
    assert conditions["bound_limit_above"] == sympy.oo


@pytest.mark.parametrize("mode,sizes,nonlinearity", [
    ("rnn", (1, 4), "tanh"), ("rnn", (3,), "relu"), ("lstm", (1, 2), "tanh"),
    ("gru", (1, 2), "tanh")])
def test_derived_products_match_the_engine(mode, sizes, nonlinearity):
    err = theory.verify_products(mode, sizes, steps=30, scales=(1.0, 2.0),
                                 nonlinearity=nonlinearity)
    assert err <= 1e-10


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_direct_paths_match_the_engine(mode):
    step_err, product_err = theory.verify_paths(mode, hidden=2, steps=30)
    assert step_err <= 1e-10 and product_err <= 1e-10


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_naive_sum_of_products_matches_reverse_accumulation(mode):
    assert theory.verify_bptt(mode, (2,), steps=25) <= 1e-10


def test_bound_and_pmb_hold_in_every_trial():
    worst, vanishing, exploding, violations = theory.verify_bound(trials=30, max_steps=40)
    assert worst <= 1 + 1e-12
    assert violations == 0
    assert vanishing > 0 and exploding > 0  # both regimes were visited


def test_lambdify_bridge_matches_high_precision_evaluation():
    assert theory.verify_lambdify() <= 1e-12


def test_step_functions_evaluate_the_derived_formula(rng):
    d = theory.derive_step("rnn", 2, 2)
    fn = theory.StepFunctions(d)
    layer = theory.random_layer("rnn", 2, 2, rng)
    x = rng.standard_normal((1, 1, 2))
    states = theory.engine_states(layer, "rnn", x, np.zeros(2))
    w = theory.layer_weights(layer)
    jac = fn.jacobian(x[0, 0], states[0], states[1], w)
    expected = np.diag(1 - states[1] ** 2) @ layer.weight_hh_l0.numpy()
    np.testing.assert_allclose(jac, expected, rtol=1e-14)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_fused_and_unrolled_layers_trace_to_the_same_function(mode, rng):
    fused = theory.random_layer(mode, 1, 1, rng)
    fused.fused = True
    arrays, _ = theory.weight_symbols(mode, 1, 1)
    traced = []
    for layer in (fused, theory.random_layer(mode, 1, 1, rng)):
        x = mg.tensor(np.zeros((3, 1, 1)), dtype=mg.float64, requires_grad=True)
        out, _ = layer(x)
        inputs = {x: symbolic.symbols_like(x, "x")}
        inputs.update({getattr(layer, f"{stem}_l0"): arrays[stem] for stem in theory.STEMS})
        traced.append(symbolic.to_sympy(out.sum(), inputs))
    symbols = sorted(traced[0].free_symbols, key=sympy.default_sort_key)
    assert set(symbols) == traced[1].free_symbols
    point = rng.uniform(-1, 1, len(symbols))
    values = [float(sympy.lambdify(symbols, e)(*point)) for e in traced]
    assert values[0] == pytest.approx(values[1], rel=1e-13)


def test_fused_graph_size_guard():
    rng = np.random.default_rng(0)
    layer = theory.random_layer("lstm", 2, 4, rng)
    layer.fused = True
    x = mg.tensor(np.zeros((40, 1, 2)), dtype=mg.float64, requires_grad=True)
    out, _ = layer(x)
    with pytest.raises(symbolic.ExpressionTooLargeError, match="operations"):
        symbolic.to_sympy(out, {x: "x"})
