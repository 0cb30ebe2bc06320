"""Safe verify: honest proofs pass; wrong, admitted, axiom-using or restated ones do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.coq.verify import _declarations, parse_assumptions, safe_verify
from palestra.core.errors import PalestraError

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
    assert verdict.evidence.statement_check == "printed" and verdict.evidence.axioms == ()


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


# ------------------------------------------- what the statement file itself may assume (#22)
FALSE_THEOREM = "Theorem t : 1 + 1 = 3.\n"


def _pair(before: str, tactic: str) -> tuple[str, str]:
    """A statement file (``before`` + a false theorem) and a candidate proving it with
    ``tactic``; the candidate adds nothing to the statement file."""
    original = before + FALSE_THEOREM + "Proof.\nAdmitted.\n"
    return original, before + FALSE_THEOREM + f"Proof.\n  {tactic}\nQed.\n"


def test_parse_assumptions_keeps_unsafe_flags_apart() -> None:
    printed = (
        "Axioms:\nCandidate.loop is assumed to be guarded.\n"
        "Candidate.Bad is assumed to be positive.\nCandidate.cheat : False\n"
    )
    axioms, others = parse_assumptions(printed)
    assert axioms == ["Candidate.cheat"]
    assert others == [
        "Candidate.loop is assumed to be guarded.",
        "Candidate.Bad is assumed to be positive.",
    ]


def test_declarations_the_printed_comparison_renames() -> None:
    sentences = [
        "Require Import Reals.",
        "Parameters (n : nat) (cheat : False).",
        "Axioms a b : nat.",
        "#[local] Definition d := 1.",
        "Inductive c := red | blue.",
        "Module M.",
        "Axiom inside : False.",
        "End M.",
        "Record R := mk { f : nat; g : nat }.",
        "Lemma l : True.",
    ]
    expected = ["n", "cheat", "a", "b", "d", "c", "red", "blue", "R", "mk", "f", "g", "l"]
    assert _declarations(sentences) == expected  # not M's Axiom: inside a module


def test_an_axiom_of_the_statement_file_is_rejected_unless_allowed() -> None:
    """The attack: ``Axiom cheat : False.`` before a false theorem, proved by ``destruct``."""
    require_coq()
    original, candidate = _pair("Axiom cheat : False.\n", "destruct cheat.")
    verdict = safe_verify(original, candidate)
    assert not verdict.accepted
    assert verdict.reason.startswith("uses axiom cheat, which the statement file itself assumes")
    assert verdict.evidence.axioms == ("Candidate.cheat",)
    allowed = safe_verify(original, candidate, allow_axioms=("cheat",))  # the user's choice
    assert allowed.accepted and allowed.reason == "accepted, assuming cheat (allowed by the caller)"
    other = safe_verify(original, candidate, allow_axioms=("classic", "Candidate.other"))
    assert not other.accepted


SMUGGLING_ROUTES = {
    "Parameter": ("Parameter cheat : False.\n", "destruct cheat."),
    "Axioms, several names": ("Axioms other cheat : False.\n", "destruct cheat."),
    "Parameters, binders": ("Parameters (n : nat) (cheat : False).\n", "destruct cheat."),
    "Conjecture": ("Conjecture cheat : False.\n", "destruct cheat."),
    "Hypothesis outside a section": ("Hypothesis cheat : False.\n", "destruct cheat."),
    "Variable outside a section": ("Variable cheat : False.\n", "destruct cheat."),
    "Context outside a section": ("Context (cheat : False).\n", "destruct cheat."),
    "Local Axiom": ("Local Axiom cheat : False.\n", "destruct cheat."),
    "#[local] Axiom": ("#[local] Axiom cheat : False.\n", "destruct cheat."),
    "Admitted lemma": ("Lemma cheat : False.\nProof.\nAdmitted.\n", "destruct cheat."),
    "Admitted definition": ("Definition cheat : False.\nAdmitted.\n", "destruct cheat."),
    "Declare Module": (
        "Module Type T.\nAxiom cheat : False.\nEnd T.\nDeclare Module M : T.\n",
        "destruct M.cheat.",
    ),
    "Axiom in a module": ("Module M.\nAxiom cheat : False.\nEnd M.\n", "destruct M.cheat."),
    "Instance without proof": (
        "Class Bot := bot : False.\n#[export] Instance cheat : Bot.\nAdmitted.\n",
        "destruct bot.",
    ),
    "Declare Instance": (
        "Class Bot := bot : False.\n#[export] Declare Instance cheat : Bot.\n",
        "destruct bot.",
    ),
    "Program obligation admitted": (
        "Require Import Program.\nProgram Definition cheat : False := _.\nAdmit Obligations.\n",
        "destruct cheat.",
    ),
    "Unset Guard Checking": (
        "Unset Guard Checking.\nFixpoint cheat (n : nat) : False := cheat n.\n"
        "Set Guard Checking.\n",
        "destruct (cheat 0).",
    ),
    "bypass_check(positivity)": (
        "#[bypass_check(positivity)] Inductive Bad := bad : (Bad -> False) -> Bad.\n"
        "Definition cheat : False :=\n"
        "  let f := fun b : Bad => match b with bad g => g b end in f (bad f).\n",
        "destruct cheat.",
    ),
    "modules named like the standard library": (
        "Module Coq. Module Logic. Module Classical_Prop.\nAxiom classic : False.\n"
        "End Classical_Prop. End Logic. End Coq.\n",
        "destruct Coq.Logic.Classical_Prop.classic.",
    ),
}


@pytest.mark.parametrize("route", list(SMUGGLING_ROUTES))
def test_every_way_a_statement_file_assumes_something_is_rejected(route: str) -> None:
    require_coq()
    original, candidate = _pair(*SMUGGLING_ROUTES[route])
    verdict = safe_verify(original, candidate)
    assert not verdict.accepted, route
    assert "the statement file itself assumes" in verdict.reason or (
        verdict.reason.startswith("unsafe assumptions:")
    ), verdict.reason


@pytest.mark.parametrize(
    "before",
    [
        "Section S.\nVariable cheat : False.\n",  # the theorem inside an open section
        "Module M.\nAxiom cheat : False.\n",  # ... or module
        "Module Type T.\nParameter cheat : False.\nEnd T.\nModule F (X : T).\n",  # ... or functor
    ],
)
def test_a_theorem_inside_an_open_block_is_refused(before: str) -> None:
    require_coq()
    original, candidate = _pair(before, "destruct cheat.")
    with pytest.raises(PalestraError, match="the statement file does not compile"):
        safe_verify(original, candidate)


def test_an_unrelated_parameter_does_not_weaken_the_statement_check() -> None:
    """Before #22 a Parameter in the statement file made the check textual, so the QArith
    trick of ``test_statement_meaning_is_checked_not_only_its_text`` passed again."""
    require_coq()
    original = "Parameter p : nat.\nTheorem t : 2 - 3 <> 0.\nProof.\nAdmitted.\n"  # false in nat
    tricked = (
        "Require Import QArith.\nParameter p : nat.\nTheorem t : 2 - 3 <> 0.\n"
        "Proof.\n  discriminate.\nQed.\n"
    )
    verdict = safe_verify(original, tricked)
    assert not verdict.accepted and verdict.evidence.statement_check == "conversion"
    assert verdict.reason == "statement differs from the original after elaboration"


# miniF2F's amc12a_2016_p3 (LLM4Rocq's minif2f_rocq, valid/; MIT, Copyright (c) 2025 LLM4Rocq):
# the one statement file of the 244 that declares a Parameter and an Axiom of its own
AMC12A_2016_P3 = """Require Import Coq.Reals.Reals.
Open Scope R_scope.


Parameter Rfloor : R -> Z.
Axiom Rfloor_spec : forall x : R,
  IZR (Rfloor x) <= x < IZR (Rfloor x) + 1.



Theorem amc12a_2016_p3:
  forall (f : R -> R -> R),
    (forall (x y : R), y <> 0 -> f x y = x - y * IZR (Rfloor (x / y))) ->
    f (3 / 8) (-(2 / 5)) = -(1 / 40).

Proof.
"""
AMC12A_2016_P3_PROOF = """  intros f Hf.
  rewrite Hf by lra.
  replace (3 / 8 / - (2 / 5)) with (- (15 / 16)) by field.
  destruct (Rfloor_spec (- (15 / 16))) as [H1 H2].
  assert (Hz : Rfloor (- (15 / 16)) = (-1)%Z).
  { assert (A : (-2 < Rfloor (- (15 / 16)))%Z) by (apply lt_IZR; lra).
    assert (B : (Rfloor (- (15 / 16)) < 0)%Z) by (apply lt_IZR; simpl; lra).
    lia. }
  rewrite Hz. lra.
Qed.
"""


def test_a_legitimate_proof_using_the_statement_files_axiom_needs_the_allow_list() -> None:
    require_coq()
    proof = "Require Import Lia Lra.\n" + AMC12A_2016_P3 + AMC12A_2016_P3_PROOF
    verdict = safe_verify(AMC12A_2016_P3, proof)
    assert not verdict.accepted
    assert verdict.reason.startswith("uses axiom Rfloor_spec, Rfloor, which the statement file")
    verdict = safe_verify(AMC12A_2016_P3, proof, allow_axioms=("Rfloor", "Rfloor_spec"))
    assert verdict.accepted, verdict.reason
    assert verdict.evidence.statement_check == "printed"
    assert {"Candidate.Rfloor", "Candidate.Rfloor_spec"} <= set(verdict.evidence.axioms)
