"""The ``minigrad render`` command, and ``render_demo`` for ``make demo``.

    minigrad render --cell lstm --steps 8 --grads -o lstm.svg
    minigrad render --cell rnn --steps 200 --max-steps 6 --grads -o rnn_long.png

builds a small network from ``models`` (the unrolled layers, ``fused=False``) with random
weights, runs it on random input (and backward through a loss on the last layer's final hidden
state for ``--grads``) and writes the picture (``.dot``, ``.svg``, ``.png`` or ``.pdf``).
"""

import os
import sys

from models.cell.registry import NAMES, kind

from .render import IMAGE_FORMATS, SOURCE_FORMATS, GraphvizNotFoundError, has_dot, render

CELLS = NAMES  # the built-in kinds (models.cell.registry)


def register(subparsers):
    """Add the ``render`` sub-command (the ``minigrad.commands`` entry point)."""
    p = subparsers.add_parser(
        "render", help="draw an unrolled RNN / LSTM / GRU (BPTT view) to .dot/.svg/.png/.pdf",
        description="Build a small recurrent network with random weights on random input, run "
        "it (and backward for --grads) and draw its unrolled graph.")
    p.add_argument("--cell", choices=CELLS, default="lstm", help="the recurrent cell")
    p.add_argument("--steps", type=_positive, default=6, metavar="T", help="time steps (6)")
    p.add_argument("--layers", type=_positive, default=1, metavar="L", help="layers (1)")
    p.add_argument("--bidirectional", action="store_true", help="two directions per layer")
    p.add_argument("--detail", choices=("cell", "op"), default="cell",
                   help="one node per cell and step, or every primitive op (cell)")
    p.add_argument("--grads", action="store_true",
                   help="overlay ||dL/dh_t|| (and ||dL/dc_t||) from a real backward pass")
    p.add_argument("--max-steps", type=_at_least_two, default=None, metavar="K",
                   help="show the first and last steps only, folding the middle")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    p.add_argument("--hidden", type=_positive, default=8, metavar="H", help="hidden size (8)")
    p.add_argument("--weight-scale", type=float, default=1.0, metavar="A",
                   help="multiply the recurrent weights weight_hh by A (e.g. 3 to see "
                   "exploding gradients; default 1, PyTorch's init)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="output file: .dot, .svg, .png or .pdf")
    p.set_defaults(func=run_render)


def _positive(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _at_least_two(text):
    value = int(text)
    if value < 2:
        raise ValueError(text)
    return value


def build_network(cell="lstm", steps=6, layers=1, bidirectional=False, seed=0, hidden=8,
                  input_size=3, batch=2, weight_scale=1.0, grads=False):
    """A ``models`` RNN / LSTM / GRU (unrolled, ``fused=False``) run on random input.

    Returns ``(model, loss, recorder)``: the loss reads the last layer's final hidden state(s)
    through a fixed random projection (so gradients must travel back through time); with
    ``grads`` the state tensors are watched and ``loss.backward()`` has run (``recorder`` is
    the :class:`viz.GradientRecorder`, else ``None``).
    """
    import minigrad as mg

    from .overlay import watch

    if cell not in CELLS:
        raise ValueError(f"build_network: cell must be one of {CELLS}, got {cell!r}")
    mg.manual_seed(seed)
    layer_class = kind(cell, "build_network").layer
    model = layer_class(input_size, hidden, num_layers=layers, bidirectional=bidirectional,
                        fused=False)
    if weight_scale != 1.0:
        with mg.no_grad():
            for name, p in model.named_parameters():
                if name.startswith("weight_hh"):
                    p.numpy()[...] *= weight_scale
    x = mg.randn(steps, batch, input_size)
    _output, state = model(x)
    h_n = state[0] if cell == "lstm" else state
    directions = 2 if bidirectional else 1
    final = h_n[h_n.shape[0] - directions:]
    loss = (final * mg.randn(*final.shape)).sum()
    recorder = None
    if grads:
        recorder = watch(loss, model)
        loss.backward()
    return model, loss, recorder


def run_render(args):
    from .bptt import draw_bptt

    fmt = os.path.splitext(args.output)[1].lstrip(".").lower()
    if fmt not in SOURCE_FORMATS + IMAGE_FORMATS:
        print(f"minigrad render: cannot write {args.output!r}: use a .dot, .svg, .png or .pdf "
              "file name", file=sys.stderr)
        return 2
    if fmt in IMAGE_FORMATS and not has_dot():
        print(f"minigrad render: writing .{fmt} needs Graphviz's 'dot' program, which is not "
              "on the PATH. Install Graphviz (e.g. 'sudo apt-get install graphviz' or 'brew "
              "install graphviz'), or write DOT source with -o FILE.dot", file=sys.stderr)
        return 1
    model, loss, recorder = build_network(
        args.cell, args.steps, args.layers, args.bidirectional, args.seed, args.hidden,
        weight_scale=args.weight_scale, grads=args.grads)
    graph = draw_bptt(loss, model=model, detail=args.detail, grads=recorder or False,
                      max_steps=args.max_steps)
    try:
        render(graph, args.output)
    except (GraphvizNotFoundError, RuntimeError, OSError) as err:
        print(f"minigrad render: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


DEMO = (
    ("lstm_grads", dict(cell="lstm", steps=8, grads=True)),
    ("rnn_grads", dict(cell="rnn", steps=8, grads=True)),
)


def render_demo(out_dir, formats=("svg", "png")):
    """Render the demo pictures into ``out_dir``: an 8-step LSTM with the gradient overlay and
    a vanilla RNN beside it (same input size, hidden size and loss), so the slower fading of
    ||dL/dh_t|| through the LSTM's cell state can be compared. Writes ``.dot`` always and the
    image ``formats`` when Graphviz's ``dot`` is installed (else prints how to install it).
    Returns the paths written."""
    from .bptt import draw_bptt

    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, kwargs in DEMO:
        model, loss, recorder = build_network(**kwargs)
        graph = draw_bptt(loss, model=model, grads=recorder)
        written.append(render(graph, os.path.join(out_dir, name + ".dot")))
        if has_dot():
            for fmt in formats:
                written.append(render(graph, os.path.join(out_dir, f"{name}.{fmt}")))
    if not has_dot():
        print("render_demo: Graphviz's 'dot' is not installed, so only .dot files were "
              "written; install Graphviz to get pictures", file=sys.stderr)
    return written
