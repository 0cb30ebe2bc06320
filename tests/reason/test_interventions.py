"""Bias interventions on the real HumanEval and MBPP tasks: the blocks they split into, every
intervention on every problem changing only its block (the AST check), and intervened
references passing the task's own check in the real sandbox (its rewritten tests, its entry
point, a time limit measured for the rewritten program). Measuring a model under the
interventions is tests/reason/test_biases.py."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from palestra.core.errors import PalestraError
from palestra.reason.code_tasks import CodeTask, check_all, program_digest
from palestra.reason.interventions import (
    INTERVENTIONS,
    Intervened,
    Skipped,
    anonymize_name,
    blocks,
    check_blocks,
    combined,
    intervene,
    keywords,
    lookup,
    misleading_name,
    remove_description,
    remove_examples,
    remove_keywords,
)
from palestra.reason.task import Problem, get_task

ALL = [*INTERVENTIONS, "anonymize_name+remove_examples", "misleading_name+remove_keywords"]


# ----------------------------------------------------------------------------- the data
@pytest.fixture(scope="module")
def humaneval_task(tmp_path_factory: pytest.TempPathFactory) -> CodeTask:
    task = get_task("humaneval", cache=tmp_path_factory.mktemp("times") / "times.json")
    assert isinstance(task, CodeTask)
    return task


@pytest.fixture(scope="module")
def mbpp_task(tmp_path_factory: pytest.TempPathFactory) -> CodeTask:
    task = get_task("mbpp", cache=tmp_path_factory.mktemp("times") / "times.json")
    assert isinstance(task, CodeTask)
    return task


@pytest.fixture(scope="module")
def humaneval(humaneval_task: CodeTask) -> dict[str, Problem]:
    return {p.id: p for p in humaneval_task.problems()}


@pytest.fixture(scope="module")
def mbpp(mbpp_task: CodeTask) -> dict[str, Problem]:
    return {p.id: p for p in mbpp_task.problems()}


@pytest.fixture(scope="module")
def render(mbpp_task: CodeTask, mbpp: dict[str, Problem]):
    return mbpp_task.render  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- blocks
def test_humaneval_blocks(humaneval: dict[str, Problem]) -> None:
    b = blocks(humaneval["HumanEval/0"])
    assert b.name == "has_close_elements"
    assert "".join(b.description).strip().startswith("Check if in given list of numbers")
    assert b.examples.strip().startswith(">>> has_close_elements([1.0, 2.0, 3.0], 0.5)")
    assert b.examples.strip().endswith("True")
    assert "def has_close_elements(numbers: List[float], threshold: float) -> bool:" in b.context
    assert "⟪docstring⟫" in b.context and ">>>" not in b.context

    # a Note section after the examples belongs to the description
    b = blocks(humaneval["HumanEval/99"])
    assert b.examples.lstrip().startswith("Examples") and "Note:" in b.description[1]
    # examples without a heading: the trailing lines that call the function
    b = blocks(humaneval["HumanEval/132"])
    assert b.examples.lstrip().startswith("is_nested('[[]]') ➞ True")
    # a docstring after an import (not a docstring to Python) is still the description
    assert "rectangular grid of wells" in "".join(blocks(humaneval["HumanEval/115"]).description)
    # no examples at all
    assert blocks(humaneval["HumanEval/38"]).examples == ""


def test_mbpp_blocks(mbpp: dict[str, Problem], render) -> None:
    p = mbpp["mbpp/11"]
    b = blocks(p)
    assert b.name == "remove_Occ"
    assert b.description == (p.question,)
    assert b.examples.splitlines() == p.meta["test_list"]
    assert b.context.count("[DONE]") == 3  # the three shots are context
    assert b.context.endswith("⟪examples⟫\n[BEGIN]\n")
    assert render("⟪description⟫", ["⟪examples⟫"]) == b.context


def test_keywords() -> None:
    assert keywords("Return sorted unique elements in a list", "unique") == ["sorted", "unique"]
    # a word sharing a stem with the name; a call is code, not a keyword
    assert keywords("Check if numbers are closer than poly(x).", "has_close_elements") == ["closer"]
    assert keywords("Write a function to do it.", "f") == []


# ----------------------------------------------------------------------------- interventions
def test_anonymize_renames_everywhere(
    humaneval: dict[str, Problem], mbpp: dict[str, Problem], render
) -> None:
    p = humaneval["HumanEval/32"]
    q = anonymize_name(p)
    assert q.id == "HumanEval/32~anonymize_name" and q.meta["entry_point"] == "func"
    assert q.meta["intervention"] == ["anonymize_name"] and q.meta["original_id"] == p.id
    assert "find_zero" not in q.prompt + q.reference + q.tests
    assert "def func(xs: list):" in q.prompt and ">>> round(func([1, 2]), 2)" in q.prompt
    assert q.tests.rstrip().endswith("check(func)")
    assert q.question == q.prompt

    m = anonymize_name(mbpp["mbpp/11"], render=render)
    assert m.meta["test_list"][0] == 'assert func("hello","l") == "heo"'
    assert m.reference.startswith("def func(s,ch):")
    assert "remove_Occ" not in m.prompt.split("[DONE]")[-1] + m.reference + m.tests


def test_plain_word_names_keep_the_prose(humaneval: dict[str, Problem]) -> None:
    """`median` is also an English word: the description keeps it, the code and the
    examples do not."""
    p = humaneval["HumanEval/47"]
    q = anonymize_name(p)
    assert "Return median of elements in the list l." in q.prompt
    assert ">>> func([3, 1, 2, 4, 5])" in q.prompt and "def func(l: list):" in q.prompt


def test_misleading_name_is_unrelated_and_seeded(humaneval: dict[str, Problem]) -> None:
    p = humaneval["HumanEval/10"]  # make_palindrome: is_palindrome shares a word, never chosen
    names = {misleading_name(p, seed=s).meta["entry_point"] for s in range(40)}
    assert "is_palindrome" not in names and len(names) > 3
    assert misleading_name(p, seed=3) == misleading_name(p, seed=3)


def test_description_and_examples_interventions(humaneval: dict[str, Problem]) -> None:
    p = humaneval["HumanEval/0"]
    q = remove_keywords(p)
    assert "closer" not in q.prompt and "threshold" in q.prompt
    assert blocks(q).examples == blocks(p).examples
    q = remove_description(p)
    assert "Check if" not in q.prompt and blocks(q).examples == blocks(p).examples
    q = remove_examples(p)
    assert ">>>" not in q.prompt and blocks(q).description == blocks(p).description


def test_every_intervention_on_every_problem_changes_only_its_block(
    humaneval: dict[str, Problem], mbpp: dict[str, Problem], render
) -> None:
    applied: dict[tuple[str, str], int] = {}
    for problem in [*humaneval.values(), *mbpp.values()]:
        for name in ALL:
            r = intervene(problem, name, render=render)  # raises if the AST check fails
            if isinstance(r, Skipped):
                assert r.reason and r.problem_id == problem.id
                continue
            assert isinstance(r, Intervened) and r.check.accepted
            assert r.problem.id.startswith(problem.id + "~")
            key = (problem.task, name)
            applied[key] = applied.get(key, 0) + 1
    # names and descriptions apply everywhere; examples and keywords where there are some
    for task, count in (("humaneval", 164), ("mbpp", 257)):
        assert applied[task, "anonymize_name"] == applied[task, "misleading_name"] == count
        assert applied[task, "remove_description"] == count
        assert applied[task, "remove_keywords"] > 0.9 * count
    assert applied["humaneval", "remove_examples"] == 158  # 5 have none, 1 interleaves
    assert applied["mbpp", "remove_examples"] == 257


def test_the_block_check_catches_changes_outside_the_block(
    humaneval: dict[str, Problem], mbpp: dict[str, Problem], render
) -> None:
    p = humaneval["HumanEval/0"]
    q = anonymize_name(p)
    assert check_blocks(p, q, {"name"})
    assert not check_blocks(p, q, {"description"})  # the name changed, not the description
    tampered = replace(q, tests=q.tests.replace("0.3) == True", "0.3) == False", 1))
    assert "tests changed" in check_blocks(p, tampered, {"name"}).reason
    tampered = replace(q, reference=q.reference.replace("<", "<=", 1))
    assert "reference changed" in check_blocks(p, tampered, {"name"}).reason
    tampered = replace(q, prompt=q.prompt.replace("List[float]", "list"))
    assert "context changed" in check_blocks(p, tampered, {"name"}).reason
    half = replace(q, prompt=q.prompt.replace("given threshold", "a threshold"))
    assert "description block changed" in check_blocks(p, half, {"name"}).reason

    m = mbpp["mbpp/11"]
    n = remove_examples(m, render=render)
    assert check_blocks(m, n, {"examples"}, render=render)
    frame = replace(n, prompt=n.prompt.replace("expert", "novice", 1))
    assert not check_blocks(m, frame, {"examples"}, render=render)


def test_intervened_references_pass_the_tasks_own_check(
    humaneval_task: CodeTask,
    mbpp_task: CodeTask,
    humaneval: dict[str, Problem],
    mbpp: dict[str, Problem],
    render,
) -> None:
    """Every intervention on a sample of problems: the task's check accepts the intervened
    reference, with a time limit measured for the rewritten program (the full data: see the
    interventions module docstring)."""
    rng = random.Random(0)
    for task, problems in ((humaneval_task, humaneval), (mbpp_task, mbpp)):
        items = []
        for pid in rng.sample(sorted(problems), 3):
            for name in ALL:
                r = intervene(problems[pid], name, render=render)
                if isinstance(r, Intervened):
                    items.append(r.problem)
        assert len(items) >= 15
        checked = check_all(task, [(q, task.reference_completion(q)) for q in items], workers=2)
        for q, c in zip(items, checked, strict=True):
            assert c.verdict, f"{q.id}: {c.verdict.reason}"
            digest = program_digest(*task.program(q, task.reference_completion(q)))
            assert task.times.get(digest) is not None  # its own limit, measured once


def test_the_check_runs_the_rewritten_tests(
    humaneval_task: CodeTask,
    mbpp_task: CodeTask,
    humaneval: dict[str, Problem],
    mbpp: dict[str, Problem],
    render,
) -> None:
    """The sandbox is a real judge: the original reference against the renamed tests, or the
    renamed prompt with the original tests, fails; a description edit keeps the program (and
    its measured time) of the original."""
    m = mbpp["mbpp/11"]
    q = anonymize_name(m, render=render)
    verdict = mbpp_task.check(q, mbpp_task.reference_completion(m)).verdict
    assert not verdict and "NameError" in verdict.reason and "'func'" in verdict.reason
    assert mbpp_task.check(q, mbpp_task.reference_completion(q)).verdict
    h = humaneval["HumanEval/0"]
    q = anonymize_name(h)
    verdict = humaneval_task.check(replace(q, tests=h.tests), q.reference).verdict
    assert not verdict and "has_close_elements" in verdict.reason
    d = remove_description(m, render=render)
    assert mbpp_task.program(d, d.reference) == mbpp_task.program(m, m.reference)
    assert mbpp_task.time_limit(d) == mbpp_task.time_limit(m)


def test_bad_requests(humaneval: dict[str, Problem], mbpp: dict[str, Problem], render) -> None:
    p = humaneval["HumanEval/0"]
    with pytest.raises(PalestraError, match="unknown intervention 'rename'"):
        intervene(p, "rename")
    with pytest.raises(PalestraError, match="unknown intervention 'rename'"):
        lookup("anonymize_name+rename")
    with pytest.raises(PalestraError, match="different blocks"):
        combined("anonymize_name", "misleading_name")
    with pytest.raises(PalestraError, match="entry_point"):
        blocks(replace(p, meta={}))
    gsm8k = get_task("gsm8k").problems()[0]
    for bad in (replace(p, task="gsm8k"), gsm8k):
        with pytest.raises(PalestraError, match="apply to humaneval and mbpp, not 'gsm8k'"):
            intervene(bad, "anonymize_name")
    with pytest.raises(PalestraError, match="not 'gsm8k'"):
        blocks(gsm8k)
    skipped = intervene(humaneval["HumanEval/38"], "remove_examples")
    assert isinstance(skipped, Skipped) and "no examples" in skipped.reason
    # without render=, MBPP interventions use the task's own prompt builder
    assert remove_description(mbpp["mbpp/11"]) == remove_description(mbpp["mbpp/11"], render=render)
