"""The path-mistake walk of palestra.sat.diagnose, against heuristics whose mistakes are known."""

from __future__ import annotations

import numpy as np
import pytest

from palestra.sat.cnf import CNF
from palestra.sat.diagnose import compare_heuristics, path_mistakes
from palestra.sat.generators import generate_sr_pair
from palestra.sat.heuristics import BranchingView, JeroslowWang


def _keeps_sat(clauses: list[list[int]], lit: int) -> bool:
    from pysat.solvers import Minisat22

    with Minisat22(bootstrap_with=[*clauses, [lit]]) as s:
        return s.solve()


class Oracle:
    """Picks a literal that keeps the formula satisfiable (``wrong=False``), or one that does
    not wherever one exists (``wrong=True``); counts the picks that were wrong."""

    def __init__(self, wrong: bool) -> None:
        self.wrong = wrong
        self.wrong_picks = 0

    def pick(self, view: BranchingView) -> int:
        clauses = view.clauses()
        lits = sorted({x for c in clauses for x in c}, key=lambda x: (abs(x), -x))
        for lit in lits:
            if _keeps_sat(clauses, lit) != self.wrong:
                self.wrong_picks += self.wrong
                return lit
        return lits[0]


def _sat_formulas(k: int, n: int) -> list[CNF]:
    rng = np.random.default_rng(3)
    return [generate_sr_pair(n, rng, "hard").sat for _ in range(k)]


def test_a_right_picker_makes_no_mistake_and_a_wrong_one_is_counted() -> None:
    for cnf in _sat_formulas(4, 12):
        right = path_mistakes(cnf, Oracle(wrong=False))
        assert right.mistakes == 0 and right.decisions >= 1
        wrong_picker = Oracle(wrong=True)
        w = path_mistakes(cnf, wrong_picker)
        assert w.mistakes == wrong_picker.wrong_picks >= 1
        assert len(w.mistake_free_vars) == w.mistakes
        assert all(1 <= v <= cnf.num_vars for v in w.mistake_free_vars)
        assert list(w.mistake_free_vars) == sorted(w.mistake_free_vars, reverse=True)
        assert w.early_mistakes(cnf.num_vars, cnf.num_vars) == w.mistakes


def test_compare_heuristics_summarises_each_heuristic() -> None:
    formulas = _sat_formulas(3, 12)
    out = compare_heuristics(
        formulas,
        {"right": lambda: Oracle(False), "wrong": lambda: Oracle(True), "JW-OS": JeroslowWang},
    )
    assert out["right"]["early_mistake_free"] == 100.0 and out["right"]["mistakes"] == 0
    assert out["right"]["step_accuracy"] == 1.0
    assert out["wrong"]["early_mistake_free"] == 0.0 and out["wrong"]["step_accuracy"] < 1.0
    assert 0.0 <= out["JW-OS"]["step_accuracy"] <= 1.0 and out["JW-OS"]["decisions"] >= 1


def test_an_unsatisfiable_formula_is_refused() -> None:
    with pytest.raises(ValueError, match="satisfiable"):
        path_mistakes(CNF(1, [[1], [-1]]), JeroslowWang())
