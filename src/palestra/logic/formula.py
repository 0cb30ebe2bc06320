"""First-order formulas as read from TPTP, before clausification.

Small immutable nodes; terms and atoms are the shared :mod:`palestra.logic.syntax` types
(an atom is an ``Fn`` whose name is the predicate, equality is the predicate ``"="``).

    Formula ::= Atom(Fn) | Top() | Bottom()
              | Not(F) | And(F, F) | Or(F, F) | Imp(F, F) | Equiv(F, F)
              | Forall((Var, ...), F) | Exists((Var, ...), F)

``And``/``Or`` are binary, exactly as written: the reader nests an unparenthesised chain
``a & b & c`` to the right, ``a & (b & c)``, as leanCoP's Prolog reader does (its
clausal form depends on that shape). The TPTP connectives without a node here are read
the way leanCoP reads them: ``a <= b`` is ``Imp(b, a)``, ``a <~> b`` is
``Not(Equiv(a, b))``, ``a ~| b`` is ``Not(Or(a, b))``, ``a ~& b`` is ``Not(And(a, b))``
and ``s != t`` is ``Not(Atom(s = t))``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from palestra.logic.syntax import Fn, Term, Var

__all__ = [
    "And",
    "Atom",
    "Binary",
    "Bottom",
    "Equiv",
    "Exists",
    "Forall",
    "Formula",
    "Imp",
    "Not",
    "Or",
    "Quantifier",
    "Top",
    "free_vars",
    "subformulas",
]


@dataclass(frozen=True, slots=True)
class Atom:
    """An atomic formula ``p(t1, ..., tn)``; ``s = t`` is ``Atom(Fn("=", (s, t)))``."""

    atom: Fn

    def __str__(self) -> str:
        a = self.atom
        if a.name == "=" and len(a.args) == 2:
            return f"{a.args[0]} = {a.args[1]}"
        return str(a)


@dataclass(frozen=True, slots=True)
class Top:
    """``$true``."""

    def __str__(self) -> str:
        return "$true"


@dataclass(frozen=True, slots=True)
class Bottom:
    """``$false``."""

    def __str__(self) -> str:
        return "$false"


@dataclass(frozen=True, slots=True)
class Not:
    arg: Formula

    def __str__(self) -> str:
        return f"~ {_paren(self.arg)}"


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary connective ``left op right``; the four below differ only in ``op``."""

    left: Formula
    right: Formula
    op: ClassVar[str]

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True, slots=True)
class And(Binary):
    op = "&"


@dataclass(frozen=True, slots=True)
class Or(Binary):
    op = "|"


@dataclass(frozen=True, slots=True)
class Imp(Binary):
    """``left => right``."""

    op = "=>"


@dataclass(frozen=True, slots=True)
class Equiv(Binary):
    op = "<=>"


@dataclass(frozen=True, slots=True)
class Quantifier:
    """``op [vars] : body``; ``Forall`` (``!``) and ``Exists`` (``?``) differ only in ``op``."""

    vars: tuple[Var, ...]
    body: Formula
    op: ClassVar[str]

    def __str__(self) -> str:
        return f"{self.op} [{', '.join(v.name for v in self.vars)}] : {_paren(self.body)}"


@dataclass(frozen=True, slots=True)
class Forall(Quantifier):
    op = "!"


@dataclass(frozen=True, slots=True)
class Exists(Quantifier):
    op = "?"


Formula = Atom | Top | Bottom | Not | And | Or | Imp | Equiv | Forall | Exists


def _paren(f: Formula) -> str:
    s = str(f)
    return f"({s})" if isinstance(f, Atom) and f.atom.name == "=" else s


def subformulas(f: Formula) -> Iterator[Formula]:
    """All subformulas of ``f`` (``f`` first), depth first, left to right."""
    stack = [f]
    while stack:
        g = stack.pop()
        yield g
        if isinstance(g, Not):
            stack.append(g.arg)
        elif isinstance(g, Binary):
            stack.append(g.right)
            stack.append(g.left)
        elif isinstance(g, Quantifier):
            stack.append(g.body)


def _term_var_names(t: Term, acc: dict[str, None], bound: frozenset[str]) -> None:
    stack = [t]
    while stack:
        s = stack.pop()
        if isinstance(s, Var):
            if s.name not in bound:
                acc.setdefault(s.name, None)
        else:
            stack.extend(reversed(s.args))


def free_vars(f: Formula) -> list[Var]:
    """Free variables of ``f`` in first-occurrence order (left to right); an explicit stack,
    since a chain ``a | b | c ...`` nests as deep as it is long."""
    acc: dict[str, None] = {}
    stack: list[tuple[Formula, frozenset[str]]] = [(f, frozenset())]
    while stack:
        g, bound = stack.pop()
        if isinstance(g, Atom):
            _term_var_names(g.atom, acc, bound)
        elif isinstance(g, Not):
            stack.append((g.arg, bound))
        elif isinstance(g, Binary):
            stack.append((g.right, bound))
            stack.append((g.left, bound))
        elif isinstance(g, Quantifier):
            stack.append((g.body, bound | {v.name for v in g.vars}))
    return [Var(n) for n in acc]
