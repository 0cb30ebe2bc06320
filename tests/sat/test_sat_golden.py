"""Golden search statistics on fixed SATLIB formulas, so a refactor of a solver stays honest.

If a deliberate change to a solver or heuristic moves these numbers, re-derive them and say
why in the change; an accidental move is a bug.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.sat.cdcl import CDCLConfig, solve_cdcl
from palestra.sat.dimacs import read_dimacs
from palestra.sat.dpll import solve_dpll
from palestra.sat.heuristics import DLIS, JeroslowWang

SATLIB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sat" / "satlib"

# file: DPLL-DLIS (steps, decisions, conflicts), DPLL-JW-OS (same),
#       CDCL-JW-OS (decisions, conflicts, propagations),
#       CDCL-VSIDS+Luby(8) (decisions, conflicts, propagations, restarts)
GOLDEN = {
    "uf20/uf20-01.cnf": ((9, 15, 6), (8, 13, 5), (9, 2, 32), (10, 3, 34, 0)),
    "uf50/uf50-01.cnf": ((11, 13, 2), (12, 15, 3), (21, 3, 70), (38, 15, 260, 1)),
    "uuf50/uuf50-01.cnf": ((74, 148, 75), (37, 74, 38), (37, 31, 456), (67, 48, 632, 4)),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_statistics(name: str) -> None:
    if not (SATLIB / name).exists():
        pytest.skip(f"{SATLIB / name} not found (expected <repo>/../shared)")
    cnf = read_dimacs(SATLIB / name)
    dlis, jw, cdcl, vsids = GOLDEN[name]
    r = solve_dpll(cnf, DLIS())
    assert (r.steps, r.decisions, r.conflicts) == dlis
    r = solve_dpll(cnf, JeroslowWang())
    assert (r.steps, r.decisions, r.conflicts) == jw
    c = solve_cdcl(cnf)
    assert (c.decisions, c.conflicts, c.propagations) == cdcl
    c = solve_cdcl(cnf, config=CDCLConfig(vsids=True, restarts=True, luby_unit=8))
    assert (c.decisions, c.conflicts, c.propagations, c.restarts) == vsids
