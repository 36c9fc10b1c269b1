"""Matplotlib figures for the gradient report (PNG, non-interactive backend).

Every function takes plain numbers (numpy arrays, lists) and a path, draws one figure, writes
it and returns the path; none of them computes anything about a model.
"""

import numpy as np

_DPI = 110
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _positive(values, floor=1e-300):
    """Values for a log axis: non-positive and non-finite entries become NaN (not drawn);
    tiny positives are clipped at ``floor``."""
    arr = np.asarray(values, dtype=np.float64).copy()
    arr[~np.isfinite(arr) | (arr <= 0)] = np.nan
    return np.maximum(arr, floor)


def distance_curves(path, curves, title, ylabel, xlabel="distance T - t (steps)",
                    ylim=None, note=None):
    """Log-scale curves over distance.

    curves: list of dicts with ``label``, ``x``, ``y`` and optionally ``bound`` (drawn dashed
    in the same colour), ``style`` (a matplotlib line style) and ``band`` (``(low, high)``
    arrays shaded around the curve).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    for i, c in enumerate(curves):
        color = c.get("color", f"C{i % 10}")
        ax.plot(c["x"], _positive(c["y"]), c.get("style", "-"), color=color, lw=2,
                label=c["label"], marker=_MARKERS[i % len(_MARKERS)],
                markevery=max(1, len(c["x"]) // 8), markersize=4)
        if c.get("band") is not None:
            low, high = c["band"]
            ax.fill_between(c["x"], _positive(low), _positive(high), color=color, alpha=0.12,
                            lw=0)
        if c.get("bound") is not None:
            ax.plot(c["x"], _positive(c["bound"]), "--", color=color, lw=1.2, alpha=0.8)
    if any(c.get("bound") is not None for c in curves):
        ax.plot([], [], "--", color="gray", label=r"bound $(\gamma\,\sigma_{max})^{T-t}$")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is None:
        ys = np.concatenate([_positive(c["y"]).ravel() for c in curves])
        ys = ys[np.isfinite(ys)]
        if ys.size:
            ylim = (max(ys.min() / 10, 1e-300), ys.max() * 10)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="best", ncol=2 if len(curves) > 5 else 1)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="dimgray")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def heatmaps(path, panels, title, xlabel="time step t", ylabel="training step"):
    """Side-by-side heatmaps of ``log10 ||dL/dh_t||``, each with its loss curve in a narrow
    panel to its right (same training-step axis).

    panels: list of dicts with ``label``, ``matrix`` ((n_steps, T) values), ``steps`` (the
    training steps of the rows) and optionally ``loss`` ((n_steps,) values).
    """
    plt = _pyplot()
    n = len(panels)
    ratios = []
    for _ in panels:
        ratios += [4.0, 1.1]
    fig, axes = plt.subplots(1, 2 * n, figsize=(6.4 * n, 4.8), squeeze=False,
                             gridspec_kw={"width_ratios": ratios, "wspace": 0.08})
    axes = axes[0]
    logs = [np.log10(_positive(p["matrix"], 1e-30)) for p in panels]
    finite = np.concatenate([v[np.isfinite(v)].ravel() for v in logs] or [np.zeros(1)])
    vmin, vmax = ((np.percentile(finite, 2), np.percentile(finite, 99.5)) if finite.size
                  else (-6.0, 0.0))
    im = None
    for i, (p, v) in enumerate(zip(panels, logs, strict=True)):
        ax, side = axes[2 * i], axes[2 * i + 1]
        steps = np.asarray(p["steps"], dtype=np.float64)
        step = steps[1] - steps[0] if len(steps) > 1 else 1.0
        top, bottom = (steps[0] - step / 2, steps[-1] + step / 2) if len(steps) else (0, 1)
        extent = (-0.5, v.shape[1] - 0.5, bottom, top)
        im = ax.imshow(v, aspect="auto", cmap="magma", vmin=vmin, vmax=vmax, extent=extent,
                       interpolation="nearest")
        ax.set_title(p["label"], fontsize=10)
        ax.set_xlabel(xlabel)
        if i == 0:
            ax.set_ylabel(ylabel)
        side.set_ylim(bottom, top)
        side.set_yticklabels([])
        if p.get("loss") is not None:
            loss = _positive(p["loss"])
            side.plot(loss, steps, color="C0", lw=1.4)
            finite = loss[np.isfinite(loss)]
            if finite.size and finite.max() > 10 * finite.min():
                from matplotlib.ticker import LogLocator, NullFormatter

                side.set_xscale("log")
                side.xaxis.set_major_locator(LogLocator(numticks=3))
                side.xaxis.set_minor_formatter(NullFormatter())
            else:
                side.locator_params(axis="x", nbins=2)
        side.set_xlabel("loss", fontsize=9)
        side.tick_params(axis="x", labelsize=7)
        side.grid(True, alpha=0.3)
    cbar = fig.colorbar(im, ax=list(axes), fraction=0.025, pad=0.02)
    cbar.set_label(r"$\log_{10}\,\|\partial L/\partial h_t\|$")
    fig.suptitle(title, y=0.99)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def training_runs(path, runs, title, clip_marks=True, smooth=1):
    """Loss (top) and total gradient norm (bottom) against training step for several runs.

    runs: list of dicts with ``label``, ``loss`` and ``norm`` arrays, optionally ``max_norm``
    (drawn as a dotted line). ``smooth > 1`` draws the loss's moving average over that many
    steps, with the per-step values faint behind it.
    """
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.2, 6.0), sharex=True)
    for i, r in enumerate(runs):
        color = f"C{i}"
        loss = _positive(r["loss"], 1e-30)
        steps = np.arange(len(loss))
        if smooth > 1 and len(loss) > smooth:
            top.plot(steps, loss, color=color, lw=0.6, alpha=0.25)
            kernel = np.ones(smooth) / smooth
            filled = np.where(np.isfinite(loss), loss, np.nanmax(loss[np.isfinite(loss)])
                              if np.isfinite(loss).any() else 1.0)
            avg = np.convolve(filled, kernel, mode="valid")
            top.plot(steps[smooth - 1:], avg, color=color, lw=1.6, label=r["label"])
        else:
            top.plot(steps, loss, color=color, lw=1.3, label=r["label"])
        bottom.plot(steps, _positive(r["norm"]), color=color, lw=0.9, label=r["label"])
        if clip_marks and r.get("max_norm") is not None:
            bottom.axhline(r["max_norm"], color=color, ls=":", lw=1)
    for ax, label in ((top, "training loss (MSE)"),
                      (bottom, "total gradient norm (before clipping)")):
        ax.set_yscale("log")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(True, alpha=0.3)
    bottom.set_xlabel("training step")
    top.legend(fontsize=8)
    top.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def learning_curves(path, curves, title, baseline=None, ylabel="MSE", xlabel="training step"):
    """Curves of a metric against training step, log scale, with an optional dashed baseline.

    curves: list of dicts with ``label``, ``x``, ``y`` and optionally ``style``/``color``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    for i, c in enumerate(curves):
        ax.plot(c["x"], _positive(c["y"]), c.get("style", "-"), color=c.get("color", f"C{i}"),
                lw=1.6, label=c["label"])
    if baseline is not None:
        ax.axhline(baseline, color="gray", ls="--", lw=1, label=f"baseline {baseline:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2 if len(curves) > 4 else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path
