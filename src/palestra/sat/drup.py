"""A DRUP proof checker by reverse unit propagation (forward checking).

A DRUP proof (Heule, Hunt & Wetzler 2013) of ``F`` is a list of text lines::

    1 -2 0          add the lemma (1 v -2)
    d 3 4 0         delete the clause (3 v 4)
    0               add the empty clause
    c ...           a comment

A lemma ``C`` is accepted when it is a *reverse unit propagation* (RUP) consequence of the
current clause set ``S`` (the formula plus the lemmas so far, minus deletions): assigning every
literal of ``C`` false and unit-propagating over ``S`` reaches a conflict; then ``S |= C`` and
``C`` joins ``S``. The proof is verified once the empty clause is accepted, which means unit
propagation on ``S`` alone is conflicting; if the lines run out first, the proof is still
accepted when unit propagation on the final ``S`` conflicts, and rejected otherwise. Checking
stops at the first failing lemma, reported with its line number. The answer is a
``core.verdict.Verdict`` whose evidence is a ``DrupEvidence`` (the line, and counts).

Like drat-trim, deletions of a clause that is the reason of a top-level (unit-propagated)
literal are ignored, as are deletions of clauses not in ``S``; both are counted in the evidence.
Ignoring a deletion never makes an invalid proof pass: it only keeps more consequences of ``F``.

What it does not protect against: it checks RUP only, so a DRAT proof that needs RAT
lemmas (clauses over new variables, blocked-clause tricks) is rejected, not verified; literals
beyond ``cnf.num_vars`` are rejected; binary DRAT is not read. Checking is forward, so every
lemma is checked, used or not (drat-trim's backward mode checks only those the refutation
needs, and faster). The checker trusts ``cnf`` to be the formula the proof is about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from palestra.core.verdict import Verdict
from palestra.sat.cnf import CNF
from palestra.sat.propagate import propagate

__all__ = ["DrupEvidence", "check_drup"]


@dataclass(frozen=True)
class DrupEvidence:
    """How far a DRUP check got: ``line`` is the 1-based proof line of the failure or of the
    empty clause (None when the lines ran out first); the counts cover the lines read."""

    line: int | None
    lemmas: int  # added clauses checked
    deletions: int  # deletions applied
    ignored_deletions: int  # deletions of reason or absent clauses, skipped


def check_drup(cnf: CNF, proof: str | Iterable[str]) -> Verdict[DrupEvidence]:
    """Check the DRUP ``proof`` (full text, or an iterable of lines) of ``cnf``'s refutation.

    Accepted with reason ``"empty clause derived"`` or ``"conflict by unit propagation after
    the last line"``; rejected with the first failure (a malformed line, a lemma that is not
    RUP, no refutation at the end).
    """
    lines = proof.splitlines() if isinstance(proof, str) else proof
    checker = _Checker(cnf)
    lemmas = deletions = ignored = 0

    def result(accepted: bool, reason: str, line: int | None) -> Verdict[DrupEvidence]:
        return Verdict(accepted, reason, DrupEvidence(line, lemmas, deletions, ignored))

    for line_no, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text[0] == "c":
            continue
        delete = text[0] == "d"
        tokens = text[1:].split() if delete else text.split()
        try:
            lits = [int(t) for t in tokens]
        except ValueError:
            return result(False, f"malformed line {text!r}", line_no)
        if not lits or lits[-1] != 0 or 0 in lits[:-1]:
            return result(False, f"line {text!r} is not one clause ended by 0", line_no)
        lits.pop()
        if any(abs(lit) > cnf.num_vars for lit in lits):
            return result(False, f"literal beyond the {cnf.num_vars} variables", line_no)
        if delete:
            if checker.delete(lits):
                deletions += 1
            else:
                ignored += 1
            continue
        lemmas += 1
        if not checker.is_rup(lits):
            return result(False, f"lemma {text!r} is not RUP", line_no)
        if not lits:
            return result(True, "empty clause derived", line_no)
        checker.add(lits)
    if checker.refuted:
        return result(True, "conflict by unit propagation after the last line", None)
    return result(False, "no empty clause derived and no conflict by unit propagation", None)


class _Checker:
    """Clause set with a persistent top-level assignment and two watched literals.

    Literal-indexed arrays and watches are those of ``propagate.py``. The top-level trail
    is kept at the unit-propagation fixpoint of ``S``; a RUP check pushes assumptions on top of
    it and pops them. ``refuted`` is set once ``S`` propagates to a conflict.
    """

    def __init__(self, cnf: CNF) -> None:
        n = cnf.num_vars
        self.value = [0] * (2 * n + 1)
        self.reason: list[list[int] | None] = [None] * (n + 1)
        self.watches: list[list[list[int]]] = [[] for _ in range(2 * n + 1)]
        self.trail: list[int] = []
        self.qhead = 0
        self.refuted = False
        self.index: dict[tuple[int, ...], list[list[int]]] = {}  # sorted literals -> clauses
        for clause in cnf.clauses:
            self.add(clause)

    def add(self, lits: list[int]) -> None:
        c = list(dict.fromkeys(lits))
        self.index.setdefault(tuple(sorted(c)), []).append(c)
        if self.refuted or any(-lit in c for lit in c):
            return  # tautologies constrain nothing; keep them only to match deletions
        value = self.value
        c.sort(key=lambda lit: value[lit] == -1)  # non-false literals first
        if not c or value[c[0]] == -1:
            self.refuted = True
            return
        if len(c) >= 2:
            self.watches[c[0]].append(c)
            self.watches[c[1]].append(c)
        if (len(c) == 1 or value[c[1]] == -1) and value[c[0]] == 0:
            self._assign(c[0], c)
            if self._propagate():
                self.refuted = True

    def delete(self, lits: list[int]) -> bool:
        """Remove one copy of the clause; False (ignored) if absent or a top-level reason."""
        key = tuple(sorted(set(lits)))
        copies = self.index.get(key)
        if not copies:
            return False
        c = copies[-1]
        if c and self.reason[abs(c[0])] is c:
            return False
        copies.pop()
        if not copies:
            del self.index[key]
        if len(c) >= 2 and not any(-lit in c for lit in c):
            for w in (c[0], c[1]):
                ws = self.watches[w]
                for k, d in enumerate(ws):
                    if d is c:
                        del ws[k]
                        break
        return True

    def is_rup(self, lits: list[int]) -> bool:
        """Does assigning every literal of ``lits`` false propagate to a conflict?"""
        if self.refuted:
            return True
        value = self.value
        mark = len(self.trail)
        conflict = False
        for lit in lits:
            if value[lit] == 1:
                conflict = True
                break
            if value[lit] == 0:
                self._assign(-lit, None)
        if not conflict:
            conflict = self._propagate()
        self._undo(mark)
        return conflict

    def _assign(self, lit: int, reason: list[int] | None) -> None:
        self.value[lit] = 1
        self.value[-lit] = -1
        self.reason[abs(lit)] = reason
        self.trail.append(lit)

    def _undo(self, mark: int) -> None:
        value, reason, trail = self.value, self.reason, self.trail
        for lit in trail[mark:]:
            value[lit] = value[-lit] = 0
            reason[abs(lit)] = None
        del trail[mark:]
        self.qhead = mark

    def _propagate(self) -> bool:
        """Unit propagation (``propagate.propagate``) from ``qhead``; True on a conflict."""
        self.qhead, conflict = propagate(
            self.value, self.watches, self.trail, self.qhead, self.reason
        )
        return conflict is not None
