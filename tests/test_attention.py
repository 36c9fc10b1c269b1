"""Attention: the masked-softmax primitive, scaled dot-product attention, multi-head attention,
Luong and Bahdanau attention -- numpy references, float64 gradchecks, masks, symbolic rules and
error messages. (PyTorch cross-checks live in test_attention_torch.py.)"""

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from models.attention import (
    BahdanauAttention,
    LuongAttention,
    MultiheadAttention,
    masked_softmax,
    masked_softmax_grad,
    masked_softmax_grad_p,
    masked_softmax_p,
    scaled_dot_product_attention,
)


def t64(a, grad=True):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def np_softmax(z):
    """Row softmax of z with -inf entries; all -inf rows give zeros."""
    m = np.max(z, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(z - m)
    s = e.sum(-1, keepdims=True)
    return np.divide(e, s, out=np.zeros_like(e), where=s > 0)


def np_sdpa(q, k, v, bias=None, scale=None):
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    z = q @ np.swapaxes(k, -1, -2) * scale
    if bias is not None:
        z = z + bias
    return np_softmax(z) @ v


# ---- masked softmax -------------------------------------------------------------------------
def test_masked_softmax_matches_numpy_and_zeroes_masked_rows(rng):
    x = rng.standard_normal((2, 3, 5))
    keep = rng.random((3, 5)) > 0.4
    keep[1] = False
    bias = np.where(keep, 0.0, -np.inf)
    y = masked_softmax(mg.tensor(x), mg.tensor(bias), scale=0.7)
    np.testing.assert_allclose(y.numpy(), np_softmax(0.7 * x + bias), atol=1e-12)
    assert np.all(y.numpy()[:, 1] == 0)
    np.testing.assert_allclose(y.numpy()[:, [0, 2]].sum(-1), 1.0)


def test_masked_softmax_float32_and_empty_shapes():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(4, 6)
    y = masked_softmax(mg.tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), np_softmax(x.astype(np.float64)), rtol=1e-6)
    assert masked_softmax(mg.zeros(3, 0)).shape == (3, 0)
    assert masked_softmax(mg.zeros(0, 4)).shape == (0, 4)


def test_masked_softmax_nan_propagates():
    y = masked_softmax(mg.tensor([[0.0, np.nan, 1.0], [np.nan, np.nan, np.nan]]))
    assert np.isnan(y.numpy()).all()


def test_masked_softmax_gradcheck_scores_and_learnt_bias(rng):
    x = t64(rng.standard_normal((2, 3, 4)))
    bias = t64(rng.standard_normal((3, 1)))  # broadcast along the rows' last dim too
    assert mg.gradcheck(lambda a, b: masked_softmax(a, b, scale=0.5), (x, bias))
    assert mg.gradgradcheck(lambda a, b: masked_softmax(a, b, scale=0.5), (x, bias))


def test_masked_softmax_fully_masked_row_has_zero_gradient(rng):
    x = t64(rng.standard_normal((3, 4)))
    bias = np.zeros((3, 4))
    bias[1] = -np.inf
    bias[2, :2] = -np.inf
    y = masked_softmax(x, mg.tensor(bias))
    (y * mg.tensor(rng.standard_normal((3, 4)))).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    assert np.all(x.grad.numpy()[1] == 0) and np.all(x.grad.numpy()[2, :2] == 0)
    assert mg.gradcheck(lambda a: masked_softmax(a, mg.tensor(bias)), (x,))


def test_masked_softmax_symbolic_rules_agree_with_sympy():
    xs = np.array(sympy.symbols("x0:3", real=True), dtype=object).reshape(1, 3)
    bias = np.array([[0, -np.inf, 0]], dtype=object)
    y = masked_softmax_p.symbolic(xs, bias, scale=0.5)
    assert y[0, 1] == 0
    expected = sympy.exp(xs[0, 0] / 2) / (sympy.exp(xs[0, 0] / 2) + sympy.exp(xs[0, 2] / 2))
    assert sympy.simplify(y[0, 0] - expected) == 0
    # The backward primitive's symbolic rule is the VJP of the forward's symbolic rule.
    gs = np.array(sympy.symbols("g0:3", real=True), dtype=object).reshape(1, 3)
    vjp = [sum(gs[0, j] * sympy.diff(y[0, j], xs[0, i]) for j in range(3)) for i in range(3)]
    rule = masked_softmax_grad_p.symbolic(gs, y, scale=0.5)
    numbers = [0.3, -1.2, 0.8, 1.0, -2.0, 0.5]
    values = dict(zip(list(xs[0]) + list(gs[0]), numbers, strict=True))
    for i in range(3):
        assert abs(float((vjp[i] - rule[0, i]).subs(values))) < 1e-12
    # ... and the numeric kernels agree with the symbolic rules.
    x_num = np.array([[0.3, -1.2, 0.8]])
    b_num = np.array([[0.0, -np.inf, 0.0]])
    y_num = masked_softmax(mg.tensor(x_num), mg.tensor(b_num), scale=0.5)
    g_num = masked_softmax_grad(mg.tensor([[1.0, -2.0, 0.5]]), y_num, scale=0.5)
    for i in range(3):
        assert abs(float(y[0, i].subs(values)) - y_num.numpy()[0, i]) < 1e-12
        assert abs(float(rule[0, i].subs(values)) - g_num.numpy()[0, i]) < 1e-12


# ---- scaled dot-product attention ------------------------------------------------------------
def test_sdpa_matches_numpy_with_every_mask_kind(rng):
    q = rng.standard_normal((2, 3, 4, 5))
    k = rng.standard_normal((2, 3, 6, 5))
    v = rng.standard_normal((2, 3, 6, 7))
    Q, K, V = (mg.tensor(a) for a in (q, k, v))
    out = scaled_dot_product_attention(Q, K, V)
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v), atol=1e-12)
    keep = rng.random((2, 1, 4, 6)) > 0.3
    out = scaled_dot_product_attention(Q, K, V, attn_mask=mg.tensor(keep))
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v, np.where(keep, 0, -np.inf)),
                               atol=1e-12)
    fmask = rng.standard_normal((6,))
    out = scaled_dot_product_attention(Q, K, V, attn_mask=fmask, scale=0.3)
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v, fmask, 0.3), atol=1e-12)
    causal = np.where(np.tri(4, 6, dtype=bool), 0.0, -np.inf)
    out = scaled_dot_product_attention(Q, K, V, is_causal=True)
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v, causal), atol=1e-12)


@given(batch=st.lists(st.integers(1, 3), min_size=0, max_size=2), L=st.integers(1, 5),
       S=st.integers(1, 5), E=st.integers(1, 4), Ev=st.integers(1, 4))
def test_sdpa_shapes_against_numpy(batch, L, S, E, Ev):
    rng = np.random.default_rng(L * 100 + S * 10 + E)
    q = rng.standard_normal(tuple(batch) + (L, E))
    k = rng.standard_normal(tuple(batch) + (S, E))
    v = rng.standard_normal(tuple(batch) + (S, Ev))
    out = scaled_dot_product_attention(mg.tensor(q), mg.tensor(k), mg.tensor(v))
    assert out.shape == tuple(batch) + (L, Ev)
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v), atol=1e-12)


def test_sdpa_gradcheck_all_forms(rng):
    q, k, v = (t64(rng.standard_normal(s)) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    keep = rng.random((3, 5)) > 0.3
    keep[0] = False  # a query with no key
    fmask = t64(rng.standard_normal((2, 1, 5)))
    assert mg.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c), (q, k, v))
    assert mg.gradcheck(lambda a, b, c: scaled_dot_product_attention(
        a, b, c, attn_mask=keep), (q, k, v))
    assert mg.gradcheck(lambda a, b, c: scaled_dot_product_attention(
        a, b, c, is_causal=True, scale=0.7), (q, k, v))
    assert mg.gradcheck(lambda a, b, c, m: scaled_dot_product_attention(
        a, b, c, attn_mask=m), (q, k, v, fmask))
    assert mg.gradgradcheck(lambda a, b, c: scaled_dot_product_attention(
        a, b, c, attn_mask=keep), (q, k, v))


def test_sdpa_all_masked_query_gives_zeros_and_zero_grads(rng):
    q, k, v = (t64(rng.standard_normal((1, 3, 2))) for _ in range(3))
    keep = np.ones((3, 3), dtype=bool)
    keep[1] = False
    out = scaled_dot_product_attention(q, k, v, attn_mask=keep)
    assert np.all(out.numpy()[0, 1] == 0)
    out.sum().backward()
    for t in (q, k, v):
        assert np.all(np.isfinite(t.grad.numpy()))
    assert np.all(q.grad.numpy()[0, 1] == 0)


def test_sdpa_dropout_is_seeded_and_scaled(rng):
    q, k, v = (mg.tensor(rng.standard_normal((2, 4, 3))) for _ in range(3))
    mg.manual_seed(3)
    a = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    mg.manual_seed(3)
    b = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), scaled_dot_product_attention(q, k, v).numpy())


def test_sdpa_bad_input_messages(rng):
    q = mg.tensor(rng.standard_normal((2, 3, 4)))
    k = mg.tensor(rng.standard_normal((2, 5, 4)))
    v = mg.tensor(rng.standard_normal((2, 5, 3)))
    with pytest.raises(ValueError, match="same embedding dim E"):
        scaled_dot_product_attention(q, mg.tensor(rng.standard_normal((2, 5, 6))), v)
    with pytest.raises(ValueError, match="same length S"):
        scaled_dot_product_attention(q, k, mg.tensor(rng.standard_normal((2, 4, 3))))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 5\) does not broadcast"):
        scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 5), dtype=bool))
    with pytest.raises(TypeError, match="bool mask .True = take part. or a float mask"):
        scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), bool), is_causal=True)
    with pytest.raises(TypeError, match="one dtype"):
        scaled_dot_product_attention(q, k, v.to(np.float32))
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)


# ---- multi-head attention --------------------------------------------------------------------
def np_mha(m, q, k, v, bias=None):
    """PyTorch's formulas in numpy; q (L, N, E), k (S, N, kdim), v (S, N, vdim)."""
    E, H = m.embed_dim, m.num_heads
    d = E // H
    if m.in_proj_weight is not None:
        ws = np.split(m.in_proj_weight.numpy(), 3)
    else:
        ws = [m.q_proj_weight.numpy(), m.k_proj_weight.numpy(), m.v_proj_weight.numpy()]
    bs = np.split(m.in_proj_bias.numpy(), 3)
    heads = []
    for x, w, b in zip((q, k, v), ws, bs, strict=True):
        y = x @ w.T + b                                      # (T, N, E)
        heads.append(y.reshape(y.shape[0], y.shape[1], H, d).transpose(1, 2, 0, 3))
    z = heads[0] @ heads[1].transpose(0, 1, 3, 2) / np.sqrt(d)
    if bias is not None:
        z = z + bias
    p = np_softmax(z)
    out = (p @ heads[2]).transpose(2, 0, 1, 3).reshape(q.shape[0], q.shape[1], E)
    return out @ m.out_proj.weight.numpy().T + m.out_proj.bias.numpy(), p


def test_mha_parameters_follow_pytorch():
    m = MultiheadAttention(8, 2)
    assert [(n, p.shape) for n, p in m.named_parameters()] == [
        ("in_proj_weight", (24, 8)), ("in_proj_bias", (24,)), ("out_proj.weight", (8, 8)),
        ("out_proj.bias", (8,))]
    assert np.all(m.in_proj_bias.numpy() == 0) and np.all(m.out_proj.bias.numpy() == 0)
    m = MultiheadAttention(8, 4, bias=False, kdim=3, vdim=5)
    assert [(n, p.shape) for n, p in m.named_parameters()] == [
        ("q_proj_weight", (8, 8)), ("k_proj_weight", (8, 3)), ("v_proj_weight", (8, 5)),
        ("out_proj.weight", (8, 8))]
    assert m.in_proj_weight is None and m.out_proj.bias is None


def test_mha_matches_numpy_with_masks(rng):
    mg.manual_seed(0)
    m = MultiheadAttention(6, 3, kdim=4, vdim=5, dtype=np.float64)
    for p in m.parameters():
        p.numpy()[...] = rng.standard_normal(p.shape) * 0.5
    L, S, N = 3, 4, 2
    q, k, v = (rng.standard_normal(s) for s in ((L, N, 6), (S, N, 4), (S, N, 5)))
    kpm = np.array([[False, False, True, True], [True, True, True, True]])  # N=1: all ignored
    am = rng.standard_normal((N * 3, L, S))
    out, w = m(mg.tensor(q), mg.tensor(k), mg.tensor(v), key_padding_mask=kpm, attn_mask=am,
               average_attn_weights=False)
    bias = am.reshape(N, 3, L, S) + np.where(kpm, -np.inf, 0.0)[:, None, None, :]
    ref_out, ref_w = np_mha(m, q, k, v, bias)
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w, atol=1e-12)
    assert np.all(w.numpy()[1] == 0)  # the all-padding batch entry: zeros, not NaN


def test_mha_layouts_agree(rng):
    mg.manual_seed(1)
    seq_first = MultiheadAttention(4, 2, dtype=np.float64)
    batch_first = MultiheadAttention(4, 2, batch_first=True, dtype=np.float64)
    batch_first.load_state_dict(seq_first.state_dict())
    x = rng.standard_normal((3, 2, 4))
    a, wa = seq_first(mg.tensor(x), mg.tensor(x), mg.tensor(x), is_causal=True)
    b, wb = batch_first(*(mg.tensor(x.transpose(1, 0, 2)),) * 3, is_causal=True)
    np.testing.assert_allclose(a.numpy(), b.numpy().transpose(1, 0, 2), atol=1e-12)
    np.testing.assert_allclose(wa.numpy(), wb.numpy(), atol=1e-12)
    assert wa.shape == (2, 3, 3) and np.all(np.triu(wa.numpy()[0], 1) == 0)
    c, wc = seq_first(*(mg.tensor(x[:, 0]),) * 3, is_causal=True, average_attn_weights=False)
    np.testing.assert_allclose(c.numpy(), a.numpy()[:, 0], atol=1e-12)
    assert wc.shape == (2, 3, 3)
    _, none = seq_first(*(mg.tensor(x),) * 3, need_weights=False)
    assert none is None


def test_mha_gradcheck_inputs_and_parameters(rng):
    mg.manual_seed(2)
    m = MultiheadAttention(4, 2, kdim=3, vdim=2, batch_first=True, dtype=np.float64)
    q, k, v = (t64(rng.standard_normal(s)) for s in ((2, 3, 4), (2, 4, 3), (2, 4, 2)))
    kpm = np.array([[False, False, False, True], [False, True, False, False]])
    params = tuple(m.parameters())

    def fn(a, b, c, *_):
        out, w = m(a, b, c, key_padding_mask=kpm)
        return out, w
    assert mg.gradcheck(fn, (q, k, v) + params)


def test_mha_dropout_only_in_training(rng):
    m = MultiheadAttention(4, 2, dropout=0.5)
    x = mg.tensor(rng.standard_normal((3, 2, 4)).astype(np.float32))
    m.eval()
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    m.train()
    mg.manual_seed(0)
    c, _ = m(x, x, x)
    assert not np.allclose(a.numpy(), c.numpy())


def test_mha_bad_input_messages(rng):
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(4\)"):
        MultiheadAttention(10, 4)
    m = MultiheadAttention(8, 2)
    x = mg.tensor(rng.standard_normal((3, 2, 8)).astype(np.float32))
    with pytest.raises(ValueError, match=r"expected query of shape \(seq, N, 8\)"):
        m(mg.tensor(np.zeros((3, 2, 6), np.float32)), x, x)
    with pytest.raises(ValueError, match=r"expected key of shape \(seq, N, 8\) with 8 = kdim"):
        m(x, mg.tensor(np.zeros((3, 2, 5), np.float32)), x)
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(N, S\) = \(2, 3\)"):
        m(x, x, x, key_padding_mask=np.zeros((3, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(L, S\) = \(3, 3\) or "
                                         r"\(N \* num_heads, L, S\) = \(4, 3, 3\)"):
        m(x, x, x, attn_mask=np.zeros((2, 3, 3), dtype=bool))
    with pytest.raises(TypeError, match="key_padding_mask to be a bool mask .True = ignore."):
        m(x, x, x, key_padding_mask=np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="one batch size"):
        m(x, mg.tensor(np.zeros((3, 1, 8), np.float32)), mg.tensor(np.zeros((3, 1, 8), np.float32)))


# ---- Luong and Bahdanau ---------------------------------------------------------------------
def np_luong(att, q, keys, score, keep=None):
    if score == "dot":
        s = np.einsum("btd,bsd->bts", q, keys)
    elif score == "general":
        s = np.einsum("btd,bsd->bts", q, keys @ att.key_proj.weight.numpy().T)
    else:
        e = np.tanh((q @ att.query_proj.weight.numpy().T)[:, :, None] +
                    (keys @ att.key_proj.weight.numpy().T + att.key_proj.bias.numpy())[:, None])
        s = e @ att.v.numpy()
    if keep is not None:
        s = np.where(keep[:, None, :], s, -np.inf)
    w = np_softmax(s)
    return w @ keys, w


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_luong_matches_formulas_and_gradchecks(rng, score):
    mg.manual_seed(4)
    att = LuongAttention(4, 4 if score == "dot" else 3, score=score, dtype=np.float64)
    Dk = att.key_size
    q = t64(rng.standard_normal((2, 3, 4)))
    keys = t64(rng.standard_normal((2, 5, Dk)))
    keep = np.array([[True] * 5, [True, True, False, False, False]])
    ctx, w = att(q, keys, mask=keep)
    ref_ctx, ref_w = np_luong(att, q.numpy(), keys.numpy(), score, keep)
    np.testing.assert_allclose(ctx.numpy(), ref_ctx, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w, atol=1e-12)
    assert np.all(w.numpy()[1, :, 2:] == 0)
    # One query step (B, Dq), with the keys projected once.
    ctx1, w1 = att(q[:, 1], keys, mask=keep, projected_keys=att.project_keys(keys))
    np.testing.assert_allclose(ctx1.numpy(), ref_ctx[:, 1], atol=1e-12)
    assert w1.shape == (2, 5)
    params = tuple(att.parameters())
    assert mg.gradcheck(lambda a, b, *_: att(a, b, mask=keep), (q, keys) + params)


def test_bahdanau_matches_formula_and_gradchecks(rng):
    mg.manual_seed(5)
    att = BahdanauAttention(3, 4, attn_size=5, dtype=np.float64)
    assert [n for n, _ in att.named_parameters()] == [
        "v", "query_proj.weight", "key_proj.weight", "key_proj.bias"]
    q = t64(rng.standard_normal((2, 3)))
    keys = t64(rng.standard_normal((2, 6, 4)))
    keep = np.ones((2, 6), dtype=bool)
    keep[0, 4:] = False
    ctx, w = att(q, keys, mask=keep)
    e = np.tanh((q.numpy() @ att.query_proj.weight.numpy().T)[:, None] +
                keys.numpy() @ att.key_proj.weight.numpy().T + att.key_proj.bias.numpy())
    s = np.where(keep, e @ att.v.numpy(), -np.inf)
    ref_w = np_softmax(s)
    np.testing.assert_allclose(w.numpy(), ref_w, atol=1e-12)
    np.testing.assert_allclose(ctx.numpy(), np.einsum("bs,bsd->bd", ref_w, keys.numpy()),
                               atol=1e-12)
    params = tuple(att.parameters())
    assert mg.gradcheck(lambda a, b, *_: att(a, b, mask=keep), (q, keys) + params)
    assert mg.gradcheck(lambda a, b, *_: att(a.unsqueeze(1).expand(2, 2, 3), b),
                        (q, keys) + params)


def test_recurrent_attention_bad_input_messages(rng):
    with pytest.raises(ValueError, match="dot score needs query_size == key_size"):
        LuongAttention(4, 3, score="dot")
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention(4, score="cosine")
    att = BahdanauAttention(4, 3)
    q = mg.tensor(np.zeros((2, 4), np.float32))
    keys = mg.tensor(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"keys of shape \(B, S, 3\)"):
        att(q, mg.tensor(np.zeros((2, 5, 4), np.float32)))
    with pytest.raises(ValueError, match=r"query of shape \(B, 4\) or \(B, T, 4\) with B = 2"):
        att(mg.tensor(np.zeros((3, 4), np.float32)), keys)
    with pytest.raises(ValueError, match="empty source sequence"):
        att(q, mg.tensor(np.zeros((2, 0, 3), np.float32)))
    with pytest.raises(TypeError, match=r"bool mask of shape \(B, S\) = \(2, 5\) with True = "
                                        "attend"):
        att(q, keys, mask=np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"expected mask of shape \(B, S\) = \(2, 5\)"):
        att(q, keys, mask=np.ones((2, 4), dtype=bool))
