"""LRAT proof checking: refutations whose every lemma names the clauses that prove it.

A DRUP proof lists lemmas; the checker must find, for each, the unit propagation that derives
it (``drup.py``: a search over the whole clause set per lemma). An LRAT proof (Cruz-Filipe,
Heule, Hunt, Kaufmann, Schneider-Kamp 2017) also lists each lemma's *hints*: the ids of the
clauses that, in that order, become unit and then falsified once the lemma's literals are
false. Checking follows the hints and searches nothing, so it is linear in the proof's size:
on SATLIB uuf refutations by CaDiCaL it is several times faster than the DRUP check of the
same solver run (``palestra bench sat -o parts=plain``). CaDiCaL 1.9.5 writes binary LRAT
when its ``lrat`` option is set (``plain.solve_plain`` does).

**The format** (binary, as CaDiCaL writes it): steps ``a ID LIT.. 0 HINT.. 0`` (a lemma with
its id and hints) and ``d ID.. 0`` (deletions), every number a 7-bit varint of ``2 * |x| +
(x < 0)``; clause ``k`` of the formula (1-based, in order) has id ``k``.

**The check** (:func:`check_lrat`): a lemma is accepted when, with its literals false, each
hint clause in turn is unit (its one unassigned literal is made true) until one is falsified;
a hint must be a live clause (of the formula or an earlier lemma, not deleted). The proof is
accepted at the first accepted empty lemma. Each accepted lemma follows by unit propagation
from live clauses, hence from the formula: an accepted proof is a refutation. The compiled
checker (``_lrat.c``) is the default; :func:`_check_python` is the reference, with the same
verdicts (the tests compare them).

What it does not protect against: RAT steps (negative hints) are rejected, not checked;
clause ids are trusted to number the formula's clauses in order (the formula handed to the
solver must be ``cnf`` itself); a proof CaDiCaL wrote with hints this checker reads
differently would be rejected, never accepted -- ``solve.check_answer`` then checks the same
lemmas as DRUP (:func:`lrat_to_drat`), so a rejected hint costs time, not the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from palestra.core.verdict import Verdict
from palestra.sat.cnf import CNF

__all__ = ["LratEvidence", "check_lrat", "lrat_to_drat"]

_REASONS = {
    0: "empty clause derived",
    1: "lemma fails its hints",
    2: "proof ends without the empty clause",
    3: "malformed binary step",
    4: "literal beyond num_vars",
    5: "clause id not live (a hint) or already live (a lemma)",
    6: "negative hint (a RAT step): not checked",
}


@dataclass(frozen=True)
class LratEvidence:
    """How far an LRAT check got: ``step`` is the 1-based step of the failure or of the
    empty clause (None when the steps ran out first)."""

    step: int | None
    lemmas: int  # lemmas read (the failing one included)
    deletions: int  # deleted ids read


def _steps(data: bytes) -> list[tuple[str, list[int], list[int]] | None]:
    """The decoded steps (kind, numbers, hints), signed; None marks a malformed step."""
    out: list[tuple[str, list[int], list[int]] | None] = []
    pos, n = 0, len(data)

    def number() -> int | None:
        nonlocal pos
        u = shift = 0
        while True:
            if pos >= n or shift > 35:
                return None
            byte = data[pos]
            pos += 1
            u |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return -(u >> 1) if u & 1 else u >> 1

    def until_zero() -> list[int] | None:
        xs = []
        while True:
            x = number()
            if x is None:
                return None
            if x == 0:
                return xs
            xs.append(x)

    while pos < n:
        kind = chr(data[pos])
        pos += 1
        if kind == "d":
            ids = until_zero()
            out.append(None if ids is None or any(i < 0 for i in ids) else ("d", ids, []))
            if ids is None:
                break
            continue
        first = number() if kind == "a" else None
        lits = until_zero() if first is not None else None
        hints = until_zero() if lits is not None else None
        if first is None or first <= 0 or lits is None or hints is None:
            out.append(None)
            break
        out.append(("a", [first, *lits], hints))
    return out


def _check_python(cnf: CNF, data: bytes) -> tuple[int, int, int, int]:
    """The reference checker: ``(outcome, step, lemmas, deletions)`` as ``_lrat.check``."""
    clauses: dict[int, list[int]] = {
        i + 1: list(dict.fromkeys(c)) for i, c in enumerate(cnf.clauses)
    }
    lemmas = deletions = 0
    for step, item in enumerate(_steps(data), 1):
        if item is None:
            return 3, step, lemmas, deletions
        kind, numbers, hints = item
        if kind == "d":
            for i in numbers:
                deletions += 1
                clauses.pop(i, None)
            continue
        cid, lits = numbers[0], numbers[1:]
        if cid in clauses:
            return 5, step, lemmas, deletions
        if any(h < 0 for h in hints) and not any(abs(x) > cnf.num_vars for x in lits):
            return 6, step, lemmas, deletions
        if any(abs(x) > cnf.num_vars for x in lits):
            return 4, step, lemmas, deletions
        lemmas += 1
        true = {-x for x in lits}
        accepted = any(x in true for x in lits)  # a tautology
        for h in [] if accepted else hints:
            if h not in clauses:
                return 5, step, lemmas, deletions
            clause = clauses[h]
            if any(x in true for x in clause):
                break
            open_ = [x for x in clause if -x not in true]
            if not open_:
                accepted = True
                break
            if len(open_) > 1:
                break
            true.add(open_[0])
        if not accepted:
            return 1, step, lemmas, deletions
        if not lits:
            return 0, step, lemmas, deletions
        clauses[cid] = list(dict.fromkeys(lits))
    return 2, 0, lemmas, deletions


def _extension() -> ModuleType | None:
    try:
        from palestra.sat import _lrat
    except ImportError:
        return None
    return _lrat


def check_lrat(cnf: CNF, proof: bytes, engine: str = "auto") -> Verdict[LratEvidence]:
    """Check the binary LRAT ``proof`` of ``cnf``'s refutation (see the module docstring);
    ``engine``: ``"c"``, ``"python"`` or ``"auto"`` (the compiled one where built)."""
    from palestra.sat.drup import _flat_formula

    if engine not in ("auto", "c", "python"):
        raise ValueError(f"unknown engine {engine!r}")
    ext = None if engine == "python" else _extension()
    if engine == "c" and ext is None:
        from palestra.core.errors import PalestraError

        raise PalestraError("the compiled LRAT checker is not built (pip install -e .)")
    if ext is not None:
        outcome, step, lemmas, deletions = ext.check(cnf.num_vars, _flat_formula(cnf), bytes(proof))
    else:
        outcome, step, lemmas, deletions = _check_python(cnf, bytes(proof))
    evidence = LratEvidence(step or None, lemmas, deletions)
    reason = _REASONS[outcome] + (f" (step {step})" if step and outcome else "")
    return Verdict(outcome == 0, reason, evidence)


def lrat_to_drat(cnf: CNF, proof: bytes) -> bytes:
    """The same proof as binary DRAT (lemmas without ids and hints; deletions by their
    literals), for a DRUP check of its lemmas; a malformed step ends it early."""
    from palestra.sat.drup import _encode_binary

    clauses = {i + 1: c for i, c in enumerate(cnf.clauses)}
    out = bytearray()
    for item in _steps(proof):
        if item is None:
            break
        kind, numbers, _hints = item
        if kind == "a":
            clauses[numbers[0]] = numbers[1:]
            out += _encode_binary("a", numbers[1:])
        else:
            for i in numbers:
                if i in clauses:
                    out += _encode_binary("d", clauses.pop(i))
    return bytes(out)
