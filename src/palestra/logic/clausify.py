"""leanCoP 2.1's clausal form: the matrix its prover searches, clause for clause.

leanCoP (Otten 2008, 2010; "leanCoP 2.0 and ileanCoP 1.2", IJCAR 2008; "Restricting
backtracking in connection calculi", AI Communications 2010) proves a formula *valid*. Its
matrix is in the **positive representation**: a clause is a conjunction, the matrix a
disjunction (DNF) of the formula itself, so an axiom ``p`` appears as the clause ``[-p]``
and a conjecture literal keeps its sign. Universally quantified variables of the formula
become Skolem terms, existential ones clause variables. This module reproduces the steps
of leanCoP 2.1 (``leancop_tptp2.pl`` v1.1 and ``def_mm.pl``) so that the clause order, the
literal order and the numbering match:

1. **Problem formula** (``leancop_tptp2``): the axioms (every role but ``conjecture``), in
   file order, as a right-nested conjunction ``A``; the first conjecture ``C``. The
   formula is ``A => C``, or ``C`` without axioms, or ``~A`` without a conjecture.
2. **Equality** (``leancop_equal``): if ``=`` occurs, with ``P`` the predicates and ``F``
   the function symbols of arity > 0 (collected in leanCoP's order: the last occurrence
   in a left-to-right walk decides), the formula becomes ``(E, A) => C`` (or ``E => ~A``)
   where ``E = ((refl, (sym, trans)), preds), funcs``: reflexivity, symmetry, transitivity,
   then ``all X1 Y1 ... Xn Yn: ((X1=Y1, ..., Xn=Yn), p(X) => p(Y))`` for every ``p``
   in ``P`` but ``=``, then ``all ...: ((X1=Y1, ...) => f(X) = f(Y))`` for every ``f``.
3. **Start marker** (option ``conj``): ``A => C`` becomes ``(A, #) => (#, C)``; the clauses of
   the conjecture then carry ``#`` and the clause ``[-#]`` appears.
4. **Normal form** (``def_nnf``): negation normal form and Skolemisation in one top-down
   pass, with a counter ``I`` starting at 1. ``all X: F`` takes the Skolem term
   ``I^FreeV`` (``FreeV``: the enclosing existential variables, innermost first) and
   increments ``I``. For ``A ; B`` and ``A , B`` the operand with more *paths* (``;``
   multiplies, ``,`` adds, a literal has 1) is put second. In **definitional** mode
   (``def``) a disjunction that is an operand of a conjunction is replaced by a new atom
   ``I^FreeV`` (``I`` taken after the operand is processed), and the definition clauses
   ``(~I^FreeV, D_k)`` for its disjuncts are put in front of the matrix; ``A <=> B``
   expands to ``(A => B), (B => A)`` there, and to ``(A , B) ; (~A , ~B)`` otherwise.
5. **Modes**: ``nodef`` puts the whole formula into NNF then DNF (distributing ``,`` over
   ``;``). leanCoP's default (neither ``def`` nor ``nodef``) does that for ``~A`` of
   ``A => C`` and the definitional form for ``C``, matrix ``C``-clauses first; ``def``
   takes the definitional form of the whole formula.
6. **Matrix** (``mat``): clauses from the DNF; inside a conjunction the literals of the
   left operand are pushed in front of those of the right one in reverse, duplicates
   (identical literals) are dropped and a clause with two complementary identical
   literals is dropped. Option ``reo(N)`` reorders clauses
   (:func:`palestra.logic.settings.mreorder`).

**Naming.** leanCoP's Skolem term ``^(N, [X1, ..., Xk])`` is ``Fn("^N", (X1, ..., Xk))``
here, and its definitional atom ``^(N, [X1, ..., Xk])`` the predicate ``"^N"`` with those
arguments; one counter numbers both, so a matrix of this module uses leanCoP's numbers.
``$true`` is leanCoP's ``true___ => true___`` and ``$false`` its
``false___ , ~ false___``. Clause variables are ``Var("X1")``, ``Var("X2")``, ... in
order of first occurrence in each clause.

**Known departures from leanCoP 2.1.** ``cnf`` formulas (which leanCoP 2.1 reads only
through an external converter) are taken as the universal closure of the clause, like an
axiom of any role; free variables of ``fof`` formulas are closed universally. Formulas
from included files are spliced flat into the axiom list (leanCoP nests each included
file's conjunction as one conjunct). A second conjecture is ignored, as in leanCoP.

Deep terms (Peano numerals thousands deep) and long chains of connectives need deep
recursion: the public functions raise the interpreter's recursion limit while they run (the
recursion is in Python frames, which take no C stack). What would still recurse in C is
guarded: a term nested deeper than ``MAX_TERM_DEPTH`` (the literal comparisons recurse in C
on it) is a :class:`ClausifyError`, and so is a formula so deep that the raised limit is hit
anyway; the TPTP reader's own nesting limit keeps what it reads well below both.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from palestra.core.errors import PalestraError
from palestra.logic.formula import (
    Atom,
    Binary,
    Bottom,
    Forall,
    Formula,
    Not,
    Quantifier,
    Top,
    free_vars,
)
from palestra.logic.settings import LeancopSettings, mreorder
from palestra.logic.syntax import Clause, Fn, Lit, Matrix, Term, Var
from palestra.logic.tptp import Problem

__all__ = [
    "MAX_TERM_DEPTH",
    "ClausifyError",
    "clausify",
    "clausify_settings",
    "make_matrix",
    "parse_settings",
]

# Deeper terms are refused: comparing two literals recurses in C, one level per level of
# their terms, and the C stack (8 MB) ends between 30,000 and 60,000 levels.
MAX_TERM_DEPTH = 20_000
_RECURSION_LIMIT = 200_000


class ClausifyError(PalestraError, ValueError):
    """A formula the clausifier cannot take: a term or a formula nested too deep."""


# Internal terms mirror Prolog terms: a variable is an int (identity = value), an
# application is a tuple ``(name, arg, ...)``. Formulas are tagged tuples:
#   ("atom", t) ("not", F) ("and", A, B) ("or", A, B) ("imp", A, B) ("equiv", A, B)
#   ("all", v, F) ("ex", v, F)
# A literal (in NNF) is ("atom", t) or ("not", ("atom", t)); a clause literal is
# (positive, t).
_T = Any
_F = tuple


@contextlib.contextmanager
def _deep_recursion(limit: int = _RECURSION_LIMIT) -> Iterator[None]:
    """Raise the recursion limit to ``limit`` while clausifying; running out of it anyway
    is a :class:`ClausifyError`, not a ``RecursionError``."""
    old = sys.getrecursionlimit()
    if old < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    except RecursionError:
        raise ClausifyError(
            f"formula nested too deeply to clausify (more than {limit} recursive steps)"
        ) from None
    finally:
        sys.setrecursionlimit(old)


class _Fresh:
    """A counter for fresh variables (ints)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


# ---------------------------------------------------------------- from the formula AST


def _term_in(t: Term, scope: dict[str, int], depth: int = 1) -> _T:
    if isinstance(t, Var):
        return scope[t.name]
    if not t.args:
        return (t.name,)
    if depth >= MAX_TERM_DEPTH:
        raise ClausifyError(f"term nested deeper than {MAX_TERM_DEPTH} levels in {t.name}(...)")
    return (t.name, *[_term_in(a, scope, depth + 1) for a in t.args])


# the internal tag of each connective and quantifier, by its ``op`` (the TPTP symbol)
_TAG = {"&": "and", "|": "or", "=>": "imp", "<=>": "equiv", "!": "all", "?": "ex"}


def _formula_in(f: Formula, scope: dict[str, int], fresh: _Fresh) -> _F:
    """The internal form, each quantifier binding a fresh variable (leanCoP's ``univar``)."""
    if isinstance(f, Atom):
        return ("atom", _term_in(f.atom, scope))
    if isinstance(f, Not):
        return ("not", _formula_in(f.arg, scope, fresh))
    if isinstance(f, Binary):
        left = _formula_in(f.left, scope, fresh)
        return (_TAG[f.op], left, _formula_in(f.right, scope, fresh))
    if isinstance(f, Quantifier):
        inner = dict(scope)
        vs = []
        for v in f.vars:
            inner[v.name] = fresh()
            vs.append(inner[v.name])
        body = _formula_in(f.body, inner, fresh)
        for v in reversed(vs):
            body = (_TAG[f.op], v, body)
        return body
    if isinstance(f, Top):
        t = ("atom", ("true___",))
        return ("imp", t, t)
    if isinstance(f, Bottom):
        t = ("atom", ("false___",))
        return ("and", t, ("not", t))
    raise TypeError(f"not a formula: {f!r}")


def _closed_in(f: Formula, fresh: _Fresh) -> _F:
    free = free_vars(f)
    if free:
        f = Forall(tuple(free), f)
    return _formula_in(f, {}, fresh)


def _problem_formula(problem: Problem, fresh: _Fresh) -> _F | None:
    """leanCoP's ``A => C`` (or ``C``, or ``~A``); ``None`` for an empty problem."""
    axioms: list[_F] = []
    conjecture: _F | None = None
    for af in problem.formulas:
        if af.role == "conjecture":
            if conjecture is None:
                conjecture = _closed_in(af.formula, fresh)
        else:
            axioms.append(_closed_in(af.formula, fresh))
    a: _F | None = None
    for ax in reversed(axioms):
        a = ax if a is None else ("and", ax, a)
    if conjecture is None:
        return None if a is None else ("not", a)
    return conjecture if a is None else ("imp", a, conjecture)


# ---------------------------------------------------------------- equality axioms


def _union1(l1: list[tuple[str, int]], l2: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """leanCoP's ``union1``: the elements of ``l1`` not in ``l2``, then ``l2``."""
    if not l1:
        return l2
    if not l2:
        return l1
    s2 = set(l2)
    return [h for h in l1 if h not in s2] + l2


def _collect_func(args: Iterable[_T]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for t in reversed(list(args)):  # right fold: union1(this, rest)
        if isinstance(t, tuple) and len(t) > 1:
            here = _union1([(t[0], len(t) - 1)], _collect_func(t[1:]))
        else:
            here = []
        out = _union1(here, out)
    return out


def _collect_predfunc(f: _F) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Predicates and functions (with arity > 0) in leanCoP's ``collect_predfunc`` order."""
    tag = f[0]
    if tag == "atom":
        t = f[1]
        if len(t) > 1:
            return [(t[0], len(t) - 1)], _collect_func(t[1:])
        return [], []
    if tag == "not":
        return _collect_predfunc(f[1])
    if tag == "all" or tag == "ex":
        return _collect_predfunc(f[2])
    p1, f1 = _collect_predfunc(f[1])
    p2, f2 = _collect_predfunc(f[2])
    return _union1(p1, p2), _union1(f1, f2)


def _eq(a: _T, b: _T) -> _F:
    return ("atom", ("=", a, b))


def _conj(fs: list[_F]) -> _F:
    """``(f1, (f2, (..., fn)))``, as Prolog reads ``(f1, f2, ..., fn)``."""
    out = fs[-1]
    for f in reversed(fs[:-1]):
        out = ("and", f, out)
    return out


def _subst_axiom(name: str, arity: int, fresh: _Fresh, predicate: bool) -> _F:
    xs = [fresh() for _ in range(arity)]
    ys = [fresh() for _ in range(arity)]
    hyp = _conj([_eq(x, y) for x, y in zip(xs, ys, strict=True)])
    px, py = (name, *xs), (name, *ys)
    if predicate:
        body: _F = ("imp", ("and", hyp, ("atom", px)), ("atom", py))
    else:
        body = ("imp", hyp, _eq(px, py))
    for x, y in reversed(list(zip(xs, ys, strict=True))):
        body = ("all", x, ("all", y, body))
    return body


def _with_equality(f: _F, fresh: _Fresh) -> _F:
    """leanCoP's ``leancop_equal``: add equality axioms if ``=``/2 occurs."""
    preds, funcs = _collect_predfunc(f)
    if ("=", 2) not in preds:
        return f
    x, y, z = fresh(), fresh(), fresh()
    refl = ("all", x, _eq(x, x))
    x, y = fresh(), fresh()
    sym = ("all", x, ("all", y, ("imp", _eq(x, y), _eq(y, x))))
    x, y, z = fresh(), fresh(), fresh()
    trans = ("imp", ("and", _eq(x, y), _eq(y, z)), _eq(x, z))
    trans = ("all", x, ("all", y, ("all", z, trans)))
    eqs = ("and", refl, ("and", sym, trans))
    pred_axioms = [_subst_axiom(p, n, fresh, True) for p, n in preds if (p, n) != ("=", 2)]
    if pred_axioms:
        eqs = ("and", eqs, _conj(pred_axioms))
    func_axioms = [_subst_axiom(g, n, fresh, False) for g, n in funcs]
    if func_axioms:
        eqs = ("and", eqs, _conj(func_axioms))
    if f[0] == "imp":
        return ("imp", ("and", eqs, f[1]), f[2])
    return ("imp", eqs, f)


# ---------------------------------------------------------------- def_nnf


def _copy_term(
    t: _T, v: int, sk: _T, keep: frozenset[int], ren: dict[int, int], fresh: _Fresh
) -> _T:
    if isinstance(t, int):
        if t == v:
            return sk
        if t in keep:
            return t
        r = ren.get(t)
        if r is None:
            r = ren[t] = fresh()
        return r
    if len(t) == 1:
        return t
    return (t[0], *[_copy_term(a, v, sk, keep, ren, fresh) for a in t[1:]])


def _copy_formula(
    f: _F, v: int, sk: _T, keep: frozenset[int], ren: dict[int, int], fresh: _Fresh
) -> _F:
    """Prolog's ``copy_term((X, F, FreeV), (Sk, F1, FreeV))``: ``X`` becomes ``Sk``, the
    variables of ``FreeV`` stay, every other variable is renamed apart."""
    tag = f[0]
    if tag == "atom":
        return ("atom", _copy_term(f[1], v, sk, keep, ren, fresh))
    if tag == "not":
        return ("not", _copy_formula(f[1], v, sk, keep, ren, fresh))
    if tag == "all" or tag == "ex":
        w = _copy_term(f[1], v, sk, keep, ren, fresh)
        return (tag, w, _copy_formula(f[2], v, sk, keep, ren, fresh))
    return (
        tag,
        _copy_formula(f[1], v, sk, keep, ren, fresh),
        _copy_formula(f[2], v, sk, keep, ren, fresh),
    )


class _Def:
    """leanCoP's ``def/8``: NNF + Skolemisation (+ definitions in ``def`` mode)."""

    def __init__(self, counter: int, definitional: bool, fresh: _Fresh) -> None:
        self.n = counter
        self.definitional = definitional
        self.fresh = fresh

    def run(self, f: _F, freev: tuple[int, ...]) -> tuple[_F, list[_F], int]:
        """``(NNF, definitions, paths)`` of ``f`` under the existential variables ``freev``."""
        while True:  # the rewrite rules, until f is ex/all/;/, or a literal
            tag = f[0]
            if tag == "not":
                g = f[1]
                gt = g[0]
                if gt == "not":
                    f = g[1]
                elif gt == "all":
                    f = ("ex", g[1], ("not", g[2]))
                elif gt == "ex":
                    f = ("all", g[1], ("not", g[2]))
                elif gt == "or":
                    f = ("and", ("not", g[1]), ("not", g[2]))
                elif gt == "and":
                    f = ("or", ("not", g[1]), ("not", g[2]))
                elif gt == "imp":
                    f = ("and", g[1], ("not", g[2]))
                elif gt == "equiv":
                    a, b = g[1], g[2]
                    f = ("or", ("and", a, ("not", b)), ("and", ("not", a), b))
                else:
                    return f, [], 1
            elif tag == "imp":
                f = ("or", ("not", f[1]), f[2])
            elif tag == "equiv":
                a, b = f[1], f[2]
                if self.definitional:
                    f = ("and", ("imp", a, b), ("imp", b, a))
                else:
                    f = ("or", ("and", a, b), ("and", ("not", a), ("not", b)))
            else:
                break
        if tag == "ex":
            return self.run(f[2], (f[1], *freev))
        if tag == "all":
            sk = (f"^{self.n}", *freev)
            self.n += 1
            body = _copy_formula(f[2], f[1], sk, frozenset(freev), {}, self.fresh)
            return self.run(body, freev)
        if tag == "or":
            nnf1, defs1, p1 = self.run(f[1], freev)
            nnf2, defs2, p2 = self.run(f[2], freev)
            nnf = ("or", nnf2, nnf1) if p1 > p2 else ("or", nnf1, nnf2)
            return nnf, defs1 + defs2, p1 * p2
        if tag == "and":
            nnf1, defs1, p1 = self.conjunct(f[1], freev)
            nnf2, defs2, p2 = self.conjunct(f[2], freev)
            nnf = ("and", nnf2, nnf1) if p1 > p2 else ("and", nnf1, nnf2)
            return nnf, defs1 + defs2, p1 + p2
        return f, [], 1  # an atom

    def conjunct(self, f: _F, freev: tuple[int, ...]) -> tuple[_F, list[_F], int]:
        """:meth:`run` on an operand of a conjunction; in ``def`` mode a disjunction there
        becomes the new atom ``I^FreeV``, its definition ``(~I^FreeV, D)`` put in front."""
        nnf, defs, paths = self.run(f, freev)
        if self.definitional and nnf[0] == "or":
            atom = ("atom", (f"^{self.n}", *freev))
            self.n += 1
            defs = [("and", ("not", atom), nnf), *defs]
            nnf = atom
        return nnf, defs, paths


def _def_nnf(f: _F, counter: int, definitional: bool, fresh: _Fresh) -> tuple[_F, int]:
    """leanCoP's ``def_nnf``: the NNF with the definitions disjoined in front; and the
    counter after it. A definition ``(A, (B ; C))`` is split into ``(A, B)`` and ``(A, C)``;
    each (split) definition ``D`` makes the formula ``D ; F``, so the last comes first."""
    d = _Def(counter, definitional, fresh)
    nnf, defs, _ = d.run(f, ())
    out = nnf
    todo = list(reversed(defs))  # a stack, next definition on top
    while todo:
        df = todo.pop()
        body = df[2]
        if body[0] == "or":
            todo.append(("and", df[1], body[2]))
            todo.append(("and", df[1], body[1]))
        else:
            out = ("or", df, out)
    return out, d.n


def _dnf(f: _F) -> _F:
    """leanCoP's ``dnf``: distribute ``,`` over ``;`` (the first matching rule wins)."""
    tag = f[0]
    if tag == "and":
        a, c = f[1], f[2]
        if a[0] == "or":
            return ("or", _dnf(("and", a[1], c)), _dnf(("and", a[2], c)))
        if c[0] == "or":
            return ("or", _dnf(("and", a, c[1])), _dnf(("and", a, c[2])))
        a1, b1 = _dnf(a), _dnf(c)
        if a1[0] == "or" or b1[0] == "or":
            return _dnf(("and", a1, b1))
        return ("and", a1, b1)
    if tag == "or":
        return ("or", _dnf(f[1]), _dnf(f[2]))
    return f


def _union2(ca: list[tuple[bool, _T]], cb: list[tuple[bool, _T]]) -> list[list[tuple[bool, _T]]]:
    """leanCoP's ``union2``: each literal of ``ca`` in turn is pushed in front of ``cb``
    unless already there; a complementary pair drops the clause."""
    l2 = list(cb)
    front: list[tuple[bool, _T]] = []  # pushed literals, in push order
    for x in ca:
        if x in l2 or x in front:
            continue
        if (not x[0], x[1]) in l2 or (not x[0], x[1]) in front:
            return []
        front.append(x)
    front.reverse()
    return [front + l2]


def _mat(f: _F) -> list[list[tuple[bool, _T]]]:
    tag = f[0]
    if tag == "or":
        return _mat(f[1]) + _mat(f[2])
    if tag == "and":
        ma, mb = _mat(f[1]), _mat(f[2])
        if len(ma) == 1 and len(mb) == 1:
            return _union2(ma[0], mb[0])
        return []
    if tag == "not":
        return [[(False, f[1][1])]]
    return [[(True, f[1])]]


_START = ("atom", ("#",))


def _make_matrix(f: _F, definitional: bool | None, conj: bool, fresh: _Fresh) -> _F:
    """leanCoP's ``make_matrix`` up to (not including) ``mat``: the DNF."""
    if conj and f[0] == "imp":
        f = ("imp", ("and", f[1], _START), ("and", _START, f[2]))
    if definitional is False:
        nnf, _ = _def_nnf(f, 1, False, fresh)
        return _dnf(nnf)
    if definitional is None and f[0] == "imp":
        nnf1, counter = _def_nnf(("not", f[1]), 1, False, fresh)
        dnf1 = _dnf(nnf1)
        dnf2, _ = _def_nnf(f[2], counter, True, fresh)
        return ("or", dnf2, dnf1)
    dnf, _ = _def_nnf(f, 1, True, fresh)
    return dnf


# ---------------------------------------------------------------- back to shared types


def _term_out(t: _T, names: dict[int, Var]) -> Term:
    """The shared ``Term`` of an internal term; variables named ``X1, X2, ...`` in order of
    first occurrence (left to right). Bottom-up with an explicit stack: the generator a
    recursive version would use recurses in C, and overflows the C stack on deep terms."""
    out: list[Term] = []
    stack: list[tuple[_T, bool]] = [(t, False)]
    while stack:
        s, built = stack.pop()
        if isinstance(s, int):
            v = names.get(s)
            if v is None:
                v = names[s] = Var(f"X{len(names) + 1}")
            out.append(v)
        elif len(s) == 1:
            out.append(Fn(s[0]))
        elif built:
            n = len(s) - 1
            args = tuple(out[len(out) - n :])
            del out[len(out) - n :]
            out.append(Fn(s[0], args))
        else:
            stack.append((s, True))
            stack.extend((a, False) for a in reversed(s[1:]))
    return out[0]


def _matrix_out(m: list[list[tuple[bool, _T]]]) -> Matrix:
    out: Matrix = []
    for clause in m:
        names: dict[int, Var] = {}
        c: Clause = tuple(Lit(pos, _term_out(t, names)) for pos, t in clause)  # type: ignore[arg-type]
        out.append(c)
    return out


# ---------------------------------------------------------------- public API


def make_matrix(
    formula: Formula, *, definitional: bool | None = None, conj: bool = False, reorder: int = 0
) -> Matrix:
    """leanCoP's ``make_matrix`` of one formula (to be proved valid), no equality axioms.

    ``definitional``: ``False`` is leanCoP's ``nodef``, ``True`` its ``def``, ``None`` its
    default (definitional for the conclusion of a top-level ``=>`` only). Free variables
    are closed universally.
    """
    with _deep_recursion():
        fresh = _Fresh()
        f = _closed_in(formula, fresh)
        m = _mat(_make_matrix(f, definitional, conj, fresh))
        return _matrix_out(mreorder(m, reorder))


def clausify(
    problem: Problem,
    *,
    definitional: bool | None = None,
    conj: bool = False,
    reorder: int = 0,
    equality: bool = True,
) -> Matrix:
    """The matrix leanCoP 2.1 builds for ``problem`` (see the module docstring).

    ``definitional``: ``False`` = ``nodef``, ``True`` = ``def``, ``None`` = leanCoP's default
    (axioms non-definitional, conjecture definitional). ``conj`` marks the conjecture
    clauses with ``#`` (``START``); ``reorder`` is ``reo(N)``; ``equality=False`` leaves out
    the equality axioms.
    """
    with _deep_recursion():
        fresh = _Fresh()
        f = _problem_formula(problem, fresh)
        if f is None:
            return []
        if equality:
            f = _with_equality(f, fresh)
        m = _mat(_make_matrix(f, definitional, conj, fresh))
        return _matrix_out(mreorder(m, reorder))


def parse_settings(settings: str | Iterable[str]) -> dict[str, Any]:
    """The clausifier's part of a leanCoP option list (``"[cut,comp(7)]"`` or
    ``["conj", "nodef"]``, read by :meth:`LeancopSettings.parse`) as keyword arguments of
    :func:`clausify`; the options of the search itself (``cut``, ``scut``, ``comp(N)``) are
    checked and left out."""
    s = LeancopSettings.parse(settings)
    return {"definitional": s.definitional, "conj": s.conj, "reorder": s.reo or 0}


def clausify_settings(problem: Problem, settings: str | Iterable[str]) -> Matrix:
    """:func:`clausify` under a leanCoP option list, e.g. ``"[cut,comp(7)]"``."""
    return clausify(problem, **parse_settings(settings))
