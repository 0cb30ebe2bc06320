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

**Engines.** ``_Checker`` below is the reference; the C extension ``_drup`` (``_drup.c``) is
the same checker compiled, used by default when built (``engine="auto"``), with the same
verdict, reason and evidence (tests compare them). It also reads the binary DRAT that CaDiCaL
traces (``a``/``d`` steps, varint literals; a "line" is then a step number), and has a
backward mode (``backward=True``, drat-trim's): a forward pass without checks to the empty
clause, then from it back, checking only the lemmas the refutation's conflicts use. Backward
acceptance means the same (a refutation), but an unused wrong lemma is not reported.

What it does not protect against: it checks RUP only, so a DRAT proof that needs RAT
lemmas (clauses over new variables, blocked-clause tricks) is rejected, not verified; literals
beyond ``cnf.num_vars`` are rejected. Forward checking checks every lemma, used or not; on
SATLIB uuf225 refutations by CaDiCaL (about 55,000 lemmas) the compiled checker takes about as
long as CaDiCaL's search, and the backward mode still checks about 80% of them. The checker
trusts ``cnf`` to be the formula the proof is about. The compiled checker holds the GIL.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from palestra.core.errors import PalestraError
from palestra.core.verdict import Verdict
from palestra.sat.cnf import CNF
from palestra.sat.propagate import propagate

__all__ = ["DrupEvidence", "binary_to_text", "check_drup"]


@dataclass(frozen=True)
class DrupEvidence:
    """How far a DRUP check got: ``line`` is the 1-based proof line of the failure or of the
    empty clause (None when the lines ran out first); the counts cover the lines read."""

    line: int | None
    lemmas: int  # added clauses checked
    deletions: int  # deletions applied
    ignored_deletions: int  # deletions of reason or absent clauses, skipped


def check_drup(
    cnf: CNF,
    proof: str | bytes | Iterable[str],
    engine: Literal["auto", "c", "python"] = "auto",
    backward: bool = False,
) -> Verdict[DrupEvidence]:
    """Check the DRUP ``proof`` (full text, an iterable of lines, or the bytes of a binary
    DRAT proof) of ``cnf``'s refutation.

    Accepted with reason ``"empty clause derived"`` or ``"conflict by unit propagation after
    the last line"``; rejected with the first failure (a malformed line, a lemma that is not
    RUP, no refutation at the end). ``engine``: the compiled checker (``"c"``; ``"auto"``
    uses it when built), or this module's Python reference (``"python"``); both give the same
    verdict, reason and evidence. A binary proof's "line" is its step number.

    ``backward`` (compiled checker only; the Python reference is forward) checks only the
    lemmas the refutation uses, from the empty clause back (drat-trim's backward mode):
    an accepted proof is a refutation all the same, but a wrong lemma nothing depends on is
    not reported, and of several wrong lemmas the last one used is the one named.
    """
    if engine not in ("auto", "c", "python"):
        raise ValueError(f"unknown engine {engine!r}")
    ext = None if engine == "python" else _extension()
    if engine == "c" and ext is None:
        raise PalestraError("the compiled DRUP checker is not built (pip install -e .)")
    if isinstance(proof, bytes | bytearray | memoryview):
        if ext is None:
            return _check_python(cnf, binary_to_text(bytes(proof)))
        return _check_binary(ext, cnf, bytes(proof), backward)
    lines = proof.splitlines() if isinstance(proof, str) else proof
    if ext is None:
        return _check_python(cnf, lines)
    return _check_text(ext, cnf, lines, backward)


def binary_to_text(data: bytes) -> list[str]:
    """The lines of a binary DRAT proof (``a``/``d``, 7-bit varint literals ``2 * var +
    negative``, a 0 byte): ``"1 -2 0"``, ``"d 3 0"``. A malformed tail becomes one line
    ``"malformed binary step"`` that any check rejects."""
    lines: list[str] = []
    pos, n = 0, len(data)
    while pos < n:
        if data[pos] in b" \t\r\n":
            pos += 1
            continue
        if data[pos] not in b"ad":
            lines.append("malformed binary step")
            break
        words = ["d"] if data[pos] == 0x64 else []
        pos += 1
        ok = False
        while pos < n:
            u = shift = 0
            while pos < n:
                byte = data[pos]
                pos += 1
                u |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            else:
                break
            if u == 0:
                ok = True
                break
            words.append(str(-(u >> 1) if u & 1 else u >> 1))
        if not ok:
            lines.append("malformed binary step")
            break
        lines.append(" ".join([*words, "0"]))
    return lines


def _encode_binary(kind: str, lits: list[int]) -> bytes:
    """One binary DRAT step: ``a`` or ``d``, then each literal as a 7-bit varint of
    ``2 * var + negative``, then a 0 byte."""
    out = bytearray(kind.encode())
    for lit in lits:
        u = 2 * abs(lit) + (lit < 0)
        while u >= 0x80:
            out.append((u & 0x7F) | 0x80)
            u >>= 7
        out.append(u)
    out.append(0)
    return bytes(out)


def _extension() -> ModuleType | None:
    if array("i").itemsize != 4:
        return None
    try:
        from palestra.sat import _drup
    except ImportError:
        return None
    return _drup


def _flat_formula(cnf: CNF) -> bytes:
    from palestra.sat.dimacs import pack_clauses

    packed = pack_clauses(cnf.clauses)  # compiled (_dimacs.pack) where built
    if packed is not None:
        return packed
    flat = array("i")
    for clause in cnf.clauses:
        flat.extend(clause)
        flat.append(0)
    return flat.tobytes()


def _parse_line(text: str, num_vars: int) -> tuple[bool, list[int]] | str:
    """A proof line as (delete, literals), or the reason it is malformed."""
    delete = text[0] == "d"
    tokens = text[1:].split() if delete else text.split()
    try:
        lits = [int(t) for t in tokens]
    except ValueError:
        return f"malformed line {text!r}"
    if not lits or lits[-1] != 0 or 0 in lits[:-1]:
        return f"line {text!r} is not one clause ended by 0"
    lits.pop()
    if any(abs(lit) > num_vars for lit in lits):
        return f"literal beyond the {num_vars} variables"
    return delete, lits


def _check_text(
    ext: ModuleType, cnf: CNF, lines: Iterable[str], backward: bool
) -> Verdict[DrupEvidence]:
    """Parse here, check in C: the steps up to the first malformed line, which is reported
    only if the steps before it neither refute nor fail."""
    steps = array("i")
    where: list[tuple[int, str]] = []  # per step: line number, stripped text
    malformed: tuple[int, str] | None = None
    for line_no, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text[0] == "c":
            continue
        parsed = _parse_line(text, cnf.num_vars)
        if isinstance(parsed, str):
            malformed = (line_no, parsed)
            break
        delete, lits = parsed
        steps.append(1 if delete else 0)
        steps.extend(lits)
        steps.append(0)
        where.append((line_no, text))
    outcome, step, lemmas, deletions, ignored, _, _ = ext.check(
        cnf.num_vars, _flat_formula(cnf), steps.tobytes(), False, backward
    )
    evidence = DrupEvidence(None, lemmas, deletions, ignored)
    if outcome in (0, 1):
        line_no, text = where[step - 1]
        evidence = dataclasses.replace(evidence, line=line_no)
        if outcome == 0:
            return Verdict(True, "empty clause derived", evidence)
        return Verdict(False, f"lemma {text!r} is not RUP", evidence)
    if malformed is not None:
        return Verdict(False, malformed[1], dataclasses.replace(evidence, line=malformed[0]))
    return _end(outcome == 2, evidence)


def _check_binary(ext: ModuleType, cnf: CNF, data: bytes, backward: bool) -> Verdict[DrupEvidence]:
    outcome, step, lemmas, deletions, ignored, lits, _ = ext.check(
        cnf.num_vars, _flat_formula(cnf), data, True, backward
    )
    line = step if outcome in (0, 1, 4, 5) else None
    evidence = DrupEvidence(line, lemmas, deletions, ignored)
    if outcome == 0:
        return Verdict(True, "empty clause derived", evidence)
    if outcome == 1:
        text = " ".join(map(str, [*lits, 0]))
        return Verdict(False, f"lemma {text!r} is not RUP", evidence)
    if outcome == 4:
        return Verdict(False, "malformed line 'malformed binary step'", evidence)
    if outcome == 5:
        return Verdict(False, f"literal beyond the {cnf.num_vars} variables", evidence)
    return _end(outcome == 2, evidence)


def _end(refuted: bool, evidence: DrupEvidence) -> Verdict[DrupEvidence]:
    if refuted:
        return Verdict(True, "conflict by unit propagation after the last line", evidence)
    return Verdict(False, "no empty clause derived and no conflict by unit propagation", evidence)


def _check_python(cnf: CNF, lines: Iterable[str]) -> Verdict[DrupEvidence]:
    """The reference: ``_Checker`` line by line."""
    checker = _Checker(cnf)
    lemmas = deletions = ignored = 0

    def result(accepted: bool, reason: str, line: int | None) -> Verdict[DrupEvidence]:
        return Verdict(accepted, reason, DrupEvidence(line, lemmas, deletions, ignored))

    for line_no, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text[0] == "c":
            continue
        parsed = _parse_line(text, cnf.num_vars)
        if isinstance(parsed, str):
            return result(False, parsed, line_no)
        delete, lits = parsed
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
    ev = DrupEvidence(None, lemmas, deletions, ignored)
    return _end(checker.refuted, ev)


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
