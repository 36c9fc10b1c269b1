"""RNN / LSTM / GRU layers: every option against the numpy equations in rnn_reference.py, the
unrolled graph's scopes and names, gradients, fused-vs-unrolled equivalence, errors and state
dicts."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rnn_reference import run_layers

import minigrad as mg
from models import GRU, LSTM, RNN

F64 = np.float64
CLASSES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
# (mode, variant options) covering every equation the layers implement
VARIANTS = [
    ("rnn", {}), ("rnn", {"nonlinearity": "relu"}), ("lstm", {}), ("lstm", {"peephole": True}),
    ("lstm", {"coupled": True}), ("lstm", {"coupled": True, "peephole": True}), ("gru", {}),
    ("gru", {"reset_after": False}),
]
VARIANT_IDS = [m + "".join(f"-{k}" for k in kw) for m, kw in VARIANTS]


def make(mode, input_size=3, hidden_size=4, **kw):
    mg.manual_seed(kw.pop("seed", 0))
    kw.setdefault("fused", False)
    kw.setdefault("dtype", F64)
    return CLASSES[mode](input_size, hidden_size, **kw)


def hx_for(mode, h0, c0):
    if h0 is None:
        return None
    return (mg.tensor(h0), mg.tensor(c0)) if mode == "lstm" else mg.tensor(h0)


def unpack(mode, result):
    out, state = result[0], result[1]
    h_n, c_n = state if mode == "lstm" else (state, None)
    return out, h_n, c_n


def test_fused_is_the_default():
    assert LSTM(2, 3).fused is True and GRU(2, 3, fused=False).fused is False


# ---- values against the numpy reference ------------------------------------------------------
@pytest.mark.parametrize("mode,options", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_matches_numpy_reference(mode, options, bidirectional, rng):
    m = make(mode, num_layers=2, bidirectional=bidirectional, **options)
    steps, batch, dirs = 5, 3, 2 if bidirectional else 1
    x = rng.standard_normal((steps, batch, 3))
    h0 = rng.standard_normal((2 * dirs, batch, 4))
    c0 = rng.standard_normal((2 * dirs, batch, 4))
    for lengths in (None, np.array([5, 1, 3])):
        res = m(mg.tensor(x), hx_for(mode, h0, c0), lengths=lengths, return_all_states=True)
        out, h_n, c_n = unpack(mode, res)
        ref_out, ref_h, ref_c, ref_states = run_layers(
            m, x, h0, c0 if mode == "lstm" else None, lengths)
        np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h_n.numpy(), ref_h, rtol=1e-12, atol=1e-12)
        if mode == "lstm":
            np.testing.assert_allclose(c_n.numpy(), ref_c, rtol=1e-12, atol=1e-12)
        for k, (hs, cs) in ref_states.items():
            np.testing.assert_allclose(res[2].h[k].numpy(), hs, rtol=1e-12, atol=1e-12)
            if cs is not None:
                np.testing.assert_allclose(res[2].c[k].numpy(), cs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_layouts_batch_first_unbatched_no_bias(mode, rng):
    x = rng.standard_normal((4, 2, 3))
    m = make(mode, num_layers=2, bidirectional=True, bias=False)
    assert "bias_ih_l0" not in dict(m.named_parameters())
    ref_out, ref_h, ref_c, _ = run_layers(m, x)
    out, h_n, c_n = unpack(mode, m(mg.tensor(x)))
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-12)
    # batch_first: (B, T, I) in, (B, T, D H) out; h_n keeps (L D, B, H)
    m.batch_first = True
    res = m(mg.tensor(x.transpose(1, 0, 2)), return_all_states=True)
    out, h_n, _ = unpack(mode, res)
    assert out.shape == (2, 4, 8) and h_n.shape == (4, 2, 4) and res[2].h[0].shape == (2, 4, 4)
    np.testing.assert_allclose(out.numpy(), ref_out.transpose(1, 0, 2), rtol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), ref_h, rtol=1e-12)
    # unbatched: (T, I) in, (T, D H) out, h_n (L D, H)
    m.batch_first = False
    res = m(mg.tensor(x[:, 1]), return_all_states=True)
    out, h_n, c_n = unpack(mode, res)
    assert out.shape == (4, 8) and h_n.shape == (4, 4) and res[2].h[3].shape == (4, 4)
    np.testing.assert_allclose(out.numpy(), ref_out[:, 1], rtol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), ref_h[:, 1], rtol=1e-12)
    if mode == "lstm":
        np.testing.assert_allclose(c_n.numpy(), ref_c[:, 1], rtol=1e-12)
        h0, c0 = rng.standard_normal((2, 4, 4))
        out2, _ = m(mg.tensor(x[:, 1]), (mg.tensor(h0), mg.tensor(c0)))
        ref2 = run_layers(m, x[:, 1:2], h0[:, None], c0[:, None])[0]
        np.testing.assert_allclose(out2.numpy(), ref2[:, 0], rtol=1e-12)


def test_lengths_outputs_zero_and_last_states(rng):
    m = make("lstm", bidirectional=True)
    x = rng.standard_normal((6, 3, 3))
    lengths = [2, 6, 4]
    out, (h_n, c_n), states = m(mg.tensor(x), lengths=lengths, return_all_states=True)
    for b, n in enumerate(lengths):
        assert np.all(out.numpy()[n:, b] == 0)
        assert np.all(out.numpy()[:n, b] != 0)
        # forward h_n at the sequence's own last step, reverse h_n at its first step
        np.testing.assert_array_equal(h_n.numpy()[0, b], out.numpy()[n - 1, b, :4])
        np.testing.assert_array_equal(h_n.numpy()[1, b], out.numpy()[0, b, 4:])
        # all states: forward carries the last valid state, reverse holds h0 = 0
        assert np.all(states.h[0].numpy()[n:, b] == states.h[0].numpy()[n - 1, b])
        assert np.all(states.h[1].numpy()[n:, b] == 0)
    # each sequence gives what it gives alone (no padding leaks in)
    for b, n in enumerate(lengths):
        alone, (hb, _) = m(mg.tensor(x[:n, b:b + 1]))
        np.testing.assert_allclose(out.numpy()[:n, b], alone.numpy()[:, 0], rtol=1e-12)
        np.testing.assert_allclose(h_n.numpy()[:, b], hb.numpy()[:, 0], rtol=1e-12)
    # a Tensor of lengths works the same
    out2 = m(mg.tensor(x), lengths=mg.tensor(lengths))[0]
    np.testing.assert_array_equal(out2.numpy(), out.numpy())


def test_padding_gets_no_gradient_and_does_not_matter(rng):
    m = make("gru", num_layers=2, bidirectional=True)
    x = rng.standard_normal((5, 2, 3))
    y = x.copy()
    y[3:, 0] = 1e3  # garbage padding
    lengths = [3, 5]
    outs = []
    for data in (x, y):
        xt = mg.tensor(data, requires_grad=True)
        out, h_n = m(xt, lengths=lengths)
        (out.sum() + h_n.sum()).backward()
        outs.append((out.numpy(), h_n.numpy(), xt.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12)
    assert np.all(outs[0][2][3:, 0] == 0) and np.all(outs[1][2][3:, 0] == 0)
    np.testing.assert_allclose(outs[0][2], outs[1][2], rtol=1e-12)


@given(mode=st.sampled_from(["rnn", "lstm", "gru"]), steps=st.integers(1, 4),
       batch=st.integers(1, 3), input_size=st.integers(1, 3), hidden=st.integers(1, 3),
       layers=st.integers(1, 2), bidirectional=st.booleans(), data=st.data())
def test_shapes_property(mode, steps, batch, input_size, hidden, layers, bidirectional, data):
    m = make(mode, input_size, hidden, num_layers=layers, bidirectional=bidirectional)
    rng = np.random.default_rng(steps * 100 + batch)
    x = rng.standard_normal((steps, batch, input_size))
    lengths = np.array(data.draw(st.lists(st.integers(1, steps), min_size=batch,
                                          max_size=batch)))
    out, h_n, c_n = unpack(mode, m(mg.tensor(x), lengths=lengths))
    dirs = 2 if bidirectional else 1
    assert out.shape == (steps, batch, dirs * hidden)
    assert h_n.shape == (layers * dirs, batch, hidden)
    ref_out, ref_h, _, _ = run_layers(m, x, lengths=lengths)
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), ref_h, rtol=1e-11, atol=1e-12)


# ---- dropout ----------------------------------------------------------------------------------
def _masks(seed, batch, hidden, steps, layers, dirs, recurrent_p, p):
    """The masks a layer draws in training mode, in its documented order: per layer, one (B, H)
    recurrent mask per direction, then (below the top layer) one (T, B, D H) dropout mask."""
    mg.manual_seed(seed)
    hidden_masks, layer_masks = {}, {}
    for layer in range(layers):
        for d in range(dirs):
            if recurrent_p:
                keep = mg.rand(batch, hidden).numpy() >= recurrent_p
                hidden_masks[layer * dirs + d] = keep / (1 - recurrent_p)
        if p and layer + 1 < layers:
            layer_masks[layer] = (mg.rand(steps, batch, dirs * hidden).numpy() >= p) / (1 - p)
    return hidden_masks, layer_masks


@pytest.mark.parametrize("mode,options", VARIANTS[::2] + [VARIANTS[7]],
                         ids=VARIANT_IDS[::2] + [VARIANT_IDS[7]])
def test_recurrent_and_layer_dropout_match_reference(mode, options, rng):
    m = make(mode, num_layers=2, bidirectional=True, dropout=0.4, recurrent_dropout=0.3,
             **options)
    x = rng.standard_normal((5, 3, 3))
    lengths = [5, 2, 4]
    mg.manual_seed(7)
    out, h_n, _ = unpack(mode, m(mg.tensor(x), lengths=lengths))
    hidden_masks, layer_masks = _masks(7, 3, 4, 5, 2, 2, 0.3, 0.4)
    assert any(np.any(mk == 0) for mk in hidden_masks.values())
    ref_out, ref_h, _, _ = run_layers(m, x, lengths=lengths, hidden_masks=hidden_masks,
                                      layer_masks=layer_masks)
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), ref_h, rtol=1e-12, atol=1e-12)
    # eval mode: no dropout of either kind
    m.eval()
    out, h_n, _ = unpack(mode, m(mg.tensor(x), lengths=lengths))
    np.testing.assert_allclose(out.numpy(), run_layers(m, x, lengths=lengths)[0], rtol=1e-12)


def test_recurrent_dropout_drops_the_same_units_at_every_step(rng):
    """With p = 1/2 the hidden units a sequence drops get no recurrent gradient at any step:
    d h_t / d h_{t-1} has zero columns exactly at the dropped units, the same for all t."""
    m = make("rnn", hidden_size=6, recurrent_dropout=0.5)
    x = mg.tensor(rng.standard_normal((5, 2, 3)))
    mg.manual_seed(3)
    _, _, states = m(x, return_all_states=True)
    mg.manual_seed(3)
    keep = mg.rand(2, 6).numpy() >= 0.5
    steps = states.h_steps[0]
    for t in range(1, 5):
        for b in range(2):
            (g,) = mg.grad(steps[t][b].sum(), [steps[t - 1]], retain_graph=True)
            dropped = ~keep[b]
            assert np.all(g.numpy()[b, dropped] == 0)
            assert np.all(g.numpy()[b, ~dropped] != 0)
    m.recurrent_dropout = 1.0  # every unit dropped: no recurrence at all
    out, _ = m(x)
    no_rec = run_layers(m, x.numpy(), hidden_masks={0: np.zeros((2, 6))})[0]
    np.testing.assert_allclose(out.numpy(), no_rec, rtol=1e-12)


# ---- the unrolled graph ----------------------------------------------------------------------
_STEP_SCOPE = re.compile(r"^(RNN|LSTM|GRU)/layer(\d)(/(forward|reverse))?/t=(\d+)$")


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_unrolled_scopes_and_names(mode, bidirectional, rng):
    m = make(mode, num_layers=2, bidirectional=bidirectional)
    x = mg.tensor(rng.standard_normal((4, 2, 3)))
    out, h_n, c_n = unpack(mode, m(x))
    found = {}
    for t in mg.topological_order([out, h_n]):
        if t.name in ("h", "c"):
            match = _STEP_SCOPE.match(t.scope)
            assert match, t.scope
            cls, layer, _, direction, step = match.groups()
            assert cls == type(m).__name__ and (direction is not None) == bidirectional
            found.setdefault((t.name, layer, direction), []).append(int(step))
        if t.op in ("matmul", "sigmoid", "tanh"):
            assert "/t=" in t.scope  # all step arithmetic lives in the step scopes
    kinds = ("h", "c") if mode == "lstm" else ("h",)
    dirs = ("forward", "reverse") if bidirectional else (None,)
    assert set(found) == {(k, str(layer), d) for k in kinds for layer in (0, 1) for d in dirs}
    assert all(sorted(v) == [0, 1, 2, 3] for v in found.values())


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_unrolled_ops_have_symbolic_rules_and_few_ops_per_step(mode, rng):
    m = make(mode)
    out = m(mg.tensor(rng.standard_normal((3, 2, 3))))[0]
    per_step = {}
    for t in mg.topological_order([out]):
        if t.op is not None:
            assert mg.REGISTRY[t.op].symbolic is not None, t.op
            per_step[t.scope] = per_step.get(t.scope, 0) + 1
    assert max(n for s, n in per_step.items() if "t=" in s) <= {"rnn": 6, "lstm": 18,
                                                               "gru": 19}[mode]


def test_step_hooks_give_the_total_derivative(rng):
    """dL/dh_t by hooks on the unrolled steps equals the BPTT recursion
    g_t = W_hh^T ((1 - h_{t+1}^2) g_{t+1}) written out in numpy."""
    m = make("rnn", hidden_size=5)
    x = mg.tensor(rng.standard_normal((6, 2, 3)))
    out, h_n, states = m(x, return_all_states=True)
    got = {}
    for t, h_t in enumerate(states.h_steps[0]):
        h_t.register_hook(lambda g, t=t: got.__setitem__(t, g.numpy().copy()))
    v = rng.standard_normal((2, 5))
    (h_n[0] * mg.tensor(v)).sum().backward()
    hs = states.h[0].numpy()
    w_hh = m.weight_hh_l0.numpy()
    g = v
    for t in range(5, -1, -1):
        np.testing.assert_allclose(got[t], g, rtol=1e-12, atol=1e-14)
        g = ((1 - hs[t] ** 2) * g) @ w_hh if t else g


def test_state_hooks_see_the_gradient_from_the_outputs(rng):
    m = make("lstm", bidirectional=True)
    x = mg.tensor(rng.standard_normal((4, 2, 3)))
    out, (h_n, c_n), states = m(x, return_all_states=True)
    seen = {}
    states.h[0].register_hook(lambda g: seen.__setitem__("h0", g.numpy().copy()))
    states.c[1].register_hook(lambda g: seen.__setitem__("c1", g.numpy().copy()))
    (out.sum() + 2 * c_n.sum()).backward()
    np.testing.assert_array_equal(seen["h0"], np.ones((4, 2, 4)))
    expect_c = np.zeros((4, 2, 4))
    expect_c[0] = 2.0  # the reverse direction's c_n is its c at t = 0
    np.testing.assert_array_equal(seen["c1"], expect_c)


def test_create_graph_through_the_unrolled_path(rng):
    m = make("gru", 2, 2)
    x = mg.tensor(rng.standard_normal((3, 1, 2)), requires_grad=True)
    assert mg.gradgradcheck(lambda x: m(x)[0], (x,), atol=1e-6)


# ---- gradients ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode,options", VARIANTS, ids=VARIANT_IDS)
def test_gradcheck_unrolled(mode, options, rng):
    m = make(mode, 2, 2, bidirectional=True, **options)
    x = mg.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = mg.tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)
    c0 = mg.tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)
    hx = (h0, c0) if mode == "lstm" else h0

    def fn(x, h0, c0, *params):
        out, h_n, c_n = unpack(mode, m(x, hx, lengths=[3, 2]))
        return (out, h_n) if c_n is None else (out, h_n, c_n)

    assert mg.gradcheck(fn, (x, h0, c0, *m.parameters()), atol=1e-7, rtol=1e-6)


def test_gradcheck_two_layers_with_dropout(rng):
    m = make("lstm", 2, 2, num_layers=2, dropout=0.3, recurrent_dropout=0.3, peephole=True)
    x = mg.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)

    def fn(x, *params):
        mg.manual_seed(11)  # the same masks on every evaluation
        return m(x)[0]

    assert mg.gradcheck(fn, (x, *m.parameters()), atol=1e-7, rtol=1e-6)


# ---- fused vs unrolled --------------------------------------------------------------------
def _all_grads(m, mode, x, h0, c0, lengths, seed):
    rng = np.random.default_rng(5)
    xt = mg.tensor(x, requires_grad=True)
    h0t = mg.tensor(h0, requires_grad=True)
    c0t = mg.tensor(c0, requires_grad=True)
    mg.manual_seed(seed)
    res = m(xt, (h0t, c0t) if mode == "lstm" else h0t, lengths=lengths,
            return_all_states=True)
    out, h_n, c_n = unpack(mode, res)
    hooked = []
    res[2].h[0].register_hook(lambda g: hooked.append(g.numpy().copy()))
    loss = (out * mg.tensor(rng.standard_normal(out.shape))).sum()
    loss = loss + (h_n * mg.tensor(rng.standard_normal(h_n.shape))).sum()
    if c_n is not None:
        loss = loss + (c_n * mg.tensor(rng.standard_normal(c_n.shape))).sum()
    loss = loss + (res[2].h[-1] * mg.tensor(rng.standard_normal(res[2].h[-1].shape))).sum()
    inputs = [xt, h0t] + ([c0t] if mode == "lstm" else []) + list(m.parameters())
    grads = mg.grad(loss, inputs, allow_unused=True)
    values = [out.numpy(), h_n.numpy()] + ([c_n.numpy()] if c_n is not None else [])
    values += [s.numpy() for s in res[2].h]
    return values, [None if g is None else g.numpy() for g in grads], hooked


@pytest.mark.parametrize("mode,options", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("setting", ["plain", "bi-lengths", "dropout"])
def test_fused_matches_unrolled(mode, options, setting, rng):
    pytest.importorskip("models.rnn.fused")
    kw = dict(num_layers=2, **options)
    if setting != "plain":
        kw["bidirectional"] = True
    if setting == "dropout":
        kw.update(dropout=0.3, recurrent_dropout=0.25)
    m = make(mode, **kw)
    dirs = 2 if kw.get("bidirectional") else 1
    x = rng.standard_normal((5, 3, 3))
    h0, c0 = rng.standard_normal((2, 2 * dirs, 3, 4))
    lengths = [5, 2, 4] if setting != "plain" else None
    unrolled = _all_grads(m, mode, x, h0, c0, lengths, seed=9)
    m.fused = True
    fused = _all_grads(m, mode, x, h0, c0, lengths, seed=9)
    for a, b in zip(unrolled[0] + unrolled[2], fused[0] + fused[2], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    for a, b in zip(unrolled[1], fused[1], strict=True):
        if a is None or b is None:
            assert a is None or not np.any(a), "only unused peephole rows may lack a gradient"
            continue
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_gradcheck_fused(mode, rng):
    pytest.importorskip("models.rnn.fused")
    m = make(mode, 2, 2, bidirectional=True, fused=True)
    x = mg.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = mg.tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)
    c0 = mg.tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)
    hx = (h0, c0) if mode == "lstm" else h0

    def fn(x, h0, c0, *params):
        out, h_n, c_n = unpack(mode, m(x, hx, lengths=[3, 2]))
        return (out, h_n) if c_n is None else (out, h_n, c_n)

    assert mg.gradcheck(fn, (x, h0, c0, *m.parameters()), atol=1e-7, rtol=1e-6)


def test_fused_refuses_create_graph(rng):
    pytest.importorskip("models.rnn.fused")
    m = make("lstm", fused=True)
    x = mg.tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    out = m(x)[0]
    with pytest.raises(Exception, match="fused=False"):
        (g,) = mg.grad(out.sum(), [x], create_graph=True)
        g.sum().backward()


# ---- parameters --------------------------------------------------------------------------
@pytest.mark.parametrize("mode,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_parameter_names_shapes_counts(mode, gates):
    i, h = 7, 5
    m = make(mode, i, h)
    assert m.num_parameters() == gates * (i * h + h * h + 2 * h)
    m = make(mode, i, h, num_layers=3, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:8] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                         "bias_hh_l0_reverse"]
    assert len(names) == 24 and names[-1] == "bias_hh_l2_reverse"
    assert m.weight_ih_l1.shape == (gates * h, 2 * h) and m.weight_hh_l2_reverse.shape == (
        gates * h, h)
    per_dir_upper = gates * (2 * h * h + h * h + 2 * h)
    assert m.num_parameters() == 2 * (gates * (i * h + h * h + 2 * h) + 2 * per_dir_upper)
    bound = 1 / np.sqrt(h)
    values = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    assert np.all(np.abs(values) <= bound)
    assert abs(np.std(values) - bound / np.sqrt(3)) < 0.05 * bound  # the std of U(-b, b)


def test_lstm_variant_parameters():
    m = make("lstm", 3, 4, peephole=True, num_layers=2, bidirectional=True)
    assert m.weight_peep_l1_reverse.shape == (3, 4)
    assert [n for n, _ in m.named_parameters()][:5] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_peep_l0"]
    m = make("lstm", 3, 4, coupled=True)
    assert m.weight_ih_l0.shape == (12, 3)
    assert m.num_parameters() == 3 * (3 * 4 + 16 + 8)
    assert "coupled=True" in repr(m)


def test_load_state_dict_numpy_and_atomic_failure(rng):
    m = make("gru", num_layers=2)
    other = make("gru", num_layers=2, seed=1)
    sd = {k: v * 1.0 for k, v in other.state_dict().items()}
    m.load_state_dict(sd)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    bad = dict(sd, weight_hh_l1=np.zeros((3, 3)))
    bad = {k: v + 1 for k, v in bad.items()}
    with pytest.raises(ValueError, match=r"weight_hh_l1 expected shape \(12, 4\), got \(3, 3\)"):
        m.load_state_dict(bad)
    missing = {k: v + 1 for k, v in sd.items() if k != "bias_hh_l1"}
    with pytest.raises(KeyError, match="bias_hh_l1"):
        m.load_state_dict(missing)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# ---- bad input ---------------------------------------------------------------------------
def _raises(fn, *needles):
    with pytest.raises(ValueError) as info:
        fn()
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_bad_input_messages():
    m = LSTM(10, 20, num_layers=2, fused=False)
    x = mg.zeros(5, 3, 10)
    _raises(lambda: m(mg.zeros(5, 3, 7)), "LSTM", "input", "(T, B, 10)", "(5, 3, 7)")
    _raises(lambda: m(mg.zeros(5, 3, 10, 1)), "LSTM", "(T, B, 10) or (T, 10)", "(5, 3, 10, 1)")
    _raises(lambda: m(mg.zeros(5, 7)), "LSTM", "(T, 10)", "(5, 7)")
    _raises(lambda: m(x.double()), "LSTM", "float32", "float64")
    h, c = mg.zeros(2, 3, 20), mg.zeros(2, 3, 20)
    _raises(lambda: m(x, (mg.zeros(1, 3, 20), c)), "LSTM", "h0", "(2, 3, 20)", "(1, 3, 20)")
    _raises(lambda: m(x, (h, mg.zeros(2, 4, 20))), "LSTM", "c0", "(2, 3, 20)", "(2, 4, 20)")
    _raises(lambda: m(x, (h, c.double())), "LSTM", "c0", "float32", "float64")
    _raises(lambda: m(x, h), "LSTM", "pair")
    _raises(lambda: m(x, lengths=[5, 6, 1]), "LSTM", "lengths", "[1, 5]", "6")
    _raises(lambda: m(x, lengths=[5, 0, 1]), "LSTM", "lengths", "[1, 5]", "0")
    _raises(lambda: m(x, lengths=[5, 1]), "LSTM", "lengths", "(3,)", "(2,)")
    _raises(lambda: m(x, lengths=[5.0, 1.0, 1.0]), "LSTM", "lengths", "integers")
    g = GRU(4, 2, batch_first=True, fused=False)
    _raises(lambda: g(mg.zeros(5, 3, 7)), "GRU", "(B, T, 4)", "(5, 3, 7)")
    _raises(lambda: g(mg.zeros(3, 5, 4), mg.zeros(1, 5, 2)), "GRU", "h0", "(1, 3, 2)",
            "(1, 5, 2)")
    _raises(lambda: RNN(3, 4, nonlinearity="sigmoid"), "RNN", "nonlinearity", "sigmoid")
    _raises(lambda: RNN(3, 0), "RNN", "hidden_size", "0")
    _raises(lambda: GRU(3, 4, dropout=1.5), "GRU", "dropout", "1.5")
    with pytest.warns(UserWarning, match="num_layers=1"):
        GRU(3, 4, dropout=0.5)


def test_missing_fused_module_is_reported(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "models.rnn.fused", None)
    m = LSTM(2, 3)
    with pytest.raises(ImportError, match="fused=False"):
        m(mg.zeros(3, 1, 2))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_one_layer_h_n_cut_from_the_fused_result_matches_the_states_path(mode):
    """Without return_all_states a one-layer fused call cuts h_n / c_n from the primitive's
    result directly; values and gradients are those of the path through the States."""
    cls = LSTM if mode == "lstm" else GRU
    x0 = np.random.default_rng(3).standard_normal((4, 6, 3))
    got = []
    for all_states in (False, True):
        mg.manual_seed(0)
        m = cls(3, 5, batch_first=True, dtype=mg.float64)
        x = mg.tensor(x0, requires_grad=True)
        res = m(x, return_all_states=all_states)
        out, hn = res[0], res[1]
        ends = list(hn) if mode == "lstm" else [hn]
        loss = (out * out).sum() + sum((e * (k + 2.0)).sum() for k, e in enumerate(ends))
        loss.backward()
        got.append([out.numpy(), *[e.numpy() for e in ends], x.grad.numpy()]
                   + [p.grad.numpy() for p in m.parameters()])
    for a, b in zip(*got, strict=True):
        np.testing.assert_array_equal(a, b)
