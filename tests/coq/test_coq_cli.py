"""``palestra prove-coq`` on statement files it cannot use: one line ``error: FILE:LINE:COL:
...``, exit status 2, no traceback (through the installed entry point, as a user meets it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require_coq

BIN = Path(sys.executable).parent / "palestra"


def prove_coq(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(BIN), "prove-coq", str(path), "--budget", "10", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    return out.stderr.strip()


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (
            "Theorem t : 1 = 1.\n(* café ".encode() + b"\xff\xfe *)\n",
            ":2:9: not UTF-8 text (byte 0xff)",
        ),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", ":1:8: a NUL character: binary, not a Coq script"),
        (b"Require Import Arith.\n", ": no Theorem/Lemma statement in the source"),
    ],
)
def test_unusable_statement_file_is_a_one_line_error(
    tmp_path: Path, data: bytes, where: str
) -> None:
    path = tmp_path / "s.v"
    path.write_bytes(data)
    assert _one_line_error(prove_coq(path)) == f"error: {path}{where}"


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.v"
    assert _one_line_error(prove_coq(path)) == f"error: {path}: No such file or directory"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_coq_error_in_the_statement_is_reported_at_its_line_and_column(
    tmp_path: Path, workers: str
) -> None:
    require_coq()
    path = tmp_path / "s.v"
    path.write_text("Require Import Arith.\nDefinition y : nat := foo.\nTheorem t : y = 1.\n")
    line = _one_line_error(prove_coq(path, "--workers", workers))
    assert line.startswith(f"error: {path}:2:23: The reference foo was not found")
