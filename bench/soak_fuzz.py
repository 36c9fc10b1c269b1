"""Soak: many random graphs and recurrent-layer configurations, minigrad against PyTorch
(issue 14, part 7). Not run by ``make test``; ``tests/test_fuzz_graphs.py`` runs a sample of the
same graphs in the suite.

    nice -n 10 .venv/bin/python bench/soak_fuzz.py                 # 10,000 graphs, 400 layers
    nice -n 10 .venv/bin/python bench/soak_fuzz.py --quick         # 300 graphs, 24 layers
    .venv/bin/python bench/soak_fuzz.py --seed 7 --graphs 20000 --rnn 1000

Graphs (``tests/fuzz_graphs.py``): random programs over every public op, in three modes (smooth
values; values on a grid of halves; grid values with ties and kinks allowed), a fifth of them in
float32. Each is checked against the numpy program (values), PyTorch (values, dtypes, first and
second derivatives; skipped without torch), minigrad's own two first-order paths (plain and
create_graph=True) and float64 central differences (``mg.gradcheck`` / ``mg.gradgradcheck``,
not in the kink mode, where no derivative exists, nor in float32). A third of the graphs also get
one step with an invalid argument: both libraries must raise.

Recurrent layers: RNN (tanh / relu), LSTM (plain, peephole, coupled, both), GRU (reset_after
True / False); num_layers, bidirectional, batch_first, bias, lengths, h0 (and c0), fused or
unrolled, float64 or float32, batched or not. Configurations PyTorch has run against it with
the weights copied by name (packed sequences for ``lengths``); the others (peephole, coupled,
reset_after=False) compare the fused path with the unrolled one. Outputs, h_n, c_n and the
gradients of a random projection w.r.t. the input, the initial states and every parameter; the
unrolled float64 configurations PyTorch has also compare second derivatives.

Printed: counts of graphs, ops, checks, mismatches by kind, one-sided errors (one library
raises, the other does not), and the smallest failing graph or configuration of each kind.
The bugs the fuzz already found (``fuzz_graphs.FOUND``) are avoided unless ``--with-found``.
The exit status is 1 when anything mismatched.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # a shared 2-core machine: one BLAS thread

import argparse  # noqa: E402
import collections  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

import fuzz_graphs as fg  # noqa: E402

import minigrad as mg  # noqa: E402

try:
    import torch
    from torch.nn.utils import rnn as rnn_utils
    torch.set_num_threads(1)
except ImportError:  # the graph checks against numpy and central differences still run
    torch = None

ERROR_KINDS = ("error-mg", "error-torch", "error-fused", "error-unrolled")   # one-sided


class Tally:
    """Counts, and the smallest example of each (kind, what) for the report."""

    def __init__(self):
        self.kinds = collections.Counter()
        self.by_what = collections.Counter()
        self.examples = {}

    def add(self, kind, what, size, text):
        self.kinds[kind] += 1
        self.by_what[(kind, what)] += 1
        old = self.examples.get((kind, what))
        if old is None or size < old[0]:
            self.examples[(kind, what)] = (size, text)


# ---- graphs --------------------------------------------------------------------------------
def soak_graphs(n, seed, with_found, tally, stats):
    modes = ["smooth"] * 4 + ["grid"] * 3 + ["ties"] * 3
    avoid = set() if with_found else None
    for i in tqdm(range(n), desc="graphs", unit="graph", mininterval=2.0):
        mode = modes[i % len(modes)]
        dtype = "float32" if i // 10 % 5 == 4 else "float64"   # a fifth (every mode) float32
        graph = fg.random_graph(fg.RngChooser([seed, i]), mode=mode, avoid=avoid, dtype=dtype)
        if graph is None:
            stats["graphs skipped (nothing generated)"] += 1
            continue
        stats["graphs"] += 1
        stats[f"graphs ({mode})"] += 1
        stats[f"graphs ({dtype})"] += 1
        stats["ops"] += len(graph.steps)
        stats["ops at a kink (ties mode)"] += len(graph.kinks)
        for name in graph.ops:
            stats[f"op {name}"] += 1
        central = graph.central_ok
        stats["graphs checked by central differences"] += central
        stats["graphs checked against PyTorch"] += torch is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = fg.check_graph(graph, with_torch=torch is not None, central=True)
        if torch is not None and i % 3 == 0:
            invalid_probe(graph, i % len(graph.steps), tally, stats,
                          set() if with_found else fg.FOUND)
        for m in found:
            what = ",".join(sorted(set(graph.ops)))
            tally.add(m.kind, what, len(graph.steps) * 100 + sum(v.size for v in graph.leaves),
                      f"seed [{seed}, {i}] mode {mode} {dtype}: {m}\n{graph.describe()}")


# ---- invalid arguments: both libraries must raise ------------------------------------------
def _invalid_params(step, x, avoid):
    """A copy of ``step.params`` made invalid for input values x (None: no rule for this op).
    Bad input never passes silently (DESIGN.md): minigrad must raise wherever PyTorch does."""
    p, nd = dict(step.params), x.ndim
    op = step.op
    if op in ("softmax", "log_softmax") and nd == 0 and "softmax_0d_dim" in avoid:
        return None   # found: tests/test_fuzz_regressions.py
    if op in ("sum", "mean", "amax", "amin", "logsumexp", "var", "std", "max_dim", "min_dim"):
        p["dim"] = max(nd, 1) + 1
    elif op in ("softmax", "log_softmax", "squeeze", "concat", "index_select", "split",
                "chunk"):
        p["dim"] = max(nd, 1) + 1
    elif op == "unsqueeze":
        p["dim"] = nd + 2
    elif op == "transpose":
        p["d0"] = nd + 1
    elif op == "stack":
        p["dim"] = nd + 2
    elif op == "reshape":
        p["shape"] = (x.size + 1,)
    elif op == "flatten" and nd:
        p["start"], p["end"] = nd - 1, 0 if nd > 1 else nd
    elif op == "permute":
        p["dims"] = tuple(p["dims"]) + (0,)
        p["dot_t"] = False
    elif op == "expand":
        if not any(s > 1 for s in x.shape):
            return None
        p["shape"] = tuple(s + 1 if s > 1 else s for s in x.shape)
    elif op == "getitem" and nd:
        p["index"] = (x.shape[0] + 1,)
    elif op == "embedding":
        p["indices"] = np.asarray(p["indices"]) * 0 + x.shape[0]
    elif op in ("cross_entropy", "nll_loss"):
        c = x.shape[0] if nd == 1 else x.shape[1]
        p["target"] = np.asarray(p["target"]) * 0 + c + 3
        p["ignore_index"] = -100
    else:
        return None
    return p


def invalid_probe(graph, k, tally, stats, avoid):
    """Step k of the graph with invalid parameters: run minigrad and PyTorch up to it."""
    step = graph.steps[k]
    values = fg.numpy_values(dataclasses_replace(graph, steps=graph.steps[:k],
                                                 outputs=list(step.args)))
    params = _invalid_params(step, values[0], avoid)
    if params is None:
        return
    bad = fg.Step(step.op, step.args, params, step.outs)
    probe = dataclasses_replace(graph, steps=graph.steps[:k] + [bad], outputs=list(step.outs))
    raised = {}
    for lib, make in (("mg", fg.mg_leaves), ("torch", fg.torch_leaves)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fg.run(probe, lib, make(probe))
            raised[lib] = None
        except Exception as err:  # noqa: BLE001
            raised[lib] = f"{type(err).__name__}: {err}"
    stats["invalid-argument probes"] += 1
    if raised["mg"] and raised["torch"]:
        stats["invalid-argument probes: both raise"] += 1
    elif not raised["mg"] and not raised["torch"]:
        stats["invalid-argument probes: both accept"] += 1
    else:
        kind = "invalid error-torch" if raised["torch"] else "invalid error-mg"
        tally.add(kind, step.op, len(probe.steps),
                  f"{step.op} with {params} on shape {values[0].shape}: minigrad "
                  f"{raised['mg'] or 'accepts'}; torch {raised['torch'] or 'accepts'}\n"
                  f"{probe.describe()}")


def dataclasses_replace(graph, **changes):
    import dataclasses
    return dataclasses.replace(graph, **changes)


# ---- recurrent layers ----------------------------------------------------------------------
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "lstm_peephole", "lstm_coupled",
         "lstm_peephole_coupled", "gru", "gru_reset_before"]
IN_TORCH = {"rnn_tanh", "rnn_relu", "lstm", "gru"}


def random_config(rng):
    kind = KINDS[rng.integers(len(KINDS))]
    unbatched = rng.random() < 0.1
    cfg = dict(
        kind=kind,
        T=int(rng.integers(1, 7)), B=int(rng.integers(1, 5)), I=int(rng.integers(1, 6)),
        H=int(rng.integers(1, 7)), num_layers=int(rng.integers(1, 4)),
        bidirectional=bool(rng.random() < 0.5), batch_first=bool(rng.random() < 0.4),
        bias=bool(rng.random() < 0.8), fused=bool(rng.random() < 0.5),
        dtype="float64" if rng.random() < 0.75 else "float32",
        unbatched=unbatched, h0=bool(rng.random() < 0.6),
    )
    if not unbatched and rng.random() < 0.5:
        cfg["lengths"] = [int(v) for v in rng.integers(1, cfg["T"] + 1, size=cfg["B"])]
    return cfg


def _ctor_kwargs(cfg):
    kw = dict(num_layers=cfg["num_layers"], bias=cfg["bias"], batch_first=cfg["batch_first"],
              bidirectional=cfg["bidirectional"])
    kind = cfg["kind"]
    if kind.startswith("rnn"):
        kw["nonlinearity"] = kind.split("_")[1]
    if "peephole" in kind:
        kw["peephole"] = True
    if "coupled" in kind:
        kw["coupled"] = True
    if kind == "gru_reset_before":
        kw["reset_after"] = False
    return kw


def _mg_layer(cfg, fused, state=None):
    import models
    cls = {"rnn": models.RNN, "lstm": models.LSTM, "gru": models.GRU}[cfg["kind"].split("_")[0]]
    layer = cls(cfg["I"], cfg["H"], fused=fused, dtype=np.dtype(cfg["dtype"]),
                **_ctor_kwargs(cfg))
    if state is not None:
        layer.load_state_dict(state)
    return layer


def _data(cfg, rng):
    """x, h0, c0 (or None) and the projection weights, as float64 arrays."""
    D = 2 if cfg["bidirectional"] else 1
    T, B, H, L = cfg["T"], cfg["B"], cfg["H"], cfg["num_layers"]
    if cfg["unbatched"]:
        x_shape, s_shape, o_shape = (T, cfg["I"]), (L * D, H), (T, D * H)
    elif cfg["batch_first"]:
        x_shape, s_shape, o_shape = (B, T, cfg["I"]), (L * D, B, H), (B, T, D * H)
    else:
        x_shape, s_shape, o_shape = (T, B, cfg["I"]), (L * D, B, H), (T, B, D * H)
    x = rng.standard_normal(x_shape)
    h0 = rng.standard_normal(s_shape) * 0.5 if cfg["h0"] else None
    c0 = rng.standard_normal(s_shape) * 0.5 if cfg["h0"] and "lstm" in cfg["kind"] else None
    weights = [rng.standard_normal(o_shape), rng.standard_normal(s_shape),
               rng.standard_normal(s_shape)]
    return x, h0, c0, weights


def _second_weight(name, shape):
    """The same random cotangent for a gradient in both libraries (one process)."""
    return np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape)


def run_mg(cfg, layer, x, h0, c0, weights, second=False):
    """outputs [out, h_n, (c_n)] and gradients {x, h0, c0, params...} as float64 arrays; with
    ``second``, also the gradients of sum(w * gradient) ("2:" + name)."""
    dt = np.dtype(cfg["dtype"])
    xm = mg.tensor(x.astype(dt), requires_grad=True)
    h0m = None if h0 is None else mg.tensor(h0.astype(dt), requires_grad=True)
    c0m = None if c0 is None else mg.tensor(c0.astype(dt), requires_grad=True)
    hx = h0m if c0m is None else (h0m, c0m)
    kw = {"lengths": cfg["lengths"]} if "lengths" in cfg else {}
    out, state = layer(xm, hx, **kw)
    h_n, c_n = state if isinstance(state, tuple) else (state, None)
    loss = (out * mg.tensor(weights[0].astype(dt))).sum() + (
        h_n * mg.tensor(weights[1].astype(dt))).sum()
    if c_n is not None:
        loss = loss + (c_n * mg.tensor(weights[2].astype(dt))).sum()
    named = [(n, t) for n, t in (("x", xm), ("h0", h0m), ("c0", c0m)) if t is not None]
    named += list(layer.named_parameters())
    grads = mg.grad(loss, [t for _, t in named], allow_unused=True, create_graph=second)
    outs = [out.numpy(), h_n.numpy()] + ([] if c_n is None else [c_n.numpy()])
    gs = {n: np.zeros(t.shape) if g is None else np.asarray(g.numpy(), dtype=np.float64)
          for (n, t), g in zip(named, grads, strict=True)}
    if second:
        total = sum((g * mg.tensor(_second_weight(n, g.shape))).sum()
                    for (n, _), g in zip(named, grads, strict=True) if g is not None)
        hs = mg.grad(total, [t for _, t in named], allow_unused=True)
        gs.update({"2:" + n: np.zeros(t.shape) if h is None else np.asarray(h.numpy())
                   for (n, t), h in zip(named, hs, strict=True)})
    return [np.asarray(o, dtype=np.float64) for o in outs], gs


def run_torch(cfg, state, x, h0, c0, weights, second=False):
    tdt = torch.float64 if cfg["dtype"] == "float64" else torch.float32
    kind = cfg["kind"].split("_")[0]
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    layer = cls(cfg["I"], cfg["H"], **_ctor_kwargs(cfg)).to(tdt)
    layer.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    xt = torch.tensor(x, dtype=tdt, requires_grad=True)
    h0t = None if h0 is None else torch.tensor(h0, dtype=tdt, requires_grad=True)
    c0t = None if c0 is None else torch.tensor(c0, dtype=tdt, requires_grad=True)
    if kind == "lstm" and h0t is not None:
        hx = (h0t, c0t)
    else:
        hx = h0t
    if "lengths" in cfg:
        packed = rnn_utils.pack_padded_sequence(xt, torch.tensor(cfg["lengths"]),
                                                batch_first=cfg["batch_first"],
                                                enforce_sorted=False)
        out_p, state_t = layer(packed, hx)
        out, _ = rnn_utils.pad_packed_sequence(out_p, batch_first=cfg["batch_first"],
                                               total_length=cfg["T"])
    else:
        out, state_t = layer(xt, hx)
    h_n, c_n = state_t if isinstance(state_t, tuple) else (state_t, None)
    loss = (out * torch.tensor(weights[0], dtype=tdt)).sum() + (
        h_n * torch.tensor(weights[1], dtype=tdt)).sum()
    if c_n is not None:
        loss = loss + (c_n * torch.tensor(weights[2], dtype=tdt)).sum()
    named = [(n, t) for n, t in (("x", xt), ("h0", h0t), ("c0", c0t)) if t is not None]
    named += list(layer.named_parameters())
    grads = torch.autograd.grad(loss, [t for _, t in named], allow_unused=True,
                                create_graph=second)
    gs = {n: np.zeros(tuple(t.shape)) if g is None else g.detach().numpy().astype(np.float64)
          for (n, t), g in zip(named, grads, strict=True)}
    if second:
        total = sum((g * torch.tensor(_second_weight(n, tuple(g.shape)))).sum()
                    for (n, _), g in zip(named, grads, strict=True) if g is not None)
        hs = torch.autograd.grad(total, [t for _, t in named], allow_unused=True)
        gs.update({"2:" + n: np.zeros(tuple(t.shape)) if h is None else fg._torch_np(h)
                   for (n, t), h in zip(named, hs, strict=True)})
    outs = [out.detach().numpy(), h_n.detach().numpy()] + (
        [] if c_n is None else [c_n.detach().numpy()])
    return [o.astype(np.float64) for o in outs], gs


def _compare(a, b, dtype):
    rtol, atol = (1e-9, 1e-11) if dtype == "float64" else (2e-4, 2e-5)
    return fg._close(a, b, rtol, atol)


def soak_rnn(n, seed, tally, stats):
    rng = np.random.default_rng([seed, 10**6])
    for i in tqdm(range(n), desc="layers", unit="config", mininterval=2.0):
        cfg = random_config(rng)
        x, h0, c0, weights = _data(cfg, rng)
        stats["layer configurations"] += 1
        stats[f"layers {cfg['kind']}"] += 1
        against_torch = cfg["kind"] in IN_TORCH and torch is not None
        label = "torch" if against_torch else "fused-vs-unrolled"
        stats[f"layers compared {label}"] += 1
        size = cfg["T"] * cfg["B"] * cfg["H"] * cfg["num_layers"]
        text = f"config {i} (seed [{seed}, 10**6]): {cfg}"
        # a: minigrad on the configured path (or fused); b: the reference
        # the weights: minigrad's init drawn once in float64, loaded into every side
        init = _mg_layer(dict(cfg, dtype="float64"), True)
        state = {k: np.array(v, dtype=np.float64) for k, v in init.state_dict().items()}
        state = {k: v.astype(cfg["dtype"]) for k, v in state.items()}
        err_a = err_b = None
        # second derivatives too where both sides have them: PyTorch's kinds on the unrolled
        # path in float64 (the fused path is first order only, by design)
        second = against_torch and not cfg["fused"] and cfg["dtype"] == "float64"
        stats["second derivatives: layers unrolled vs PyTorch"] += second
        try:
            res_a = run_mg(cfg, _mg_layer(cfg, cfg["fused"] if against_torch else True, state),
                           x, h0, c0, weights, second)
        except Exception as err:  # noqa: BLE001 - every error is a finding here
            err_a = f"{type(err).__name__}: {err}"
        try:
            if against_torch:
                res_b = run_torch(cfg, state, x, h0, c0, weights, second)
            else:
                res_b = run_mg(cfg, _mg_layer(cfg, False, state), x, h0, c0, weights)
        except Exception as err:  # noqa: BLE001
            err_b = f"{type(err).__name__}: {err}"
        side_a = "error-mg" if against_torch else "error-fused"
        side_b = "error-torch" if against_torch else "error-unrolled"
        if err_a and err_b:
            tally.add("rnn error-both", cfg["kind"], size, f"{text}\n{err_a}\n{err_b}")
            continue
        if err_a or err_b:
            tally.add(f"rnn {side_a if err_a else side_b}", cfg["kind"], size,
                      f"{text}\n{err_a or err_b}")
            continue
        outs_a, grads_a = res_a
        outs_b, grads_b = res_b
        for k, (a, b) in enumerate(zip(outs_a, outs_b, strict=True)):
            msg = _compare(a, b, cfg["dtype"])
            if msg:
                tally.add(f"rnn value-{label}", cfg["kind"], size,
                          f"{text}\n{['output', 'h_n', 'c_n'][k]}: {msg}")
        if set(grads_a) != set(grads_b):
            tally.add(f"rnn names-{label}", cfg["kind"], size,
                      f"{text}\n{sorted(grads_a)} vs {sorted(grads_b)}")
            continue
        for name in grads_a:
            msg = _compare(grads_a[name], grads_b[name], cfg["dtype"])
            if msg:
                order = "grad2" if name.startswith("2:") else "grad"
                tally.add(f"rnn {order}-{label}", cfg["kind"], size,
                          f"{text}\nd/d{name}: {msg}")


# ---- the known bugs (issue 14, being fixed now): probes, reported apart --------------------
def _probe_pair(build):
    """build(lib) -> numpy arrays (values and gradients); lib is mg or torch."""
    out = {}
    for name, lib in (("mg", mg), ("torch", torch)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[name] = [np.asarray(v, dtype=np.float64) for v in build(name, lib)]
        except Exception as err:  # noqa: BLE001
            out[name] = f"{type(err).__name__}: {str(err)[:120]}"
    a, b = out["mg"], out["torch"]
    if isinstance(a, str) or isinstance(b, str):
        if isinstance(a, str) and isinstance(b, str):
            return "both raise"
        return f"one-sided error: {'minigrad' if isinstance(a, str) else 'torch'} raises ({a if isinstance(a, str) else b})"  # noqa: E501
    if len(a) != len(b) or any(x.shape != y.shape or not np.allclose(x, y, equal_nan=True)
                               for x, y in zip(a, b, strict=False)):
        return f"differ: minigrad {[x.tolist() for x in a]} vs torch {[y.tolist() for y in b]}"
    return "agree"


def _leaf(lib, values):
    if lib is mg:
        return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def _grad(lib, out, x):
    if lib is mg:
        return mg.grad(out, [x])[0].numpy()
    return torch.autograd.grad(out, [x])[0].detach().numpy()


def known_probes():
    """Each issue-14 bug known when the fuzz was written, probed once against PyTorch (the
    generator leaves out those it cannot reach: NaN, empty tensors, in-place ops ...)."""
    nan = float("nan")

    def abs_nan(name, lib):
        x = _leaf(lib, [nan, 1.0, -2.0])
        return [_grad(lib, x.abs().sum(), x)]

    def amax_nan(name, lib):
        x = _leaf(lib, [[nan, 1.0], [2.0, 3.0]])
        return [_grad(lib, lib.amax(x, dim=1).sum(), x)]

    def max_dim_nan(name, lib):
        x = _leaf(lib, [[1.0, nan, 0.5], [2.0, 3.0, 3.0]])
        values, indices = lib.max(x, dim=1)
        return [values.detach().numpy() if name == "torch" else values.numpy(),
                np.asarray(indices), _grad(lib, values.sum(), x)]

    def min_nan(name, lib):
        x = _leaf(lib, [1.0, nan, -3.0])
        return [_grad(lib, lib.min(x), x)]

    def transpose_0d(name, lib):
        x = _leaf(lib, 2.0)
        y = x.transpose(0, 0)
        return [y.detach().numpy() if name == "torch" else y.numpy(), _grad(lib, y * 3, x)]

    def index_select_empty(name, lib):
        x = _leaf(lib, np.zeros((0, 3)))
        idx = np.zeros(0, dtype=np.int64)
        y = lib.index_select(x, 0, torch.tensor(idx) if name == "torch" else idx)
        return [np.asarray(y.shape), _grad(lib, y.sum(), x)]

    def chunk_empty(name, lib):
        x = _leaf(lib, np.zeros((0, 2)))
        parts = lib.chunk(x, 2, 0)
        return [np.asarray([p.shape for p in parts]).reshape(-1, 2)]

    def var_correction(name, lib):
        x = _leaf(lib, [1.0, 2.0])
        v = lib.var(x, correction=2) if name == "mg" else torch.var(x, correction=2)
        return [np.asarray(v.item()), _grad(lib, v, x)]

    def concat_one(name, lib):
        x = _leaf(lib, [1.0, 2.0])
        y = lib.concat([x], 0) if name == "mg" else torch.cat([x], 0)
        return [np.asarray(y is x, dtype=np.float64)]

    def embedding_padding_neg(name, lib):
        w = _leaf(lib, np.arange(6.0).reshape(3, 2))
        idx = np.array([0, 2, 2])
        if name == "mg":
            y = mg.embedding(w, idx, padding_idx=-1)
        else:
            y = torch.nn.functional.embedding(torch.tensor(idx), w, padding_idx=-1)
        return [_grad(lib, y.sum(), w)]

    def complex_input(name, lib):
        x = lib.tensor([1 + 2j, 3.0])
        return [np.asarray(x.abs().tolist() if name == "torch" else x.abs().numpy())]

    def string_input(name, lib):
        return [np.asarray(lib.tensor(["a", "b"]).shape)]

    def inplace_on_leaf(name, lib):
        x = _leaf(lib, [1.0, 2.0])
        x.add_(1.0)
        return [x.detach().numpy() if name == "torch" else x.numpy()]

    probes = [abs_nan, amax_nan, max_dim_nan, min_nan, transpose_0d, index_select_empty,
              chunk_empty, var_correction, concat_one, embedding_padding_neg, complex_input,
              string_input, inplace_on_leaf]
    return [(p.__name__, _probe_pair(p)) for p in probes]


# ---- report --------------------------------------------------------------------------------
def report(stats, tally, seconds):
    print()
    print(f"soak finished in {seconds:.0f} s; torch {'installed' if torch else 'NOT installed'}")
    for key in ("graphs", "graphs (smooth)", "graphs (grid)", "graphs (ties)", "graphs (float32)",
                "graphs skipped (nothing generated)", "ops", "ops at a kink (ties mode)",
                "graphs checked by central differences", "graphs checked against PyTorch",
                "invalid-argument probes", "invalid-argument probes: both raise",
                "invalid-argument probes: both accept",
                "layer configurations", "layers compared torch",
                "layers compared fused-vs-unrolled",
                "second derivatives: layers unrolled vs PyTorch"):
        print(f"  {key:42s} {stats[key]:8d}")
    ops = sorted((k[3:], v) for k, v in stats.items() if k.startswith("op "))
    print("  ops by name: " + ", ".join(f"{k} {v}" for k, v in ops))
    kinds = sorted((k[7:], v) for k, v in stats.items() if k.startswith("layers ")
                   and not k.startswith("layers compared"))
    print("  layers by kind: " + ", ".join(f"{k} {v}" for k, v in kinds))
    print()
    total = sum(tally.kinds.values())
    one_sided = sum(v for k, v in tally.kinds.items()
                    if any(k.endswith(e) for e in ERROR_KINDS))
    print(f"mismatches: {total} (one-sided errors: {one_sided})")
    for kind, count in sorted(tally.kinds.items()):
        print(f"  {kind:30s} {count:6d}")
    for (kind, what), count in sorted(tally.by_what.items()):
        print(f"\n--- {kind} x{count} [{what}]; smallest:")
        print(tally.examples[(kind, what)][1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--graphs", type=int, default=10_000)
    parser.add_argument("--rnn", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="300 graphs and 24 layers")
    parser.add_argument("--with-found", action="store_true",
                        help="also generate the patterns of bugs already found (FOUND)")
    args = parser.parse_args(argv)
    if args.quick:
        args.graphs, args.rnn = min(args.graphs, 300), min(args.rnn, 24)
    print(f"seed {args.seed}: {args.graphs} graphs, {args.rnn} layer configurations; "
          f"avoided found bugs: {[] if args.with_found else sorted(fg.FOUND)}")
    stats, tally = collections.Counter(), Tally()
    t0 = time.perf_counter()
    soak_graphs(args.graphs, args.seed, args.with_found, tally, stats)
    soak_rnn(args.rnn, args.seed, tally, stats)
    report(stats, tally, time.perf_counter() - t0)
    if torch is not None:
        print("\nthe issue-14 bugs known when the fuzz was written (most fixed in 71c85fe), "
              "probed once each against PyTorch:")
        for name, verdict in known_probes():
            print(f"  {name:24s} {verdict}")
    return 1 if tally.kinds else 0


if __name__ == "__main__":
    sys.exit(main())
