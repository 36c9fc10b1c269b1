"""A PyTorch-style program (tests/torch_programs/tiny_lm.py, written for these tests) runs
under minigrad after only its imports are rewritten; with PyTorch installed, the same program
under PyTorch gives the same losses from the same weights."""

import importlib.util
import pathlib
import re
import sys
import types

import numpy as np
import pytest

from models.torch.rewrite import main as rewrite_main
from models.torch.rewrite import rewrite_imports

PROGRAM = pathlib.Path(__file__).resolve().parent / "torch_programs" / "tiny_lm.py"
VOCAB, SIZE = 12, 12  # tied weights: the embedding size is the hidden size


def load_program(name, source):
    """Run ``source`` as the module ``name`` (registered, so pickle finds its classes)."""
    module = types.ModuleType(name)
    module.__file__ = str(PROGRAM)
    sys.modules[name] = module
    exec(compile(source, str(PROGRAM), "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def program():
    source = PROGRAM.read_text()
    rewritten = rewrite_imports(source)
    assert "import torch\n" not in rewritten and "from torch " not in rewritten
    changed = [line for line, new in zip(source.splitlines(), rewritten.splitlines(),
                                         strict=True) if line != new]
    assert changed and all("torch" in line and "import" in line for line in changed)
    yield load_program("tiny_lm_minigrad", rewritten)
    sys.modules.pop("tiny_lm_minigrad", None)


def test_the_rewrite_touches_only_imports(tmp_path, capsys):
    source = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n" \
             "from torch import optim\nfrom torch.nn.utils.rnn import pad_sequence\n" \
             "import torch.onnx\nx = torch.zeros(2)  # import torch in a comment stays\n" \
             "    import torch  # indented, with a comment\nimport torchvision\n"
    expected = [
        "import models.torch as torch", "import models.torch.nn as nn",
        "import models.torch.nn.functional as F", "from models.torch import optim",
        "from models.torch.nn.utils.rnn import pad_sequence", "import models.torch.onnx",
        "x = torch.zeros(2)  # import torch in a comment stays",
        "    import models.torch as torch  # indented, with a comment", "import torchvision"]
    assert rewrite_imports(source).splitlines() == expected
    program = tmp_path / "program.py"
    program.write_text(source)
    assert rewrite_main([str(program)]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    assert rewrite_main([]) == 2
    with pytest.raises(TypeError, match="expected the program's text"):
        rewrite_imports(b"import torch")


@pytest.mark.parametrize("kind, optimizer", [("LSTM", "sgd"), ("GRU", "adamw"),
                                             ("tanh", "sgd"), ("relu", "adamw")])
def test_the_language_model_trains_and_round_trips(program, kind, optimizer, tmp_path):
    import minigrad as mg

    mg.manual_seed(0)
    data = program.batchify(program.corpus(VOCAB, 200, seed=1), 4)
    assert data.shape == (50, 4) and data.dtype == np.int64
    model = program.TinyLM(kind, VOCAB, SIZE).to(program.device)
    assert model.decoder.weight is model.encoder.weight
    before = program.evaluate(model, data)
    opt, scheduler, losses = program.train(model, data, optimizer=optimizer,
                                           lr=0.5 if optimizer == "sgd" else 0.01)
    assert len(losses) == 18 and all(np.isfinite(losses))
    assert scheduler.get_last_lr() == pytest.approx([opt.param_groups[0]["initial_lr"] / 4])
    after = program.evaluate(model, data)
    assert after < before
    path = str(tmp_path / "lm.ckpt")
    checkpoint, fresh, again, whole = program.save_and_restore(model, opt, scheduler, path,
                                                               kind, VOCAB, SIZE)
    assert checkpoint["epoch"] == 2 and set(checkpoint) == {"model", "optimizer", "scheduler",
                                                            "epoch"}
    for restored in (fresh, again, whole):
        assert program.evaluate(restored, data) == pytest.approx(after, rel=1e-6)
        assert restored.decoder.weight is restored.encoder.weight  # still tied after loading
    assert type(whole) is program.TinyLM and whole.kind == kind and not whole.training
    words = program.sample(model, 15, temperature=0.8)
    assert len(words) == 15 and all(0 <= w < VOCAB for w in words)


def test_the_packed_classifier_trains(program):
    import minigrad as mg

    mg.manual_seed(0)
    tokens, lengths, labels = _classifier_batch()
    model = program.Classifier(VOCAB, 6, 3)
    losses = program.train_classifier(model, mg.tensor(tokens), mg.tensor(lengths),
                                      mg.tensor(labels), steps=8)
    assert losses[-1] < losses[0]


def _classifier_batch():
    rng = np.random.default_rng(3)
    lengths = np.array([5, 2, 7, 3, 7, 1])
    tokens = np.zeros((6, 7), dtype=np.int64)
    for b, n in enumerate(lengths):
        tokens[b, :n] = rng.integers(1, VOCAB, n)
    return tokens, lengths, np.array([0, 1, 2, 0, 1, 2])


# ---- the same program under PyTorch -----------------------------------------------------------
@pytest.fixture(scope="module")
def torch_program():
    pytest.importorskip("torch")
    yield load_program("tiny_lm_torch", PROGRAM.read_text())
    sys.modules.pop("tiny_lm_torch", None)


def _copy_weights(torch_model, model):
    """Both state dicts name a tied parameter under each module, so a strict load takes
    PyTorch's as it is."""
    state = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    assert list(state) == list(model.state_dict())
    assert model.load_state_dict(state) == ([], [])


@pytest.mark.parametrize("kind, optimizer", [("LSTM", "sgd"), ("GRU", "adamw"),
                                             ("relu", "sgd"), ("tanh", "adamw"),
                                             ("GRU", "manual")])
def test_the_same_losses_as_pytorch(program, torch_program, kind, optimizer):
    import torch

    torch.manual_seed(0)
    theirs = torch_program.TinyLM(kind, VOCAB, SIZE)
    ours = program.TinyLM(kind, VOCAB, SIZE)
    _copy_weights(theirs, ours)
    ids = torch_program.corpus(VOCAB, 200, seed=1)
    lr = 0.01 if optimizer == "adamw" else 0.5
    _, _, their_losses = torch_program.train(theirs, torch_program.batchify(ids, 4),
                                             optimizer=optimizer, lr=lr)
    data = program.batchify(program.torch.tensor(ids.numpy()), 4)
    _, _, our_losses = program.train(ours, data, optimizer=optimizer, lr=lr)
    np.testing.assert_allclose(our_losses, their_losses, rtol=2e-4, atol=2e-5)
    assert program.evaluate(ours, data) == pytest.approx(
        torch_program.evaluate(theirs, torch_program.batchify(ids, 4)), rel=2e-4)


def test_the_packed_classifier_matches_pytorch(program, torch_program):
    import torch

    torch.manual_seed(0)
    theirs = torch_program.Classifier(VOCAB, 6, 3)
    ours = program.Classifier(VOCAB, 6, 3)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    tokens, lengths, labels = _classifier_batch()
    their_losses = torch_program.train_classifier(
        theirs, torch.tensor(tokens), torch.tensor(lengths), torch.tensor(labels), steps=6)
    mgt = program.torch.tensor
    our_losses = program.train_classifier(ours, mgt(tokens), mgt(lengths), mgt(labels),
                                          steps=6)
    np.testing.assert_allclose(our_losses, their_losses, rtol=2e-4, atol=2e-5)


def test_the_program_needs_no_pytorch():
    """CI has no PyTorch: the rewritten program must not import it."""
    rewritten = rewrite_imports(PROGRAM.read_text())
    assert not re.search(r"^\s*(import|from) torch\b", rewritten, flags=re.M)
    assert importlib.util.find_spec("models.torch") is not None


def test_the_whole_program_is_valid_pytorch(torch_program, tmp_path):
    """Everything the minigrad run does, under PyTorch itself (so the program is PyTorch's
    dialect, not ours): train, evaluate, both checkpoints, sampling, the packed classifier."""
    import torch

    torch.manual_seed(0)
    data = torch_program.batchify(torch_program.corpus(VOCAB, 200, seed=1), 4)
    model = torch_program.TinyLM("LSTM", VOCAB, SIZE).to(torch_program.device)
    opt, scheduler, losses = torch_program.train(model, data)
    after = torch_program.evaluate(model, data)
    _, fresh, again, whole = torch_program.save_and_restore(
        model, opt, scheduler, str(tmp_path / "lm.pt"), "LSTM", VOCAB, SIZE)
    for restored in (fresh, again, whole):
        assert torch_program.evaluate(restored, data) == pytest.approx(after, rel=1e-6)
    assert type(whole) is torch_program.TinyLM
    assert len(torch_program.sample(model, 5)) == 5
    tokens, lengths, labels = _classifier_batch()
    classifier = torch_program.Classifier(VOCAB, 6, 3)
    assert len(torch_program.train_classifier(classifier, torch.tensor(tokens),
                                              torch.tensor(lengths), torch.tensor(labels),
                                              steps=2)) == 2
