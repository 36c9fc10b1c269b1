"""Writing drawings to files: ``.dot`` / ``.gv`` (DOT source, needs nothing) and ``.svg``,
``.png``, ``.pdf`` (need Graphviz's ``dot`` program on the PATH)."""

import os
import shutil
import subprocess

import graphviz

SOURCE_FORMATS = ("dot", "gv")
IMAGE_FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = (
    "Install Graphviz: 'sudo apt-get install graphviz' (Debian/Ubuntu), 'sudo dnf install "
    "graphviz' (Fedora), 'brew install graphviz' (macOS), 'conda install -c conda-forge "
    "graphviz', or see https://graphviz.org/download/. DOT source needs no Graphviz: write a "
    ".dot file, or use graph.source.")


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is needed (to render images) but was not found."""


def has_dot():
    """Whether Graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def render(graph, path, format=None):  # noqa: A002 - the graphviz package's name
    """Write ``graph`` (a ``graphviz.Digraph`` or ``Source``) to ``path``.

    The format is ``format`` or the file's extension: ``dot`` / ``gv`` write the DOT source;
    ``svg``, ``png`` and ``pdf`` run Graphviz's ``dot`` (``GraphvizNotFoundError`` with
    installation instructions when it is missing). Returns the path written.
    """
    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".")).lower()
    if not hasattr(graph, "source"):
        raise TypeError(f"render: expected a graphviz.Digraph (from viz.draw_graph or "
                        f"viz.draw_bptt), got {type(graph).__name__}")
    if fmt in SOURCE_FORMATS:
        with open(path, "w", encoding="utf-8") as f:
            f.write(graph.source)
        return path
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"render: cannot write {fmt!r} (from {path!r}); use one of "
                         f"{', '.join('.' + f for f in SOURCE_FORMATS + IMAGE_FORMATS)}")
    if not has_dot():
        raise GraphvizNotFoundError(
            f"render: writing .{fmt} needs Graphviz's 'dot' program, which is not on the "
            f"PATH. {INSTALL_HINT}")
    try:
        data = graph.pipe(format=fmt, quiet=True)
    except graphviz.ExecutableNotFound as err:
        raise GraphvizNotFoundError(f"render: {err}. {INSTALL_HINT}") from err
    except subprocess.CalledProcessError as err:
        detail = (err.stderr or b"").decode("utf-8", "replace").strip()
        raise RuntimeError(f"render: Graphviz's dot could not write .{fmt}: {detail or err}. "
                           "(pdf needs a dot built with cairo; .svg and .dot always work)"
                           ) from err
    with open(path, "wb") as f:
        f.write(data)
    return path
