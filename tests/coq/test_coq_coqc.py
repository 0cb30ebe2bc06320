"""Whole-file checking with coqc and the parsing of its error locations."""

from __future__ import annotations

from pathlib import Path

from palestra.coq.coqc import check_file, parse_errors

from .conftest import require_coq

OUTPUT = """File "./Candidate.v", line 8, characters 12-23:
Error: Unable to unify "double n" with "n".

"""


def test_parse_errors() -> None:
    [e] = parse_errors(OUTPUT)
    assert (e.line, e.column, e.end_column) == (8, 12, 23)
    assert e.message == 'Unable to unify "double n" with "n".'


def test_parse_errors_ignores_warnings() -> None:
    text = 'File "./a.v", line 2, characters 0-5:\nWarning: something [w,w]\n'
    assert parse_errors(text) == []


def test_coqc_accepts_and_rejects(coq_data: Path) -> None:
    require_coq()
    good = check_file((coq_data / "proof_good.v").read_text())
    assert good.ok and not good.errors and not good.timed_out
    bad = check_file((coq_data / "proof_wrong.v").read_text())
    assert not bad.ok
    assert bad.errors[0].line == 8
    assert bad.errors[0].column == 12


def test_coqc_timeout() -> None:
    require_coq()
    hang = "Ltac loop := idtac; loop.\nGoal True.\nloop.\n"
    result = check_file(hang, timeout=1.0)
    assert result.timed_out and not result.ok
