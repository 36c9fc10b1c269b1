"""One training step of PyTorch's word-level language model (examples/word_language_model:
embedding, 2-layer LSTM, linear decoder, nll_loss of log_softmax, backward,
clip_grad_norm_(0.25), SGD), ported to minigrad, side by side with PyTorch when installed.

    .venv/bin/python bench/bench_train.py              # both sizes, ~1-2 minutes
    .venv/bin/python bench/bench_train.py --quick      # fewer rounds
    .venv/bin/python bench/bench_train.py --sizes 200  # emsize = nhid = 200 only
    .venv/bin/python bench/bench_train.py --cpu        # thread CPU time, not wall clock

Both libraries run on 1 thread (torch.set_num_threads(1), mg.set_num_threads(1), one BLAS
thread), float32, vocabulary 10,000, bptt 35, batch 20, dropout 0.2, SGD lr 20; the hidden
state is carried from step to step and detached, as in the example. Rounds alternate the
libraries (a burst of machine load hits both); each round runs a few steps of each and times
every phase of every step; the round with the smallest total is kept per library. Ratios are
PyTorch time / minigrad time (> 1: minigrad faster), from the same run.

Then the pieces on their own, interleaved the same way: log_softmax, nll_loss(log_softmax) and
cross_entropy forward + backward at (700, 10000), and clip_grad_norm_, an SGD step and an Adam
step over the word LM's parameters (at the first size).

Phases: embedding (lookup + dropout), recurrent (the LSTM), decoder (dropout + linear),
loss (log_softmax + nll_loss forward), backward (the whole backward pass), clip
(clip_grad_norm_), update (optimizer.step + zero_grad). Before timing, one step of each with
dropout off checks that the two give the same loss and gradients.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("BENCH_BLAS_THREADS", "1"))

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402, N812 - PyTorch's name
from models import LSTM  # noqa: E402

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None

NTOKEN, BPTT, BATCH, NLAYERS, DROPOUT, LR, CLIP = 10_000, 35, 20, 2, 0.2, 20.0, 0.25
PHASES = ("embedding", "recurrent", "decoder", "loss", "backward", "clip", "update")
CLOCK = [time.perf_counter]  # --cpu: time.thread_time (this thread's CPU time)


# ---- the two models --------------------------------------------------------------------------
class WordLM(nn.Module):
    """PyTorch's RNNModel (LSTM, untied weights) in minigrad."""

    def __init__(self, ninp, nhid, dropout):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(NTOKEN, ninp)
        self.rnn = LSTM(ninp, nhid, NLAYERS, dropout=dropout)
        self.decoder = nn.Linear(nhid, NTOKEN)


def _torch_model(ninp, nhid, dropout):
    class RNNModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = torch.nn.Dropout(dropout)
            self.encoder = torch.nn.Embedding(NTOKEN, ninp)
            self.rnn = torch.nn.LSTM(ninp, nhid, NLAYERS, dropout=dropout)
            self.decoder = torch.nn.Linear(nhid, NTOKEN)
            torch.nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
            torch.nn.init.zeros_(self.decoder.bias)
            torch.nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
    return RNNModel()


class Step:
    """One training step of either library, phase by phase (``lib``: the module of tensor
    functions, ``F``: its functional, ``clip``: its clip_grad_norm_)."""

    def __init__(self, model, opt, data, targets, hidden, lib):
        self.model, self.opt, self.data, self.targets = model, opt, data, targets
        self.hidden, self.lib = hidden, lib
        self.times = dict.fromkeys(PHASES, 0.0)
        self.steps = 0

    def __call__(self):
        m, tick, times = self.model, CLOCK[0], self.times
        t0 = tick()
        emb = m.drop(m.encoder(self.data))
        t1 = tick()
        output, hidden = m.rnn(emb, self.hidden)
        self.hidden = tuple(h.detach() for h in hidden)
        t2 = tick()
        decoded = m.decoder(m.drop(output)).reshape(-1, NTOKEN)
        t3 = tick()
        loss = self.lib.nll_loss(self.lib.log_softmax(decoded, dim=1), self.targets)
        t4 = tick()
        loss.backward()
        t5 = tick()
        self.lib.clip_grad_norm_(m.parameters(), CLIP)
        t6 = tick()
        self.opt.step()
        self.opt.zero_grad()
        t7 = tick()
        for name, a, b in zip(PHASES, (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7),
                              strict=True):
            times[name] += b - a
        self.steps += 1
        return loss

    def take(self):
        """Per-step seconds of each phase since the last take."""
        out = {k: v / max(self.steps, 1) for k, v in self.times.items()}
        self.times = dict.fromkeys(PHASES, 0.0)
        self.steps = 0
        return out


class _TorchLib:
    nll_loss = staticmethod(lambda x, t: torch.nn.functional.nll_loss(x, t))
    log_softmax = staticmethod(lambda x, dim: torch.nn.functional.log_softmax(x, dim=dim))
    clip_grad_norm_ = staticmethod(lambda p, c: torch.nn.utils.clip_grad_norm_(p, c))


class _MgLib:
    nll_loss = staticmethod(F.nll_loss)
    log_softmax = staticmethod(F.log_softmax)
    clip_grad_norm_ = staticmethod(nn.utils.clip_grad_norm_)


def make_steps(size, dropout, seed=0):
    """(minigrad step, torch step or None) on the same weights and data."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, NTOKEN, (BPTT + 1, BATCH))
    data, targets = tokens[:-1], tokens[1:].reshape(-1)
    mg.manual_seed(seed)
    ours = WordLM(size, size, dropout)
    hidden = (mg.zeros(NLAYERS, BATCH, size), mg.zeros(NLAYERS, BATCH, size))
    if torch is None:
        init = np.random.default_rng(seed + 1)
        ours.encoder.weight.numpy()[...] = init.uniform(-0.1, 0.1, ours.encoder.weight.shape)
        ours.decoder.weight.numpy()[...] = init.uniform(-0.1, 0.1, ours.decoder.weight.shape)
        ours.decoder.bias.numpy()[...] = 0
        step = Step(ours, mg.optim.SGD(ours.parameters(), lr=LR), mg.tensor(data),
                    targets, hidden, _MgLib)
        return step, None
    torch.manual_seed(seed)
    theirs = _torch_model(size, size, dropout)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    mine = Step(ours, mg.optim.SGD(ours.parameters(), lr=LR), mg.tensor(data), targets,
                hidden, _MgLib)
    t_hidden = (torch.zeros(NLAYERS, BATCH, size), torch.zeros(NLAYERS, BATCH, size))
    other = Step(theirs, torch.optim.SGD(theirs.parameters(), lr=LR), torch.tensor(data),
                 torch.tensor(targets), t_hidden, _TorchLib)
    return mine, other


def check_same_step(size):
    """With dropout off, one step of each library gives the same loss and updated weights."""
    mine, other = make_steps(size, dropout=0.0, seed=1)
    if other is None:
        return None
    loss, tloss = mine().item(), other().item()
    np.testing.assert_allclose(loss, tloss, rtol=1e-5)
    for (name, p), (_, q) in zip(mine.model.named_parameters(),
                                 other.model.named_parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    return loss


def run(size, rounds, number):
    mine, other = make_steps(size, DROPOUT)
    steps = {"minigrad": mine} if other is None else {"minigrad": mine, "torch": other}
    best = {}
    for r in range(rounds + 1):
        for name, step in steps.items():
            for _ in range(number):
                step()
            got = step.take()
            if r and (name not in best or sum(got.values()) < sum(best[name].values())):
                best[name] = got  # round 0 is the warm-up
    return best


# ---- the pieces on their own -----------------------------------------------------------------
def best_of(fns, rounds, number):
    """{name: best seconds per call}: rounds that run every function ``number`` times in turn,
    after a warm-up round."""
    best = dict.fromkeys(fns, float("inf"))
    for r in range(rounds + 1):
        for name, fn in fns.items():
            t0 = CLOCK[0]()
            for _ in range(number):
                fn()
            if r:
                best[name] = min(best[name], (CLOCK[0]() - t0) / number)
    return best


def _loss_pieces(rng):
    """fwd+bwd of the losses at (700, 10000), the word LM's decoder output (log_softmax's
    backward seeded with a dense random gradient)."""
    x = (rng.standard_normal((BPTT * BATCH, NTOKEN)) * 2).astype(np.float32)
    target = rng.integers(0, NTOKEN, BPTT * BATCH)
    seed = rng.standard_normal(x.shape).astype(np.float32) * 1e-3
    a, seed_mg = mg.tensor(x, requires_grad=True), mg.tensor(seed)
    pairs = {  # (output, the gradient it is seeded with: None for a scalar loss)
        "log_softmax": lambda lib, t, y, s: (lib.log_softmax(t, dim=1), s),
        "nll_loss(log_softmax)": lambda lib, t, y, s: (
            lib.nll_loss(lib.log_softmax(t, dim=1), y), None),
        "cross_entropy": lambda lib, t, y, s: (lib.cross_entropy(t, y), None),
    }
    fns = {}
    for name, f in pairs.items():
        fns[(name, "minigrad")] = lambda f=f: _fwd_bwd(*f(F, a, target, seed_mg), a)
        if torch is not None:
            b = torch.tensor(x, requires_grad=True)
            tt, ts = torch.tensor(target), torch.tensor(seed)
            fns[(name, "torch")] = lambda f=f, b=b, tt=tt, ts=ts: _fwd_bwd(
                *f(torch.nn.functional, b, tt, ts), b)
    return fns


def _fwd_bwd(out, seed, leaf):
    leaf.grad = None
    out.backward(seed)


def _optim_pieces(size, rng):
    """clip_grad_norm_, an SGD step and an Adam step over the word LM's parameters (fresh
    gradients, float32)."""
    ours = WordLM(size, size, 0.0)
    params = list(ours.parameters())
    for p in params:
        p.grad = mg.tensor(rng.standard_normal(p.shape).astype(np.float32))
    sgd, adam = mg.optim.SGD(params, lr=1e-3), mg.optim.Adam(params, lr=1e-6)
    fns = {("clip_grad_norm_", "minigrad"): lambda: nn.utils.clip_grad_norm_(params, 1e9),
           ("SGD step", "minigrad"): sgd.step, ("Adam step", "minigrad"): adam.step}
    if torch is not None:
        tparams = [torch.tensor(p.numpy().copy(), requires_grad=True) for p in params]
        for p, q in zip(params, tparams, strict=True):
            q.grad = torch.tensor(p.grad.numpy().copy())
        tsgd, tadam = torch.optim.SGD(tparams, lr=1e-3), torch.optim.Adam(tparams, lr=1e-6)
        fns[("clip_grad_norm_", "torch")] = lambda: torch.nn.utils.clip_grad_norm_(tparams,
                                                                                   1e9)
        fns[("SGD step", "torch")] = tsgd.step
        fns[("Adam step", "torch")] = tadam.step
    return fns


def report_pieces(size, rounds):
    rng = np.random.default_rng(0)
    fns = {**_loss_pieces(rng), **_optim_pieces(size, rng)}
    best = best_of(fns, rounds, 3)
    print(f"\npieces (losses at ({BPTT * BATCH}, {NTOKEN}) fwd+bwd; optimizers over the word "
          f"LM's parameters at size {size}): ms, ratio = torch / minigrad")
    for name in dict.fromkeys(k[0] for k in fns):
        a, b = best[(name, "minigrad")], best.get((name, "torch"))
        ratio = "" if b is None else f"{b / a:6.2f}x"
        print(f"{name:24} {_ms(a)} {'' if b is None else _ms(b):>9} {ratio:>7}")


# ---- report ----------------------------------------------------------------------------------
def _ms(s):
    return f"{s * 1e3:8.2f}"


def report(size, best):
    mine, other = best["minigrad"], best.get("torch")
    print(f"\nemsize = nhid = {size}: ms per step (best round), ratio = torch / minigrad")
    print(f"{'phase':12} {'minigrad':>9} {'torch':>9} {'ratio':>7}  share of minigrad's step")
    total = sum(mine.values())
    for name in PHASES + ("step",):
        a = total if name == "step" else mine[name]
        b = None if other is None else (sum(other.values()) if name == "step" else other[name])
        ratio = "" if b is None else f"{b / a:6.2f}x"
        print(f"{name:12} {_ms(a)} {'' if b is None else _ms(b):>9} {ratio:>7}  "
              f"{100 * a / total:5.1f} %")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 32])
    parser.add_argument("--cpu", action="store_true",
                        help="time this thread's CPU time instead of the wall clock (what "
                             "other processes on a shared machine disturb least)")
    parser.add_argument("--no-pieces", action="store_true",
                        help="skip the losses / clipping / optimizer steps on their own")
    args = parser.parse_args(argv)
    rounds, number = (3, 2) if args.quick else (8, 3)
    if args.cpu:
        CLOCK[0] = time.thread_time
    mg.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    load = os.getloadavg()
    print(f"python {platform.python_version()}, numpy {np.__version__}, minigrad "
          f"{mg.__version__}, torch {torch.__version__ if torch else 'not installed'}; "
          f"{os.cpu_count()} cpus, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print(f"word LM: vocabulary {NTOKEN}, bptt {BPTT}, batch {BATCH}, {NLAYERS}-layer LSTM, "
          f"dropout {DROPOUT}, clip {CLIP}, SGD lr {LR}; float32, 1 thread; "
          f"{'CPU time of this thread' if args.cpu else 'wall clock'}")
    for size in args.sizes:
        loss = check_same_step(size)
        if loss is not None:
            print(f"check (dropout off, size {size}): same loss as PyTorch ({loss:.4f}) and "
                  "the same weights after the step")
        report(size, run(size, rounds, number))
    if not args.no_pieces:
        report_pieces(args.sizes[0], rounds)
    load = os.getloadavg()
    print(f"\nload average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
