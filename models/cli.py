"""The ``minigrad demo`` command (run by ``make demo``): the gradient-flow report, end to end.

It runs ``minigrad analyze`` into a folder — every experiment of the report, its plots, tables,
derived formulas and the unrolled BPTT pictures with their gradient overlay — and prints where
the files are and a few headline numbers. About a minute on a 2-core machine (``--quick``: a
few seconds, tiny sizes).
"""

import os
import sys


def register_demo(subparsers):
    p = subparsers.add_parser(
        "demo", help="run the gradient-flow report end to end and show where its files are")
    p.add_argument("-o", "--out", default="minigrad_demo", metavar="DIR",
                   help="output folder (default: ./minigrad_demo)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_demo)


def run_demo(args):
    from models.analysis.run import run_analysis

    print("minigrad demo: measuring how gradients flow through time in RNN / LSTM / GRU")
    print(f"(minigrad analyze -o {args.out}{' --quick' if args.quick else ''}; every number "
          "from the engine's own backward pass)\n")
    out = run_analysis(args.out, quick=args.quick, seed=args.seed, progress=True)
    _headlines(out["results"])
    folder = os.path.abspath(args.out)
    pictures = []
    for root, _, files in os.walk(folder):
        pictures += [os.path.join(root, f) for f in files if f.endswith((".png", ".svg"))]
    print(f"\nreport (Markdown): {os.path.abspath(out['report_md'])}")
    print(f"report (HTML):     {os.path.abspath(out['report_html'])}")
    print("pictures:")
    for path in sorted(pictures):
        rel = os.path.relpath(path, os.getcwd())
        print(f"  {path if rel.startswith(os.pardir) else rel}")
    print(f"numbers: {os.path.join(folder, 'data')}/*.csv")
    print(f"done in {out['seconds']:.0f} s")
    sys.stdout.flush()
    return 0


def _headlines(results):
    """A few sentences from the numbers just measured."""
    lines = []
    sweep = results.get("sigma sweep")
    if sweep:
        norms = sweep["last_norms"]
        parts = ", ".join(f"{s}: {v:.1e}" for s, v in norms.items())
        holds = "yes" if sweep["bound_holds"] else "NO"
        lines.append(f"tanh RNN, ||dh_T/dh_0|| by sigma_max(W_hh): {parts} "
                     f"(bound (gamma sigma_max)^T holds: {holds})")
    comp = results.get("RNN / LSTM / GRU")
    if comp:
        parts = ", ".join(f"{k}: {v:.1e}" for k, v in comp["last_norms"].items())
        lines.append(f"state-Jacobian norm at the longest distance: {parts}")
    expl = results.get("exploding gradients")
    if expl:
        parts = "; ".join(f"{k}: max loss {v['max_loss']:.3g}, {v['clips']} clips"
                          for k, v in expl["runs"].items())
        lines.append(f"IRNN with SGD: {parts}")
    heat = results.get("heatmap over training")
    if heat:
        parts = "; ".join(f"{k}: ||dL/dh_0|| / ||dL/dh_T|| {v['ratio_start']:.1e} -> "
                          f"{v['ratio_end']:.1e} (loss {v['loss_end']:.3f})"
                          for k, v in heat["models"].items())
        lines.append(f"during training: {parts}")
    if lines:
        print("\nheadlines:")
        for line in lines:
            print(f"  - {line}")
