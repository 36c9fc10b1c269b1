"""The ``minigrad analyze`` command: the gradient-flow report (``models.analysis``)."""

import os
import sys


def register(subparsers):
    p = subparsers.add_parser(
        "analyze", help="measure how gradients flow through time in RNN/LSTM/GRU and write a "
        "report (Markdown + HTML + PNG plots + CSV)")
    p.add_argument("-o", "--out", default="analysis_report", metavar="DIR",
                   help="output folder (default: ./analysis_report)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes, a few seconds (a smoke test; numbers not meaningful)")
    p.add_argument("--seed", type=int, default=0, help="seed of every init and data draw")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args):
    from models.analysis.run import run_analysis

    out = run_analysis(args.out, quick=args.quick, seed=args.seed,
                       progress=not args.no_progress)
    print(f"report: {os.path.abspath(out['report_md'])}")
    print(f"        {os.path.abspath(out['report_html'])}")
    print(f"figures and data in {os.path.abspath(args.out)} ({out['seconds']:.0f} s)")
    sys.stdout.flush()
    return 0
