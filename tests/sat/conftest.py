"""Fixtures of the SAT tests: the SATLIB benchmark folder shared next to the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

SATLIB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sat" / "satlib"


@pytest.fixture(scope="session")
def satlib() -> Path:
    """``<repo>/../shared/data/sat/satlib``, or skip when it is absent."""
    if not SATLIB.is_dir():
        pytest.skip(f"SATLIB benchmarks not found at {SATLIB} (expected <repo>/../shared)")
    return SATLIB
