"""Shape ops through the public API: reshape/view/flatten, transpose/permute, squeeze/unsqueeze,
expand, indexing (ints, slices, None, Ellipsis, int arrays, bool masks) with scatter-add
gradients, concat/stack/split/chunk, and their error messages."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg


def _leaf(values):
    return mg.tensor(values, dtype=mg.float64, requires_grad=True)


def _arange(*shape):
    return _leaf(np.arange(float(np.prod(shape))).reshape(shape))


# ---- reshape family ------------------------------------------------------------------------------
def test_reshape_view_flatten():
    x = _arange(2, 3, 4)
    assert x.reshape(6, -1).shape == (6, 4) and x.view((4, 6)).shape == (4, 6)
    assert x.reshape(-1).shape == (24,) and mg.reshape(x, 2, 12).shape == (2, 12)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.flatten(0, 1).shape == (6, 4) and mg.flatten(x, -2, -1).shape == (2, 12)
    assert _leaf(2.0).flatten().shape == (1,)
    assert x.reshape(2, 3, 4) is x  # no-op reshapes record nothing
    mg.gradcheck(lambda t: t.reshape(4, -1).flatten(), (x,))


def test_reshape_errors_name_both_shapes():
    x = mg.ones(2, 3)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape.*\(2, 3\).*\(4,\)"):
        x.reshape(4)
    with pytest.raises(ValueError, match="reshape"):
        x.reshape(-1, -1)
    with pytest.raises(ValueError, match="flatten"):
        x.flatten(1, 0)


def test_transpose_permute_and_T():
    v = np.arange(24.0).reshape(2, 3, 4)
    x = _leaf(v)
    np.testing.assert_array_equal(x.transpose(0, 2).numpy(), v.transpose(2, 1, 0))
    np.testing.assert_array_equal(x.transpose(-1, -2).numpy(), v.swapaxes(-1, -2))
    np.testing.assert_array_equal(x.permute(1, 2, 0).numpy(), v.transpose(1, 2, 0))
    np.testing.assert_array_equal(mg.permute(x, (2, 0, 1)).numpy(), v.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.T.numpy(), v.T)
    mg.gradgradcheck(lambda t: t.permute(2, 0, 1) * t.T.permute(0, 2, 1), (x,))
    with pytest.raises(ValueError, match="permute: expected a permutation of 3 dims"):
        x.permute(0, 1)
    with pytest.raises(ValueError, match="permute"):
        x.permute(0, 0, 1)


def test_squeeze_unsqueeze():
    x = _leaf(np.ones((1, 3, 1, 2)))
    assert x.squeeze().shape == (3, 2)
    assert x.squeeze(0).shape == (3, 1, 2) and x.squeeze(2).shape == (1, 3, 2)
    assert x.squeeze(1).shape == x.shape  # a dim that is not 1 stays
    assert mg.squeeze(x, (0, 2)).shape == (3, 2)
    assert x.unsqueeze(0).shape == (1, 1, 3, 1, 2)
    assert x.unsqueeze(-1).shape == (1, 3, 1, 2, 1)
    assert mg.unsqueeze(x, 4).shape == (1, 3, 1, 2, 1)
    with pytest.raises(ValueError, match="unsqueeze: dim 5"):
        x.unsqueeze(5)
    mg.gradcheck(lambda t: t.squeeze().unsqueeze(1), (x,))


def test_expand():
    x = _leaf([[1.0], [2.0]])
    y = x.expand(3, 2, 4)
    assert y.shape == (3, 2, 4) and x.expand(-1, 5).shape == (2, 5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[12.0], [12.0]])
    mg.gradgradcheck(lambda t: t.expand(2, 2, 3) * t.expand(1, 2, 3), (x,))
    with pytest.raises(ValueError, match=r"expand: shape \(2, 1\) cannot be expanded to "
                                         r"\(3, 4\)"):
        x.expand(3, 4)
    with pytest.raises(ValueError, match="fewer dims"):
        x.expand(2)


# ---- indexing ------------------------------------------------------------------------------------
INDEXES = [
    (1,), (-1, 1), (slice(None, None, -1),), (slice(1, None), None, Ellipsis, 0),
    (Ellipsis, slice(0, 3, 2)), (None,), (np.array([2, 0, 2, 2]),), ([1, 1], slice(None), [0, 3]),
    (slice(None), np.array([[0, 1], [1, 1]])), (np.array([True, False, True]),),
    (Ellipsis, np.array([0, 0, -1])), (np.array([0, 2]), np.array([1, 1]), np.array([3, 3])),
]


@pytest.mark.parametrize("index", INDEXES, ids=repr)
def test_getitem_matches_numpy_and_scatter_adds_gradients(index):
    v = np.arange(24.0).reshape(3, 2, 4)
    x = _leaf(v)
    y = x[index]
    np.testing.assert_array_equal(y.numpy(), v[index])
    w = np.random.default_rng(0).standard_normal(y.shape)
    (y * mg.tensor(w)).sum().backward()
    expected = np.zeros_like(v)
    np.add.at(expected, index if isinstance(index, tuple) else (index,), w)
    np.testing.assert_allclose(x.grad.numpy(), expected)
    mg.gradgradcheck(lambda t: t[index] * t[index], (x,))


def test_getitem_with_tensors_and_masks():
    x = _arange(3, 4)
    np.testing.assert_array_equal(x[mg.tensor([2, 0])].numpy(), x.numpy()[[2, 0]])
    np.testing.assert_array_equal(x[x > 5].numpy(), x.numpy()[x.numpy() > 5])
    (x[x > 5] * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(x.numpy() > 5, 2.0, 0.0))


def test_repeated_indices_accumulate_their_gradients():
    x = _leaf([1.0, 2.0, 3.0])
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_bad_indices_say_what_is_wrong():
    x = mg.ones(2, 3)
    with pytest.raises(IndexError, match=r"out of bounds.*shape \(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match="int or bool"):
        x[np.array([0.5])]
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        x[0.5]


# ---- concat / stack / split / chunk --------------------------------------------------------------
@given(sizes=st.lists(st.integers(0, 3), min_size=1, max_size=4),
       base=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3),
       data=st.data())
def test_concat_split_round_trip(sizes, base, data):
    dim = data.draw(st.integers(-len(base), len(base) - 1))
    rng = np.random.default_rng(len(sizes))
    parts = []
    for s in sizes:
        shape = list(base)
        shape[dim] = s
        parts.append(_leaf(rng.standard_normal(shape)))
    joined = mg.concat(parts, dim)
    np.testing.assert_array_equal(joined.numpy(), np.concatenate([p.numpy() for p in parts], dim))
    back = joined.split(sizes, dim)
    for p, b in zip(parts, back, strict=True):
        np.testing.assert_array_equal(p.numpy(), b.numpy())
    mg.gradcheck(lambda *ts: mg.cat(ts, dim).split(sizes[:1] + [sum(sizes[1:])], dim), parts)


def test_stack_split_chunk():
    a, b = _leaf([1.0, 2.0, 3.0]), _leaf([4.0, 5.0, 6.0])
    s = mg.stack([a, b], dim=1)
    np.testing.assert_array_equal(s.numpy(), [[1, 4], [2, 5], [3, 6]])
    assert mg.stack([a, b], dim=-1).shape == (3, 2)
    assert [t.shape for t in s.split(2)] == [(2, 2), (1, 2)]
    assert [t.shape for t in mg.split(s, 1, dim=1)] == [(3, 1), (3, 1)]
    assert [t.shape for t in s.chunk(2)] == [(2, 2), (1, 2)]
    assert [t.shape for t in mg.chunk(mg.ones(6), 4)] == [(2,), (2,), (2,)]
    mg.gradgradcheck(lambda x, y: mg.stack([x * y, x], 0).chunk(2, dim=1)[1], (a, b))


def test_concat_stack_split_errors():
    with pytest.raises(ValueError, match=r"concat: tensor 1 has shape \(2, 2\), expected "
                                         r"\(\*, 3\)"):
        mg.concat([mg.ones(2, 3), mg.ones(2, 2), mg.ones(3, 3)], dim=0)
    with pytest.raises(ValueError, match="at least one"):
        mg.concat([])
    with pytest.raises(ValueError, match="zero-dimensional"):
        mg.concat([mg.tensor(1.0), mg.tensor(2.0)])
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(2,\), expected \(3,\)"):
        mg.stack([mg.ones(3), mg.ones(2)])
    with pytest.raises(ValueError, match="do not add up"):
        mg.ones(5).split([2, 2])
    with pytest.raises(ValueError, match="positive"):
        mg.ones(5).split(0)
    with pytest.raises(ValueError, match="positive"):
        mg.ones(5).chunk(0)
