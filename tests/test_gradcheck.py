"""mg.gradcheck / mg.gradgradcheck: they pass correct rules, catch wrong ones with a report of the
worst entry, refuse inputs they cannot check, and leave the inputs untouched."""

import numpy as np
import pytest

import minigrad as mg


def _leaf(values):
    return mg.tensor(values, dtype=mg.float64, requires_grad=True)


def _square_with_wrong_grad(x, index=1, factor=1.5):
    """x * x whose gradient is scaled by ``factor`` at one flat ``index`` (a hook)."""
    y = x * x
    mask = np.ones(x.shape)
    mask.reshape(-1)[index] = factor
    y.register_hook(lambda g: g * mg.tensor(mask))
    return y


def test_gradcheck_passes_correct_gradients_of_several_inputs_and_outputs():
    a, b = _leaf([[0.5, -1.0], [2.0, 0.1]]), _leaf([0.3, 0.7])
    assert mg.gradcheck(lambda x, y: ((x * y).tanh(), x @ y, (x + 2).log()), (a, b))
    assert mg.gradgradcheck(lambda x, y: ((x * y).tanh(), x @ y), (a, b))


def test_gradcheck_reports_the_worst_entry():
    x = _leaf([1.0, 2.0, 3.0])
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(lambda t: _square_with_wrong_grad(t, index=1), (x,))
    msg = str(info.value)
    assert "input 0 (shape (3,))" in msg and "index (1,)" in msg
    assert "analytic" in msg and "numerical" in msg and "1 of 3 entries" in msg


def test_gradcheck_without_raising_returns_false():
    x = _leaf([1.0, 2.0])
    assert mg.gradcheck(lambda t: _square_with_wrong_grad(t, 0), (x,),
                        raise_exception=False) is False


def test_gradgradcheck_catches_a_wrong_second_derivative_with_a_right_first():
    def doubled_curvature(t):
        u = t * t
        u.register_hook(lambda g: g + (g - g.detach()))  # same value, twice its derivative
        return u * t
    x = _leaf([0.5, -1.5])
    assert mg.gradcheck(doubled_curvature, (x,))
    with pytest.raises(mg.GradcheckError, match="gradgradcheck: second derivatives"):
        mg.gradgradcheck(doubled_curvature, (x,))


def test_gradcheck_needs_float64_inputs_that_require_grad():
    with pytest.raises(TypeError, match="float64"):
        mg.gradcheck(lambda t: t * 2, (mg.tensor([1.0], requires_grad=True),))
    with pytest.raises(ValueError, match="requires_grad"):
        mg.gradcheck(lambda t: t * 2, (mg.tensor([1.0], dtype=mg.float64),))


def test_gradcheck_refuses_a_non_contiguous_input():
    x = mg.from_numpy(np.ones((3, 2)).T)
    x.requires_grad_()
    with pytest.raises(ValueError, match="contiguous"):
        mg.gradcheck(lambda t: t * 2, (x,))


def test_inputs_are_left_exactly_as_they_were_even_after_a_failure():
    x = _leaf([0.1, 0.2, 0.3])
    before = x.numpy().copy()
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(lambda t: _square_with_wrong_grad(t, 2), (x,))
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None


def test_non_tensor_arguments_pass_through_and_unused_inputs_have_zero_gradient():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0])
    assert mg.gradcheck(lambda x, y, k: x * k, (a, b, 4.0))
    assert mg.gradgradcheck(lambda x, y, k: x * x * k, (a, b, 4.0))


def test_a_function_that_calls_grad_itself_can_be_checked():
    w = _leaf([[0.2, -0.4], [0.5, 0.1]])

    def grad_norm(t):
        (g,) = mg.grad((t @ t).tanh().sum(), t, create_graph=True)
        return (g * g).sum()
    assert mg.gradcheck(grad_norm, (w,))


def test_gradcheck_bumps_the_version_of_what_it_perturbs_and_restores_it():
    x = mg.tensor(np.array([[0.3, -0.2, 0.5], [1.1, 0.4, -0.7]]), dtype=mg.float64,
                  requires_grad=True)
    before = x.numpy().copy()
    assert mg.gradcheck(lambda t: (t * t).tanh(), (x,))
    assert x._version >= 3 * x.numel()  # each write is seen by version-keyed caches
    np.testing.assert_array_equal(x.numpy(), before)
