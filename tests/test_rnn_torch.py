"""PyTorch parity with the same weights: outputs and gradients of RNN / LSTM / GRU (multi-layer,
bidirectional, batch_first, packed sequences vs ``lengths=``) and of the cells; PyTorch
state dicts load by name."""

import numpy as np
import pytest

import minigrad as mg
from models import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

torch = pytest.importorskip("torch")
rnn_utils = pytest.importorskip("torch.nn.utils.rnn")

PAIRS = {"rnn": (RNN, torch.nn.RNN), "lstm": (LSTM, torch.nn.LSTM), "gru": (GRU, torch.nn.GRU)}
CELL_PAIRS = {"rnn": (RNNCell, torch.nn.RNNCell), "lstm": (LSTMCell, torch.nn.LSTMCell),
              "gru": (GRUCell, torch.nn.GRUCell)}
SETTINGS = [
    dict(num_layers=1),
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=2, batch_first=True),
    dict(num_layers=3, bidirectional=True, batch_first=True, bias=False),
]
SETTING_IDS = ["1layer", "2layer-bi", "2layer-batch_first", "3layer-bi-bf-nobias"]


def paths():
    """The execution paths to compare: unrolled always, fused once it exists."""
    try:
        import models.rnn.fused  # noqa: F401
    except ImportError:
        return [False]
    return [False, True]


def twin(mode, fused, input_size=3, hidden_size=4, **kw):
    """A torch layer and a minigrad layer with the same (torch's) weights, both float64."""
    torch.manual_seed(0)
    ours_cls, torch_cls = PAIRS[mode]
    theirs = torch_cls(input_size, hidden_size, **kw).double()
    ours = ours_cls(input_size, hidden_size, fused=fused, dtype=np.float64, **kw)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def torch_grads(theirs, loss, inputs):
    params = list(theirs.parameters())
    return [g.numpy() for g in torch.autograd.grad(loss, inputs + params)]


def compare(a, b, rtol=1e-10, atol=1e-12):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


@pytest.mark.parametrize("fused", paths(), ids=lambda f: "fused" if f else "unrolled")
@pytest.mark.parametrize("setting", SETTINGS, ids=SETTING_IDS)
@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_layer_parity(mode, setting, fused, rng):
    ours, theirs = twin(mode, fused, **setting)
    dirs = 2 if setting.get("bidirectional") else 1
    layers = setting["num_layers"]
    shape = (2, 5, 3) if setting.get("batch_first") else (5, 2, 3)
    x = rng.standard_normal(shape)
    h0, c0 = rng.standard_normal((2, layers * dirs, 2, 4))
    w_out = rng.standard_normal(shape[:2] + (dirs * 4,))
    w_h = rng.standard_normal((layers * dirs, 2, 4))

    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    out_t, state_t = theirs(xt, (h0t, c0t) if mode == "lstm" else h0t)
    h_t = state_t[0] if mode == "lstm" else state_t
    loss_t = (out_t * torch.tensor(w_out)).sum() + (h_t * torch.tensor(w_h)).sum()
    if mode == "lstm":
        loss_t = loss_t + (state_t[1] ** 2).sum()
    inputs_t = [xt, h0t] + ([c0t] if mode == "lstm" else [])
    grads_t = torch_grads(theirs, loss_t, inputs_t)

    xm, h0m, c0m = (mg.tensor(a, requires_grad=True) for a in (x, h0, c0))
    out_m, state_m = ours(xm, (h0m, c0m) if mode == "lstm" else h0m)
    h_m = state_m[0] if mode == "lstm" else state_m
    loss_m = (out_m * mg.tensor(w_out)).sum() + (h_m * mg.tensor(w_h)).sum()
    if mode == "lstm":
        loss_m = loss_m + (state_m[1] ** 2).sum()
    inputs_m = [xm, h0m] + ([c0m] if mode == "lstm" else [])
    grads_m = [g.numpy() for g in mg.grad(loss_m, inputs_m + list(ours.parameters()))]

    compare([out_m.numpy(), h_m.numpy()], [out_t.detach().numpy(), h_t.detach().numpy()])
    if mode == "lstm":
        np.testing.assert_allclose(state_m[1].numpy(), state_t[1].detach().numpy(), rtol=1e-10)
    compare(grads_m, grads_t)


@pytest.mark.parametrize("fused", paths(), ids=lambda f: "fused" if f else "unrolled")
@pytest.mark.parametrize("batch_first", [False, True], ids=["tb", "bt"])
@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_packed_sequences_vs_lengths(mode, batch_first, fused, rng):
    ours, theirs = twin(mode, fused, num_layers=2, bidirectional=True, batch_first=batch_first)
    steps, batch = 6, 4
    lengths = [3, 6, 1, 4]  # unsorted, as enforce_sorted=False allows
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = rng.standard_normal(shape)
    w_out = rng.standard_normal(shape[:2] + (8,))
    w_h = rng.standard_normal((4, batch, 4))

    xt = torch.tensor(x, requires_grad=True)
    packed = rnn_utils.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                            enforce_sorted=False)
    out_p, state_t = theirs(packed)
    out_t, _ = rnn_utils.pad_packed_sequence(out_p, batch_first=batch_first, total_length=steps)
    h_t = state_t[0] if mode == "lstm" else state_t
    loss_t = (out_t * torch.tensor(w_out)).sum() + (h_t * torch.tensor(w_h)).sum()
    if mode == "lstm":
        loss_t = loss_t + (state_t[1] * torch.tensor(w_h)).sum()
    grads_t = torch_grads(theirs, loss_t, [xt])

    xm = mg.tensor(x, requires_grad=True)
    out_m, state_m = ours(xm, lengths=lengths)
    h_m = state_m[0] if mode == "lstm" else state_m
    loss_m = (out_m * mg.tensor(w_out)).sum() + (h_m * mg.tensor(w_h)).sum()
    if mode == "lstm":
        loss_m = loss_m + (state_m[1] * mg.tensor(w_h)).sum()
    grads_m = [g.numpy() for g in mg.grad(loss_m, [xm] + list(ours.parameters()))]

    compare([out_m.numpy(), h_m.numpy()], [out_t.detach().numpy(), h_t.detach().numpy()])
    if mode == "lstm":
        np.testing.assert_allclose(state_m[1].numpy(), state_t[1].detach().numpy(), rtol=1e-10)
    compare(grads_m, grads_t)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_unbatched_and_relu_parity(mode, rng):
    kw = {"nonlinearity": "relu"} if mode == "rnn" else {}
    ours, theirs = twin(mode, paths()[-1], num_layers=2, bidirectional=True, **kw)
    x = rng.standard_normal((5, 3))
    out_t, _ = theirs(torch.tensor(x))
    out_m, _ = ours(mg.tensor(x))
    np.testing.assert_allclose(out_m.numpy(), out_t.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_cell_parity(mode, rng):
    ours_cls, torch_cls = CELL_PAIRS[mode]
    torch.manual_seed(0)
    theirs = torch_cls(3, 4).double()
    ours = ours_cls(3, 4, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    xm, hm, cm = (mg.tensor(a, requires_grad=True) for a in (x, h, c))
    if mode == "lstm":
        out_t = sum((s * s * s).sum() for s in theirs(xt, (ht, ct)))
        out_m = sum((s * s * s).sum() for s in ours(xm, (hm, cm)))
        inputs_t, inputs_m = [xt, ht, ct], [xm, hm, cm]
    else:
        out_t = (theirs(xt, ht) ** 3).sum()
        out_m = (ours(xm, hm) ** 3).sum()
        inputs_t, inputs_m = [xt, ht], [xm, hm]
    np.testing.assert_allclose(out_m.item(), out_t.item(), rtol=1e-12)
    grads_m = [g.numpy() for g in mg.grad(out_m, inputs_m + list(ours.parameters()))]
    compare(grads_m, torch_grads(theirs, out_t, inputs_t))
    # unbatched
    first_t, first_m = theirs(torch.tensor(x[0])), ours(mg.tensor(x[0]))
    if mode == "lstm":
        first_t, first_m = first_t[0], first_m[0]
    np.testing.assert_allclose(first_m.numpy(), first_t.detach().numpy(), rtol=1e-12)


def test_weights_round_trip_and_init_distribution():
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    ours = LSTM(3, 4, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(tuple(v.shape) == ours.state_dict()[k].shape for k, v in theirs.state_dict().items())
    # and back: our weights load into torch by name
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    # same init distribution U(-1/sqrt(H), 1/sqrt(H))
    ours_vals = np.concatenate([p.numpy().ravel() for p in ours.parameters()])
    torch_vals = np.concatenate([p.detach().numpy().ravel()
                                 for p in torch.nn.LSTM(3, 4, num_layers=2).parameters()])
    assert abs(ours_vals.max()) <= 0.5 and abs(torch_vals).max() <= 0.5
    assert abs(ours_vals.std() - torch_vals.std()) < 0.05
