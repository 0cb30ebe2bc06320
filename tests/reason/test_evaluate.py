"""``palestra eval`` end to end on real servers: a tiny model trained here (served by
:class:`ModelServer` and loaded as ``local:RUN_DIR``) and the scripted server; resuming after
``kill -9`` of a real ``palestra eval`` process; per-sample seeds; the summary's figures
checked against the records by an independent count."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from palestra.core.errors import PalestraError
from palestra.lm.serve_config import ServeConfig
from palestra.lm.server import ModelServer
from palestra.reason.evaluate import EvalConfig, evaluate, read_samples, sample_seed
from palestra.reason.scripted import ScriptedServer

from ..conftest import train_tiny_lm

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import arith_task  # noqa: E402  (registers the task "arith-test")

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_lm(tmp_path_factory.mktemp("runs"))


def records_by_key(run: Path) -> dict[tuple[str, int], dict]:
    records = read_samples(run / "samples.jsonl")
    keyed = {(r["problem"], r["sample"]): r for r in records}
    assert len(keyed) == len(records)  # each (problem, sample) exactly once
    return keyed


def independent_verdict(prompt: str, completion: str) -> bool:
    """Is the completion's leading number the sum in the prompt? (Not the task's checker.)"""
    a, b = map(int, re.fullmatch(r"(\d+)\+(\d+)=", prompt).groups())
    digits = re.match(r"\s*(\d+)", completion)
    return digits is not None and int(digits.group(1)) == a + b


def check_summary(run: Path, problems: int, samples: int) -> dict:
    """The summary agrees with an independent count over the records."""
    summary = json.loads((run / "summary.json").read_text())
    records = records_by_key(run)
    assert len(records) == problems * samples == summary["records"]
    prompts = {p.id: p.prompt for p in arith_task.ArithTask().problems()}
    accepted = [independent_verdict(prompts[p], r["completion"]) for (p, _), r in records.items()]
    assert [r["accepted"] for r in records.values()] == accepted
    assert summary["accepted"] == sum(accepted)
    assert summary["pass@k"]["1"] == pytest.approx(sum(accepted) / len(accepted))
    assert summary["tokens"]["completion"] == sum(r["completion_tokens"] for r in records.values())
    for name in ("summary.json", "report.md", "pass_at_k.png", "maj_at_k.png", "config.json"):
        assert (run / name).is_file()
    return summary


def test_sample_seeds_are_distinct_and_stable() -> None:
    seeds = {sample_seed(0, "t", f"p{p}", i) for p in range(50) for i in range(20)}
    assert len(seeds) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert sample_seed(0, "t", "p1", 2) == sample_seed(0, "t", "p1", 2)
    assert sample_seed(1, "t", "p1", 2) != sample_seed(0, "t", "p1", 2)
    assert sample_seed(0, "gsm8k", "0", 0) == 8025933614640891549  # pinned: every machine


def test_local_and_http_backends_give_the_same_samples(run_dir: Path, tmp_path: Path) -> None:
    common = dict(samples=3, temperature=0.8, limit=6, seed=7, progress=False)
    local = evaluate(
        EvalConfig("arith-test", backend=f"local:{run_dir}", out=tmp_path / "local", **common),
        echo=False,
    )
    with ModelServer(ServeConfig(run_dir, port=0, max_n=4, model_name="tiny")) as server:
        http = evaluate(
            EvalConfig(
                "arith-test", backend=server.url, concurrency=1, out=tmp_path / "http", **common
            ),
            echo=False,
        )
    a, b = records_by_key(local), records_by_key(http)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key]["seed"] == b[key]["seed"] == sample_seed(7, "arith-test", *key)
        assert a[key]["completion"] == b[key]["completion"]
        assert a[key]["prompt_tokens"] == b[key]["prompt_tokens"] > 0
    assert len({r["seed"] for r in a.values()}) == 18  # one seed per sample
    s1, s2 = check_summary(local, 6, 3), check_summary(http, 6, 3)
    assert {k: v for k, v in s1.items() if k not in ("timing", "model", "backend")} == {
        k: v for k, v in s2.items() if k not in ("timing", "model", "backend")
    }


def test_a_prompt_too_long_is_a_failed_sample_not_a_crash(run_dir: Path, tmp_path: Path) -> None:
    cfg = EvalConfig(
        "arith-test",
        backend=f"local:{run_dir}",
        max_tokens=64,  # the whole context: no room for the prompt
        limit=2,
        out=tmp_path / "run",
        progress=False,
    )
    summary = json.loads((evaluate(cfg, echo=False) / "summary.json").read_text())
    assert summary["errors"] == 2 and summary["pass@k"]["1"] == 0.0
    assert all(r["finish_reason"] == "error" for r in records_by_key(tmp_path / "run").values())


def test_resume_after_sigkill_equals_a_clean_run(tmp_path: Path) -> None:
    task = arith_task.ArithTask()
    out = tmp_path / "killed"
    with ScriptedServer(task, task.problems(), 0.5, delay=0.02) as server:
        args = [
            *("eval", "arith-test", "--backend", server.url, "--samples", "4"),
            *("--temperature", "0.8", "--concurrency", "2", "--no-progress", "--out", str(out)),
        ]
        code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); import arith_task; "
            "from palestra.cli import main; sys.argv = ['palestra', *sys.argv[1:]]; main()"
        )
        env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
        child = subprocess.Popen([sys.executable, "-c", code, *args], env=env)
        samples = out / "samples.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if samples.exists() and samples.read_bytes().count(b"\n") >= 10:
                break
            time.sleep(0.01)
        assert child.poll() is None, "the run ended before it could be killed"
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        killed_at = len(read_samples(samples))
        assert 10 <= killed_at < 48
        with open(samples, "ab") as f:  # as if the kill had torn a line in half
            f.write(b'{"task": "arith-test", "problem": "add-')
        rerun = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
        assert "pass@k" in rerun.stdout.decode()
        clean = evaluate(
            EvalConfig(
                "arith-test",
                backend=server.url,
                samples=4,
                temperature=0.8,
                out=tmp_path / "clean",
                progress=False,
            ),
            echo=False,
        )
    resumed = check_summary(out, 12, 4)
    fresh = check_summary(clean, 12, 4)
    assert {k: v for k, v in resumed.items() if k != "timing"} == {
        k: v for k, v in fresh.items() if k != "timing"
    }
    a, b = records_by_key(out), records_by_key(clean)
    assert {k: r["completion"] for k, r in a.items()} == {k: r["completion"] for k, r in b.items()}


def test_resume_refuses_another_config_and_chunks_keep_seeds(tmp_path: Path) -> None:
    task = arith_task.ArithTask()
    with ScriptedServer(task, task.problems(), 0.5) as server:
        cfg = dict(backend=server.url, temperature=1.0, limit=3, progress=False)
        out = tmp_path / "chunked"
        evaluate(
            EvalConfig("arith-test", samples=5, samples_per_request=2, out=out, **cfg), echo=False
        )
        records = records_by_key(out)
        assert len(records) == 15 and server.served["right"] == sum(
            r["accepted"] for r in records.values()
        )
        for (p, i), r in records.items():  # the chunk's seed, the choice within it
            assert r["seed"] == sample_seed(0, "arith-test", p, i - i % 2) and r["choice"] == i % 2
        with pytest.raises(PalestraError, match="differs in: samples"):
            evaluate(EvalConfig("arith-test", samples=6, samples_per_request=2, out=out, **cfg))
        again = evaluate(  # the same config: nothing left to do, the same figures
            EvalConfig(
                "arith-test", samples=5, samples_per_request=2, out=out, concurrency=1, **cfg
            ),
            echo=False,
        )
        assert records_by_key(again) == records


def test_read_samples_drops_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text('{"problem": "a", "sample": 0}\n{"problem": "a", "sa')
    assert read_samples(path) == [{"problem": "a", "sample": 0}]
    assert path.read_text() == '{"problem": "a", "sample": 0}\n'  # appending starts clean


def test_maj_closed_form_matches_brute_force() -> None:
    """The estimator bench's closed form against every sequence of k votes."""
    from palestra.reason.bench_estimators import maj_at_k_closed_form, pass_at_k_truth

    for p, wrong, k in [
        (0.3, [0.7 / 3] * 3, 1),
        (0.3, [0.7 / 3] * 3, 2),
        (0.3, [0.7 / 3] * 3, 5),
        (0.1, [0.45, 0.45], 6),
        (0.3, [0.2], 4),  # the rest (0.5) votes for nothing
    ]:
        probs = [p, *wrong, 1 - p - sum(wrong)]  # classes: 0 right, 1.. wrong, last nothing
        expected = 0.0
        for votes in itertools.product(range(len(probs)), repeat=k):
            counts = Counter(v for v in votes if v != len(probs) - 1)
            if not counts:
                continue
            top = max(counts.values())
            winners = [a for a, c in counts.items() if c == top]
            expected += math.prod(probs[v] for v in votes) * (0 in winners) / len(winners)
        assert maj_at_k_closed_form(p, wrong, k) == pytest.approx(expected, abs=1e-12)
    assert maj_at_k_closed_form(0.37, [0.21] * 3, 2) == pytest.approx(0.37)  # a 1-1 tie: a coin
    assert pass_at_k_truth(0.5, 3) == 0.875


def test_bench_eval_estimator_part_writes_its_report(tmp_path: Path) -> None:
    from palestra.core.bench import run_suite

    options = [
        "parts=estimators",
        "ps=0.5",
        "estimator_problems=30",
        "estimator_samples=4",
    ]
    json_path, md_path = run_suite("eval", quick=True, seed=0, out_dir=tmp_path, options=options)
    result = json.loads(json_path.read_text())
    figures = {f["name"]: f["value"] for f in result["figures"]}
    assert figures["estimator checks passed"] == 1.0
    # k = 1, 2, 4 (ks_for(4)), pass@k and maj@k each
    assert figures["estimates within their interval of the closed form at p=0.5"] == 6
    assert (tmp_path / "eval_estimators.png").is_file() and "closed form" in md_path.read_text()
