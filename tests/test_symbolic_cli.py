"""``minigrad derive`` and ``minigrad verify``."""

import pytest

from minigrad import cli
from models import theory, theory_cli


def test_derive_rnn_prints_jacobian_product_and_bound(capsys):
    assert cli.main(["derive", "rnn", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "w_hh*(1 - h_t**2)" in out
    assert "w_hh**2*(1 - h_1**2)*(1 - h_2**2)" in out
    assert "gamma = sup |tanh'(x)| = 1" in out
    assert "sigma_max < 1" in out and "sigma_max > 1" in out
    assert " NO" not in out


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_derive_gated_cells(model, capsys):
    assert cli.main(["derive", model, "--steps", "2"]) == 0
    out = capsys.readouterr().out
    path = "diag(f_t)" if model == "lstm" else "diag(z_t)"
    assert path in out and " NO" not in out


def test_derive_latex_and_bad_steps(capsys):
    assert cli.main(["derive", "rnn", "--steps", "1", "--latex"]) == 0
    assert r"w_{hh} \left(1 - h_{t}^{2}\right)" in capsys.readouterr().out
    assert cli.main(["derive", "rnn", "--steps", "0"]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_verify_table_and_exit_code(monkeypatch, capsys):
    rows = [theory.Check("good formula", 1e-15, 1e-12, "ok"),
            theory.Check("bad formula", 1e-3, 1e-12, "off")]
    monkeypatch.setattr(theory, "run_checks", lambda quick, seed: rows)
    assert cli.main(["verify", "--quick"]) == 1
    out = capsys.readouterr().out
    assert "good formula" in out and "FAIL" in out and "1 of 2 checks passed" in out
    monkeypatch.setattr(theory, "run_checks", lambda quick, seed: rows[:1])
    assert cli.main(["verify"]) == 0
    lines = theory_cli.format_table(rows[:1])
    assert lines[0].startswith("formula") and "pass" in lines[2]
