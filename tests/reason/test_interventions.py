"""Bias interventions on real HumanEval and MBPP problems: the blocks they split into, every
intervention on every problem changing only its block (the AST check), intervened references
passing their rewritten tests in the real sandbox, and the pass@1 table with a tiny trained
model and with a model that writes the references."""

from __future__ import annotations

import ast
import gzip
import json
import random
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from palestra.core.data import locate
from palestra.core.errors import PalestraError
from palestra.lm.backends import Completion, LocalBackend, OpenAIBackend
from palestra.lm.config import LMTrainConfig
from palestra.lm.serve_config import ServeConfig
from palestra.lm.server import ModelServer
from palestra.lm.train import train
from palestra.reason.interventions import (
    INTERVENTIONS,
    Intervened,
    Skipped,
    anonymize_name,
    blocks,
    check_blocks,
    check_reference,
    combined,
    intervene,
    intervention_table,
    keywords,
    misleading_name,
    remove_description,
    remove_examples,
    remove_keywords,
)
from palestra.reason.task import Problem

ALL = [*INTERVENTIONS, "anonymize_name+remove_examples", "misleading_name+remove_keywords"]


# ----------------------------------------------------------------------------- the data
# Problems of the shapes reason/code_tasks.py agreed on, built from the raw files.
def humaneval_problems() -> list[Problem]:
    problems = []
    with gzip.open(locate("humaneval"), "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            tests = r["test"] + f"\ncheck({r['entry_point']})\n"
            meta = {"entry_point": r["entry_point"]}
            problems.append(
                Problem(
                    "humaneval",
                    r["task_id"],
                    r["prompt"],
                    r["prompt"],
                    r["canonical_solution"],
                    tests,
                    meta,
                )
            )
    return problems


def _task(question: str, tests: list[str]) -> str:
    return (
        f"You are an expert Python programmer, and here is your task: {question} "
        "Your code should pass these tests:\n\n" + "\n".join(tests) + "\n"
    )


def mbpp_rows() -> list[dict]:
    return json.loads(Path(locate("mbpp")).read_text(encoding="utf-8"))


def make_render(rows: list[dict]):
    """MBPP's 3-shot prompt (Austin et al. 2021: tasks 2, 3, 4 as the shots)."""
    by_id = {r["task_id"]: r for r in rows}
    shots = "".join(
        _task(by_id[i]["prompt"], by_id[i]["test_list"])
        + "[BEGIN]\n"
        + by_id[i]["code"]
        + "\n[DONE]\n"
        for i in (2, 3, 4)
    )
    return lambda question, tests: shots + _task(question, tests) + "[BEGIN]\n"


def mbpp_problems(rows: list[dict], render) -> list[Problem]:
    problems = []
    for r in rows:
        if not 11 <= r["task_id"] <= 510:
            continue
        with warnings.catch_warnings():  # invalid escapes ('\w') in some references
            warnings.simplefilter("ignore", DeprecationWarning)
            code = ast.parse(r["code"])
        defined = {n.name for n in code.body if isinstance(n, ast.FunctionDef)}
        calls = ast.walk(ast.parse(r["test_list"][0]))
        entry = next(
            n.func.id
            for n in calls
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in defined
        )
        meta = {
            "entry_point": entry,
            "test_list": r["test_list"],
            "test_imports": r["test_imports"],
        }
        problems.append(
            Problem(
                "mbpp",
                f"mbpp/{r['task_id']}",
                render(r["prompt"], r["test_list"]),
                r["prompt"],
                r["code"],
                "\n".join(r["test_imports"] + r["test_list"]) + "\n",
                meta,
            )
        )
    return problems


@pytest.fixture(scope="module")
def humaneval() -> dict[str, Problem]:
    return {p.id: p for p in humaneval_problems()}


@pytest.fixture(scope="module")
def render():
    return make_render(mbpp_rows())


@pytest.fixture(scope="module")
def mbpp(render) -> dict[str, Problem]:
    return {p.id: p for p in mbpp_problems(mbpp_rows(), render)}


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
def test_anonymize_renames_everywhere(humaneval: dict[str, Problem], mbpp: dict) -> None:
    p = humaneval["HumanEval/32"]
    q = anonymize_name(p)
    assert q.id == "HumanEval/32~anonymize_name" and q.meta["entry_point"] == "func"
    assert q.meta["intervention"] == ["anonymize_name"] and q.meta["original_id"] == p.id
    assert "find_zero" not in q.prompt + q.reference + q.tests
    assert "def func(xs: list):" in q.prompt and ">>> round(func([1, 2]), 2)" in q.prompt
    assert q.tests.rstrip().endswith("check(func)")
    assert q.question == q.prompt

    m = anonymize_name(mbpp["mbpp/11"], render=make_render(mbpp_rows()))
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


def test_intervened_references_pass_in_the_sandbox(
    humaneval: dict[str, Problem], mbpp: dict[str, Problem], render
) -> None:
    rng = random.Random(0)
    sample = rng.sample(sorted(humaneval.values(), key=lambda p: p.id), 4) + rng.sample(
        sorted(mbpp.values(), key=lambda p: p.id), 4
    )
    for problem in sample:
        for name in ALL:
            r = intervene(problem, name, render=render)
            if isinstance(r, Intervened):
                verdict = check_reference(r.problem)
                assert verdict, f"{r.problem.id}: {verdict.reason}"
    # the sandbox is a real judge: tests renamed without the reference fail
    q = anonymize_name(humaneval["HumanEval/0"])
    broken = replace(q, prompt=humaneval["HumanEval/0"].prompt)
    assert "NameError" in check_reference(broken).reason


def test_bad_requests(humaneval: dict[str, Problem], mbpp: dict[str, Problem], monkeypatch) -> None:
    p = humaneval["HumanEval/0"]
    with pytest.raises(PalestraError, match="unknown intervention 'rename'"):
        intervene(p, "rename")
    with pytest.raises(PalestraError, match="different blocks"):
        combined("anonymize_name", "misleading_name")
    with pytest.raises(PalestraError, match="entry_point"):
        blocks(replace(p, meta={}))
    with pytest.raises(PalestraError, match="not 'gsm8k'"):
        blocks(replace(p, task="gsm8k"))
    monkeypatch.setitem(sys.modules, "palestra.reason.code_tasks", None)  # not importable
    with pytest.raises(PalestraError, match="need render="):
        remove_description(mbpp["mbpp/11"])
    skipped = intervene(humaneval["HumanEval/38"], "remove_examples")
    assert isinstance(skipped, Skipped) and "no examples" in skipped.reason


# ----------------------------------------------------------------------------- the runner
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny byte-level model (it learned addition, not Python: its pass@1 is about 0)."""
    cfg = LMTrainConfig(
        task="addition",
        tokenizer="byte",
        digits=2,
        n_layer=1,
        n_head=2,
        d_model=32,
        block_size=2048,  # a 3-shot MBPP prompt is about 1,500 bytes
        steps=20,
        batch_size=8,
        lr=3e-3,
        warmup=2,
        eval_every=20,
        checkpoint_every=20,
        eval_examples=2,
        runs_root=tmp_path_factory.mktemp("runs"),
        progress=False,
    )
    return train(cfg)


@pytest.fixture(scope="module")
def tiny(run_dir: Path) -> LocalBackend:
    return LocalBackend(run_dir)


class Writer:
    """A model that writes each problem's reference (found by its prompt), or ``wrong``."""

    def __init__(self, problems: list[Problem], wrong: str | None = None) -> None:
        self.by_prompt = {p.prompt: p.reference for p in problems}
        self.wrong = wrong
        self.prompts: list[str] = []

    def complete(self, prompt: str, *, n: int = 1, **_: object) -> list[Completion]:
        self.prompts.append(prompt)
        text = self.wrong if self.wrong is not None else self.by_prompt[prompt]
        return [Completion(text, "stop", 0, 0)] * n


def test_table_with_a_tiny_model(
    tiny: LocalBackend, humaneval: dict[str, Problem], mbpp: dict[str, Problem], render
) -> None:
    problems = [humaneval["HumanEval/0"], humaneval["HumanEval/38"]]
    table = intervention_table(
        tiny,
        "humaneval",
        problems,
        ["anonymize_name", "remove_examples"],
        samples=2,
        temperature=1.0,
        max_tokens=8,
        seed=1,
    )
    assert table.problems == 2 and table.samples == 2
    assert [r.intervention for r in table.rows] == ["anonymize_name", "remove_examples"]
    anon, examples = table.rows
    assert (anon.problems, anon.skipped) == (2, 0)
    assert (examples.problems, examples.skipped) == (1, 1)  # HumanEval/38 has no examples
    assert [s.problem_id for s in table.skipped] == ["HumanEval/38"]
    assert set(table.passed) == {
        "HumanEval/0",
        "HumanEval/38",
        "HumanEval/0~anonymize_name",
        "HumanEval/38~anonymize_name",
        "HumanEval/0~remove_examples",
    }
    assert all(0 <= r.pass_original <= 1 and 0 <= r.pass_intervened <= 1 for r in table.rows)
    assert "| anonymize_name | 2 | 0 |" in table.markdown()
    assert table.to_json()["rows"][1]["skipped"] == 1

    m = intervention_table(
        tiny, "mbpp", [mbpp["mbpp/11"]], ["remove_description"], max_tokens=4, render=render
    )
    assert m.rows[0].problems == 1 and set(m.passed) == {"mbpp/11", "mbpp/11~remove_description"}


def test_table_counts_what_the_sandbox_accepts(
    humaneval: dict[str, Problem], mbpp: dict[str, Problem], render
) -> None:
    """A model writing the (intervened) references passes everything; a wrong one nothing."""
    problems = [humaneval["HumanEval/2"], humaneval["HumanEval/53"]]
    names = ["misleading_name", "remove_keywords+anonymize_name"]
    every = list(problems)
    for p in problems:
        every += [r.problem for n in names if isinstance(r := intervene(p, n), Intervened)]
    table = intervention_table(Writer(every), "humaneval", problems, names, samples=3)
    assert table.pass_original == 1.0
    assert all(r.pass_original == r.pass_intervened == 1.0 and r.drop == 0 for r in table.rows)
    assert all(n == 3 for n in table.passed.values())

    wrong = intervention_table(
        Writer(every, "    return None\n"), "humaneval", problems, names, samples=1
    )
    assert wrong.pass_original == 0.0 and all(r.pass_intervened == 0.0 for r in wrong.rows)

    m = [mbpp["mbpp/11"], mbpp["mbpp/12"]]
    every = m + [
        r.problem
        for p in m
        if isinstance(r := intervene(p, "remove_examples", render=render), Intervened)
    ]
    table = intervention_table(Writer(every), "mbpp", m, ["remove_examples"], render=render)
    assert table.rows[0].pass_intervened == 1.0 and table.rows[0].relative_drop == 0.0


def test_table_over_http(run_dir: Path, tiny: LocalBackend, humaneval: dict[str, Problem]) -> None:
    """The same model served over the OpenAI API gives the same table as in process."""
    problems = [humaneval["HumanEval/53"]]
    options = {"samples": 2, "temperature": 1.0, "max_tokens": 6, "seed": 7}
    local = intervention_table(tiny, "humaneval", problems, ["misleading_name"], **options)
    with ModelServer(ServeConfig(run_dir, port=0, max_n=4, model_name="tiny")) as server:
        http = OpenAIBackend(server.url, "tiny")
        remote = intervention_table(http, "humaneval", problems, ["misleading_name"], **options)
    assert remote.to_json() == local.to_json()
    assert set(remote.passed) == {"HumanEval/53", "HumanEval/53~misleading_name"}
