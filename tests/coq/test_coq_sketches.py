"""Proof sketches: terms from the statement, a population scored by a real coqidetop, goals
split and closed part by part, lessons carried to the next problem, proofs safe-verified."""

from __future__ import annotations

import json
from pathlib import Path

from palestra.coq.agent import prove_problem
from palestra.coq.config import ProveCoqConfig
from palestra.coq.search import CoqProblem, open_problem
from palestra.coq.sketches import (
    Lessons,
    definitions,
    denominators,
    hint_terms,
    instance_facts,
    sketch_search,
)
from palestra.coq.verify import safe_verify

from .conftest import require_coq

# nra alone fails; with 0 <= (a - c - 2)^2 it succeeds (miniF2F's algebra_sqineq_2at2pclta2c2p41pc)
SQUARE = """Require Import Reals.
Open Scope R_scope.
Theorem sq : forall a c : R, 2 * a * (2 + c) <= a^2 + c^2 + 4 * (1 + c).
Proof.
"""
# two parts needing different facts: found whole or split, the assembled script must replay
CONJ = """Require Import Reals.
Open Scope R_scope.
Theorem two : forall a c : R,
  2 * a * c <= a^2 + c^2 /\\ 2 * a * (2 + c) <= a^2 + c^2 + 4 * (1 + c).
Proof.
"""


# f is known only through two identities: instances of the first at small numbers, rewritten
# with the second, give equations in a, b, c that lra closes
INSTANCE = """Require Import Reals.
Open Scope R_scope.
Theorem inst : forall (a b c : R) (f : R -> R),
  (forall x, f (x + 1) = x^2 + 3 * x + 2) -> (forall x, f x = a * x^2 + b * x + c) ->
  a + b + c = 2.
Proof.
"""
# sqrt e = c: through sqrt_lem_1 (0 <= e, 0 <= c, c * c = e), each goal for nra
SQRT = """Require Import Reals.
Open Scope R_scope.
Theorem sq5 : forall x y : R, x + y = 7 -> x * y = 12 -> sqrt (x^2 + y^2) = 5.
Proof.
"""
# |2a - 4| < 2 in a hypothesis: a case split on its sign, then lra on each case
ABS = """Require Import Reals.
Open Scope R_scope.
Theorem abs2 : forall a : R, Rabs (2 * a - 4) < 2 -> 1 < a /\\ a < 3.
Proof.
"""
# a denominator in a hypothesis (cleared by multiplying through) and in the goal (the goal
# multiplied by its denominators, which are then shown nonzero)
HYP_FRACTION = """Require Import Reals.
Open Scope R_scope.
Theorem hf : forall x : R, x <> 1 -> (2 * x + 1) / (x - 1) = 3 -> x = 4.
Proof.
"""
GOAL_FRACTION = """Require Import Reals.
Open Scope R_scope.
Theorem gf : forall a : R, a = 2 -> 1 / (a + 1) + 1 / (a - 1) = 4 / 3.
Proof.
"""


def test_denominators_are_read_from_the_text() -> None:
    assert denominators("x + 2 / x = y + 2 / (y - (1 + z)) / 3") == ["x", "(y - (1 + z))"]
    assert denominators("a / 2 = 1 / 3") == []  # constants need no clearing


def test_instances_and_definitions_come_from_quantified_hypotheses() -> None:
    state = (
        "a, b, c : R\nf : R -> R\nH : forall x : R, f (x + 1) = x ^ 2 + 3 * x + 2\n"
        "H0 : forall x : R, f x = a * x ^ 2 + b * x + c\n========\na + b + c = 2"
    )
    facts = instance_facts(state)
    assert facts[0] == "pose proof (H 0); pose proof (H 1); pose proof (H (-1))"
    assert "pose proof (H0 (-3))" in facts
    assert definitions(state) == ["H0"]  # H's left side is not f applied to a variable


def test_new_sketch_shapes_prove_and_the_proofs_replay() -> None:
    """An instance, sqrt, a case split on Rabs, denominators cleared in a hypothesis and in
    the goal: each found by the population alone, and the assembled script replays to Qed in
    the same session."""
    require_coq()
    expect = {
        INSTANCE: "pose proof (H 0)",
        SQRT: "apply sqrt_lem_1",
        ABS: "Rcase_abs",
        HYP_FRACTION: "field_simplify in H0",
        GOAL_FRACTION: "Rmult_eq_reg_r ((a + 1) * (a - 1))",
    }
    for source, step in expect.items():
        problem = CoqProblem.from_source(source)
        with open_problem(problem, timeout=3.0) as (coq, _base):
            found = sketch_search(coq, seconds=30.0)
            assert found.proof is not None, source
            assert any(step in s for s in found.proof)
            for s in found.proof:
                coq.add(s, timeout=10.0)
            assert coq.proof_state().complete
            coq.add("Qed.")


def test_terms_come_from_the_statement() -> None:
    state = "a, c : R\n========\n2 * a * (2 + c) <= a ^ 2 + c ^ 2 + 4 * (1 + c)"
    terms = hint_terms(state)
    assert "a - c - 2" in terms and "a - c" in terms and "a" in terms
    assert all("b" not in t for t in terms)  # only the goal's variables
    assert hint_terms("n : nat\n========\nn + 0 = n") == []  # no real or integer variables


def test_the_population_finds_the_square_and_the_proof_checks(tmp_path: Path) -> None:
    require_coq()
    file = tmp_path / "sq.v"
    file.write_text(SQUARE)
    lessons = tmp_path / "lessons.json"
    cfg = ProveCoqConfig(file, budget=30.0, sketches=25.0, lessons=lessons)
    result = prove_problem(SQUARE, cfg)
    assert result.proved and result.proof is not None
    assert any("pow2_ge_0" in t for t in result.tactics)
    assert safe_verify(SQUARE, result.proof).accepted
    # the closer that worked is remembered for this goal shape and ranked first next time
    wins = json.loads(lessons.read_text())
    assert sum(sum(v.values()) for v in wins.values()) >= 1
    state = "x, y : R\n========\nx * y <= x ^ 2 + y ^ 2"
    closer = next(iter(next(iter(wins.values()))))
    assert Lessons(lessons).closers(state, ["lra", "nra"])[0] == closer


def test_a_sketch_of_a_conjunction_replays_to_a_closed_proof() -> None:
    require_coq()
    problem = CoqProblem.from_source(CONJ)
    with open_problem(problem, timeout=3.0) as (coq, base):
        found = sketch_search(coq, seconds=40.0)
        assert coq.tip == base  # the session is left where it was
        assert found.proof is not None and found.proof[0] == "intros."
        for step in found.proof:
            coq.add(step, timeout=10.0)
        assert coq.proof_state().complete
        coq.add("Qed.")


def test_bench_coq_keeps_each_arm_result_and_reports_the_halves(tmp_path: Path) -> None:
    """``palestra bench coq`` on two statement files: the +sketches arm adds the square
    inequality the search alone does not prove; a second run reads every result back."""
    require_coq()
    import pytest

    from palestra.coq.bench import CoqBenchOptions
    from palestra.core.bench import Bench, get_suite
    from palestra.core.errors import PalestraError

    problems = tmp_path / "valid"
    problems.mkdir()
    (problems / "sq.v").write_text(SQUARE + "Admitted.\n")
    easy = "Require Import Arith.\nTheorem easy (n : nat) : n + 0 = n.\nProof.\nAdmitted.\n"
    (problems / "easy.v").write_text(easy)
    opts = CoqBenchOptions(
        problems=problems,
        configs=("best-first:portfolio", "best-first:portfolio+sketches"),
        budget=12.0,
        sketches=8.0,
        quick_sample=2,
        runs=tmp_path / "runs",
    )
    bench = Bench("coq", quick=True, out_dir=tmp_path / "out", options=opts)
    get_suite("coq").run(bench)
    rows = {r["problem"]: r for r in bench.data["rows"]}
    assert rows["easy"]["plain"] and rows["easy"]["best-first:portfolio"]
    assert rows["sq"]["best-first:portfolio+sketches"]
    assert not rows["sq"]["best-first:portfolio"]
    assert bench.data["added"]["best-first:portfolio+sketches"] == ["sq"]
    assert {r["split"] for r in rows.values()} <= {"dev", "held-out"}
    kept = sorted(p.parent.name for p in (tmp_path / "runs").rglob("*.json"))
    assert len(kept) == 6  # 3 arms x 2 problems
    again = Bench("coq", quick=True, out_dir=tmp_path / "out2", options=opts)
    get_suite("coq").run(again)
    assert again.data["rows"] == bench.data["rows"]  # read back, not proved again
    bad = CoqBenchOptions(problems=problems, configs=("best-first:oracle",))
    with pytest.raises(PalestraError, match="unknown configuration"):
        get_suite("coq").run(Bench("coq", quick=True, out_dir=tmp_path / "o3", options=bad))


def test_the_population_stops_when_nothing_new_is_left() -> None:
    """A goal with no variables offers four sketches (two closers, alone or after sqrt_lem_1's
    split); once all failed the search returns instead of redrawing them until time ends."""
    require_coq()
    source = "Require Import Reals.\nOpen Scope R_scope.\nTheorem g : sqrt 2 = 1.\nProof.\n"
    with open_problem(CoqProblem.from_source(source), timeout=3.0) as (coq, _base):
        found = sketch_search(coq, seconds=600.0)
    assert found.proof is None
    assert found.evaluated == 4 and found.generations <= 8
