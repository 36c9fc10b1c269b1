"""state_dict / load_state_dict with tied (shared) weights: listed under every name, as in
PyTorch; a strict load accepts such a dict when both names hold the same values."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class Tied(nn.Module):
    """An embedding and an output layer sharing one weight (V, D) = (5, 3)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(5, 3)
        self.decoder = nn.Linear(3, 5)
        self.decoder.weight = self.encoder.weight

    def forward(self, tokens):
        return self.decoder(self.encoder(tokens))


def test_state_dict_lists_a_tied_weight_under_both_names():
    model = Tied()
    state = model.state_dict()
    assert list(state) == ["encoder.weight", "decoder.weight", "decoder.bias"]
    np.testing.assert_array_equal(state["encoder.weight"], state["decoder.weight"])
    assert [n for n, _ in model.named_parameters()] == ["encoder.weight", "decoder.bias"]
    assert [n for n, _ in model.named_parameters(remove_duplicate=False)] == [
        "encoder.weight", "decoder.weight", "decoder.bias"]


def test_a_tied_state_dict_loads_back_strictly():
    model, fresh = Tied(), Tied()
    version = fresh.encoder.weight._version
    assert fresh.load_state_dict(model.state_dict()) == ([], [])
    np.testing.assert_array_equal(fresh.decoder.weight.numpy(), model.encoder.weight.numpy())
    assert fresh.decoder.weight is fresh.encoder.weight
    assert fresh.encoder.weight._version == version + 1  # written once
    state = model.state_dict()
    del state["decoder.weight"]  # one name is enough without strict
    assert fresh.load_state_dict(state, strict=False) == (["decoder.weight"], [])


def test_tied_names_holding_different_values_are_refused_unchanged():
    model, fresh = Tied(), Tied()
    before = {k: v.numpy().copy() for k, v in fresh.state_dict().items()}
    state = model.state_dict()
    state["decoder.weight"] = state["decoder.weight"] + 1.0
    with pytest.raises(ValueError, match="encoder.weight and decoder.weight name one tied"):
        fresh.load_state_dict(state)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_a_shared_submodule_appears_under_every_path():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
    assert [n for n, _ in model.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    other = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2))
    other.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(other[2].weight.numpy(), shared.weight.numpy())


def test_matches_pytorchs_state_dict_keys():
    torch = pytest.importorskip("torch")

    class TorchTied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Embedding(5, 3)
            self.decoder = torch.nn.Linear(3, 5)
            self.decoder.weight = self.encoder.weight

    theirs = TorchTied()
    ours = Tied()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(ours.decoder.weight.numpy(), theirs.decoder.weight.detach().numpy())
    back = TorchTied()
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    tokens = np.array([[1, 4, 0]])
    np.testing.assert_allclose(
        ours(mg.tensor(tokens)).numpy(),
        back.decoder(back.encoder(torch.tensor(tokens))).detach().numpy(), rtol=1e-6,
        atol=1e-6)
