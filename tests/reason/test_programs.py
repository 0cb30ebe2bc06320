"""LM programs on scripted backends: traces record every call, seeds differ per call and
reproduce, budgets stop programs, the calculator and the sandboxed Python tool compute and
feed back, the verifier-rejection sampler follows its exact law (chi-square), and ``palestra
eval --program`` records, checks and resumes program runs."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from scipy.stats import chisquare

from palestra.core.errors import PalestraError
from palestra.core.verdict import Verdict
from palestra.reason import wordproblems as wp
from palestra.reason.evaluate import EvalConfig, evaluate, read_samples, sample_seed
from palestra.reason.programs import (
    Budget,
    best_of_n,
    call_seed,
    chain_of_thought,
    rejection_distribution,
    rejection_sample,
    run_program,
    self_consistency,
    tool_use,
)
from palestra.reason.programs.scripted import ScriptedBackend
from palestra.reason.programs.tools import calculator, python_tool
from palestra.reason.task import Checked, Problem, Task, get_task


def wordproblem() -> tuple[Task, Problem]:
    task = get_task("wordproblems")
    return task, task.problems()[2]


def untimed(result: object) -> list[dict]:
    return [{k: v for k, v in c.to_json().items() if k != "seconds"} for c in result.trace]


def test_traces_record_every_call_with_its_own_seed() -> None:
    task, problem = wordproblem()
    law = {" The answer is 3.": 0.5, " The answer is 4.": 0.3, " no idea": 0.2}
    backend = ScriptedBackend.categorical(law)
    result = run_program(self_consistency, backend, task, problem, seed=11, k=6, temperature=0.7)
    assert result.calls == 6 == len(backend.calls) and result.stopped == "done"
    seeds = [c.sampling["seed"] for c in result.trace]
    assert seeds == [call_seed(11, i) for i in range(6)] and len(set(seeds)) == 6
    assert [c.index for c in result.trace] == list(range(6))
    for call, (prompt, _, n) in zip(result.trace, backend.calls, strict=False):
        assert call.prompt == task.prompt(problem) == prompt and n == 1
        assert call.sampling["temperature"] == 0.7 and call.sampling["stop"] == list(task.stop)
        assert call.completions[0]["text"] in law
        assert call.completions[0]["completion_tokens"] == len(call.completions[0]["text"])
    votes = Counter(task.check(problem, c.completions[0]["text"]).answer for c in result.trace)
    assert result.info["votes"] == {k: v for k, v in votes.items() if k is not None}
    # the same seed reproduces the run call for call; another seed draws other seeds
    again = run_program(self_consistency, backend, task, problem, seed=11, k=6, temperature=0.7)
    assert untimed(again) == untimed(result) and again.answer == result.answer
    other = run_program(self_consistency, backend, task, problem, seed=12, k=6, temperature=0.7)
    assert {c.sampling["seed"] for c in other.trace}.isdisjoint(seeds)
    # in parallel the calls keep their numbers and seeds
    parallel = run_program(
        self_consistency, backend, task, problem, seed=11, k=6, temperature=0.7, concurrency=3
    )
    assert untimed(parallel) == untimed(result)


def test_majority_vote_of_self_consistency() -> None:
    task, problem = wordproblem()
    gold = problem.reference
    law = {f" The answer is {gold}.": 0.4}
    law.update({f" The answer is {int(gold) + i}.": 0.2 for i in (1, 2, 3)})
    backend = ScriptedBackend.categorical(law)
    wins = 0
    for seed in range(150):
        r = run_program(self_consistency, backend, task, problem, seed=seed, k=9)
        texts = [c.completions[0]["text"] for c in r.trace]
        counts = Counter(re.search(r"-?\d+", t).group() for t in texts)
        top = max(counts.values())
        assert counts[r.answer] == top  # an independent count agrees with the vote
        wins += r.answer == gold
    assert wins / 150 > 0.5  # maj@9 of a 0.4 plurality answer (exactly 0.605) beats one sample


def test_budgets_stop_programs() -> None:
    task, problem = wordproblem()
    backend = ScriptedBackend(lambda prompt, rng: " The answer is 7.")
    r = run_program(self_consistency, backend, task, problem, budget=Budget(calls=3), k=8)
    assert r.calls == 3 and r.info["samples"] == 3 and r.stopped == "done"
    r = run_program(
        self_consistency, backend, task, problem, budget=Budget(tokens=100), k=8, max_tokens=30
    )
    assert r.calls == 3  # 3 x 30 worst-case tokens fit in 100, a fourth does not
    r = run_program(chain_of_thought, backend, task, problem, budget=Budget(tokens=10))
    assert r.stopped == "budget" and r.calls == 0 and r.text == "" and "tokens" in r.info["error"]
    r = run_program(
        rejection_sample,
        backend,
        task,
        problem,
        budget=Budget(calls=2),
        verifier=Constant(0.0),
        max_tries=10,
    )
    assert r.stopped == "budget" and r.calls == 2
    with pytest.raises(PalestraError):
        Budget(calls=0)


class Constant:
    def __init__(self, value: float) -> None:
        self.value = value

    def score(self, problem: Problem, solution: str) -> float:
        return self.value


class ChainTask(Task):
    """``x0 op1 q1 op2 q2 ...`` left to right: the answer is "The answer is N."."""

    name = "chain-test"
    kind = "answer"
    dataset = ""
    stop = ("\nQ:",)
    max_tokens = 200
    CHAINS = ((7, (("*", 3), ("+", 5), ("-", 4))), (12, (("+", 30), ("*", 2))))

    def problems(self, data: object = None) -> list[Problem]:
        out = []
        for i, (start, ops) in enumerate(self.CHAINS):
            x = start
            for op, q in ops:
                x = {"+": x + q, "-": x - q, "*": x * q}[op]
            text = f"{start} " + " ".join(f"{op} {q}" for op, q in ops)
            out.append(
                Problem(self.name, f"chain/{i}", f"Q: {text}\nA:", text, str(x), meta={"ops": ops})
            )
        return out

    def check(self, problem: Problem, completion: str) -> Checked:
        m = re.search(r"The answer is (-?\d+)", completion)
        answer = m.group(1) if m else None
        ok = answer == problem.reference
        return Checked(Verdict.accept() if ok else Verdict.reject("wrong"), answer)

    def reference_completion(self, problem: Problem) -> str:
        return f" The answer is {problem.reference}."


def miscalculating_model(problem: Problem) -> ScriptedBackend:
    """Writes each step as a calculator call on the value it last sees in its context, then a
    result off by one: right only where the tool's results are fed back."""

    def respond(prompt: str, rng: random.Random) -> str:
        written = prompt[len(problem.prompt) :]
        done = written.count(">>")
        seen = re.findall(r">>(-?\d+)", written)
        x = int(seen[-1]) if seen else int(problem.question.split()[0])
        out = []
        for op, q in problem.meta["ops"][done:]:
            x_true = {"+": x + q, "-": x - q, "*": x * q}[op]
            out.append(f" step: <<{x}{op}{q}>>{x_true + 1}.")
            x = x_true + 1
        return "".join(out) + f" The answer is {x}."

    return ScriptedBackend(respond)


def test_the_calculator_computes_and_feeds_back() -> None:
    task = ChainTask()
    for problem in task.problems():
        backend = miscalculating_model(problem)
        alone = run_program(chain_of_thought, backend, task, problem)
        assert not task.check(problem, alone.text).verdict  # its own arithmetic is off
        r = run_program(tool_use, backend, task, problem, tools=("calculator",))
        assert task.check(problem, r.text).verdict and r.answer == problem.reference
        ops = problem.meta["ops"]
        assert r.calls == len(ops) + 1 and len(r.info["tool_calls"]) == len(ops)
        x = int(problem.question.split()[0])
        for call, (op, q), tool_call in zip(r.trace[1:], ops, r.info["tool_calls"], strict=True):
            x = {"+": x + q, "-": x - q, "*": x * q}[op]
            assert tool_call == {
                "tool": "calculator",
                "input": tool_call["input"],
                "output": str(x),
            }
            assert call.prompt.endswith(f">>{x}")  # the continuation starts from the result
        assert [c.sampling["seed"] for c in r.trace] == [call_seed(0, i) for i in range(r.calls)]
        short = run_program(tool_use, backend, task, problem, budget=Budget(calls=2))
        assert short.stopped == "budget" and short.calls == 2
    assert calculator("7/2") == "3.5" and calculator("2**9") == "error"
    assert calculator("(1+2)*3") == "9" and calculator("1/3") == "0.333333"


def test_the_python_tool_runs_in_the_sandbox_and_feeds_back() -> None:
    task = ChainTask()
    problem = task.problems()[1]

    def respond(prompt: str, rng: random.Random) -> str:
        out = re.search(r"<output>(.*?)</output>", prompt)
        if out is None:
            return " <python>x = 12\nfor _ in range(1): x = (x + 30) * 2\nprint(x)</python>"
        return f" The answer is {out.group(1)}."

    r = run_program(tool_use, ScriptedBackend(respond), task, problem)
    assert r.info["tool_calls"][0]["output"] == "84" and r.answer == "84" == problem.reference
    assert python_tool("import socket; socket.create_connection(('1.1.1.1', 80), 2)").startswith(
        "error:"
    )
    assert python_tool("raise ValueError('no')") == "error: ValueError: no"


def test_rejection_sampler_follows_its_exact_law() -> None:
    task, problem = wordproblem()
    proposal = {" The answer is 1.": 0.5, " The answer is 2.": 0.3, " The answer is 3.": 0.2}
    acceptance = {" The answer is 1.": 0.1, " The answer is 2.": 0.8, " The answer is 3.": 0.5}

    class Table:
        def score(self, problem: Problem, solution: str) -> float:
            return acceptance[solution]

    backend = ScriptedBackend.categorical(proposal)
    tries = 3
    law = rejection_distribution(proposal, acceptance, tries)
    assert sum(law.values()) == pytest.approx(1.0)
    runs = 3000
    outputs: Counter[str | None] = Counter()
    for seed in range(runs):
        r = run_program(
            rejection_sample, backend, task, problem, seed=seed, verifier=Table(), max_tries=tries
        )
        outputs[r.text if r.info["accepted"] else None] += 1
        assert r.calls == r.info["tries"] <= tries
    keys = list(law)
    observed = [outputs[k] for k in keys]
    expected = [law[k] * runs for k in keys]
    assert chisquare(observed, expected).pvalue > 0.001, (observed, expected)
    # the output is the posterior p(y) a(y) / Z once accepted
    z = sum(proposal[y] * acceptance[y] for y in proposal)
    assert law[" The answer is 2."] / (1 - law[None]) == pytest.approx(0.3 * 0.8 / z)


def test_best_of_n_takes_the_best_scored_sample() -> None:
    task, problem = wordproblem()
    backend = ScriptedBackend.categorical({" The answer is 1.": 0.5, " The answer is 2.": 0.5})

    class PrefersTwo:
        def score(self, problem: Problem, solution: str) -> float:
            return 0.9 if "2" in solution else 0.2

    r = run_program(best_of_n, backend, task, problem, verifier=PrefersTwo(), n=6, seed=3)
    assert r.answer == "2" and r.calls == 6 and max(r.info["scores"]) == 0.9

    class Broken:
        def score(self, problem: Problem, solution: str) -> float:
            return 1.5

    with pytest.raises(PalestraError):
        run_program(best_of_n, backend, task, problem, verifier=Broken(), n=2)


def test_eval_runs_programs_with_records_traces_and_resume(tmp_path: Path) -> None:
    task = get_task("wordproblems")
    problems = task.problems()[:4]
    right = {p.question: p.meta["solutions"]["steps"] for p in problems}

    def respond(prompt: str, rng: random.Random) -> str:
        _, question = wp.parse_prompt(prompt)
        return right[question] if rng.random() < 0.6 else f" The answer is {rng.randint(0, 3)}."

    backend = ScriptedBackend(respond)
    cfg = EvalConfig(
        task="wordproblems",
        backend="scripted",
        program="sc",
        k=5,
        temperature=0.7,
        limit=4,
        samples=2,
        seed=1,
        out=tmp_path / "run",
        progress=False,
    )
    run = evaluate(cfg, backend=backend, model="scripted", echo=False)
    records = read_samples(run / "samples.jsonl")
    assert len(records) == 8 and len(backend.calls) == 40
    for r in records:
        seed = sample_seed(1, "wordproblems", r["problem"], r["sample"])
        assert r["seed"] == seed and r["calls"] == 5 and r["stopped"] == "done"
        assert [c["sampling"]["seed"] for c in r["trace"]] == [call_seed(seed, i) for i in range(5)]
        texts = [c["completions"][0]["text"] for c in r["trace"]]
        question = next(p.question for p in problems if p.id == r["problem"])
        _, gold = wp.solve_question(question)  # the independent verdict
        answers = Counter(re.findall(r"The answer is (\d+)", t)[-1] for t in texts)
        top = max(answers.values())
        assert answers[r["program_answer"]] == top
        assert r["accepted"] == (int(r["program_answer"]) == gold)
        assert r["completion_tokens"] == sum(len(t) for t in texts)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["program"]["calls"] == 40 and summary["records"] == 8
    assert "program sc" in (run / "report.md").read_text()
    evaluate(cfg, backend=backend, model="scripted", echo=False)  # resumed: nothing to do
    assert len(backend.calls) == 40 and read_samples(run / "samples.jsonl") == records
    with pytest.raises(PalestraError, match="unknown program"):
        evaluate(EvalConfig(task="wordproblems", backend="x", program="nope"), backend=backend)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ..conftest import train_tiny_lm

    return train_tiny_lm(tmp_path_factory.mktemp("runs"))


def test_programs_run_unchanged_over_http_and_in_process(tiny_run: Path) -> None:
    import sys

    from palestra.lm.backends import LocalBackend, OpenAIBackend
    from palestra.lm.serve_config import ServeConfig
    from palestra.lm.server import ModelServer

    sys.path.insert(0, str(Path(__file__).parent))
    import arith_task

    task = arith_task.ArithTask()
    problems = task.problems()[:2]
    runs = [
        (chain_of_thought, {}),
        (self_consistency, {"k": 3, "temperature": 1.0, "max_tokens": 6}),
        (tool_use, {"tools": ("calculator",), "temperature": 1.0}),
    ]
    with LocalBackend(tiny_run) as local:
        here = [
            run_program(p, local, task, q, seed=5, budget=Budget(calls=4), **o)
            for p, o in runs
            for q in problems
        ]
    with ModelServer(ServeConfig(tiny_run, port=0, max_n=4, model_name="tiny")) as server:
        remote = OpenAIBackend(server.url, "tiny")
        there = [
            run_program(p, remote, task, q, seed=5, budget=Budget(calls=4), **o)
            for p, o in runs
            for q in problems
        ]
    for a, b in zip(here, there, strict=True):
        assert untimed(a) == untimed(b) and a.text == b.text and a.calls >= 1
    sc = here[2]
    assert len({c.sampling["seed"] for c in sc.trace}) == 3  # seeds differ per call


def test_cli_eval_program_and_its_errors(tiny_run: Path, tmp_path: Path) -> None:
    """``palestra eval TASK --program``: a prompt longer than the tiny model's context ends the
    run with ``stopped="context"`` (a failed sample, not a crash); bad options are one line."""
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[2] / "src"
    env = {"PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    base = [sys.executable, "-m", "palestra.cli", "eval", "wordproblems-calc"]
    args = ["--backend", f"local:{tiny_run}", "--limit", "2", "--no-progress"]
    out = tmp_path / "run"
    done = subprocess.run(
        [*base, *args, "--program", "tool", "--out", str(out)], env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    records = read_samples(out / "samples.jsonl")
    assert [r["stopped"] for r in records] == ["context", "context"]
    assert not any(r["accepted"] for r in records) and records[0]["calls"] == 1
    assert "maximum context length" in records[0]["trace"][0]["error"]
    bad = subprocess.run(
        [*base, *args, "--program", "sc", "--chat"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: --program runs on")
