"""The two-watched-literal propagation kernel against a slow set-based unit propagation."""

from __future__ import annotations

import numpy as np

from palestra.sat.propagate import propagate


def reference_fixpoint(clauses: list[list[int]], assumed: list[int]) -> set[int] | None:
    """Unit propagation over sets: the true literals at the fixpoint, or None on a conflict."""
    true = set(assumed)
    changed = True
    while changed:
        changed = False
        for c in clauses:
            if any(lit in true for lit in c):
                continue
            free = [lit for lit in c if -lit not in true]
            if not free:
                return None
            if len(free) == 1:
                true.add(free[0])
                changed = True
    return true


def random_formula(n: int, m: int, rng: np.random.Generator) -> list[list[int]]:
    """``m`` clauses of 2 or 3 distinct variables with random signs."""
    clauses = []
    for _ in range(m):
        variables = rng.choice(np.arange(1, n + 1), size=int(rng.integers(2, 4)), replace=False)
        clauses.append([int(v) if rng.random() < 0.5 else -int(v) for v in variables])
    return clauses


def test_propagate_agrees_with_the_reference_and_survives_backtracking() -> None:
    rng = np.random.default_rng(0)
    n = 8
    conflicts = fixpoints = 0
    for _ in range(60):
        clauses = random_formula(n, 18, rng)
        value = [0] * (2 * n + 1)
        reason: list[list[int] | None] = [None] * (n + 1)
        watches: list[list[list[int]]] = [[] for _ in range(2 * n + 1)]
        watched = [list(c) for c in clauses]
        for c in watched:
            watches[c[0]].append(c)
            watches[c[1]].append(c)
        trail: list[int] = []
        for _ in range(6):  # the watches are kept from round to round, as after a backjump
            variables = rng.choice(np.arange(1, n + 1), size=int(rng.integers(1, 4)), replace=False)
            assumed = [int(v) if rng.random() < 0.5 else -int(v) for v in variables]
            for lit in assumed:
                value[lit], value[-lit] = 1, -1
                trail.append(lit)
            qhead, conflict = propagate(value, watches, trail, 0, reason)
            expected = reference_fixpoint(clauses, assumed)
            if expected is None:
                conflicts += 1
                assert conflict is not None and all(value[lit] == -1 for lit in conflict)
            else:
                fixpoints += 1
                assert conflict is None and qhead == len(trail) and set(trail) == expected
                for lit in trail[len(assumed) :]:
                    c = reason[abs(lit)]
                    assert c is not None and c[0] == lit
                    assert all(value[x] == -1 for x in c[1:])
            for lit in trail:  # undo everything; the watches stay as they are
                value[lit] = value[-lit] = 0
                reason[abs(lit)] = None
            trail.clear()
            for c in watched:  # every clause watches its first two literals
                assert any(d is c for d in watches[c[0]]) and any(d is c for d in watches[c[1]])
    assert conflicts > 20 and fixpoints > 20
