"""nn.utils.rnn (PackedSequence, pack_padded_sequence, pad_packed_sequence, pad_sequence,
pack_sequence) and the namespace's nn.LSTM / GRU / RNN taking a PackedSequence: PyTorch's
documented layout and results, torch-free and against PyTorch."""

import numpy as np
import pytest

import minigrad as mg
import models.torch.nn as tnn
from minigrad.nn.rnn_utils import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)


def _padded(batch_first=False):
    x = np.arange(1.0, 13.0).reshape(4, 3, 1)  # (T, B, 1): x[t, b] = 3 t + b + 1
    return mg.tensor(x.transpose(1, 0, 2).copy() if batch_first else x, dtype=mg.float64)


def test_pack_padded_sequence_keeps_the_live_steps_time_major():
    packed = pack_padded_sequence(_padded(), [4, 2, 1])
    assert packed.batch_sizes.tolist() == [3, 2, 1, 1]
    assert packed.data.numpy()[:, 0].tolist() == [1, 2, 3, 4, 5, 7, 10]
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    assert packed.batch_sizes.dtype == np.int64


def test_unsorted_lengths_are_sorted_and_remembered():
    packed = pack_padded_sequence(_padded(True), mg.tensor([1, 4, 2]), batch_first=True,
                                  enforce_sorted=False)
    assert packed.sorted_indices.tolist() == [1, 2, 0]
    assert packed.unsorted_indices.tolist() == [2, 0, 1]
    assert packed.batch_sizes.tolist() == [3, 2, 1, 1]
    assert packed.data.numpy()[:, 0].tolist() == [2, 3, 1, 5, 6, 8, 11]
    padded, lengths = pad_packed_sequence(packed, batch_first=True, padding_value=-1.0)
    assert lengths.tolist() == [1, 4, 2]
    expected = _padded(True).numpy().copy()
    expected[0, 1:] = -1
    expected[2, 2:] = -1
    np.testing.assert_array_equal(padded.numpy(), expected)


def test_pad_packed_sequence_total_length():
    padded, _ = pad_packed_sequence(pack_padded_sequence(_padded(), [3, 3, 2]),
                                    total_length=6)
    assert padded.shape == (6, 3, 1) and not padded.numpy()[3:].any()
    with pytest.raises(ValueError, match="total_length 2 is less than the longest"):
        pad_packed_sequence(pack_padded_sequence(_padded(), [3, 3, 2]), total_length=2)


def test_gradients_flow_through_packing_and_unpacking():
    x = mg.randn(5, 3, 2, dtype=mg.float64, requires_grad=True)

    def round_trip(x):
        packed = pack_padded_sequence(x * 2, [2, 5, 3], enforce_sorted=False)
        padded, _ = pad_packed_sequence(packed)
        return padded

    assert mg.gradcheck(round_trip, (x,))
    round_trip(x).sum().backward()
    expected = np.zeros((5, 3, 2))
    for b, n in enumerate([2, 5, 3]):
        expected[:n, b] = 2
    np.testing.assert_array_equal(x.grad.numpy(), expected)  # padding gets no gradient


def test_pad_sequence_and_pack_sequence():
    seqs = [mg.ones(3, 2), mg.ones(1, 2) * 2, mg.ones(2, 2) * 3]
    padded = pad_sequence(seqs, padding_value=-1.0)
    assert padded.shape == (3, 3, 2)
    assert padded.numpy()[:, 1, 0].tolist() == [2, -1, -1]
    assert pad_sequence(seqs, batch_first=True).shape == (3, 3, 2)
    left = pad_sequence(seqs, batch_first=True, padding_side="left")
    assert left.numpy()[1, :, 0].tolist() == [0, 0, 2]
    packed = pack_sequence(seqs, enforce_sorted=False)
    assert packed.batch_sizes.tolist() == [3, 2, 1] and packed.sorted_indices.tolist() == [
        0, 2, 1]
    assert isinstance(packed, PackedSequence) and packed.to(mg.float64).data.dtype == np.float64


def test_packing_refuses_bad_input():
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        pack_padded_sequence(_padded(), [1, 4, 2])
    with pytest.raises(ValueError, match=r"in \[1, 4\]"):
        pack_padded_sequence(_padded(), [4, 0, 1])
    with pytest.raises(ValueError, match=r"in \[1, 4\]"):
        pack_padded_sequence(_padded(), [5, 1, 1])
    with pytest.raises(ValueError, match="expected 3 lengths"):
        pack_padded_sequence(_padded(), [4, 1])
    with pytest.raises(TypeError, match="lengths expected integers"):
        pack_padded_sequence(_padded(), [4.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="expected a PackedSequence"):
        pad_packed_sequence(_padded())
    with pytest.raises(ValueError, match="trailing shape"):
        pad_sequence([mg.ones(2, 3), mg.ones(2, 4)])


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("batch_first, lengths", [(False, [2, 5, 3]), (True, [2, 5, 3]),
                                                  (False, [5, 3, 3]), (True, [4, 2, 1])])
def test_a_packed_batch_gives_what_lengths_gives(layer, batch_first, lengths):
    mg.manual_seed(0)
    rnn = getattr(tnn, layer)(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = mg.randn(*((3, 5, 3) if batch_first else (5, 3, 3)), dtype=mg.float32)
    h0 = mg.randn(4, 3, 4)
    hx = (h0, h0 * 0.5) if layer == "LSTM" else h0
    want_out, want_h = rnn(x, hx, lengths=lengths)
    in_order = lengths == sorted(lengths, reverse=True)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first,
                                  enforce_sorted=in_order)
    out, h = rnn(packed, hx)
    assert isinstance(out, PackedSequence)
    assert out.sorted_indices is packed.sorted_indices
    assert out.batch_sizes.tolist() == packed.batch_sizes.tolist()
    padded, got_lengths = pad_packed_sequence(out, batch_first=batch_first,
                                              total_length=5)
    assert got_lengths.tolist() == lengths
    np.testing.assert_allclose(padded.numpy(), want_out.numpy(), rtol=1e-6, atol=1e-7)
    for got, want in zip(h if layer == "LSTM" else [h], want_h if layer == "LSTM" else [want_h],
                         strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_the_namespace_layers_are_models_layers():
    import models

    lstm = tnn.LSTM(2, 3, 1, True, False, 0.0, False, proj_size=0, device="cpu")
    assert isinstance(lstm, models.LSTM) and lstm.hidden_size == 3
    out, _ = lstm(mg.zeros(4, 2, 2), lengths=[4, 1])  # lengths= still works
    assert out.shape == (4, 2, 3)
    with pytest.raises(ValueError, match="proj_size is not supported"):
        tnn.LSTM(2, 3, proj_size=2)
    with pytest.raises(RuntimeError, match="CPU only"):
        tnn.GRU(2, 3, device="cuda")
    packed = pack_padded_sequence(mg.zeros(4, 2, 2), [4, 1])
    with pytest.raises(ValueError, match="carries its lengths"):
        lstm(packed, lengths=[4, 1])
    assert tnn.modules.rnn.LSTM is tnn.LSTM


def test_packing_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 3))
    lengths = [3, 6, 1, 4]
    for batch_first in (False, True):
        xi = x.transpose(1, 0, 2).copy() if batch_first else x
        ours = pack_padded_sequence(mg.tensor(xi), lengths, batch_first=batch_first,
                                    enforce_sorted=False)
        theirs = torch.nn.utils.rnn.pack_padded_sequence(
            torch.tensor(xi), torch.tensor(lengths), batch_first=batch_first,
            enforce_sorted=False)
        np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
        for a, b in zip(ours[1:], theirs[1:], strict=True):
            assert a.tolist() == b.tolist()
        p, n = pad_packed_sequence(ours, batch_first, 7.0, total_length=8)
        q, m = torch.nn.utils.rnn.pad_packed_sequence(theirs, batch_first, 7.0, total_length=8)
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        assert n.tolist() == m.tolist()
    seqs = [rng.normal(size=(k, 2)) for k in (3, 5, 2)]
    np.testing.assert_array_equal(
        pad_sequence([mg.tensor(s) for s in seqs], True, -2.0, "left").numpy(),
        torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], True, -2.0,
                                        "left").numpy())


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "RNN"])
def test_packed_layers_against_pytorch(layer):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = getattr(torch.nn, layer)(3, 4, 2, batch_first=True, bidirectional=True).double()
    ours = getattr(tnn, layer)(3, 4, 2, batch_first=True, bidirectional=True, dtype=mg.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    x, lengths = rng.normal(size=(3, 5, 3)), [2, 5, 4]
    h0 = rng.normal(size=(4, 3, 4))
    t_in = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x, requires_grad=True),
                                                   lengths, True, enforce_sorted=False)
    mx = mg.tensor(x, requires_grad=True)
    m_in = pack_padded_sequence(mx, lengths, True, enforce_sorted=False)
    t_hx = (torch.tensor(h0), torch.tensor(h0 * 0.3)) if layer == "LSTM" else torch.tensor(h0)
    m_hx = (mg.tensor(h0), mg.tensor(h0 * 0.3)) if layer == "LSTM" else mg.tensor(h0)
    t_out, t_h = theirs(t_in, t_hx)
    m_out, m_h = ours(m_in, m_hx)
    np.testing.assert_allclose(m_out.data.numpy(), t_out.data.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    t_h, m_h = (t_h, m_h) if layer == "LSTM" else ((t_h,), (m_h,))
    for a, b in zip(m_h, t_h, strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    t_out.data.sum().backward()
    m_out.data.sum().backward()
    np.testing.assert_allclose(ours.weight_hh_l1_reverse.grad.numpy(),
                               theirs.weight_hh_l1_reverse.grad.numpy(), rtol=1e-8, atol=1e-10)
