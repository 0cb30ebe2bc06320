"""The CNF exchange type and model checking."""

from __future__ import annotations

import pytest

from palestra.sat.cnf import CNF


def test_check_model_total_and_partial() -> None:
    cnf = CNF(3, [[1, -2], [2, 3], [-1, 3]])
    assert cnf.check_model([1, 2, 3])
    assert not cnf.check_model([1, 2, -3])
    assert cnf.unsatisfied_clauses([1, 2, -3]) == [2]
    assert cnf.check_model([-2, 3])  # partial: variable 1 is irrelevant
    assert not cnf.check_model([3])  # partial: clause [1, -2] is not yet satisfied
    assert CNF(2, []).check_model([])
    assert not CNF(2, [[]]).check_model([1, 2])


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
