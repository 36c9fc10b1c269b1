"""The examples' ``--quick`` modes run end to end and print what they promise."""

import importlib.util
import os

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_adding_problem_quick(tmp_path, capsys):
    example = _load("adding_problem")
    assert example.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for label in ("tanh RNN", "LSTM", "GRU", "IRNN"):
        assert f"| {label} | 10 |" in out
    assert (tmp_path / "learning_curves.png").stat().st_size > 0
    assert (tmp_path / "results.csv").read_text().count("\n") == 5


def test_next_word_quick(capsys):
    example = _load("next_word")
    assert example.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "sample predictions" in out and "greedy continuation" in out
    assert "||dL/dh_t|| across the window" in out and "t=7:" in out


def test_tagging_quick(capsys):
    example = _load("tagging")
    assert example.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "entity F1" in out and "sample predictions" in out


def test_text_ships_with_the_repo():
    path = os.path.join(EXAMPLES, "data", "harbour.txt")
    size = os.path.getsize(path)
    assert 2_000 < size < 20_000


@pytest.mark.parametrize("name", ["adding_problem", "next_word", "tagging"])
def test_examples_reject_bad_arguments(name):
    with pytest.raises(SystemExit):
        _load(name).main(["--steps", "0"])
