"""Every numba kernel in ``minigrad.kernels`` against a plain numpy reference, in float32 and
float64, for empty and non-empty sizes, with inf/NaN passed through (no fastmath).

``REFERENCES`` maps each kernel to a test; ``test_every_kernel_is_tested`` fails when a kernel
module gains a function without one.
"""

import importlib
import pkgutil

import numba
import numpy as np
import pytest

import minigrad.kernels
from minigrad.kernels import elementwise as ek
from minigrad.kernels import rows as rk

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 7, 64]


def _all_kernels():
    found = {}
    for info in pkgutil.iter_modules(minigrad.kernels.__path__):
        module = importlib.import_module(f"minigrad.kernels.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == \
                    module.__name__:
                found[f"{info.name}.{name}"] = obj
    return found


def _tol(dtype):
    return {"rtol": 2e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-13, "atol": 0}


def _flat_inputs(rng, n, dtype):
    return rng.standard_normal(n).astype(dtype), rng.uniform(-1, 1, n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_tanh_backward(rng, dtype, n):
    g, y = _flat_inputs(rng, n, dtype)
    out = np.empty(n, dtype)
    ek.tanh_backward(g, y, out)
    np.testing.assert_allclose(out, g * (1 - y * y), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_sigmoid_backward(rng, dtype, n):
    g, y = _flat_inputs(rng, n, dtype)
    out = np.empty(n, dtype)
    ek.sigmoid_backward(g, y, out)
    np.testing.assert_allclose(out, g * y * (1 - y), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("slope", [0.0, 0.01, -0.5])
def test_leaky_relu_forward_and_backward(rng, dtype, n, slope):
    g, x = _flat_inputs(rng, n, dtype)
    if n:
        x[0] = 0.0  # the kink: x > 0 is false at 0, so the negative branch is taken
    out = np.empty(n, dtype)
    ek.leaky_relu_forward(x, slope, out)
    np.testing.assert_allclose(out, np.where(x > 0, x, dtype(slope) * x), **_tol(dtype))
    ek.leaky_relu_backward(g, x, slope, out)
    np.testing.assert_allclose(out, np.where(x > 0, g, dtype(slope) * g), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (1, 1), (5, 7)])
def test_softmax_backward(rng, dtype, shape):
    g = rng.standard_normal(shape).astype(dtype)
    y = rng.random(shape).astype(dtype)
    out = np.empty(shape, dtype)
    rk.softmax_backward(g, y, out)
    ref = y * (g - np.sum(g * y, axis=1, keepdims=True))
    np.testing.assert_allclose(out, ref, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_src, n_rows, width", [(0, 3, 2), (6, 3, 2), (5, 1, 4), (4, 4, 0)])
def test_scatter_add_rows(rng, dtype, n_src, n_rows, width):
    src = rng.standard_normal((n_src, width)).astype(dtype)
    index = rng.integers(0, n_rows, n_src).astype(np.int64)
    base = rng.standard_normal((n_rows, width)).astype(dtype)
    out = base.copy()
    rk.scatter_add_rows(src, index, out)
    ref = base.copy()
    np.add.at(ref, index, src)  # repeated indices accumulate
    np.testing.assert_allclose(out, ref, **_tol(dtype))


def test_scatter_add_rows_accumulates_repeats():
    out = np.zeros((2, 1))
    rk.scatter_add_rows(np.ones((4, 1)), np.array([1, 1, 1, 0]), out)
    np.testing.assert_array_equal(out, [[1.0], [3.0]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_kernels_propagate_inf_and_nan(dtype):
    """No fastmath: inf and NaN come out as the IEEE rules say (exploding gradients must show)."""
    g = np.array([np.inf, np.nan, 1.0, -np.inf], dtype)
    y = np.array([0.5, 0.5, np.nan, 0.0], dtype)
    out = np.empty(4, dtype)
    ek.tanh_backward(g, y, out)
    np.testing.assert_array_equal(out, g * (1 - y * y))
    ek.sigmoid_backward(g, y, out)
    np.testing.assert_array_equal(out, g * y * (1 - y))
    sm = np.empty((1, 4), dtype)
    rk.softmax_backward(g[None], np.array([[0.5, 0.5, 0.0, 0.0]], dtype), sm)
    assert np.isnan(sm).all()
    x = np.array([np.inf, -np.inf, np.nan, 2.0], dtype)
    ek.leaky_relu_forward(x, 0.1, out)
    np.testing.assert_array_equal(out, np.where(x > 0, x, dtype(0.1) * x))


# Kernels whose numpy / float64 reference tests live beside their feature, and where.
TESTED_ELSEWHERE = {
    **dict.fromkeys([f"softmax.{k}" for k in (
        "_max16", "exp32", "exp32_nonpositive", "row_max", "row_sum", "sum_exp_shifted",
        "logsumexp_row", "logsumexp_rows", "softmax_rows", "log_softmax_rows",
        "log_softmax_backward_rows", "cross_entropy_rows", "cross_entropy_backward_rows")],
        "test_softmax_kernels.py"),
    "norms.max_abs": "test_softmax_kernels.py::test_norm_kernels_match_float64",
    "norms.sum_squares": "test_softmax_kernels.py::test_norm_kernels_match_float64",
    **dict.fromkeys([f"optim.{k}" for k in (
        "sgd_plain", "sgd_weight_decay", "sgd_momentum", "adam", "adam_amsgrad")],
        "test_optim.py (the update formulas) and test_train_torch.py (torch.optim)"),
}


def test_every_kernel_is_tested():
    tested = {"elementwise.tanh_backward", "elementwise.sigmoid_backward",
              "elementwise.leaky_relu_forward", "elementwise.leaky_relu_backward",
              "rows.softmax_backward", "rows.scatter_add_rows"}
    untested = sorted(set(_all_kernels()) - tested - set(TESTED_ELSEWHERE))
    assert not untested, (f"kernels without a numpy-reference test (here, or named in "
                          f"TESTED_ELSEWHERE): {untested}")
    stale = sorted(set(TESTED_ELSEWHERE) - set(_all_kernels()))
    assert not stale, f"TESTED_ELSEWHERE names kernels that no longer exist: {stale}"


def test_kernels_follow_the_house_rules():
    """cache=True, error_model='numpy' (vectorises loops with '/'), no fastmath."""
    for name, kernel in _all_kernels().items():
        opts = kernel.targetoptions
        assert opts.get("error_model") == "numpy", name
        assert not opts.get("fastmath"), name
        assert type(kernel._cache).__name__ == "FunctionCache", f"{name} lacks cache=True"
