"""An independent checker of connection proofs (it shares only the data types with the prover).

``check(matrix, proof)`` replays a ``ConnectionProof`` against the matrix and returns a
:class:`~palestra.core.verdict.Verdict` that accepts it only if it is a closed connection
tableau:

1. the root goal is ``-#`` and the start step extends it into a clause whose connected
   literal is ``#``: a clause carrying ``#`` (a conjecture clause) or, when the matrix holds
   no clause ``[-#]``, a clause without negative literals with ``#`` put in front of it;
2. every extension's ``instance`` is a variant (a one-to-one renaming of variables) of matrix
   clause ``clause`` (with ``#`` in front where case 1 allows), and no variable occurs in
   two instances;
3. every extension's ``connected`` literal, and every reduction's path literal ``ancestor``,
   is complementary to the goal: same atom after the substitution, opposite sign;
4. every literal of every instance other than the connected one has exactly one child step
   whose goal is that literal, in clause order: no branch is left open;
5. every lemma step names an earlier step that closed a left sibling of the lemma's goal or
   of one of its ancestors, and whose goal equals this goal after the substitution;
6. step ids are unique.

The substitution is applied once to each literal (a non-idempotent substitution is still a
substitution, so soundness does not need more). Terms are compared as flat token tuples, so
deeply nested terms do not hit Python's recursion limit.

What it does not protect against: a wrong matrix (the clausification, the equality axioms and
the conjecture markers are trusted: a proof of the wrong matrix is checked as valid); the
prover's search restrictions (regularity, the path limit, the order of search and the
inference count are not replayed, since soundness does not depend on them); resource use
(a huge proof is checked in time and memory linear in its size, with no limit); and the
reading of the matrix: it checks leanCoP's positive representation (a proof shows the
disjunction of the clauses, read as conjunctions, valid), so a matrix built for the
other reading must not be passed here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from palestra.core.verdict import Verdict
from palestra.logic.syntax import START, Lit, Matrix, Term, Var
from palestra.prove.proof import ConnectionProof, ProofStep

__all__ = ["TableauEvidence", "check"]

_Flat = tuple[bool, tuple[tuple[str, str | int], ...]]  # (sign, prefix tokens)


@dataclass(frozen=True, slots=True)
class TableauEvidence:
    """What an accepted proof was checked to be: its steps, counted by rule."""

    steps: int
    extensions: int
    reductions: int
    lemmas: int


def _flat(lit: Lit, sub: dict[str, Term] | None = None) -> _Flat:
    """``lit`` as (sign, prefix token tuple), with ``sub`` applied once when given."""
    tokens: list[tuple[str, str | int]] = []
    stack: list[tuple[Term, bool]] = [(lit.atom, sub is not None)]
    while stack:
        t, substitute = stack.pop()
        if isinstance(t, Var):
            if substitute and sub is not None and t.name in sub:
                stack.append((sub[t.name], False))
            else:
                tokens.append(("v", t.name))
        else:
            tokens.append(("f", t.name))
            tokens.append(("n", len(t.args)))
            stack.extend((a, substitute) for a in reversed(t.args))
    return lit.positive, tuple(tokens)


def _variant(instance: Lit, original: Lit, ren: dict[str, str], back: dict[str, str]) -> bool:
    """Whether ``instance`` is ``original`` under a one-to-one renaming extending ``ren``."""
    if instance.positive != original.positive:
        return False
    stack: list[tuple[Term, Term]] = [(instance.atom, original.atom)]
    while stack:
        a, b = stack.pop()
        if isinstance(a, Var) or isinstance(b, Var):
            if not (isinstance(a, Var) and isinstance(b, Var)):
                return False
            if (
                ren.setdefault(a.name, b.name) != b.name
                or back.setdefault(b.name, a.name) != a.name
            ):
                return False
        elif a.name != b.name or len(a.args) != len(b.args):
            return False
        else:
            stack.extend(zip(a.args, b.args, strict=True))
    return True


def _complementary(x: _Flat, y: _Flat) -> bool:
    return x[0] != y[0] and x[1] == y[1]


def check(matrix: Matrix, proof: ConnectionProof) -> Verdict[TableauEvidence]:
    """Replay ``proof`` against ``matrix``; see the module docstring for the rules checked.

    The verdict accepts with the steps counted by rule (:class:`TableauEvidence`), or
    rejects with the first problem found, naming its step, and no evidence.
    """
    sub = proof.substitution
    start_goal = Lit(False, START)
    conj = any(c == (start_goal,) for c in matrix)
    start = proof.start
    if start.rule != "extension" or _flat(start.goal) != _flat(start_goal):
        return Verdict.reject("the start step must be an extension of the goal -#")

    seen_ids: set[int] = set()
    counts: Counter[str] = Counter()  # steps by rule
    goals: dict[int, _Flat] = {}  # step id -> goal after substitution
    owner: dict[str, int] = {}  # instance variable -> step that introduced it
    # (step, path of goals after substitution, step ids usable as lemmata)
    stack: list[tuple[ProofStep, tuple[_Flat, ...], frozenset[int]]] = [(start, (), frozenset())]
    while stack:
        step, path, lemmata = stack.pop()
        where = f"step {step.id}"
        if step.id in seen_ids:
            return Verdict.reject(f"{where}: duplicate step id")
        seen_ids.add(step.id)
        counts[step.rule] += 1
        goal = _flat(step.goal, sub)
        goals[step.id] = goal

        if step.rule == "reduction":
            if step.children:
                return Verdict.reject(f"{where}: a reduction has no children")
            if step.ancestor is None or not 0 <= step.ancestor < len(path):
                return Verdict.reject(f"{where}: no path literal {step.ancestor}")
            if not _complementary(goal, path[step.ancestor]):
                return Verdict.reject(
                    f"{where}: goal not complementary to path literal {step.ancestor}"
                )
            continue

        if step.rule == "lemma":
            if step.children:
                return Verdict.reject(f"{where}: a lemma has no children")
            if step.lemma not in lemmata:
                return Verdict.reject(
                    f"{where}: step {step.lemma} is not a closed left sibling on the path"
                )
            if goals[step.lemma] != goal:
                return Verdict.reject(f"{where}: goal differs from that of step {step.lemma}")
            continue

        if step.rule != "extension":
            return Verdict.reject(f"{where}: unknown rule {step.rule!r}")
        instance, connected = step.instance, step.connected
        if step.clause is None or not 0 <= step.clause < len(matrix):
            return Verdict.reject(f"{where}: no matrix clause {step.clause}")
        if instance is None or connected is None or not 0 <= connected < len(instance):
            return Verdict.reject(f"{where}: no connected literal {connected} in instance")
        clause = matrix[step.clause]
        if len(instance) == len(clause) + 1 and not conj and all(x.positive for x in clause):
            original = (Lit(True, START), *clause)  # the implicit start marker
        else:
            original = clause
        if len(instance) != len(original):
            return Verdict.reject(f"{where}: instance is not a copy of clause {step.clause}")
        ren: dict[str, str] = {}
        back: dict[str, str] = {}
        for a, b in zip(instance, original, strict=True):
            if not _variant(a, b, ren, back):
                return Verdict.reject(
                    f"{where}: instance is not a renaming of clause {step.clause}"
                )
        for v in ren:
            if owner.setdefault(v, step.id) != step.id:
                return Verdict.reject(
                    f"{where}: variable {v} also occurs in step {owner[v]}'s instance"
                )
        if not _complementary(goal, _flat(instance[connected], sub)):
            return Verdict.reject(
                f"{where}: goal not complementary to instance literal {connected}"
            )
        open_lits = [x for k, x in enumerate(instance) if k != connected]
        if len(step.children) != len(open_lits):
            return Verdict.reject(
                f"{where}: {len(open_lits)} open literals but {len(step.children)} child steps",
            )
        child_path = (*path, goal)
        usable = set(lemmata)
        pending = []
        for child, x in zip(step.children, open_lits, strict=True):
            if _flat(child.goal) != _flat(x):
                return Verdict.reject(f"step {child.id}: goal is not its instance literal")
            pending.append((child, child_path, frozenset(usable)))
            usable.add(child.id)
        stack.extend(reversed(pending))

    evidence = TableauEvidence(
        len(seen_ids), counts["extension"], counts["reduction"], counts["lemma"]
    )
    return Verdict.accept(evidence, f"closed connection tableau, {len(seen_ids)} steps")
