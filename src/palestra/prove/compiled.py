"""What every search core of the connection prover shares: the compiled matrix and its kernels.

``prove()`` (:mod:`palestra.prove.calculus`) compiles a matrix once and hands it to a search
*core*: the pure-Python reference ``calculus.python_core`` or the C core
``palestra.prove.ccore.CCore``. The rlCoP world (:mod:`palestra.prove.world`) searches the
same compiled matrix step by step. This module is the contract between them:

- ``Options`` (leanCoP's search settings), ``CoreResult`` (what a core returns) and the
  ``ProverCore`` protocol;
- the compiled matrix (``compile_matrix``) with leanCoP's literal index;
- the kernels on compiled terms under bindings: ``unify``, ``identical`` (Prolog's ``==``),
  ``occurs``;
- reading an answer back into the exchange types: ``decode`` (the one decoder of compiled
  terms), ``substitution`` and ``build_proof``.

Representation (the hot loops avoid the exchange types of ``palestra.logic.syntax``): a term
is an ``int`` (a variable, local to its clause) or a tuple ``(functor id, arg, ...)``; ground
subterms are interned ``_Ground`` tuples, so two ground terms are equal iff identical. A
literal is ``(2 * predicate id + negative, arg, ...)``, so complementing flips the low bit.
Clause copies share structure: an instance is the clause template plus an offset into the
binding array, ``bind[offset + var]`` being ``(term, offset)`` or ``None``; every binding is
pushed on a trail so it can be undone. A core's proof is a list of steps ``(rule, ref,
offset)`` in proof order (rules ``EXT``, ``RED``, ``LEM``; see ``CoreResult``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from palestra.core.errors import PalestraError
from palestra.logic.settings import LeancopSettings, mreorder
from palestra.logic.syntax import START, Fn, Lit, Matrix, Term, Var
from palestra.prove.proof import ConnectionProof, ProofStep

__all__ = [
    "EXT",
    "LEM",
    "RED",
    "CompiledMatrix",
    "CoreResult",
    "Options",
    "ProverCore",
    "Status",
    "build_proof",
    "compile_matrix",
    "decode",
    "identical",
    "instance_var",
    "occurs",
    "substitution",
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


EXT, RED, LEM = 0, 1, 2  # the rule of a core's proof step


@dataclass(frozen=True, slots=True)
class CoreResult:
    """What a core returns: status, count, and on success the proof steps in proof order.

    ``steps``: ``(rule, ref, offset)`` with rule ``EXT`` (``ref`` an entry id, ``offset``
    where the clause copy's variables start in the binding array), ``RED`` (``ref`` the path
    position) or ``LEM`` (``ref`` the earlier step id); ``substitution`` maps instance
    variable names (see ``instance_var``) to their values.
    """

    status: Status
    inferences: int
    path_limit: int
    steps: list[tuple[int, int, int]] | None = None
    substitution: dict[str, Term] | None = None


class ProverCore(Protocol):
    """A search core: same matrix, same options, same counts as leanCoP 2.1."""

    def __call__(self, cm: CompiledMatrix, options: Options) -> CoreResult: ...


# ----------------------------------------------------------------------------------------
# the compiled matrix


class _Ground(tuple):
    """A ground compound term, interned: two ground terms are equal iff identical."""

    __slots__ = ()


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


def has_start_marker(matrix: Matrix) -> bool:
    """Whether ``matrix`` holds leanCoP's ``[-#]`` (clausified with ``conj`` from a problem
    with both axioms and a conjecture)."""
    return any(c == (Lit(False, START),) for c in matrix)


def compile_matrix(matrix: Matrix, reo: int | None = None) -> CompiledMatrix:
    """Compile ``matrix`` (optionally reordered by ``reo``) and build leanCoP's literal index."""
    cm = CompiledMatrix()
    start_lit = Lit(True, START)
    cm.conj = has_start_marker(matrix)
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


def instance_var(cm: CompiledMatrix, clause: int, var: int, step: int) -> str:
    """The name of variable ``var`` of clause ``clause`` in the copy made at step ``step``."""
    return f"{cm.var_names[clause][var]}_{step}"


# ----------------------------------------------------------------------------------------
# unification and identity under bindings


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
    """Prolog's ``==`` on the arguments of two terms with the same functor.

    The walk of :func:`unify` with one rule changed: a variable is ``==`` only to itself
    (the same unbound slot), and nothing is bound. It is written out again rather than shared
    with ``unify`` through a mode flag: both are the innermost loops of the reference core.
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


# ----------------------------------------------------------------------------------------
# reading an answer back: compiled terms as exchange types


def decode(
    cm: CompiledMatrix,
    t: Any,
    o: int,
    leaf: Callable[[int], Any],
    node: Callable[[str, list[Any]], Any],
    bind: list | None = None,
) -> Any:
    """The compiled term ``t`` at offset ``o``, rebuilt bottom-up without recursion
    (numerals nest thousands deep).

    An application becomes ``node(functor name, decoded args)``; a variable becomes
    ``leaf(slot)``, its slot being ``offset + var`` in the binding array. With ``bind`` the
    bindings are followed first, so only unbound variables are leaves; without it ``t`` is
    read as written in its clause.
    """
    functions = cm.functions
    out: list[Any] = []
    stack: list[tuple[Any, int, bool]] = [(t, o, False)]
    while stack:
        t, o, built = stack.pop()
        if bind is not None:
            while type(t) is int:
                x = bind[t + o]
                if x is None:
                    break
                t, o = x
        if type(t) is int:
            out.append(leaf(t + o))
        elif built:
            n = len(t) - 1
            args = out[len(out) - n :] if n else []
            del out[len(out) - n :]
            out.append(node(functions[t[0]][0], args))
        else:
            stack.append((t, o, True))
            stack.extend((a, o, False) for a in reversed(t[1:]))
    return out[0]


def _fn(name: str, args: list[Term]) -> Fn:
    return Fn(name, tuple(args))


def substitution(
    cm: CompiledMatrix, steps: list[tuple[int, int, int]], bind: list
) -> dict[str, Term]:
    """The final value of every instance variable of a proof's clause copies (those bound).

    ``steps`` are a core's proof steps, ``bind`` its binding array when the proof closed;
    the variables of the copy made at step ``s`` are named by ``instance_var``.
    """
    names: dict[int, Var] = {}  # slot -> instance variable
    for s, (rule, ref, off) in enumerate(steps):
        if rule == EXT:
            c = cm.entries[ref][0]
            for k in range(cm.nvars[c]):
                names[off + k] = Var(instance_var(cm, c, k, s))
    sub: dict[str, Term] = {}
    for g, var in names.items():
        value = decode(cm, g, 0, names.__getitem__, _fn, bind)
        if value is not var:
            sub[var.name] = value
    return sub


def build_proof(
    cm: CompiledMatrix, steps: list[tuple[int, int, int]], sub: dict[str, Term]
) -> ConnectionProof:
    """Turn a core's steps (in proof order) into the tree of ``ProofStep``."""

    def instance_lit(x: tuple, c: int, s: int) -> Lit:
        def var(k: int) -> Var:
            return Var(instance_var(cm, c, k, s))

        name = cm.predicates[x[0] >> 1][0]
        return Lit(not x[0] & 1, Fn(name, tuple(decode(cm, a, 0, var, _fn) for a in x[1:])))

    it = iter(enumerate(steps))

    def build(goal: Lit) -> ProofStep:
        s, (rule, ref, _off) = next(it)
        if rule == RED:
            return ProofStep(s, "reduction", goal, ancestor=ref)
        if rule == LEM:
            return ProofStep(s, "lemma", goal, lemma=ref)
        c, i = cm.entries[ref]
        instance = tuple(instance_lit(x, c, s) for x in cm.clauses[c])
        children = tuple(build(x) for k, x in enumerate(instance) if k != i)
        return ProofStep(s, "extension", goal, cm.source[c], i, instance, children=children)

    return ConnectionProof(build(Lit(False, START)), sub)
