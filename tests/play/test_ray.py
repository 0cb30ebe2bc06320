"""BA3C with its rollout workers as Ray actors, on a local Ray cluster started by the test:
training runs and learns its records, resumes exactly, and the scaling bench reports."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("ale_py")
import ray

from palestra.core.runs import read_metrics
from palestra.play.config import PlayTrainConfig
from palestra.play.train import train

TIMING = {"time", "steps_per_s", "frames_per_s", "rollout_steps_per_s"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local Ray cluster (2 CPUs) for the module's tests, shut down after them."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def _cfg(tmp_path: Path, **kw: Any) -> PlayTrainConfig:
    base: dict[str, Any] = dict(
        algo="ba3c",
        obs="ram",
        num_envs=4,
        rollout=4,
        total_steps=48,  # 3 updates of 4 envs x 4 steps
        hidden=32,
        workers=2,
        ray="local",  # Ray is already initialised by the fixture: the trainer joins it
        checkpoint_every=1,
        runs_root=tmp_path,
        progress=False,
    )
    return PlayTrainConfig(**{**base, **kw})


def test_config_checks_workers() -> None:
    with pytest.raises(ValueError, match="needs workers"):
        PlayTrainConfig(algo="ba3c", ray="local")
    with pytest.raises(ValueError, match="for algo ba3c"):
        PlayTrainConfig(algo="ppo", workers=2)
    with pytest.raises(ValueError, match="num_envs"):
        PlayTrainConfig(algo="ba3c", num_envs=2, workers=3)


def test_ba3c_trains_on_ray_actors_and_resumes_exactly(cluster: None, tmp_path: Path) -> None:
    """3 updates with 2 actors: records finite, steps = updates x envs x rollout, weights
    moved; then drop the last checkpoint, resume (new actors restored from the checkpoint)
    and get the very same records and weights."""
    cfg = _cfg(tmp_path)
    run_dir = train(cfg)
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [16, 32, 48]
    for r in records:
        for key in ("policy_loss", "value_loss", "entropy", "steps_per_s", "frames_per_s"):
            assert math.isfinite(r[key]), (key, r)
        assert r["steps_per_s"] > 0 and r["entropy"] > 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["agent_steps"] == 3 * 4 * 4 and summary["workers"] == 2

    first = torch.load(sorted((run_dir / "checkpoints").glob("step_*.pt"))[0], weights_only=False)
    final = torch.load(run_dir / "model.pt", weights_only=False)["model"]
    assert any(not torch.equal(final[k], v) for k, v in first["state"]["model"].items())
    assert len(first["state"]["env"]) == 2  # one saved state per actor

    checkpoints = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    checkpoints[-1].unlink()
    (run_dir / "model.pt").unlink()
    assert train(dataclasses.replace(cfg, resume=True)) == run_dir

    def strip(rs: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in rs]

    assert strip(read_metrics(run_dir)) == strip(records)
    resumed = torch.load(run_dir / "model.pt", weights_only=False)["model"]
    for name, tensor in final.items():
        assert torch.equal(resumed[name], tensor), f"{name} differs after resuming"
    assert ray.is_initialized()  # the trainer left the cluster it did not start running


def test_worker_counts() -> None:
    from palestra.play.bench_ray import worker_counts

    assert worker_counts(1) == [1]
    assert worker_counts(2) == [1, 2]
    assert worker_counts(6) == [1, 2, 4, 6]
    assert worker_counts(8) == [1, 2, 4, 8]


def test_scaling_bench_reports_one_figure_per_worker_count(cluster: None, tmp_path: Path) -> None:
    from palestra.core.bench import run_suite

    options = ["obs=ram", "num_envs=2", "rollout=2", "workers=1,2", "updates=2"]
    json_path, md_path = run_suite(
        "atari-ray", quick=True, out_dir=tmp_path / "results", options=options, runs_root=tmp_path
    )
    result = json.loads(json_path.read_text())
    figures = result["figures"]
    assert [f["name"] for f in figures] == ["BA3C ram, 1 Ray worker", "BA3C ram, 2 Ray workers"]
    for f in figures:
        assert math.isfinite(f["value"]) and f["value"] > 0
        assert math.isfinite(f["peer_value"]) and f["peer_value"] > 0
    assert result["data"]["scaling"]["ram"]["workers"] == [1, 2]
    assert (tmp_path / "results" / "atari-ray_scaling.png").exists()
    assert "BA3C training throughput" in md_path.read_text()
    assert ray.is_initialized()  # the bench joined the test's cluster and left it running
