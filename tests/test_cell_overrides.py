"""The hand-written kernels as overrides of the built-in cells (``models.cell.overrides``):
each equal to the kernel generated from its cell, in ``Recurrent`` and in the built-in
layers; the layers' generated path when no override is registered; and ``rnn_fused``'s
symbolic rule, replayed from the cell's traced step, against the kernels."""

import functools

import numpy as np
import pytest
import sympy

import minigrad as mg
import models
from models.cell import overrides
from models.rnn import fused as fused_mod

# the configurations and sizes of tests/test_cell_compiler.py: each (cell, sizes, dtype) is
# compiled once per process, and a compile costs seconds
I, H = 3, 5
CELLS = [
    ("rnn", models.RNNCell, {}),
    ("rnn relu", models.RNNCell, {"nonlinearity": "relu"}),
    ("lstm", models.LSTMCell, {}),
    ("lstm peephole", models.LSTMCell, {"peephole": True}),
    ("lstm coupled", models.LSTMCell, {"coupled": True}),
    ("gru", models.GRUCell, {}),
    ("gru reset before", models.GRUCell, {"reset_after": False}),
]


def _run(layer, x, lengths, seed):
    """Outputs, final states and every gradient of one call (float64), as arrays."""
    mg.manual_seed(seed)
    xt = mg.tensor(x, requires_grad=True)
    out, finals = layer(xt, lengths=lengths)
    finals = (finals,) if isinstance(finals, mg.Tensor) else finals
    loss = (out * mg.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape))).sum()
    for k, s in enumerate(finals):
        loss = loss + (k + 2) * (s ** 2).sum()
    loss.backward()
    return ([out.numpy().copy()] + [s.numpy().copy() for s in finals]
            + [xt.grad.numpy().copy()] + [p.grad.numpy().copy() for p in layer.parameters()])


def _assert_same(a, b, tol=1e-10):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, rtol=0, atol=tol * max(1.0, np.abs(v).max()))


def test_every_builtin_cell_has_an_override_with_its_reason():
    found = overrides.registered()
    assert set(found) == {models.RNNCell, models.LSTMCell, models.GRUCell}
    assert all("x at (" in o.why for o in found.values())


@pytest.mark.parametrize("name,cls,options", CELLS, ids=[c[0] for c in CELLS])
def test_override_equals_generated_kernel_in_recurrent(name, cls, options):
    rng = np.random.default_rng(1)
    cell = functools.partial(cls, **options) if options else cls
    mg.manual_seed(0)
    hand = models.Recurrent(cell, I, H, bidirectional=True, dtype=mg.float64)
    generated = models.Recurrent(cell, I, H, bidirectional=True, dtype=mg.float64,
                                 fused="generated")
    generated.load_state_dict(hand.state_dict())
    assert overrides.lookup(hand.cells()[0]) is not None
    x = rng.standard_normal((5, 3, 3))
    _assert_same(_run(hand, x, [5, 2, 4], 0), _run(generated, x, [5, 2, 4], 0))


def test_override_equals_generated_kernel_with_recurrent_dropout():
    rng = np.random.default_rng(2)
    mg.manual_seed(0)
    cls = models.RNNCell  # the smallest kernel to compile
    hand = models.Recurrent(cls, I, H, dtype=mg.float64, recurrent_dropout=0.4)
    generated = models.Recurrent(cls, I, H, dtype=mg.float64, recurrent_dropout=0.4,
                                 fused="generated")
    generated.load_state_dict(hand.state_dict())
    assert overrides.lookup(hand.cells()[0], masked=True) is not None
    x = rng.standard_normal((6, 2, 3))
    _assert_same(_run(hand, x, None, 7), _run(generated, x, None, 7))


def test_gru_override_declines_a_recurrent_dropout_mask():
    # the hand-written GRU masks h only in its products; a compiled cell gets the masked
    # state at every use, so a masked GRUCell in Recurrent is compiled
    cell = models.GRUCell(3, 4)
    assert overrides.lookup(cell) is not None
    assert overrides.lookup(cell, masked=True) is None


def test_a_subclass_is_compiled_from_its_own_step():
    class Scaled(models.RNNCell):
        def forward(self, x, h=None):
            return super().forward(x, h) * 0.5

    assert overrides.lookup(Scaled(2, 3)) is None


LAYERS = [
    (models.LSTM, {}), (models.LSTM, {"peephole": True}), (models.LSTM, {"coupled": True}),
    (models.GRU, {}), (models.GRU, {"reset_after": False}), (models.RNN, {}),
    (models.RNN, {"nonlinearity": "relu"}),
]


@pytest.mark.parametrize("cls,options", LAYERS,
                         ids=[f"{c.__name__}-{'-'.join(o) or 'plain'}" for c, o in LAYERS])
def test_builtin_layers_generated_path_equals_hand_written(cls, options):
    rng = np.random.default_rng(3)
    mg.manual_seed(0)
    hand = cls(I, H, bidirectional=True, batch_first=True, dtype=mg.float64, **options)
    generated = cls(I, H, bidirectional=True, batch_first=True, dtype=mg.float64,
                    fused="generated", **options)
    generated.load_state_dict(hand.state_dict())
    x = rng.standard_normal((3, 5, 3))
    _assert_same(_run(hand, x, [5, 1, 3], 0), _run(generated, x, [5, 1, 3], 0))


def test_layer_without_an_override_runs_the_generated_kernel(monkeypatch):
    rng = np.random.default_rng(4)
    mg.manual_seed(0)
    layer = models.LSTM(I, H, dtype=mg.float64)
    x = rng.standard_normal((4, 2, I))
    expected = _run(layer, x, None, 0)
    for p in layer.parameters():
        p.grad = None

    def refuse(*args, **kwargs):
        raise AssertionError("the hand-written kernel ran")

    monkeypatch.setattr(fused_mod, "fused_recurrence", refuse)
    with pytest.raises(AssertionError, match="hand-written kernel ran"):
        layer(mg.tensor(x))
    saved = overrides.unregister(models.LSTMCell)
    try:
        _assert_same(_run(layer, x, None, 0), expected)
    finally:
        overrides.register(models.LSTMCell, saved.run, why=saved.why, accepts=saved.accepts)


def test_generated_layer_path_keeps_state_probes_and_gru_recurrent_dropout():
    # what the generated kernels cannot give runs unrolled, with the same numbers
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 2, 3))
    mg.manual_seed(0)
    hand = models.GRU(I, H, dtype=mg.float64, recurrent_dropout=0.3)
    generated = models.GRU(I, H, dtype=mg.float64, recurrent_dropout=0.3, fused="generated")
    generated.load_state_dict(hand.state_dict())
    _assert_same(_run(hand, x, None, 3), _run(generated, x, None, 3))
    grads = []
    for layer in (hand, generated):
        layer.eval()
        out, _, states = layer(mg.tensor(x), return_all_states=True)
        out.sum().backward()
        grads.append(states.grad_h(0).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_fused_argument_is_checked():
    with pytest.raises(ValueError, match="fused expected True, False or 'generated'"):
        models.LSTM(2, 3, fused="fast")
    with pytest.raises(ValueError, match="fused expected True, False or 'generated'"):
        models.Recurrent(models.GRUCell, 2, 3, fused=1.5)


SYMBOLIC = [
    ("rnn", {"nonlinearity": "relu"}, False, False),
    ("lstm", {"coupled": True}, True, False),
    ("lstm", {}, False, True),
    ("gru", {"reset_after": False}, False, True),
    ("gru", {}, False, True),
]


@pytest.mark.parametrize("mode,options,peephole,masked", SYMBOLIC)
def test_fused_symbolic_rule_replays_the_cell_step(mode, options, peephole, masked):
    """rnn_fused's symbolic rule (the cell's traced step on sympy numbers) gives the kernel's
    states, with lengths, reverse, a recurrent-dropout mask and a bias-free layer."""
    rng = np.random.default_rng(6)
    T, B, I, H = 3, 2, 2, 2
    G = {"rnn": 1, "lstm": 3 if options.get("coupled") else 4, "gru": 3}[mode]
    arrays = {"x": rng.standard_normal((T, B, I)), "h0": rng.uniform(-.5, .5, (B, H)),
              "c0": rng.uniform(-.5, .5, (B, H)) if mode == "lstm" else None,
              "weight_ih": rng.uniform(-1, 1, (G * H, I)),
              "weight_hh": rng.uniform(-1, 1, (G * H, H)),
              "bias_ih": None if masked else rng.uniform(-1, 1, G * H),
              "bias_hh": None if masked else rng.uniform(-1, 1, G * H),
              "peephole": rng.uniform(-1, 1, (3, H)) if peephole else None}
    mask = (rng.integers(0, 2, (B, H)) * 2.0) if masked else None
    lengths = np.array([3, 2])
    tensors = {k: mg.tensor(v) for k, v in arrays.items() if v is not None}
    out = fused_mod.fused_recurrence(
        mode, tensors["x"], tensors["h0"], tensors.get("c0"), tensors["weight_ih"],
        tensors["weight_hh"], tensors.get("bias_ih"), tensors.get("bias_hh"),
        peephole=tensors.get("peephole"), lengths=lengths, reverse=True, hidden_mask=mask,
        **options).numpy()
    names = tuple(k for k in fused_mod._INPUTS if arrays.get(k) is not None)
    floats = [np.vectorize(sympy.Float, otypes=[object])(arrays[k]) for k in names]
    params = dict(mode=mode, names=names, lengths=lengths, reverse=True, hidden_mask=mask,
                  **options)
    sym = fused_mod._fused_symbolic(*floats, **params)
    values = np.vectorize(float)(sym)
    np.testing.assert_allclose(values, out, rtol=1e-12, atol=1e-12)


def test_the_generated_path_draws_no_random_numbers():
    """Making a layer's cells (and tracing rnn_fused's symbolic rule) leaves the library's
    random stream where it was: with inter-layer dropout, the generated path draws the
    hand-written path's masks."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5, I))
    results = []
    for fused in (True, "generated"):
        mg.manual_seed(0)
        layer = models.GRU(I, H, num_layers=2, dropout=0.5, batch_first=True,
                           dtype=mg.float64, fused=fused)
        mg.manual_seed(3)
        results.append(_run(layer, x, None, 3))
    _assert_same(results[0], results[1])
    mg.manual_seed(5)
    expected = mg.rand(3).numpy()
    mg.manual_seed(5)
    fused_mod._step_graph.cache_clear()
    fused_mod._step_graph("lstm", 2, 3, True, "tanh", False, False, True)
    np.testing.assert_array_equal(mg.rand(3).numpy(), expected)
