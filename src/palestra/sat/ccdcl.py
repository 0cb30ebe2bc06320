"""The compiled CDCL core: ``cdcl._Solver``'s search in the C extension ``_cdcl``.

``solve(cnf, heuristic, config)`` flattens the clauses into one int32 array (each clause
ended by 0) and runs ``_cdcl.solve``: the same watched-literal propagation, first-UIP
learning, minimization, backjumping, Luby restarts and branching as the Python reference,
step for step, so the decisions, conflicts, propagations, learnt clauses (the DRUP proof) and
restarts are the reference's (``tests/sat/test_sat_ccdcl.py`` compares them on the golden
formulas and on seeded random ones). ``supports(h)`` says whether a heuristic has a C version:
exactly ``JeroslowWang``, ``DLIS``, a fresh ``VSIDS`` (no scores yet) and ``RandomHeuristic``,
whose draws (``rng.integers(free)``, then ``rng.random() < 0.5``) are made by a Python
callback on the heuristic's own generator, so its random sequence is the reference's. The
heuristic object's own state is not advanced (a ``VSIDS`` keeps no scores), but a
``RandomHeuristic``'s generator is, as the reference advances it.

``config.guide`` (a ``cdcl.GuideHook``, VSIDS only) is run by the C search too: it calls the
hook's callback at the same points, with the same arguments, and writes its weights into the
scores with the same floating-point operations as the reference.

What it does not do: it calls no Python heuristic per decision (the neural and hybrid ones
run in the reference loop), keeps no ``BranchingView``, and holds the GIL throughout.
"""

from __future__ import annotations

import time
from array import array
from types import ModuleType

from palestra.sat.cnf import CNF, SolveResult, Status
from palestra.sat.heuristics import DLIS, VSIDS, Heuristic, JeroslowWang, RandomHeuristic

__all__ = ["available", "solve", "supports"]

_STATUS = {10: Status.SATISFIABLE, 20: Status.UNSATISFIABLE, 0: Status.UNKNOWN}


def _extension() -> ModuleType | None:
    if array("i").itemsize != 4:
        return None
    try:
        from palestra.sat import _cdcl
    except ImportError:
        return None
    return _cdcl


def available() -> bool:
    """Whether the C extension is built (``pip install -e .`` builds it)."""
    return _extension() is not None


def supports(heuristic: Heuristic) -> bool:
    """Whether the C core is built and runs ``heuristic`` natively."""
    if not available():
        return False
    kind = type(heuristic)
    if kind is VSIDS:
        return heuristic.score is None and heuristic.bump == 1.0  # type: ignore[attr-defined]
    return kind in (JeroslowWang, DLIS, RandomHeuristic)


def solve(cnf: CNF, heuristic: Heuristic, config: object) -> SolveResult:
    """``cdcl.solve_cdcl(cnf, heuristic, config)`` computed in C (see the module docstring)."""
    ext = _extension()
    if ext is None or not supports(heuristic):
        raise ValueError(f"the compiled CDCL core cannot run {heuristic!r}")
    t0 = time.perf_counter()
    cnf.validate()
    flat = array("i")
    for clause in cnf.clauses:
        flat.extend(clause)
        flat.append(0)
    kind = type(heuristic)
    code = {JeroslowWang: 0, DLIS: 1, VSIDS: 2, RandomHeuristic: 3}[kind]
    decay = heuristic.decay if kind is VSIDS else 0.95  # type: ignore[attr-defined]
    draw = None
    if kind is RandomHeuristic:
        rng = heuristic.rng  # type: ignore[attr-defined]

        def draw(free: int) -> tuple[int, bool]:
            index = int(rng.integers(free))
            return index, bool(rng.random() < 0.5)

    c = config
    g = c.guide  # type: ignore[attr-defined]
    hook = (
        ()
        if g is None
        else (g.callback, g.first, g.interval, g.max_queries, g.scale, g.learnt, g.restart)
    )
    status, decisions, conflicts, propagations, learned, restarts, model, proof, _ = ext.solve(
        cnf.num_vars,
        flat.tobytes(),
        code,
        decay,
        c.restarts,  # type: ignore[attr-defined]
        c.luby_unit,  # type: ignore[attr-defined]
        c.minimize,  # type: ignore[attr-defined]
        c.proof,  # type: ignore[attr-defined]
        -1 if c.max_conflicts is None else c.max_conflicts,  # type: ignore[attr-defined]
        -1 if c.max_decisions is None else c.max_decisions,  # type: ignore[attr-defined]
        draw,
        *hook,
    )
    st = _STATUS[status]
    return SolveResult(
        "cdcl",
        st,
        model,
        decisions,
        conflicts,
        time.perf_counter() - t0,
        propagations=propagations,
        learned=learned,
        restarts=restarts,
        proof=proof if st is Status.UNSATISFIABLE else None,
    )
