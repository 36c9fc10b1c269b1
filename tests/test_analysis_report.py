"""The gradient report: its HTML/Markdown writers and ``minigrad analyze --quick``."""

import os
import re

import pytest

from minigrad.cli import main as minigrad_main
from models.analysis.report import Report, Table, fmt


def test_report_escapes_html_and_markdown(tmp_path):
    evil = '<script>alert("x")</script> & \'q\''
    r = Report(f"Title {evil}")
    r.heading(evil)
    r.paragraph(f"text {evil} with `code <b>` and | pipes")
    r.figure('fig "1".png', f"caption {evil}",
             Table(["col <i>", "b|c"], [[evil, 1.5e-9], ["x", float("nan")]]),
             links=[(evil, "data/a b.csv")])
    r.math(r"\frac{a}{b} < c & d")
    r.code(f"code {evil}\n```")
    r.bullets([evil])
    md, html = r.write(tmp_path)
    page = open(html, encoding="utf-8").read()
    assert "<script>alert" not in page and "alert(&quot;x&quot;)" in page
    assert "&lt;script&gt;" in page and "&amp; &#x27;q&#x27;" in page
    assert 'src="fig%20%221%22.png"' in page and 'href="data/a%20b.csv"' in page
    assert "<code>code &lt;b&gt;</code>" in page
    assert r"\frac{a}{b} &lt; c &amp; d" in page
    assert page.count("<table>") == 1 and "<td>1.500e-09</td>" in page
    text = open(md, encoding="utf-8").read()
    assert r"\<script\>" in text and "b\\|c" in text
    assert "````" in text  # the code fence outgrows the backticks inside
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert all(line.count(" | ") == 1 for line in rows)  # escaped pipes split no cell


def test_fmt():
    assert fmt(None) == "–" and fmt(True) == "yes" and fmt(3) == "3"
    assert fmt(0.123456) == "0.1235" and fmt(1e-7) == "1.000e-07" and fmt(float("inf")) == "inf"


def test_analyze_quick_writes_every_file(tmp_path, capsys):
    out = tmp_path / "report dir"
    assert minigrad_main(["analyze", "-o", str(out), "--quick", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "report.md" in printed and "report.html" in printed
    names = set(os.listdir(out))
    for name in ("report.md", "report.html", "fig1_sigma_sweep.png", "fig2_models.png",
                 "fig3_remedies.png", "fig3b_exploding.png", "fig4_heatmap.png",
                 "fig4b_trained.png"):
        assert name in names, name
    pictures = os.listdir(out / "bptt")
    assert any(p.endswith(".png") for p in pictures) or any(p.endswith(".dot") for p in pictures)
    assert sorted(os.listdir(out / "data")) == [
        "fig1_sigma_sweep.csv", "fig2_models.csv", "fig3_remedies.csv", "fig3b_exploding.csv",
        "fig4_heatmap.csv", "fig4b_trained.csv"]
    page = (out / "report.html").read_text(encoding="utf-8")
    for src in re.findall(r'<img src="([^"]+)"', page) + re.findall(r'href="(data/[^"]+)"',
                                                                     page):
        assert (out / src).exists(), src
    md = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("1\\. Vanishing", "2\\. Vanishing vs the carousel", "3\\. The lectures",
                    "4\\. Gradient flow during training", "5\\. The formulas",
                    "6\\. The unrolled graph"):
        assert heading in md, heading
    assert md.count("$$") >= 6  # the derived formulas
    assert "| yes |" in md  # the bound holds in every row of section 1


@pytest.mark.parametrize("bad", [["--seed", "x"]])
def test_analyze_rejects_bad_arguments(bad):
    with pytest.raises(SystemExit):
        minigrad_main(["analyze", "--quick", *bad])
