"""The DRUP checker: accepts real proofs (ours, python-sat's solvers'), rejects corrupted ones,
and agrees lemma by lemma with a slow set-based reference; so does its propagation kernel."""

from __future__ import annotations

import numpy as np
import pytest

from palestra.core.data import expected as dataset_path
from palestra.core.verdict import Verdict
from palestra.sat.cdcl import solve_cdcl
from palestra.sat.cnf import CNF, Status
from palestra.sat.dimacs import read_dimacs
from palestra.sat.drup import DrupEvidence, check_drup
from palestra.sat.propagate import propagate

SATLIB = dataset_path("satlib")  # PALESTRA_DATA or ../shared/data beside the checkout

# All four clauses over two variables: unsatisfiable, but not by unit propagation alone.
XOR = CNF(2, [[1, 2], [-1, 2], [1, -2], [-1, -2]])


def reference_propagate(clauses: list[list[int]], assumed: set[int]) -> set[int] | None:
    """Slow unit propagation over sets from the literals ``assumed``: the true literals at the
    fixpoint, or None on a conflict."""
    true = set(assumed)
    if any(-lit in true for lit in true):
        return None
    changed = True
    while changed:
        changed = False
        for c in clauses:
            if any(lit in true for lit in c):
                continue
            free = [lit for lit in c if -lit not in true]
            if not free:
                return None
            if len(free) == 1:
                true.add(free[0])
                changed = True
    return true


def reference_rup(clauses: list[list[int]], lemma: list[int]) -> bool:
    """Slow RUP: assume -lemma and unit-propagate; a conflict makes the lemma RUP."""
    return reference_propagate(clauses, {-lit for lit in lemma}) is None


def reference_check(cnf: CNF, lines: list[str]) -> bool:
    """Forward RUP checking of additions only (for proofs with no deletions)."""
    clauses = [list(c) for c in cnf.clauses]
    for line in lines:
        lemma = [int(t) for t in line.split()][:-1]
        if not reference_rup(clauses, lemma):
            return False
        if not lemma:
            return True
        clauses.append(lemma)
    return reference_rup(clauses, [])


def uuf50(count: int) -> list[CNF]:
    folder = SATLIB / "uuf50"
    if not folder.is_dir():
        pytest.skip(f"SATLIB uuf50 not found at {folder} (palestra data list)")
    return [read_dimacs(p) for p in sorted(folder.glob("*.cnf"))[:count]]


def test_hand_proofs() -> None:
    assert check_drup(XOR, "2 0\n0\n").accepted
    r = check_drup(XOR, ["c lemma", "", "1 0", "d 1 2 0", "0"])
    assert (r.accepted, r.evidence.line, r.evidence.lemmas, r.evidence.deletions) == (True, 5, 2, 1)
    r = check_drup(XOR, "0\n")
    assert (r.accepted, r.evidence.line) == (False, 1) and "not RUP" in r.reason
    r = check_drup(XOR, "2 0\n")  # no empty clause, but [2] makes unit propagation conflict
    assert r.accepted and r.evidence.line is None
    r = check_drup(XOR, "")
    assert not r.accepted and "no empty clause" in r.reason
    assert check_drup(XOR, "1 -1 0\n2 0\n0\n").accepted  # a tautology is RUP


def test_the_answer_is_a_verdict_with_drup_evidence() -> None:
    r = check_drup(XOR, ["1 0", "d 1 2 0", "0"])
    assert isinstance(r, Verdict) and r and r.reason == "empty clause derived"
    assert r.evidence == DrupEvidence(line=3, lemmas=2, deletions=1, ignored_deletions=0)
    assert r.to_json() == {
        "accepted": True,
        "reason": "empty clause derived",
        "evidence": {"line": 3, "lemmas": 2, "deletions": 1, "ignored_deletions": 0},
    }
    r = check_drup(XOR, "1 0\n")
    assert r and r.reason == "conflict by unit propagation after the last line"
    assert r.evidence == DrupEvidence(line=None, lemmas=1, deletions=0, ignored_deletions=0)
    r = check_drup(CNF(2, [[1, 2]]), "1 0\n")
    assert not r and r.reason == "lemma '1 0' is not RUP"
    assert r.evidence == DrupEvidence(line=1, lemmas=1, deletions=0, ignored_deletions=0)


def test_deletions_are_honoured_and_reasons_kept() -> None:
    # (2) is still RUP from (1 v 2), (-1 v 2), but the deletions left a satisfiable set.
    r = check_drup(XOR, "d 1 -2 0\nd -1 -2 0\n2 0\n0\n")
    assert (r.accepted, r.evidence.line, r.evidence.lemmas, r.evidence.deletions) == (
        False,
        4,
        2,
        2,
    )
    # Without (1 v 2) and (-1 v 2), (2) is no longer RUP.
    r = check_drup(XOR, "d 1 2 0\nd -1 2 0\n2 0\n0\n")
    assert (r.accepted, r.evidence.line) == (False, 3)
    # Deleting an absent clause is ignored; deleting a top-level reason is ignored (drat-trim).
    f = CNF(3, [[1], [-1, 2], [-2, 3], [-3, -1, -2]])
    r = check_drup(f, "d 1 3 0\nd -1 2 0\n0\n")
    assert (r.accepted, r.evidence.ignored_deletions, r.evidence.deletions) == (True, 2, 0)


def test_malformed_lines_are_rejected() -> None:
    for proof in ("1 x 0\n0\n", "1 2\n0\n", "1 0 2 0\n0\n", "3 0\n0\n"):
        r = check_drup(XOR, proof)
        assert (r.accepted, r.evidence.line) == (False, 1), proof


def test_trivially_refuted_formula() -> None:
    assert check_drup(CNF(1, [[1], [-1]]), "").accepted
    assert check_drup(CNF(1, [[]]), "0\n").accepted


@pytest.mark.parametrize("solver", ["glucose3", "glucose4", "cadical153", "lingeling"])
def test_python_sat_proofs(solver: str) -> None:
    solvers = pytest.importorskip("pysat.solvers", reason="python-sat is not installed")
    for cnf in uuf50(5):
        with solvers.Solver(name=solver, bootstrap_with=cnf.clauses, with_proof=True) as s:
            assert s.solve() is False
            proof = s.get_proof()
        r = check_drup(cnf, proof)
        assert r.accepted, (solver, r)
        # Truncated before the end: no empty clause any more.
        assert not check_drup(cnf, proof[: len(proof) // 2]).accepted


def test_our_proofs_and_corruptions_agree_with_reference() -> None:
    rng = np.random.default_rng(5)
    rejected_drops = 0
    for cnf in uuf50(4):
        r = solve_cdcl(cnf)
        assert r.status is Status.UNSATISFIABLE and r.proof
        proof = r.proof
        assert check_drup(cnf, proof).accepted and reference_check(cnf, proof)
        # Every lemma is RUP for the reference too.
        clauses = [list(c) for c in cnf.clauses]
        for line in proof:
            lemma = [int(t) for t in line.split()][:-1]
            assert reference_rup(clauses, lemma)
            clauses.append(lemma)
        # Only the empty clause: rejected at line 1.
        only_empty = check_drup(cnf, ["0"])
        assert (only_empty.accepted, only_empty.evidence.line) == (False, 1)
        # Truncated (the final empty clause gone and more).
        assert not check_drup(cnf, proof[: len(proof) // 2]).accepted
        # Drop one lemma or flip one literal: the verdict must match the reference.
        for _ in range(8):
            k = int(rng.integers(len(proof) - 1))
            dropped = proof[:k] + proof[k + 1 :]
            verdict = check_drup(cnf, dropped)
            assert verdict.accepted == reference_check(cnf, dropped)
            rejected_drops += not verdict.accepted
            lemma = [int(t) for t in proof[k].split()][:-1]
            j = int(rng.integers(len(lemma)))
            lemma[j] = -lemma[j]
            flipped = [*proof[:k], " ".join(map(str, [*lemma, 0])), *proof[k + 1 :]]
            verdict = check_drup(cnf, flipped)
            assert verdict.accepted == reference_check(cnf, flipped)
            prefix = [list(c) for c in cnf.clauses] + [
                [int(t) for t in line.split()][:-1] for line in proof[:k]
            ]
            if not reference_rup(prefix, lemma):
                assert (verdict.accepted, verdict.evidence.line) == (False, k + 1)
    assert rejected_drops > 0


# -- the propagation kernel (propagate.py), which the checker shares with CDCL ------------


def random_formula(n: int, m: int, rng: np.random.Generator) -> list[list[int]]:
    """``m`` clauses of 2 or 3 distinct variables with random signs."""
    clauses = []
    for _ in range(m):
        variables = rng.choice(np.arange(1, n + 1), size=int(rng.integers(2, 4)), replace=False)
        clauses.append([int(v) if rng.random() < 0.5 else -int(v) for v in variables])
    return clauses


def test_propagate_agrees_with_the_reference_and_survives_backtracking() -> None:
    rng = np.random.default_rng(0)
    n = 8
    conflicts = fixpoints = 0
    for _ in range(60):
        clauses = random_formula(n, 18, rng)
        value = [0] * (2 * n + 1)
        reason: list[list[int] | None] = [None] * (n + 1)
        watches: list[list[list[int]]] = [[] for _ in range(2 * n + 1)]
        watched = [list(c) for c in clauses]
        for c in watched:
            watches[c[0]].append(c)
            watches[c[1]].append(c)
        trail: list[int] = []
        for _ in range(6):  # the watches are kept from round to round, as after a backjump
            variables = rng.choice(np.arange(1, n + 1), size=int(rng.integers(1, 4)), replace=False)
            assumed = [int(v) if rng.random() < 0.5 else -int(v) for v in variables]
            for lit in assumed:
                value[lit], value[-lit] = 1, -1
                trail.append(lit)
            qhead, conflict = propagate(value, watches, trail, 0, reason)
            expected = reference_propagate(clauses, set(assumed))
            if expected is None:
                conflicts += 1
                assert conflict is not None and all(value[lit] == -1 for lit in conflict)
            else:
                fixpoints += 1
                assert conflict is None and qhead == len(trail) and set(trail) == expected
                for lit in trail[len(assumed) :]:
                    c = reason[abs(lit)]
                    assert c is not None and c[0] == lit
                    assert all(value[x] == -1 for x in c[1:])
            for lit in trail:  # undo everything; the watches stay as they are
                value[lit] = value[-lit] = 0
                reason[abs(lit)] = None
            trail.clear()
            for c in watched:  # every clause watches its first two literals
                assert any(d is c for d in watches[c[0]]) and any(d is c for d in watches[c[1]])
    assert conflicts > 20 and fixpoints > 20
