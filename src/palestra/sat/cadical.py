"""A branching heuristic guiding CaDiCaL 1.9.5 through python-sat's user propagator (IPASIR-UP).

``solve_cadical(cnf, heuristic, max_guided=K)`` connects a ``pysat.engines.Propagator`` that
observes every variable and follows the assignment through the solver's notifications::

    on_assignment(lit)   lit joins the trail            (value[lit] := 1, value[-lit] := -1)
    on_new_level()       a decision level begins        (remember the trail length)
    on_backtrack(to)     back to level `to`             (unassign the trail past its start)
    decide()             the solver asks for a decision: the first K times, build the
                         BranchingView of the current formula and return heuristic.pick(view);
                         then disable the propagator and return 0, so CaDiCaL continues alone

The propagator adds no clauses and propagates nothing (``propagate`` returns ``[]``,
``check_model`` accepts), so the search stays sound whatever the heuristic picks. ``decide``
returns 0 (CaDiCaL's own choice) when every original clause is already satisfied. Observing a
variable freezes it, which switches off CaDiCaL's elimination of that variable, so a guided run
differs from ``heuristic=None`` (CaDiCaL alone, nothing connected) even with ``max_guided=0``.

Exceptions raised inside a callback cannot cross the C++ solver (pysat then crashes), so the
propagator stores the first one, stops guiding, and ``solve_cadical`` re-raises it unchanged
once the solver returns. A SAT answer's model is checked against ``cnf`` here; an UNSAT answer
is CaDiCaL's word (python-sat gives no proof for a solver with a propagator connected).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from palestra.sat.cnf import CNF, SolveResult, Status
from palestra.sat.heuristics import (
    BranchingView,
    Heuristic,
    as_heuristic,
    checked_pick,
    restrict,
)

__all__ = ["solve_cadical"]


def _propagator_class() -> type:
    from pysat.engines import Propagator

    class _Guide(Propagator):
        """Tracks the trail and answers ``decide`` with the heuristic for K decisions."""

        def __init__(self, solver: object, cnf: CNF, heuristic: Heuristic, k: int) -> None:
            super().__init__()
            n = cnf.num_vars
            self.solver = solver
            self.n = n
            self.heuristic = heuristic
            self.k = k
            self.guided = 0
            self.error: BaseException | None = None
            self.value = [0] * (2 * n + 1)
            self.trail: list[int] = []
            self.trail_lim: list[int] = []
            self.problem = [c for c in cnf.clauses if not any(-x in c for x in c)]

        def on_assignment(self, lit: int, fixed: bool = False) -> None:
            if self.value[lit] == 0:
                self.value[lit] = 1
                self.value[-lit] = -1
                self.trail.append(lit)

        def on_new_level(self) -> None:
            self.trail_lim.append(len(self.trail))

        def on_backtrack(self, to: int) -> None:
            if to >= len(self.trail_lim):
                return
            value, trail = self.value, self.trail
            for lit in trail[self.trail_lim[to] :]:
                value[lit] = value[-lit] = 0
            del trail[self.trail_lim[to] :]
            del self.trail_lim[to:]

        def check_model(self, model: list[int]) -> bool:
            return True

        def decide(self) -> int:
            if self.error is not None or self.guided >= self.k:
                self.solver.disable_propagator()  # type: ignore[attr-defined]
                return 0
            try:
                view = BranchingView(
                    self.n,
                    self.value,
                    self.trail,
                    lambda: restrict(self.problem, self.value),
                    decision_level=len(self.trail_lim),
                )
                if not view.clauses():
                    return 0
                lit = checked_pick(self.heuristic, view)
            except Exception as e:  # re-raised by solve_cadical once the solver returns
                self.error = e
                self.solver.disable_propagator()  # type: ignore[attr-defined]
                return 0
            self.guided += 1
            return lit

        def propagate(self) -> list[int]:
            return []

        def provide_reason(self, lit: int) -> list[int]:
            return []

        def add_clause(self) -> list[int]:
            return []

    return _Guide


def solve_cadical(
    cnf: CNF,
    heuristic: Heuristic | Callable[[BranchingView], int] | None = None,
    *,
    max_guided: int = 1000,
) -> SolveResult:
    """Solve ``cnf`` with CaDiCaL 1.9.5, its first ``max_guided`` decisions by ``heuristic``
    (none: CaDiCaL alone, no propagator connected). See the module docstring.

    The result gives CaDiCaL's own decisions, conflicts and propagations, and ``guided``, the
    heuristic's decisions; ``checked`` is True for a SAT answer (its model was checked).
    """
    from pysat.solvers import Cadical195

    cnf.validate()
    t0 = time.perf_counter()
    guide = None
    with Cadical195(bootstrap_with=cnf.clauses) as solver:
        if heuristic is not None and max_guided > 0:
            guide = _propagator_class()(solver, cnf, as_heuristic(heuristic), max_guided)
            solver.connect_propagator(guide)
            for v in range(1, cnf.num_vars + 1):
                solver.observe(v)
        answer = solver.solve()
        stats = solver.accum_stats()
        model = solver.get_model() if answer else None
        if guide is not None:
            solver.disconnect_propagator()
    seconds = time.perf_counter() - t0
    if guide is not None and guide.error is not None:
        raise guide.error
    status = (
        Status.SATISFIABLE
        if answer
        else (Status.UNSATISFIABLE if answer is False else Status.UNKNOWN)
    )
    if model is not None:
        model = [lit for lit in model if abs(lit) <= cnf.num_vars]
        present = {abs(lit) for lit in model}
        model += [-v for v in range(1, cnf.num_vars + 1) if v not in present]
        model.sort(key=abs)
        verdict = cnf.check_model(model)
        if not verdict:
            raise RuntimeError(
                f"CaDiCaL returned an assignment that falsifies a clause: {verdict.reason}"
            )
    return SolveResult(
        "cadical",
        status,
        model,
        int(stats.get("decisions", 0)),
        int(stats.get("conflicts", 0)),
        seconds,
        propagations=int(stats.get("propagations", 0)),
        guided=guide.guided if guide is not None else 0,
        checked=model is not None,
    )
