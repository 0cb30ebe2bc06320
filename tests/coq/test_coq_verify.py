"""Safe verify: honest proofs pass; wrong, admitted, axiom-using or restated ones do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.coq.verify import parse_assumptions, safe_verify

from .conftest import require_coq

PRINTED = """Axioms:
ClassicalDedekindReals.sig_forall_dec
  : forall P : nat -> Prop,
    (forall n : nat, {P n} + {~ P n}) -> {n : nat | ~ P n} + {forall n : nat, P n}
Candidate.cheat : False
"""


def test_parse_assumptions() -> None:
    assert parse_assumptions("Closed under the global context\n") == ([], [])
    axioms, others = parse_assumptions(PRINTED)
    assert axioms == ["ClassicalDedekindReals.sig_forall_dec", "Candidate.cheat"]
    assert others == []


@pytest.fixture
def statement(coq_data: Path) -> str:
    return (coq_data / "statement.v").read_text()


def test_honest_proof_with_helper_lemma_is_accepted(coq_data: Path, statement: str) -> None:
    require_coq()
    verdict = safe_verify(statement, (coq_data / "proof_good.v").read_text())
    assert verdict.accepted, verdict.reason
    assert verdict.evidence.statement_check == "conversion" and verdict.evidence.axioms == ()


def test_wrong_proof_is_rejected_with_its_line(coq_data: Path, statement: str) -> None:
    require_coq()
    verdict = safe_verify(statement, (coq_data / "proof_wrong.v").read_text())
    assert not verdict.accepted
    assert verdict.evidence.errors[0].line == 8 and "line 8" in verdict.reason


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("proof_admitted.v", "Admitted"),
        ("proof_admit.v", "admit"),
        ("proof_axiom.v", "Axiom"),
        ("proof_changed.v", "statement of double_le changed"),
        ("proof_shadow.v", "shadows"),
    ],
)
def test_escape_hatches_are_rejected(
    coq_data: Path, statement: str, name: str, reason: str
) -> None:
    verdict = safe_verify(statement, (coq_data / name).read_text())  # textual: no Coq needed
    assert not verdict.accepted and reason in verdict.reason


def test_axioms_outside_the_allow_list_are_rejected(coq_data: Path) -> None:
    require_coq()
    proof = (coq_data / "classical_axiom.v").read_text()
    original = proof.replace("exact classic.\nQed.", "Admitted.")
    verdict = safe_verify(original, proof)
    assert verdict.accepted and verdict.evidence.axioms == ("Classical_Prop.classic",)
    verdict = safe_verify(original, proof, allowed_axioms=frozenset())
    assert not verdict.accepted and verdict.reason == "uses axiom Classical_Prop.classic"


def test_statement_meaning_is_checked_not_only_its_text() -> None:
    """``Require Import QArith`` opens Q_scope: the same text ``2 - 3 <> 0`` becomes true."""
    require_coq()
    original = "Theorem t : 2 - 3 <> 0.\nProof.\nAdmitted.\n"  # false in nat
    tricked = "Require Import QArith.\nTheorem t : 2 - 3 <> 0.\nProof.\n  discriminate.\nQed.\n"
    verdict = safe_verify(original, tricked)
    assert not verdict.accepted
    assert verdict.reason == "statement differs from the original after elaboration"
