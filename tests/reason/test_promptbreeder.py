"""Promptbreeder (``palestra.reason.promptbreeder``): Algorithm 1's invariants on a scripted
world, uniform operators, seeded and replayed lineages, resume, and the command end to end on
a small model in process and over HTTP."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest

from palestra.core.verdict import Verdict
from palestra.reason.programs.scripted import ScriptedBackend
from palestra.reason.promptbreeder import (
    OPERATORS,
    Promptbreeder,
    PromptbreederConfig,
    run_promptbreeder,
)
from palestra.reason.task import Checked, Problem, Task


class SumTask(Task):
    """``What is a+b?``; the answer is read from "The answer is N"."""

    name = "sum-test"
    kind = "answer"
    dataset = ""
    stop = ("\nQ:",)
    max_tokens = 24

    def __init__(self, split: str = "train", count: int = 60) -> None:
        self.split, self.count = split, count

    def problems(self, data=None):  # type: ignore[no-untyped-def]
        rng = random.Random(self.split)
        out = []
        for i in range(self.count):
            a, b = rng.randrange(10), rng.randrange(10)
            q = f"What is {a}+{b}?"
            out.append(Problem(self.name, f"{self.split}/{i}", q, q, str(a + b)))
        return out

    def check(self, problem, completion):  # type: ignore[no-untyped-def]
        m = re.search(r"The answer is (\d+)", completion)
        answer = m.group(1) if m else None
        return Checked(Verdict(answer == problem.reference, "checked"), answer)

    def reference_completion(self, problem):  # type: ignore[no-untyped-def]
        return f" The answer is {problem.reference}."


def solver_respond(prompt: str, rng: random.Random) -> str:
    """Right when the instruction line says "good" (twice as often with "very good")."""
    instruction = prompt.split("\nQ:")[0]
    a, b = map(int, re.findall(r"What is (\d+)\+(\d+)\?", prompt)[-1])
    h = (a * 7 + b * 3) % 10  # a deterministic "difficulty" in 0..9
    right = ("very good" in instruction and h < 8) or ("good" in instruction and h < 4)
    return f" The answer is {a + b if right else a + b + 1}."


def mutator_respond(prompt: str, rng: random.Random) -> str:
    return " " + rng.choice(["good hint", "bad hint", "very good hint", "meh", ""])


def make(cfg: PromptbreederConfig) -> tuple[Promptbreeder, SumTask]:
    task = SumTask()
    breeder = Promptbreeder(cfg, ScriptedBackend(solver_respond),
                            ScriptedBackend(mutator_respond), task, task.problems())  # fmt: skip
    return breeder, task


CFG = dict(backend="scripted", population=8, batch=10, generations=6, concurrency=2)


def test_algorithm_1_invariants() -> None:
    breeder, _ = make(PromptbreederConfig(**CFG, initial=("bad", "meh")))
    breeder.initialise()
    assert [u.task_prompt for u in breeder.population] == ["bad", "meh"] * 4
    train_ids = {p.id for p in breeder.train}
    for _ in range(6):
        before = [asdict(u) for u in breeder.population]
        breeder.step()
        event = breeder.history[-1]
        assert len(breeder.population) == 8  # the size never changes
        losers = {t["loser"] for t in event["tournaments"]}
        winners = {t["winner"] for t in event["tournaments"]}
        assert len(event["tournaments"]) == 4 and losers | winners == set(range(8))
        for t in event["tournaments"]:
            w, lo = t["winner"], t["loser"]
            fa, fb = t["fitness"]
            assert breeder.population[w].fitness == max(fa, fb)  # the better one won
            child = breeder.population[lo]
            assert child.born == breeder.generation and child.fitness is None
            assert child.lineage[-1] == before[w]["task_prompt"]  # a mutated copy of the winner
            assert child.operator.split("+")[0] in OPERATORS
            assert breeder.population[w].task_prompt == before[w]["task_prompt"]  # kept
    assert breeder.seen_training <= train_ids  # fitness only ever saw training questions
    # evolution finds the signal the scripted solver gives ("good" in the instruction)
    assert any("good" in u.task_prompt for u in breeder.population)


def test_operators_are_drawn_uniformly() -> None:
    from scipy.stats import chisquare

    breeder, _ = make(PromptbreederConfig(**CFG, crossover=0.0, initial=("good",)))
    breeder.initialise()
    for u in breeder.population:
        u.fitness = 0.5
    counts = Counter(breeder.mutate(breeder.population[0]).operator for _ in range(1600))
    assert set(counts) == set(OPERATORS)
    assert chisquare([counts[o] for o in OPERATORS]).pvalue > 0.001


def test_seeded_lineage_reproduces_and_replays_from_the_recorded_calls() -> None:
    runs = []
    for _ in range(2):
        breeder, _ = make(PromptbreederConfig(**CFG, seed=3))
        breeder.initialise()
        for _ in range(4):
            breeder.step()
        runs.append(breeder)
    assert runs[0].history == runs[1].history
    # replay: a mutator that only answers from the first run's recorded calls
    recorded = {(c.prompt, c.sampling["seed"]): c.completions[0]["text"] for c in runs[0].lm.trace}

    class Replay(ScriptedBackend):
        def __init__(self) -> None:
            super().__init__(lambda prompt, rng: "")

        def complete(self, prompt, *, seed=None, **kw):  # type: ignore[no-untyped-def,override]
            from palestra.lm.backends import Completion

            return [Completion(recorded[(prompt, seed)], "stop", 0, 0)]

    task = SumTask()
    replay = Promptbreeder(PromptbreederConfig(**CFG, seed=3), ScriptedBackend(solver_respond),
                           Replay(), task, task.problems())  # fmt: skip
    replay.initialise()
    for _ in range(4):
        replay.step()
    assert replay.history == runs[0].history


def test_resume_continues_the_same_lineage() -> None:
    straight, _ = make(PromptbreederConfig(**CFG, seed=5))
    straight.initialise()
    for _ in range(4):
        straight.step()
    first, _ = make(PromptbreederConfig(**CFG, seed=5))
    first.initialise()
    for _ in range(2):
        first.step()
    state = json.loads(json.dumps(first.state()))  # through JSON, as saved
    resumed, _ = make(PromptbreederConfig(**CFG, seed=5))
    resumed.restore(state)
    for _ in range(2):
        resumed.step()
    assert resumed.history == straight.history


def test_errors() -> None:
    from palestra.core.errors import PalestraError

    with pytest.raises(PalestraError, match="even"):
        make(PromptbreederConfig(**{**CFG, "population": 3}))
    with pytest.raises(PalestraError, match="fewer than a batch"):
        make(PromptbreederConfig(**{**CFG, "batch": 100}))


@pytest.fixture(scope="module")
def word_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ..conftest import train_tiny_word_lm

    return train_tiny_word_lm(tmp_path_factory.mktemp("runs"))


def test_command_in_process_and_over_http_alike(word_model: Path, tmp_path: Path) -> None:
    from palestra.lm.serve_config import ServeConfig
    from palestra.lm.server import ModelServer

    small = dict(population=2, generations=1, batch=2, heldout_limit=2, mutator_tokens=12,
                 concurrency=2, initial=("Think step by step.", "Answer directly."))  # fmt: skip
    here = run_promptbreeder(
        PromptbreederConfig(backend=f"local:{word_model}", out=tmp_path / "here", **small)
    )
    with ModelServer(ServeConfig(word_model, port=0, max_n=4, model_name="wp")) as server:
        there = run_promptbreeder(
            PromptbreederConfig(backend=server.url, out=tmp_path / "there", **small)
        )
    a = json.loads((here / "state.json").read_text())
    b = json.loads((there / "state.json").read_text())
    assert a["history"] == b["history"] and a["generation"] == 1
    report = json.loads((here / "report.json").read_text())
    assert set(report) == {"best", "initial", "extra", "curve"}
    assert [c["generation"] for c in report["curve"]] == [0, 1]  # each generation's best
    assert [r["prompt"] for r in report["initial"]] == ["Think step by step.", "Answer directly."]
    assert report == json.loads((there / "report.json").read_text())
    assert (here / "calls.jsonl").read_text().count("\n") == a["calls"]
    # resumed with more generations: the saved run goes on
    more = run_promptbreeder(
        PromptbreederConfig(
            backend=f"local:{word_model}", out=tmp_path / "here", **{**small, "generations": 2}
        )
    )
    assert json.loads((more / "state.json").read_text())["generation"] == 2
