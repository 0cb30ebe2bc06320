"""``palestra bench prover`` end to end on the built-in M2k sample, at tiny budgets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from palestra.core.bench import run_suite

M2K = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "tptp" / "m2k"


def test_inference_limited_part(tmp_path: Path) -> None:
    js, _md = run_suite(
        "prover",
        quick=True,
        out_dir=tmp_path / "results",
        runs_root=tmp_path / "runs",
        options=[f"problems={M2K}", "quick_sample=4", "time_limit=0", "inference_limit=20000"],
    )
    result = json.loads(js.read_text())
    names = [f["name"] for f in result["figures"]]
    assert "proved at 20k inferences, [cut,comp(7)]" in names
    assert "proved at 20k inferences, [conj,nodef]" in names
    assert "The timed comparison with E was skipped (time_limit=0)." in result["notes"]
    for r in result["data"]["results"]["[cut,comp(7)]"]:
        assert r["status"] in ("Theorem", "GaveUp") and "proof" not in r


@pytest.mark.skipif(shutil.which("eprover") is None, reason="eprover not installed")
def test_timed_comparison_with_e(tmp_path: Path) -> None:
    js, md = run_suite(
        "prover",
        quick=True,
        out_dir=tmp_path / "results",
        runs_root=tmp_path / "runs",
        options=[f"problems={M2K}", "quick_sample=2", "time_limit=2", "inference_limit=20000"],
    )
    result = json.loads(js.read_text())
    timed = [f for f in result["figures"] if f["name"].startswith("proved at 2 s")]
    assert timed and timed[0]["peer"] == "E 2.6 --auto-schedule"
    assert timed[0]["peer_value"] is not None
    assert len(result["data"]["results"]["eprover"]) == 2
    assert "E 2.6" in md.read_text()
