"""Fixtures of the SAT tests: the SATLIB benchmark folder shared next to the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.core.data import expected as dataset_path

SATLIB = dataset_path("satlib")  # PALESTRA_DATA or ../shared/data beside the checkout


@pytest.fixture(scope="session")
def satlib() -> Path:
    """The satlib data set (PALESTRA_DATA or ../shared/data), or skip when it is absent."""
    if not SATLIB.is_dir():
        pytest.skip(f"SATLIB benchmarks not found at {SATLIB} (palestra data list)")
    return SATLIB
