"""The plain answer of ``palestra sat solve``: CaDiCaL 1.9.5 (python-sat's ``Cadical195``) on
its own, tracing an LRAT proof.

``solve_plain`` hands the clauses to CaDiCaL (from C, see ``_add_clauses``), solves, and
returns a ``SolveResult`` named ``"cadical"`` with CaDiCaL's own counts (decisions, conflicts,
propagations, restarts) and, for an UNSAT answer, the proof CaDiCaL traced: the bytes of a
binary LRAT proof (``proof_format="lrat"``: each lemma with the ids of the clauses that
prove it), set up through python-sat's compiled calls (``cadical195_set(.., "lrat", 1)``
before ``cadical195_tracepr``, which python-sat's ``with_proof`` does not offer) and read
from the trace file as bytes. Tracing LRAT costs CaDiCaL about a tenth more time than
tracing DRAT (same search: the same conflicts) and makes the check linear
(``lrat.check_lrat``, about a tenth of the DRUP check's time on SATLIB uuf refutations).
Where those calls are missing (another python-sat), python-sat's ``with_proof`` traces DRAT
(``proof_format="drat"``).

Nothing here is trusted: ``solve.check_answer`` checks the model (``CNF.check_model``) and
the proof (``lrat.check_lrat``; a binary DRAT one, or an LRAT one whose hints fail, by
``drup.check_drup``). What it does not do: no preprocessing options, no time limit
(``max_conflicts`` is CaDiCaL's conflict budget), no incremental solving.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from itertools import repeat
from typing import Any

from palestra.sat import dimacs
from palestra.sat.cnf import CNF, SolveResult, Status

__all__ = ["solve_plain"]


def solve_plain(
    cnf: CNF, proof: bool = True, max_conflicts: int | None = None, proof_format: str = "lrat"
) -> SolveResult:
    """Decide ``cnf`` with CaDiCaL 1.9.5; the proof (with ``proof``) of an UNSAT answer is
    binary LRAT bytes, or DRAT with ``proof_format="drat"`` (see the module docstring).
    ``max_conflicts`` makes it UNKNOWN past that many conflicts."""
    if proof_format not in ("lrat", "drat"):
        raise ValueError(f"proof_format must be 'lrat' or 'drat', not {proof_format!r}")
    from pysat.solvers import Cadical195

    t0 = time.perf_counter()
    if [] in cnf.clauses:  # CaDiCaL is not given the empty clause
        return SolveResult(
            "cadical", Status.UNSATISFIABLE, None, 0, 0, time.perf_counter() - t0,
            propagations=0, restarts=0, proof=["0"] if proof else None,
        )  # fmt: skip
    lrat = proof and proof_format == "lrat" and _lrat_calls()
    with Cadical195(with_proof=proof and not lrat) as solver:
        if lrat:
            _trace_lrat(solver)
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
        proof_format=None if trace is None else "lrat" if lrat else "drat",
    )


def _add_clauses(solver: Any, clauses: list[list[int]]) -> None:
    """Hand ``clauses`` to CaDiCaL. Fastest first: ``_dimacs.feed`` calls CaDiCaL's own
    ``Solver::add`` from C for every literal (no Python call per clause; the add calls
    python-sat makes, without its per-clause Python call, which is most of the time to solve a
    300-clause formula); else python-sat's per-clause C call driven by ``map`` in C; else
    ``append_formula``."""
    handle = getattr(solver, "cadical", None)
    if handle is None:
        solver.append_formula(clauses)
        return
    address = _cadical_add()
    compiled = dimacs._compiled
    if address and compiled is not None and compiled.feed(address, handle, clauses):
        return
    add = getattr(_pysolvers(), "cadical195_add_cl", None)
    if add is None:
        solver.append_formula(clauses)
        return
    deque(map(add, repeat(handle), clauses), maxlen=0)


# python-sat versions whose CaDiCaL handle is known to be a bare ``CaDiCaL195::Solver*``
# (``cadical195_new`` wraps ``new CaDiCaL195::Solver`` in a capsule): ``feed`` is only used
# with these; another version takes python-sat's own path.
_FEED_VERSIONS = frozenset({"1.9.dev22"})
_ADD_SYMBOL = "_ZN10CaDiCaL1956Solver3addEi"  # CaDiCaL195::Solver::add(int), Itanium ABI


@functools.cache
def _cadical_add() -> int:
    """The address of ``CaDiCaL195::Solver::add(int)`` in python-sat's compiled module, or 0
    (another python-sat version, the symbol not exported, ctypes missing)."""
    try:
        import ctypes

        import pysat

        if pysat.__version__ not in _FEED_VERSIONS:
            return 0
        module = _pysolvers()
        if module is None:
            return 0
        function = ctypes.CDLL(module.__file__)[_ADD_SYMBOL]
        return ctypes.cast(function, ctypes.c_void_p).value or 0
    except (ImportError, OSError, AttributeError):
        return 0


def _pysolvers() -> Any:
    """python-sat's compiled module, or None."""
    try:
        import pysolvers
    except ImportError:
        return None
    return pysolvers


@functools.cache
def _lrat_calls() -> bool:
    """python-sat's compiled module has the calls ``_trace_lrat`` makes."""
    module = _pysolvers()
    return all(hasattr(module, f) for f in ("cadical195_set", "cadical195_tracepr", "flushpr"))


def _trace_lrat(solver: Any) -> None:
    """Make CaDiCaL (no clause added yet) trace a binary LRAT proof into a temporary file,
    held where python-sat's own proof tracing keeps it (``prfile``, ``prfp``), so that
    ``_proof`` reads it and the solver's ``delete`` closes it."""
    import tempfile

    import pysolvers

    pysolvers.cadical195_set(solver.cadical, "lrat", 1)
    solver.prfile = tempfile.TemporaryFile()  # noqa: SIM115 - closed by solver.delete()
    solver.prfp = pysolvers.cadical195_tracepr(solver.cadical, solver.prfile)


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
