"""The CLI as a user meets it: in a subprocess, through the installed entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "palestra"


def palestra(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_help_lists_commands() -> None:
    out = palestra("--help")
    assert out.returncode == 0, out.stderr
    for command in ("bench", "report", "prove", "prove-coq", "demo", "train", "lm", "play", "sat"):
        assert command in out.stdout


def test_bench_list_works() -> None:
    out = palestra("bench", "--list")
    assert out.returncode == 0, out.stderr


def test_unknown_suite_is_a_one_line_error() -> None:
    out = palestra("bench", "no-such-suite")
    assert out.returncode == 2
    assert out.stderr.startswith("error: unknown bench suite 'no-such-suite'")
    assert out.stderr.count("\n") == 1


def test_report_on_a_non_run_is_a_one_line_error(tmp_path: Path) -> None:
    out = palestra("report", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {tmp_path}: not a run directory (no config.json)"
