"""The connection calculus as a world: a partial tableau whose leftmost open goal is expanded.

This is the setting of rlCoP (Kaliszyk, Urban, Michalewski, Olšák, "Reinforcement Learning
of Theorem Proving", NeurIPS 2018): a proof attempt is a sequence of decisions, each closing
the current goal, and a search (MCTS) chooses them. The calculus is leanCoP 2.1's (see
:mod:`palestra.prove.calculus` for the rules) without iterative deepening and without
backtracking: the search itself explores alternatives, by cloning states.

- **state**: the open goals of a partial connection tableau, leftmost first, each with its
  path; the bindings of the substitution built so far; the steps taken (in proof order).
- **actions** of the current goal ``L`` (the leftmost open one):
  reductions ``red k`` (``L`` complementary, under a unifier, to the path literal at position
  ``k``, 0 = the root ``-#``; nearest first) and extensions ``ext e`` (``L`` complementary to
  literal ``e`` of a fresh copy of a matrix clause; leanCoP's index order). Only connections
  whose unification succeeds are legal. An extension into a clause with variables is not
  legal when the path already holds ``max_depth`` literals (leanCoP's path limit, fixed:
  rlCoP's depth bound instead of iterative deepening); ground clauses are exempt.
- **regularity**: when an open literal of the current clause equals (``==``, under the
  bindings) a literal on its path, the current goal has no actions.
- **apply** performs the unification for real and counts one *inference*, exactly as leanCoP
  counts one per successful extension or reduction unification (the start, an extension of
  ``-#``, is one too). Trial unifications made to list the legal actions are undone and not
  counted, as leanCoP counts only the alternatives it takes.
- **terminal**: no open goal (a closed tableau: win, reward 1), or the current goal has no
  legal action, or ``inference_limit`` inferences were made (loss, reward 0).

Lemmata are not used (rlCoP's calculus has no lemma step either). A closed tableau becomes a
:class:`~palestra.prove.proof.ConnectionProof` (``state.proof()``) for the independent
checker.

Representation: the compiled matrix of :func:`palestra.prove.compiled.compile_matrix`
(terms are ``int`` variables local to a clause or tuples ``(functor id, args...)``, ground
subterms interned; clause copies share the template and own an offset into the binding
array). Open goals are a persistent linked list of frames ``(literals, j, offset, path,
next)``, paths and the step trace persistent linked lists too, so ``clone`` shares them and
copies the binding array only when one of the two states writes to it (copy on write).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from palestra.core.world import register_world
from palestra.logic.syntax import Matrix
from palestra.prove.compiled import (
    EXT,
    RED,
    CompiledMatrix,
    build_proof,
    compile_matrix,
    decode,
    identical,
    substitution,
    unify,
)
from palestra.prove.proof import ConnectionProof

__all__ = ["Action", "ConnectionState", "Problem", "connection_world", "load_matrix"]


class Action(NamedTuple):
    """One way of closing the current goal: ``("ext", entry id)`` or ``("red", path pos)``.

    An extension's ``ref`` is an entry of ``CompiledMatrix.entries`` (clause, literal); a
    reduction's is the position of the path literal, 0 being the root goal ``-#``.
    """

    kind: str
    ref: int

    def __str__(self) -> str:
        return f"{self.kind}{self.ref}"


@dataclass(slots=True)
class Problem:
    """What every state of one proof attempt shares: the matrix and the bounds."""

    matrix: Matrix
    cm: CompiledMatrix
    entry: list[tuple]  # entry id -> (literal, rest of clause, ground, nvars, entry id)
    max_depth: int
    inference_limit: int | None
    name: str = ""


def load_matrix(path: str | Path, settings: str = "[conj]") -> Matrix:
    """Read a TPTP problem and clausify it under a leanCoP option list (``[conj]``, ...)."""
    from palestra.logic.clausify import clausify_settings
    from palestra.logic.tptp import read_problem

    return clausify_settings(read_problem(path), settings)


# ---------------------------------------------------------------------------------------
# the state


def _undo(bind: list, trail: list) -> None:
    for v in trail:
        bind[v] = None
    trail.clear()


class ConnectionState:
    """A partial connection tableau; see the module docstring for the contract."""

    __slots__ = (
        "_actions",
        "_shared",
        "_won",
        "bind",
        "frames",
        "inferences",
        "problem",
        "top",
        "trace",
    )

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.bind: list = [None] * 64
        self._shared = False
        self.top = 0
        neg_start = (problem.cm.start_id ^ 1,)
        # frame: (literals, j, offset, path, next); path: (lit, off, depth, parent, step)
        self.frames: tuple | None = ((neg_start,), 0, 0, None, None)
        self.trace: tuple | None = None  # ((rule, ref, offset), older) newest first
        self.inferences = 0
        self._actions: list[Action] | None = None
        self._won = False

    # -- the current goal ------------------------------------------------------------
    def goal(self) -> tuple[tuple, int, tuple | None] | None:
        """The current goal as (literal template, offset, path), None when all are closed."""
        f = self.frames
        if f is None:
            return None
        return f[0][f[1]], f[2], f[3]

    def depth(self) -> int:
        """Literals on the current goal's path (the root ``-#`` counts)."""
        f = self.frames
        return 0 if f is None or f[3] is None else f[3][2]

    def open_goals(self) -> int:
        """Number of open goals (the current one included)."""
        n = 0
        f = self.frames
        while f is not None:
            n += len(f[0]) - f[1]
            f = f[4]
        return n

    def steps(self) -> int:
        """Steps taken so far (each one inference)."""
        return self.inferences

    # -- the state contract ----------------------------------------------------------
    def legal_actions(self) -> list[Action]:
        if self._actions is None:
            self._actions = self._compute_actions()
        return self._actions

    def _compute_actions(self) -> list[Action]:
        f = self.frames
        pb = self.problem
        if f is None or (pb.inference_limit is not None and self.inferences >= pb.inference_limit):
            return []
        cm = pb.cm
        tv = cm.term_vars
        bind = self.bind
        lits, j, off, path, _ = f
        # regularity: no open literal of the clause equals a literal on its path
        for k in range(j, len(lits)):
            lk = lits[k]
            p = path
            while p is not None:
                if p[0][0] == lk[0] and identical(bind, lk, off, p[0], p[1]):
                    return []
                p = p[3]
        lit = lits[j]
        neg = lit[0] ^ 1
        out: list[Action] = []
        trail: list[int] = []
        p = path
        while p is not None:
            if p[0][0] == neg:
                if unify(bind, trail, tv, lit, off, p[0], p[1]):
                    out.append(Action("red", p[2] - 1))
                _undo(bind, trail)
            p = p[3]
        depth = 0 if path is None else path[2]
        top = self.top
        for entry in cm.index.get(neg, ()):
            if not entry[2] and depth >= pb.max_depth:
                continue
            need = top + entry[3]
            if need > len(bind):
                bind.extend([None] * (need - len(bind) + 64))  # all None: safe when shared
            if unify(bind, trail, tv, lit, off, entry[0], top):
                out.append(Action("ext", entry[4]))
            _undo(bind, trail)
        return out

    def apply(self, action: Action) -> None:
        """Close the current goal by ``action`` (one of ``legal_actions()``): one inference."""
        if action not in self.legal_actions():
            raise ValueError(f"{action} is not a legal action here")
        if self._shared:
            self.bind = list(self.bind)
            self._shared = False
        pb = self.problem
        cm = pb.cm
        bind = self.bind
        lits, j, off, path, nxt = self.frames  # type: ignore[misc]
        lit = lits[j]
        step = self.inferences
        trail: list[int] = []
        rest = (lits, j + 1, off, path, nxt)
        if action.kind == "red":
            p = path
            while p is not None and p[2] - 1 != action.ref:
                p = p[3]
            assert p is not None
            ok = unify(bind, trail, cm.term_vars, lit, off, p[0], p[1])
            self.trace = ((RED, action.ref, 0), self.trace)
            frames: tuple | None = rest
        else:
            entry = pb.entry[action.ref]
            new = self.top
            if new + entry[3] > len(bind):
                bind.extend([None] * (new + entry[3] - len(bind) + 64))
            ok = unify(bind, trail, cm.term_vars, lit, off, entry[0], new)
            self.top = new + entry[3]
            self.trace = ((EXT, action.ref, new), self.trace)
            new_path = (lit, off, (0 if path is None else path[2]) + 1, path, step)
            frames = (entry[1], 0, new, new_path, rest)
        assert ok, "a legal action must unify"
        while frames is not None and frames[1] == len(frames[0]):
            frames = frames[4]
        self.frames = frames
        self.inferences += 1
        self._won = frames is None
        self._actions = None

    def is_terminal(self) -> bool:
        return self._won or not self.legal_actions()

    def reward(self) -> float:
        return 1.0 if self._won else 0.0

    def is_proved(self) -> bool:
        """Whether the tableau is closed."""
        return self._won

    def clone(self) -> ConnectionState:
        other = ConnectionState.__new__(ConnectionState)
        other.problem = self.problem
        other.bind = self.bind
        other._shared = self._shared = True
        other.top = self.top
        other.frames = self.frames
        other.trace = self.trace
        other.inferences = self.inferences
        other._actions = self._actions
        other._won = self._won
        return other

    # -- reading the state -------------------------------------------------------------
    def resolve(self, t: Any, o: int) -> Any:
        """Term ``t`` at offset ``o`` with the bindings applied, as nested tuples of names.

        A compound term is ``(name, arg, ...)``, a constant ``(name,)``, an unbound variable
        its ``int`` index in the binding array. For a literal template, the head is the
        predicate name, ``~`` in front when negative.
        """
        return decode(self.problem.cm, t, o, _slot, _named, self.bind)

    def resolve_lit(self, lit: tuple, off: int, bound: bool = True) -> tuple:
        """A literal template at ``off``, resolved: ``("p", args...)`` or ``("~p", ...)``.

        ``bound=False`` reads it as written in its clause, ignoring the bindings.
        """
        cm = self.problem.cm
        bind = self.bind if bound else None
        name = cm.predicates[lit[0] >> 1][0]
        args = [decode(cm, a, off, _slot, _named, bind) for a in lit[1:]]
        return ("~" + name if lit[0] & 1 else name, *args)

    def path_lits(self) -> list[tuple]:
        """The current goal's path, resolved, nearest first (the root ``-#`` last)."""
        out = []
        p = self.frames[3] if self.frames is not None else None
        while p is not None:
            out.append(self.resolve_lit(p[0], p[1]))
            p = p[3]
        return out

    def action_lits(self, action: Action) -> list[tuple]:
        """What ``action`` connects to: the clause copy's literals (the connected one first,
        variables unbound, as in the matrix) or the resolved path literal."""
        pb = self.problem
        if action.kind == "ext":
            lit, rest, _g, _nv, _e = pb.entry[action.ref]
            base = len(self.bind) + 1_000_000  # variables of a fresh copy: unbound
            return [self.resolve_lit(x, base, bound=False) for x in (lit, *rest)]
        p = self.frames[3] if self.frames is not None else None
        while p is not None and p[2] - 1 != action.ref:
            p = p[3]
        return [] if p is None else [self.resolve_lit(p[0], p[1])]

    def __str__(self) -> str:
        g = self.goal()
        if g is None:
            return f"closed, {self.inferences} inferences"
        text = _show(self.resolve_lit(g[0], g[1]))
        return f"goal {text} depth {self.depth()} open {self.open_goals()} inf {self.inferences}"

    # -- the proof -------------------------------------------------------------------
    def proof(self) -> ConnectionProof:
        """The closed tableau as a ``ConnectionProof`` (for ``palestra.prove.checker``)."""
        if not self._won:
            raise ValueError("the tableau is not closed")
        cm = self.problem.cm
        steps: list[tuple[int, int, int]] = []
        t = self.trace
        while t is not None:
            steps.append(t[0])
            t = t[1]
        steps.reverse()
        return build_proof(cm, steps, substitution(cm, steps, self.bind))


def _slot(g: int) -> int:
    return g


def _named(name: str, args: list[Any]) -> tuple:
    return (name, *args)


def _show(t: Any) -> str:
    """Text of a resolved term: variables ``_N``."""
    if type(t) is int:
        return f"_{t}"
    name = t[0]
    neg = name.startswith("~") and len(name) > 1
    body = name[1:] if neg else name
    if len(t) > 1:
        body += "(" + ",".join(_show(a) for a in t[1:]) + ")"
    return ("-" + body) if neg else body


@register_world("connection")
def connection_world(
    matrix: Matrix | None = None,
    *,
    path: str | Path | None = None,
    settings: str = "[conj]",
    max_depth: int = 10,
    inference_limit: int | None = None,
) -> ConnectionState:
    """The start state (goal ``-#``) of a connection proof of ``matrix``.

    Give a clausified ``matrix`` or a TPTP ``path`` (clausified under the leanCoP option
    list ``settings``). ``max_depth`` bounds the path length for extensions into clauses with
    variables; ``inference_limit`` makes a state terminal once that many inferences were made.
    """
    if matrix is None:
        if path is None:
            raise ValueError("connection_world needs a matrix or a path")
        matrix = load_matrix(path, settings)
    cm = compile_matrix(matrix)
    entry: list[tuple] = [()] * len(cm.entries)
    for cands in cm.index.values():
        for e in cands:
            entry[e[4]] = e
    name = Path(path).stem if path is not None else ""
    return ConnectionState(Problem(matrix, cm, entry, max_depth, inference_limit, name))
