"""Shared test fixtures: the benchmark data sets (found as Palestra finds them), threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Hypothesis profiles for the fuzz tests (marker ``fuzz``): "ci" keeps ``make test`` fast;
# HYPOTHESIS_PROFILE=fuzz PALESTRA_FUZZ_EXAMPLES=N runs N examples per test (long runs).
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("PALESTRA_FUZZ_EXAMPLES", "100000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def m2k() -> Path:
    """The M2k data set (PALESTRA_DATA, or ../shared/data beside the checkout); skip where
    it is absent."""
    from palestra.core.data import find

    found = find("m2k")
    if found is None:
        pytest.skip("data set m2k not found (palestra data list)")
    return found.path
