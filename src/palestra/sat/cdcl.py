"""Conflict-driven clause learning (Marques-Silva & Sakallah 1996; Moskewicz et al. 2001).

The loop, as in MiniSat (Eén & Sörensson 2003)::

    loop:
        conflict := propagate()                      two watched literals per clause
        if conflict:
            if decision level == 0: UNSATISFIABLE    (the proof ends with the empty clause)
            learnt, level := analyze(conflict)       first UIP, then local minimization
            backjump to level                        non-chronological backtracking
            add learnt (a DRUP line), assert its first literal
            maybe restart (Luby)
        elif every variable is assigned: SATISFIABLE
        else: decide heuristic.pick(view)            a new decision level

**Representation and propagation** are those of ``propagate.py``: literal-indexed ``value``
and ``watches`` arrays (``value[-v]`` is Python's negative index), clauses whose first two
literals are watched, two-watched-literal unit propagation that never needs the watches
restored on backtracking. On top of it the solver keeps each variable's decision ``level``,
the ``trail_lim`` where each level begins, and the saved ``phases``.

**First UIP** (Zhang et al. 2001). Resolve the conflict clause with the reasons of its
current-level literals, latest first on the trail, until one current-level literal remains,
the first unique implication point ``u``; the learnt clause is ``-u`` and the lower-level
literals met on the way (level-0 literals are dropped, they are consequences of the formula).
A literal is then removed if its reason's other literals are all in the clause or at level 0
(MiniSat's "basic" minimization). Backjump to the second-highest level in the clause, where it
is unit. Each learnt clause is a reverse-unit-propagation consequence of the clauses before it,
so the learnt clauses followed by ``0`` form a DRUP proof (Goldberg & Novikov 2003; Heule et
al. 2013); ``drup.check_drup`` verifies it. No clause is ever deleted, so the proof has no
``d`` lines.

**Branching** comes entirely from the heuristic (default Jeroslow-Wang one-sided), through the
same ``BranchingView`` DPLL uses; it is told each learnt clause through ``on_conflict``.
``CDCLConfig.vsids`` swaps in ``heuristics.VSIDS``. Restarts (off by default) follow the Luby
sequence times ``luby_unit`` conflicts (Luby et al. 1993), back to level 0, keeping the learnt
clauses.

``propagations`` counts literals taken off the propagation queue, as MiniSat counts them.

**Guide hook** (``CDCLConfig.guide``, a ``GuideHook``; VSIDS only): NeuroCore's periodic
refocusing (Selsam & Bjørner 2019). When a decision is due, at most ``max_queries`` times,
first once ``first`` conflicts have happened and then every ``interval`` conflicts after the
previous query, the solver calls ``callback(root, learnt)``: ``root`` is ``bytes`` of length
``n + 1`` holding each variable's root-level value as a signed byte (1, -1, 0 free), ``learnt``
None or, with ``learnt = K > 0``, the last ``K`` non-unit learnt clauses as int32 DIMACS
literals each ended by 0. It returns ``(weights, phases)``: ``weights`` a float64 array of ``n
+ 1`` finite values >= 0 (index 0 unused), ``phases`` None or an int8 array of ``n + 1`` (1,
-1, 0); or None, which skips the query (nothing changes, it is not counted against
``max_queries``, the next is due ``interval`` conflicts later). The solver then sets VSIDS's
bump back to 1 and, for every variable free at the root, gives its preferred literal (the
phase's, else the literal of higher score, the positive one on a tie) the score ``scale *
weights[v]`` and the other literal that times its old share (lower / higher score; 1 when both
are 0): the paper's ``activity := scale * n * softmax``, re-normalised to the bump, with
Chaff's literal scores keeping their split. With ``restart`` it then backtracks to level 0.
``ccdcl`` runs the same hook in C with the same floating-point operations, so a deterministic
callback gives the same counts on both engines; without a guide nothing changes.

**Engines.** This module is the reference; ``ccdcl`` runs the same search in C (``_cdcl.c``),
with the same decisions, conflicts, propagations and learnt clauses, for the heuristics it
has natively (JW-OS, DLIS, VSIDS, random through the heuristic's own generator). Any other
heuristic (the neural and hybrid ones, a callable) runs in this Python loop: ``solve_cdcl``'s
``engine="auto"`` picks the C core when it can.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from palestra.sat.cnf import CNF, SolveResult, Status
from palestra.sat.heuristics import (
    VSIDS,
    BranchingView,
    Heuristic,
    JeroslowWang,
    as_heuristic,
    checked_pick,
    restrict,
)
from palestra.sat.propagate import propagate

__all__ = ["CDCLConfig", "GuideHook", "luby", "solve_cdcl"]


@dataclass(frozen=True)
class GuideHook:
    """Periodic refocusing of VSIDS by a callback (see the module docstring)."""

    callback: Callable[[bytes, bytes | None], tuple[Any, Any] | None]
    interval: int = 1000  # conflicts between queries
    first: int = 0  # conflicts before the first query (0: at the first decision)
    max_queries: int = 10
    scale: float = 1.0  # score := scale * weight
    learnt: int = 0  # pass the last this many learnt clauses (0: none)
    restart: bool = False  # backtrack to level 0 after each query

    def __post_init__(self) -> None:
        if self.interval < 1 or self.first < 0 or self.max_queries < 0 or self.learnt < 0:
            raise ValueError("GuideHook needs interval >= 1, first, max_queries, learnt >= 0")
        if not 0.0 <= self.scale <= 1e100:
            raise ValueError(f"GuideHook scale must be in [0, 1e100], got {self.scale}")


@dataclass(frozen=True)
class CDCLConfig:
    """Options of ``solve_cdcl``; the defaults are plain CDCL driven by the heuristic alone."""

    restarts: bool = False  # Luby restarts
    luby_unit: int = 100  # conflicts per unit of the Luby sequence (MiniSat's default)
    vsids: bool = False  # branch with heuristics.VSIDS (then pass no heuristic)
    vsids_decay: float = 0.95
    minimize: bool = True  # local minimization of learnt clauses
    proof: bool = True  # record a DRUP proof
    max_conflicts: int | None = None  # budget: UNKNOWN once exceeded
    max_decisions: int | None = None
    guide: GuideHook | None = None  # periodic refocusing of VSIDS (VSIDS only)


def luby(i: int) -> int:
    """The ``i``-th term (from 0) of Luby's sequence 1 1 2 1 1 2 4 1 1 2 1 1 2 4 8 ..."""
    size, seq = 1, 0
    while size < i + 1:
        seq += 1
        size = 2 * size + 1
    while size - 1 != i:
        size = (size - 1) >> 1
        seq -= 1
        i %= size
    return 1 << seq


def solve_cdcl(
    cnf: CNF,
    heuristic: Heuristic | Callable[[BranchingView], int] | None = None,
    config: CDCLConfig | None = None,
    engine: Literal["auto", "c", "python"] = "auto",
) -> SolveResult:
    """Decide ``cnf`` by CDCL, branching with ``heuristic`` (see the module docstring).

    The result counts decisions, conflicts, propagations, learnt clauses and restarts; its
    ``proof`` holds the DRUP lines of a refutation (with ``config.proof``), the last one ``0``.

    ``engine``: ``"python"`` runs this module's reference loop; ``"c"`` the compiled core
    (``ccdcl``: same search, same counts, same learnt clauses), which runs JW-OS, DLIS, VSIDS
    and random natively and refuses any other heuristic; ``"auto"`` (default) the compiled
    core when it is built and runs the heuristic, else the reference.
    """
    config = config or CDCLConfig()
    if engine not in ("auto", "c", "python"):
        raise ValueError(f"unknown engine {engine!r}")
    if config.vsids:
        if heuristic is not None:
            raise ValueError("CDCLConfig.vsids chooses the heuristic; pass heuristic=None")
        heuristic = VSIDS(config.vsids_decay)
    h = as_heuristic(heuristic or JeroslowWang())
    if config.guide is not None and type(h) is not VSIDS:
        raise ValueError("CDCLConfig.guide refocuses VSIDS: use vsids=True")
    if engine != "python":
        from palestra.sat import ccdcl

        if ccdcl.supports(h):
            return ccdcl.solve(cnf, h, config)
        if engine == "c":
            why = "not built" if not ccdcl.available() else f"no C version of {h!r}"
            raise ValueError(f"the compiled CDCL core cannot run this: {why}")
    return _Solver(cnf, h, config).solve()


class _Solver:
    def __init__(self, cnf: CNF, heuristic: Heuristic, config: CDCLConfig) -> None:
        self.t0 = time.perf_counter()
        cnf.validate()
        n = cnf.num_vars
        self.n = n
        self.config = config
        self.heuristic = heuristic
        self.on_conflict = getattr(heuristic, "on_conflict", None)
        self.value = [0] * (2 * n + 1)
        self.level = [0] * (n + 1)
        self.reason: list[list[int] | None] = [None] * (n + 1)
        self.phases = [0] * (n + 1)
        self.seen = [False] * (n + 1)
        self.watches: list[list[list[int]]] = [[] for _ in range(2 * n + 1)]
        self.trail: list[int] = []
        self.trail_lim: list[int] = []  # trail_lim[d]: trail length when level d + 1 began
        self.qhead = 0
        self.proof: list[str] | None = [] if config.proof else None
        self.decisions = self.conflicts = self.propagations = self.learned = self.restarts = 0
        self.inconsistent = False
        self.learnts: list[list[int]] = []  # non-unit learnt clauses (the guide hook's)
        self.queries = 0
        self.next_query = config.guide.first if config.guide is not None else 0

        # The problem clauses as the heuristic sees them: duplicates and tautologies removed,
        # literal order kept (the watched copies get permuted).
        self.problem: list[list[int]] = []
        for clause in cnf.clauses:
            c = list(dict.fromkeys(clause))
            if any(-lit in c for lit in c):
                continue
            self.problem.append(c)
            if not c:
                self.inconsistent = True
            elif len(c) == 1:
                if self.value[c[0]] == -1:
                    self.inconsistent = True
                elif self.value[c[0]] == 0:
                    self._enqueue(c[0], None)
            else:
                c = list(c)
                self.watches[c[0]].append(c)
                self.watches[c[1]].append(c)

    # -- the trail --------------------------------------------------------------------------

    def _enqueue(self, lit: int, reason: list[int] | None) -> None:
        self.value[lit] = 1
        self.value[-lit] = -1
        v = abs(lit)
        self.level[v] = len(self.trail_lim)
        self.reason[v] = reason
        self.trail.append(lit)

    def _backtrack(self, level: int) -> None:
        if len(self.trail_lim) <= level:
            return
        value, phases, reason, trail = self.value, self.phases, self.reason, self.trail
        lim = self.trail_lim[level]
        for k in range(len(trail) - 1, lim - 1, -1):
            lit = trail[k]
            value[lit] = value[-lit] = 0
            if lit > 0:
                phases[lit] = 1
                reason[lit] = None
            else:
                phases[-lit] = -1
                reason[-lit] = None
        del trail[lim:]
        del self.trail_lim[level:]
        self.qhead = lim

    # -- propagation ------------------------------------------------------------------------

    def _propagate(self) -> list[int] | None:
        """Unit propagation (``propagate.propagate``); returns a falsified clause or None.

        Every literal it implies, up to a conflict, belongs to the current decision level.
        """
        trail, level = self.trail, self.level
        start, implied = self.qhead, len(trail)
        self.qhead, conflict = propagate(self.value, self.watches, trail, start, self.reason)
        dl = len(self.trail_lim)
        for k in range(implied, len(trail)):
            lit = trail[k]
            level[lit if lit > 0 else -lit] = dl
        self.propagations += self.qhead - start
        return conflict

    # -- learning ---------------------------------------------------------------------------

    def _analyze(self, conflict: list[int]) -> tuple[list[int], int]:
        """First-UIP learnt clause (asserting literal first) and the level to backjump to."""
        seen, level, reason, trail = self.seen, self.level, self.reason, self.trail
        dl = len(self.trail_lim)
        learnt = [0]
        marked: list[int] = []
        pending = 0  # current-level literals met and not yet resolved away
        idx = len(trail) - 1
        clause = conflict
        start = 0  # position 0 of a reason clause is the literal it implied: skip it
        while True:
            for k in range(start, len(clause)):
                q = clause[k]
                v = q if q > 0 else -q
                if not seen[v] and level[v] > 0:
                    seen[v] = True
                    marked.append(v)
                    if level[v] >= dl:
                        pending += 1
                    else:
                        learnt.append(q)
            while not seen[abs(trail[idx])]:
                idx -= 1
            p = trail[idx]
            idx -= 1
            seen[abs(p)] = False
            pending -= 1
            if pending == 0:
                break
            clause = reason[abs(p)]  # type: ignore[assignment]
            start = 1
        learnt[0] = -p

        if self.config.minimize:
            kept = [learnt[0]]
            for q in learnt[1:]:
                r = reason[abs(q)]
                if r is None or any(not seen[abs(x)] and level[abs(x)] > 0 for x in r[1:]):
                    kept.append(q)
            learnt = kept
        for v in marked:
            seen[v] = False

        if len(learnt) == 1:
            return learnt, 0
        best = max(range(1, len(learnt)), key=lambda k: level[abs(learnt[k])])
        learnt[1], learnt[best] = learnt[best], learnt[1]
        return learnt, level[abs(learnt[1])]

    def _learn(self, learnt: list[int]) -> None:
        if self.proof is not None:
            self.proof.append(" ".join(map(str, learnt)) + " 0")
        self.learned += 1
        if len(learnt) == 1:
            self._enqueue(learnt[0], None)
        else:
            self.watches[learnt[0]].append(learnt)
            self.watches[learnt[1]].append(learnt)
            self.learnts.append(learnt)
            self._enqueue(learnt[0], learnt)
        if self.on_conflict is not None:
            self.on_conflict(learnt)

    # -- search -----------------------------------------------------------------------------

    def _result(self, status: Status) -> SolveResult:
        model = None
        if status is Status.SATISFIABLE:
            model = [v if self.value[v] == 1 else -v for v in range(1, self.n + 1)]
        return SolveResult(
            "cdcl",
            status,
            model,
            self.decisions,
            self.conflicts,
            time.perf_counter() - self.t0,
            propagations=self.propagations,
            learned=self.learned,
            restarts=self.restarts,
            proof=self.proof if status is Status.UNSATISFIABLE else None,
        )

    def _residual(self) -> list[list[int]]:
        return restrict(self.problem, self.value)

    def solve(self) -> SolveResult:
        config = self.config
        if self.inconsistent:
            if self.proof is not None:
                self.proof.append("0")
            return self._result(Status.UNSATISFIABLE)
        restart_index = 0
        next_restart = luby(0) * config.luby_unit
        conflicts_since_restart = 0
        while True:
            conflict = self._propagate()
            if conflict is not None:
                self.conflicts += 1
                if not self.trail_lim:
                    if self.proof is not None:
                        self.proof.append("0")
                    return self._result(Status.UNSATISFIABLE)
                if config.max_conflicts is not None and self.conflicts > config.max_conflicts:
                    return self._result(Status.UNKNOWN)
                learnt, backjump = self._analyze(conflict)
                self._backtrack(backjump)
                self._learn(learnt)
                conflicts_since_restart += 1
                if config.restarts and conflicts_since_restart >= next_restart:
                    self._backtrack(0)
                    self.restarts += 1
                    restart_index += 1
                    next_restart = luby(restart_index) * config.luby_unit
                    conflicts_since_restart = 0
            elif len(self.trail) == self.n:
                return self._result(Status.SATISFIABLE)
            else:
                if config.max_decisions is not None and self.decisions >= config.max_decisions:
                    return self._result(Status.UNKNOWN)
                guide = config.guide
                if (
                    guide is not None
                    and self.queries < guide.max_queries
                    and self.conflicts >= self.next_query
                    and self._query(guide)
                    and guide.restart
                    and self.trail_lim
                ):
                    self._backtrack(0)
                    continue
                self._decide()

    def _view(self) -> BranchingView:
        return BranchingView(
            self.n,
            self.value,
            self.trail,
            self._residual,
            phases=self.phases,
            decision_level=len(self.trail_lim),
        )

    def _query(self, guide: GuideHook) -> bool:
        """One query of the guide hook: refocus VSIDS's scores (see the module docstring);
        False when the callback skipped it."""
        h: VSIDS = self.heuristic  # type: ignore[assignment]
        n = self.n
        score = h.score
        if score is None or len(score) != 2 * n + 1:
            score = h._init(self._view())
        root = bytearray(n + 1)
        end = self.trail_lim[0] if self.trail_lim else len(self.trail)
        for lit in self.trail[:end]:
            root[abs(lit)] = 1 if lit > 0 else 255
        learnt = None
        if guide.learnt > 0:
            flat = array("i")
            for c in self.learnts[-guide.learnt :]:
                flat.extend(c)
                flat.append(0)
            learnt = flat.tobytes()
        answer = guide.callback(bytes(root), learnt)
        self.next_query = self.conflicts + guide.interval
        if answer is None:
            return False
        weights, phases = answer
        w = np.ascontiguousarray(weights)
        if w.dtype != np.float64 or w.shape != (n + 1,):
            raise ValueError(f"guide: weights must be {n + 1} items of format 'd'")
        if not bool(np.all((w >= 0.0) & (w <= 1e300))):
            raise ValueError("guide: weights must be finite and >= 0")
        ph = None
        if phases is not None:
            ph = np.ascontiguousarray(phases)
            if ph.dtype != np.int8 or ph.shape != (n + 1,):
                raise ValueError(f"guide: phases must be {n + 1} items of format 'b'")
        h.bump = 1.0
        wl = w.tolist()
        pl = ph.tolist() if ph is not None else None
        scale = guide.scale
        level, value = self.level, self.value
        for v in range(1, n + 1):
            if value[v] != 0 and level[v] == 0:
                continue
            hi, lo = score[v], score[-v]
            positive = hi >= lo
            if pl is not None and pl[v] != 0:
                positive = pl[v] > 0
            if lo > hi:
                hi, lo = lo, hi
            x = scale * wl[v]
            y = x * (lo / hi) if hi > 0.0 else x
            score[v], score[-v] = (x, y) if positive else (y, x)
        self.queries += 1
        return True

    def _decide(self) -> None:
        lit = checked_pick(self.heuristic, self._view())
        self.decisions += 1
        self.trail_lim.append(len(self.trail))
        self._enqueue(lit, None)
