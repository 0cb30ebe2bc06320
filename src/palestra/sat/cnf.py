"""Propositional formulas in conjunctive normal form, as DIMACS writes them.

A *literal* is a non-zero int: ``v`` means variable ``v`` is true, ``-v`` that it is false,
for ``1 <= v <= num_vars``. A *clause* is a list of literals read as their disjunction; the
empty clause is false. A formula is the conjunction of its clauses.

A *model* is a list of literals meant to be true at once. It may be partial: a clause is
satisfied by a model iff one of its literals is in the model, so a partial model satisfies
a formula only if the variables it leaves out are irrelevant (every clause is already true).
A model that contains a literal and its negation is not a model; ``check_model`` says so
with a ``ValueError`` rather than a ``False``.

``Status`` is the answer every solver of this package gives.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["CNF", "Status"]


class Status(enum.Enum):
    """A solver's answer: a model was found, the formula was refuted, or the budget ran out."""

    SATISFIABLE = "SATISFIABLE"
    UNSATISFIABLE = "UNSATISFIABLE"
    UNKNOWN = "UNKNOWN"


@dataclass
class CNF:
    """A CNF formula over variables ``1..num_vars``; ``clauses`` hold DIMACS literals."""

    num_vars: int
    clauses: list[list[int]] = field(default_factory=list)

    @property
    def num_clauses(self) -> int:
        return len(self.clauses)

    def validate(self) -> None:
        """Raise ``ValueError`` unless every literal is a non-zero int within ``num_vars``."""
        if self.num_vars < 0:
            raise ValueError(f"num_vars must be >= 0, got {self.num_vars}")
        for i, clause in enumerate(self.clauses):
            for lit in clause:
                if not isinstance(lit, int) or lit == 0 or abs(lit) > self.num_vars:
                    raise ValueError(
                        f"clause {i}: literal {lit!r} is not in [-{self.num_vars}, -1] or "
                        f"[1, {self.num_vars}]"
                    )

    def unsatisfied_clauses(self, model: Iterable[int]) -> list[int]:
        """Indices of the clauses with no literal in ``model`` (see the module docstring)."""
        true = set(model)
        for lit in true:
            if lit == 0 or abs(lit) > self.num_vars:
                raise ValueError(f"model literal {lit} is outside 1..{self.num_vars}")
            if -lit in true:
                raise ValueError(f"model sets both {lit} and {-lit}")
        return [i for i, clause in enumerate(self.clauses) if true.isdisjoint(clause)]

    def check_model(self, model: Iterable[int]) -> bool:
        """True iff every clause has a literal in ``model``.

        ``model`` is a total or partial list of DIMACS literals; variables it leaves out are
        treated as unknown, never as false. Inconsistent or out-of-range literals raise
        ``ValueError``.
        """
        return not self.unsatisfied_clauses(model)

    def copy(self) -> CNF:
        return CNF(self.num_vars, [list(c) for c in self.clauses])
