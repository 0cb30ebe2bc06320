"""PeakMemory: the peak resident memory of a block, above its start."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from palestra.core.measure import PeakMemory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_peak_memory_sees_a_freed_allocation_and_not_an_earlier_one() -> None:
    before = np.ones(20_000_000)  # 160 MB held before the block: not part of its peak
    with PeakMemory() as small:
        np.ones(1000).sum()
    with PeakMemory() as big:
        np.ones(12_500_000).sum()  # 100 MB, freed inside the block
    del before
    assert small.mib is not None and big.mib is not None
    assert small.mib < 20
    assert 90 < big.mib < 130
