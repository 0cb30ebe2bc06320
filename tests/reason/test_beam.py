"""Beam search over solution steps (:mod:`palestra.reason.programs.beam`) on scripted models
and a real tiny one: with the arithmetic verifier it finds fully right solutions that a single
sample rarely writes, a seed reproduces a run call for call, budgets are never exceeded and a
stopped run still answers, the program runs unchanged over HTTP and in process, and ``palestra
eval --program beam`` records its runs."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from palestra.core.errors import PalestraError
from palestra.reason import wordproblems as wp
from palestra.reason.evaluate import EvalConfig, evaluate, read_samples, sample_seed
from palestra.reason.programs import (
    PROGRAMS,
    ArithmeticVerifier,
    Budget,
    call_seed,
    chain_of_thought,
    run_program,
    step_beam,
)
from palestra.reason.programs.beam import score_partial
from palestra.reason.programs.scripted import ScriptedBackend
from palestra.reason.task import Problem, Task, get_task

P_WRONG = 0.6  # each step is written wrong with this probability


def untimed(result: object) -> list[dict]:
    return [{k: v for k, v in c.to_json().items() if k != "seconds"} for c in result.trace]


def hard_problems(count: int) -> tuple[Task, list[Problem]]:
    """``count`` problems of the training templates with 3 or 4 steps."""
    task = get_task("wordproblems-train")
    return task, [p for p in task.problems() if p.meta["steps"] >= 3][:count]


def careless_model(problems: list[Problem], p_wrong: float = P_WRONG) -> ScriptedBackend:
    """Continues a solution from the lines already written: each remaining step of the right
    solution, its result off by 1 to 3 with probability ``p_wrong``, then "The answer is" the
    last result it wrote. The whole rest in one completion (stop strings cut it to a line)."""
    steps = {p.question: p.meta["solutions"]["steps"][1:].split("\n")[:-1] for p in problems}

    def respond(prompt: str, rng: random.Random) -> str:
        head, _, written = prompt.partition("\nA:")
        done = written.count("\n")  # the lines already written, each ended by a newline
        results = re.findall(r"= (-?\d+)\.$", written, re.MULTILINE)
        last = int(results[-1]) if results else None
        out = []
        for line in steps[head.split("Q: ", 1)[1]][done:]:
            left, right = line.rsplit(" = ", 1)
            last = int(right.rstrip(".")) + (rng.randint(1, 3) if rng.random() < p_wrong else 0)
            out.append(f"{left} = {last}.")
        out.append(f"The answer is {last}.")
        return (" " if done == 0 else "") + "\n".join(out)

    return ScriptedBackend(respond)


def fully_right(problem: Problem, text: str) -> bool:
    return wp.check_solution(problem.question, text)[0]


def test_the_arithmetic_verifier_scores_partial_solutions() -> None:
    _, [problem] = hard_problems(1)
    v = ArithmeticVerifier()
    lines = problem.meta["solutions"]["steps"].split("\n")
    right = "\n".join(lines[:2])
    left, result = lines[1].rsplit(" = ", 1)
    wrong = f"{lines[0]}\n{left} = {int(result.rstrip('.')) + 1}."
    assert wp.arithmetic_score(problem.question, right) == 0.0  # no answer line: no use here
    assert v.score_partial(problem, "") == 1.0 and v.score_partial(problem, right) == 1.0
    assert v.score_partial(problem, wrong) == 0.5
    assert v.score_partial(problem, f"{right}\nsomething else") == pytest.approx(2 / 3)
    for solution in (problem.meta["solutions"]["steps"], f"{wrong}\nThe answer is 3."):
        assert v.score_partial(problem, solution) == v.score(problem, solution)
        assert v.score(problem, solution) == wp.arithmetic_score(problem.question, solution)

    class Plain:  # no score_partial: its score is used
        def score(self, problem: Problem, solution: str) -> float:
            return 0.25

    assert score_partial(Plain(), problem, right) == 0.25
    with pytest.raises(PalestraError):
        score_partial(Broken(), problem, right)
    assert PROGRAMS["beam"] is step_beam


class Broken:
    def score(self, problem: Problem, solution: str) -> float:
        return 1.5

    def score_partial(self, problem: Problem, partial: str) -> float:
        return float("nan")


def test_beam_finds_right_solutions_a_single_sample_rarely_writes() -> None:
    task, problems = hard_problems(8)
    backend = careless_model(problems)
    verifier = ArithmeticVerifier()
    single = beam_right = 0
    runs = 0
    for i, problem in enumerate(problems):
        # other seeds for each problem: the scripted model's draws depend on the seed only
        for seed in range(100 * i, 100 * i + 8):
            runs += 1
            alone = run_program(chain_of_thought, backend, task, problem, seed=seed)
            single += fully_right(problem, alone.text)
            r = run_program(step_beam, backend, task, problem, seed=seed, verifier=verifier)
            beam_right += fully_right(problem, r.text)
            assert r.stopped == "done" and r.info["ended"] == "done"
            assert r.info["chosen_from"] == "finished"
            assert r.info["score"] == max(r.info["finished"])
            if fully_right(problem, r.text):
                assert r.info["score"] == 1.0 and task.check(problem, r.text).verdict
            assert r.answer == task.check(problem, r.text).answer
            # one step a depth, then the answer line: depth = steps + 1
            assert r.info["depth"] == problem.meta["steps"] + 1
            # expand = 4 calls for the root, then for each partial kept but at the last depth
            kept = r.info["kept"]
            assert r.calls == r.info["expansions"] == 4 * (1 + sum(len(k) for k in kept[:-1]))
            for call in r.trace:  # one line a call, from the prompt and the lines so far
                assert call.sampling["stop"] == ["\n", *task.stop]
                assert call.prompt.startswith(task.prompt(problem))
                assert call.prompt == task.prompt(problem) or call.prompt.endswith("\n")
    # (1 - 0.6)^3..4 of single samples are right (about 4.5%); the beam keeps a right
    # partial at each depth unless all 4 continuations of it are wrong (0.6^4 = 0.13)
    assert single <= 0.15 * runs and beam_right >= 0.4 * runs, (single, beam_right, runs)
    assert beam_right >= 4 * max(single, 1)


def test_beam_keeps_the_best_scored_partials_and_drops_dead_and_duplicate_lines() -> None:
    task, [problem] = hard_problems(1)

    def respond(prompt: str, rng: random.Random) -> str:
        depth = prompt.partition("\nA:")[2].count("\n")
        if depth == 0:
            return rng.choice([" a: 1 + 1 = 2.", " b: 2 + 2 = 4.", " c: 3 + 3 = 6.", ""])
        if depth == 1:
            return rng.choice(["x" * 100, "   ", "d: 5 + 5 = 10."])
        return "The answer is 7."

    class Letters:  # prefers later letters; partials and solutions alike
        def score(self, problem: Problem, solution: str) -> float:
            return (ord(solution.strip()[0]) - ord("a")) / 10

    r = run_program(
        step_beam,
        ScriptedBackend(respond),
        task,
        problem,
        seed=4,
        verifier=Letters(),
        beam=2,
        expand=6,
        max_step_tokens=64,
    )
    first = [c.completions[0]["text"] for c in r.trace[:6]]
    live = list(dict.fromkeys(t for t in first if t))
    assert r.info["scores"][0] == [Letters().score(problem, t) for t in live]
    order = sorted(range(len(live)), key=lambda j: (-r.info["scores"][0][j], j))[:2]
    assert r.info["kept"][0] == order
    assert r.info["duplicates"] >= len([t for t in first if t]) - len(live)
    assert r.info["dead"] >= first.count("")  # empty lines; 100 bytes > 64: finish "length"
    kept_texts = [live[j] for j in order]
    parents = [c.prompt.partition("\nA:")[2] for c in r.trace[6:18]]
    assert parents == [f"{t}\n" for t in kept_texts for _ in range(6)]
    assert r.text.endswith("The answer is 7.") and r.text.split("\n")[0] == kept_texts[0]

    # all continuations dead at depth 2: the answer is the best partial of depth 1
    def stuck(prompt: str, rng: random.Random) -> str:
        return " a: 1 + 1 = 2." if prompt.endswith("A:") else ""

    r = run_program(step_beam, ScriptedBackend(stuck), task, problem, verifier=Letters(), expand=3)
    assert r.text == " a: 1 + 1 = 2." and r.info["chosen_from"] == "beam"
    assert r.info["dead"] == 3 and r.info["duplicates"] == 2 and r.calls == 6
    assert r.info["ended"] == "done" and r.info["finished"] == []
    with pytest.raises(PalestraError):
        run_program(step_beam, ScriptedBackend(stuck), task, problem, verifier=Broken())
    with pytest.raises(PalestraError, match="beam must be at least 1"):
        run_program(step_beam, ScriptedBackend(stuck), task, problem, verifier=Letters(), beam=0)


def test_the_same_seed_reproduces_a_beam_run_call_for_call() -> None:
    task, problems = hard_problems(2)
    backend = careless_model(problems)
    problem = problems[1]

    def run(seed: int, concurrency: int = 1) -> object:
        return run_program(
            step_beam,
            backend,
            task,
            problem,
            seed=seed,
            concurrency=concurrency,
            verifier=ArithmeticVerifier(),
            beam=3,
            expand=3,
        )

    first = run(21)
    seeds = [c.sampling["seed"] for c in first.trace]
    assert seeds == [call_seed(21, i) for i in range(first.calls)] and len(set(seeds)) > 3
    assert [c.index for c in first.trace] == list(range(first.calls))
    assert [c.purpose for c in first.trace][:3] == ["beam step 1"] * 3
    again = run(21)
    assert untimed(again) == untimed(first) and again.text == first.text
    assert again.info == first.info
    parallel = run(21, concurrency=4)  # calls are numbered before they are sent
    assert untimed(parallel) == untimed(first) and parallel.info == first.info
    other = run(22)
    assert {c.sampling["seed"] for c in other.trace}.isdisjoint(seeds)


def test_budgets_are_never_exceeded_and_a_stopped_beam_still_answers() -> None:
    task, problems = hard_problems(2)
    backend = careless_model(problems)
    problem = problems[0]
    verifier = ArithmeticVerifier()
    full = run_program(step_beam, backend, task, problem, seed=3, verifier=verifier)
    assert full.info["ended"] == "done"
    for calls in (1, 3, 4, 9, 17, full.calls - 1):
        r = run_program(
            step_beam, backend, task, problem, seed=3, verifier=verifier, budget=Budget(calls)
        )
        assert r.calls == calls and r.stopped == "done" and r.info["ended"] == "budget"
        assert r.text and r.text == r.text.strip("\n")  # it answers with what it has
        assert untimed(r) == untimed(full)[:calls]  # the full run's first calls
        if not r.info["finished"]:
            assert r.info["chosen_from"] == "beam" and r.text.count("\n") + 1 == r.info["depth"]
    for tokens in (40, 100, 333, 1000):
        r = run_program(
            step_beam,
            backend,
            task,
            problem,
            seed=3,
            verifier=verifier,
            max_step_tokens=40,
            budget=Budget(tokens=tokens),
        )
        assert r.completion_tokens <= tokens and r.stopped == "done" and r.text
        assert r.info["ended"] in ("budget", "done")
    r = run_program(
        step_beam, backend, task, problem, verifier=verifier, budget=Budget(tokens=10)
    )  # not even the first call fits: nothing to answer with
    assert r.stopped == "budget" and r.calls == 0 and r.text == ""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ..conftest import train_tiny_lm

    return train_tiny_lm(tmp_path_factory.mktemp("runs"))


class Digits:
    """A verifier of any text: its share of digits."""

    def score(self, problem: Problem, solution: str) -> float:
        return sum(ch.isdigit() for ch in solution) / max(1, len(solution))


def test_beam_runs_unchanged_over_http_and_in_process(tiny_run: Path) -> None:
    import sys

    from palestra.lm.backends import LocalBackend, OpenAIBackend
    from palestra.lm.serve_config import ServeConfig
    from palestra.lm.server import ModelServer

    sys.path.insert(0, str(Path(__file__).parent))
    import arith_task

    task = arith_task.ArithTask()
    problems = task.problems()[:2]
    options = {
        "verifier": Digits(),
        "beam": 2,
        "expand": 2,
        "max_steps": 3,
        "temperature": 0.5,
        "max_step_tokens": 12,
    }
    with LocalBackend(tiny_run) as local:
        here = [
            run_program(step_beam, local, task, q, seed=5, budget=Budget(calls=5), **options)
            for q in problems
        ]
    with ModelServer(ServeConfig(tiny_run, port=0, max_n=4, model_name="tiny")) as server:
        remote = OpenAIBackend(server.url, "tiny")
        there = [
            run_program(step_beam, remote, task, q, seed=5, budget=Budget(calls=5), **options)
            for q in problems
        ]
    for a, b in zip(here, there, strict=True):
        assert untimed(a) == untimed(b) and a.text == b.text and a.info == b.info
        assert 2 <= a.calls <= 5 and len({c.sampling["seed"] for c in a.trace}) == a.calls


def test_eval_runs_the_beam_program(tmp_path: Path) -> None:
    task = get_task("wordproblems-train")
    everything = task.problems()[:20]
    backend = careless_model(everything)
    cfg = EvalConfig(
        task="wordproblems-train",
        backend="scripted",
        program="beam",
        k=3,
        beam=2,
        temperature=0.7,
        limit=20,
        seed=1,
        out=tmp_path / "run",
        progress=False,
    )
    run = evaluate(cfg, backend=backend, model="scripted", echo=False)
    records = read_samples(run / "samples.jsonl")
    assert len(records) == 20
    for r in records:
        seed = sample_seed(1, "wordproblems-train", r["problem"], 0)
        assert r["seed"] == seed and r["stopped"] == "done" and r["program"] == "beam"
        assert [c["sampling"]["seed"] for c in r["trace"]] == [
            call_seed(seed, i) for i in range(r["calls"])
        ]
        assert r["calls"] == r["info"]["expansions"]
        assert [c["sampling"]["n"] for c in r["trace"][:3]] == [1, 1, 1]  # --k 3: expand
        assert max(len(k) for k in r["info"]["kept"]) <= 2  # --beam 2
        assert all(c["sampling"]["max_tokens"] == 64 for c in r["trace"])
        problem = next(p for p in everything if p.id == r["problem"])
        assert r["accepted"] == bool(task.check(problem, r["completion"]).verdict)
    summary = (run / "report.md").read_text()
    assert "program beam" in summary
    evaluate(cfg, backend=backend, model="scripted", echo=False)  # resumed: nothing to do
    assert read_samples(run / "samples.jsonl") == records
    with pytest.raises(PalestraError, match="unknown verifier"):
        evaluate(
            EvalConfig(task="wordproblems-train", backend="x", program="beam", verifier="nope"),
            backend=backend,
        )


def test_cli_eval_program_beam(tiny_run: Path, tmp_path: Path) -> None:
    """``palestra eval TASK --program beam --beam N --k N``: the tiny model's context is too
    short for a word problem's prompt, so each run ends at its first call (``stopped``
    "context", a failed sample, not a crash)."""
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[2] / "src"
    env = {"PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    out = tmp_path / "run"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "palestra.cli", "eval", "wordproblems-train"),
            *("--backend", f"local:{tiny_run}", "--limit", "2", "--no-progress"),
            *("--program", "beam", "--beam", "2", "--k", "3", "--out", str(out)),
        ],
        env=env,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    records = read_samples(out / "samples.jsonl")
    assert [r["stopped"] for r in records] == ["context", "context"]
    assert all(r["program"] == "beam" and r["calls"] == 1 for r in records)
    assert "maximum context length" in records[0]["trace"][0]["error"]
