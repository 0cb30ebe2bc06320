"""The demo end to end through the CLI, in its quick mode."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "palestra"


def test_quick_demo_writes_a_report(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN), "demo", "--quick", "--runs-root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = Path(out.stdout.strip().split("demo report: ")[-1])
    assert report.exists() and report.parent.parent == tmp_path / "demo"
    result = json.loads(report.with_suffix(".json").read_text())
    names = [f["name"] for f in result["figures"]]
    pillars = ["Prove:", "rlCoP:", "SAT:", "LM:"] + (["Coq:"] if shutil.which("coqc") else [])
    for pillar in pillars:
        assert any(n.startswith(pillar) for n in names), pillar
    for plot in result["plots"]:
        assert (report.parent / plot["file"]).stat().st_size > 1000
    assert (report.parent / "meta.json").exists()


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN), "demo", "--sections", "nope", "--runs-root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: unknown demo section(s) ['nope']")
