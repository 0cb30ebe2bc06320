"""LRAT checking (``palestra.sat.lrat``): the compiled checker and the Python reference agree,
accept CaDiCaL's proofs, reject every kind of broken step; ``solve.check_answer`` falls back to
DRUP on the lemmas where hints fail."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from palestra.sat.cnf import CNF, Status
from palestra.sat.families import random_3sat
from palestra.sat.lrat import _steps, check_lrat, lrat_to_drat
from palestra.sat.plain import solve_plain
from palestra.sat.solve import check_answer


def varint(x: int) -> bytes:
    u = 2 * abs(x) + (x < 0)
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def add(cid: int, lits: list[int], hints: list[int]) -> bytes:
    return (
        b"a"
        + varint(cid)
        + b"".join(map(varint, lits))
        + b"\0"
        + b"".join(map(varint, hints))
        + b"\0"
    )


def delete(ids: list[int]) -> bytes:
    return b"d" + b"".join(map(varint, ids)) + b"\0"


def encode(steps: list[tuple[str, list[int], list[int]] | None]) -> bytes:
    return b"".join(add(s[1][0], s[1][1:], s[2]) if s[0] == "a" else delete(s[1]) for s in steps)  # type: ignore[index]


FOUR = CNF(2, [[1, 2], [-1, 2], [1, -2], [-1, -2]])  # ids 1..4


def both(cnf: CNF, proof: bytes) -> tuple[bool, str, object]:
    c, p = check_lrat(cnf, proof, engine="c"), check_lrat(cnf, proof, engine="python")
    assert (c.accepted, c.reason, c.evidence) == (p.accepted, p.reason, p.evidence)
    return c.accepted, c.reason, c.evidence


def test_hand_made_proof_and_its_breakages() -> None:
    good = add(5, [2], [1, 2]) + add(6, [], [5, 3, 4])
    assert both(FOUR, good)[:2] == (True, "empty clause derived")
    cases = {
        "lemma fails its hints (step 1)": add(5, [2], [1]) + add(6, [], [5, 3, 4]),  # no conflict
        "lemma fails its hints (step 2)": add(5, [2], [1, 2])
        + add(6, [], [3, 5]),  # 5 is satisfied
        "proof ends without the empty clause": add(5, [2], [1, 2]),
        "malformed binary step (step 2)": good[:-1],
        "literal beyond num_vars (step 1)": add(5, [3], [1, 2]),
        "clause id not live (a hint) or already live (a lemma) (step 3)": add(5, [2], [1, 2])
        + delete([2])
        + add(6, [], [5, 2, 4]),
        "clause id not live (a hint) or already live (a lemma) (step 1)": add(4, [2], [1, 2]),
        "negative hint (a RAT step): not checked (step 1)": add(5, [2], [1, -2]),
        "malformed binary step (step 1)": b"x" + good,
    }
    for reason, proof in cases.items():
        accepted, why, _ = both(FOUR, proof)
        assert not accepted and why == reason, (reason, why)
    # a lemma not implied is refused whatever its hints: [1] does not follow from (1 v 2)
    assert not both(CNF(2, [[1, 2]]), add(2, [1], [1]) + add(3, [], [2, 1]))[0]
    # a tautological lemma needs no hints; a repeated literal is stored once
    assert both(FOUR, add(5, [1, -1], []) + add(6, [2, 2], [1, 2]) + add(7, [], [6, 3, 4]))[0]


def _unsat_formulas(count: int) -> list[CNF]:
    rng = np.random.default_rng(7)
    out: list[CNF] = []
    while len(out) < count:
        cnf = random_3sat(40, rng, ratio=4.8).cnf
        if solve_plain(cnf, proof=False).status is Status.UNSATISFIABLE:
            out.append(cnf)
    return out


@pytest.fixture(scope="module")
def refutations() -> list[tuple[CNF, bytes]]:
    out = []
    for cnf in _unsat_formulas(6):
        r = solve_plain(cnf)
        assert r.proof_format == "lrat" and isinstance(r.proof, bytes)
        out.append((cnf, r.proof))
    return out


def test_cadical_proofs_are_accepted_by_both_engines(refutations) -> None:
    for cnf, proof in refutations:
        accepted, reason, evidence = both(cnf, proof)
        assert accepted, reason
        assert evidence.lemmas > 0  # type: ignore[attr-defined]
        checked = check_answer(cnf, solve_plain(cnf))
        assert checked.checked and checked.status is Status.UNSATISFIABLE


def test_mutated_cadical_proofs_are_rejected(refutations) -> None:
    """Every lemma's hints cut to the first one; the empty clause dropped; a hint pointing past
    every clause: rejected by both engines; the hintless proof's lemmas still pass as DRUP."""
    for cnf, proof in refutations[:3]:
        steps = _steps(proof)
        assert all(s is not None for s in steps)
        cut = encode([(k, n, h[:1]) if k == "a" else (k, n, h) for k, n, h in steps])  # type: ignore[misc]
        assert not both(cnf, cut)[0]
        no_end = encode([s for s in steps if s is None or s[0] == "d" or len(s[1]) > 1])
        assert both(cnf, no_end)[1] == "proof ends without the empty clause"
        first = next(i for i, s in enumerate(steps) if s is not None and s[0] == "a")
        k, n, h = steps[first]  # type: ignore[misc]
        far = encode([*steps[:first], (k, n, [*h[:-1], 10**6]), *steps[first + 1 :]])
        assert not both(cnf, far)[0]
        # hints stripped: LRAT fails, the same lemmas pass as DRUP; check_answer accepts
        bare = encode([(k, n, []) if k == "a" else (k, n, h) for k, n, h in steps])  # type: ignore[misc]
        assert not both(cnf, bare)[0]
        r = dataclasses.replace(solve_plain(cnf), proof=bare)
        assert check_answer(cnf, r).checked


def test_lrat_to_drat_keeps_the_lemmas(refutations) -> None:
    from palestra.sat.drup import binary_to_text, check_drup

    cnf, proof = refutations[0]
    drat = lrat_to_drat(cnf, proof)
    lemmas = [s[1][1:] for s in _steps(proof) if s is not None and s[0] == "a"]
    lines = [line for line in binary_to_text(drat) if not line.startswith("d")]
    assert [[int(x) for x in line.split()[:-1]] for line in lines] == lemmas
    assert check_drup(cnf, drat).accepted


def test_a_wrong_proof_fails_check_answer() -> None:
    """A refutation whose lemmas are not implied is a solver bug: RuntimeError."""
    cnf = CNF(2, [[1, 2]])
    fake = dataclasses.replace(
        solve_plain(FOUR), proof=add(2, [1], [1]) + add(3, [], [2, 1]), proof_format="lrat"
    )
    with pytest.raises(RuntimeError, match="refutation failed LRAT and DRUP checking"):
        check_answer(cnf, fake)
