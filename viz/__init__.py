"""Graphviz renderings of minigrad graphs (reads graphs only).

    import viz
    dot = viz.draw_graph(loss, model=net)          # every primitive, clustered by scope
    rec = viz.watch(loss)                           # before backward, for the gradient overlay
    loss.backward()
    dot = viz.draw_bptt(loss, model=net, grads=True, max_steps=8)
    viz.render(dot, "lstm.svg")                     # .dot needs nothing; .svg/.png/.pdf need dot
"""

from .bptt import draw_bptt
from .graph import draw_graph
from .overlay import GradientRecorder, watch
from .render import GraphvizNotFoundError, has_dot, render

__all__ = ["GradientRecorder", "GraphvizNotFoundError", "draw_bptt", "draw_graph", "has_dot",
           "render", "watch"]
