"""Writing pictures: .dot without Graphviz, .svg/.png/.pdf with it, clear errors; the
``minigrad render`` command and ``render_demo``."""

import importlib
import xml.etree.ElementTree as ET

import pytest
from test_viz_graph import load_nets

import viz
from minigrad.cli import main
from viz.cli import build_network, render_demo

nets = load_nets()
render_module = importlib.import_module("viz.render")   # (viz.render is also the function)
needs_dot = pytest.mark.skipif(not viz.has_dot(), reason="Graphviz's dot is not installed")


@pytest.fixture(scope="module")
def graph():
    model, _, _, _, loss = nets.run("LSTM", T=3)
    return viz.draw_bptt(loss, model=model)


def test_dot_source_needs_no_graphviz(graph, tmp_path, monkeypatch):
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    assert not viz.has_dot()
    path = viz.render(graph, tmp_path / "lstm.dot")
    assert open(path, encoding="utf-8").read() == graph.source
    with pytest.raises(viz.GraphvizNotFoundError, match="apt-get install graphviz"):
        viz.render(graph, tmp_path / "lstm.svg")
    assert not (tmp_path / "lstm.svg").exists()


def test_bad_format_and_bad_graph(graph, tmp_path):
    with pytest.raises(ValueError, match=r"\.svg"):
        viz.render(graph, tmp_path / "lstm.jpeg")
    with pytest.raises(TypeError, match="graphviz.Digraph"):
        viz.render("digraph {}", tmp_path / "x.dot")


@needs_dot
def test_render_svg_png_pdf_with_dot(graph, tmp_path):
    svg = viz.render(graph, tmp_path / "lstm.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert "LSTM cell" in open(svg, encoding="utf-8").read()
    png = viz.render(graph, tmp_path / "lstm.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    pdf = viz.render(graph, tmp_path / "lstm.pdf")
    assert open(pdf, "rb").read(5) == b"%PDF-"
    path = viz.render(graph, tmp_path / "picture", format="svg")
    assert open(path, encoding="utf-8").read().lstrip().startswith("<?xml")


def test_build_network_uses_the_unrolled_models_layers():
    models = pytest.importorskip("models")
    model, loss, rec = build_network("gru", steps=4, layers=2, bidirectional=True, grads=True)
    assert isinstance(model, models.GRU) and model.fused is False
    assert rec.num_captured == 4 * 2 * 2
    assert loss.shape == ()


def test_cli_writes_dot_and_svg(tmp_path, capsys):
    pytest.importorskip("models")
    out = tmp_path / "rnn.dot"
    assert main(["render", "--cell", "rnn", "--steps", "5", "--grads", "--max-steps", "4",
                 "-o", str(out)]) == 0
    source = out.read_text(encoding="utf-8")
    assert "… 1 steps …" in source and "||∂L/∂h||" in source
    assert main(["render", "--cell", "lstm", "--steps", "3", "--detail", "op",
                 "-o", str(tmp_path / "bad.gif")]) == 2
    assert "cannot write" in capsys.readouterr().err
    if viz.has_dot():
        svg = tmp_path / "lstm.svg"
        assert main(["render", "--cell", "lstm", "--steps", "3", "--layers", "2",
                     "--bidirectional", "--seed", "3", "-o", str(svg)]) == 0
        ET.parse(svg)


def test_cli_without_dot_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    assert main(["render", "--cell", "rnn", "-o", str(tmp_path / "x.png")]) == 1
    assert "install Graphviz" in capsys.readouterr().err.replace("Install", "install")


def test_cli_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        main(["render", "--cell", "transformer", "-o", "x.svg"])
    with pytest.raises(SystemExit):
        main(["render", "--steps", "0", "-o", "x.svg"])
    with pytest.raises(SystemExit):
        main(["render", "--max-steps", "1", "-o", "x.svg"])


def test_render_demo(tmp_path):
    pytest.importorskip("models")
    written = render_demo(tmp_path / "demo", formats=("svg",))
    names = sorted(p.rsplit("/", 1)[1] for p in map(str, written))
    expected = ["lstm_grads.dot", "rnn_grads.dot"]
    if viz.has_dot():
        expected += ["lstm_grads.svg", "rnn_grads.svg"]
    assert names == sorted(expected)
