"""Hand-written unrolled RNN / LSTM / GRU loops for the viz tests.

They follow the project's scope convention for unrolled recurrent layers (CONTRIBUTING.md):
scopes ``<ClassName> / layer{k} / [forward|reverse] / t={t}``, the step's new hidden state named
``"h"`` and the LSTM cell state named ``"c"``; parameters have PyTorch's names. They let the viz
tests run independently of ``models``.
"""

import numpy as np

import minigrad as mg

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


class HandRNN(mg.nn.Module):
    """An unrolled recurrent net. x: (T, B, I) -> (output (T, B, D*H), h_n (L*D, B, H)) and, for
    the LSTM, ``(output, (h_n, c_n))``."""

    def __init__(self, kind, input_size, hidden_size, num_layers=1, bidirectional=False,
                 seed=0, scale=1.0, dtype=np.float64):
        super().__init__()
        self.kind, self.hidden_size, self.num_layers = kind, hidden_size, num_layers
        self.directions = 2 if bidirectional else 1
        rng = np.random.default_rng(seed)
        bound = scale / np.sqrt(hidden_size)
        gh = GATES[kind] * hidden_size
        for k in range(num_layers):
            in_size = input_size if k == 0 else hidden_size * self.directions
            for suffix in ("", "_reverse")[:self.directions]:
                for name, shape in ((f"weight_ih_l{k}", (gh, in_size)),
                                    (f"weight_hh_l{k}", (gh, hidden_size)),
                                    (f"bias_ih_l{k}", (gh,)), (f"bias_hh_l{k}", (gh,))):
                    data = rng.uniform(-bound, bound, shape).astype(dtype)
                    setattr(self, name + suffix, mg.nn.Parameter(data))

    def _step(self, k, suffix, x, h, c):
        w_ih = getattr(self, f"weight_ih_l{k}{suffix}")
        w_hh = getattr(self, f"weight_hh_l{k}{suffix}")
        b_ih = getattr(self, f"bias_ih_l{k}{suffix}")
        b_hh = getattr(self, f"bias_hh_l{k}{suffix}")
        gi = mg.nn.functional.linear(x, w_ih, b_ih)
        gh = mg.nn.functional.linear(h, w_hh, b_hh)
        if self.kind == "RNN":
            h = (gi + gh).tanh()
        elif self.kind == "LSTM":
            i, f, g, o = mg.chunk(gi + gh, 4, dim=1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            c.name = "c"
            h = o.sigmoid() * c.tanh()
        else:
            ir, iz, in_ = mg.chunk(gi, 3, dim=1)
            hr, hz, hn = mg.chunk(gh, 3, dim=1)
            r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
            n = (in_ + r * hn).tanh()
            h = (1 - z) * n + z * h
        h.name = "h"
        return h, c

    def forward(self, x, hx=None):
        T, B, _ = x.shape
        H, D = self.hidden_size, self.directions
        h_n, c_n = [], []
        layer_in = [x[t] for t in range(T)]
        with mg.scope(self.kind):
            for k in range(self.num_layers):
                outs = []
                with mg.scope(f"layer{k}"):
                    for d, suffix in enumerate(("", "_reverse")[:D]):
                        h = mg.zeros(B, H, dtype=x.dtype) if hx is None else hx[k * D + d]
                        c = mg.zeros(B, H, dtype=x.dtype)
                        times = range(T) if d == 0 else range(T - 1, -1, -1)
                        seq = [None] * T
                        for t in times:
                            names = (("forward", "reverse")[d],) if D == 2 else ()
                            with _scopes(*names, f"t={t}"):
                                h, c = self._step(k, suffix, layer_in[t], h, c)
                            seq[t] = h
                        outs.append(seq)
                        h_n.append(h)
                        c_n.append(c)
                    if D == 2:
                        layer_in = [mg.cat([outs[0][t], outs[1][t]], dim=1) for t in range(T)]
                    else:
                        layer_in = outs[0]
        output = mg.stack(layer_in, dim=0)
        hidden = mg.stack(h_n, dim=0)
        if self.kind == "LSTM":
            return output, (hidden, mg.stack(c_n, dim=0))
        return output, hidden


class _scopes:  # noqa: N801 - used like a function
    """Enter several ``mg.scope`` levels at once."""

    def __init__(self, *names):
        self.stack = [mg.scope(n) for n in names]

    def __enter__(self):
        for s in self.stack:
            s.__enter__()

    def __exit__(self, *exc):
        for s in reversed(self.stack):
            s.__exit__(*exc)


def run(kind="LSTM", T=4, layers=1, bidirectional=False, B=2, I=3, H=5, seed=0, scale=1.0,
        input_grad=False):
    """Build a net, run it on random input and return ``(model, x, output, h_n, loss)`` where
    the loss reads only the final hidden states (many-to-one)."""
    model = HandRNN(kind, I, H, layers, bidirectional, seed=seed, scale=scale)
    rng = np.random.default_rng(seed + 1)
    x = mg.tensor(rng.standard_normal((T, B, I)), requires_grad=input_grad)
    output, state = model(x)
    h_n = state[0] if kind == "LSTM" else state
    proj = mg.tensor(rng.standard_normal(h_n.shape))
    loss = (h_n * proj).sum()
    return model, x, output, h_n, loss
