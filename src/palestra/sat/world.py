"""SAT as a world: choose literals until the formula is satisfied or a clause is falsified.

The state is a partial assignment of a CNF formula, closed under unit propagation. An action
sets one literal true (a branching decision, as in DPLL); unit propagation follows. The state
is terminal when every clause is satisfied (reward 1: the assignment is a model, checked
against the formula) or some clause has all its literals false (reward 0: a conflict). This is
the decision problem a branching heuristic faces, in the shape any search can explore.
"""

from __future__ import annotations

from palestra.core.world import register_world
from palestra.sat.cnf import CNF

__all__ = ["SatState"]


class SatState:
    """A partial assignment of ``cnf`` closed under unit propagation."""

    def __init__(self, cnf: CNF) -> None:
        self.cnf = cnf
        self.assignment: dict[int, bool] = {}
        self.conflict = False
        self.decisions = 0
        self._reward = 0.0
        self._propagate()

    def _value(self, lit: int) -> bool | None:
        v = self.assignment.get(abs(lit))
        return None if v is None else v == (lit > 0)

    def _propagate(self) -> None:
        """Unit propagation to a fixpoint, scanning the clauses in order.

        A plain loop rather than ``propagate.py``'s watched literals: search clones a state at
        every step, and watch lists (which permute the clauses) would have to be copied with it.
        """
        changed = True
        while changed and not self.conflict:
            changed = False
            for clause in self.cnf.clauses:
                unassigned = []
                satisfied = False
                for lit in clause:
                    value = self._value(lit)
                    if value:
                        satisfied = True
                        break
                    if value is None:
                        unassigned.append(lit)
                if satisfied:
                    continue
                if not unassigned:
                    self.conflict = True
                    return
                if len(unassigned) == 1:
                    self.assignment[abs(unassigned[0])] = unassigned[0] > 0
                    changed = True

    def open_clauses(self) -> list[list[int]]:
        """Clauses not yet satisfied, with their false literals removed."""
        out = []
        for clause in self.cnf.clauses:
            if any(self._value(lit) for lit in clause):
                continue
            out.append([lit for lit in clause if self._value(lit) is None])
        return out

    def model(self) -> list[int]:
        return [v if b else -v for v, b in sorted(self.assignment.items())]

    # -- the state contract --------------------------------------------------------------
    def legal_actions(self) -> list[int]:
        if self.is_terminal():
            return []
        variables = sorted({abs(lit) for clause in self.open_clauses() for lit in clause})
        return [lit for v in variables for lit in (v, -v)]

    def apply(self, action: int) -> None:
        if self._value(action) is not None:
            raise ValueError(f"literal {action} is already assigned")
        self.assignment[abs(action)] = action > 0
        self.decisions += 1
        self._propagate()
        self._reward = 1.0 if self.is_solved() else 0.0

    def is_solved(self) -> bool:
        return not self.conflict and bool(self.cnf.check_model(self.model()))

    def is_terminal(self) -> bool:
        return self.conflict or not self.open_clauses()

    def reward(self) -> float:
        return self._reward

    def clone(self) -> SatState:
        other = SatState.__new__(SatState)
        other.cnf = self.cnf
        other.assignment = dict(self.assignment)
        other.conflict = self.conflict
        other.decisions = self.decisions
        other._reward = self._reward
        return other

    def __str__(self) -> str:
        status = "conflict" if self.conflict else f"{len(self.open_clauses())} open clauses"
        return f"[{' '.join(map(str, self.model()))}] {status}"


@register_world("sat")
def sat_world(cnf: CNF) -> SatState:
    """The initial state of branching on ``cnf``."""
    return SatState(cnf)
