"""The independent proof checker: it accepts the prover's proofs and rejects corrupted ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from palestra.core.verdict import Verdict
from palestra.logic.syntax import START, Fn, Lit, Matrix, Var
from palestra.prove.calculus import Options, prove
from palestra.prove.checker import TableauEvidence, check
from palestra.prove.proof import ConnectionProof, ProofStep

a, b = Fn("a"), Fn("b")
X = Var("X")


def lit(s: str, *args: Fn | Var) -> Lit:
    return Lit(not s.startswith("-"), Fn(s.lstrip("-"), tuple(args)))


EXAMPLE: Matrix = [(lit("q", a),), (lit("-p"),), (lit("p"), lit("-q", X))]
REDUCTION: Matrix = [
    (lit("p"), lit("q")),
    (lit("-p"), lit("q")),
    (lit("p"), lit("-q")),
    (lit("-p"), lit("-q")),
]
CONJ: Matrix = [(lit("q", a),), (Lit(False, START),), (Lit(True, START), lit("-q", X))]


def proof_of(matrix: Matrix, options: Options | None = None) -> ConnectionProof:
    result = prove(matrix, options or Options())
    assert result.proof is not None
    return result.proof


def edit(proof: ConnectionProof, sid: int, f: Callable[[ProofStep], ProofStep]) -> ConnectionProof:
    """``proof`` with step ``sid`` replaced by ``f(step)``."""

    def go(step: ProofStep) -> ProofStep:
        if step.id == sid:
            return f(step)
        return replace(step, children=tuple(go(c) for c in step.children))

    return replace(proof, start=go(proof.start))


def rejected(matrix: Matrix, proof: ConnectionProof, reason: str) -> None:
    verdict = check(matrix, proof)
    assert isinstance(verdict, Verdict)
    assert not verdict.accepted and not verdict and verdict.evidence is None
    assert reason in verdict.reason, verdict.reason


@pytest.mark.parametrize(
    ("matrix", "options"),
    [
        (EXAMPLE, Options()),
        (REDUCTION, Options()),
        (REDUCTION, Options(cut=False, comp=None)),
        (CONJ, Options(conj=True, cut=False, comp=None)),
    ],
)
def test_accepts_prover_proofs(matrix: Matrix, options: Options) -> None:
    proof = proof_of(matrix, options)
    verdict = check(matrix, proof)
    assert verdict.accepted, verdict.reason
    rules = [s.rule for s in proof.steps()]
    assert verdict.evidence == TableauEvidence(
        len(rules), rules.count("extension"), rules.count("reduction"), rules.count("lemma")
    )
    assert verdict.to_json()["evidence"]["steps"] == len(rules)
    assert check(matrix, ConnectionProof.from_dict(proof.to_dict())).accepted


def test_rejects_wrong_substitution() -> None:
    proof = proof_of(EXAMPLE)
    assert proof.substitution == {"X_1": a}
    rejected(EXAMPLE, replace(proof, substitution={"X_1": b}), "not complementary")
    rejected(EXAMPLE, replace(proof, substitution={}), "not complementary")


def test_rejects_missing_branch() -> None:
    proof = proof_of(REDUCTION)
    # the start clause [#, p, q] has two open literals; drop the proof of q
    cut_short = replace(proof, start=replace(proof.start, children=proof.start.children[:1]))
    rejected(REDUCTION, cut_short, "2 open literals but 1 child steps")


def test_rejects_non_complementary_connection() -> None:
    proof = proof_of(EXAMPLE)
    # step 1 connects goal q(a) with -q(X) at position 1; claim position 0 (p) instead
    rejected(EXAMPLE, edit(proof, 1, lambda s: replace(s, connected=0)), "not complementary")
    # or flip the sign of a goal (and of the instance literal it stands for)
    flipped = edit(proof, 2, lambda s: replace(s, goal=lit("-p")))
    rejected(EXAMPLE, flipped, "goal is not its instance literal")


def test_rejects_bad_reduction_and_lemma() -> None:
    proof = proof_of(REDUCTION)
    rules = [s.rule for s in proof.steps()]
    assert rules == ["extension", "extension", "extension", "reduction", "extension", "lemma"]
    rejected(REDUCTION, edit(proof, 3, lambda s: replace(s, ancestor=0)), "not complementary")
    rejected(REDUCTION, edit(proof, 3, lambda s: replace(s, ancestor=7)), "no path literal 7")
    # step 2 closed q below step 1: not a left sibling of the lemma's goal or its ancestors
    rejected(REDUCTION, edit(proof, 5, lambda s: replace(s, lemma=2)), "not a closed left sibling")


def test_rejects_instance_that_is_not_a_renaming() -> None:
    proof = proof_of(EXAMPLE)
    wrong = edit(proof, 1, lambda s: replace(s, instance=(lit("p"), lit("-q", a))))
    rejected(EXAMPLE, wrong, "not a renaming of clause 2")
    wrong = edit(proof, 1, lambda s: replace(s, clause=1))
    rejected(EXAMPLE, wrong, "not a copy of clause 1")


def test_rejects_shared_variables_between_instances() -> None:
    matrix: Matrix = [(lit("q", X),), (lit("-q", X),)]
    proof = proof_of(matrix, Options(cut=False, comp=None))
    # rename the variable of step 1's instance to that of step 0
    v0 = proof.start.instance[1].atom.args[0]  # type: ignore[index, union-attr]
    shared = edit(proof, 1, lambda s: replace(s, instance=(lit("-q", v0),)))
    shared = replace(shared, substitution={})
    rejected(matrix, shared, "also occurs in step 0")


def test_rejects_illegal_start() -> None:
    # with conjecture markers the start must connect -# to a clause carrying #
    proof = proof_of(CONJ, Options(conj=True, cut=False, comp=None))
    rejected(CONJ, edit(proof, 0, lambda s: replace(s, clause=0)), "not a copy of clause 0")
    # the implicit marker is only for clauses without negative literals, without conj
    fake = ConnectionProof(
        ProofStep(
            0, "extension", Lit(False, START), 2, 0, (Lit(True, START), lit("p"), lit("-q", X))
        )
    )
    rejected(EXAMPLE, fake, "not a copy of clause 2")
    rejected(
        EXAMPLE,
        replace(proof_of(EXAMPLE), start=ProofStep(0, "lemma", Lit(False, START), lemma=0)),
        "start step",
    )


def test_rejects_duplicate_ids() -> None:
    proof = proof_of(REDUCTION)
    rejected(REDUCTION, edit(proof, 4, lambda s: replace(s, id=1)), "duplicate step id")


def test_checker_does_not_load_the_calculus() -> None:
    import subprocess
    import sys

    code = "import sys, palestra.prove.checker; sys.exit('palestra.prove.calculus' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    from palestra.prove import check as exported

    assert exported is check
