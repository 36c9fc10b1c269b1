"""The ``minigrad`` command. Subcommands are plug-ins found through the entry-point group
``minigrad.commands`` (declared in ``pyproject.toml``), so the core never imports the packages
built on it: each plug-in is a function ``register(subparsers)`` that adds its parser and sets
``func`` (called with the parsed arguments, returning an exit code)."""

import argparse
import sys
from importlib.metadata import entry_points


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minigrad", description="minigrad: autograd, sequence models, BPTT pictures and "
        "symbolic gradient analysis")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="minigrad.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as err:
            broken = sub.add_parser(ep.name, help=f"(unavailable: {err})")
            broken.set_defaults(func=_unavailable(ep.name, err))
            continue
        register(sub)
    return parser


def _unavailable(name, err):
    def run(args):
        print(f"minigrad {name}: this command could not be loaded: {err}", file=sys.stderr)
        return 1
    return run


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
