"""Compiled cells (``models.Recurrent(cell, fused=True)``) against the hand-written fused
kernels, against a user's own LSTM, and against their unrolled path.

    .venv/bin/python bench/bench_cells.py                  # the host's kernel family
    .venv/bin/python bench/bench_cells.py --family avx2    # AVX2 code on an AVX-512 host

1 thread, float32, the layer path as users call it (``batch_first=True``, x made afresh each
call with ``requires_grad=True``, forward + ``out.sum().backward()``; forward only under
``no_grad``), glibc's malloc, one BLAS thread (``OPENBLAS_NUM_THREADS=1``: the script runs
itself in a child with it). Rounds of the compared functions (0.25 s each) alternate in one
process; the best round is reported. Without the one BLAS thread, the order of the timed
layers moved single ratios by 0.2-0.5: NumPy's OpenBLAS, which the compiled cells' GEMMs
run in, keeps a pool thread spinning on the second core after each call, and the
hand-written kernels' GEMMs run in SciPy's OpenBLAS (``bench_interleave.py``). Three tables,
every ratio "reference time / compiled time" (> 1: the compiled cell is faster):

1. ``Recurrent(models.LSTMCell / GRUCell / RNNCell)`` compiled from the cells' one step
   definition vs ``models.LSTM / GRU / RNN`` (hand-written kernels), same weights (goal
   >= 0.9x, then 1.0x);
2. PyTorch's LSTM equations written as a ``Cell`` here (``nn.functional.linear``, slices,
   sigmoid, tanh) vs ``models.LSTM`` (goal: the user's cell within 1.1x, ratio >= 0.91);
3. a cell of a few lines, compiled vs ``fused=False`` (goals 5x at (16, 100, 32, 64), 30x at
   (1, 200, 16, 32)).

``--family avx2`` on an AVX-512 machine runs the whole bench in a child process set up as an
AVX2 CPU (see ``bench_layers.family_env``).
"""

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_layers import CONFIGS, ROOT, _cpu_model, best_times, family_env  # noqa: E402
from bench_layers import layer_cases as _cases  # noqa: E402

ROUND = 0.25  # seconds per round of one function (see the module docstring)


def _cells():
    import minigrad as mg
    from models import Cell

    class UserLSTM(Cell):
        """PyTorch's LSTM equations, as a user would write them."""

        state_names = ("h", "c")

        def __init__(self, input_size, hidden_size):
            super().__init__(input_size, hidden_size)
            k = 1.0 / np.sqrt(hidden_size)
            self.weight_ih = mg.nn.Parameter(mg.rand(4 * hidden_size, input_size) * 2 * k - k)
            self.weight_hh = mg.nn.Parameter(mg.rand(4 * hidden_size, hidden_size) * 2 * k - k)
            self.bias_ih = mg.nn.Parameter(mg.rand(4 * hidden_size) * 2 * k - k)
            self.bias_hh = mg.nn.Parameter(mg.rand(4 * hidden_size) * 2 * k - k)

        def forward(self, x, state):
            h, c = state
            H = self.hidden_size
            linear = mg.nn.functional.linear
            g = linear(x, self.weight_ih, self.bias_ih) + linear(h, self.weight_hh,
                                                                 self.bias_hh)
            i, f = mg.sigmoid(g[:, :H]), mg.sigmoid(g[:, H:2 * H])
            c = f * c + i * mg.tanh(g[:, 2 * H:3 * H])
            return mg.sigmoid(g[:, 3 * H:]) * mg.tanh(c), c

    class Minimal(Cell):
        """h' = tanh(x W^T + h U^T + b), five lines."""

        state_names = ("h",)

        def __init__(self, input_size, hidden_size):
            super().__init__(input_size, hidden_size)
            self.w = mg.nn.Parameter(mg.randn(hidden_size, input_size) * 0.1)
            self.u = mg.nn.Parameter(mg.randn(hidden_size, hidden_size) * 0.1)
            self.b = mg.nn.Parameter(mg.zeros(hidden_size))

        def forward(self, x, state):
            return (mg.tanh(x @ self.w.t() + state[0] @ self.u.t() + self.b),)

    return UserLSTM, Minimal


def _copy_weights(hand, compiled):
    for name, p in compiled.cell_l0.named_parameters():
        p.numpy()[...] = getattr(hand, f"{name}_l0").numpy()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--family", default=None, help="a kernel family below the host's: avx2")
    p.add_argument("--seconds", type=float, default=0.5, help="timing budget per case")
    p.add_argument("--configs", nargs="+", default=None, help="B,T,I,H tuples")
    p.add_argument("--tables", nargs="+", type=int, default=[1, 2, 3])
    args = p.parse_args(argv)
    # One thread means one BLAS thread too: the compiled cells' GEMMs run in NumPy's
    # OpenBLAS, whose idle pool threads otherwise spin on the core the next layer needs (the
    # order effect bench_interleave.py shows). The child gets the environment for that.
    wrong_family = args.family and os.environ.get("MINIGRAD_RNN_KERNELS") != args.family
    if wrong_family or os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        if args.family:
            env.update(family_env(args.family))
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        raise SystemExit(subprocess.call([sys.executable, os.path.abspath(__file__)]
                                         + (argv if argv is not None else sys.argv[1:]),
                                         env=env))
    import minigrad as mg
    import models
    from models.rnn.kernels import family

    mg.set_num_threads(1)
    configs = ([tuple(int(v) for v in c.split(",")) for c in args.configs]
               if args.configs else CONFIGS)
    print(f"CPU: {_cpu_model()}; kernel family: {family.active().name}; 1 thread, float32")
    UserLSTM, Minimal = _cells()
    if 1 in args.tables:
        print("\n1. compiled built-in cells vs hand-written kernels (hand / compiled)")
        print(f"{'(B, T, I, H)':>20} {'mode':>5} {'fwd+bwd':>8} {'fwd':>8}")
        for mode, layer_cls, cell in (("lstm", models.LSTM, models.LSTMCell),
                                      ("gru", models.GRU, models.GRUCell),
                                      ("rnn", models.RNN, models.RNNCell)):
            for B, T, I, H in configs:
                mg.manual_seed(0)
                hand = layer_cls(I, H, batch_first=True)
                compiled = models.Recurrent(cell, I, H, batch_first=True, fused="generated")
                _copy_weights(hand, compiled)
                fb_h, f_h = _cases(hand, B, T, I)
                fb_c, f_c = _cases(compiled, B, T, I)
                t = best_times([fb_h, fb_c, f_h, f_c], args.seconds, ROUND)
                print(f"{str((B, T, I, H)):>20} {mode:>5} {t[0] / t[1]:7.2f}x "
                      f"{t[2] / t[3]:7.2f}x", flush=True)
    if 2 in args.tables:
        print("\n2. PyTorch's LSTM written as a Cell vs models.LSTM (models.LSTM / cell)")
        print(f"{'(B, T, I, H)':>20} {'fwd+bwd':>8} {'fwd':>8}")
        for B, T, I, H in configs:
            mg.manual_seed(0)
            hand = models.LSTM(I, H, batch_first=True)
            user = models.Recurrent(UserLSTM, I, H, batch_first=True)
            _copy_weights(hand, user)
            fb_h, f_h = _cases(hand, B, T, I)
            fb_u, f_u = _cases(user, B, T, I)
            t = best_times([fb_h, fb_u, f_h, f_u], args.seconds, ROUND)
            print(f"{str((B, T, I, H)):>20} {t[0] / t[1]:7.2f}x {t[2] / t[3]:7.2f}x",
                  flush=True)
    if 3 in args.tables:
        print("\n3. a five-line cell, compiled vs fused=False (unrolled / compiled, fwd+bwd)")
        for B, T, I, H in ((16, 100, 32, 64), (1, 200, 16, 32)):
            mg.manual_seed(0)
            compiled = models.Recurrent(Minimal, I, H, batch_first=True)
            unrolled = models.Recurrent(Minimal, I, H, batch_first=True, fused=False)
            unrolled.load_state_dict(compiled.state_dict())
            fb_c, _ = _cases(compiled, B, T, I)
            fb_u, _ = _cases(unrolled, B, T, I)
            t = best_times([fb_u, fb_c], args.seconds, ROUND)
            print(f"{str((B, T, I, H)):>20} {t[0] / t[1]:7.1f}x  ({t[1] * 1e3:.2f} ms vs "
                  f"{t[0] * 1e3:.2f} ms)", flush=True)


if __name__ == "__main__":
    main()
