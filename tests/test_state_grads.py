"""The total gradient w.r.t. every state, from ``return_all_states=True``: ``States.grad_h`` /
``grad_c`` (the fused path's zero probes, the unrolled path's own per-step tensors) against
each other, against central differences of an independent numpy re-run with one state
perturbed as it is made, and the probe's own contract (zero, shape, symbolic rule)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rnn_reference import cell_step, layer_params

import minigrad as mg
from models import GRU, LSTM, RNN
from models.rnn.fused import fused_recurrence

F64 = np.float64
CLASSES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
VARIANTS = [
    ("rnn", {}), ("rnn", {"nonlinearity": "relu"}), ("lstm", {}), ("lstm", {"peephole": True}),
    ("lstm", {"coupled": True, "peephole": True}), ("gru", {}), ("gru", {"reset_after": False}),
]
VARIANT_IDS = [m + "".join(f"-{k}" for k in kw) for m, kw in VARIANTS]
# (T, B, lengths): max(lengths) < T leaves steps at which every sequence is past its end
LAYOUTS = {"TBH": (5, 3, [4, 1, 3]), "BTH": (5, 3, [2, 4, 3]), "TH": (4, None, None)}


def twins(mode, input_size=2, hidden_size=3, seed=0, **kw):
    """The same layer twice: fused and unrolled (weights copied), float64."""
    mg.manual_seed(seed)
    fused = CLASSES[mode](input_size, hidden_size, dtype=F64, **kw)
    unrolled = CLASSES[mode](input_size, hidden_size, dtype=F64, fused=False, **kw)
    unrolled.load_state_dict(fused.state_dict())
    return fused, unrolled


def split(mode, res):
    out, state = res[0], res[1]
    h_n, c_n = state if mode == "lstm" else (state, None)
    return out, h_n, c_n, res[2] if len(res) > 2 else None


def seeded(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def loss_of(out, h_n, c_n, h_first):
    """A loss through every returned value, nonlinear in the output, and through the first
    layer-direction's states directly (past the sequences' ends too)."""
    loss = (out * mg.tensor(seeded(out.shape, 1))).sum() + 0.5 * (out * out).sum()
    loss = loss + (h_n * mg.tensor(seeded(h_n.shape, 2))).sum()
    if c_n is not None:
        loss = loss + (c_n * mg.tensor(seeded(c_n.shape, 3))).sum()
    return loss + (h_first * mg.tensor(seeded(h_first.shape, 4))).sum()


def total_grads(m, x, lengths=None, seed=7):
    """Run ``m`` with all states, backward a loss; returns (values, grad_h, grad_c lists)."""
    mg.manual_seed(seed)  # the same dropout masks in every run
    res = m(mg.tensor(x), lengths=lengths, return_all_states=True)
    out, h_n, c_n, states = split(m.mode, res)
    assert [states.grad_h(k) for k in range(len(states.h))] == [None] * len(states.h)
    loss_of(out, h_n, c_n, states.h[0]).backward()
    count = len(states.h)
    gh = [states.grad_h(k).numpy() for k in range(count)]
    gc = [states.grad_c(k).numpy() for k in range(count)] if m.mode == "lstm" else []
    return states, gh, gc


# ---- fused == unrolled -----------------------------------------------------------------------
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("mode,options", VARIANTS, ids=VARIANT_IDS)
def test_fused_equals_unrolled(mode, options, layout):
    steps, batch, lengths = LAYOUTS[layout]
    fused, unrolled = twins(mode, num_layers=2, bidirectional=True,
                            batch_first=layout == "BTH", **options)
    shape = (steps, 2) if batch is None else (steps, batch, 2)
    x = seeded(shape, 0)
    if layout == "BTH":
        x = x.transpose(1, 0, 2)
    s_f, gh_f, gc_f = total_grads(fused, x, lengths)
    s_u, gh_u, gc_u = total_grads(unrolled, x, lengths)
    assert s_f.layout == s_u.layout == layout
    assert s_f.probes is not None and len(s_f.probes) == 4 and s_u.probes is None
    for a, b, h in zip(gh_f + gc_f, gh_u + gc_u, s_f.h + (s_f.c or ()), strict=True):
        assert a.shape == b.shape == h.shape
        assert np.any(a != 0)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_fused_equals_unrolled_with_both_dropouts():
    fused, unrolled = twins("lstm", num_layers=2, bidirectional=True, dropout=0.4,
                            recurrent_dropout=0.4, peephole=True)
    x = seeded((4, 3, 2), 0)
    _, gh_f, gc_f = total_grads(fused, x, [4, 2, 3], seed=5)
    _, gh_u, gc_u = total_grads(unrolled, x, [4, 2, 3], seed=5)
    for a, b in zip(gh_f + gc_f, gh_u + gc_u, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@given(mode=st.sampled_from(["rnn", "lstm", "gru"]), steps=st.integers(1, 5),
       batch=st.integers(1, 3), bidirectional=st.booleans(), data=st.data())
def test_fused_equals_unrolled_any_lengths(mode, steps, batch, bidirectional, data):
    lengths = data.draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    fused, unrolled = twins(mode, bidirectional=bidirectional)
    x = seeded((steps, batch, 2), steps)
    _, gh_f, gc_f = total_grads(fused, x, lengths)
    _, gh_u, gc_u = total_grads(unrolled, x, lengths)
    for a, b in zip(gh_f + gc_f, gh_u + gc_u, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


# ---- against central differences of an independent re-run -----------------------------------
def numpy_loss(m, x, lengths, bump=None):
    """``loss_of`` for ``m`` (TBH layout, zero h0/c0) recomputed in numpy with the carried
    semantics of ``States``; bump = (kind, k, t, b, j, eps) adds eps to that state as it is
    made (after the length mask, before anything uses it)."""
    steps, batch, _ = x.shape
    hidden, dirs = m.hidden_size, m.num_directions
    lens = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    opts = dict(nonlinearity=m.nonlinearity, coupled=m.coupled, reset_after=m.reset_after)
    layer_in, hs, cs = x, {}, {}
    for layer in range(m.num_layers):
        for d in range(dirs):
            k = layer * dirs + d
            p = layer_params(m, k)
            h, c = np.zeros((batch, hidden)), np.zeros((batch, hidden))
            hs[k], cs[k] = np.zeros((steps, batch, hidden)), np.zeros((steps, batch, hidden))
            for t in range(steps - 1, -1, -1) if d else range(steps):
                h_new, c_new = cell_step(m.mode, layer_in[t], h, c, p, **opts)
                live = (t < lens)[:, None]
                h = np.where(live, h_new, h)
                c = c if c_new is None else np.where(live, c_new, c)
                if bump is not None and bump[1:3] == (k, t):
                    kind, _, _, b, j, eps = bump
                    (h if kind == "h" else c)[b, j] += eps
                hs[k][t], cs[k][t] = h, c
        layer_in = np.concatenate([hs[layer * dirs + d] for d in range(dirs)], axis=2)
    out = layer_in * (np.arange(steps)[:, None] < lens)[:, :, None]
    ends = [0 if k % dirs else -1 for k in range(len(hs))]
    h_n = np.stack([hs[k][e] for k, e in enumerate(ends)])
    c_n = np.stack([cs[k][e] for k, e in enumerate(ends)]) if m.mode == "lstm" else None
    loss = np.sum(out * seeded(out.shape, 1)) + 0.5 * np.sum(out * out)
    loss += np.sum(h_n * seeded(h_n.shape, 2))
    if c_n is not None:
        loss += np.sum(c_n * seeded(c_n.shape, 3))
    return loss + np.sum(hs[0] * seeded(hs[0].shape, 4))


@pytest.mark.parametrize("mode,options", [("rnn", {}), ("lstm", {"peephole": True}),
                                          ("gru", {"reset_after": False})],
                         ids=["rnn", "lstm-peephole", "gru-reset_after"])
def test_total_gradient_is_the_central_difference(mode, options):
    """d loss / d (a state perturbed as it is made), entry by entry; lengths [3, 1] with T = 4
    leave a step past every sequence's end in both directions."""
    fused, unrolled = twins(mode, hidden_size=2, num_layers=2, bidirectional=True, **options)
    x, lengths, eps = seeded((4, 2, 2), 0), [3, 1], 1e-6
    with mg.no_grad():
        out, h_n, c_n, states = split(mode, fused(mg.tensor(x), lengths=lengths,
                                                  return_all_states=True))
        value = loss_of(out, h_n, c_n, states.h[0]).item()
    assert numpy_loss(fused, x, lengths) == pytest.approx(value, rel=1e-13)
    kinds = ("h", "c") if mode == "lstm" else ("h",)
    _, gh, gc = total_grads(fused, x, lengths)
    _, gh_u, gc_u = total_grads(unrolled, x, lengths)
    for kind, got, got_u in zip(kinds, (gh, gc), (gh_u, gc_u), strict=False):
        for k in range(4):
            fd = np.zeros((4, 2, 2))
            for t, b, j in np.ndindex(fd.shape):
                up = numpy_loss(fused, x, lengths, (kind, k, t, b, j, eps))
                down = numpy_loss(fused, x, lengths, (kind, k, t, b, j, -eps))
                fd[t, b, j] = (up - down) / (2 * eps)
            assert np.abs(fd).max() > 1e-3
            np.testing.assert_allclose(got[k], fd, rtol=1e-6, atol=1e-8,
                                       err_msg=f"fused {kind} {k}")
            np.testing.assert_allclose(got_u[k], fd, rtol=1e-6, atol=1e-8,
                                       err_msg=f"unrolled {kind} {k}")


# ---- probes: hooks, no_grad, no cost when not asked ------------------------------------------
def test_a_hook_on_a_probe_sees_the_total_gradients():
    fused, _ = twins("lstm", num_layers=2)
    x = mg.tensor(seeded((4, 2, 2), 0))
    out, h_n, c_n, states = split("lstm", fused(x, lengths=[4, 2], return_all_states=True))
    seen = {}
    for k, probe in enumerate(states.probes):
        assert probe.is_leaf and probe.requires_grad and probe.name == "state_probe"
        assert probe.shape == (4, 2, 2, 3) and not np.any(probe.numpy())
        probe.register_hook(lambda g, k=k: seen.__setitem__(k, g.numpy().copy()))
    loss_of(out, h_n, c_n, states.h[0]).backward()
    for k in range(2):
        np.testing.assert_array_equal(seen[k][:, 0], states.grad_h(k).numpy())
        np.testing.assert_array_equal(seen[k][:, 1], states.grad_c(k).numpy())
        np.testing.assert_array_equal(seen[k], states.probes[k].grad.numpy())


def test_hooks_on_unrolled_steps_see_grad_h():
    _, unrolled = twins("gru", bidirectional=True)
    x = mg.tensor(seeded((4, 2, 2), 0))
    out, h_n, _, states = split("gru", unrolled(x, lengths=[2, 3], return_all_states=True))
    seen = {}
    for k, steps in enumerate(states.h_steps):
        assert len({id(s) for s in steps}) == 4  # a tensor per step, also past every end
        for t, h_t in enumerate(steps):
            h_t.register_hook(lambda g, k=k, t=t: seen.__setitem__((k, t), g.numpy().copy()))
    loss_of(out, h_n, None, states.h[0]).backward()
    for k in range(2):
        np.testing.assert_array_equal(np.stack([seen[k, t] for t in range(4)]),
                                      states.grad_h(k).numpy())


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unrolled"])
def test_no_grad_makes_no_probes_and_grad_h_is_none(fused):
    m = twins("lstm", bidirectional=True)[0 if fused else 1]
    with mg.no_grad():
        *_, states = m(mg.tensor(seeded((3, 2, 2), 0)), return_all_states=True)
    assert states.probes is None
    assert states.grad_h(0) is None and states.grad_c(1) is None


def test_probes_only_with_return_all_states():
    fused, _ = twins("rnn", num_layers=2)
    x = mg.tensor(seeded((3, 2, 2), 0))

    def fused_nodes(root):
        nodes = [t for t in mg.topological_order([root]) if t.op == "rnn_fused"]
        assert len(nodes) == 2
        return nodes

    out, _ = fused(x)
    assert all("probe" not in t.grad_fn.params["names"] for t in fused_nodes(out))
    out, _, states = fused(x, return_all_states=True)
    assert all(t.grad_fn.params["names"][-1] == "probe" for t in fused_nodes(out))
    assert [t.name for t in mg.topological_order([out]) if t.is_leaf and t.name] == [
        "state_probe", "state_probe"]


def test_no_probe_where_nothing_requires_grad():
    fused, _ = twins("gru")
    for p in fused.parameters():
        p.requires_grad_(False)
    out, h_n, states = fused(mg.tensor(seeded((3, 2, 2), 0)), return_all_states=True)
    assert states.probes == (None,) and not out.requires_grad and states.grad_h(0) is None


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unrolled"])
def test_outputs_are_unchanged_by_tracking(mode, fused):
    m = twins(mode, num_layers=2, bidirectional=True)[0 if fused else 1]
    x = mg.tensor(seeded((5, 3, 2), 0))
    plain = split(mode, m(x, lengths=[3, 4, 1]))
    tracked = split(mode, m(x, lengths=[3, 4, 1], return_all_states=True))
    for a, b in zip(plain[:3], tracked[:3], strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---- States API -------------------------------------------------------------------------------
def test_grad_c_and_bad_indices_raise():
    fused, _ = twins("gru", bidirectional=True)
    *_, states = fused(mg.tensor(seeded((3, 2, 2), 0)), return_all_states=True)
    with pytest.raises(ValueError, match="only the LSTM"):
        states.grad_c(0)
    with pytest.raises(IndexError, match=r"k expected an int in \[0, 2\)"):
        states.grad_h(2)
    with pytest.raises(IndexError, match="k expected"):
        states.grad_h(0.0)
    states.h[1].sum().backward()
    np.testing.assert_array_equal(states.grad_h(-1).numpy(), states.grad_h(1).numpy())


def test_grad_h_after_a_loss_that_skips_a_direction():
    """Backward through the forward direction only: the reverse direction got no gradient."""
    fused, unrolled = twins("rnn", bidirectional=True)
    for m in (fused, unrolled):
        *_, states = m(mg.tensor(seeded((3, 2, 2), 0)), return_all_states=True)
        states.h[0].sum().backward()
        assert states.grad_h(0) is not None and states.grad_h(1) is None


# ---- the probe's contract in fused_recurrence -------------------------------------------------
def _fused_args(mode, steps=4, batch=2, inputs=2, hidden=3):
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[mode] * hidden
    rng = np.random.default_rng(0)

    def t(*shape):
        return mg.tensor(rng.standard_normal(shape), dtype=F64, requires_grad=True)

    c0 = t(batch, hidden) if mode == "lstm" else None
    return (t(steps, batch, inputs), t(batch, hidden), c0, t(gates, inputs), t(gates, hidden),
            t(gates), t(gates))


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_probe_must_be_zero_and_of_the_right_shape(mode):
    args = _fused_args(mode)
    slots = 2 if mode == "lstm" else 1
    bad = mg.zeros(4, slots, 2, 3, dtype=F64)
    bad.numpy()[2, 0, 1, 1] = 1e-300
    with pytest.raises(ValueError, match="probe must be all zeros"):
        fused_recurrence(mode, *args, probe=bad)
    expected = rf"probe: expected shape \(4, {slots}, 2, 3\)"
    for shape in [(4, 2, 3), (4, 3 - slots, 2, 3), (3, slots, 2, 3), (4, slots, 2, 4)]:
        with pytest.raises(ValueError, match=expected):
            fused_recurrence(mode, *args, probe=mg.zeros(*shape, dtype=F64))
    with pytest.raises(TypeError, match="probe"):
        fused_recurrence(mode, *args, probe=mg.zeros(4, slots, 2, 3, dtype=mg.float32))


def test_symbolic_rule_with_a_probe(monkeypatch):
    """``rnn_fused``'s symbolic rule with a probe equals the forward, its sympy derivative the
    backward (probe included), and ``rnn_fused_bptt``'s value, which copies out the probe's
    gradient, the vector-Jacobian product of that rule."""
    pytest.importorskip("sympy")
    theory = pytest.importorskip("models.theory")
    from minigrad.symbolic import rules_check

    def cases(rng):
        found = []
        for mode, lengths in (("lstm", [1]), ("gru", None)):
            arrays, params = theory._fused_case(rng, mode)
            steps, hidden = arrays[0].shape[0], arrays[1].shape[1]
            arrays.append(np.zeros((steps, 2 if mode == "lstm" else 1, 1, hidden)))
            lengths = None if lengths is None else np.array(lengths, dtype=np.int64)
            found.append((arrays, {**params, "names": params["names"] + ("probe",),
                                   "lengths": lengths, "reverse": mode == "gru"}))
        return found

    def bptt_cases(rng):
        found = []
        for arrays, params in cases(rng):
            tensors = [mg.tensor(a, dtype=F64, requires_grad=True) for a in arrays]
            out = mg.bind(mg.REGISTRY["rnn_fused"], *tensors, **params)
            extra = {"saved": out.grad_fn.saved, "needs": (True,) * len(arrays)}
            found.append(([rng.standard_normal(out.shape)] + arrays, {**params, **extra}))
        return found

    monkeypatch.setitem(rules_check.SAMPLES, "rnn_fused", cases)
    monkeypatch.setitem(rules_check.SAMPLES, "rnn_fused_bptt", bptt_cases)
    forward = rules_check.check_rule("rnn_fused")
    assert forward.passed and forward.value <= 1e-12 and forward.first <= 1e-12, forward
    bptt = rules_check.check_rule("rnn_fused_bptt")
    assert bptt.passed and bptt.value <= 1e-12, bptt
