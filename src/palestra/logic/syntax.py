"""First-order syntax shared by the TPTP reader, the clausifier and the provers.

These are the *exchange* types between modules: immutable, hashable and easy to read.
The connection prover compiles them into its own fast representation; nothing on a
hot path walks these objects.

    Term    ::= Var(name) | Fn(name, (Term, ...))      constants are Fn(name, ())
    Atom    ::= Fn(predicate, (Term, ...))             equality is the predicate "="
    Lit     ::= Lit(positive, Atom)
    Clause  ::= tuple[Lit, ...]                        variables are local to a clause
    Matrix  ::= list[Clause]                           in the prover's order

leanCoP's start marker is the 0-ary atom ``#`` (``START``): with the ``conj`` option the
conjecture clauses carry the literal ``#`` and the clause ``[-#]`` forces the start clause to
be one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["START", "Clause", "Fn", "Lit", "Matrix", "Term", "Var", "term_vars"]


@dataclass(frozen=True, slots=True)
class Var:
    """A variable, named; two variables are the same iff their names are."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Fn:
    """A function application, constant (no args) or atom (when used as a predicate)."""

    name: str
    args: tuple[Term, ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.name
        return f"{self.name}({','.join(map(str, self.args))})"


Term = Var | Fn


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal: an atom with a sign."""

    positive: bool
    atom: Fn

    def negate(self) -> Lit:
        return Lit(not self.positive, self.atom)

    def __str__(self) -> str:
        return str(self.atom) if self.positive else f"-{self.atom}"


Clause = tuple[Lit, ...]
Matrix = list[Clause]

START = Fn("#")


def term_vars(t: Term, acc: dict[str, Var] | None = None) -> dict[str, Var]:
    """Variables of ``t`` in first-occurrence order (a dict used as an ordered set)."""
    acc = {} if acc is None else acc
    stack = [t]
    while stack:
        s = stack.pop()
        if isinstance(s, Var):
            acc.setdefault(s.name, s)
        else:
            stack.extend(reversed(s.args))
    return acc
