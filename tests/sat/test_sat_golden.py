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
from palestra.sat.drup import DrupEvidence, check_drup
from palestra.sat.heuristics import DLIS, VSIDS, JeroslowWang, RandomHeuristic

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


# file: DPLL-VSIDS (steps, decisions, conflicts), DPLL-random(7) (same),
#       CDCL-DLIS (decisions, conflicts, propagations), CDCL-random(7) (same)
GOLDEN_OTHER_HEURISTICS = {
    "uf20/uf20-01.cnf": ((8, 12, 4), (4, 4, 0), (10, 3, 37), (5, 0, 20)),
    "uf50/uf50-01.cnf": ((29, 46, 17), (420, 835, 415), (18, 2, 56), (157, 113, 1431)),
    "uuf50/uuf50-01.cnf": ((96, 192, 97), (331, 662, 332), (63, 42, 601), (157, 117, 1478)),
}


@pytest.mark.parametrize("name", list(GOLDEN_OTHER_HEURISTICS))
def test_golden_statistics_of_the_other_heuristics(name: str) -> None:
    if not (SATLIB / name).exists():
        pytest.skip(f"{SATLIB / name} not found (expected <repo>/../shared)")
    cnf = read_dimacs(SATLIB / name)
    vsids, random, cdcl_dlis, cdcl_random = GOLDEN_OTHER_HEURISTICS[name]
    r = solve_dpll(cnf, VSIDS())
    assert (r.steps, r.decisions, r.conflicts) == vsids
    r = solve_dpll(cnf, RandomHeuristic(7))
    assert (r.steps, r.decisions, r.conflicts) == random
    c = solve_cdcl(cnf, DLIS())
    assert (c.decisions, c.conflicts, c.propagations) == cdcl_dlis
    c = solve_cdcl(cnf, RandomHeuristic(7))
    assert (c.decisions, c.conflicts, c.propagations) == cdcl_random


def test_golden_drup_check_of_a_cdcl_refutation() -> None:
    if not (SATLIB / "uuf50/uuf50-01.cnf").exists():
        pytest.skip("uuf50-01.cnf not found (expected <repo>/../shared)")
    cnf = read_dimacs(SATLIB / "uuf50/uuf50-01.cnf")
    proof = solve_cdcl(cnf).proof or []
    verdict = check_drup(cnf, proof)
    assert (verdict.accepted, verdict.reason) == (True, "empty clause derived")
    assert verdict.evidence == DrupEvidence(line=31, lemmas=31, deletions=0, ignored_deletions=0)
    k = len(proof) // 3  # one lemma dropped: the next one that needed it fails
    verdict = check_drup(cnf, proof[:k] + proof[k + 1 :])
    assert (verdict.accepted, verdict.reason) == (False, "lemma '-12 -7 24 0' is not RUP")
    assert verdict.evidence == DrupEvidence(line=11, lemmas=11, deletions=0, ignored_deletions=0)
