"""Encoder-decoder models, the generated tasks, decoding (greedy and beam), save/load, bad input
and the example script's quick mode."""

import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from models.seq2seq import Decoder, Encoder, Seq2Seq
from models.tasks import (
    Vocab,
    batches,
    make_date_task,
    make_pig_latin_task,
    pad_batch,
    pig_latin,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_model(attention="luong", cell="lstm", bidirectional=False, input_feeding=None,
               layers=1, vocab=9, dtype=None, score="general", seed=0):
    mg.manual_seed(seed)
    enc = Encoder(vocab, 5, 4, num_layers=layers, cell=cell, bidirectional=bidirectional,
                  dtype=dtype)
    dec = Decoder(vocab, 5, 6, num_layers=layers, cell=cell, attention=attention,
                  encoder_size=enc.output_size, score=score, input_feeding=input_feeding,
                  dtype=dtype)
    return Seq2Seq(enc, dec)


def tiny_batch(rng, B=3, S=5, T=4, vocab=9):
    src = rng.integers(3, vocab, (B, S))
    lengths = np.array([S, 2, 4][:B])
    src[1, 2:] = 0
    src[2, 4:] = 0
    tgt = rng.integers(3, vocab, (B, T))
    tgt_in = np.concatenate([np.ones((B, 1), np.int64), tgt[:, :-1]], axis=1)
    tgt_out = tgt.copy()
    tgt_out[0, -1] = 2
    tgt_out[1, 2], tgt_out[1, 3:] = 2, 0  # a shorter target, padded
    return src, lengths, tgt_in, tgt_out


# ---- tasks ----------------------------------------------------------------------------------
def test_vocab_round_trip_and_unknown_tokens():
    v = Vocab(["cat", "dog"])
    assert v.encode("cat dog", add_bos=True, add_eos=True) == [1, 3, 4, 2]
    assert v.decode([1, 3, 4, 2, 3, 0]) == ["cat", "dog"]
    with pytest.raises(ValueError, match="unknown token 'cow'.*unk=True"):
        v.encode(["cat", "cow"])
    assert Vocab(["cat"], unk=True).encode(["cow"]) == [3]
    with pytest.raises(ValueError, match=r"id 7 is out of range \[0, 5\)"):
        v.decode([7])


def test_pig_latin_rules():
    assert [pig_latin(w) for w in ("cat", "three", "eats", "quick", "young", "rhythm")] == [
        "atcay", "eethray", "eatsway", "uickqay", "oungyay", "ythmrhay"]
    with pytest.raises(ValueError):
        pig_latin("")


def test_generated_tasks():
    data = make_pig_latin_task(400, 100, seed=1)
    assert len(data.src_vocab) >= 30 and len(data.tgt_vocab) >= 30
    assert max(len(s) for s, _ in data.train) == 20
    assert not {tuple(s) for s, _ in data.train} & {tuple(s) for s, _ in data.test}
    src, tgt = data.train[0]
    assert tgt == [pig_latin(w) for w in reversed(src)]
    dates = make_date_task(200, 50)
    for _, tgt in dates.train[:20]:
        iso = "".join(tgt)
        assert len(iso) == 10 and iso[4] == iso[7] == "-"
    assert len(dates.src_vocab) >= 30


def test_batches_pad_and_shift():
    data = make_pig_latin_task(50, 10, max_len=6)
    b = next(batches(data.train, data.src_vocab, data.tgt_vocab, 8, shuffle=False))
    assert b.src.shape[0] == 8 and b.src.dtype == np.int64
    for i in range(8):
        n = len(data.train[i][0])
        assert b.src_lengths[i] == n and np.all(b.src[i, n:] == 0)
        assert b.tgt_in[i, 0] == 1
        np.testing.assert_array_equal(b.tgt_in[i, 1:n + 1], b.tgt_out[i, :n])
        assert b.tgt_out[i, n] == 2 and np.all(b.tgt_out[i, n + 1:] == 0)
    arr, lens = pad_batch([[5, 6], [7]])
    np.testing.assert_array_equal(arr, [[5, 6], [7, 0]])


# ---- models ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cell,bidirectional,attention,feeding", [
    ("lstm", False, None, None), ("lstm", True, "luong", True), ("gru", True, "bahdanau", None),
    ("rnn", False, "luong", False), ("gru", False, "luong", True)])
def test_shapes_and_beam_one_equals_greedy(rng, cell, bidirectional, attention, feeding):
    m = tiny_model(attention, cell, bidirectional, feeding, layers=2)
    src, lengths, tgt_in, tgt_out = tiny_batch(rng)
    logits, weights = m(src, tgt_in, lengths, return_attention=True)
    assert logits.shape == (3, 4, 9)
    if attention is None:
        assert weights is None
    else:
        assert weights.shape == (3, 4, 5)
        assert np.all(weights.numpy()[1, :, 2:] == 0)  # padded source steps get no attention
        np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, rtol=1e-5)
    loss = m.loss(src, tgt_in, tgt_out, lengths)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    greedy = m.greedy_decode(src, lengths, max_len=7)
    beams = m.beam_search(src, lengths, beam_size=1, max_len=7)
    assert [b[0].tokens for b in beams] == greedy


def test_parallel_teacher_forcing_equals_step_by_step(rng):
    for attention in (None, "luong"):
        m = tiny_model(attention, input_feeding=False, layers=2, dtype=np.float64)
        src, lengths, tgt_in, _ = tiny_batch(rng)
        fast = m(src, tgt_in, lengths)
        memory, state = m.encode(src, lengths)
        slow = []
        for t in range(tgt_in.shape[1]):
            logits, state, _ = m.decoder.step(tgt_in[:, t], state, memory)
            slow.append(logits.numpy())
        np.testing.assert_allclose(fast.numpy(), np.stack(slow, 1), atol=1e-12)


def test_padding_is_ignored(rng):
    """A source decodes the same alone and padded inside a batch; the loss counts only the
    non-padding targets."""
    m = tiny_model("bahdanau", bidirectional=True, dtype=np.float64)
    src, lengths, tgt_in, tgt_out = tiny_batch(rng)
    alone = m(src[1:2, :2], tgt_in[1:2])
    batched = m(src, tgt_in, lengths)
    np.testing.assert_allclose(alone.numpy()[0], batched.numpy()[1], atol=1e-12)
    loss = m.loss(src, tgt_in, tgt_out, lengths)
    logp = mg.log_softmax(batched, dim=-1).numpy()
    keep = tgt_out != 0
    ref = -np.mean(np.take_along_axis(logp, tgt_out[..., None], -1)[..., 0][keep])
    assert abs(loss.item() - ref) < 1e-12


def test_seq2seq_gradcheck_float64(rng):
    m = tiny_model("luong", input_feeding=True, dtype=np.float64, score="concat")
    src, lengths, tgt_in, tgt_out = tiny_batch(rng, T=3)
    tgt_out = tgt_out[:, :3]
    params = tuple(m.decoder.attention.parameters()) + tuple(m.decoder.combine.parameters())
    assert mg.gradcheck(lambda *_: m.loss(src, tgt_in, tgt_out, lengths), params)


def test_beam_search_scores_are_length_normalised_log_probs(rng):
    m = tiny_model("luong", dtype=np.float64, seed=3)
    src, lengths, _, _ = tiny_batch(rng)
    alpha = 0.7
    hyps = m.beam_search(src[:1], lengths[:1], beam_size=4, max_len=6, length_penalty=alpha)[0]
    assert 1 <= len(hyps) <= 4
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    m.eval()
    for h in hyps:
        seq = h.tokens + ([m.eos_id] if len(h.tokens) < 6 else [])
        tgt_in = np.array([[m.bos_id] + seq[:-1]])
        logp = mg.log_softmax(m(src[:1], tgt_in, lengths[:1]), dim=-1).numpy()[0]
        total = sum(logp[t, tok] for t, tok in enumerate(seq))
        assert abs(total / len(seq) ** alpha - h.score) < 1e-9


def test_teacher_forcing_ratio_zero_is_seeded(rng):
    m = tiny_model("luong")
    src, lengths, tgt_in, tgt_out = tiny_batch(rng)
    a = m.loss(src, tgt_in, tgt_out, lengths, teacher_forcing_ratio=0.3,
               generator=np.random.default_rng(1))
    b = m.loss(src, tgt_in, tgt_out, lengths, teacher_forcing_ratio=0.3,
               generator=np.random.default_rng(1))
    assert a.item() == b.item()
    with pytest.raises(ValueError, match=r"teacher_forcing_ratio must be in \[0, 1\]"):
        m.loss(src, tgt_in, tgt_out, lengths, teacher_forcing_ratio=1.5)


def test_save_load_reproduces_decodes(rng, tmp_path):
    m = tiny_model("bahdanau", cell="gru", bidirectional=True, layers=2, seed=5)
    src, lengths, _, _ = tiny_batch(rng)
    path = tmp_path / "model.npz"
    mg.save(m.state_dict(), path)
    twin = tiny_model("bahdanau", cell="gru", bidirectional=True, layers=2, seed=6)
    twin.load_state_dict(mg.load(path))
    assert twin.greedy_decode(src, lengths) == m.greedy_decode(src, lengths)
    assert twin.beam_search(src, lengths, beam_size=3) == m.beam_search(src, lengths,
                                                                         beam_size=3)


def test_bad_input_messages(rng):
    m = tiny_model("luong")
    src, lengths, tgt_in, tgt_out = tiny_batch(rng)
    with pytest.raises(ValueError, match="empty sequence"):
        m.greedy_decode(np.zeros((2, 0), dtype=np.int64))
    with pytest.raises(ValueError, match="source sequence 1 is empty"):
        m.greedy_decode(src, np.array([5, 0, 4]))
    with pytest.raises(ValueError, match=r"token id 12, outside the vocabulary \[0, 9\)"):
        m.greedy_decode(np.array([[3, 12]]))
    with pytest.raises(TypeError, match="token ids as integers"):
        m.greedy_decode(np.array([[3.0, 4.0]]))
    with pytest.raises(ValueError, match=r"tgt_out of shape \(3, 4\)"):
        m.loss(src, tgt_in, tgt_out[:, :3], lengths)
    enc = Encoder(9, 5, 4, bidirectional=True)
    with pytest.raises(ValueError, match="encoder_size=4, but the encoder gives 8"):
        Seq2Seq(enc, Decoder(9, 5, 4, attention="luong", encoder_size=4))
    with pytest.raises(ValueError, match="decoder has 2 layers but the encoder only 1"):
        Seq2Seq(enc, Decoder(9, 5, 4, num_layers=2))
    with pytest.raises(ValueError, match="input_feeding needs attention='luong'"):
        Decoder(9, 5, 4, attention="bahdanau", input_feeding=True)
    with pytest.raises(ValueError, match="cell must be one of"):
        Encoder(9, 5, 4, cell="transformer")
    with pytest.raises(ValueError, match="beam_size must be a positive int"):
        m.beam_search(src, lengths, beam_size=0)


def test_training_reduces_the_loss():
    data = make_pig_latin_task(64, 8, max_len=4, reverse=False, seed=2)
    mg.manual_seed(0)
    enc = Encoder(len(data.src_vocab), 8, 16)
    dec = Decoder(len(data.tgt_vocab), 8, 16, attention="luong", encoder_size=16,
                  input_feeding=False)
    m = Seq2Seq(enc, dec)
    opt = mg.optim.Adam(list(m.parameters()), lr=0.02)
    b = next(batches(data.train, data.src_vocab, data.tgt_vocab, 64, shuffle=False))
    losses = []
    for _ in range(25):
        loss = m.loss(b.src, b.tgt_in, b.tgt_out, b.src_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_example_quick_mode_runs(tmp_path):
    heatmap, ckpt, results = tmp_path / "heat.png", tmp_path / "m.npz", tmp_path / "r.json"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "seq2seq_attention.py"), "--quick",
         "--heatmap", str(heatmap), "--checkpoint", str(ckpt), "--results", str(results)],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert heatmap.stat().st_size > 1000 and ckpt.exists() and results.exists()
    assert "decodes identically" in proc.stdout and "no attention" in proc.stdout
