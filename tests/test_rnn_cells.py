"""RNNCell / LSTMCell / GRUCell: values against the numpy equations, shapes (batched and
unbatched), gradients, parameters and errors."""

import numpy as np
import pytest
from rnn_reference import cell_step, layer_params

import minigrad as mg
from models import GRUCell, LSTMCell, RNNCell

F64 = np.float64
CELLS = [
    ("rnn", RNNCell, {}), ("rnn", RNNCell, {"nonlinearity": "relu"}), ("lstm", LSTMCell, {}),
    ("lstm", LSTMCell, {"peephole": True}), ("lstm", LSTMCell, {"coupled": True}),
    ("lstm", LSTMCell, {"coupled": True, "peephole": True}), ("gru", GRUCell, {}),
    ("gru", GRUCell, {"reset_after": False}),
]
IDS = [m + "".join(f"-{k}" for k in kw) for m, _, kw in CELLS]


def make(cls, options, input_size=3, hidden_size=4, bias=True):
    mg.manual_seed(0)
    return cls(input_size, hidden_size, bias, dtype=F64, **options)


def call(mode, cell, x, h, c):
    if mode == "lstm":
        return cell(x, None if h is None else (h, c))
    return cell(x, h), None


@pytest.mark.parametrize("mode,cls,options", CELLS, ids=IDS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_cell_matches_numpy(mode, cls, options, bias, rng):
    cell = make(cls, options, bias=bias)
    x, h, c = rng.standard_normal((5, 3)), rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    options = {k: v for k, v in options.items() if k != "peephole"}  # in the params instead
    ref_h, ref_c = cell_step(mode, x, h, c, layer_params(cell, 0, suffix_free=True), **options)
    got_h, got_c = call(mode, cell, mg.tensor(x), mg.tensor(h), mg.tensor(c))
    assert got_h.shape == (5, 4) and got_h.name == "h"
    np.testing.assert_allclose(got_h.numpy(), ref_h, rtol=1e-13, atol=1e-14)
    if mode == "lstm":
        assert got_c.name == "c"
        np.testing.assert_allclose(got_c.numpy(), ref_c, rtol=1e-13, atol=1e-14)
    # unbatched (I,) input and (H,) states
    got_h, got_c = call(mode, cell, mg.tensor(x[2]), mg.tensor(h[2]), mg.tensor(c[2]))
    assert got_h.shape == (4,)
    np.testing.assert_allclose(got_h.numpy(), ref_h[2], rtol=1e-13, atol=1e-14)
    if mode == "lstm":
        np.testing.assert_allclose(got_c.numpy(), ref_c[2], rtol=1e-13, atol=1e-14)
    # omitted states are zeros
    zeros = np.zeros((5, 4))
    ref_h, _ = cell_step(mode, x, zeros, zeros, layer_params(cell, 0, suffix_free=True),
                         **options)
    np.testing.assert_allclose(call(mode, cell, mg.tensor(x), None, None)[0].numpy(), ref_h,
                               rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("mode,cls,options", CELLS, ids=IDS)
def test_cell_gradcheck(mode, cls, options, rng):
    cell = make(cls, options, 2, 3)
    x = mg.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    h = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    c = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)

    def fn(x, h, c, *params):
        out = call(mode, cell, x, h, c)
        return out if mode == "lstm" else out[0]

    assert mg.gradcheck(fn, (x, h, c, *cell.parameters()), atol=1e-7, rtol=1e-6)


def test_cell_second_order(rng):
    cell = make(LSTMCell, {"peephole": True}, 2, 2)
    x = mg.tensor(rng.standard_normal((1, 2)), requires_grad=True)
    h = mg.tensor(rng.standard_normal((1, 2)), requires_grad=True)
    assert mg.gradgradcheck(lambda x, h: cell(x, (h, h))[1], (x, h), atol=1e-6)


@pytest.mark.parametrize("cls,gates,extra", [(RNNCell, 1, {}), (LSTMCell, 4, {}),
                                             (LSTMCell, 3, {"coupled": True}),
                                             (GRUCell, 3, {})])
def test_cell_parameters(cls, gates, extra):
    cell = make(cls, extra, 6, 5)
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        ("weight_ih", (gates * 5, 6)), ("weight_hh", (gates * 5, 5)), ("bias_ih", (gates * 5,)),
        ("bias_hh", (gates * 5,))]
    assert cell.num_parameters() == gates * (6 * 5 + 5 * 5 + 2 * 5)
    values = np.concatenate([p.numpy().ravel() for p in cell.parameters()])
    assert np.all(np.abs(values) <= 1 / np.sqrt(5))
    peep = make(LSTMCell, {"peephole": True}, 6, 5)
    assert peep.weight_peep.shape == (3, 5)
    assert cls(6, 5).weight_ih.dtype == np.float32


def test_cell_errors():
    cell = LSTMCell(10, 20)
    with pytest.raises(ValueError, match=r"LSTMCell: input expected shape \(B, 10\), got "
                                         r"\(3, 7\)"):
        cell(mg.zeros(3, 7))
    with pytest.raises(ValueError, match=r"LSTMCell: input expected shape \(B, 10\) or \(10,\)"
                                         r", got \(2, 3, 10\)"):
        cell(mg.zeros(2, 3, 10))
    with pytest.raises(ValueError, match=r"LSTMCell: c expected shape \(3, 20\), got \(3, 2\)"):
        cell(mg.zeros(3, 10), (mg.zeros(3, 20), mg.zeros(3, 2)))
    with pytest.raises(ValueError, match="LSTMCell: input expected dtype float32"):
        cell(mg.zeros(3, 10, dtype=F64))
    with pytest.raises(ValueError, match=r"GRUCell: hx expected shape \(20,\), got \(3, 20\)"):
        GRUCell(10, 20)(mg.zeros(10), mg.zeros(3, 20))
    with pytest.raises(ValueError, match="RNNCell: nonlinearity"):
        RNNCell(3, 4, nonlinearity="gelu")
