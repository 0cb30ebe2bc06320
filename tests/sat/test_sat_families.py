"""The families beyond SR(n): every generator's status agrees with MiniSat (models checked),
seeds reproduce instances, the SATLIB loader labels its folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from palestra.core.errors import PalestraError
from palestra.sat.families import (
    FAMILIES,
    check_status,
    colouring,
    family_instances,
    pigeonhole,
    planning,
    satlib_family,
)


@pytest.mark.parametrize("family", FAMILIES)
def test_generated_family_status_is_checked_by_a_solver(family: str) -> None:
    insts = family_instances(family, 6, seed=3)
    assert all(x.family == family for x in insts)
    assert all(check_status(x) for x in insts)
    if family != "random-3sat":  # its status is MiniSat's; the others mix both by design
        assert {x.satisfiable for x in insts} == {True, False}


def test_seed_reproduces_instances() -> None:
    a = family_instances("colouring", 3, seed=7)
    b = family_instances("colouring", 3, seed=7)
    assert [x.cnf.clauses for x in a] == [x.cnf.clauses for x in b]
    c = family_instances("colouring", 3, seed=8)
    assert [x.cnf.clauses for x in a] != [x.cnf.clauses for x in c]


def test_classic_pigeonhole_and_planted_colouring() -> None:
    rng = np.random.default_rng(0)
    php = pigeonhole(5, 4, rng)
    assert not php.satisfiable and php.status_source == "matching" and check_status(php)
    assert pigeonhole(4, 4, rng).satisfiable
    col = colouring(30, 60, 3, rng, planted=True)
    assert col.satisfiable and check_status(col)


def test_planning_horizon_decides_status() -> None:
    for slack, sat in ((0, True), (2, True), (-1, False)):
        inst = planning(5, 3, np.random.default_rng(4), slack=slack)
        assert inst.satisfiable == sat and check_status(inst)


def test_bad_family_is_a_clear_error() -> None:
    with pytest.raises(PalestraError, match="unknown family"):
        family_instances("sudoku", 1, 0)


def test_satlib_loader(satlib: Path) -> None:
    uf = satlib_family("uf50", 3, seed=0)
    uuf = satlib_family("uuf50", 2, seed=0)
    assert len(uf) == 3 and all(x.satisfiable for x in uf)
    assert len(uuf) == 2 and not any(x.satisfiable for x in uuf)
    assert all(check_status(x) for x in uf + uuf)
