"""The word-problem world: seeded generation, held-out templates, every answer recomputed by
the text-reading verifier (not the generator's number), the three styles in agreement, and
its registrations (``palestra train lm --task wordproblems``, ``palestra eval wordproblems``)."""

from __future__ import annotations

import random
import re
from fractions import Fraction
from pathlib import Path

import pytest

from palestra.core.errors import PalestraError
from palestra.lm.scratchpad import make_task
from palestra.reason import wordproblems as wp
from palestra.reason.task import get_task

TASKS = ("wordproblems", "wordproblems-direct", "wordproblems-calc", "wordproblems-train")


def many(seed: int, count: int, scenarios: tuple[str, ...] = tuple(wp.SCENARIOS)) -> list:
    rng = random.Random(seed)
    return [
        wp.generate(rng, steps=rng.randint(1, 6), digits=rng.randint(1, 4), scenarios=scenarios)
        for _ in range(count)
    ]


def test_generation_is_deterministic_per_seed() -> None:
    assert many(3, 50) == many(3, 50)
    assert many(3, 50) != many(4, 50)
    a = [wp.training_example(random.Random(9)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    task = make_task("wordproblems")
    stream = [task.sample(random.Random(5)) for _ in range(2)]
    assert stream[0] == stream[1]


def test_difficulty_is_the_number_of_steps() -> None:
    rng = random.Random(0)
    for steps in range(1, 8):
        problem = wp.generate(rng, steps=steps)
        assert problem.steps == steps
        assert problem.solutions["steps"].count(" = ") == steps  # one equation per step
    with pytest.raises(PalestraError):
        wp.generate(rng, steps=0)


def test_every_answer_is_recomputed_from_the_text_and_every_style_checks() -> None:
    for problem in many(1, 600):
        scenario, answer = wp.solve_question(problem.question)
        assert scenario == problem.scenario and answer == problem.answer
        for style in wp.STYLES:
            ok, reason = wp.check_solution(problem.question, problem.solutions[style])
            assert ok, (problem, style, reason)
        # all intermediate values are positive integers: the equations say so
        for left, right in re.findall(r"(\d+) [-+*/] \d+ = (\d+)", problem.solutions["steps"]):
            assert int(left) >= 1 and int(right) >= 1


def test_the_verifier_rejects_wrong_solutions() -> None:
    problem = many(2, 1)[0]
    steps = problem.solutions["steps"]
    wrong_answer = steps.replace(f"The answer is {problem.answer}.", "The answer is 0.")
    assert not wp.check_solution(problem.question, wrong_answer)[0]
    first = re.search(r"= (\d+)\.", steps)
    assert first is not None
    false_step = steps[: first.start(1)] + str(int(first.group(1)) + 1) + steps[first.end(1) :]
    assert not wp.check_solution(problem.question, false_step)[0]
    assert not wp.check_solution(problem.question, " I do not know.")[0]
    with pytest.raises(PalestraError):
        wp.solve_question(
            "Mia has 3 apples. It goes 4 km further. How many apples does Mia have now?"
        )
    with pytest.raises(PalestraError):
        wp.solve_question("Mia has 3 pears. How many pears does Mia have now?")


def test_held_out_templates_are_disjoint_from_training() -> None:
    assert set(wp.HELD_OUT).isdisjoint(wp.TRAINING) and set(wp.HELD_OUT) | set(wp.TRAINING) == set(
        wp.SCENARIOS
    )
    held_forms = {f for s in wp.HELD_OUT for f in wp.SCENARIOS[s].moves.values()}
    train_forms = {f for s in wp.TRAINING for f in wp.SCENARIOS[s].moves.values()}
    assert held_forms.isdisjoint(train_forms)
    rng = random.Random(0)
    for _ in range(400):  # the training mixture reads back as training scenarios only
        prompt, _ = wp.training_example(rng)
        _, question = wp.parse_prompt(prompt)
        assert wp.solve_question(question)[0] in wp.TRAINING
    held = get_task("wordproblems").problems()
    assert {wp.solve_question(p.question)[0] for p in held} == set(wp.HELD_OUT)
    train = get_task("wordproblems-train").problems()
    assert {wp.solve_question(p.question)[0] for p in train} <= set(wp.TRAINING)


@pytest.mark.parametrize("name", TASKS)
def test_reason_tasks_accept_their_references(name: str) -> None:
    task = get_task(name)
    problems = task.problems()
    assert problems == task.problems() and len({p.id for p in problems}) == len(problems) == 200
    assert [p.meta["steps"] for p in problems[:8]] == [1, 2, 3, 4, 1, 2, 3, 4]
    for p in problems[:40]:
        checked = task.check(p, task.reference_completion(p))
        assert checked.verdict, checked.verdict.reason
        assert Fraction(checked.answer) == wp.solve_question(p.question)[1]
        assert not task.check(p, " The answer is 100000.").verdict
    with pytest.raises(PalestraError):
        task.problems(data=Path("/nonexistent"))


def test_the_three_styles_agree_and_prompts_pick_them() -> None:
    direct, calc, steps = (get_task(n) for n in TASKS[1:3] + TASKS[:1])
    for pd, pc, ps in zip(
        direct.problems()[:30], calc.problems()[:30], steps.problems()[:30], strict=True
    ):
        assert pd.question == pc.question == ps.question
        answers = {
            t.check(p, t.reference_completion(p)).answer
            for t, p in ((direct, pd), (calc, pc), (steps, ps))
        }
        assert len(answers) == 1
        assert wp.parse_prompt(pd.prompt)[0] == "direct"
        assert wp.parse_prompt(pc.prompt)[0] == "calculator"
        assert "<<" in calc.reference_completion(pc) and "<<" not in steps.reference_completion(ps)


def test_the_training_task_checks_the_answer_from_the_prompt() -> None:
    task = make_task("wordproblems", digits=2, reasoning_steps=3)
    rng = random.Random(1)
    styles = set()
    for _ in range(200):
        prompt, target = task.sample(rng)
        styles.add(wp.parse_prompt(prompt)[0])
        assert task.check(prompt, target)
        assert not task.check(prompt, target.replace("The answer is", "The answer is 9"))
    assert styles == {None, *wp.STYLES}


def test_expression_evaluator_is_arithmetic_only() -> None:
    assert wp.evaluate_expression("(12+7)*3/2") == Fraction(57, 2)
    assert wp.evaluate_expression("-2.5+1") == Fraction(-3, 2)
    for bad in ("__import__('os')", "2**100000", "1/0", "x", "1" * 300):
        with pytest.raises(PalestraError):
            wp.evaluate_expression(bad)


def test_arithmetic_score_never_needs_the_answer() -> None:
    problem = many(5, 1, wp.TRAINING)[0]
    while problem.steps < 2:
        problem = wp.generate(random.Random(problem.answer), steps=3)
    assert wp.arithmetic_score(problem.question, problem.solutions["steps"]) == 1.0
    assert wp.arithmetic_score(problem.question, problem.solutions["calculator"]) == 1.0
    assert wp.arithmetic_score(problem.question, problem.solutions["direct"]) == 0.5
    assert wp.arithmetic_score(problem.question, " no answer") == 0.0
    lines = problem.solutions["steps"].split("\n")
    m = re.search(r"= (\d+)\.", lines[0])
    lines[0] = lines[0][: m.start(1)] + str(int(m.group(1)) + 1) + "."
    assert wp.arithmetic_score(problem.question, "\n".join(lines)) < 1.0


def test_palestra_train_lm_trains_on_the_world(tmp_path: Path) -> None:
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    cfg = LMTrainConfig(
        task="wordproblems",
        block_size=512,
        n_layer=1,
        n_head=2,
        d_model=16,
        steps=2,
        batch_size=2,
        warmup=1,
        eval_every=2,
        eval_examples=1,
        runs_root=tmp_path,
        progress=False,
    )
    run = train(cfg)
    assert (run / "model" / "model.safetensors").is_file()
    assert "answer_accuracy" in (run / "metrics.jsonl").read_text()
