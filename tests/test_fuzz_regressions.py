"""Bugs found by the graph fuzz (tests/fuzz_graphs.py, bench/soak_fuzz.py), one minimal
reproduction each: a strict xfail while the bug is open (a fix makes pytest report XPASS as a
failure; the marker and the name in ``fuzz_graphs.FOUND`` then come off), a plain regression
test once it is fixed. All found so far are fixed."""

import numpy as np
import pytest

import minigrad as mg


@pytest.mark.parametrize("reducer", [mg.max, mg.min])
def test_max_dim_keepdim_of_0d_indices_shape(reducer):
    """Found at 640a0f7 (indices (1,), values ()); the max(dim) rewrite in progress for the NaN
    gradients (issue 14) fixes it too, so this one is a plain regression test."""
    values, indices = reducer(mg.tensor(2.0), dim=0, keepdim=True)
    assert values.shape == ()
    assert indices.shape == ()


def test_pow_second_derivative_at_zero_exponent():
    # pow's backward replaces b by 1 where b == 0 (so that 0 * 0 ** -1 is not NaN), which also
    # replaces a ** (b - 1) by a ** 0 = 1 in the graph of the gradient: d/db (b a^(b-1)) at
    # b = 0 is a^-1 (0.5 here), the rule's graph gives 1. (PyTorch gives 0, also wrong: its
    # own gradgradcheck fails at this point.)
    a = mg.tensor([2.0], dtype=mg.float64, requires_grad=True)
    b = mg.tensor([0.0], dtype=mg.float64, requires_grad=True)
    ga, _ = mg.grad(mg.pow(a, b).sum(), [a, b], create_graph=True)
    (gab,) = mg.grad(ga.sum(), [b])
    np.testing.assert_allclose(gab.numpy(), [0.5], rtol=1e-12)
    assert mg.gradgradcheck(lambda a, b: mg.pow(a, b), (a, b))


@pytest.mark.parametrize("fn", [mg.softmax, mg.log_softmax])
def test_softmax_of_0d_checks_dim(fn):
    # found by the soak's invalid-argument probes: every other op checks dim on 0-d tensors
    # (sum, amax, squeeze ... raise "dim 2 is out of range for a tensor with 0 dims")
    with pytest.raises((ValueError, IndexError)):
        fn(mg.tensor(1.0), dim=2)


def test_getitem_rows_gradient_beside_a_transposed_gradient():
    # found by the soak (seed [1, 8556], gradcheck). Without create_graph, getitem returns a
    # PartialGrad; the engine's _densify copies the dense gradient with np.array(g), which keeps
    # the transposed layout, and scatter_add_into adds the rows into out.reshape(n, -1): a copy
    # for a non-C-contiguous out, so the rows' gradient is written into the copy and lost. With
    # create_graph=True (a dense index_scatter) the same gradient is right.
    x = mg.tensor(np.ones((1, 2, 2)), dtype=mg.float64, requires_grad=True)
    w = mg.tensor(np.ones((1, 2, 2)), dtype=mg.float64)
    loss = (x.transpose(1, 2) * w).sum() + x[np.array([0])].sum()
    (g,) = mg.grad(loss, [x])
    np.testing.assert_array_equal(g.numpy(), np.full((1, 2, 2), 2.0))   # minigrad: all 1.0
