"""Connection proofs: the data a prover hands to the independent checker.

A connection proof of a matrix M (leanCoP's positive representation: a clause is a
conjunction, the matrix their disjunction) is a closed connection tableau. leanCoP starts it
from the goal ``-#`` (``#`` is the start marker): the first step extends ``-#`` into a start
clause that contains ``#`` — a conjecture clause when the matrix carries markers (``conj``),
or any clause without negative literals, with ``#`` put in front of it, when it does not.

Each step closes one open literal (its ``goal``) by one of the three rules of the connection
calculus (Otten, "leanCoP 2.0 and ileanCoP 1.2", IJCAR 2008):

- ``extension``: a fresh copy (``instance``) of matrix clause ``clause`` is attached, its
  literal ``connected`` being complementary to the goal under the substitution; the other
  literals of the copy become the step's ``children``, in clause order, with the goal added
  to their path;
- ``reduction``: the goal is complementary to the literal at position ``ancestor`` of its
  path (0 is the root goal ``-#``, then the goals of the extension steps above it);
- ``lemma``: the goal equals (after substitution) the goal of step ``lemma``, an earlier
  step that closed a left sibling of the goal or of one of its ancestors.

One substitution, applied once to every literal, holds for the whole proof; variables of an
instance are the clause's variables renamed ``{name}_{step id}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from palestra.logic.syntax import Clause, Fn, Lit, Term, Var

__all__ = [
    "ConnectionProof",
    "ProofStep",
    "Rule",
    "apply",
    "apply_term",
    "fold_term",
    "format_lit",
    "format_term",
    "lit_from_json",
    "lit_to_json",
    "term_from_json",
    "term_to_json",
]

Rule = Literal["extension", "reduction", "lemma"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProofStep:
    """One closed goal of the tableau; ids number the steps in depth-first (proof) order."""

    id: int
    rule: Rule
    goal: Lit  # the open literal, as written in its clause instance (before substitution)
    clause: int | None = None  # extension: index of the matrix clause
    connected: int | None = None  # extension: position in `instance` of the literal connected
    instance: Clause | None = None  # extension: the renamed clause ("#" first when implicit)
    ancestor: int | None = None  # reduction: position on the path, 0 = root goal -#
    lemma: int | None = None  # lemma: id of the earlier step that closed an equal goal
    children: tuple[ProofStep, ...] = ()  # extension: one per other literal of `instance`

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form of this step and all below it (top-down, without recursion:
        a proof can be thousands of steps deep)."""
        root: dict[str, Any] = {}
        todo: list[tuple[ProofStep, dict[str, Any]]] = [(self, root)]
        while todo:
            step, d = todo.pop()
            d.update(id=step.id, rule=step.rule, goal=lit_to_json(step.goal))
            if step.rule == "extension":
                assert step.instance is not None
                d["clause"] = step.clause
                d["connected"] = step.connected
                d["instance"] = [lit_to_json(lit) for lit in step.instance]
                children: list[dict[str, Any]] = [{} for _ in step.children]
                d["children"] = children
                todo.extend(zip(step.children, children, strict=True))
            elif step.rule == "reduction":
                d["ancestor"] = step.ancestor
            else:
                d["lemma"] = step.lemma
        return root

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ProofStep:
        """The inverse of :meth:`to_dict` (bottom-up, without recursion)."""
        out: list[ProofStep] = []
        todo: list[tuple[dict[str, Any], bool]] = [(d, False)]
        while todo:
            node, built = todo.pop()
            kids = node.get("children", ())
            if not built:
                todo.append((node, True))
                todo.extend((c, False) for c in reversed(kids))
                continue
            children = tuple(out[len(out) - len(kids) :]) if kids else ()
            del out[len(out) - len(children) :]
            instance = node.get("instance")
            out.append(
                ProofStep(
                    id=node["id"],
                    rule=node["rule"],
                    goal=lit_from_json(node["goal"]),
                    clause=node.get("clause"),
                    connected=node.get("connected"),
                    instance=None if instance is None else tuple(map(lit_from_json, instance)),
                    ancestor=node.get("ancestor"),
                    lemma=node.get("lemma"),
                    children=children,
                )
            )
        return out[0]

    def walk(self) -> list[ProofStep]:
        """This step and all below it, in proof (depth-first, left-to-right) order."""
        out: list[ProofStep] = []
        stack = [self]
        while stack:
            s = stack.pop()
            out.append(s)
            stack.extend(reversed(s.children))
        return out


@dataclass(frozen=True, slots=True)
class ConnectionProof:
    """A closed connection tableau: the start step (extension of ``-#``) and the substitution."""

    start: ProofStep
    substitution: dict[str, Term] = field(default_factory=dict)

    def steps(self) -> list[ProofStep]:
        return self.start.walk()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form; terms as in the golden matrices, variables as ``{"v": name}``."""
        return {
            "start": self.start.to_dict(),
            "substitution": {k: term_to_json(v) for k, v in self.substitution.items()},
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ConnectionProof:
        return ConnectionProof(
            start=ProofStep.from_dict(d["start"]),
            substitution={k: term_from_json(v) for k, v in d["substitution"].items()},
        )

    def __str__(self) -> str:
        """Readable text: one line per step, indented by depth, literals after substitution."""
        sub = self.substitution
        lines = [f"connection proof, {len(self.steps())} steps"]
        todo: list[tuple[ProofStep, int]] = [(self.start, 0)]  # depth first, no recursion
        while todo:
            step, depth = todo.pop()
            pad = "  " * depth
            goal = format_lit(apply(step.goal, sub))
            if step.rule == "extension":
                assert step.instance is not None and step.connected is not None
                inst = ", ".join(format_lit(apply(lit, sub)) for lit in step.instance)
                lines.append(
                    f"{pad}[{step.id}] {goal}  extension: clause {step.clause} [{inst}]"
                    f" at literal {step.connected}"
                )
                todo.extend((child, depth + 1) for child in reversed(step.children))
            elif step.rule == "reduction":
                lines.append(f"{pad}[{step.id}] {goal}  reduction: path literal {step.ancestor}")
            else:
                lines.append(f"{pad}[{step.id}] {goal}  lemma: as step {step.lemma}")
        if sub:
            lines.append("substitution:")
            lines.extend(f"  {k} := {format_term(v)}" for k, v in sorted(sub.items()))
        return "\n".join(lines)


def fold_term(t: Term, leaf: Callable[[Var], T], node: Callable[[Fn, list[T]], T]) -> T:
    """Bottom-up fold over ``t`` without recursion (numerals nest hundreds deep)."""
    out: list[T] = []
    stack: list[tuple[Term, bool]] = [(t, False)]
    while stack:
        s, built = stack.pop()
        if isinstance(s, Var):
            out.append(leaf(s))
        elif built:
            n = len(s.args)
            args = out[len(out) - n :]
            del out[len(out) - n :]
            out.append(node(s, args))
        else:
            stack.append((s, True))
            stack.extend((a, False) for a in reversed(s.args))
    return out[0]


def apply(x: Lit, sub: dict[str, Term]) -> Lit:
    """``x`` with every variable replaced once by its value in ``sub`` (absent: unchanged)."""
    return Lit(x.positive, apply_term(x.atom, sub))  # type: ignore[arg-type]


def apply_term(t: Term, sub: dict[str, Term]) -> Term:
    return fold_term(
        t, lambda v: sub.get(v.name, v), lambda f, args: Fn(f.name, tuple(args)) if args else f
    )


def format_term(t: Term) -> str:
    """``str(t)`` without recursion."""
    return fold_term(
        t, lambda v: v.name, lambda f, args: f"{f.name}({','.join(args)})" if args else f.name
    )


def format_lit(x: Lit) -> str:
    return format_term(x.atom) if x.positive else f"-{format_term(x.atom)}"


def term_to_json(t: Term) -> Any:
    return fold_term(t, lambda v: {"v": v.name}, lambda f, args: [f.name, *args])


def term_from_json(obj: Any) -> Term:
    out: list[Term] = []
    stack: list[tuple[Any, bool]] = [(obj, False)]
    while stack:
        o, built = stack.pop()
        if isinstance(o, dict):
            out.append(Var(str(o["v"])))
        elif built:
            n = len(o) - 1
            args = tuple(out[len(out) - n :]) if n else ()
            del out[len(out) - n :]
            out.append(Fn(o[0], args))
        else:
            stack.append((o, True))
            stack.extend((a, False) for a in reversed(o[1:]))
    return out[0]


def lit_to_json(x: Lit) -> Any:
    atom = term_to_json(x.atom)
    return atom if x.positive else ["-", atom]


def lit_from_json(obj: Any) -> Lit:
    if isinstance(obj, list) and len(obj) == 2 and obj[0] == "-":
        return Lit(False, term_from_json(obj[1]))  # type: ignore[arg-type]
    return Lit(True, term_from_json(obj))  # type: ignore[arg-type]
