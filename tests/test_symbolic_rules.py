"""The op registry is complete (every primitive of minigrad and models has its symbolic rule
and a sample point), and every backward rule equals ``sympy.diff`` of its symbolic rule, to
first and second order, in float64 at 1e-12."""

import importlib
import pkgutil
import warnings

import numpy as np
import pytest

import minigrad as mg
import models
from minigrad.symbolic import rules_check


def _import_everything():
    """Import every module of minigrad and models, so that every primitive is registered
    (models.theory also registers the sample points of the models' primitives)."""
    for package in (mg, models):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                importlib.import_module(info.name)
            except Exception as err:  # someone else's module: reported by its own tests
                warnings.warn(f"could not import {info.name}: {err}", stacklevel=1)


_import_everything()
OPS = sorted(mg.REGISTRY)


def test_every_primitive_has_its_symbolic_rule():
    missing = [f"{name} (declared in {prim.module})" for name, prim in mg.REGISTRY.items()
               if prim.symbolic is None]
    assert not missing, "primitives without a symbolic rule: " + ", ".join(missing)


def test_every_primitive_has_a_rule_check_sample():
    missing = [name for name in mg.REGISTRY if name not in rules_check.SAMPLES]
    assert not missing, "primitives without a rule-check sample: " + ", ".join(missing)


def test_registry_covers_core_and_models():
    modules = {prim.module.split(".")[0] for prim in mg.REGISTRY.values()}
    assert modules == {"minigrad", "models"}
    assert "rnn_fused" in mg.REGISTRY


@pytest.mark.parametrize("name", OPS)
def test_backward_rule_equals_sympy_diff(name):
    prim = mg.REGISTRY[name]
    if prim.symbolic is None:
        pytest.fail(f"{name} has no symbolic rule (see test_every_primitive_has_its_symbolic_"
                    "rule)")
    result = rules_check.check_rule(name)
    assert result.passed, result
    assert result.value <= 1e-12  # the symbolic rule is the forward rule
    if not any(why in result.note for why in ("first order only", "not differentiable",
                                              "no differentiable input")):
        assert not np.isnan(result.first) and not np.isnan(result.second), result


def test_a_wrong_backward_rule_is_caught():
    bad = mg.Primitive("symbolic_test_bad_square")
    try:
        bad.def_forward(lambda a: a * a)
        bad.def_backward(lambda ctx, g: (g * ctx.inputs[0] * 3.0,))  # should be 2 x g
        bad.def_symbolic(lambda a: a * a)
        rules_check.register_sample("symbolic_test_bad_square")(
            lambda rng: ([rng.standard_normal((2, 2))], {}))
        result = rules_check.check_rule("symbolic_test_bad_square")
        assert not result.passed and result.first == pytest.approx(0.5)
        assert result.value == 0.0
    finally:
        del mg.REGISTRY["symbolic_test_bad_square"]
        del rules_check.SAMPLES["symbolic_test_bad_square"]


def test_check_all_rules_reports_unusable_ops_instead_of_raising():
    nameless = mg.Primitive("symbolic_test_no_sample")
    try:
        nameless.def_forward(lambda a: a)
        nameless.def_symbolic(lambda a: a)
        (row,) = rules_check.check_all_rules(names=["symbolic_test_no_sample"])
        assert not row.passed and "no sample point" in row.note
    finally:
        del mg.REGISTRY["symbolic_test_no_sample"]
