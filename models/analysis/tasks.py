"""Synthetic long-range tasks for gradient experiments.

The adding problem (Hochreiter & Schmidhuber 1997, as set up by Le, Jaitly & Hinton 2015 and
Arjovsky et al. 2016): each step carries a pair (value ~ U[0, 1], marker in {0, 1}); exactly two
markers are 1, one in each half of the sequence; the target is the sum of the two marked values.
Predicting the constant 1 scores MSE = Var(U + U') = 1/6 ~ 0.167, so a model below that has
learned to carry information across up to ``T`` steps.
"""

import numpy as np

import minigrad as mg

ADDING_BASELINE_MSE = 1.0 / 6.0


def adding_problem(batch, steps, rng, dtype=np.float32):
    """One batch of the adding problem.

    Returns ``x``: (steps, batch, 2) — column 0 the values, column 1 the markers — and
    ``y``: (batch, 1) the sum of the two marked values.
    """
    if steps < 2 or batch < 1:
        raise ValueError(f"adding_problem: need steps >= 2 and batch >= 1, got steps={steps}, "
                         f"batch={batch}")
    values = rng.uniform(0.0, 1.0, size=(steps, batch))
    half = steps // 2
    first = rng.integers(0, half, size=batch)
    second = rng.integers(half, steps, size=batch)
    markers = np.zeros((steps, batch))
    cols = np.arange(batch)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    x = np.stack([values, markers], axis=2).astype(dtype)
    y = (values[first, cols] + values[second, cols])[:, None].astype(dtype)
    return x, y


class LastStepRegressor(mg.nn.Module):
    """A recurrent layer followed by a linear read-out of its last output:
    x (T, B, I) -> (B, out_features)."""

    def __init__(self, rnn, out_features=1):
        super().__init__()
        self.rnn = rnn
        self.head = mg.nn.Linear(rnn.hidden_size, out_features,
                                 dtype=next(iter(rnn.parameters())).dtype)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output[-1])
