"""Coq tests need ``coqc`` and ``coqidetop`` (Debian: coq, libcoq-hammer, libcoq-coquelicot)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

COQ_DATA = Path(__file__).resolve().parents[1] / "data" / "coq"

HAVE_COQ = shutil.which("coqc") is not None


def require_coq() -> None:
    if not HAVE_COQ:
        pytest.skip("coqc not found: install Coq 8.16 (apt-get install coq libcoq-hammer)")


@pytest.fixture
def coq_data() -> Path:
    return COQ_DATA
