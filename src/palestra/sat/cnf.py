"""Propositional formulas in conjunctive normal form, as DIMACS writes them.

A *literal* is a non-zero int: ``v`` means variable ``v`` is true, ``-v`` that it is false,
for ``1 <= v <= num_vars``. A *clause* is a list of literals read as their disjunction; the
empty clause is false. A formula is the conjunction of its clauses.

A *model* is a list of literals meant to be true at once. It may be partial: a clause is
satisfied by a model iff one of its literals is in the model, so a partial model satisfies
a formula only if the variables it leaves out are irrelevant (every clause is already true).
``check_model`` is the model check: a ``core.verdict.Verdict`` whose ``ModelEvidence`` names
the first clause left unsatisfied (compiled, ``_dimacs.first_unsatisfied``, where the extension
is built; the Python ``unsatisfied_clauses`` decides every case it leaves, with the same
answer). A model that contains a literal and its negation is not a
model; ``check_model`` says so with a ``ValueError`` rather than a rejection.

``Status`` is the answer every solver of this package gives, ``SolveResult`` the answer with
its statistics.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from palestra.core.verdict import ModelEvidence, Verdict

try:  # the compiled model check (_dimacs.c); without it, the Python one checks every model
    from palestra.sat import _dimacs as _compiled
except ImportError:  # pragma: no cover - the extension is built by the package's install
    _compiled = None

__all__ = ["CNF", "SolveResult", "Status"]


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

    def check_model(self, model: Iterable[int]) -> Verdict[ModelEvidence]:
        """Accept iff every clause has a literal in ``model``, else reject with the index of
        the first clause that has none (``evidence.clause``).

        ``model`` is a total or partial list of DIMACS literals; variables it leaves out are
        treated as unknown, never as false. Inconsistent or out-of-range literals raise
        ``ValueError``. The verdict is truthy exactly when it accepts.
        """
        model = model if isinstance(model, list | tuple) else list(model)
        i = _first_unsatisfied(self.clauses, self.num_vars, model)
        if i == -2:  # the compiled check defers: the Python one decides (and raises)
            unsatisfied = self.unsatisfied_clauses(model)
            i = unsatisfied[0] if unsatisfied else -1
        if i == -1:
            return Verdict.accept(ModelEvidence())
        clause = " ".join(map(str, [*self.clauses[i], 0]))
        return Verdict.reject(f"clause {i} ({clause}) is not satisfied", ModelEvidence(clause=i))

    def copy(self) -> CNF:
        return CNF(self.num_vars, [list(c) for c in self.clauses])


def _first_unsatisfied(clauses: list[list[int]], num_vars: int, model: list[int]) -> int:
    """The compiled model check (``_dimacs.first_unsatisfied``): the index of the first
    clause with no literal in ``model``, -1 if none, -2 where the Python check must decide (a
    faulty model, a clause or literal that is not a list or an int, the extension not built)."""
    if _compiled is None:  # pragma: no cover - the extension is built by the package's install
        return -2
    return _compiled.first_unsatisfied(clauses, num_vars, model)


@dataclass(frozen=True)
class SolveResult:
    """A solver's answer and its statistics, the same type for DPLL, CDCL and CaDiCaL.

    ``model`` is total (one literal per variable, ascending) when SATISFIABLE, else None. Each
    count means one thing for every solver; a solver without such a count leaves it None:

    ``decisions``     literals set by branching rather than implied. DPLL counts both branches
                      of a step (the literal, and its negation after backtracking), so
                      ``steps <= decisions <= 2 * steps``.
    ``conflicts``     propagations that ended in a falsified clause (DPLL: refuted nodes).
    ``propagations``  literals taken off the propagation queue, as MiniSat counts them (CDCL,
                      and CaDiCaL's own statistic); None for DPLL, which rewrites the formula.
    ``steps``         DPLL only: branching calls, one heuristic invocation each; its step cap
                      (Jaszczur et al. 2019) counts these.
    ``learned``       CDCL only: learnt clauses added.
    ``restarts``      CDCL only: Luby restarts taken.
    ``guided``        CaDiCaL only: decisions made by the heuristic (the user propagator).

    ``proof`` holds a CDCL refutation's DRUP lines, the last one ``0``, or the bytes of the
    binary LRAT (``proof_format="lrat"``) or DRAT (``"drat"``) proof CaDiCaL traced
    (``plain.solve_plain``); None otherwise, or with proof recording off. ``seconds`` is the
    wall time of the solve call. ``checked`` says the answer was verified independently of
    the search: a model by ``CNF.check_model``, a refutation by ``lrat.check_lrat`` or
    ``drup.check_drup``. ``solve_cadical`` checks its models itself; the CLI's
    ``solve.check_answer`` checks every model and every proof.
    """

    solver: str  # "dpll", "cdcl", "cadical", "cadical-guided"
    status: Status
    model: list[int] | None
    decisions: int
    conflicts: int
    seconds: float
    propagations: int | None = None
    steps: int | None = None
    learned: int | None = None
    restarts: int | None = None
    guided: int | None = None
    proof: list[str] | bytes | None = None
    checked: bool = False
    proof_format: str | None = None  # "lrat" or "drat" for bytes; None: DRUP text lines

    def to_json(self) -> dict[str, Any]:
        """Every field as a JSON value (``status`` by name, ``seconds`` to the microsecond),
        but the proof, which can run to thousands of lines."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "proof"}
        out["status"] = self.status.value
        out["seconds"] = round(self.seconds, 6)
        return out
