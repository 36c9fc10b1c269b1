"""Edge cases where minigrad follows PyTorch, checked without PyTorch against values worked out
by hand (tests/test_edges_torch.py checks the same against PyTorch itself): 0-d shape ops,
empty index_select, chunk / split of empty and uneven dims, var / std with correction >= N,
concat of one tensor, and the gradients of abs and max / min / amax / amin at NaNs and ties."""

import warnings

import numpy as np
import pytest

import minigrad as mg

NAN, INF = float("nan"), float("inf")


def _leaf(data, dtype=mg.float64):
    return mg.tensor(np.asarray(data, dtype=np.float64), dtype=dtype, requires_grad=True)


def _grad(y, x, grad_out=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = None if grad_out is None else mg.tensor(np.asarray(grad_out, dtype=x.dtype))
        return mg.grad(y, [x], grad_outputs=g)[0].numpy()


def _equal(actual, expected):
    """Equal values, NaN exactly where expected has NaN, inf signs included."""
    actual = actual.numpy() if isinstance(actual, mg.Tensor) else np.asarray(actual)
    np.testing.assert_array_equal(actual, np.asarray(expected, dtype=np.float64))


# ---- 0-d shape ops ---------------------------------------------------------------------------
def test_zero_dim_transpose_flatten_squeeze_unsqueeze():
    x = _leaf(1.5)
    for y in (x.transpose(0, 0), x.transpose(0, -1), mg.transpose(x, -1, -1), x.squeeze(0),
              x.squeeze(-1), x.permute(())):
        assert y.shape == () and y.item() == 1.5
    for y in (x.flatten(), x.flatten(0, 0), x.flatten(-1, 0), x.unsqueeze(0), x.unsqueeze(-1)):
        assert y.shape == (1,)
    for bad in (lambda: x.transpose(0, 1), lambda: x.flatten(1), lambda: x.flatten(0, 2),
                lambda: x.squeeze(1), lambda: x.unsqueeze(1), lambda: x.permute(0)):
        with pytest.raises(ValueError, match="dim|permutation"):
            bad()
    _equal(_grad(x.transpose(0, 0) * 3.0, x), 3.0)


# ---- index_select ----------------------------------------------------------------------------
def test_index_select_of_empty_tensors_and_empty_indices():
    for shape, dim, index, want in [((0, 2, 3), 0, [], (0, 2, 3)), ((0, 2, 3), 1, [1, 0, 1],
                                    (0, 3, 3)), ((2, 3, 4), 1, [], (2, 0, 4)),
                                    ((2, 0, 3), 2, [2], (2, 0, 1))]:
        x = _leaf(np.zeros(shape))
        y = mg.index_select(x, dim, np.array(index, dtype=np.int64))
        assert y.shape == want
        assert _grad(y.sum(), x).shape == shape


def test_index_select_of_a_0d_tensor_and_a_0d_index():
    x = _leaf(2.5)
    y = mg.index_select(x, 0, np.array([0]))
    assert y.shape == () and y.item() == 2.5
    _equal(_grad(y * 4.0, x), 4.0)
    assert mg.index_select(x, -1, np.array(0)).shape == ()
    with pytest.raises(ValueError, match="one entry"):
        mg.index_select(x, 0, np.array([0, 0]))
    with pytest.raises(IndexError):
        mg.index_select(x, 0, np.array([1]))
    v = _leaf([1.0, 2.0, 3.0])
    y = mg.index_select(v, 0, np.array(2))  # a 0-d index picks one entry, keeping the dim
    assert y.shape == (1,) and y.item() == 3.0


# ---- chunk / split ---------------------------------------------------------------------------
@pytest.mark.parametrize("n, chunks, sizes", [
    (0, 4, [0, 0, 0, 0]), (0, 1, [0]), (5, 4, [2, 2, 1]), (6, 4, [2, 2, 2]), (10, 4, [3, 3, 3, 1]),
    (7, 3, [3, 3, 1]), (13, 5, [3, 3, 3, 3, 1]), (2, 5, [1, 1]), (8, 8, [1] * 8), (1, 3, [1]),
])
def test_chunk_pieces_are_ceil_n_over_chunks(n, chunks, sizes):
    assert [p.shape[0] for p in mg.chunk(mg.zeros(n, 2), chunks)] == sizes
    assert [p.shape[1] for p in mg.chunk(mg.zeros(2, n), chunks, dim=-1)] == sizes


def test_split_of_empty_dims():
    assert [p.shape for p in mg.split(mg.zeros(0, 3), 2)] == [(0, 3)]
    assert [p.shape for p in mg.split(mg.zeros(0, 3), 0)] == [(0, 3)]
    assert [p.shape for p in mg.split(mg.zeros(0, 3), [0, 0])] == [(0, 3), (0, 3)]
    assert mg.split(mg.zeros(0, 3), []) == ()
    assert [p.shape for p in mg.split(mg.zeros(5), mg.tensor(2))] == [(2,), (2,), (1,)]
    with pytest.raises(ValueError, match="0 only for a dim of size 0"):
        mg.split(mg.zeros(3), 0)
    with pytest.raises(ValueError, match="positive"):
        mg.split(mg.zeros(3), -1)
    with pytest.raises(ValueError, match="at least 1 dim"):
        mg.split(mg.tensor(1.0), 1)
    with pytest.raises(ValueError, match="at least 1 dim"):
        mg.chunk(mg.tensor(1.0), 2)
    with pytest.raises(TypeError, match="chunks must be an int"):
        mg.chunk(mg.zeros(4), 2.0)
    with pytest.raises(TypeError, match="split_size"):
        mg.split(mg.zeros(4), 2.0)


def test_chunk_pieces_carry_their_gradients():
    x = _leaf(np.arange(5.0))
    y = mg.cat([p * float(i + 1) for i, p in enumerate(mg.chunk(x, 3))])
    _equal(_grad(y.sum(), x), [1.0, 1.0, 2.0, 2.0, 3.0])


# ---- var / std -------------------------------------------------------------------------------
def test_var_with_correction_at_least_n():
    # sum((x - mean)^2) = 14/3 for [1, 2, 4]; divided by max(0, N - c) = 0: inf
    _equal(mg.var(mg.tensor([1.0, 2.0, 4.0]), correction=3), INF)
    _equal(mg.var(mg.tensor([1.0, 2.0, 4.0]), correction=5), INF)
    _equal(mg.std(mg.tensor([1.0, 2.0, 4.0]), correction=3), INF)
    _equal(mg.var(mg.tensor([2.0, 2.0, 2.0]), correction=3), NAN)  # 0 / 0
    _equal(mg.var(mg.tensor([5.0])), NAN)                          # N = c = 1
    _equal(mg.var(mg.tensor([5.0]), correction=0), 0.0)
    _equal(mg.var(mg.tensor(3.0)), NAN)
    _equal(mg.var(mg.zeros(0), correction=0), NAN)                 # N = c = 0
    _equal(mg.var(mg.zeros(0, 3), dim=0, correction=0), [NAN] * 3)
    _equal(mg.std(mg.zeros(2, 0), dim=1), [NAN, NAN])
    _equal(mg.var(mg.tensor([[1.0, 2.0, 4.0], [2.0, 2.0, 2.0]]), dim=1, correction=3),
           [INF, NAN])
    _equal(mg.var(mg.tensor([1.0, 2.0, 3.0]), correction=2.5), 4.0)  # 2 / (3 - 2.5)


def test_var_gradient_with_correction_at_least_n():
    # Over everything (dim=None): g * inf where x differs from its mean (2), NaN where equal.
    x = _leaf([1.0, 2.0, 3.0])
    _equal(_grad(mg.var(x, correction=3), x), [INF, NAN, INF])
    _equal(_grad(mg.var(x, correction=3), x, -2.0), [-INF, NAN, -INF])
    # Over a dim: 2 / (N - c) * g * (x - mean): 2/0 = inf, so the signs of x - mean...
    _equal(_grad(mg.var(x, dim=0, correction=3), x), [-INF, NAN, INF])
    # ... and N < c gives 2 / (3 - 4) = -2: a finite gradient, as PyTorch's formula does.
    _equal(_grad(mg.var(x, dim=0, correction=4), x), [2.0, 0.0, -2.0])
    y = _leaf([2.0, 2.0])
    _equal(_grad(mg.var(y, correction=2), y), [NAN, NAN])


def test_std_gradient_is_zero_where_std_is_zero():
    x = _leaf([2.0, 2.0, 2.0])
    _equal(_grad(mg.std(x), x), [0.0, 0.0, 0.0])  # sqrt's inf times 0 would give NaN
    x = _leaf([5.0])
    _equal(_grad(mg.std(x, correction=0), x), [0.0])
    x = _leaf([1.0, 2.0, 4.0])
    _equal(_grad(mg.std(x, correction=3), x), [NAN, NAN, NAN])  # g / (2 inf) = 0, 0 * inf
    # d std / dx = (x - mean) / ((N - 1) std): [2, 2, 4]: mean 8/3, std 2/sqrt(3)
    x = _leaf([2.0, 2.0, 4.0])
    s = 2.0 / np.sqrt(3.0)
    np.testing.assert_allclose(_grad(mg.std(x), x), np.array([-2, -2, 4]) / 3 / (2 * s),
                               rtol=1e-14)


def test_var_and_std_gradgradcheck_and_int_inputs():
    x = _leaf(np.random.default_rng(0).standard_normal((3, 4)))
    for fn in (mg.var, mg.std):
        mg.gradcheck(lambda t, fn=fn: fn(t, dim=1, correction=0.5), (x,))
        mg.gradgradcheck(lambda t, fn=fn: fn(t, dim=1, correction=0.5), (x,))
        mg.gradgradcheck(lambda t, fn=fn: fn(t), (x,))
        with pytest.raises(TypeError, match="float tensor"):
            fn(mg.tensor([1, 2, 3]))
        with pytest.raises(TypeError, match="correction"):
            fn(x, correction="1")


# ---- concat of one tensor --------------------------------------------------------------------
def test_concat_of_one_tensor_is_a_new_tensor_in_the_graph():
    a = _leaf([1.0, 2.0])
    out = mg.cat([a])
    assert out is not a and not np.shares_memory(out.numpy(), a.numpy())
    assert out.op == "concat"
    out.numpy()[0] = 9.0
    _equal(a, [1.0, 2.0])
    _equal(_grad((mg.cat([a]) * 3.0).sum(), a), [3.0, 3.0])
    s = mg.stack([a])
    assert s.shape == (1, 2) and not np.shares_memory(s.numpy(), a.numpy())


# ---- abs and max / min at NaNs and ties ------------------------------------------------------
def test_abs_gradient_is_zero_at_nan_and_zero():
    x = _leaf([NAN, -2.0, 0.0, -0.0, 3.0, INF, -INF])
    _equal(_grad(mg.abs(x), x, [1.0, 2, 3, 4, 5, 6, 7]), [0.0, -2, 0, 0, 5, 6, -7])
    x32 = _leaf([NAN, -1.5], dtype=mg.float32)
    g = _grad(mg.abs(x32), x32, [1.0, 1.0])
    assert g.dtype == np.float32
    _equal(g, [0.0, -1.0])


ROWS = [[1.0, NAN, 3.0, NAN], [2.0, 5.0, 5.0, 1.0], [3.0, 3.0, 3.0, 3.0]]


def test_max_and_min_with_dim_send_the_gradient_to_the_index():
    x = _leaf(ROWS)
    values, indices = x.max(dim=1)
    _equal(values, [NAN, 5.0, 3.0])
    assert indices.numpy().tolist() == [1, 1, 0]  # the first NaN, else the first maximum
    _equal(_grad(values, x, [1.0, 2.0, 3.0]),
           [[0, 1, 0, 0], [0, 2, 0, 0], [3, 0, 0, 0]])
    values, indices = mg.min(x, dim=-1, keepdim=True)
    assert values.shape == (3, 1) and indices.numpy().tolist() == [[1], [3], [0]]
    _equal(_grad(values, x, [[1.0], [2.0], [3.0]]),
           [[0, 1, 0, 0], [0, 0, 0, 2], [3, 0, 0, 0]])
    values, indices = x.max(dim=0)
    assert indices.numpy().tolist() == [2, 0, 1, 0]
    _equal(_grad(values, x, [1.0, 2.0, 3.0, 4.0]), [[0, 2, 0, 4], [0, 0, 3, 0], [1, 0, 0, 0]])
    s = _leaf(4.0)
    values, indices = s.max(0)
    assert values.shape == () and indices.numpy().tolist() == 0
    _equal(_grad(values * 2.0, s), 2.0)


def test_amax_shares_ties_and_spreads_nan_over_the_slice():
    x = _leaf(ROWS)
    _equal(_grad(mg.amax(x, dim=1), x, [1.0, 2.0, 4.0]),
           [[NAN] * 4, [0, 1, 1, 0], [1, 1, 1, 1]])
    _equal(_grad(mg.amin(x, dim=1), x, [1.0, 2.0, 4.0]),
           [[NAN] * 4, [0, 0, 0, 2], [1, 1, 1, 1]])
    _equal(_grad(mg.amax(x), x), [[NAN] * 4] * 3)
    y = _leaf(ROWS[1:])
    _equal(_grad(mg.amax(y), y), [[0, 0.5, 0.5, 0], [0, 0, 0, 0]])


def test_max_without_dim_shares_among_ties_and_among_nans():
    x = _leaf(ROWS)
    _equal(_grad(x.max(), x), [[0, 0.5, 0, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]])
    _equal(_grad(mg.min(x), x), [[0, 0.5, 0, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]])
    y = _leaf(ROWS[1:])
    _equal(_grad(y.max(), y), [[0, 0.5, 0.5, 0], [0, 0, 0, 0]])
    _equal(_grad(y.min(), y), [[0, 0, 0, 1], [0, 0, 0, 0]])
    z = _leaf([INF, 1.0, INF])
    _equal(_grad(z.max(), z), [0.5, 0.0, 0.5])


def test_max_gradgradcheck_through_the_gather():
    x = _leaf(np.random.default_rng(1).permutation(12).reshape(3, 4) * 0.5)
    mg.gradcheck(lambda t: t.max(dim=1).values, (x,))
    mg.gradgradcheck(lambda t: t.max(dim=0, keepdim=True).values ** 2, (x,))
    mg.gradgradcheck(lambda t: t.max() * t.min(), (x,))
    mg.gradgradcheck(lambda t: mg.abs(t - 2.7) * t, (x,))


def test_max_dim_is_one_recorded_op_whose_symbolic_rule_is_max():
    import sympy

    from minigrad.ops.reduce import max_dim_p, min_dim_p
    x = _leaf([[1.0, 3.0], [4.0, 2.0]])
    assert x.max(dim=1).values.op == "max_dim" and x.min(dim=0).values.op == "min_dim"
    a, b = sympy.symbols("a b", real=True)
    row = np.array([[a, b]], dtype=object)
    assert max_dim_p.symbolic(row, dim=1, keepdim=False, index=np.array([1]))[0] == sympy.Max(
        a, b)
    assert min_dim_p.symbolic(row, dim=1, keepdim=True, index=np.array([[0]])).shape == (1, 1)
