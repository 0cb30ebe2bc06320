"""``palestra eval --intervention`` and ``palestra eval-biases`` end to end on the real code
tasks: a tiny model trained here (the CLI, ``local:RUN_DIR``), the scripted HTTP server (right
with probability 1/2 per seed: the paired drop of common random numbers is exactly 0), and a
model that knows some references (a drop of exactly 1); every table is recomputed from the
runs' samples, and every sample's seed from its unmodified problem."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from palestra.core.errors import PalestraError
from palestra.lm.backends import Completion
from palestra.reason.biases import drop_table, run_biases
from palestra.reason.code_tasks import HumanEval
from palestra.reason.evaluate import BiasesConfig, EvalConfig, evaluate, read_samples, sample_seed
from palestra.reason.interventions import Intervened, intervene
from palestra.reason.scripted import ScriptedServer
from palestra.reason.task import Problem, Task, get_task

from ..conftest import train_tiny_lm

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny byte-level model (it learned addition, not Python: its pass@1 is about 0)."""
    # a HumanEval prompt is at most about 1,500 bytes
    return train_tiny_lm(tmp_path_factory.mktemp("runs"), block_size=2048, steps=20, batch_size=8)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference-time cache of these tests (the user's stays untouched)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _own_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PALESTRA_CACHE", str(cache))


def palestra(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "OMP_NUM_THREADS": "1",
        "PALESTRA_CACHE": str(cache),
    }
    return subprocess.run(
        [sys.executable, "-m", "palestra.cli", *args], env=env, capture_output=True, text=True
    )


def by_key(run: Path) -> dict[tuple[str, int], dict[str, Any]]:
    records = read_samples(run / "samples.jsonl")
    keyed = {(r["problem"], r["sample"]): r for r in records}
    assert len(keyed) == len(records)
    return keyed


def rates(run: Path) -> dict[str, float]:
    """pass@1 per unmodified problem id, counted here from the records."""
    accepted: dict[str, list[bool]] = defaultdict(list)
    for (problem, _), r in by_key(run).items():
        accepted[problem.split("~")[0]].append(r["accepted"])
    return {p: sum(v) / len(v) for p, v in accepted.items()}


# ----------------------------------------------------------------------------- eval --intervention
def test_eval_with_an_intervention_through_the_cli(
    run_dir: Path, tmp_path: Path, cache: Path
) -> None:
    out = tmp_path / "anon"
    common = ["--samples", "2", "--temperature", "1.0", "--max-tokens", "8", "--limit", "3"]
    done = palestra(
        *("eval", "humaneval", "--backend", f"local:{run_dir}", *common),
        *("--intervention", "anonymize_name", "--no-progress", "--out", str(out)),
        cache=cache,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    plain = evaluate(
        EvalConfig(
            "humaneval",
            backend=f"local:{run_dir}",
            samples=2,
            temperature=1.0,
            max_tokens=8,
            limit=3,
            out=tmp_path / "plain",
            progress=False,
        ),
        echo=False,
    )
    task = get_task("humaneval")
    originals = task.problems()[:3]
    intervened = {p.id: intervene(p, "anonymize_name").problem for p in originals}
    records, unmodified = by_key(out), by_key(plain)
    assert {p for p, _ in records} == {f"{p.id}~anonymize_name" for p in originals}
    for (problem, i), r in records.items():
        original = problem.removesuffix("~anonymize_name")
        assert (
            r["seed"] == unmodified[original, i]["seed"] == sample_seed(0, "humaneval", original, i)
        )
        prompt = intervened[original].prompt  # the renamed prompt was sent, not the original
        assert r["prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()
        assert "def func(" in prompt and r["finish_reason"] in ("stop", "length")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intervention"] == "anonymize_name" and summary["skipped"] == []
    assert (
        summary["records"] == 6
        and summary["pass@k"]["1"] == sum(r["accepted"] for r in records.values()) / 6
    )


def test_an_intervention_on_a_task_without_its_blocks_is_an_error(
    run_dir: Path, tmp_path: Path, cache: Path
) -> None:
    out = tmp_path / "gsm8k"
    done = palestra(
        *("eval", "gsm8k", "--backend", f"local:{run_dir}", "--limit", "2"),
        *("--intervention", "anonymize_name", "--out", str(out)),
        cache=cache,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "error: bias interventions apply to the code tasks humaneval and mbpp, not gsm8k\n"
    )
    assert not out.exists()  # refused before any run directory
    for task, intervention, message in [
        ("mathqa-python", "anonymize_name", "not mathqa-python"),
        ("humaneval", "rename", "unknown intervention 'rename'"),
    ]:
        cfg = EvalConfig(
            task, backend="http://127.0.0.1:9/v1", intervention=intervention, out=tmp_path / task
        )
        with pytest.raises(PalestraError, match=message):
            evaluate(cfg)
        assert not (tmp_path / task).exists()


# ----------------------------------------------------------------------------- eval-biases
def test_run_biases_end_to_end_and_resumed(tmp_path: Path) -> None:
    """Scripted answers drawn from each sample's seed: an intervened sample is right exactly
    when its unmodified sample is, so every paired drop is 0 with a zero-width interval."""
    task = get_task("humaneval")
    names = ("anonymize_name", "remove_examples")
    originals = task.problems()[:3]
    served = [*originals]
    for p in originals:
        served += [r.problem for n in names if isinstance(r := intervene(p, n), Intervened)]
    assert len(served) == 9
    out = tmp_path / "biases"
    with ScriptedServer(task, served, 0.5) as server:
        cfg = BiasesConfig(
            "humaneval",
            backend=server.url,
            samples=4,
            temperature=0.8,
            limit=3,
            interventions=names,
            concurrency=2,
            out=out,
            progress=False,
        )
        result = run_biases(cfg)
        assert sum(server.served.values()) == 36  # 3 runs x 3 problems x 4 samples
        runs = {n: by_key(out / n) for n in ("none", *names)}
        assert server.served["right"] == sum(
            r["accepted"] for run in runs.values() for r in run.values()
        )
        again = run_biases(cfg)  # resumed: every run is complete, nothing is asked
        assert sum(server.served.values()) == 36
    assert again == result
    assert {n: by_key(out / n) for n in runs} == runs
    for name in names:
        for (problem, i), r in runs[name].items():
            twin = runs["none"][problem.split("~")[0], i]
            assert r["seed"] == twin["seed"] and r["accepted"] == twin["accepted"]
    assert [r["intervention"] for r in result["rows"]] == list(names)
    expected = drop_table(rates(out / "none"), {n: rates(out / n) for n in names})
    assert result["rows"] == expected
    for row in result["rows"]:
        assert row["problems"] == 3 and row["skipped"] == 0
        assert row["drop"] == 0 and row["drop 95% interval"] == [0, 0]
    assert 0 < result["pass@1 unmodified"] < 1
    assert json.loads((out / "biases.json").read_text()) == result
    table = (out / "biases.md").read_text()
    assert "| anonymize_name | 3 | 0 |" in table and "| remove_examples | 3 | 0 |" in table
    assert (out / "biases.png").stat().st_size > 0


class Knows:
    """A model that writes the reference of the problems it knows and a failing body for
    any other prompt (the completions half of the Backend protocol, which eval uses)."""

    def __init__(self, task: Task, problems: list[Problem]) -> None:
        self.by_prompt = {task.prompt(q): task.reference_completion(q) for q in problems}

    def complete(self, prompt: str, *, n: int = 1, **_: object) -> list[Completion]:
        text = self.by_prompt.get(prompt, "    assert False, 'unknown'\n")
        return [Completion(text, "stop", len(prompt), len(text))] * n


class Subset(HumanEval):
    """HumanEval restricted to some problems (the task's name, prompts and checks)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__()
        self.ids = ids

    def problems(self, data: str | Path | None = None) -> list[Problem]:
        every = {p.id: p for p in super().problems(data)}
        return [every[i] for i in self.ids]


def test_a_drop_the_model_has_and_what_does_not_apply(tmp_path: Path) -> None:
    """MBPP: a model that knows the unmodified and renamed problems but not those without
    examples drops by exactly 1 there and 0 on the renamed ones. HumanEval/38 has no
    examples: skipped with its reason, and alone it is an intervention not applied."""
    mbpp = get_task("mbpp")
    originals = mbpp.problems()[:3]
    known = originals + [
        intervene(p, "anonymize_name", render=mbpp.render).problem for p in originals
    ]  # type: ignore[attr-defined]
    cfg = BiasesConfig(
        "mbpp",
        backend="-",
        limit=3,
        interventions=("anonymize_name", "remove_examples"),
        out=tmp_path / "mbpp",
        progress=False,
    )
    result = run_biases(cfg, backend=Knows(mbpp, known), model="knows")  # type: ignore[arg-type]
    anon, examples = result["rows"]
    assert result["pass@1 unmodified"] == 1.0 and anon["drop"] == 0.0
    assert (examples["pass@1 intervened"], examples["drop"]) == (0.0, 1.0)
    assert examples["drop 95% interval"] == [1.0, 1.0] and examples["relative drop"] == 1.0
    assert (
        "| remove_examples | 3 | 0 | 1.000 | 0.000 | +1.000 |"
        in (tmp_path / "mbpp" / "biases.md").read_text()
    )

    task = Subset(["HumanEval/0", "HumanEval/38"])
    both = task.problems()
    knows = Knows(task, [*both, intervene(both[0], "remove_examples").problem])
    cfg = BiasesConfig(
        "humaneval",
        backend="-",
        interventions=("remove_examples",),
        out=tmp_path / "he",
        progress=False,
    )
    result = run_biases(cfg, task=task, backend=knows, model="knows")  # type: ignore[arg-type]
    (row,) = result["rows"]
    assert (row["problems"], row["skipped"], row["drop"]) == (1, 1, 0.0)
    (skip,) = result["skipped"]["remove_examples"]
    assert skip["problem"] == "HumanEval/38" and "no examples" in skip["reason"]

    alone = Subset(["HumanEval/38"])
    cfg = BiasesConfig(
        "humaneval",
        backend="-",
        interventions=("remove_examples", "anonymize_name"),
        out=tmp_path / "alone",
        progress=False,
    )
    result = run_biases(cfg, task=alone, backend=Knows(alone, []), model="knows")  # type: ignore[arg-type]
    assert [r["intervention"] for r in result["rows"]] == ["anonymize_name"]
    assert "applies to none of the 1 problems" in result["not applied"]["remove_examples"]
    assert not (tmp_path / "alone" / "remove_examples").exists()
    assert "remove_examples: not applied" in (tmp_path / "alone" / "biases.md").read_text()


def test_bad_bias_requests(tmp_path: Path) -> None:
    base = {"backend": "-", "out": tmp_path / "x", "progress": False}
    with pytest.raises(PalestraError, match="not gsm8k"):
        run_biases(BiasesConfig("gsm8k", **base))
    with pytest.raises(PalestraError, match="unknown intervention 'rename'"):
        run_biases(BiasesConfig("humaneval", interventions=("anonymize_name", "rename"), **base))
    with pytest.raises(PalestraError, match="--interventions, not --intervention"):
        run_biases(BiasesConfig("humaneval", intervention="anonymize_name", **base))
    with pytest.raises(PalestraError, match="names one twice"):
        run_biases(BiasesConfig("humaneval", interventions=("anonymize_name",) * 2, **base))
    assert not (tmp_path / "x").exists()  # every request refused before any run


def test_drop_table_by_hand() -> None:
    (row,) = drop_table({"a": 1.0, "b": 0.5, "c": 0.0}, {"r": {"a": 0.0, "b": 0.5}, "s": {}})
    assert (row["problems"], row["skipped"]) == (2, 1)
    assert row["pass@1 original"] == 0.75 and row["pass@1 intervened"] == 0.25
    assert row["drop"] == 0.5 and row["relative drop"] == pytest.approx(2 / 3)
    half = 1.96 * 0.5**0.5 / 2**0.5  # drops 1 and 0: standard deviation 0.707 over 2 problems
    assert row["drop 95% interval"] == pytest.approx([0.5 - half, 0.5 + half])
