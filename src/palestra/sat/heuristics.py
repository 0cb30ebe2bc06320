"""Branching heuristics: the one hook through which DPLL and CDCL choose a decision literal.

The contract is small (cf. pysat ``engines.Propagator.decide``):

* ``Heuristic.pick(view) -> int`` returns a DIMACS literal over an unassigned variable; the
  solver sets it true (solvers ask through ``checked_pick``, which rejects anything else). A
  plain callable ``view -> int`` is accepted wherever a heuristic is.
* ``on_conflict(clause)``, optional: CDCL calls it with each learned clause (asserting literal
  first), DPLL with each original clause falsified by unit propagation. VSIDS uses it.
* ``scores(view) -> dict[int, float]``, optional: the score of every literal of the current
  formula, whose best (``top_literals(scores, 1)``) is what ``pick`` returns while the formula
  has clauses. DLIS and JW-OS define it; ``neural.Hybrid(lookahead=k)`` uses it to look one
  step ahead over a heuristic's ``k`` best literals.

``BranchingView`` is what a heuristic sees at a decision: the assignment and the *current
formula*, i.e. the problem clauses not yet satisfied with their false literals removed (the
formula restricted by the assignment). The restriction is computed on first use and cached, so
a heuristic that never asks for it (random, VSIDS) pays nothing; a graph network can read it as
plain clause lists. In CDCL the view shows the original clauses only, not the learned ones.

Implemented: DLIS, Jeroslow-Wang one-sided (JW-OS), VSIDS (Chaff's literal scores) and random.
Ties are broken towards the smaller variable, positive literal first, so every heuristic but
``RandomHeuristic`` is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DLIS",
    "VSIDS",
    "BranchingView",
    "Heuristic",
    "JeroslowWang",
    "RandomHeuristic",
    "as_heuristic",
    "checked_pick",
    "first_free",
    "restrict",
    "top_literals",
]


def restrict(clauses: Sequence[Sequence[int]], value: Sequence[int]) -> list[list[int]]:
    """The clauses not satisfied under ``value``, with their false literals removed.

    ``value`` is indexed by DIMACS literal (``value[lit]`` is 1 true, -1 false, 0 unassigned;
    a list of length ``2 * num_vars + 1`` indexed by negative ints does this in Python).
    """
    out = []
    for clause in clauses:
        kept = []
        for lit in clause:
            v = value[lit]
            if v > 0:
                break
            if v == 0:
                kept.append(lit)
        else:
            out.append(kept)
    return out


class BranchingView:
    """The solver state at a decision, as a heuristic may read it (see the module docstring).

    ``value`` is literal-indexed (see ``restrict``), ``trail`` the true literals in the order
    they were set, ``residual`` a function returning the current formula; ``phases`` (optional,
    variable-indexed, 1 / -1 / 0) the last value each variable had. A view reads the solver's
    live arrays: it is valid only during the ``pick`` call it was made for.
    """

    __slots__ = (
        "_clauses",
        "_phases",
        "_residual",
        "_trail",
        "_value",
        "decision_level",
        "num_vars",
    )

    def __init__(
        self,
        num_vars: int,
        value: Sequence[int],
        trail: Sequence[int],
        residual: Callable[[], list[list[int]]],
        *,
        phases: Sequence[int] | None = None,
        decision_level: int = 0,
    ) -> None:
        self.num_vars = num_vars
        self.decision_level = decision_level
        self._value = value
        self._trail = trail
        self._residual = residual
        self._phases = phases
        self._clauses: list[list[int]] | None = None

    def value(self, lit: int) -> bool | None:
        """True / False if ``lit`` is assigned, None if its variable is free."""
        v = self._value[lit]
        return None if v == 0 else v > 0

    def assignment(self) -> list[int]:
        """The literals currently true, in the order they were set."""
        return list(self._trail)

    def unassigned(self) -> list[int]:
        """The free variables, ascending."""
        value = self._value
        return [v for v in range(1, self.num_vars + 1) if value[v] == 0]

    def clauses(self) -> list[list[int]]:
        """The current formula: unsatisfied problem clauses minus their false literals.

        Computed once per view; treat the lists as read-only.
        """
        if self._clauses is None:
            self._clauses = self._residual()
        return self._clauses

    def saved_phase(self, var: int) -> bool | None:
        """The value ``var`` had when last unassigned, if the solver records it."""
        if self._phases is None or self._phases[var] == 0:
            return None
        return self._phases[var] > 0


@runtime_checkable
class Heuristic(Protocol):
    """Chooses the next decision literal; may also define ``on_conflict(clause)``."""

    def pick(self, view: BranchingView) -> int: ...


class _CallableHeuristic:
    def __init__(self, fn: Callable[[BranchingView], int]) -> None:
        self.pick = fn


def as_heuristic(h: Heuristic | Callable[[BranchingView], int]) -> Heuristic:
    """``h`` itself if it has ``pick``, else a heuristic whose ``pick`` is the callable ``h``."""
    if hasattr(h, "pick"):
        return h  # type: ignore[return-value]
    if callable(h):
        return _CallableHeuristic(h)
    raise TypeError(f"not a heuristic: {h!r}")


def checked_pick(heuristic: Heuristic, view: BranchingView) -> int:
    """``heuristic.pick(view)``, the way every solver here asks for a decision: anything but a
    literal of a free variable raises ``ValueError``."""
    lit = heuristic.pick(view)
    if (
        not isinstance(lit, int)
        or lit == 0
        or abs(lit) > view.num_vars
        or view.value(lit) is not None
    ):
        raise ValueError(f"heuristic picked {lit!r}, not a literal of a free variable")
    return lit


def top_literals(score: dict[int, float], k: int) -> list[int]:
    """The ``k`` literals of highest score, best first; ties go to the smaller variable,
    positive first."""
    return sorted(score, key=lambda lit: (-score[lit], abs(lit), lit < 0))[:k]


def _best_literal(score: dict[int, float]) -> int:
    """The literal of highest score (``top_literals(score, 1)``)."""
    return max(score, key=lambda lit: (score[lit], -abs(lit), lit > 0))


def first_free(view: BranchingView) -> int:
    """The first free variable, set true: the pick of every heuristic here (and the network's)
    once the current formula has no clause left but variables are still free (CDCL)."""
    free = view.unassigned()
    if not free:
        raise ValueError("no unassigned variable to branch on")
    return free[0]


class DLIS:
    """Dynamic Largest Individual Sum (Marques-Silva 1999).

    Pick the literal occurring in the most clauses of the current formula. With every
    clause satisfied (only free, unconstrained variables left) pick the first free variable.
    """

    def scores(self, view: BranchingView) -> dict[int, float]:
        count: dict[int, float] = {}
        for clause in view.clauses():
            for lit in clause:
                count[lit] = count.get(lit, 0) + 1
        return count

    def pick(self, view: BranchingView) -> int:
        count = self.scores(view)
        return _best_literal(count) if count else first_free(view)


class JeroslowWang:
    """Jeroslow-Wang, one-sided (Jeroslow & Wang 1990; Hooker & Vinay 1995).

    Pick the literal maximising ``J(l) = sum over current clauses C containing l of
    2 ** -|C|``: short clauses weigh most, so it steers towards unit propagation.
    """

    def scores(self, view: BranchingView) -> dict[int, float]:
        score: dict[int, float] = {}
        for clause in view.clauses():
            w = 2.0 ** -len(clause)
            for lit in clause:
                score[lit] = score.get(lit, 0.0) + w
        return score

    def pick(self, view: BranchingView) -> int:
        score = self.scores(view)
        return _best_literal(score) if score else first_free(view)


class VSIDS:
    """Variable State Independent Decaying Sum, Chaff's literal form (Moskewicz et al. 2001).

    Each literal has a score, initially its number of occurrences in the formula at the first
    decision. Every clause passed to ``on_conflict`` (a learned clause in CDCL) bumps the score
    of each of its literals; scores decay geometrically, implemented as MiniSat does by
    growing the bump by ``1 / decay`` after each conflict and rescaling all scores when they
    exceed 1e100. ``pick`` returns the free literal of highest score. Use one instance per
    formula: the scores are the heuristic's state.
    """

    def __init__(self, decay: float = 0.95) -> None:
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        self.decay = decay
        self.bump = 1.0
        self.score: list[float] | None = None  # literal-indexed, length 2n+1

    def _init(self, view: BranchingView) -> list[float]:
        score = [0.0] * (2 * view.num_vars + 1)
        for clause in view.clauses():
            for lit in clause:
                score[lit] += 1.0
        self.score = score
        return score

    def on_conflict(self, clause: Sequence[int]) -> None:
        score = self.score
        if score is None:
            return
        bump = self.bump
        for lit in clause:
            score[lit] += bump
        self.bump = bump / self.decay
        if self.bump > 1e100:
            for i in range(len(score)):
                score[i] *= 1e-100
            self.bump *= 1e-100

    def pick(self, view: BranchingView) -> int:
        score = self.score
        if score is None or len(score) != 2 * view.num_vars + 1:
            score = self._init(view)
        best, best_score = 0, -1.0
        for v in view.unassigned():
            if score[v] > best_score:
                best, best_score = v, score[v]
            if score[-v] > best_score:
                best, best_score = -v, score[-v]
        if best == 0:
            raise ValueError("no unassigned variable to branch on")
        return best


class RandomHeuristic:
    """A uniformly random free variable with a uniformly random sign (seeded)."""

    def __init__(self, rng: np.random.Generator | int | None = 0) -> None:
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def pick(self, view: BranchingView) -> int:
        free = view.unassigned()
        if not free:
            raise ValueError("no unassigned variable to branch on")
        var = free[int(self.rng.integers(len(free)))]
        return var if self.rng.random() < 0.5 else -var
