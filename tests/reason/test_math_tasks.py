"""The maths tasks: loading, prompts, gold answers accepted, IMO-AnswerBench fixes, bench parts."""

from __future__ import annotations

import shutil

import pytest

from palestra.core.bench import Bench
from palestra.core.data import find
from palestra.core.errors import PalestraError
from palestra.reason import math_tasks
from palestra.reason.bench_answers import answers_bench, near_misses, perturbations
from palestra.reason.task import Checked


def _needs(name):
    if find(name) is None:
        pytest.skip(f"data set {name} not found (palestra data list)")


@pytest.fixture(scope="module")
def math500():
    _needs("math500")
    task = math_tasks.Math500()
    return task, task.problems()


@pytest.fixture(scope="module")
def imobench():
    _needs("imobench")
    task = math_tasks.IMOAnswerBench()
    return task, task.problems()


@pytest.fixture(scope="module")
def gsm8k():
    _needs("gsm8k")
    task = math_tasks.GSM8K()
    return task, task.problems()


def test_counts(math500, imobench, gsm8k):
    assert len(math500[1]) == 500
    assert len(gsm8k[1]) == 1319
    assert len(imobench[1]) == 400
    assert len({p.id for p in imobench[1]}) == 400


@pytest.mark.parametrize("fixture", ["math500", "imobench", "gsm8k"])
def test_every_gold_answer_is_accepted(fixture, request):
    task, problems = request.getfixturevalue(fixture)
    rejected = []
    for p in problems:
        checked = task.check(p, task.reference_completion(p))
        assert isinstance(checked, Checked)
        if not checked.verdict:
            rejected.append((p.id, p.reference, checked.verdict.reason))
        assert checked.answer is not None
    assert rejected == []


def test_prompts_follow_the_papers(math500, gsm8k):
    task, problems = gsm8k
    prompt = task.prompt(problems[0])
    assert prompt.count("Q: ") == 9 and prompt.endswith("\nA:")
    assert prompt.count("The answer is") == 8
    task, problems = math500
    prompt = task.prompt(problems[0])
    assert prompt.count("Final Answer: The final answer is") == 4
    assert prompt.endswith(f"Problem:\n{problems[0].question}\n\nSolution:")
    assert "Final Answer" in task.messages(problems[0])[0]["content"]


def test_gsm8k_zeroshot_asks_in_the_word_problems_form(gsm8k):
    task = math_tasks.GSM8KZeroShot()
    problems = task.problems()
    assert len(problems) == 1319 and problems[0].id == "gsm8k-zeroshot/test/0"
    assert problems[0].prompt == f"Think step by step.\nQ: {gsm8k[1][0].question}\nA:"
    assert [p.reference for p in problems] == [p.reference for p in gsm8k[1]]
    assert all(task.check(p, task.reference_completion(p)).verdict for p in problems[:50])


def test_wrong_and_missing_answers(math500, gsm8k):
    task, problems = gsm8k
    p = problems[0]  # Janet's ducks: 18
    assert p.reference == "18"
    wrong = task.check(p, " She makes 9 * 3 = 27. The answer is 27.")
    assert not wrong.verdict and wrong.answer == "27"
    assert task.check(p, " 16 - 3 - 4 = 9 eggs, 9 * 2 = $18. The answer is $18.").verdict
    task, problems = math500
    p = problems[0]  # (3, pi/2)
    ok = task.check(p, r"Final Answer: The final answer is $(3, \pi/2)$. I hope it is correct.")
    assert ok.verdict and ok.verdict.evidence.how == "symbolic"
    none = task.check(p, "I do not know")
    assert not none.verdict and none.answer is None


def test_imobench_fixes(imobench):
    _, problems = imobench
    by_id = {p.id: p for p in problems}
    algebra = by_id["imo-bench-algebra-036"]
    assert algebra.reference == r"$Y(x)=A+\frac{B}{x}-x$"
    assert algebra.question.endswith("\\]") and "Y(x)=A" not in algebra.question
    assert (algebra.meta["category"], algebra.meta["source"]) == ("Algebra", "Iran 2002")
    assert by_id["imo-bench-geometry-004"].reference == "4, 5"
    number_theory = by_id["imo-bench-number_theory-048"]
    assert "e^{3}" in number_theory.reference and number_theory.meta["fix"]
    categories = [p.meta["category"] for p in problems]
    assert {c: categories.count(c) for c in set(categories)} == {
        "Algebra": 100,
        "Combinatorics": 100,
        "Geometry": 100,
        "Number theory": 100,
    }
    assert set(math_tasks.FIXES) == {
        "imo-bench-algebra-036",
        "imo-bench-geometry-004",
        "imo-bench-number_theory-048",
    }


def test_a_copy_that_differs_from_the_pin_is_an_error(tmp_path):
    _needs("math500")
    from palestra.core.data import locate

    shutil.copy(locate("math500", part="test.jsonl"), tmp_path / "test.jsonl")
    with open(tmp_path / "test.jsonl", "a") as f:
        f.write("\n")
    with pytest.raises(PalestraError, match="differs from the pinned copy"):
        math_tasks.Math500().problems(tmp_path)
    assert len(math_tasks.Math500(verify=False).problems(tmp_path)) == 500


def test_perturbations():
    import random

    kinds = dict(perturbations(r"\{1, 2, 3\}", random.Random(0)))
    assert set(kinds) == {"digit", "sign", "drop"}
    assert kinds["drop"] == r"\{1, 2\}"
    assert kinds["sign"] == r"\{-1, 2, 3\}"
    assert "sign" not in dict(perturbations("0", random.Random(0)))


def test_near_misses_are_rejected(math500, imobench):
    for task, problems in (math500, imobench):
        rows = near_misses(task, problems[:60], seed=1)
        assert len(rows) > 60
        assert [r for r in rows if r.ours] == []


def test_answers_bench_on_a_sample(tmp_path):
    _needs("math500")
    _needs("imobench")
    bench = Bench("answers", out_dir=tmp_path, seed=0)
    answers_bench(bench, sample=15)
    figures = {f.name: f.value for f in bench.figures}
    assert figures["math500: gold vs gold accepted"] == 100
    assert figures["imobench: near misses wrongly accepted"] == 0
    assert bench.tables[0]["rows"][0][:3] == ["math500", 15, 15]
    json_path, md_path = bench.write()
    assert json_path.exists()
    assert "near misses" in md_path.read_text()
