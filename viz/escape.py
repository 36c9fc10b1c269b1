"""Escaping of user text (tensor, parameter and scope names) for DOT and SVG output.

Every piece of user text that reaches a drawing goes through this module, so a name with quotes,
``<``, ``>``, ``&``, braces, backslashes, newlines or control characters can neither break the DOT
syntax nor inject markup into the SVG that Graphviz writes:

* labels are Graphviz *HTML-like* labels (``<...>``) built here, with the text escaped as HTML
  entities (Graphviz decodes them and re-escapes the text in its SVG);
* other string attributes (tooltips) are Graphviz escStrings with backslashes doubled; the
  ``graphviz`` package escapes their double quotes;
* node and cluster identifiers are never user text (``n12``, ``cluster_3``).
"""

import unicodedata

import graphviz

MAX_LABEL = 60      # characters of one label line kept; the rest becomes an ellipsis
MAX_TOOLTIP = 400


def clean(text, limit=None):
    """``text`` as a str without control, format, surrogate or unassigned characters (newlines
    and tabs become spaces), cut to ``limit`` characters with an ellipsis."""
    text = str(text)
    out = []
    for ch in text:
        if ch in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(ch)[0] != "C":
            out.append(ch)
    text = "".join(out)
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "\u2026"
    return text


def html(text, limit=MAX_LABEL):
    """``text`` escaped for the inside of an HTML-like label: ``& < > " '`` as entities, line
    breaks as ``<BR/>``; each line cleaned and cut to ``limit`` characters."""
    lines = str(text).replace("\r\n", "\n").split("\n")
    return '<BR/>'.join(_entities(clean(line, limit)) for line in lines)


def _entities(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def label(*parts):
    """An HTML-like label from ``parts``: each part is plain text (escaped), or a pair
    ``(text, style)`` where style is a combination of ``"b"`` (bold), ``"i"`` (italic) and
    ``"small"``. Parts are separated by line breaks; ``None`` parts are skipped."""
    lines = []
    for part in parts:
        if part is None:
            continue
        text, style = part if isinstance(part, tuple) else (part, "")
        body = html(text)
        if "b" in style.split():
            body = f"<B>{body}</B>"
        if "i" in style.split():
            body = f"<I>{body}</I>"
        if "small" in style.split():
            body = f'<FONT POINT-SIZE="9">{body}</FONT>'
        lines.append(body)
    return "<" + "<BR/>".join(lines) + ">"


def raw_label(markup):
    """Wrap markup that this package built itself (already escaped) as an HTML-like label."""
    return "<" + markup + ">"


def tooltip(text):
    """``text`` as a safe escString attribute value (for ``tooltip=``)."""
    text = clean(text, MAX_TOOLTIP).replace("\\", "\\\\")
    return graphviz.nohtml(text)
