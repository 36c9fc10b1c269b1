"""The fused recurrent primitive (``models.rnn.fused.fused_recurrence``).

Checked against a plain numpy step-by-step implementation of the cell equations written here:
forward states and every gradient in float64 (relative 1e-10; the reference gradients come from
complex-step differentiation of that numpy code, exact to rounding), for every mode and option.
Then mg.gradcheck on tiny sizes, the float32 activation approximations' error bound, the
symbolic rule, errors, and parity with PyTorch when it is installed.
"""

import numpy as np
import pytest

import minigrad as mg
from models.rnn.fused import fused_recurrence, rnn_fused_p
from models.rnn.kernels import family
from models.rnn.kernels.common import sigmoid_array, tanh_array

NAMES = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "peephole")
# Every kernel family this CPU runs (AVX-512, AVX2, BLAS on an AVX-512 machine): the tests
# marked with it run each against the reference; the others run the default family.
FAMILIES = pytest.mark.parametrize("kernels", family.supported())


# ---- the numpy reference -----------------------------------------------------------------------
def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def reference(mode, p, nonlinearity="tanh", lengths=None, reverse=False, hidden_mask=None,
              coupled=False, reset_after=True):
    """States (T, S, B, H) of one layer-direction; p: dict name -> array or None. Works on
    complex arrays too (for complex-step derivatives)."""
    x, h, c = p["x"], p["h0"], p["c0"]
    T, B, _ = x.shape
    H = h.shape[1]
    b_ih = 0.0 if p["bias_ih"] is None else p["bias_ih"]
    b_hh = 0.0 if p["bias_hh"] is None else p["bias_hh"]
    if np.ndim(b_hh) == 0:
        b_hh = np.zeros(p["weight_hh"].shape[0])
    mask = np.ones((B, H)) if hidden_mask is None else hidden_mask
    lens = np.full(B, T) if lengths is None else np.asarray(lengths)
    out = np.zeros((T, 2 if mode == "lstm" else 1, B, H), dtype=x.dtype)
    order = range(T - 1, -1, -1) if reverse else range(T)
    for t in order:
        gi = x[t] @ p["weight_ih"].T + b_ih
        u = mask * h
        if mode == "rnn":
            pre = gi + u @ p["weight_hh"].T + b_hh
            h_new = np.where(pre.real > 0, pre, 0) if nonlinearity == "relu" else np.tanh(pre)
            c_new = None
        elif mode == "lstm":
            pre = gi + u @ p["weight_hh"].T + b_hh
            blocks = np.split(pre, 3 if coupled else 4, axis=1)
            w = p["peephole"] if p["peephole"] is not None else np.zeros((3, H))
            if coupled:
                f = _sigmoid(blocks[0] + w[1] * c)
                i, g, o_pre = 1 - f, np.tanh(blocks[1]), blocks[2]
            else:
                i = _sigmoid(blocks[0] + w[0] * c)
                f = _sigmoid(blocks[1] + w[1] * c)
                g, o_pre = np.tanh(blocks[2]), blocks[3]
            c_new = f * c + i * g
            h_new = _sigmoid(o_pre + w[2] * c_new) * np.tanh(c_new)
        else:
            w_hr, w_hz, w_hn = np.split(p["weight_hh"], 3)
            b_hr, b_hz, b_hn = np.split(b_hh, 3)
            g_r, g_z, g_n = np.split(gi, 3, axis=1)
            r = _sigmoid(g_r + u @ w_hr.T + b_hr)
            z = _sigmoid(g_z + u @ w_hz.T + b_hz)
            if reset_after:
                n = np.tanh(g_n + r * (u @ w_hn.T + b_hn))
            else:
                n = np.tanh(g_n + (r * u) @ w_hn.T + b_hn)
            h_new, c_new = (1 - z) * n + z * h, None
        active = (t < lens)[:, None]
        h = np.where(active, h_new, h)
        out[t, 0] = h
        if mode == "lstm":
            c = np.where(active, c_new, c)
            out[t, 1] = c
    return out


def reference_grads(mode, p, v, **kw):
    """d sum(v * states) / d input for every present input, by complex-step differentiation."""
    step = 1e-30
    grads = {}
    for name, arr in p.items():
        if arr is None:
            continue
        g = np.zeros(arr.size)
        for k in range(arr.size):
            q = {n: None if a is None else a.astype(complex) for n, a in p.items()}
            q[name].reshape(-1)[k] += step * 1j
            g[k] = np.sum(v * reference(mode, q, **kw)).imag / step
        grads[name] = g.reshape(arr.shape)
    return grads


def make_inputs(mode, T=4, B=3, I=3, H=2, *, bias=True, peephole=False, coupled=False,
                seed=0, dtype=np.float64, scale=0.6):
    rng = np.random.default_rng(seed)
    G = {"rnn": 1, "lstm": 3 if coupled else 4, "gru": 3}[mode]
    p = dict.fromkeys(NAMES)
    p["x"] = rng.standard_normal((T, B, I))
    p["h0"] = rng.standard_normal((B, H)) * 0.5
    if mode == "lstm":
        p["c0"] = rng.standard_normal((B, H)) * 0.5
    p["weight_ih"] = rng.standard_normal((G * H, I)) * scale
    p["weight_hh"] = rng.standard_normal((G * H, H)) * scale
    if bias:
        p["bias_ih"] = rng.standard_normal(G * H) * 0.3
        p["bias_hh"] = rng.standard_normal(G * H) * 0.3
    if peephole:
        p["peephole"] = rng.standard_normal((3, H)) * 0.5
    return {k: None if a is None else a.astype(dtype) for k, a in p.items()}


def run_fused(mode, p, requires_grad=True, **kw):
    t = {k: None if a is None else mg.tensor(a, dtype=a.dtype, requires_grad=requires_grad)
         for k, a in p.items()}
    out = fused_recurrence(mode, *[t[k] for k in NAMES[:7]], peephole=t["peephole"], **kw)
    return out, t


# (mode, make_inputs options, fused_recurrence options)
CASES = [
    ("rnn", {}, {}),
    ("rnn", {}, {"nonlinearity": "relu"}),
    ("rnn", {"bias": False}, {"reverse": True, "lengths": [4, 2, 1]}),
    ("rnn", {}, {"lengths": [3, 4, 1], "hidden_mask": "mask"}),
    ("lstm", {}, {}),
    ("lstm", {"bias": False}, {"reverse": True}),
    ("lstm", {"peephole": True}, {"lengths": [2, 4, 3]}),
    ("lstm", {"coupled": True}, {"coupled": True, "hidden_mask": "mask"}),
    ("lstm", {"coupled": True, "peephole": True},
     {"coupled": True, "reverse": True, "lengths": [1, 3, 4]}),
    ("lstm", {"peephole": True}, {"reverse": True, "lengths": [4, 1, 2], "hidden_mask": "mask"}),
    ("gru", {}, {}),
    ("gru", {}, {"reset_after": False}),
    ("gru", {"bias": False}, {"reverse": True, "lengths": [2, 4, 1], "hidden_mask": "mask"}),
    ("gru", {}, {"reset_after": False, "lengths": [4, 1, 3], "hidden_mask": "mask"}),
    ("gru", {}, {"reset_after": False, "reverse": True, "lengths": [3, 2, 4]}),
]


def _options(kw, B=3, H=2, seed=1):
    kw = dict(kw)
    if kw.get("hidden_mask") == "mask":
        rng = np.random.default_rng(seed)
        kw["hidden_mask"] = (rng.random((B, H)) > 0.3) / 0.7
    if "lengths" in kw:
        kw["lengths"] = np.asarray(kw["lengths"], dtype=np.int64)
    return kw


def check_against_reference(mode, p, kw):
    want = reference(mode, p, **kw)
    out, t = run_fused(mode, p, **kw)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-10, atol=1e-13)
    v = np.random.default_rng(2).standard_normal(want.shape)
    (out * mg.tensor(v, dtype=np.float64)).sum().backward()
    ref = reference_grads(mode, p, v, **kw)
    for name, g in ref.items():
        assert t[name].grad is not None, name
        np.testing.assert_allclose(t[name].grad.numpy(), g, rtol=1e-10, atol=1e-12, err_msg=name)
    # Without recording, the forward takes the path that saves nothing: same numbers.
    with mg.no_grad():
        again, _ = run_fused(mode, p, **kw)
    np.testing.assert_array_equal(again.numpy(), out.numpy())


@pytest.mark.parametrize("mode, make_kw, kw", CASES)
def test_forward_and_gradients_match_numpy_reference(mode, make_kw, kw):
    check_against_reference(mode, make_inputs(mode, **make_kw), _options(kw))


_WIDE_LENGTHS = [5, 2, 4, 1, 5, 3, 5, 5, 2, 1, 4, 5, 3, 5, 5, 1, 2, 5, 4]


@pytest.mark.parametrize("mode, make_kw, kw", [
    ("rnn", {}, {"lengths": _WIDE_LENGTHS, "hidden_mask": "mask"}),
    ("lstm", {"peephole": True}, {"reverse": True, "lengths": _WIDE_LENGTHS}),
    ("lstm", {}, {"hidden_mask": "mask"}),
    ("gru", {}, {"lengths": _WIDE_LENGTHS, "hidden_mask": "mask"}),
    ("gru", {}, {"reset_after": False, "reverse": True, "lengths": _WIDE_LENGTHS}),
])
@FAMILIES
def test_batch_and_width_across_the_block_edges(kernels, mode, make_kw, kw):
    """B = 19 spans three 8-row (AVX-512) or five 4-row (AVX2) blocks of the per-step
    product, the last one partial, and H = 21 pads every gate product's columns to the
    vector width; for every kernel family."""
    p = make_inputs(mode, T=5, B=19, I=4, H=21, **make_kw)
    with family.using(kernels):
        check_against_reference(mode, p, _options(kw, B=19, H=21))


@pytest.mark.parametrize("mode, make_kw, kw", [
    ("rnn", {}, {"hidden_mask": "mask", "nonlinearity": "relu"}),
    ("lstm", {"peephole": True}, {"reverse": True, "hidden_mask": "mask"}),
    ("lstm", {"coupled": True}, {"coupled": True}),
    ("gru", {}, {"reset_after": False, "hidden_mask": "mask"}),
    ("gru", {}, {"reverse": True, "hidden_mask": "mask"}),
])
@FAMILIES
def test_batch_of_one(kernels, mode, make_kw, kw):
    """B == 1 takes a non-BLAS matrix-vector path (the one-row packed kernel, or with
    ``blas`` a vector loop over W''s rows)."""
    p = make_inputs(mode, B=1, H=3, **make_kw)
    with family.using(kernels):
        check_against_reference(mode, p, _options(kw, B=1, H=3))


def test_states_past_the_end_hold_the_documented_values():
    p = make_inputs("lstm")
    lens = np.array([4, 2, 1])
    fwd, _ = run_fused("lstm", p, requires_grad=False, lengths=lens)
    rev, _ = run_fused("lstm", p, requires_grad=False, lengths=lens, reverse=True)
    for b, n in enumerate(lens):
        for t in range(n, 4):
            np.testing.assert_array_equal(fwd.numpy()[t, :, b], fwd.numpy()[n - 1, :, b])
            np.testing.assert_array_equal(rev.numpy()[t, 0, b], p["h0"][b])
            np.testing.assert_array_equal(rev.numpy()[t, 1, b], p["c0"][b])


def test_only_requested_gradients_are_computed():
    p = make_inputs("gru")
    out, t = run_fused("gru", p, requires_grad=False)
    w = mg.tensor(p["weight_hh"], dtype=np.float64, requires_grad=True)
    out = fused_recurrence("gru", t["x"], t["h0"], None, t["weight_ih"], w, t["bias_ih"],
                           t["bias_hh"])
    (gw,) = mg.grad(out.sum(), [w])
    ref = reference_grads("gru", p, np.ones(out.shape))["weight_hh"]
    np.testing.assert_allclose(gw.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert t["x"].grad is None


@pytest.mark.parametrize("mode, make_kw, kw", [
    ("rnn", {}, {"reverse": True, "lengths": [3, 1]}),
    ("lstm", {"peephole": True}, {"lengths": [2, 3], "hidden_mask": "mask"}),
    ("lstm", {"coupled": True, "peephole": True}, {"coupled": True, "reverse": True}),
    ("gru", {}, {"reset_after": False, "reverse": True, "lengths": [3, 2]}),
    ("gru", {}, {"hidden_mask": "mask"}),
])
def test_gradcheck_tiny(mode, make_kw, kw):
    p = make_inputs(mode, T=3, B=2, I=2, H=3, seed=5, **make_kw)
    kw = _options(kw, B=2, H=3)
    names = [k for k in NAMES if p[k] is not None]
    tensors = [mg.tensor(p[k], dtype=mg.float64, requires_grad=True) for k in names]

    def fn(*ts):
        d = dict.fromkeys(NAMES) | dict(zip(names, ts, strict=True))
        return fused_recurrence(mode, *[d[k] for k in NAMES[:7]], peephole=d["peephole"], **kw)

    assert mg.gradcheck(fn, tuple(tensors), atol=1e-7, rtol=1e-6)


# ---- float32 --------------------------------------------------------------------------------
def test_float32_activation_error_bound():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-12, 12, 1_000_000), np.linspace(-10, 10, 400_001),
                        np.geomspace(1e-30, 20, 20_000)]).astype(np.float32)
    x = np.concatenate([x, -x])
    exact = x.astype(np.float64)
    out = np.empty_like(x)
    tanh_array(x, out)
    err = np.abs(out - np.tanh(exact))
    assert err.max() <= 3.0e-7
    small = (np.abs(x) < 1e-2) & (x != 0)
    assert (err[small] / np.abs(np.tanh(exact[small]))).max() <= 2.5e-7
    sigmoid_array(x, out)
    assert np.abs(out - 1 / (1 + np.exp(-exact))).max() <= 2.0e-7
    special = np.array([np.nan, np.inf, -np.inf, 0.0, 50.0], dtype=np.float32)
    tanh_array(special, out[:5])
    np.testing.assert_array_equal(out[:5], [np.nan, 1, -1, 0, 1])
    sigmoid_array(special, out[:5])
    np.testing.assert_array_equal(out[:5], [np.nan, 1, 0, 0.5, 1])


@pytest.mark.parametrize("mode, B, kw", [("rnn", 3, {}), ("lstm", 3, {"reverse": True}),
                                         ("gru", 3, {"reset_after": False}), ("lstm", 1, {}),
                                         ("gru", 1, {})])
@FAMILIES
def test_float32_close_to_float64(kernels, mode, B, kw):
    p = make_inputs(mode, T=6, B=B, I=5, H=8)
    p32 = {k: None if a is None else a.astype(np.float32) for k, a in p.items()}
    with family.using(kernels):
        out, t = run_fused(mode, p32, **kw)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), reference(mode, p, **kw), atol=2e-6)
    with family.using(kernels):
        out.sum().backward()
    ref = reference_grads(mode, {k: p[k] for k in p}, np.ones(out.shape), **kw)
    for name in ("x", "weight_hh", "h0"):
        assert t[name].grad.dtype == np.float32
        scale = np.abs(ref[name]).max()
        np.testing.assert_allclose(t[name].grad.numpy(), ref[name], atol=2e-5 * scale)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_inf_and_nan_propagate():
    p = make_inputs("lstm", dtype=np.float32)
    p["x"][1, 0, 0] = np.nan
    p["weight_ih"][:, 1] = 0
    p["x"][2, 1, 1] = np.inf  # meets a zero weight column: NaN in that sequence from t = 2
    out, _ = run_fused("lstm", p, requires_grad=False)
    assert np.isnan(out.numpy()[1:, :, 0]).all() and np.isfinite(out.numpy()[0]).all()
    assert np.isnan(out.numpy()[2:, :, 1]).all() and np.isfinite(out.numpy()[:2, :, 1]).all()
    assert np.isfinite(out.numpy()[:, :, 2]).all()


# ---- errors -------------------------------------------------------------------------------------
def test_second_order_raises_and_points_to_unrolled_path():
    p = make_inputs("lstm", T=2, B=1, I=2, H=2)
    out, t = run_fused("lstm", p)
    (gw,) = mg.grad(out.sum(), [t["weight_hh"]], retain_graph=True)  # first order is fine
    assert gw.shape == p["weight_hh"].shape
    with pytest.raises(RuntimeError, match="fused=False"):
        mg.grad(out.sum(), [t["weight_hh"]], create_graph=True)


def test_bad_inputs_raise():
    p = make_inputs("lstm", T=3, B=2, I=2, H=2)
    t = {k: mg.tensor(a, dtype=a.dtype) for k, a in p.items() if a is not None}
    args = [t["x"], t["h0"], t["c0"], t["weight_ih"], t["weight_hh"], t["bias_ih"],
            t["bias_hh"]]
    mixed = list(args)
    mixed[4] = t["weight_hh"].float()
    with pytest.raises(TypeError, match="weight_hh is float32"):
        fused_recurrence("lstm", *mixed)
    with pytest.raises(TypeError, match="float32 or float64"):
        fused_recurrence("lstm", t["x"].long(), *args[1:])
    bad = list(args)
    bad[4] = mg.tensor(np.zeros((8, 3)), dtype=mg.float64)
    with pytest.raises(ValueError, match=r"weight_hh: expected shape \(8, 2\)"):
        fused_recurrence("lstm", *bad)
    with pytest.raises(ValueError, match="needs c0"):
        fused_recurrence("lstm", args[0], args[1], None, *args[3:])
    with pytest.raises(ValueError, match="mode"):
        fused_recurrence("lstmm", *args)
    with pytest.raises(ValueError, match="lengths"):
        fused_recurrence("lstm", *args, lengths=np.array([0, 3]))
    with pytest.raises(ValueError, match="lengths"):
        fused_recurrence("lstm", *args, lengths=np.array([4, 3]))
    with pytest.raises(ValueError, match="hidden_mask"):
        fused_recurrence("lstm", *args, hidden_mask=np.ones((2, 3)))
    with pytest.raises(ValueError, match="peephole"):
        fused_recurrence("gru", t["x"], t["h0"], None, t["weight_ih"][:6], t["weight_hh"][:6],
                         None, None, peephole=mg.zeros(3, 2, dtype=mg.float64))
    with pytest.raises(ValueError, match=r"h0: expected \(B, H\) with H >= 1"):
        fused_recurrence("rnn", t["x"], mg.zeros(2, 0, dtype=mg.float64), None,
                         mg.zeros(0, 2, dtype=mg.float64), mg.zeros(0, 0, dtype=mg.float64), None,
                         None)


# ---- symbolic rule ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, make_kw, kw", [
    ("rnn", {}, {"nonlinearity": "relu", "reverse": True, "lengths": [2, 1]}),
    ("lstm", {"peephole": True}, {"lengths": [1, 2], "hidden_mask": "mask"}),
    ("lstm", {"coupled": True}, {"coupled": True}),
    ("gru", {}, {"reverse": True}),
    ("gru", {}, {"reset_after": False, "hidden_mask": "mask"}),
])
def test_symbolic_rule_matches_forward(mode, make_kw, kw):
    sympy = pytest.importorskip("sympy")
    p = make_inputs(mode, T=2, B=2, I=1, H=2, seed=3, **make_kw)
    kw = _options(kw, B=2, H=2)
    out, _ = run_fused(mode, p, **kw)
    node = out.grad_fn
    names = node.params["names"]
    syms = [np.array(sympy.symbols(f"{k}_0:{p[k].size}", real=True), dtype=object)
            .reshape(p[k].shape) for k in names]
    expr = rnn_fused_p.symbolic(*syms, **node.params)
    assert expr.shape == out.shape
    flat_syms = [s for a in syms for s in a.reshape(-1)]
    f = sympy.lambdify(flat_syms, list(expr.reshape(-1)), modules="numpy")
    got = np.array(f(*[v for k in names for v in p[k].reshape(-1)]), dtype=np.float64)
    np.testing.assert_allclose(got.reshape(out.shape), out.numpy(), rtol=1e-12, atol=1e-14)


# ---- PyTorch parity ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_pytorch_parity(mode):
    torch = pytest.importorskip("torch")
    T, B, I, H = 5, 3, 4, 6
    p = make_inputs(mode, T=T, B=B, I=I, H=H, seed=7)
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[mode]
    m = cls(I, H).double()
    with torch.no_grad():
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(m, k + "_l0").copy_(torch.from_numpy(p[k]))
    x = torch.from_numpy(p["x"]).requires_grad_()
    h0 = torch.from_numpy(p["h0"])[None].requires_grad_()
    if mode == "lstm":
        c0 = torch.from_numpy(p["c0"])[None].requires_grad_()
        y, (hn, cn) = m(x, (h0, c0))
    else:
        y, hn = m(x, h0)
    out, t = run_fused(mode, p)
    np.testing.assert_allclose(out.numpy()[:, 0], y.detach().numpy(), rtol=1e-12, atol=1e-14)
    if mode == "lstm":
        np.testing.assert_allclose(out.numpy()[-1, 1], cn[0].detach().numpy(), rtol=1e-12)
    v = np.random.default_rng(0).standard_normal((T, B, H))
    (y * torch.from_numpy(v)).sum().backward()
    (out[:, 0] * mg.tensor(v, dtype=mg.float64)).sum().backward()
    pairs = [("x", x.grad), ("h0", h0.grad[0])] + [
        (k, getattr(m, k + "_l0").grad) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    if mode == "lstm":
        pairs.append(("c0", c0.grad[0]))
    for name, g in pairs:
        np.testing.assert_allclose(t[name].grad.numpy(), g.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def test_pytorch_packed_bidirectional_parity():
    """lengths + reverse follow PyTorch's packed-sequence semantics."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    T, B, I, H = 5, 3, 2, 3
    lens = np.array([3, 5, 1])
    m = torch.nn.LSTM(I, H, bidirectional=True).double()
    x = np.random.default_rng(1).standard_normal((T, B, I))
    packed = pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lens),
                                  enforce_sorted=False)
    y, (hn, cn) = m(packed)
    y = pad_packed_sequence(y, total_length=T)[0].detach().numpy()
    for d, suffix in enumerate(("", "_reverse")):
        w = [mg.tensor(getattr(m, f"{k}_l0{suffix}").detach().numpy(), dtype=mg.float64)
             for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        zeros = mg.zeros(B, H, dtype=mg.float64)
        out = fused_recurrence("lstm", mg.tensor(x, dtype=mg.float64), zeros, zeros, *w,
                               lengths=lens, reverse=bool(d)).numpy()
        valid = (np.arange(T)[:, None] < lens[None, :])[..., None]
        np.testing.assert_allclose(np.where(valid, out[:, 0], 0), y[..., d * H:(d + 1) * H],
                                   rtol=1e-12, atol=1e-14)
        h_n = out[-1] if d == 0 else out[0]
        np.testing.assert_allclose(h_n[0], hn[d].detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(h_n[1], cn[d].detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("B", [1, 3, 9])
def test_input_of_width_zero(mode, B):
    """x (T, B, 0): the input products have no terms and must come out zero (the packed
    panels of an empty W_ih^T are empty too), so the recurrence runs on h alone."""
    p = make_inputs(mode, T=4, B=B, I=0, H=3)
    check_against_reference(mode, p, _options({}, B=B, H=3))


@pytest.mark.parametrize("mode, make_kw, kw", [
    ("rnn", {}, {"lengths": [3, 5, 1, 4, 5, 2, 5, 4], "hidden_mask": "mask"}),
    ("lstm", {"peephole": True}, {"reverse": True, "lengths": [3, 5, 1, 4, 5, 2, 5, 4]}),
    ("gru", {}, {"hidden_mask": "mask", "reverse": True}),
    ("gru", {}, {"reset_after": False, "lengths": [3, 5, 1, 4, 5, 2, 5, 4]}),
])
@pytest.mark.parametrize("path", ["in_kernel", "blas_after", "packed_after"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the numpy reference meets the NaN
@FAMILIES
def test_weight_gradients_summed_per_step_or_after(monkeypatch, kernels, mode, make_kw, kw,
                                                   path):
    """The three ways to the weight gradients, each checked to be the one taken: summed step
    by step in the kernel (from B = 8, when the accumulators fit in cache; not GRU
    reset_after=False), one BLAS GEMM over all steps afterwards (larger layers), or that
    product through the packed kernel (B < 8: few rows per step; H = 6 pads the gate
    gradients' columns). All against the reference, with NaN in the inputs past each
    sequence's end (they must not reach the weight gradients)."""
    from models.rnn.kernels import grads_after, launch

    B = 3 if path == "packed_after" else 8
    if path == "in_kernel" and mode == "gru" and kw.get("reset_after") is False:
        pytest.skip("GRU reset_after=False sums its weight gradients after the kernel")
    after = []
    weight_grads, in_one_call = launch._weight_grads, grads_after.weight_grads_after

    def recording(*args):
        after.append(args[-1])  # packed_product
        return weight_grads(*args)

    def recording_one_call(*args):
        after.append(True)
        return in_one_call(*args)

    monkeypatch.setattr(launch, "_weight_grads", recording)
    monkeypatch.setattr(grads_after, "weight_grads_after", recording_one_call)
    if path == "blas_after":
        monkeypatch.setattr(launch, "_STEP_GRADS_MAX_BYTES", 0)
    p = make_inputs(mode, T=5, B=B, I=4, H=6, **make_kw)
    kw = _options({**kw, "lengths": kw["lengths"][:B]} if "lengths" in kw else kw, B=B, H=6)
    if "lengths" in kw:
        past_end = np.arange(5)[:, None] >= kw["lengths"][None, :]
        p["x"][past_end] = np.nan
    with family.using(kernels) as chosen:
        check_against_reference(mode, p, kw)
    # One backward pass; with ``blas`` every path is the BLAS GEMM afterwards.
    taken = {"in_kernel": [], "blas_after": [False], "packed_after": [True]}[path]
    assert after == (taken if chosen.packed else [False])


@pytest.mark.parametrize("mode, make_kw, kw", [
    ("rnn", {}, {"lengths": [3, 5, 1, 4, 5, 2, 5, 4, 5], "hidden_mask": "mask"}),
    ("lstm", {"peephole": True}, {"reverse": True}),
    ("gru", {}, {"hidden_mask": "mask"}),
    ("gru", {}, {"reset_after": False, "lengths": [3, 5, 1, 4, 5, 2, 5, 4, 5]}),
])
def test_the_blas_family_packs_nothing(monkeypatch, mode, make_kw, kw):
    """With the ``blas`` family (CPUs without packed kernels) the per-step products go to
    BLAS (no packing, no padded buffers) and the weight gradients to one GEMM: the same
    numbers."""
    from models.rnn.kernels import packed

    def no_packing(w, fam=None):
        raise AssertionError("packed with the blas family")

    monkeypatch.setattr(packed, "pack", no_packing)
    p = make_inputs(mode, T=5, B=9, I=4, H=6, **make_kw)
    with family.using("blas"):
        check_against_reference(mode, p, _options(kw, B=9, H=6))


@pytest.mark.parametrize("mode, make_kw, kw", [
    ("rnn", {}, {"lengths": [3, 5, 1, 4, 5, 2, 5, 4], "hidden_mask": "mask"}),
    ("lstm", {"peephole": True}, {"reverse": True}),
    ("gru", {}, {"lengths": [3, 5, 1, 4, 5, 2, 5, 4]}),
])
def test_weight_gradients_when_x_needs_none(monkeypatch, mode, make_kw, kw):
    """A first layer (x and h0 without gradient) with the weight gradients summed in the
    kernel: the kernel then keeps only the current step's gate gradients."""
    from models.rnn.kernels import launch

    asked = []
    scratch = launch._scratch

    def recording_scratch(role, shape, dtype):
        asked.append((role, shape))
        return scratch(role, shape, dtype)

    monkeypatch.setattr(launch, "_scratch", recording_scratch)
    p = make_inputs(mode, T=5, B=8, I=4, H=6, **make_kw)
    kw = _options(kw, B=8, H=6)
    t = {k: None if a is None else mg.tensor(a, dtype=a.dtype,
                                             requires_grad=k.startswith(("weight", "bias")))
         for k, a in p.items()}
    out = fused_recurrence(mode, *[t[k] for k in NAMES[:7]], peephole=t["peephole"], **kw)
    v = np.random.default_rng(2).standard_normal(out.shape)
    (out * mg.tensor(v, dtype=np.float64)).sum().backward()
    ref = reference_grads(mode, p, v, **kw)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(t[name].grad.numpy(), ref[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    assert t["x"].grad is None and t["h0"].grad is None
    if family.active().packed:  # the gate gradients of one step only
        assert [shape[0] for role, shape in asked if role == "dpre"] == [1]


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_batch_first_input(mode):
    """x given (B, T, I) with ``batch_first``: the same states and gradients as x (T, B, I),
    x's gradient in x's layout; the symbolic rule reads the same layout."""
    p = make_inputs(mode, T=4, B=3, I=2, H=3)
    out, t = run_fused(mode, p)
    v = np.random.default_rng(3).standard_normal(out.shape)
    (out * mg.tensor(v, dtype=np.float64)).sum().backward()
    xb = mg.tensor(p["x"].transpose(1, 0, 2).copy(), dtype=np.float64, requires_grad=True)
    args = [xb] + [t[k] for k in NAMES[1:7]]
    for k in NAMES[1:7]:
        if t[k] is not None:
            t[k].grad = None
    out_b = fused_recurrence(mode, *args, batch_first=True)
    np.testing.assert_array_equal(out_b.numpy(), out.numpy())
    (out_b * mg.tensor(v, dtype=np.float64)).sum().backward()
    np.testing.assert_allclose(xb.grad.numpy(), t["x"].grad.numpy().transpose(1, 0, 2), rtol=1e-12)
    assert xb.grad.numpy().shape == (3, 4, 2)
    node = out_b.grad_fn
    values = [np.asarray(a.numpy(), dtype=object) for a in args if a is not None]
    sym = rnn_fused_p.symbolic(*values, **node.params)
    np.testing.assert_allclose(np.asarray(sym, dtype=float), out.numpy(), rtol=1e-10)
