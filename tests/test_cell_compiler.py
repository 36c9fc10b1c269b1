"""``models.Cell`` / ``models.Recurrent``: the compiled path (``fused=True``) against the
unrolled one (the cell's own ops, step by step) and against the hand-written fused kernels
of the built-in layers, in float64 to 1e-10."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import models
from models import CompileError, Recurrent
from tests.cells_for_tests import (
    Clamped,
    CumulativeSum,
    Elman,
    GatedBeforeProduct,
    JoinedInput,
    Normalized,
    PeepholeReLU,
    SignGate,
    TorchLSTM,
)

TOL = 1e-10
I, H = 3, 5  # one size for every test of a cell: each (cell, sizes, dtype) is one compile


def _twins(factory, I, H, dtype=np.float64, **kw):
    mg.manual_seed(0)
    unrolled = Recurrent(factory, I, H, fused=False, dtype=dtype, **kw)
    fused = Recurrent(factory, I, H, fused="generated", dtype=dtype, **kw)
    fused.load_state_dict(unrolled.state_dict())
    return unrolled, fused


def _run(layer, x, hx=None, lengths=None, seed=3):
    """Outputs, final states and every gradient (x, h0s, parameters) under a loss with
    random weights on every output."""
    rng = np.random.default_rng(seed)
    leaves = [x] + ([] if hx is None else list(hx if isinstance(hx, tuple) else (hx,)))
    for t in leaves + list(layer.parameters()):
        t.grad = None
    y, h_n = layer(x, hx, lengths=lengths)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    loss = (y * mg.as_tensor(rng.standard_normal(y.shape))).sum()
    for h in finals:
        loss = loss + (h * mg.as_tensor(rng.standard_normal(h.shape))).sum()
    loss.backward()
    grads = [np.zeros(t.shape) if t.grad is None else t.grad.numpy().copy()
             for t in leaves + list(layer.parameters())]
    return [y.numpy().copy()] + [h.numpy().copy() for h in finals], grads


def _same(a, b, tol=TOL):
    for p, q in zip(a[0] + a[1], b[0] + b[1], strict=True):
        np.testing.assert_allclose(p, q, rtol=0, atol=tol)


def _inputs(T, B, I, S, LD, H, dtype=np.float64, seed=1, batch_first=False):
    rng = np.random.default_rng(seed)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = mg.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
    hs = tuple(mg.tensor(0.5 * rng.standard_normal((LD, B, H)).astype(dtype),
                         requires_grad=True) for _ in range(S))
    return x, (hs[0] if S == 1 else hs)


CUSTOM = [Elman, GatedBeforeProduct, Normalized, PeepholeReLU, JoinedInput]


@pytest.mark.parametrize("cell", CUSTOM, ids=lambda c: c.__name__)
def test_custom_cell_fused_equals_unrolled(cell):
    T, B = 7, 4
    # one layer, one direction, no options
    unrolled, fused = _twins(cell, I, H)
    x, _ = _inputs(T, B, I, len(cell.state_names), 1, H)
    _same(_run(unrolled, x), _run(fused, x))
    # both directions, batch first, initial states, lengths (the options do not change the
    # kernels: compiled once per cell)
    unrolled, fused = _twins(cell, I, H, bidirectional=True, batch_first=True)
    x, hx = _inputs(T, B, I, len(cell.state_names), 2, H, batch_first=True)
    lengths = [7, 2, 5, 1]
    _same(_run(unrolled, x, hx, lengths), _run(fused, x, hx, lengths))


def test_stacked_layers():
    unrolled, fused = _twins(Elman, I, H, num_layers=2, bidirectional=True)
    x, hx = _inputs(6, 3, I, 1, 4, H)
    _same(_run(unrolled, x, hx, [6, 1, 4]), _run(fused, x, hx, [6, 1, 4]))


BUILTINS = {
    "rnn_tanh": (functools.partial(models.RNNCell, nonlinearity="tanh"), models.RNN, {}),
    "rnn_relu": (functools.partial(models.RNNCell, nonlinearity="relu"), models.RNN,
                 {"nonlinearity": "relu"}),
    "lstm": (models.LSTMCell, models.LSTM, {}),
    "lstm_peephole": (functools.partial(models.LSTMCell, peephole=True), models.LSTM,
                      {"peephole": True}),
    "lstm_coupled": (functools.partial(models.LSTMCell, coupled=True), models.LSTM,
                     {"coupled": True}),
    "gru": (models.GRUCell, models.GRU, {}),
    "gru_reset_before": (functools.partial(models.GRUCell, reset_after=False), models.GRU,
                         {"reset_after": False}),
}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_cells_compiled_equal_hand_written_kernels(name):
    """The built-in cells compiled from their one step definition against the built-in
    layers' hand-written fused kernels, same weights."""
    factory, layer_cls, options = BUILTINS[name]
    T, B = 6, 3
    mg.manual_seed(0)
    hand = layer_cls(I, H, bidirectional=True, dtype=np.float64, **options)
    compiled = Recurrent(factory, I, H, bidirectional=True, dtype=np.float64,
                         fused="generated")
    state = {}
    for k, cell in enumerate(compiled.cells()):
        suffix = "_reverse" if k else ""
        for pname, _ in cell.named_parameters():
            state[f"cell_l0{suffix}.{pname}"] = getattr(hand, f"{pname}_l0{suffix}").numpy()
    compiled.load_state_dict(state)
    S = len(compiled.state_names)
    x, hx = _inputs(T, B, I, S, 2, H)
    lengths = [6, 2, 4]
    a_out, a_grads = _run(hand, x, hx, lengths)
    b_out, b_grads = _run(compiled, x, hx, lengths)
    # the hand-written layer orders its parameters per direction as the compiled one does
    _same((a_out, a_grads), (b_out, b_grads))


def test_float32_compiled_close_to_unrolled():
    unrolled, fused = _twins(TorchLSTM, 6, 8, dtype=np.float32)
    x, hx = _inputs(9, 5, 6, 2, 1, 8, dtype=np.float32)
    a, b = _run(unrolled, x, hx, [9, 3, 1, 5, 8]), _run(fused, x, hx, [9, 3, 1, 5, 8])
    assert all(p.dtype == np.float32 for p in a[0] + b[0])
    for p, q in zip(a[0] + a[1], b[0] + b[1], strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=2e-5)


def test_gradcheck_through_the_compiled_path():
    mg.manual_seed(1)
    layer = Recurrent(Normalized, I, H, bidirectional=True, dtype=np.float64)
    x, _ = _inputs(4, 2, I, 1, 2, H)
    params = tuple(layer.parameters())

    def fn(x, *_):
        y, h_n = layer(x, lengths=[4, 2])
        return y.sum() * 0.5 + (y * y).sum() + h_n.sum()

    assert mg.gradcheck(fn, (x,) + params)


def test_recurrent_dropout_is_the_same_mask_in_both_paths():
    unrolled, fused = _twins(Elman, I, H, recurrent_dropout=0.5)
    x, _ = _inputs(5, 3, I, 1, 1, H)
    mg.manual_seed(7)
    a = _run(unrolled, x)
    mg.manual_seed(7)
    b = _run(fused, x)
    _same(a, b)
    unrolled.eval()
    fused.eval()
    plain_unrolled, _ = _twins(Elman, I, H)
    _same(_run(unrolled, x), _run(plain_unrolled, x))
    _same(_run(fused, x), _run(plain_unrolled, x))
    mg.manual_seed(7)
    unrolled.train()
    dropped = _run(unrolled, x)
    assert not np.allclose(dropped[0][0], _run(plain_unrolled, x)[0][0])


@pytest.mark.parametrize("cell", [Elman], ids=lambda c: c.__name__)
def test_forward_without_gradients_runs_on_arrays_with_the_same_numbers(cell):
    """Under no_grad a compiled layer runs its weight- and input-level ops on arrays: the
    same outputs as with gradients and as unrolled, with lengths, both directions and the
    recurrent-dropout mask (the same seed gives the same mask)."""
    unrolled, fused = _twins(cell, I, H, bidirectional=True, recurrent_dropout=0.3)
    x, hx = _inputs(5, 3, I, len(fused.state_names), 2, H)
    for layer in (unrolled, fused):
        layer.train()
    results = []
    for layer, grad in ((unrolled, False), (fused, False), (fused, True)):
        mg.manual_seed(11)
        with mg.set_grad_enabled(grad):
            y, h_n = layer(x, hx, lengths=[5, 2, 4])
        finals = h_n if isinstance(h_n, tuple) else (h_n,)
        assert y.requires_grad is grad
        results.append([y.numpy()] + [h.numpy() for h in finals])
    for a, b in zip(results[0], results[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
    for a, b in zip(results[1], results[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_return_all_states_and_unbatched_input():
    unrolled, fused = _twins(PeepholeReLU, I, H, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((2, 5, I)))
    for layer in (unrolled, fused):
        y, (h_n, c_n), every = layer(x, lengths=[5, 3], return_all_states=True)
        assert len(every) == 2 and all(len(e) == 2 for e in every)
        h_fwd, c_fwd = every[0]
        assert h_fwd.shape == (2, 5, H) and c_fwd.shape == (2, 5, H)
        np.testing.assert_allclose(y.numpy()[:, :, :H][0], h_fwd.numpy()[0], atol=TOL)
        np.testing.assert_allclose(h_n.numpy()[0], h_fwd.numpy()[:, -1], atol=TOL)
        np.testing.assert_allclose(c_n.numpy()[1], every[1][1].numpy()[:, 0], atol=TOL)
        # past its end (length 3) the forward direction carries its last state on
        np.testing.assert_allclose(h_fwd.numpy()[1, 4], h_fwd.numpy()[1, 2], atol=TOL)
    single = mg.tensor(rng.standard_normal((5, I)))
    ya, ha = unrolled(single)[0], unrolled(single)[1][0]
    yb, hb = fused(single)[0], fused(single)[1][0]
    assert ya.shape == (5, 2 * H) and ha.shape == (2, H)
    np.testing.assert_allclose(ya.numpy(), yb.numpy(), atol=TOL)
    np.testing.assert_allclose(ha.numpy(), hb.numpy(), atol=TOL)


def test_two_threads_give_the_same_numbers():
    _, fused = _twins(GatedBeforeProduct, I, H)
    x, _ = _inputs(6, 4, I, 1, 1, H)
    before = mg.get_num_threads()
    try:
        mg.set_num_threads(1)
        one = _run(fused, x)
        mg.set_num_threads(2)
        two = _run(fused, x)
    finally:
        mg.set_num_threads(before)
    _same(one, two, tol=0)


@pytest.mark.parametrize("cell, word", [(CumulativeSum, "cumsum"), (SignGate, "recorded"),
                                        (Clamped, "'clamp'")])
def test_what_the_compiler_cannot_handle_raises_and_names_the_way_out(cell, word):
    unrolled, fused = _twins(cell, 2, 3)
    x, _ = _inputs(4, 2, 2, 1, 1, 3)
    unrolled(x)  # the unrolled path runs any cell
    with pytest.raises(CompileError, match="fused=False") as err:
        fused(x)
    assert word in str(err.value)


def test_second_order_through_the_compiled_path_raises():
    _, fused = _twins(Elman, I, H)
    x, _ = _inputs(3, 2, I, 1, 1, H)
    y, _ = fused(x)
    with pytest.raises(RuntimeError, match="fused=False"):
        mg.grad(y.sum(), [x], create_graph=True)


def test_bad_arguments():
    with pytest.raises(TypeError, match="Cell subclass"):
        Recurrent(Elman(2, 3), 2, 3)
    with pytest.raises(TypeError, match="not a models.Cell"):
        Recurrent(lambda i, h: mg.nn.Linear(i, h), 2, 3)
    layer = Recurrent(PeepholeReLU, 2, 3, dtype=np.float64)
    x, _ = _inputs(3, 2, 2, 1, 1, 3)
    with pytest.raises(ValueError, match="2 initial state"):
        layer(x, mg.zeros(1, 2, 3, dtype=np.float64))
    with pytest.raises(ValueError, match="lengths"):
        layer(x, lengths=[4, 1])


@settings(max_examples=15, deadline=None)
@given(T=st.integers(1, 6), B=st.integers(1, 5), reverse=st.booleans(), data=st.data())
def test_random_lengths_and_batches(T, B, reverse, data):
    lengths = data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    unrolled, fused = _twins(Elman, I, H, bidirectional=reverse)
    x, _ = _inputs(T, B, I, 1, 1, H, seed=T * 10 + B)
    _same(_run(unrolled, x, lengths=lengths), _run(fused, x, lengths=lengths))


def test_symbolic_trace_of_a_compiled_layer_is_the_unrolled_one():
    """``to_sympy`` replays the compiled step with every primitive's symbolic rule: the same
    expressions, as numbers, as the unrolled layer's graph."""
    from minigrad.symbolic import to_sympy

    unrolled, fused = _twins(GatedBeforeProduct, I, H)
    x, _ = _inputs(2, 2, I, 1, 1, H)
    out = {}
    for name, layer in (("unrolled", unrolled), ("fused", fused)):
        y, _ = layer(x, lengths=[2, 1])
        expr = to_sympy(y, {x: "x"})
        flat = x.numpy().reshape(-1)
        values = {s: float(flat[np.ravel_multi_index(tuple(
            int(k) for k in s.name.split("_")[1:]), x.shape)]) for s in expr.free_symbols}
        # x[1, 1] (step 1 of the second sequence, past its end) reaches nothing
        assert len(values) == x.numpy().size - I
        assert not any(s.name.startswith("x_1_1_") for s in values)
        numbers = np.array(expr.subs(values).tolist(), dtype=object).reshape(-1)
        out[name] = np.array([float(e) for e in numbers]).reshape(y.shape)
        np.testing.assert_allclose(out[name], y.numpy(), atol=1e-12)
    np.testing.assert_allclose(out["unrolled"], out["fused"], atol=1e-12)


def test_kept_weight_forms_follow_parameter_updates():
    """The packed forms of the weights are kept from call to call: an optimizer step, an
    edit through ``.data`` and a write into ``.numpy()`` must each be seen."""
    unrolled, fused = _twins(GatedBeforeProduct, I, H)  # products with slices of u
    x, _ = _inputs(4, 2, I, 1, 1, H)
    _same(_run(unrolled, x), _run(fused, x))
    opt = mg.optim.SGD(fused.parameters(), lr=0.5)
    opt.step()  # the gradients of the last _run
    fused.cell_l0.u.data.add_(0.25)
    fused.cell_l0.u.numpy()[2 * H, 0] += 1.0
    unrolled.load_state_dict(fused.state_dict())
    _same(_run(unrolled, x), _run(fused, x))
