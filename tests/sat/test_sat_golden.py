"""Golden search statistics on fixed SATLIB formulas, so a refactor of a solver stays honest.

If a deliberate change to a solver or heuristic moves these numbers, re-derive them and say
why in the change; an accidental move is a bug.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from palestra.core.data import expected as dataset_path
from palestra.sat.cdcl import CDCLConfig, solve_cdcl
from palestra.sat.cnf import CNF, SolveResult
from palestra.sat.dimacs import read_dimacs
from palestra.sat.dpll import solve_dpll
from palestra.sat.drup import DrupEvidence, check_drup
from palestra.sat.heuristics import DLIS, VSIDS, JeroslowWang, RandomHeuristic

SATLIB = dataset_path("satlib")  # PALESTRA_DATA or ../shared/data beside the checkout

DPLL_COUNTS = ("steps", "decisions", "conflicts")
CDCL_COUNTS = ("decisions", "conflicts", "propagations")

# Each run: how it solves a formula, and the counts of its result held to the golden values.
RUNS: dict[str, tuple[Callable[[CNF], SolveResult], tuple[str, ...]]] = {
    "DPLL-DLIS": (lambda cnf: solve_dpll(cnf, DLIS()), DPLL_COUNTS),
    "DPLL-JW-OS": (lambda cnf: solve_dpll(cnf, JeroslowWang()), DPLL_COUNTS),
    "DPLL-VSIDS": (lambda cnf: solve_dpll(cnf, VSIDS()), DPLL_COUNTS),
    "DPLL-random(7)": (lambda cnf: solve_dpll(cnf, RandomHeuristic(7)), DPLL_COUNTS),
    "CDCL-JW-OS": (lambda cnf: solve_cdcl(cnf), CDCL_COUNTS),
    "CDCL-VSIDS+Luby(8)": (
        lambda cnf: solve_cdcl(cnf, config=CDCLConfig(vsids=True, restarts=True, luby_unit=8)),
        (*CDCL_COUNTS, "restarts"),
    ),
    "CDCL-DLIS": (lambda cnf: solve_cdcl(cnf, DLIS()), CDCL_COUNTS),
    "CDCL-random(7)": (lambda cnf: solve_cdcl(cnf, RandomHeuristic(7)), CDCL_COUNTS),
}

# file: the counts of each run, in the order of RUNS
GOLDEN = {
    "uf20/uf20-01.cnf": (
        (9, 15, 6), (8, 13, 5), (8, 12, 4), (4, 4, 0),
        (9, 2, 32), (10, 3, 34, 0), (10, 3, 37), (5, 0, 20),
    ),
    "uf50/uf50-01.cnf": (
        (11, 13, 2), (12, 15, 3), (29, 46, 17), (420, 835, 415),
        (21, 3, 70), (38, 15, 260, 1), (18, 2, 56), (157, 113, 1431),
    ),
    "uuf50/uuf50-01.cnf": (
        (74, 148, 75), (37, 74, 38), (96, 192, 97), (331, 662, 332),
        (37, 31, 456), (67, 48, 632, 4), (63, 42, 601), (157, 117, 1478),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_statistics(name: str) -> None:
    if not (SATLIB / name).exists():
        pytest.skip(f"{SATLIB / name} not found (palestra data list)")
    cnf = read_dimacs(SATLIB / name)
    for (run, (solve, counts)), expected in zip(RUNS.items(), GOLDEN[name], strict=True):
        r = solve(cnf)
        assert tuple(getattr(r, count) for count in counts) == expected, run


def test_golden_drup_check_of_a_cdcl_refutation() -> None:
    if not (SATLIB / "uuf50/uuf50-01.cnf").exists():
        pytest.skip("uuf50-01.cnf not found (palestra data list)")
    cnf = read_dimacs(SATLIB / "uuf50/uuf50-01.cnf")
    proof = solve_cdcl(cnf).proof or []
    verdict = check_drup(cnf, proof)
    assert (verdict.accepted, verdict.reason) == (True, "empty clause derived")
    assert verdict.evidence == DrupEvidence(line=31, lemmas=31, deletions=0, ignored_deletions=0)
    k = len(proof) // 3  # one lemma dropped: the next one that needed it fails
    verdict = check_drup(cnf, proof[:k] + proof[k + 1 :])
    assert (verdict.accepted, verdict.reason) == (False, "lemma '-12 -7 24 0' is not RUP")
    assert verdict.evidence == DrupEvidence(line=11, lemmas=11, deletions=0, ignored_deletions=0)
