"""Hostile names (quotes, <, >, &, newlines, braces, backslashes, control characters) can
neither break the DOT nor inject into the SVG."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minigrad as mg
import viz
from viz import escape

HOSTILE = [
    'w"]; evil -> x; ["',
    "<b>bold</b>",
    "a & b &amp; c",
    "line1\nline2\r\nline3",
    "{brace}|rec<port>",
    "back\\slash\\",
    "\\N \\G \\L esc",
    "ctl\x00\x07\x1b[31m",
    "sur\ud800rogate",
    "<<html>>",
    "'single' `tick`",
    "x" * 5000,
]
needs_dot = pytest.mark.skipif(not viz.has_dot(), reason="Graphviz's dot is not installed")


def hostile_graph():
    """A recurrent loop whose net, parameters and tensors all carry hostile names."""
    params = {}
    h = mg.zeros(1, 2, dtype=np.float64)
    w = mg.nn.Parameter(np.eye(2) * 0.5)
    params[HOSTILE[0]] = w
    for k, name in enumerate(HOSTILE[1:6]):
        params[name] = mg.nn.Parameter(np.full((1, 2), 0.1 * k))
    extra = list(params.values())[1:]
    net_name = 'ne"t<&>{}\\'
    for t in range(3):
        with mg.scope(net_name), mg.scope("layer0"), mg.scope(f"t={t}"):
            h = (h @ w + extra[t]).tanh()
            h.name = "h"
    out = h * extra[3]
    out.name = HOSTILE[7]
    with mg.scope(HOSTILE[3].replace("\n", " ").replace("\r", "")):
        loss = (out + extra[4]).sum()
    loss.name = HOSTILE[8]
    return loss, params


def without_tooltips(source):
    """The DOT source minus its tooltip strings (escStrings inside double quotes, where
    ``<``, ``>`` and ``->`` are plain characters)."""
    return re.sub(r'tooltip="(?:[^"\\]|\\.)*"', "tooltip=...", source)


def test_escape_functions():
    assert escape.html('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    assert escape.html("one\ntwo") == "one<BR/>two"
    assert escape.clean("a\x00b\x1bc\ud800d\u200be") == "abcde"
    assert escape.clean("x" * 100, 10) == "x" * 9 + "…"
    assert escape.label("<i>", ("b", "b small")) == \
        '<&lt;i&gt;<BR/><FONT POINT-SIZE="9"><B>b</B></FONT>>'
    assert str(escape.tooltip("a\\b\nc")) == "a\\\\b c"


@pytest.mark.parametrize("draw", ["graph", "bptt-cell", "bptt-op"])
def test_hostile_names_cannot_break_the_dot(draw):
    loss, params = hostile_graph()
    if draw == "graph":
        src = viz.draw_graph(loss, params=params).source
    else:
        src = viz.draw_bptt(loss, params=params, detail=draw.split("-")[1]).source
    for raw in ("\x00", "\x1b", "\ud800", "\\N"):
        assert raw not in src.replace("\\\\", "")
    outside = without_tooltips(src)
    for raw in ("<b>bold</b>", "evil -> x", '"]; evil', "<<html>>", "\nline2", "\nline3"):
        assert raw not in outside
    assert "&lt;b&gt;bold&lt;/b&gt;" in src
    assert "line1<BR/>line2" in src or "line1 line2" in src
    # identifiers are generated, never user text: every edge joins two plain ids
    for line in outside.splitlines():
        if "->" in line:
            assert re.match(r"\s*\w+ -> \w+( \[.*\])?$", line), line
    src.encode("utf-8")                   # no lone surrogates left


@needs_dot
@pytest.mark.parametrize("draw", ["graph", "bptt-cell"])
def test_hostile_names_render_to_well_formed_svg(draw):
    loss, params = hostile_graph()
    if draw == "graph":
        graph = viz.draw_graph(loss, params=params)
    else:
        graph = viz.draw_bptt(loss, params=params)
    svg = graph.pipe(format="svg")
    root = ET.fromstring(svg)             # well-formed XML
    ns = {"s": "http://www.w3.org/2000/svg"}
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "<b>bold</b>" in texts         # shown as text, not as markup
    assert 'w"]; evil -> x; ["' in texts or "w&quot;" not in texts
    assert not root.findall(".//s:script", ns) and b"<b>" not in svg
    node_count = len([line for line in re.findall(r"^\s*\w+ \[label=.*$", graph.source,
                                                   flags=re.M) if "style=invis" not in line])
    drawn = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(drawn) == node_count       # nothing injected, nothing lost
    assert not any(g.findtext("s:title", namespaces=ns) == "evil" for g in drawn)
