"""The README's Python snippets run as written: each ``## `` section's blocks in order, in one
namespace per section (sections do not depend on each other)."""

import importlib.util
import pathlib
import re

import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _sections():
    text = README.read_text()
    found = []
    for chunk in re.split(r"^## ", text, flags=re.M)[1:]:
        title = chunk.split("\n", 1)[0].strip()
        blocks = re.findall(r"^```python\n(.*?)^```", chunk, flags=re.S | re.M)
        if blocks:
            found.append(pytest.param(title, blocks, id=title[:40]))
    return found


def test_the_readme_has_snippets():
    assert len(_sections()) >= 5


@pytest.mark.parametrize("title, blocks", _sections())
def test_readme_section_runs(title, blocks, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    namespace = {"__name__": "__readme__"}
    for i, block in enumerate(blocks):
        if "import torch" in block and not HAVE_TORCH:
            continue  # the PyTorch interop snippets run only where PyTorch is installed
        exec(compile(block, f"README.md [{title}] block {i}", "exec"), namespace)
    out = capsys.readouterr().out
    if title.startswith("The core"):
        assert "[3.0, -6.0]" in out and "layer0/t=1 tanh" in out
        assert "float32 float64 float32 float32" in out
