"""Shared test configuration: a small, deterministic hypothesis profile so the suite stays fast.

Choose another profile with ``HYPOTHESIS_PROFILE=thorough`` (more examples, for a long local run).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "minigrad",
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "minigrad"))


@pytest.fixture
def rng():
    """A fresh, seeded numpy generator for test data."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _restore_global_switches():
    """A test that changes the default dtype (and fails before restoring it) cannot leak the
    change into the next test."""
    import minigrad as mg

    before = mg.get_default_dtype()
    yield
    mg.set_default_dtype(before)
