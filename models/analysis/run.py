"""``run_analysis``: every section of the gradient report, into one folder.

Writes ``report.md`` and ``report.html`` (same content), the figures ``fig*.png`` and the
numbers ``data/*.csv``; returns a dict with the paths, per-section timings and headline numbers.
"""

import os
import platform
import time

import numpy as np

from .report import Report, Table
from .sections import SECTIONS, Config, Context, timed


def run_analysis(out_dir, quick=False, seed=0, progress=True, sections=None):
    """Run the report's experiments and write it to ``out_dir``.

    quick: tiny sizes (seconds; for tests); seed: every model init and data draw;
    progress: show a tqdm bar on stderr; sections: names from ``SECTIONS`` to run (default
    all). Returns ``{"report_md", "report_html", "timings", "results", "seconds"}``.
    """
    from tqdm.auto import tqdm

    cfg = Config.quick_config(seed) if quick else Config(seed=seed)
    chosen = [(n, f) for n, f in SECTIONS if sections is None or n in sections]
    unknown = set(sections or ()) - {n for n, _ in SECTIONS}
    if unknown:
        raise ValueError(f"run_analysis: unknown sections {sorted(unknown)}; choose from "
                         f"{[n for n, _ in SECTIONS]}")
    os.makedirs(out_dir, exist_ok=True)
    report = Report("How gradients flow through time: a minigrad report")
    start = time.perf_counter()
    bar = tqdm(total=len(chosen), desc="analyze", unit="section", disable=not progress,
               dynamic_ncols=True)
    ctx = Context(out_dir, report, progress=lambda text: bar.set_postfix_str(text[:60]))
    _intro(report, cfg)
    results = {}
    try:
        for name, fn in chosen:
            bar.set_description(f"analyze: {name}")
            with np.errstate(over="ignore", under="ignore"):
                results[name] = timed(fn, cfg, ctx, name)
            bar.update(1)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    _footer(report, ctx.timings, seconds, cfg)
    md, html = report.write(out_dir)
    return {"report_md": md, "report_html": html, "timings": dict(ctx.timings),
            "results": results, "seconds": seconds}


def _intro(report, cfg):
    report.paragraph(
        "Every number below comes from minigrad's own forward and backward passes "
        "(`models.analysis`: `jacobian_norms`, `gradient_flow`, `GradientMonitor`), every "
        "formula from its symbolic side (`minigrad derive`). Each figure has its numbers "
        "beside it, and a CSV with all of them under `data/`. Regenerate with "
        f"`minigrad analyze -o DIR{' --quick' if cfg.quick else ''} --seed {cfg.seed}`.")
    if cfg.quick:
        report.paragraph("QUICK MODE: tiny sizes for a smoke test; the numbers are not "
                         "meaningful.")


def _footer(report, timings, seconds, cfg):
    report.heading("Run")
    rows = [[name, round(t, 1)] for name, t in timings.items()]
    rows.append(["total", round(seconds, 1)])
    report.table(Table(["section", "seconds"], rows,
                       caption=f"Wall time on {platform.machine()} / {os.cpu_count()} CPUs "
                       f"(seed {cfg.seed}{', quick' if cfg.quick else ''})"))
