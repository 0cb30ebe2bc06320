"""Where a branching heuristic goes wrong: its mistakes along a DPLL path, by depth.

A DPLL run on a satisfiable formula finds a model within its step cap only if it refutes every
wrong branch it takes within that cap. A wrong pick near the root leaves an unsatisfiable formula
with nearly all variables free, whose refutation alone costs thousands of steps on SR(110); a
wrong pick deep down costs a handful. So the share of formulas on which a heuristic makes *no
mistake while the formula is still large* predicts its DPLL solve rate, and it is cheap to
measure: one pick and one MiniSat call per decision, no refutations.

``path_mistakes`` walks a satisfiable formula the way DPLL does (unit propagation and pure
literals to a fixpoint, then one pick), asks MiniSat whether the pick keeps the formula
satisfiable, and where it does not, counts a mistake and takes the other branch (satisfiable,
since the formula is): the path DPLL would follow after refuting that branch.
``compare_heuristics`` runs it for several heuristics on the same formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from palestra.sat.cnf import CNF
from palestra.sat.dpll import _propagate, _restrict, _view
from palestra.sat.heuristics import Heuristic

__all__ = ["PathMistakes", "compare_heuristics", "path_mistakes"]


@dataclass(frozen=True)
class PathMistakes:
    """One walk: ``decisions`` picks, ``mistakes`` of them wrong; ``mistake_free_vars`` lists,
    for each mistake, how many variables the formula still had when it was made."""

    decisions: int
    mistakes: int
    mistake_free_vars: tuple[int, ...]

    def early_mistakes(self, num_vars: int, early: int) -> int:
        """Mistakes made while more than ``num_vars - early`` variables were free."""
        return sum(v > num_vars - early for v in self.mistake_free_vars)


def path_mistakes(cnf: CNF, heuristic: Heuristic) -> PathMistakes:
    """Walk satisfiable ``cnf`` along ``heuristic``'s picks (see the module docstring).

    Raises ``ValueError`` if ``cnf`` is unsatisfiable.
    """
    from pysat.solvers import Minisat22

    n = cnf.num_vars
    formula = [list(c) for c in cnf.clauses]
    with Minisat22(bootstrap_with=formula) as solver:
        if not solver.solve():
            raise ValueError("path_mistakes needs a satisfiable formula")
    trail: tuple[int, ...] = ()
    decisions = 0
    free_at_mistake: list[int] = []
    while True:
        formula, trail, conflict = _propagate(formula, trail)
        if conflict:  # cannot happen: every branch taken keeps the formula satisfiable
            raise RuntimeError("propagation refuted a satisfiable formula")
        if not formula:
            return PathMistakes(decisions, len(free_at_mistake), tuple(free_at_mistake))
        lit = heuristic.pick(_view(n, formula, trail, decisions))
        decisions += 1
        branch = _restrict(formula, {lit})
        with Minisat22(bootstrap_with=branch) as solver:
            keeps = solver.solve()
        if not keeps:
            free_at_mistake.append(len({abs(x) for c in formula for x in c}))
            lit, branch = -lit, _restrict(formula, {-lit})
        trail = (*trail, lit)
        formula = branch


def compare_heuristics(
    formulas: Sequence[CNF], makers: dict[str, Callable[[], Heuristic]], early: int = 12
) -> dict[str, dict[str, float]]:
    """For each heuristic (a fresh one per formula): ``early_mistake_free`` (% of formulas with
    no mistake while more than ``n - early`` variables were free), ``mistakes`` (mean per
    formula), ``step_accuracy`` (share of right picks) and ``decisions`` (mean per formula)."""
    out = {}
    for name, make in makers.items():
        walks = [path_mistakes(cnf, make()) for cnf in formulas]
        total = sum(w.decisions for w in walks)
        wrong = sum(w.mistakes for w in walks)
        free = [
            not w.early_mistakes(cnf.num_vars, early)
            for w, cnf in zip(walks, formulas, strict=True)
        ]
        out[name] = {
            "early_mistake_free": 100.0 * sum(free) / len(walks),
            "mistakes": wrong / len(walks),
            "step_accuracy": 1.0 - wrong / max(total, 1),
            "decisions": total / len(walks),
        }
    return out
