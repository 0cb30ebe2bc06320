"""Hostile programs in the real sandbox: each attack is judged from outside and contained."""

from __future__ import annotations

import os
import sys

import pytest

from palestra.reason.bench_code import hostile_programs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

# what only the fresh uid and the mount namespace (root) contain; the sandbox's module doc says
# so, and the bench reports them as not contained elsewhere
NEED_ROOT = {
    "killing the parent",
    "writing outside the temp dir",
    "filling the disk (512 MB)",
    "reading /root and init's environment",
    "fork bomb",
}


def test_every_hostile_program_is_contained():
    root = os.geteuid() == 0
    outcomes = {h.attack: h for h in hostile_programs(timeout_s=1.0)}
    assert len(outcomes) == 10 and set(outcomes) >= NEED_ROOT
    for h in outcomes.values():
        if root or h.attack not in NEED_ROOT:
            assert h.contained, h
    assert outcomes["10 GB allocation"].status == "memory"
    assert outcomes["infinite loop"].status == "timeout"
    if root:  # the evidence names what contained it
        assert outcomes["fork bomb"].by.startswith("processes")
        assert outcomes["writing outside the temp dir"].by == "user + filesystem"
        assert "No space left" in outcomes["filling the disk (512 MB)"].evidence
