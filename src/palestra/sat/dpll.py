"""DPLL (Davis, Logemann & Loveland 1962) with unit propagation and pure literals.

The search works on the *current formula* itself, the clauses not yet satisfied with their
false literals removed, so the branching heuristic sees it for free::

    DPLL(F):
        repeat until neither rule applies:
            unit propagation:  F has a clause (l)           ->  F := F|l
            pure literal:      l occurs in F and -l doesn't  ->  F := F|l
        if F contains the empty clause: backtrack (a conflict)
        if F has no clause: SATISFIABLE, the literals set on this path are a model
        l := heuristic.pick(view of F)                        <- one *step*
        DPLL(F|l), then, if that fails, DPLL(F|-l)

where ``F|l`` drops the clauses containing ``l`` and removes ``-l`` from the others. The
recursion runs on an explicit stack (depth is bounded by memory, not Python's recursion limit).

A *step* is one branching call: one invocation of the heuristic at a node where propagation
left a non-empty formula with no empty clause. Both branches of that node belong to the same
step. ``decisions`` counts the literals set by branching (the first branch and, after
backtracking, its negation), so ``steps <= decisions <= 2 * steps``. With ``max_steps`` the
search stops with UNKNOWN instead of taking step ``max_steps + 1``; Jaszczur et al. 2019
("Neural heuristics for SAT solving") cap DPLL at 1000 steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from palestra.sat.cnf import CNF, SolveResult, Status
from palestra.sat.heuristics import (
    BranchingView,
    Heuristic,
    JeroslowWang,
    as_heuristic,
    checked_pick,
)

__all__ = ["assume", "solve_dpll"]


def solve_dpll(
    cnf: CNF,
    heuristic: Heuristic | Callable[[BranchingView], int] | None = None,
    *,
    max_steps: int | None = None,
) -> SolveResult:
    """Decide ``cnf`` by DPLL branching with ``heuristic`` (default Jeroslow-Wang one-sided).

    The result counts ``steps``, ``decisions`` and ``conflicts`` (no propagations). The
    heuristic's ``on_conflict``, if any, receives an original clause falsified by the
    assignment at each conflict.
    """
    t0 = time.perf_counter()
    h = as_heuristic(heuristic if heuristic is not None else JeroslowWang())
    on_conflict = getattr(h, "on_conflict", None)
    n = cnf.num_vars
    root = [list(dict.fromkeys(c)) for c in cnf.clauses]
    root = [c for c in root if not any(-lit in c for lit in c)]  # tautologies are always true
    steps = decisions = conflicts = 0

    def result(status: Status, model: list[int] | None = None) -> SolveResult:
        seconds = time.perf_counter() - t0
        return SolveResult("dpll", status, model, decisions, conflicts, seconds, steps=steps)

    # Each entry: (formula, literals set on the path, decision literal to apply or 0, depth).
    stack: list[tuple[list[list[int]], tuple[int, ...], int, int]] = [(root, (), 0, 0)]
    while stack:
        formula, trail, lit, depth = stack.pop()
        if lit:
            decisions += 1
            trail = (*trail, lit)
            formula = _restrict(formula, {lit})
        formula, trail, conflict = _propagate(formula, trail)
        if conflict:
            conflicts += 1
            if on_conflict is not None:
                clause = _falsified_clause(cnf.clauses, set(trail))
                if clause is not None:
                    on_conflict(clause)
            continue
        if not formula:
            true = set(trail)
            return result(Status.SATISFIABLE, [v if v in true else -v for v in range(1, n + 1)])
        if max_steps is not None and steps >= max_steps:
            return result(Status.UNKNOWN)
        steps += 1
        choice = checked_pick(h, _view(n, formula, trail, depth))
        stack.append((formula, trail, -choice, depth + 1))
        stack.append((formula, trail, choice, depth + 1))
    return result(Status.UNSATISFIABLE)


def _view(n: int, formula: list[list[int]], trail: tuple[int, ...], depth: int) -> BranchingView:
    """The heuristic's view of a DPLL node: current formula ``formula``, literals ``trail``."""
    value = [0] * (2 * n + 1)
    for t in trail:
        value[t] = 1
        value[-t] = -1
    return BranchingView(n, value, trail, lambda: formula, decision_level=depth)


def assume(formula: list[list[int]], lit: int) -> tuple[list[list[int]], bool]:
    """``F|lit`` simplified as DPLL does it (unit propagation and pure literals to a
    fixpoint): the formula left, and whether it was refuted on the way (an empty clause)."""
    formula, _, conflict = _propagate(_restrict(formula, {lit}), ())
    return formula, conflict


def _restrict(formula: list[list[int]], true: set[int]) -> list[list[int]]:
    """``F|true``: drop satisfied clauses, remove false literals."""
    return [[x for x in c if -x not in true] for c in formula if true.isdisjoint(c)]


def _propagate(
    formula: list[list[int]], trail: tuple[int, ...]
) -> tuple[list[list[int]], tuple[int, ...], bool]:
    """Apply unit propagation and pure literals to a fixpoint.

    Returns the new formula and trail and whether a conflict was reached; on a conflict the
    trail falsifies some original clause. Units found in one pass are applied together. DPLL
    rewrites the formula rather than watch literals (``propagate.py``): each node keeps its
    current formula, which the heuristic reads and the pure-literal rule needs.
    """
    while True:
        units: dict[int, None] = {}
        for c in formula:
            if not c:
                return formula, trail, True
            if len(c) == 1:
                units[c[0]] = None
        if units:
            for u in units:
                if -u in units:
                    return formula, (*trail, u), True
            trail = (*trail, *units)
            formula = _restrict(formula, set(units))
            continue
        occurring = {x for c in formula for x in c}
        pure = [x for x in occurring if -x not in occurring]
        if not pure:
            return formula, trail, False
        trail = (*trail, *sorted(pure, key=abs))
        formula = _restrict(formula, set(pure))


def _falsified_clause(clauses: list[list[int]], true: set[int]) -> list[int] | None:
    """An original clause all of whose literals are false when the literals ``true`` are."""
    for c in clauses:
        if all(-x in true for x in c):
            return c
    return None
