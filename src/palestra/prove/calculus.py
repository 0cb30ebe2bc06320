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

Representation (the hot loop avoids the exchange types of ``palestra.logic.syntax``): a term
is an ``int`` (a variable, local to its clause) or a tuple ``(functor id, arg, ...)``; ground
subterms are interned ``_Ground`` tuples, so two ground terms are equal iff identical. A
literal is ``(2 * predicate id + negative, arg, ...)``, so complementing flips the low bit.
Clause copies share structure: an instance is the clause template plus an offset into the
binding array (``bind[offset + var]``), and every binding is recorded on a trail for undo.
A faster core can replace ``_PythonCore`` behind ``prove()`` by taking the same
``CompiledMatrix`` and returning a ``CoreResult``; ``palestra.prove.ccore.CCore`` (in C) is
one, and ``prove()`` uses it when its extension is built (``default_core``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Literal, Protocol

from palestra.core.errors import PalestraError
from palestra.logic.settings import LeancopSettings, mreorder
from palestra.logic.syntax import START, Fn, Lit, Matrix, Term, Var
from palestra.prove.proof import ConnectionProof, ProofStep

__all__ = [
    "CompiledMatrix",
    "CoreResult",
    "Options",
    "ProofResult",
    "ProverCore",
    "Status",
    "compile_matrix",
    "default_core",
    "identical",
    "occurs",
    "prove",
    "unify",
]

Status = Literal["Theorem", "InfLimit", "CounterSatisfiable", "GaveUp", "Timeout"]


@dataclass(frozen=True, slots=True)
class Options:
    """leanCoP 2.1's settings for the core prover (``nodef``/``def`` belong to clausification).

    ``conj`` says the matrix carries conjecture markers (the clause ``[-#]``), as leanCoP's
    clausifier makes them; leanCoP itself decides the start rule from the matrix, and
    ``prove`` checks that the two agree. ``inference_limit=None`` means no limit.
    """

    cut: bool = True
    comp: int | None = 7
    conj: bool = False
    scut: bool = False
    reo: int | None = None
    inference_limit: int | None = 200_000

    def __post_init__(self) -> None:
        if self.comp is not None and self.comp < 1:
            raise PalestraError(f"comp must be >= 1, got {self.comp}")
        if self.reo is not None and self.reo < 0:
            raise PalestraError(f"reo must be >= 0, got {self.reo}")
        if self.inference_limit is not None and self.inference_limit < 0:
            raise PalestraError(f"inference_limit must be >= 0, got {self.inference_limit}")

    @classmethod
    def from_leancop(cls, settings: str, inference_limit: int | None = 200_000) -> Options:
        """The search options of a leanCoP option list such as ``[cut,comp(7)]``
        (:meth:`LeancopSettings.parse`; ``nodef``/``def`` are left to the clausifier)."""
        s = LeancopSettings.parse(settings)
        return cls(
            cut=s.cut,
            comp=s.comp,
            conj=s.conj,
            scut=s.scut,
            reo=s.reo,
            inference_limit=inference_limit,
        )


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


# ----------------------------------------------------------------------------------------
# compiled matrix


class _Ground(tuple):
    """A ground compound term, interned: two ground terms are equal iff identical."""

    __slots__ = ()


_EXT, _RED, _LEM = 0, 1, 2


@dataclass(slots=True)
class CompiledMatrix:
    """The matrix as the core sees it: clause templates and the literal index.

    ``clauses[c]`` are literal templates of the clause leanCoP stores (``#`` first where
    the start marker is implicit); ``index[f]`` lists, in leanCoP's order, the entries
    ``(literal, rest of clause, ground, number of variables, entry id)`` whose literal has
    literal id ``f``; ``entries[e] = (c, position)``.
    """

    clauses: list[tuple[tuple, ...]] = field(default_factory=list)
    nvars: list[int] = field(default_factory=list)
    ground: list[bool] = field(default_factory=list)
    source: list[int] = field(default_factory=list)  # index of the clause in the user's matrix
    var_names: list[tuple[str, ...]] = field(default_factory=list)
    index: dict[int, list[tuple]] = field(default_factory=dict)
    entries: list[tuple[int, int]] = field(default_factory=list)
    predicates: list[tuple[str, int]] = field(default_factory=list)
    functions: list[tuple[str, int]] = field(default_factory=list)
    term_vars: dict[int, tuple[int, ...]] = field(default_factory=dict)  # id(term) -> its vars
    conj: bool = False  # the matrix holds [-#]: start clauses are the ones carrying #
    start_id: int = 0  # literal id of the positive start marker #


def compile_matrix(matrix: Matrix, reo: int | None = None) -> CompiledMatrix:
    """Compile ``matrix`` (optionally reordered by ``reo``) and build leanCoP's literal index."""
    cm = CompiledMatrix()
    start_lit = Lit(True, START)
    cm.conj = any(c == (Lit(False, START),) for c in matrix)
    preds: dict[tuple[str, int], int] = {}
    funcs: dict[tuple[str, int], int] = {}
    interned: dict[tuple, _Ground] = {}

    def pred_id(name: str, arity: int) -> int:
        key = (name, arity)
        if key not in preds:
            preds[key] = len(cm.predicates)
            cm.predicates.append(key)
        return preds[key]

    cm.start_id = 2 * pred_id(START.name, 0)
    for src in mreorder(range(len(matrix)), reo or 0):
        lits = list(matrix[src])
        if not cm.conj and all(x.positive for x in lits):
            lits.insert(0, start_lit)
        names: dict[str, int] = {}

        def term(t: Term, names: dict[str, int] = names) -> int | tuple:
            # bottom-up without recursion; ground subterms are interned
            out: list[int | tuple] = []
            stack: list[tuple[Term, bool]] = [(t, False)]
            while stack:
                s, built = stack.pop()
                if isinstance(s, Var):
                    out.append(names.setdefault(s.name, len(names)))
                elif not built:
                    stack.append((s, True))
                    stack.extend((a, False) for a in reversed(s.args))
                else:
                    key = (s.name, len(s.args))
                    if key not in funcs:
                        funcs[key] = len(cm.functions)
                        cm.functions.append(key)
                    n = len(s.args)
                    compiled = (funcs[key], *out[len(out) - n :])
                    del out[len(out) - n :]
                    if all(type(a) is _Ground for a in compiled[1:]):
                        compiled = interned.setdefault(compiled, _Ground(compiled))
                    else:
                        vs: set[int] = set()
                        for a in compiled[1:]:
                            if type(a) is int:
                                vs.add(a)
                            elif type(a) is not _Ground:
                                vs.update(cm.term_vars[id(a)])
                        cm.term_vars[id(compiled)] = tuple(sorted(vs))
                    out.append(compiled)
            return out[0]

        templates = tuple(
            (2 * pred_id(x.atom.name, len(x.atom.args)) + (not x.positive), *map(term, x.atom.args))
            for x in lits
        )
        c = len(cm.clauses)
        cm.clauses.append(templates)
        cm.nvars.append(len(names))
        cm.ground.append(not names)
        cm.source.append(src)
        cm.var_names.append(tuple(names))
        for i, lit in enumerate(templates):
            rest = templates[:i] + templates[i + 1 :]
            cm.index.setdefault(lit[0], []).append(
                (lit, rest, not names, len(names), len(cm.entries))
            )
            cm.entries.append((c, i))
    return cm


# ----------------------------------------------------------------------------------------
# the core


@dataclass(frozen=True, slots=True)
class CoreResult:
    """What a core returns: status, count, and on success the proof steps in proof order.

    ``steps``: ``(rule, ref, offset)`` with rule 0 extension (``ref`` an entry id), 1
    reduction (``ref`` the path position), 2 lemma (``ref`` the earlier step id);
    ``substitution`` maps instance variable names (see ``instance_var``) to their values.
    """

    status: Status
    inferences: int
    path_limit: int
    steps: list[tuple[int, int, int]] | None = None
    substitution: dict[str, Term] | None = None


class ProverCore(Protocol):
    """A search core: same matrix, same options, same counts as leanCoP 2.1."""

    def __call__(self, cm: CompiledMatrix, options: Options) -> CoreResult: ...


def instance_var(cm: CompiledMatrix, clause: int, var: int, step: int) -> str:
    """The name of variable ``var`` of clause ``clause`` in the copy made at step ``step``."""
    return f"{cm.var_names[clause][var]}_{step}"


# ----------------------------------------------------------------------------------------
# unification and identity under bindings (shared with palestra.prove.world)
#
# A term is an int (a variable, relative to an instance's offset) or a tuple; ``bind[o + v]``
# is ``(term, offset)`` or None; every binding is pushed on ``trail`` so it can be undone.


def occurs(bind: list, term_vars: dict, v: int, t: tuple, to: int) -> bool:
    """Whether variable ``v`` occurs in ``t`` (at offset ``to``) under the bindings.

    Only the variables of ``t`` are visited (``CompiledMatrix.term_vars``), not its
    whole structure: numerals and Skolem terms are mostly ground.
    """
    stack = [(t, to)]
    while stack:
        t, to = stack.pop()
        for k in term_vars[id(t)]:
            g = k + to
            x = bind[g]
            if x is None:
                if g == v:
                    return True
                continue
            a, ao = x
            while type(a) is int:
                x = bind[a + ao]
                if x is None:
                    break
                a, ao = x
            if type(a) is int:
                if a + ao == v:
                    return True
            elif type(a) is not _Ground:
                stack.append((a, ao))
    return False


def unify(
    bind: list, trail: list, term_vars: dict, s0: tuple, so0: int, t0: tuple, to0: int
) -> bool:
    """Unify the arguments of two terms with the same functor, with occurs check.

    Robinson's rules: a variable unifies with itself; an unbound variable ``X`` with a
    term ``t`` not containing ``X`` by binding ``X := t``; ``f(s1..sn)`` with
    ``f(t1..tn)`` when every ``si`` unifies with ``ti``; anything else fails. Bindings
    go on the trail; on failure the caller undoes them.
    """
    stack = [(s0, so0, t0, to0)]
    while stack:
        s0, so0, t0, to0 = stack.pop()
        for i in range(1, len(s0)):
            s = s0[i]
            t = t0[i]
            if s is t and (so0 == to0 or type(s) is _Ground):
                continue
            so = so0
            while type(s) is int:
                x = bind[s + so]
                if x is None:
                    break
                s, so = x
            to = to0
            while type(t) is int:
                x = bind[t + to]
                if x is None:
                    break
                t, to = x
            if type(s) is int:
                v = s + so
                if type(t) is int:
                    if v != t + to:
                        bind[v] = (t, to)
                        trail.append(v)
                else:
                    if type(t) is not _Ground and occurs(bind, term_vars, v, t, to):
                        return False
                    bind[v] = (t, to)
                    trail.append(v)
            elif type(t) is int:
                v = t + to
                if type(s) is not _Ground and occurs(bind, term_vars, v, s, so):
                    return False
                bind[v] = (s, so)
                trail.append(v)
            elif s is t and (so == to or type(s) is _Ground):
                continue
            elif s[0] != t[0] or (type(s) is _Ground and type(t) is _Ground):
                return False
            else:
                stack.append((s, so, t, to))
    return True


def identical(bind: list, s0: tuple, so0: int, t0: tuple, to0: int) -> bool:
    """Prolog's ``==`` on the arguments of two terms with the same functor."""
    stack = [(s0, so0, t0, to0)]
    while stack:
        s0, so0, t0, to0 = stack.pop()
        for i in range(1, len(s0)):
            s = s0[i]
            t = t0[i]
            if s is t and (so0 == to0 or type(s) is _Ground):
                continue
            so = so0
            while type(s) is int:
                x = bind[s + so]
                if x is None:
                    break
                s, so = x
            to = to0
            while type(t) is int:
                x = bind[t + to]
                if x is None:
                    break
                t, to = x
            if type(s) is int or type(t) is int:
                if type(s) is not type(t) or s + so != t + to:
                    return False
            elif s is t and (so == to or type(s) is _Ground):
                continue
            elif s[0] != t[0] or (type(s) is _Ground and type(t) is _Ground):
                return False
            else:
                stack.append((s, so, t, to))
    return True


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
            trace = ((_EXT, eid, 0), None)
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
                    rule, ref, pos = _LEM, p[2], p[3]
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
                    rule, ref, pos = _RED, p[2] - 1, p[3]
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
                                rule = _EXT
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
            if rule == _EXT:
                trace = ((_EXT, ref, top), trace)
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

    # -- reading the answer back ---------------------------------------------------------

    def substitution(self, steps: list[tuple[int, int, int]]) -> dict[str, Term]:
        """The final bindings of every instance variable, in the exchange types."""
        cm = self.cm
        names: dict[int, Var] = {}
        for s, (rule, ref, off) in enumerate(steps):
            if rule == _EXT:
                c = cm.entries[ref][0]
                for k in range(cm.nvars[c]):
                    names[off + k] = Var(instance_var(cm, c, k, s))
        sub: dict[str, Term] = {}
        for g, var in names.items():
            value = self._resolve(g, 0, names)
            if value is not var:
                sub[var.name] = value
        return sub

    def _resolve(self, t: int | tuple, o: int, names: dict[int, Var]) -> Term:
        """The term ``t`` (at offset ``o``) with all bindings applied, without recursion."""
        bind = self.bind
        functions = self.cm.functions
        out: list[Term] = []
        stack: list[tuple] = [(t, o, False)]
        while stack:
            t, o, built = stack.pop()
            while type(t) is int:
                x = bind[t + o]
                if x is None:
                    break
                t, o = x
            if type(t) is int:
                out.append(names[t + o])
            elif built:
                n = len(t) - 1
                args = tuple(out[len(out) - n :]) if n else ()
                del out[len(out) - n :]
                out.append(Fn(functions[t[0]][0], args))
            else:
                stack.append((t, o, True))
                stack.extend((a, o, False) for a in reversed(t[1:]))
        return out[0]


def python_core(cm: CompiledMatrix, options: Options) -> CoreResult:
    """leanCoP 2.1's iterative deepening (``prove/3``) around ``_PythonCore.search``."""
    core = _PythonCore(cm, options.inference_limit)
    pathlim, cut, scut, comp = 1, options.cut, options.scut, options.comp
    try:
        while True:
            steps = core.search(pathlim, cut, scut)
            if steps is not None:
                sub = core.substitution(steps)
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
        proof = _build_proof(cm, result.steps, result.substitution)
    return ProofResult(result.status, result.inferences, proof, result.path_limit)


def default_core() -> ProverCore:
    """The compiled core (``palestra.prove.ccore.CCore``) when its extension is built, else
    the pure-Python ``python_core``."""
    from palestra.prove import ccore  # imports this module: loaded on first use

    return ccore.CCore() if ccore.available() else python_core


def _build_proof(
    cm: CompiledMatrix, steps: list[tuple[int, int, int]], sub: dict[str, Term]
) -> ConnectionProof:
    """Turn the core's steps (in proof order) into the tree of ``ProofStep``."""

    def decode(t: int | tuple, c: int, s: int) -> Term:
        out: list[Term] = []
        stack: list[tuple] = [(t, False)]
        while stack:
            t, built = stack.pop()
            if type(t) is int:
                out.append(Var(instance_var(cm, c, t, s)))
            elif built:
                n = len(t) - 1
                args = tuple(out[len(out) - n :]) if n else ()
                del out[len(out) - n :]
                out.append(Fn(cm.functions[t[0]][0], args))
            else:
                stack.append((t, True))
                stack.extend((a, False) for a in reversed(t[1:]))
        return out[0]

    def decode_lit(x: tuple, c: int, s: int) -> Lit:
        name = cm.predicates[x[0] >> 1][0]
        return Lit(not x[0] & 1, Fn(name, tuple(decode(a, c, s) for a in x[1:])))

    it = iter(enumerate(steps))

    def build(goal: Lit) -> ProofStep:
        s, (rule, ref, _off) = next(it)
        if rule == _RED:
            return ProofStep(s, "reduction", goal, ancestor=ref)
        if rule == _LEM:
            return ProofStep(s, "lemma", goal, lemma=ref)
        c, i = cm.entries[ref]
        instance = tuple(decode_lit(x, c, s) for x in cm.clauses[c])
        children = tuple(build(x) for k, x in enumerate(instance) if k != i)
        return ProofStep(s, "extension", goal, cm.source[c], i, instance, children=children)

    start = build(Lit(False, START))
    return ConnectionProof(start, sub)
