"""Shared test fixtures: the benchmark data sets (found as Palestra finds them), threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def m2k() -> Path:
    """The M2k data set (PALESTRA_DATA, or ../shared/data beside the checkout); skip where
    it is absent."""
    from palestra.core.data import find

    found = find("m2k")
    if found is None:
        pytest.skip("data set m2k not found (palestra data list)")
    return found.path
