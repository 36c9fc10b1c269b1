"""matmul (batched, broadcasting batch dims, numpy's 1-D rules) and the row gathers embedding /
index_select with their scatter-add backward."""

import numpy as np
import pytest

import minigrad as mg


def _leaf(values):
    return mg.tensor(values, dtype=mg.float64, requires_grad=True)


MATMUL_SHAPES = [
    ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2)),
    ((2, 1, 2, 3), (3, 3, 2)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)), ((4, 2, 3), (3,)),
    ((3,), (2, 3, 4)), ((0, 3), (3, 2)), ((2, 0), (0, 3)),
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=str)
def test_matmul_matches_numpy_and_its_gradients_are_exact(rng, sa, sb):
    a, b = _leaf(rng.standard_normal(sa)), _leaf(rng.standard_normal(sb))
    out = a @ b
    np.testing.assert_allclose(out.numpy(), np.matmul(a.numpy(), b.numpy()), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(gradient=mg.tensor(g))
    # Reference gradients by explicit broadcasting and summing, from numpy.
    a2 = a.numpy()[None] if a.ndim == 1 else a.numpy()
    b2 = b.numpy()[:, None] if b.ndim == 1 else b.numpy()
    g2 = np.matmul(a2, b2)
    g2 = g.reshape(g2.shape)
    ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
    gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
    np.testing.assert_allclose(a.grad.numpy(), _sum_to(ga, a2.shape).reshape(sa), atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), _sum_to(gb, b2.shape).reshape(sb), atol=1e-12)
    mg.gradgradcheck(lambda x, y: x @ y, (a, b))


def _sum_to(g, shape):
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead)))
    return g.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1),
                 keepdims=True)


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: \(2, 3\) @ \(4, 5\): the inner dimensions"):
        mg.ones(2, 3) @ mg.ones(4, 5)
    with pytest.raises(ValueError, match=r"batch dimensions \(2,\) and \(3,\)"):
        mg.ones(2, 3, 4) @ mg.ones(3, 4, 5)
    with pytest.raises(ValueError, match="at least 1 dim"):
        mg.matmul(mg.tensor(2.0), mg.ones(2))


def test_matmul_dtype_rule():
    assert (mg.ones(2, 2) @ mg.ones(2, 2, dtype=mg.float64)).dtype == np.float64
    assert (mg.tensor([[1, 2]]) @ mg.ones(2, 2)).dtype == np.float32
    assert (np.ones((2, 2)) @ mg.ones(2, 2, dtype=mg.float64)).dtype == np.float64


# ---- embedding / index_select --------------------------------------------------------------------
def test_embedding_gathers_rows_and_scatter_adds_gradients(rng):
    w = _leaf(rng.standard_normal((5, 3)))
    idx = np.array([[0, 4, 4], [1, 4, 0]])
    out = mg.embedding(w, mg.tensor(idx))
    np.testing.assert_array_equal(out.numpy(), w.numpy()[idx])
    g = rng.standard_normal(out.shape)
    out.backward(gradient=mg.tensor(g))
    expected = np.zeros((5, 3))
    np.add.at(expected, idx, g)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12)
    mg.gradgradcheck(lambda t: mg.embedding(t, idx) * mg.embedding(t, idx[::-1]), (w,))


def test_embedding_padding_row_gets_no_gradient(rng):
    w = _leaf(rng.standard_normal((4, 2)))
    idx = np.array([2, 0, 2, 3])
    out = mg.embedding(w, idx, padding_idx=2)
    np.testing.assert_array_equal(out.numpy(), w.numpy()[idx])  # the forward still reads the row
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [0, 0], [0, 0], [1, 1]])
    (g,) = mg.grad((mg.embedding(w, idx, 2) ** 2).sum(), w, create_graph=True)
    (h,) = mg.grad(g.sum(), w)
    np.testing.assert_array_equal(h.numpy(), [[2, 2], [0, 0], [0, 0], [2, 2]])


def test_embedding_checks_its_arguments():
    w = mg.ones(3, 2)
    with pytest.raises(IndexError, match=r"embedding: indices must lie in \[0, 3\)"):
        mg.embedding(w, [3])
    with pytest.raises(IndexError, match="embedding"):
        mg.embedding(w, [-1])
    with pytest.raises(TypeError, match="integer"):
        mg.embedding(w, mg.tensor([0.0]))
    with pytest.raises(ValueError, match=r"2-D weight.*\(3,\)"):
        mg.embedding(mg.ones(3), [0])


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_index_select_along_any_dim(rng, dim):
    v = rng.standard_normal((3, 4, 2))
    x = _leaf(v)
    index = np.array([1, 0, 1, 1])[: v.shape[dim] + 1]
    index = index[index < v.shape[dim]]
    out = mg.index_select(x, dim, mg.tensor(index))
    np.testing.assert_array_equal(out.numpy(), np.take(v, index, axis=dim))
    out.sum().backward()
    counts = np.bincount(index, minlength=v.shape[dim]).astype(float)
    shape = [1, 1, 1]
    shape[dim] = -1
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(counts.reshape(shape), v.shape))
    mg.gradgradcheck(lambda t: mg.index_select(t, dim, index) ** 2, (x,))


def test_index_select_checks_its_arguments():
    x = mg.ones(2, 3)
    with pytest.raises(IndexError, match=r"index_select: indices must lie in \[0, 3\)"):
        mg.index_select(x, 1, [3])
    with pytest.raises(ValueError, match="1-D index"):
        mg.index_select(x, 0, [[0]])
    with pytest.raises(ValueError, match="index_select: dim 2"):
        mg.index_select(x, 2, [0])
