"""A small document model written twice: as Markdown (``report.md``) and as HTML
(``report.html``) with the same content.

Blocks are kept as data (heading, paragraph, figure with its table, table, display math, code,
note) and each writer renders them; every piece of text reaches the HTML through
``html.escape`` (attributes quoted, ``<``, ``>``, ``&`` and quotes escaped) and reaches the
Markdown with its table and inline-markup characters escaped, so text from models, file names or
formulas cannot break either page. Inline code is written with backticks in paragraph text
(``like this``) and becomes ``<code>`` in HTML; nothing else is interpreted.
"""

import html
import math
import os
import re
from dataclasses import dataclass, field

_MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"


@dataclass
class Table:
    """headers: column names; rows: lists of cells (numbers are formatted by ``fmt``)."""

    headers: list
    rows: list
    caption: str = ""


@dataclass
class Block:
    kind: str
    text: str = ""
    level: int = 2
    path: str = ""
    table: Table = None
    links: list = field(default_factory=list)


def fmt(value):
    """A table cell: floats to 4 significant digits (scientific when small or large)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4g}"
    try:
        import numpy as np

        if isinstance(value, np.integer):
            return str(int(value))
        if isinstance(value, np.floating):
            return fmt(float(value))
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    return str(value)


class Report:
    """Collect blocks, then ``write(out_dir)`` both pages. Paths of figures are relative to
    ``out_dir``."""

    def __init__(self, title):
        self.title = title
        self.blocks = []

    def heading(self, text, level=2):
        self.blocks.append(Block("heading", text=text, level=level))

    def paragraph(self, text):
        self.blocks.append(Block("paragraph", text=text))

    def bullets(self, items):
        self.blocks.append(Block("bullets", links=list(items)))

    def figure(self, path, caption, table=None, links=()):
        """An image with its numbers beside it; ``links``: ``(text, relative path)`` pairs
        (e.g. the CSV with every number)."""
        self.blocks.append(Block("figure", text=caption, path=path, table=table,
                                 links=list(links)))

    def table(self, table):
        self.blocks.append(Block("table", table=table))

    def math(self, latex, caption=""):
        self.blocks.append(Block("math", text=latex, path=caption))

    def code(self, text):
        self.blocks.append(Block("code", text=text))

    def image(self, path, caption):
        self.blocks.append(Block("image", text=caption, path=path))

    # ---- writing -----------------------------------------------------------------------
    def write(self, out_dir, name="report"):
        """Write ``<out_dir>/<name>.md`` and ``<out_dir>/<name>.html``; returns both paths."""
        os.makedirs(out_dir, exist_ok=True)
        md_path = os.path.join(out_dir, f"{name}.md")
        html_path = os.path.join(out_dir, f"{name}.html")
        with open(md_path, "w", encoding="utf-8") as f:
            f.write(self.to_markdown())
        with open(html_path, "w", encoding="utf-8") as f:
            f.write(self.to_html())
        return md_path, html_path

    def to_markdown(self):
        out = [f"# {_md_text(self.title)}", ""]
        for b in self.blocks:
            if b.kind == "heading":
                out += ["#" * b.level + " " + _md_text(b.text), ""]
            elif b.kind == "paragraph":
                out += [_md_inline(b.text), ""]
            elif b.kind == "bullets":
                out += [f"- {_md_inline(item)}" for item in b.links] + [""]
            elif b.kind == "figure":
                out += [f"![{_md_text(b.text)}]({_md_url(b.path)})", "",
                        f"*{_md_inline(b.text)}*", ""]
                if b.table is not None:
                    out += _md_table(b.table)
                if b.links:
                    out += [" · ".join(f"[{_md_text(t)}]({_md_url(p)})" for t, p in b.links),
                            ""]
            elif b.kind == "image":
                out += [f"![{_md_text(b.text)}]({_md_url(b.path)})", "",
                        f"*{_md_inline(b.text)}*", ""]
            elif b.kind == "table":
                out += _md_table(b.table)
            elif b.kind == "math":
                if b.path:
                    out += [_md_inline(b.path), ""]
                out += ["$$", b.text.strip(), "$$", ""]
            elif b.kind == "code":
                fence = "```"
                while fence in b.text:
                    fence += "`"
                out += [fence, b.text.rstrip("\n"), fence, ""]
        return "\n".join(out).rstrip("\n") + "\n"

    def to_html(self):
        e = _esc
        parts = [
            "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            f"<title>{e(self.title)}</title>",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<style>{_CSS}</style>",
            f'<script async src="{e(_MATHJAX)}"></script>',
            "</head>", "<body>", f"<h1>{e(self.title)}</h1>",
        ]
        for b in self.blocks:
            if b.kind == "heading":
                level = min(max(int(b.level), 2), 6)
                parts.append(f"<h{level}>{e(b.text)}</h{level}>")
            elif b.kind == "paragraph":
                parts.append(f"<p>{_html_inline(b.text)}</p>")
            elif b.kind == "bullets":
                items = "".join(f"<li>{_html_inline(i)}</li>" for i in b.links)
                parts.append(f"<ul>{items}</ul>")
            elif b.kind in ("figure", "image"):
                table = _html_table(b.table) if b.table is not None else ""
                links = ""
                if b.links:
                    links = '<p class="links">' + " · ".join(
                        f'<a href="{e(_url(p))}">{e(t)}</a>' for t, p in b.links) + "</p>"
                parts.append(
                    '<div class="figure"><div class="img">'
                    f'<img src="{e(_url(b.path))}" alt="{e(b.text)}">'
                    f"<p class=\"caption\">{_html_inline(b.text)}</p></div>"
                    f'<div class="numbers">{table}{links}</div></div>')
            elif b.kind == "table":
                parts.append(_html_table(b.table))
            elif b.kind == "math":
                if b.path:
                    parts.append(f"<p>{_html_inline(b.path)}</p>")
                parts.append(f'<div class="math">\\[{e(b.text.strip())}\\]</div>')
            elif b.kind == "code":
                parts.append(f"<pre><code>{e(b.text.rstrip())}</code></pre>")
        parts += ["</body>", "</html>", ""]
        return "\n".join(parts)


# ---- escaping ------------------------------------------------------------------------------
def _esc(text):
    return html.escape(str(text), quote=True)


def _url(path):
    """A relative path as a URL: forward slashes, reserved characters percent-encoded."""
    from urllib.parse import quote

    return quote(str(path).replace(os.sep, "/"), safe="/._-")


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~$])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_MD_LINE_START = re.compile(r"^(\s*)([#+\-=]|\d+(?=\.))")


def _md_text(text, line_start=True):
    """Plain text for Markdown: markup characters backslash-escaped (``_`` only where it could
    start or end emphasis; ``#``/``-``/``+``/``1.`` only at the start of a line, i.e. not in
    table cells), newlines flattened."""
    out = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(text)).replace("\n", " ")
    return _MD_LINE_START.sub(_escape_line_start, out) if line_start else out


def _escape_line_start(m):
    lead, mark = m.group(1), m.group(2)
    return lead + (mark + "\\" if mark[0].isdigit() else "\\" + mark)


def _md_url(path):
    return _url(path).replace("(", "%28").replace(")", "%29")


def _split_code(text):
    """Split on backtick code spans: yields (is_code, piece)."""
    pieces = re.split(r"(`[^`]+`)", str(text))
    for p in pieces:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            yield True, p[1:-1]
        elif p:
            yield False, p


def _md_inline(text):
    out = []
    for is_code, piece in _split_code(text):
        if is_code:
            out.append(f"`{piece}`")
        else:
            out.append(_md_text(piece))
    return "".join(out)


def _html_inline(text):
    out = []
    for is_code, piece in _split_code(text):
        out.append(f"<code>{_esc(piece)}</code>" if is_code else _esc(piece))
    return "".join(out)


def _md_cell(value):
    return _md_text(fmt(value), line_start=False)


def _md_table(table):
    lines = []
    if table.caption:
        lines += [f"**{_md_inline(table.caption)}**", ""]
    lines.append("| " + " | ".join(_md_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join("---" for _ in table.headers) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    return lines + [""]


def _html_table(table):
    head = "".join(f"<th>{_esc(fmt(h))}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(fmt(c))}</td>" for c in row) + "</tr>"
                   for row in table.rows)
    caption = f"<caption>{_html_inline(table.caption)}</caption>" if table.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
h1, h2, h3 { line-height: 1.2; }
.figure { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start;
          margin: 1em 0 2em; }
.figure .img { flex: 1 1 560px; }
.figure img { max-width: 100%; border: 1px solid #ddd; }
.figure .numbers { flex: 1 1 360px; overflow-x: auto; }
.caption { font-style: italic; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; }
caption { font-weight: bold; text-align: left; padding-bottom: 4px; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
code { background: #f3f3f3; padding: 0 2px; }
.math { overflow-x: auto; margin: 0.6em 0; }
.links { font-size: 0.85em; }
"""
