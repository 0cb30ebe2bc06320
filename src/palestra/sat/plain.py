"""The plain answer of ``palestra sat solve``: CaDiCaL 1.9.5 (python-sat's ``Cadical195``) on
its own, tracing a proof.

``solve_plain`` hands the clauses to CaDiCaL (python-sat's own per-clause C call, driven from C
by ``map``: python-sat has no call that takes a whole formula), solves, and returns a
``SolveResult`` named ``"cadical"`` with CaDiCaL's own counts (decisions, conflicts,
propagations, restarts) and, for an UNSAT answer, the proof CaDiCaL traced: the bytes of a
binary DRAT proof (``a``/``d`` steps, varint literals), read from python-sat's trace file
without the text conversion of ``get_proof()`` (which costs a third of the solve time on
225-variable refutations); if that file is not where python-sat 1.9 keeps it, the text lines of
``get_proof()`` instead.

Nothing here is trusted: ``solve.check_answer`` checks the model (``CNF.check_model``) and
the proof (``drup.check_drup``, compiled, backward). CaDiCaL's proofs of these formulas are
RUP lemmas and deletions, which the checker reads; a proof that needed RAT steps would be
rejected, never accepted unchecked. What it does not do: no preprocessing options, no time
limit (``max_conflicts`` is CaDiCaL's conflict budget), no incremental solving.
"""

from __future__ import annotations

import time
from collections import deque
from itertools import repeat
from typing import Any

from palestra.sat.cnf import CNF, SolveResult, Status

__all__ = ["solve_plain"]


def solve_plain(cnf: CNF, proof: bool = True, max_conflicts: int | None = None) -> SolveResult:
    """Decide ``cnf`` with CaDiCaL 1.9.5; the proof (with ``proof``) of an UNSAT answer is
    binary DRAT bytes (see the module docstring). ``max_conflicts`` makes it UNKNOWN past
    that many conflicts."""
    from pysat.solvers import Cadical195

    t0 = time.perf_counter()
    if [] in cnf.clauses:  # CaDiCaL is not given the empty clause
        return SolveResult(
            "cadical", Status.UNSATISFIABLE, None, 0, 0, time.perf_counter() - t0,
            propagations=0, restarts=0, proof=["0"] if proof else None,
        )  # fmt: skip
    with Cadical195(with_proof=proof) as solver:
        _add_clauses(solver, cnf.clauses)
        if max_conflicts is not None:
            solver.conf_budget(max_conflicts)
            answer = solver.solve_limited()
        else:
            answer = solver.solve()
        stats = solver.accum_stats()
        model = None
        trace: bytes | list[str] | None = None
        if answer:
            status = Status.SATISFIABLE
            true = {lit for lit in solver.get_model() or [] if abs(lit) <= cnf.num_vars}
            model = [v if v in true else -v for v in range(1, cnf.num_vars + 1)]
        elif answer is False:
            status = Status.UNSATISFIABLE
            trace = _proof(solver) if proof else None
        else:
            status = Status.UNKNOWN
    return SolveResult(
        "cadical",
        status,
        model,
        stats.get("decisions", 0),
        stats.get("conflicts", 0),
        time.perf_counter() - t0,
        propagations=stats.get("propagations"),
        restarts=stats.get("restarts"),
        proof=trace,
    )


def _add_clauses(solver: Any, clauses: list[list[int]]) -> None:
    """Hand ``clauses`` to CaDiCaL: python-sat's own C call once per clause, driven by
    ``map`` in C (no Python frame per clause, as ``append_formula``'s loop and ``add_clause``
    cost: half the time of building the solver on small formulas); else ``append_formula``."""
    add = getattr(_pysolvers(), "cadical195_add_cl", None)
    handle = getattr(solver, "cadical", None)
    if add is None or handle is None:
        solver.append_formula(clauses)
        return
    deque(map(add, repeat(handle), clauses), maxlen=0)


def _pysolvers() -> Any:
    """python-sat's compiled module, or None."""
    try:
        import pysolvers
    except ImportError:
        return None
    return pysolvers


def _proof(solver: object) -> bytes | list[str]:
    """The binary proof from python-sat's trace file, else ``get_proof()``'s text lines."""
    prfile, prfp = getattr(solver, "prfile", None), getattr(solver, "prfp", None)
    try:
        import pysolvers

        if prfile is not None and prfp is not None:
            pysolvers.flushpr(prfp)
            prfile.seek(0)
            data = prfile.read()
            if not data or data[:1] in (b"a", b"d"):
                return bytes(data)
    except (ImportError, AttributeError, OSError):
        pass
    return list(solver.get_proof())  # type: ignore[attr-defined]
