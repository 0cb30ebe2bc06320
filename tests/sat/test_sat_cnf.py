"""The CNF exchange type, model checking and the solvers' result type."""

from __future__ import annotations

import pytest

from palestra.core.verdict import ModelEvidence, Verdict
from palestra.sat.cnf import CNF, SolveResult, Status


def test_check_model_total_and_partial() -> None:
    cnf = CNF(3, [[1, -2], [2, 3], [-1, 3]])
    assert cnf.check_model([1, 2, 3])
    assert not cnf.check_model([1, 2, -3])
    assert cnf.unsatisfied_clauses([1, 2, -3]) == [2]
    assert cnf.check_model([-2, 3])  # partial: variable 1 is irrelevant
    assert not cnf.check_model([3])  # partial: clause [1, -2] is not yet satisfied
    assert CNF(2, []).check_model([])
    assert not CNF(2, [[]]).check_model([1, 2])


def test_check_model_is_a_verdict_naming_the_first_unsatisfied_clause() -> None:
    cnf = CNF(3, [[1, -2], [2, 3], [-1, 3]])
    v = cnf.check_model([1, 2, 3])
    assert isinstance(v, Verdict) and v.accepted and v.evidence == ModelEvidence(clause=None)
    v = cnf.check_model([1, -2, -3])
    assert not v and v.evidence == ModelEvidence(clause=1)
    assert v.reason == "clause 1 (2 3 0) is not satisfied"
    assert v.to_json()["evidence"] == {"clause": 1}


def test_solve_result_json_has_one_key_per_count() -> None:
    r = SolveResult("dpll", Status.SATISFIABLE, [1, -2], 3, 1, 0.0123456789, steps=2)
    assert r.to_json() == {
        "solver": "dpll",
        "status": "SATISFIABLE",
        "model": [1, -2],
        "decisions": 3,
        "conflicts": 1,
        "seconds": 0.012346,
        "propagations": None,
        "steps": 2,
        "learned": None,
        "restarts": None,
        "guided": None,
        "checked": False,
        "proof_format": None,
    }
    r = SolveResult("cdcl", Status.UNSATISFIABLE, None, 0, 1, 0.0, proof=["0"])
    assert "proof" not in r.to_json() and r.proof == ["0"]


def test_check_model_rejects_inconsistent_or_out_of_range() -> None:
    cnf = CNF(2, [[1, 2]])
    with pytest.raises(ValueError, match="both"):
        cnf.check_model([1, -1])
    with pytest.raises(ValueError, match="outside"):
        cnf.check_model([3])
    with pytest.raises(ValueError, match="outside"):
        cnf.check_model([0])


def test_validate() -> None:
    CNF(2, [[1, -2], []]).validate()
    for bad in (CNF(2, [[3]]), CNF(2, [[0]]), CNF(-1, []), CNF(2, [[1.0]])):  # type: ignore[list-item]
        with pytest.raises(ValueError):
            bad.validate()
