"""An LSTM learns to copy the first symbol of a sequence after a delay of 20 steps.

Task: x_0 is a one-hot symbol (2 classes), x_1 .. x_19 are blank, x_20 carries a "recall" flag;
the class is read from h_n. Chance is 50 %; the LSTM (H = 8, forget-gate bias +1, Adam 0.02,
batch 32, float32) reaches >= 98 % on 500 held-out sequences within 80 steps. The run is
deterministic (``mg.manual_seed`` and a seeded numpy generator). Uses the fused path when it
exists, else the unrolled one.
"""

import numpy as np

import minigrad as mg
from models import LSTM

SYMBOLS, DELAY, HIDDEN = 2, 20, 8


def _fused_available():
    try:
        import models.rnn.fused  # noqa: F401
    except ImportError:
        return False
    return True


def copy_batch(rng, n):
    symbol = rng.integers(0, SYMBOLS, n)
    x = np.zeros((DELAY + 1, n, SYMBOLS + 1), np.float32)
    x[0, np.arange(n), symbol] = 1.0
    x[-1, :, SYMBOLS] = 1.0
    return mg.tensor(x), symbol


def train(steps):
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    lstm = LSTM(SYMBOLS + 1, HIDDEN, fused=_fused_available())
    head = mg.nn.Linear(HIDDEN, SYMBOLS)
    with mg.no_grad():
        lstm.bias_hh_l0.numpy()[HIDDEN:2 * HIDDEN] += 1.0  # forget gate starts open
    params = list(lstm.parameters()) + list(head.parameters())
    opt = mg.optim.Adam(params, lr=0.02)
    losses = []
    for _ in range(steps):
        x, y = copy_batch(rng, 32)
        _, (h_n, _) = lstm(x)
        loss = mg.nn.functional.cross_entropy(head(h_n[0]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with mg.no_grad():
        x, y = copy_batch(np.random.default_rng(99), 500)
        _, (h_n, _) = lstm(x)
        accuracy = float(np.mean(head(h_n[0]).numpy().argmax(axis=1) == y))
    return losses, accuracy


def test_lstm_learns_delayed_copy():
    losses, accuracy = train(80)
    assert accuracy >= 0.98, (accuracy, losses[-5:])
    assert np.mean(losses[-10:]) < 0.1 < losses[0]


def test_training_is_deterministic():
    assert train(4) == train(4)
