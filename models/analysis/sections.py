"""The experiments behind the report, one function per section.

Each section function takes a ``Config`` and a ``Context`` (output folder, the ``Report`` being
built, a progress callback), runs its measurements with the toolkit (``jacobian_norms``,
``gradient_flow``, ``GradientMonitor``), draws its figure, writes every number to a CSV under
``data/``, adds its blocks to the report and returns a dict of headline numbers.
"""

import csv
import os
import time
from dataclasses import dataclass, field

import numpy as np

import minigrad as mg

from ..cell.registry import NAMES
from . import plots
from .diagnostics import GradientMonitor
from .jacobians import jacobian_norms
from .report import Table, fmt
from .spectral import (
    identity_recurrent_,
    orthogonal_recurrent_,
    set_forget_bias_,
    spectral_radius,
)
from .tasks import LastStepRegressor, adding_problem
from .variants import ElmanRNN


@dataclass
class Config:
    """Sizes of every experiment; ``Config.quick()`` shrinks them for tests."""

    quick: bool = False
    seed: int = 0
    hidden: int = 32
    batch: int = 8                   # sequences per Jacobian measurement
    sweep_steps: int = 60            # T of the sigma_max sweep
    sigmas: tuple = (0.5, 0.9, 1.0, 1.1, 1.5)
    compare_steps: int = 100         # T of the model comparison and the remedies
    explode_steps: int = 1000        # training steps of the exploding-gradient runs
    explode_seq: int = 30
    explode_lr: float = 0.003
    explode_seeds: int = 1           # extra seeds repeat each run (the table shows all)
    heat_steps: int = 600            # training steps of the heatmap runs
    heat_seq: int = 20
    heat_every: int = 15
    train_batch: int = 32
    derive_models: tuple = NAMES  # the built-in kinds (models.cell.registry)
    render_steps: int = 5

    @classmethod
    def quick_config(cls, seed=0):
        return cls(quick=True, seed=seed, hidden=6, batch=2, sweep_steps=12, compare_steps=14,
                   explode_steps=12, explode_seq=8, explode_seeds=1, heat_steps=12,
                   heat_seq=6, heat_every=4, train_batch=8, derive_models=("rnn",),
                   render_steps=3)


@dataclass
class Context:
    out_dir: str
    report: object
    progress: object = None          # callable(str) or None
    timings: dict = field(default_factory=dict)

    def path(self, *parts):
        full = os.path.join(self.out_dir, *parts)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def folder(self, *parts):
        full = os.path.join(self.out_dir, *parts)
        os.makedirs(full, exist_ok=True)
        return full

    def note(self, text):
        if self.progress is not None:
            self.progress(text)


def write_csv(path, headers, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(headers)
        for row in rows:
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v
                        for v in row])
    return path


def _picks(n, wanted=(1, 2, 5, 10, 20, 30, 50, 75, 99)):
    """Distances to show in a table for curves of ``n`` points (the last one always)."""
    picked = [d for d in wanted if d < n - 1]
    return picked + [n - 1]


def _first_below(curve, level=1e-3):
    idx = np.nonzero(np.asarray(curve) < level)[0]
    return int(idx[0]) if idx.size else None


def _rate(curve):
    """The mean per-step factor between distance 1 and the last distance."""
    c = np.asarray(curve, dtype=np.float64)
    if len(c) < 3 or c[1] <= 0 or c[-1] <= 0:
        return float("nan")
    return float((c[-1] / c[1]) ** (1.0 / (len(c) - 2)))


# ---- 1. the sigma_max sweep ----------------------------------------------------------------
def sigma_sweep(cfg, ctx):
    import models

    steps, batch, hidden = cfg.sweep_steps, cfg.batch, cfg.hidden
    x = np.random.default_rng(cfg.seed).standard_normal((steps, batch, 1))
    curves, table_rows, csv_rows = [], [], []
    holds_all = True
    for sigma in cfg.sigmas:
        ctx.note(f"sigma sweep: sigma_max = {sigma}")
        mg.manual_seed(cfg.seed)
        rnn = models.RNN(1, hidden, fused=False, dtype=np.float64)
        orthogonal_recurrent_(rnn, sigma, generator=np.random.default_rng(cfg.seed + 1))
        jn = jacobian_norms(rnn, x)
        curve = jn.curve()
        ratio = float(np.max(jn.spectral / jn.bound))
        holds = ratio <= 1 + 1e-9
        holds_all &= holds
        curves.append({"label": fr"$\sigma_{{max}}$ = {sigma}", "x": jn.distance, "y": curve,
                       "bound": jn.bound, "band": (jn.spectral.min(0), jn.spectral.max(0))})
        last = len(curve) - 1
        mid = min(10, last)
        table_rows.append([sigma, jn.gamma, spectral_radius(rnn.weight_hh_l0), float(curve[mid]),
                           float(jn.bound[mid]), float(curve[last]), float(jn.bound[last]),
                           _rate(curve), holds])
        for d in jn.distance:
            csv_rows.append([sigma, int(d), float(curve[d]), float(jn.spectral[:, d].min()),
                             float(jn.spectral[:, d].max()), float(jn.curve("frobenius")[d]),
                             float(jn.bound[d])])
    fig = plots.distance_curves(
        ctx.path("fig1_sigma_sweep.png"), curves,
        f"tanh RNN, H = {hidden}: ||dh_T/dh_t|| vs distance (T = {steps})",
        r"$\|\partial h_T/\partial h_t\|_2$ (geometric mean over batch)",
        ylim=None)
    data = write_csv(ctx.path("data", "fig1_sigma_sweep.csv"),
                     ["sigma_max", "distance", "spectral_geomean", "spectral_min",
                      "spectral_max", "frobenius_geomean", "bound"], csv_rows)
    r = ctx.report
    r.heading("1. Vanishing and exploding: the sigma_max sweep")
    r.paragraph(
        f"A tanh RNN (`models.RNN(1, {hidden}, fused=False)`, float64) with W_hh set to "
        "sigma_max times a random orthogonal matrix (`orthogonal_recurrent_(rnn, sigma)`, so "
        "every singular value equals sigma_max), run on "
        f"{batch} sequences of N(0, 1) inputs of length {steps}. Solid lines: the spectral "
        "norm of dh_T/dh_t measured by `jacobian_norms` (reverse accumulation over the "
        "recorded graph; geometric mean over the batch, shaded: min to max). Dashed: the "
        "bound (gamma sigma_max)^(T-t) of Pascanu, Mikolov & Bengio (2013), gamma = sup|tanh'| "
        "= 1 derived by sympy.")
    r.figure(fig.split(os.sep)[-1], "||dh_T/dh_t|| against distance T - t, log scale, "
             "with the bound over each curve", Table(
                 ["sigma_max", "gamma", "spectral radius", f"norm d={mid}", f"bound d={mid}",
                  f"norm d={last}", f"bound d={last}", "per-step factor", "bound holds"],
                 table_rows), links=[("every number (CSV)", "data/fig1_sigma_sweep.csv")])
    r.paragraph(
        "Reading: below sigma_max = 1/gamma = 1 the bound itself decays geometrically, so the "
        "gradient must vanish (the sufficient condition); above it the bound grows, which "
        "allows — but does not force — explosion (the necessary condition). The measured "
        "per-step factor stays below sigma_max because tanh' = 1 - h^2 < 1 wherever the state "
        "is not exactly zero; at sigma_max = 1.5 the states saturate, which keeps the growth "
        "far below the bound.")
    return {"figure": fig, "data": data, "bound_holds": holds_all,
            "last_norms": {row[0]: row[5] for row in table_rows}}


# ---- 2. RNN vs LSTM vs GRU -------------------------------------------------------------------
def _model_zoo(cfg, kinds):
    import models

    hidden = cfg.hidden
    made = []
    for kind in kinds:
        mg.manual_seed(cfg.seed)
        if kind == "rnn":
            m, label = models.RNN(2, hidden, fused=False, dtype=np.float64), "tanh RNN"
        elif kind == "lstm":
            m, label = models.LSTM(2, hidden, fused=False, dtype=np.float64), "LSTM"
        elif kind == "lstm_fb1":
            m = models.LSTM(2, hidden, fused=False, dtype=np.float64)
            set_forget_bias_(m, 1.0)
            label = "LSTM, forget bias 1"
        elif kind == "gru":
            m, label = models.GRU(2, hidden, fused=False, dtype=np.float64), "GRU"
        elif kind == "relu":
            m = models.RNN(2, hidden, nonlinearity="relu", fused=False, dtype=np.float64)
            label = "ReLU RNN"
        elif kind == "leaky":
            m = ElmanRNN(2, hidden, nonlinearity="leaky_relu", negative_slope=0.1,
                         dtype=np.float64)
            label = "leaky ReLU RNN (slope 0.1)"
        elif kind == "orth":
            m = models.RNN(2, hidden, fused=False, dtype=np.float64)
            orthogonal_recurrent_(m, 1.0, generator=np.random.default_rng(cfg.seed + 1))
            label = "tanh RNN, orthogonal init"
        elif kind == "irnn":
            m = models.RNN(2, hidden, nonlinearity="relu", fused=False, dtype=np.float64)
            identity_recurrent_(m)
            label = "IRNN (ReLU, identity init)"
        elif kind == "leaky_eye":
            m = ElmanRNN(2, hidden, nonlinearity="leaky_relu", negative_slope=0.1,
                         dtype=np.float64)
            identity_recurrent_(m)
            label = "leaky ReLU, identity init"
        elif kind == "skip":
            m = ElmanRNN(2, hidden, skip=1, dtype=np.float64)
            label = "tanh RNN + skip (h_t += h_{t-1})"
        else:
            raise ValueError(kind)
        made.append((kind, label, m))
    return made


def _adding_inputs(cfg, steps):
    x, _ = adding_problem(cfg.batch, steps, np.random.default_rng(cfg.seed), np.float64)
    return x


def model_comparison(cfg, ctx):
    steps = cfg.compare_steps
    x = _adding_inputs(cfg, steps)
    curves, rows, csv_rows = [], [], []
    picks = _picks(steps)
    summary = {}
    for i, (_, label, m) in enumerate(_model_zoo(cfg, ("rnn", "lstm", "lstm_fb1", "gru"))):
        ctx.note(f"models: {label}")
        jn = jacobian_norms(m, x)
        curve = jn.curve()
        color = f"C{i}"
        curves.append({"label": f"{label} ({'(h, c)' if 'c' in jn.blocks else 'h'})",
                       "x": jn.distance, "y": curve, "color": color,
                       "band": (jn.spectral.min(0), jn.spectral.max(0))})
        params = m.num_parameters()
        rows.append([label, "state" if jn.blocks else "h", params]
                    + [float(curve[d]) for d in picks] + [_first_below(curve)])
        summary[label] = float(curve[-1])
        for d in jn.distance:
            csv_rows.append([label, "state", int(d), float(curve[d])])
        if "c" in jn.blocks:
            cc = jn.curve("c")
            curves.append({"label": f"{label}: dc_T/dc_t block", "x": jn.distance, "y": cc,
                           "color": color, "style": ":"})
            rows.append([label, "c block", params] + [float(cc[d]) for d in picks]
                        + [_first_below(cc)])
            for d in jn.distance:
                csv_rows.append([label, "c", int(d), float(cc[d])])
    fig = plots.distance_curves(
        ctx.path("fig2_models.png"), curves,
        f"RNN vs LSTM vs GRU at H = {cfg.hidden}, adding-problem inputs, T = {steps}",
        r"$\|\partial s_T/\partial s_t\|_2$ (state $s$ = h, or (h, c))")
    data = write_csv(ctx.path("data", "fig2_models.csv"),
                     ["model", "block", "distance", "spectral_geomean"], csv_rows)
    r = ctx.report
    r.heading("2. Vanishing vs the carousel: RNN, LSTM and GRU")
    r.paragraph(
        f"The same measurement for `models.RNN`, `models.LSTM` and `models.GRU` with "
        f"hidden_size {cfg.hidden} (PyTorch's init), on {cfg.batch} adding-problem input "
        f"sequences of length {steps}. For the LSTM the state is (h_t, c_t) and the curve is "
        "the spectral norm of the full 2H x 2H product of per-step Jacobians "
        "d(h_t, c_t)/d(h_{t-1}, c_{t-1}); dotted: its dc_T/dc_t block, whose direct path is "
        "prod diag(f_t), the constant error carousel. 'first < 1e-3': the distance at which "
        "the norm first drops below 1e-3.")
    r.figure(fig.split(os.sep)[-1], "State-Jacobian norms against distance for the three "
             "cells at matched hidden size", Table(
                 ["model", "block", "parameters"] + [f"d={d}" for d in picks]
                 + ["first < 1e-3"], rows),
             links=[("every number (CSV)", "data/fig2_models.csv")])
    r.paragraph(
        "Reading: the carousel is not automatic. With PyTorch's init the forget gate starts "
        "near sigmoid(0) = 1/2 and the LSTM's state Jacobian decays almost as fast as the tanh "
        "RNN's; a forget-gate bias of 1 (Gers et al. 2000; Jozefowicz et al. 2015) moves f "
        "towards 0.73 and the decay per step slows accordingly. What the gates buy is that the "
        "decay rate is *learned*: section 4 shows an LSTM opening its carousel during "
        "training, which the tanh RNN, whose factor is fixed by W_hh and tanh', cannot do.")
    return {"figure": fig, "data": data, "last_norms": summary}


# ---- 3. remedies ---------------------------------------------------------------------------
def remedies(cfg, ctx):
    steps = cfg.compare_steps
    x = _adding_inputs(cfg, steps)
    kinds = ("rnn", "relu", "leaky", "orth", "irnn", "leaky_eye", "skip", "lstm_fb1", "gru")
    curves, rows, csv_rows = [], [], []
    picks = _picks(steps, (1, 10, 25, 50, 99))
    summary = {}
    for kind, label, m in _model_zoo(cfg, kinds):
        ctx.note(f"remedies: {label}")
        jn = jacobian_norms(m, x)
        curve = jn.curve()
        curves.append({"label": label, "x": jn.distance, "y": curve,
                       "style": "-" if kind not in ("lstm_fb1", "gru") else "--"})
        rows.append([label] + [float(curve[d]) for d in picks] + [_first_below(curve)])
        summary[label] = float(curve[-1])
        csv_rows += [[label, int(d), float(curve[d])] for d in jn.distance]
    fig = plots.distance_curves(
        ctx.path("fig3_remedies.png"), curves,
        f"Remedies for vanishing gradients (H = {cfg.hidden}, T = {steps})",
        r"$\|\partial s_T/\partial s_t\|_2$")
    data = write_csv(ctx.path("data", "fig3_remedies.csv"),
                     ["remedy", "distance", "spectral_geomean"], csv_rows)
    r = ctx.report
    r.heading("3. The lectures' remedies")
    r.heading("3a. Vanishing gradients", level=3)
    r.paragraph(
        "Each remedy on the same inputs (adding-problem sequences), measured the same way. "
        "ReLU and leaky ReLU remove tanh's saturation (phi' = 1 where active) but keep "
        "PyTorch's small random W_hh, so they still vanish; what rescues them is the init: "
        "identity (IRNN, Le, Jaitly & Hinton 2015) or orthogonal (Saxe et al. 2014) W_hh keeps "
        "every singular value at 1. The skip connection (`ElmanRNN(skip=1)`, "
        "h_t = tanh(...) + h_{t-1}) adds an identity path through time, so nothing vanishes "
        "— and the norm may grow instead. LSTM (forget bias 1) and GRU for comparison.")
    r.figure(fig.split(os.sep)[-1], "||ds_T/ds_t|| for each remedy", Table(
        ["remedy"] + [f"d={d}" for d in picks] + ["first < 1e-3"], rows),
        links=[("every number (CSV)", "data/fig3_remedies.csv")])
    return {"figure": fig, "data": data, "last_norms": summary}


def _mse_to(y):
    target = mg.tensor(y)
    return lambda out: mg.nn.functional.mse_loss(out, target)


def _train_adding(model, cfg, steps, seq, optimizer, monitor, bar_label, ctx, seed):
    rng = np.random.default_rng(seed)
    dtype = next(iter(model.parameters())).dtype
    for step in range(steps):
        x, y = adding_problem(cfg.train_batch, seq, rng, dtype)
        monitor.train_step(mg.tensor(x), _mse_to(y), optimizer)
        if step % 50 == 0:
            ctx.note(f"{bar_label}: step {step}/{steps}")
    return monitor


def _explode_run(cfg, ctx, label, lr, clip, seed):
    import models

    mg.manual_seed(seed)
    rnn = models.RNN(2, cfg.hidden, nonlinearity="relu")
    identity_recurrent_(rnn)
    net = LastStepRegressor(rnn)
    opt = mg.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    monitor = GradientMonitor(net, max_norm=clip, states_every=0)
    with np.errstate(over="ignore", invalid="ignore"):
        _train_adding(net, cfg, cfg.explode_steps, cfg.explode_seq, opt, monitor,
                      f"{label} (seed {seed})", ctx, seed)
    losses = np.where(np.isfinite(monitor.losses), monitor.losses, np.nan)
    tail = losses[-max(1, cfg.explode_steps // 10):]
    final = float(np.nanmean(tail)) if np.isfinite(tail).any() else float("nan")
    return monitor, losses, final


def exploding(cfg, ctx):
    seq, steps, lr = cfg.explode_seq, cfg.explode_steps, cfg.explode_lr
    runs = [(f"lr {lr:g}, no clipping", lr, None),
            (f"lr {lr:g}, clip norm 1", lr, 1.0),
            (f"lr {lr / 10:g}, no clipping", lr / 10, None)]
    seeds = [cfg.seed + k for k in range(cfg.explode_seeds)]
    plot_runs, rows, csv_rows = [], [], []
    summary = {}
    window = max(1, steps // 10)
    for label, run_lr, clip in runs:
        finals = []
        for seed in seeds:
            monitor, losses, final = _explode_run(cfg, ctx, label, run_lr, clip, seed)
            finals.append(final)
            norms = np.array(monitor.total_norms)
            csv_rows += [[label, seed, i, float(a), float(b)]
                         for i, (a, b) in enumerate(zip(losses, norms, strict=True))]
            if seed != seeds[0]:
                continue
            later = losses[1:] if len(losses) > 1 else losses
            worst = int(np.nanargmax(later)) + 1 if np.isfinite(later).any() else 0
            shown = [label, float(losses[worst]), worst, float(np.nanmax(norms)),
                     len(monitor.clip_events), len(monitor.nonfinite_steps), final]
            plot_runs.append({"label": label, "loss": losses, "norm": norms, "max_norm": clip})
        rows.append(shown + ([" / ".join(f"{v:.3f}" for v in finals)] if len(seeds) > 1
                             else []))
        summary[label] = {"max_loss": shown[1], "max_norm": shown[3], "clips": shown[4],
                          "final": shown[6], "finals": finals}
    fig = plots.training_runs(
        ctx.path("fig3b_exploding.png"), plot_runs,
        f"IRNN on the adding problem (T = {seq}), SGD with momentum 0.9, seed {seeds[0]}",
        smooth=max(1, steps // 50))
    data = write_csv(ctx.path("data", "fig3b_exploding.csv"),
                     ["run", "seed", "step", "loss", "total_grad_norm"], csv_rows)
    r = ctx.report
    r.heading("3b. Exploding gradients: clipping and a smaller learning rate", level=3)
    r.paragraph(
        f"A ReLU RNN with identity init (IRNN, hidden {cfg.hidden}, fused) and a linear "
        f"read-out, trained with SGD (momentum 0.9) on the adding problem, T = {seq}, batch "
        f"{cfg.train_batch}, {steps} steps; the three runs share init and data. The identity "
        "init keeps the recurrent Jacobian's norm at 1 for active units, so a gradient can be "
        "amplified along the whole sequence: within the first steps the total gradient norm "
        "jumps by orders of magnitude, the update it causes sends the loss up and pushes ReLU "
        "units negative for good — the net never leaves the baseline 1/6. "
        "`GradientMonitor(max_norm=1)` clips the total norm (g <- theta g / ||g|| when "
        "||g|| > theta; Pascanu, Mikolov & Bengio 2013) and records every clipping event; the "
        "same run then learns. A 10x smaller learning rate also avoids the blow-up but learns "
        "slowly." + (f" The last column repeats each run for seeds {', '.join(map(str, seeds))}."
                     if len(seeds) > 1 else ""))
    r.figure(fig.split(os.sep)[-1], "Training loss (moving average; faint: per step) and "
             "total gradient norm before clipping; dotted: the clipping threshold", Table(
                 ["run", "max loss (step > 0)", "at step", "max grad norm", "clip events",
                  "non-finite steps", f"final loss (last {window} steps)"]
                 + (["final loss per seed"] if len(seeds) > 1 else []), rows),
             links=[("every number (CSV)", "data/fig3b_exploding.csv")])
    return {"figure": fig, "data": data, "runs": summary}


# ---- 4. heatmap ------------------------------------------------------------------------------
def _float64_twin(rnn):
    """An unrolled float64 copy of a recurrent layer (same class and options, same weights)
    for exact Jacobians."""
    import models

    cls = type(rnn)
    kwargs = {"fused": False, "dtype": np.float64}
    if cls is models.RNN:
        kwargs["nonlinearity"] = rnn.nonlinearity
    twin = cls(rnn.input_size, rnn.hidden_size, rnn.num_layers, **kwargs)
    twin.load_state_dict(rnn.state_dict())
    return twin


def heatmap(cfg, ctx):
    import models

    seq, steps = cfg.heat_seq, cfg.heat_steps
    panels, rows, csv_rows, curves, jac_rows, jac_csv = [], [], [], [], [], []
    summary = {}
    x_long = _adding_inputs(cfg, cfg.compare_steps)
    picks = _picks(cfg.compare_steps, (1, 10, 25, 50, 99))
    for i, (label, kind) in enumerate((("tanh RNN", "rnn"), ("LSTM, forget bias 1", "lstm"),
                                       ("GRU", "gru"))):
        mg.manual_seed(cfg.seed)
        if kind == "rnn":
            rnn = models.RNN(2, cfg.hidden)
        elif kind == "gru":
            rnn = models.GRU(2, cfg.hidden)
        else:
            rnn = models.LSTM(2, cfg.hidden)
            set_forget_bias_(rnn, 1.0)
        ctx.note(f"{label}: Jacobians at init")
        before = jacobian_norms(_float64_twin(rnn), x_long).curve()
        net = LastStepRegressor(rnn)
        opt = mg.optim.Adam(net.parameters(), lr=0.01)
        monitor = GradientMonitor(net, states_every=cfg.heat_every)
        _train_adding(net, cfg, steps, seq, opt, monitor, f"heatmap {label}", ctx, cfg.seed)
        ctx.note(f"{label}: Jacobians after training")
        after = jacobian_norms(_float64_twin(rnn), x_long).curve()
        color = f"C{i}"
        dist = np.arange(len(after))
        curves.append({"label": f"{label}, at init", "x": dist, "y": before, "color": color,
                       "style": ":"})
        curves.append({"label": f"{label}, trained", "x": dist, "y": after, "color": color})
        for when, c in (("init", before), ("trained", after)):
            jac_rows.append([label, when] + [float(c[d]) for d in picks])
            jac_csv += [[label, when, int(d), float(c[d])] for d in dist]
        rec_steps, matrix = monitor.heatmap(kind="h")
        losses = np.array(monitor.losses)
        smooth = np.array([np.mean(losses[max(0, s - cfg.heat_every + 1):s + 1])
                           for s in rec_steps])
        panels.append({"label": f"{label}: ||dL/dh_t||", "matrix": matrix, "steps": rec_steps,
                       "loss": smooth})
        for s, row, lo in zip(rec_steps, matrix, smooth, strict=True):
            csv_rows.append([label, int(s), float(lo)] + [float(v) for v in row])
        first, last = matrix[:, 0], matrix[:, -1]
        ratio = first / last
        summary[label] = {"ratio_start": float(ratio[0]), "ratio_end": float(ratio[-1]),
                          "loss_end": float(smooth[-1]), "jacobian_init": float(before[-1]),
                          "jacobian_trained": float(after[-1])}
        show = np.unique(np.linspace(0, len(rec_steps) - 1, min(5, len(rec_steps))).astype(int))
        for k in show:
            rows.append([label, int(rec_steps[k]), float(smooth[k]), float(first[k]),
                         float(matrix[k, seq // 2]), float(last[k]), float(ratio[k])])
    fig = plots.heatmaps(ctx.path("fig4_heatmap.png"), panels,
                         f"||dL/dh_t|| over training on the adding problem (T = {seq})")
    data = write_csv(ctx.path("data", "fig4_heatmap.csv"),
                     ["model", "step", "loss"] + [f"t={t}" for t in range(seq)], csv_rows)
    fig_b = plots.distance_curves(
        ctx.path("fig4b_trained.png"), curves,
        f"State-Jacobian norms before and after {steps} training steps (T = "
        f"{cfg.compare_steps})", r"$\|\partial s_T/\partial s_t\|_2$")
    data_b = write_csv(ctx.path("data", "fig4b_trained.csv"),
                       ["model", "when", "distance", "spectral_geomean"], jac_csv)
    r = ctx.report
    r.heading("4. Gradient flow during training")
    r.paragraph(
        f"A tanh RNN, an LSTM (forget bias 1) and a GRU, hidden {cfg.hidden}, fused, trained "
        f"with Adam (lr 0.01) on the adding problem with T = {seq}, batch {cfg.train_batch}, "
        f"{steps} steps. Every {cfg.heat_every} steps `GradientMonitor` runs the layer step by "
        "step (`exposed_states`) and hooks every h_t during the real backward pass: each row "
        "is ||dL/dh_t|| over the sequence at that training step (log colour scale shared by "
        "the panels), next to the loss.")
    r.figure(fig.split(os.sep)[-1], "log10 ||dL/dh_t|| over (training step, t), and the loss",
             Table(["model", "step", "loss", "||dL/dh_0||", f"||dL/dh_{seq // 2}||",
                    f"||dL/dh_{seq - 1}||", "first / last"], rows),
             links=[("every number (CSV)", "data/fig4_heatmap.csv")])
    r.paragraph(
        "Reading: the gradient reaching the first step, relative to the last ('first / last'), "
        "is what lets a model learn that the first marked value matters. While it is tiny the "
        "loss sits at the baseline 1/6; when a gated model learns the task its map brightens "
        "back to t = 0 — the gates have learned to hold the carousel open.")
    r.paragraph(
        f"The same models' state-Jacobian norms over {cfg.compare_steps} steps of adding-problem "
        "input, measured as in section 2 (on float64 unrolled copies of the weights), at init "
        f"(dotted) and after the {steps} training steps (solid): training on sequences of "
        f"{seq} steps changes how far back the state can carry a gradient.")
    r.figure(fig_b.split(os.sep)[-1], "||ds_T/ds_t|| at init and after training", Table(
        ["model", "weights"] + [f"d={d}" for d in picks], jac_rows),
        links=[("every number (CSV)", "data/fig4b_trained.csv")])
    return {"figure": fig, "data": data, "figure_trained": fig_b, "data_trained": data_b,
            "models": summary}


# ---- 5. formulas and the BPTT picture --------------------------------------------------------
def derivations(cfg, ctx):
    import sympy

    from models import theory, theory_cli

    r = ctx.report
    r.heading("5. The formulas behind the curves")
    r.paragraph(
        "Derived by `minigrad derive` (`models.theory`): each cell is traced from the library's "
        "own graph into sympy, differentiated, rewritten in the lectures' symbols and checked "
        "against the textbook formula; gamma is derived from the activation's symbolic rule.")
    formulas = {}
    for model in cfg.derive_models:
        ctx.note(f"derive {model}")
        step = theory.derive_step(model, 1, 1)
        lhs = step.latex().split(" = ", 1)[0]
        body = step.latex().split(" = ", 1)[1] if model == "rnn" else sympy.latex(step.textbook)
        r.math(f"{lhs} = {body}", caption=f"{model.upper()}: one-step Jacobian (H = 1; traced "
               "from the cell's graph, rewritten in its gate and state nodes; equals the "
               f"textbook formula: {'yes' if step.matches_textbook else 'NO'})")
        general = theory.general_product(model)
        what = {"rnn": r"\frac{\partial h_T}{\partial h_k}",
                "lstm": r"\text{direct cell path } \frac{\partial c_T}{\partial c_k}",
                "gru": r"\text{update-gate path } \frac{\partial h_T}{\partial h_k}"}[model]
        r.math(f"{what} = {sympy.latex(general)}", caption=f"{model.upper()}: the T-step "
               "product")
        formulas[model] = step.latex()
        if model == "rnn":
            gamma = theory.activation_gamma("tanh")
            t_sym, k_sym = sympy.symbols("T k", integer=True)
            bound = theory.bounds.jacobian_bound(gamma, steps=t_sym - k_sym)
            r.math(r"\left\|\frac{\partial h_T}{\partial h_k}\right\|_2 \le "
                   rf"(\gamma\,\sigma_{{max}})^{{T-k}} = {sympy.latex(bound)},"
                   rf"\quad \gamma = \sup_x |\tanh'(x)| = {sympy.latex(gamma)}",
                   caption="The bound drawn in section 1")
        lines = theory_cli.derive_report(model, steps=2)
        r.paragraph(f"`minigrad derive {model} --steps 2` prints:")
        r.code("\n".join(lines))
    return {"formulas": formulas}


def bptt_picture(cfg, ctx):
    import viz

    r = ctx.report
    r.heading("6. The unrolled graph with its gradients")
    render_demo = _render_demo()
    if render_demo is not None:
        paths = render_demo(ctx.folder("bptt"), formats=("png",)) or []
        source = "`viz.cli.render_demo`, what `minigrad render` draws"
    else:
        paths = _draw_own(cfg, ctx, viz)
        source = "`viz.draw_bptt(loss, grads=True)` and `viz.render`"
    pictures = [p for p in paths if p.endswith(".png")]
    sources = [p for p in paths if p.endswith(".dot")]
    for path in pictures:
        name = os.path.relpath(path, ctx.out_dir)
        cell = "an LSTM" if "lstm" in os.path.basename(path) else "a tanh RNN"
        r.image(name, f"{cell} unrolled over its steps, drawn from the recorded graph by "
                f"{source}; edge width and colour: ||dL/dh_t|| (and ||dL/dc_t||) from the "
                "real backward pass")
    if not pictures:
        links = ", ".join(f"`{os.path.relpath(p, ctx.out_dir)}`" for p in sources)
        r.paragraph(f"Graphviz's `dot` program was not found, so only the DOT sources were "
                    f"written ({links or 'none'}); install Graphviz to get the pictures.")
    return {"figures": list(paths)}


def _draw_own(cfg, ctx, viz):
    import models

    mg.manual_seed(cfg.seed)
    net = LastStepRegressor(models.RNN(2, 4, fused=False))
    x, y = adding_problem(2, cfg.render_steps, np.random.default_rng(cfg.seed))
    loss = mg.nn.functional.mse_loss(net(mg.tensor(x)), mg.tensor(y))
    watcher = viz.watch(loss)
    loss.backward()
    graph = viz.draw_bptt(loss, model=net, grads=watcher, max_steps=8)
    watcher.remove()
    paths = [viz.render(graph, ctx.path("bptt", "rnn_grads.dot"))]
    if viz.has_dot():
        paths.append(viz.render(graph, ctx.path("bptt", "rnn_grads.png")))
    return paths


def _render_demo():
    try:
        from viz import cli as viz_cli
    except ImportError:
        return None
    return getattr(viz_cli, "render_demo", None)


SECTIONS = (
    ("sigma sweep", sigma_sweep),
    ("RNN / LSTM / GRU", model_comparison),
    ("remedies", remedies),
    ("exploding gradients", exploding),
    ("heatmap over training", heatmap),
    ("derivations", derivations),
    ("BPTT picture", bptt_picture),
)


def timed(fn, cfg, ctx, name):
    start = time.perf_counter()
    out = fn(cfg, ctx)
    ctx.timings[name] = time.perf_counter() - start
    return out


__all__ = ["Config", "Context", "SECTIONS", "fmt"]
