"""``models.cell.registry``: the built-in kinds by name, read by the commands, the
derivations and the analysis report (one list)."""

import pytest

import models
from models import theory, theory_cli
from models.analysis.sections import Config
from models.cell import Cell
from models.cell.registry import NAMES, kind
from viz import cli as viz_cli


def test_every_kind_has_a_cell_and_a_layer():
    assert NAMES == ("rnn", "lstm", "gru")
    for name in NAMES:
        k = kind(name)
        assert issubclass(k.cell, Cell) and issubclass(k.layer, models.rnn.RNNBase)
        assert k.layer(3, 4).mode == name and k.cell(3, 4).mode == name


def test_the_readers_take_their_choices_from_it():
    assert viz_cli.CELLS == NAMES and theory_cli.MODELS == NAMES and theory.MODES == NAMES
    assert Config().derive_models == NAMES


def test_an_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"expected one of \('rnn', 'lstm', 'gru'\), got 'lru'"):
        kind("lru", "build_network")
