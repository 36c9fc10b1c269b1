"""The gradient-analysis toolkit (``models.analysis``) against independent computations."""

import numpy as np
import pytest

import minigrad as mg
import models
from models.analysis import (
    ElmanRNN,
    GradientMonitor,
    activation_gamma,
    find_states,
    gradient_flow,
    identity_recurrent_,
    jacobian_norms,
    orthogonal_recurrent_,
    recurrent_summary,
    recurrent_weights,
    set_forget_bias_,
    set_sigma_max_,
    set_spectral_radius_,
    sigma_max,
    singular_values,
    spectral_radius,
)
from models.analysis.tasks import ADDING_BASELINE_MSE, LastStepRegressor, adding_problem

LAYERS = {"rnn": models.RNN, "lstm": models.LSTM, "gru": models.GRU}


def _pair(mode, seed=0, **kwargs):
    """A fused layer and an unrolled one with the same float64 weights."""
    mg.manual_seed(seed)
    fused = LAYERS[mode](3, 4, dtype=np.float64, **kwargs)
    unrolled = LAYERS[mode](3, 4, fused=False, dtype=np.float64, **kwargs)
    unrolled.load_state_dict(fused.state_dict())
    return fused, unrolled


def _tanh_rnn_states(rnn, x):
    """numpy forward of a one-layer tanh RNN: h_t for t = 0..T-1, (T, B, H)."""
    w_ih, w_hh = rnn.weight_ih_l0.numpy(), rnn.weight_hh_l0.numpy()
    b = rnn.bias_ih_l0.numpy() + rnn.bias_hh_l0.numpy()
    h = np.zeros((x.shape[1], w_hh.shape[0]))
    out = []
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ w_ih.T + h @ w_hh.T + b)
        out.append(h)
    return np.stack(out)


# ---- spectral helpers ----------------------------------------------------------------------
def test_spectral_helpers_match_numpy(rng):
    w = rng.standard_normal((6, 6))
    assert sigma_max(w) == pytest.approx(np.linalg.svd(w, compute_uv=False)[0])
    assert sigma_max(mg.tensor(w)) == pytest.approx(sigma_max(w))
    assert spectral_radius(w) == pytest.approx(np.max(np.abs(np.linalg.eigvals(w))))
    np.testing.assert_allclose(singular_values(w), np.linalg.svd(w, compute_uv=False))
    with pytest.raises(ValueError, match="square"):
        spectral_radius(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match="2-D"):
        sigma_max(np.ones(3))


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_initialisers_set_every_gate_block(mode):
    layer = LAYERS[mode](2, 5, num_layers=2, dtype=np.float64)
    set_sigma_max_(layer, 0.7)
    for v in recurrent_summary(layer).values():
        assert v["sigma_max"] == pytest.approx(0.7)
    set_spectral_radius_(layer, 1.3)
    for v in recurrent_summary(layer).values():
        assert v["spectral_radius"] == pytest.approx(1.3)
    orthogonal_recurrent_(layer, 0.9, generator=np.random.default_rng(0))
    for _, w in recurrent_weights(layer):
        for g in range(w.shape[0] // 5):
            np.testing.assert_allclose(singular_values(w.numpy()[g * 5:(g + 1) * 5]), 0.9)
    assert len(recurrent_weights(layer)) == 2


def test_identity_init_and_forget_bias():
    rnn = models.RNN(2, 4, nonlinearity="relu")
    identity_recurrent_(rnn)
    np.testing.assert_array_equal(rnn.weight_hh_l0.numpy(), np.eye(4))
    assert not rnn.bias_ih_l0.numpy().any() and not rnn.bias_hh_l0.numpy().any()
    lstm = models.LSTM(2, 4)
    set_forget_bias_(lstm, 1.0)
    np.testing.assert_array_equal(lstm.bias_ih_l0.numpy()[4:8], 1.0)
    np.testing.assert_array_equal(lstm.bias_hh_l0.numpy()[4:8], 0.0)
    with pytest.raises(ValueError, match="no LSTM layer"):
        set_forget_bias_(models.RNN(2, 4), 1.0)
    with pytest.raises(ValueError, match="no recurrent weight"):
        recurrent_weights(mg.nn.Linear(2, 2))


def test_gamma_is_derived_by_sympy():
    assert activation_gamma("tanh") == 1.0
    assert activation_gamma("sigmoid") == 0.25
    assert activation_gamma("relu") == 1.0
    assert activation_gamma("leaky_relu", 0.1) == 1.0


# ---- gradient_flow -----------------------------------------------------------------------------
def test_gradient_flow_matches_numpy_bptt(rng):
    mg.manual_seed(1)
    rnn = models.RNN(3, 5, fused=False, dtype=np.float64)
    x = rng.standard_normal((9, 2, 3))
    flow = gradient_flow(rnn, x)  # default loss: sum of the last output
    hs = _tanh_rnn_states(rnn, x)
    g = np.ones_like(hs[-1])
    expected = [np.linalg.norm(g)]
    for t in range(len(hs) - 1, 0, -1):
        g = ((1 - hs[t] ** 2) * g) @ rnn.weight_hh_l0.numpy()
        expected.append(np.linalg.norm(g))
    np.testing.assert_allclose(flow.h["RNN/layer0"], expected[::-1], rtol=1e-12)
    assert flow.path == "unrolled" and flow.loss == pytest.approx(hs[-1].sum())


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_gradient_flow_fused_equals_unrolled_and_hooks(mode, rng):
    mg.manual_seed(2)
    fused = LAYERS[mode](3, 4, num_layers=2, dtype=np.float64)
    unrolled = LAYERS[mode](3, 4, num_layers=2, fused=False, dtype=np.float64)
    unrolled.load_state_dict(fused.state_dict())
    x = rng.standard_normal((7, 2, 3))
    target = rng.standard_normal((7, 2, 4))

    def loss_fn(out):
        return ((out[0] - mg.tensor(target)) ** 2).sum()

    a, b = gradient_flow(fused, x, loss_fn), gradient_flow(unrolled, x, loss_fn)
    assert a.path == "stepwise" and b.path == "unrolled"
    assert list(a.h) == [f"{type(fused).__name__}/layer{k}" for k in range(2)]
    for key in b.h:
        np.testing.assert_allclose(a.h[key], b.h[key], rtol=1e-10, atol=1e-14)
    assert set(a.c) == set(b.c) == ({*b.h} if mode == "lstm" else set())
    for key in b.c:
        np.testing.assert_allclose(a.c[key], b.c[key], rtol=1e-10, atol=1e-14)
    # Independent: hooks on the per-step states the unrolled layer hands back.
    out, _, states = unrolled(mg.tensor(x), return_all_states=True)
    seen = {}
    for k, steps in enumerate(states.h_steps):
        for t, h in enumerate(steps):
            h.register_hook(lambda g, k=k, t=t: seen.__setitem__((k, t), np.linalg.norm(g.numpy())))
    loss_fn((out,)).backward()
    for k in range(2):
        got = b.h[f"{type(unrolled).__name__}/layer{k}"]
        np.testing.assert_allclose(got, [seen[(k, t)] for t in range(7)], rtol=1e-12)


def test_gradient_flow_composite_model_batch_first(rng):
    class Tagger(mg.nn.Module):
        def __init__(self, fused):
            super().__init__()
            self.embed = mg.nn.Embedding(10, 3, dtype=np.float64)
            self.lstm = models.LSTM(3, 4, batch_first=True, fused=fused, dtype=np.float64)
            self.head = mg.nn.Linear(4, 2, dtype=np.float64)

        def forward(self, ids):
            return self.head(self.lstm(self.embed(ids))[0])

    mg.manual_seed(3)
    a, b = Tagger(True), Tagger(False)
    b.load_state_dict(a.state_dict())
    ids = rng.integers(0, 10, size=(2, 6))
    labels = rng.integers(0, 2, size=(2, 6))

    def loss_fn(scores):
        return mg.nn.functional.cross_entropy(mg.reshape(scores, -1, 2), labels.reshape(-1))

    fa, fb = gradient_flow(a, ids, loss_fn), gradient_flow(b, ids, loss_fn)
    np.testing.assert_allclose(fa.h["LSTM/layer0"], fb.h["LSTM/layer0"], rtol=1e-10)
    np.testing.assert_allclose(fa.c["LSTM/layer0"], fb.c["LSTM/layer0"], rtol=1e-10)
    assert a.lstm.forward.__func__ is models.LSTM.forward  # the patch was undone


def test_gradient_flow_errors():
    with pytest.raises(ValueError, match="no recurrent states"):
        gradient_flow(mg.nn.Linear(3, 2), np.ones((4, 3)), loss_fn=lambda y: y.sum())
    with pytest.raises(ValueError, match="fused=False"):
        gradient_flow(models.GRU(2, 3, bidirectional=True), np.ones((4, 1, 2)))


# ---- jacobian_norms ----------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [False, True])
def test_jacobian_norms_match_products_of_step_jacobians(fused, rng):
    mg.manual_seed(4)
    rnn = models.RNN(2, 5, fused=fused, dtype=np.float64)
    set_sigma_max_(rnn, 1.2)
    x = rng.standard_normal((10, 3, 2))
    jn = jacobian_norms(rnn, x)
    hs = _tanh_rnn_states(rnn, x)
    w = rnn.weight_hh_l0.numpy()
    prod = np.broadcast_to(np.eye(5), (3, 5, 5)).copy()
    svs = [np.linalg.svd(prod, compute_uv=False)]
    for t in range(9, 0, -1):  # dh_9/dh_{t-1} = dh_9/dh_t diag(1 - h_t^2) W_hh
        prod = prod @ ((1 - hs[t] ** 2)[:, :, None] * w)
        svs.append(np.linalg.svd(prod, compute_uv=False))
    svs = np.stack(svs, axis=1)
    np.testing.assert_allclose(jn.singular_values, svs, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(jn.spectral, svs[..., 0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(jn.frobenius, np.sqrt((svs ** 2).sum(-1)), rtol=1e-10)
    assert jn.gamma == 1.0 and jn.sigma_max == pytest.approx(1.2)
    np.testing.assert_allclose(jn.bound, 1.2 ** np.arange(10))
    assert np.all(jn.spectral <= jn.bound * (1 + 1e-12))
    assert jn.path == ("stepwise" if fused else "unrolled")


def test_jacobian_norms_lstm_state_matches_numpy(rng):
    mg.manual_seed(5)
    H = 3
    lstm = models.LSTM(2, H, dtype=np.float64, fused=False)
    x = rng.standard_normal((6, 2, 2))
    jn = jacobian_norms(lstm, x)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    w_ih, w_hh = lstm.weight_ih_l0.numpy(), lstm.weight_hh_l0.numpy()
    bias = lstm.bias_ih_l0.numpy() + lstm.bias_hh_l0.numpy()
    h = c = np.zeros((2, H))
    steps = []
    for t in range(6):
        a = x[t] @ w_ih.T + h @ w_hh.T + bias
        i, f = sig(a[:, :H]), sig(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        dc_dh = ((c * f * (1 - f))[:, :, None] * w_hh[H:2 * H]
                 + (g * i * (1 - i))[:, :, None] * w_hh[:H]
                 + (i * (1 - g ** 2))[:, :, None] * w_hh[2 * H:3 * H])
        dh_dh = ((tc * o * (1 - o))[:, :, None] * w_hh[3 * H:]
                 + (o * (1 - tc ** 2))[:, :, None] * dc_dh)
        jac = np.zeros((2, 2 * H, 2 * H))
        jac[:, :H, :H] = dh_dh
        jac[:, :H, H:] = np.einsum("bi,ij->bij", o * (1 - tc ** 2) * f, np.eye(H))
        jac[:, H:, :H] = dc_dh
        jac[:, H:, H:] = np.einsum("bi,ij->bij", f, np.eye(H))
        steps.append(jac)
        h, c = o * tc, c_new
    prod = np.broadcast_to(np.eye(2 * H), (2, 2 * H, 2 * H)).copy()
    norms = [np.linalg.norm(prod, 2, axis=(1, 2))]
    c_norms = [np.ones(2)]
    for t in range(5, 0, -1):
        prod = prod @ steps[t]
        norms.append(np.linalg.norm(prod, 2, axis=(1, 2)))
        c_norms.append(np.linalg.norm(prod[:, H:, H:], 2, axis=(1, 2)))
    np.testing.assert_allclose(jn.spectral, np.stack(norms, 1), rtol=1e-10)
    np.testing.assert_allclose(jn.blocks["c"], np.stack(c_norms, 1), rtol=1e-10)
    assert jn.kind == "h,c" and jn.bound is None
    fused = models.LSTM(2, H, dtype=np.float64)
    fused.load_state_dict(lstm.state_dict())
    np.testing.assert_allclose(jacobian_norms(fused, x).spectral, jn.spectral, rtol=1e-10)


def test_jacobian_norms_match_the_symbolic_formula(rng):
    """The GRU's derived one-step Jacobian (``models.theory``, lambdified), multiplied over the
    steps, against the engine's reverse-mode Jacobians."""
    theory = pytest.importorskip("models.theory")
    mg.manual_seed(6)
    gru = models.GRU(1, 2, fused=False, dtype=np.float64)
    x = rng.standard_normal((5, 1, 1))
    jn = jacobian_norms(gru, x)
    fns = theory.StepFunctions(theory.derive_step("gru", 2, 1))
    weights = np.concatenate([getattr(gru, f"{s}_l0").numpy().reshape(-1)
                              for s in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")])
    out, _ = gru(mg.tensor(x))
    hs = np.concatenate([np.zeros((1, 2)), out.numpy()[:, 0]])
    prod, norms = np.eye(2), [1.0]
    for t in range(5, 1, -1):  # states hs[1..5]; step t maps hs[t-1] -> hs[t]
        prod = prod @ fns.jacobian(x[t - 1, 0], hs[t - 1], hs[t], weights)
        norms.append(np.linalg.norm(prod, 2))
    np.testing.assert_allclose(jn.spectral[0], norms, rtol=1e-9)


def test_jacobian_norms_k_and_layer(rng):
    rnn = models.RNN(2, 3, num_layers=2, fused=False, dtype=np.float64)
    x = rng.standard_normal((8, 1, 2))
    jn = jacobian_norms(rnn, x, k=3, layer=1)
    assert jn.layer == "RNN/layer1" and jn.spectral.shape == (1, 4)
    np.testing.assert_allclose(jn.spectral[:, 0], 1.0)
    with pytest.raises(ValueError, match="k must lie"):
        jacobian_norms(rnn, x, k=8)
    with pytest.raises(ValueError, match="no layer 5"):
        jacobian_norms(rnn, x, layer=5)


# ---- the variants ------------------------------------------------------------------------------
def test_elman_rnn_matches_library_rnn_and_skip(rng):
    mg.manual_seed(7)
    ref = models.RNN(2, 4, fused=False, dtype=np.float64)
    mine = ElmanRNN(2, 4, dtype=np.float64)
    mine.load_state_dict(ref.state_dict())
    x = mg.tensor(rng.standard_normal((6, 3, 2)))
    np.testing.assert_allclose(mine(x)[0].numpy(), ref(x)[0].numpy(), rtol=1e-12)
    skip = ElmanRNN(2, 4, skip=2, nonlinearity="leaky_relu", dtype=np.float64)
    out = skip(x)[0].numpy()
    w_ih, w_hh = skip.weight_ih_l0.numpy(), skip.weight_hh_l0.numpy()
    b = skip.bias_ih_l0.numpy() + skip.bias_hh_l0.numpy()
    hist = [np.zeros((3, 4))]
    for t in range(6):
        a = x.numpy()[t] @ w_ih.T + hist[-1] @ w_hh.T + b
        h = np.where(a > 0, a, 0.01 * a)
        if t + 1 - 2 >= 0:
            h = h + hist[t + 1 - 2]
        hist.append(h)
    np.testing.assert_allclose(out, np.stack(hist[1:]), rtol=1e-12)
    jn = jacobian_norms(skip, x.numpy())
    assert jn.bound is None  # no PMB bound with an identity path
    assert list(find_states(skip(x)[0])) == ["ElmanRNN/layer0"]


# ---- training diagnostics ------------------------------------------------------------------
def test_gradient_monitor_records_norms_and_clipping():
    mg.manual_seed(8)
    net = LastStepRegressor(models.LSTM(2, 4, dtype=np.float64))
    x, y = adding_problem(4, 6, np.random.default_rng(0), np.float64)

    def loss_fn(out):
        return mg.nn.functional.mse_loss(out, mg.tensor(y))

    flow = gradient_flow(net, x, loss_fn)
    monitor = GradientMonitor(net, max_norm=1e-3, states_every=2)
    opt = mg.optim.SGD(net.parameters(), lr=0.1)
    with monitor.exposed() as path:
        loss = loss_fn(net(mg.tensor(x)))
    assert path == "stepwise"
    monitor.track(loss)
    opt.zero_grad()
    loss.backward()
    grads = {k: p.grad.numpy().copy() for k, p in net.named_parameters()}
    total = monitor.after_backward(loss)
    for k, g in grads.items():
        assert monitor.param_norms[k][0] == pytest.approx(np.linalg.norm(g))
    assert total == pytest.approx(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    clipped = np.sqrt(sum(np.sum(p.grad.numpy() ** 2) for p in net.parameters()))
    assert clipped == pytest.approx(1e-3, rel=1e-4)
    assert len(monitor.clip_events) == 1 and monitor.clip_events[0].norm == pytest.approx(total)
    steps, matrix = monitor.heatmap()
    np.testing.assert_allclose(matrix[0], flow.h["LSTM/layer0"], rtol=1e-10)
    np.testing.assert_allclose(monitor.state_norms[("LSTM/layer0", "c")][0],
                               flow.c["LSTM/layer0"], rtol=1e-10)
    opt.step()
    for _ in range(3):
        monitor.train_step(mg.tensor(x), loss_fn, opt)
    steps, matrix = monitor.heatmap()
    assert list(steps) == [0, 2] and matrix.shape == (2, 6)
    assert monitor.step == 4 and len(monitor.losses) == 4
    assert monitor.summary()["clip_events"] == 4
    with pytest.raises(ValueError, match="max_norm"):
        GradientMonitor(net, max_norm=0)


def test_adding_problem_data():
    x, y = adding_problem(1000, 20, np.random.default_rng(0))
    assert x.shape == (20, 1000, 2) and y.shape == (1000, 1)
    np.testing.assert_array_equal(x[:, :, 1].sum(0), 2)
    assert np.all(x[:10, :, 1].sum(0) == 1)  # one marker per half
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(0), rtol=1e-6)
    assert np.mean((1.0 - y) ** 2) == pytest.approx(ADDING_BASELINE_MSE, abs=0.02)
