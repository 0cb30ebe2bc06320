"""The connection calculus of leanCoP 2.1, in pure Python, with leanCoP's exact search order.

leanCoP (Otten, "leanCoP 2.0 and ileanCoP 1.2", IJCAR 2008; Otten, "Restricting
backtracking in connection calculi", AI Communications 2010) proves a first-order formula
valid by finding a *connection proof* of its matrix. The matrix is in leanCoP's positive
representation: a clause is a conjunction of literals and the matrix the disjunction of its
clauses; a *connection* is a pair of complementary literals ``{P(s), -P(t)}`` with ``s``
and ``t`` unifiable. The calculus works on tuples ``(C, Path)``: the open literals ``C`` of
the current clause and the *active path*, the literals from the root to ``C``.

- **start**: prove the goal ``-#``; its extension picks a start clause containing ``#``
  (with ``conj`` the conjecture clauses carry ``#`` and the clause ``[-#]`` is in the matrix;
  without it every clause without negative literals gets ``#`` put in front).
- **reduction**: close literal ``L`` of ``C`` when some ``L'`` on the path is complementary
  to it under a unifier ``σ``: ``(C ∪ {L}, Path ∪ {L'})`` becomes ``(C, Path ∪ {L'})σ``.
- **extension**: close ``L`` with a fresh copy ``C2 ∪ {L'}`` of a matrix clause whose ``L'`` is
  complementary to ``L`` under ``σ``: prove ``(C2, Path ∪ {L})σ`` and then ``(C, Path)σ``.
- **lemma**: close ``L`` when it equals (``==``, no unification) a literal closed earlier
  whose subproof used a prefix of the current path (a left sibling of ``L`` or of an ancestor).
- **regularity**: no open literal of ``C`` may equal (``==``) a literal on the path.
- **iterative deepening**: the path length is limited to ``PathLim`` = 1, 2, 3, ...; an
  extension into a clause with variables fails when the path already has ``PathLim``
  literals (the root ``-#`` counts), ground clauses are exempt. The next limit is tried only
  when some extension met the limit (leanCoP's ``pathlim`` flag).
- **cut** (restricted backtracking): once ``L`` is closed, no other way of closing it (and
  nothing inside its subproof) is tried again. **scut**: only the first start clause is
  tried, and the start is not counted as an inference. **comp(N)**: when limit ``N`` fails,
  restart at limit 1 with complete search (no cut, no scut); before that, the limit is raised
  after every failure whether or not it was met.

The order of search is leanCoP 2.1's (``leancop21_swi.pl``): for each open literal, first
lemmata (the lemma list, most recent first), then reductions (the path, nearest first), then
extensions (matrix clauses in order and, within a clause, its literals in order, each paired
with the rest of its clause in order). One inference is counted for every successful
unification in a reduction or an extension (the start is an extension of ``-#``; an
extension stopped by the path limit has already been counted), summed over all limits; the
search stops as soon as the count exceeds the inference limit, reporting ``limit + 1``.
These counts reproduce the leanCoP 2.1 golden data (``palestra.prove.golden``) exactly.

This module is the reference search core, ``python_core``: leanCoP's ``prove/6`` as an
explicit machine over the compiled matrix of :mod:`palestra.prove.compiled` (which describes
the representation). A faster core can replace it behind ``prove()`` by taking the same
``CompiledMatrix`` and returning the same ``CoreResult``; ``palestra.prove.ccore.CCore`` (in
C) is one, and ``prove()`` uses it when its extension is built (``default_core``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from palestra.core.errors import PalestraError
from palestra.logic.syntax import Matrix
from palestra.prove import ccore
from palestra.prove.compiled import (
    EXT,
    LEM,
    RED,
    CompiledMatrix,
    CoreResult,
    Options,
    ProverCore,
    Status,
    build_proof,
    compile_matrix,
    identical,
    substitution,
    unify,
)
from palestra.prove.proof import ConnectionProof

__all__ = ["Options", "ProofResult", "default_core", "prove", "python_core"]


@dataclass(frozen=True, slots=True)
class ProofResult:
    """The outcome of ``prove``.

    ``status``: ``Theorem`` (``proof`` holds the connection proof), ``InfLimit`` (the count
    passed the inference limit; ``inferences`` is then ``limit + 1``), ``CounterSatisfiable``
    (complete search exhausted: no proof exists, assuming as leanCoP does that the axioms
    are consistent when ``conj`` restricts start clauses), ``GaveUp`` (an incomplete search,
    with cut or scut and no comp, exhausted), ``Timeout`` (a core's wall-clock limit, such as
    ``CCore(time_limit_s=...)``, stopped the search).
    """

    status: Status
    inferences: int
    proof: ConnectionProof | None = None
    path_limit: int = 0  # the path limit of the last iteration


class _InferenceLimit(Exception):
    pass


class _PythonCore:
    """leanCoP's ``prove/6`` as an explicit machine: goal continuations and choice points.

    A *frame* ``(lits, j, off, path, lem, barrier, next)`` means: prove ``lits[j:]`` (a clause
    copy at offset ``off``) on ``path`` with lemma list ``lem``, then continue with ``next``;
    ``barrier`` (with cut) is the choice-point height to cut back to before doing so. Paths
    ``(lit, off, depth, parent, step)`` and lemma lists ``(lit, off, step, next)`` are
    persistent linked lists, so a choice point saves them in O(1).
    """

    def __init__(self, cm: CompiledMatrix, limit: int | None) -> None:
        self.cm = cm
        self.limit = limit
        self.inferences = 0
        self.pathlim_hit = False  # leanCoP's dynamic `pathlim` flag, shared by all limits
        self.bind: list = [None] * 4096
        self.trail: list[int] = []

    def _undo(self, mark: int) -> None:
        bind = self.bind
        trail = self.trail
        while len(trail) > mark:
            bind[trail.pop()] = None

    def _count(self) -> None:
        self.inferences += 1
        if self.limit is not None and self.inferences > self.limit:
            raise _InferenceLimit

    # -- one iteration of iterative deepening ---------------------------------------------

    def search(self, pathlim: int, cut: bool, scut: bool) -> list[tuple[int, int, int]] | None:
        """leanCoP's ``prove(PathLim, Set, Proof)`` first clause: one proof attempt.

        Returns the proof steps (rule, ref, offset) in proof order, or None on failure.
        """
        cm = self.cm
        index = cm.index
        bind = self.bind
        trail = self.trail
        unify_args = partial(unify, bind, trail, cm.term_vars)  # bind grows in place
        same = partial(identical, bind)
        count = self._count
        undo = self._undo
        neg_start = (cm.start_id ^ 1,)
        self._undo(0)

        choices: list[tuple] = []
        trace: tuple | None = None  # linked list of steps, newest first
        ntrace = 0
        top = 0
        if scut:
            # lit(#,_,C,_) -> prove(C,[-(#)],...): the first start clause only, not counted
            cands = index.get(cm.start_id)
            if not cands:
                return None
            _lit, rest, _ground, nv, eid = cands[0]
            if nv > len(bind):
                bind.extend([None] * nv)
            trace = ((EXT, eid, 0), None)
            ntrace = 1
            cont: tuple | None = (rest, 0, 0, (neg_start, 0, 1, None, 0), None, None, None)
            top = nv
        else:
            cont = ((neg_start,), 0, 0, None, None, None, None)

        # the goal being worked on, and where its alternatives stand
        lit: tuple = neg_start
        lits: tuple = ()
        j = off = mark = g_top = g_ntrace = g_barrier = 0
        path: tuple | None = None
        lem: tuple | None = None
        nxt: tuple | None = None
        g_trace: tuple | None = None
        stage = -1  # take the next goal (an empty scut start clause has none: a proof)
        pos: object = None

        while True:
            # ---- take the next goal from the continuation ----------------------------
            if cont is not None or stage < 0:
                if cont is None:
                    break
                lits, j, off, path, lem, barrier, nxt = cont
                if barrier is not None:
                    del choices[barrier:]  # cut: L is closed, forget its alternatives
                if j == len(lits):
                    cont = nxt
                    continue
                cont = None
                # regularity: no open literal of the clause equals a literal on the path
                regular = True
                if path is not None:
                    for k in range(j, len(lits)):
                        lk = lits[k]
                        f = lk[0]
                        p = path
                        while p is not None:
                            pl = p[0]
                            if pl[0] == f and same(lk, off, pl, p[1]):
                                regular = False
                                break
                            p = p[3]
                        if not regular:
                            break
                if regular:
                    lit = lits[j]
                    g_barrier = len(choices)
                    mark = len(trail)
                    g_top = top
                    g_trace = trace
                    g_ntrace = ntrace
                    stage = 0
                    pos = lem
                else:
                    stage = 3  # no alternatives: backtrack

            # ---- find the next alternative for `lit` ----------------------------------
            rule = -1
            ref = 0
            if stage == 0:  # lemma: an identical literal on the lemma list
                p = pos
                f = lit[0]
                while p is not None:
                    pl = p[0]
                    if pl[0] == f and same(lit, off, pl, p[1]):
                        break
                    p = p[3]
                if p is not None:
                    rule, ref, pos = LEM, p[2], p[3]
                else:
                    stage, pos = 1, path
            if stage == 1 and rule < 0:  # reduction: a complementary literal on the path
                p = pos
                f = lit[0] ^ 1
                while p is not None:
                    pl = p[0]
                    if pl[0] == f:
                        if unify_args(lit, off, pl, p[1]):
                            count()
                            break
                        if len(trail) > mark:
                            undo(mark)
                    p = p[3]
                if p is not None:
                    rule, ref, pos = RED, p[2] - 1, p[3]
                else:
                    stage, pos = 2, 0
            if stage == 2 and rule < 0:  # extension: a complementary literal in the matrix
                cands = index.get(lit[0] ^ 1)
                if cands:
                    depth = 0 if path is None else path[2]
                    i = pos
                    n = len(cands)
                    while i < n:
                        entry = cands[i]
                        i += 1
                        nv = entry[3]
                        if top + nv > len(bind):
                            bind.extend([None] * (len(bind) + nv))
                        if unify_args(lit, off, entry[0], top):
                            count()
                            if entry[2] or depth < pathlim:
                                rule = EXT
                                ref = entry[4]
                                break
                            self.pathlim_hit = True
                        if len(trail) > mark:
                            undo(mark)
                    pos = i
                    if rule < 0 or i == n:
                        stage = 3  # nothing left after this one
                else:
                    stage = 3

            if rule < 0:
                # ---- backtrack to the most recent choice point -------------------------
                if not choices:
                    return None
                (stage, pos, lit, off, lits, j, path, lem, g_barrier, nxt, mark, g_top,
                 g_trace, g_ntrace) = choices.pop()  # fmt: skip
                self._undo(mark)
                top = g_top
                trace = g_trace
                ntrace = g_ntrace
                cont = None
                continue

            # ---- apply the alternative ------------------------------------------------
            if stage < 3:
                choices.append(
                    (stage, pos, lit, off, lits, j, path, lem, g_barrier, nxt, mark, g_top,
                     g_trace, g_ntrace)
                )  # fmt: skip
            step = ntrace
            ntrace += 1
            rest_frame = (
                lits, j + 1, off, path, (lit, off, step, lem), g_barrier if cut else None, nxt
            )  # fmt: skip
            if rule == EXT:
                trace = ((EXT, ref, top), trace)
                new_path = (lit, off, (0 if path is None else path[2]) + 1, path, step)
                cont = (entry[1], 0, top, new_path, lem, None, rest_frame)
                top += entry[3]
            else:
                trace = ((rule, ref, 0), trace)
                cont = rest_frame
            stage = -1  # marks "take next goal"

        steps: list[tuple[int, int, int]] = []
        while trace is not None:
            steps.append(trace[0])
            trace = trace[1]
        steps.reverse()
        return steps


def python_core(cm: CompiledMatrix, options: Options) -> CoreResult:
    """leanCoP 2.1's iterative deepening (``prove/3``) around ``_PythonCore.search``."""
    core = _PythonCore(cm, options.inference_limit)
    pathlim, cut, scut, comp = 1, options.cut, options.scut, options.comp
    try:
        while True:
            steps = core.search(pathlim, cut, scut)
            if steps is not None:
                sub = substitution(cm, steps, core.bind)
                return CoreResult("Theorem", core.inferences, pathlim, steps, sub)
            if comp is not None and pathlim == comp:
                # restart at limit 1 with complete search; leanCoP does not clear the flag
                pathlim, cut, scut, comp = 1, False, False, None
            elif comp is not None:
                pathlim += 1
            elif core.pathlim_hit:
                core.pathlim_hit = False
                pathlim += 1
            else:
                status: Status = "GaveUp" if (cut or scut) else "CounterSatisfiable"
                return CoreResult(status, core.inferences, pathlim)
    except _InferenceLimit:
        return CoreResult("InfLimit", core.inferences, pathlim)


# ----------------------------------------------------------------------------------------
# the public entry point


def prove(
    matrix: Matrix, options: Options | None = None, core: ProverCore | None = None
) -> ProofResult:
    """Search a connection proof of ``matrix`` the way leanCoP 2.1 does.

    ``core`` selects the search implementation (default: ``default_core()``); every core
    must give the same status and inference count.
    """
    options = Options() if options is None else options
    cm = compile_matrix(matrix, options.reo)
    if options.conj != cm.conj:
        has = "has" if cm.conj else "has no"
        raise PalestraError(
            f"Options(conj={options.conj}) but the matrix {has} conjecture markers ([-#]); "
            "clausify with the same conj setting"
        )
    result = (core or default_core())(cm, options)
    proof = None
    if result.status == "Theorem":
        assert result.steps is not None and result.substitution is not None
        proof = build_proof(cm, result.steps, result.substitution)
    return ProofResult(result.status, result.inferences, proof, result.path_limit)


def default_core() -> ProverCore:
    """The compiled core (``palestra.prove.ccore.CCore``) when its extension is built, else
    the pure-Python ``python_core``."""
    return ccore.CCore() if ccore.available() else python_core
