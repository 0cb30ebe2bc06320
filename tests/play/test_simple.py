"""SimPLe on the RAM: real data with resets marked, the model's games (ends, truncation,
restarts from real states), a tiny run that resumes exactly, its policy read by play eval."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")

from palestra.core.runs import read_metrics
from palestra.models.world_model import RamWorldModel
from palestra.play.atari import AtariVecEnv
from palestra.play.config import SimpleConfig
from palestra.play.evaluate import evaluate
from palestra.play.simple import (
    ImaginedGames,
    RealData,
    collect,
    horizon_error,
    load_world_model,
    train_simple,
)

TIMING = {"time"}


def _cfg(root: Path, **kw: object) -> SimpleConfig:
    base = dict(
        game="breakout",
        iterations=2,
        real_steps=2 * 2 * 40,  # 40 steps of 2 envs per iteration
        real_envs=2,
        model_hidden=32,
        model_steps=4,
        first_model_factor=2,
        model_batch=16,
        imagined_steps=64,
        model_envs=4,
        horizon=6,
        rollout=8,
        minibatches=2,
        epochs=1,
        hidden=16,
        eval_episodes=1,
        runs_root=root,
        progress=False,
    )
    return SimpleConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_collect_marks_resets_and_keeps_the_true_next_ram(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with AtariVecEnv(cfg.settings(), 2, 0) as env:
        obs = env.reset()
        data, obs, episodes = collect(env, obs, 300, None, np.random.default_rng(0))
    assert data.ram.shape == (300, 2, 4, 128) and data.next_ram.shape == (300, 2, 128)
    assert episodes  # random Breakout loses its 5 lives within 300 steps
    # where no reset followed, the next step's stack ends with this step's next RAM
    follows = ~data.reset[:-1]
    assert np.array_equal(data.ram[1:, :, -1][follows], data.next_ram[:-1][follows])
    assert data.done.sum() >= data.reset.sum() >= len(episodes)  # lives end episodes too
    path = tmp_path / "d.npz"
    data.save(path)
    again = RealData.load(path)
    assert all(np.array_equal(getattr(again, k), getattr(data, k)) for k in data.__dict__)
    assert RealData.cat([data, again]).action.shape == (600, 2)


def test_imagined_games_end_restart_and_truncate() -> None:
    torch.manual_seed(0)
    model = RamWorldModel(4, 2, 16).eval()
    starts = torch.randint(0, 256, (10, 2, 128), dtype=torch.uint8)
    games = ImaginedGames(model, starts, 3, horizon=4, temperature=0.0, generator=torch.Generator())
    with torch.no_grad():
        model.done.bias.fill_(-50.0)  # the model never ends a game: only truncation does
    truncations = 0
    for _ in range(8):
        before = games.stack.clone()
        reward, terminated, truncated, final = games.step(torch.zeros(3, dtype=torch.long))
        assert not terminated.any() and set(reward.tolist()) <= {-1.0, 0.0, 1.0}
        truncations += int(truncated.sum())
        # a game goes on from its own state (the stack shifts) or restarts at a real state
        for i in range(3):
            assert torch.equal(final["ram"][i, 0], before[i, 1])
            if truncated[i]:
                assert any(torch.equal(games.stack[i], s) for s in starts)
    assert truncations == 6  # each of 3 games cut twice in 8 steps of a 4-step horizon
    with torch.no_grad():
        model.done.bias.fill_(50.0)  # now every step ends every game: terminated
    _, terminated, truncated, _ = games.step(torch.zeros(3, dtype=torch.long))
    assert terminated.all() and not truncated.any()


def test_tiny_run_resumes_exactly_and_play_eval_reads_its_policy(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path / "a")
    run_dir = train_simple(cfg)
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [80, 160]
    assert "wm_exact_ram" not in records[0] and "wm_exact_ram" in records[1]  # held out
    assert all("eval_return" in r and "imagined_reward_per_step" in r for r in records)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interactions"] == 160 and set(summary["seconds"]) == {
        "collect",
        "model",
        "policy",
        "eval",
    }
    assert sorted(p.name for p in (run_dir / "data").iterdir()) == ["01.npz", "02.npz"]
    weights = torch.load(run_dir / "model.pt", weights_only=False)["model"]

    # killed after the first iteration: resume, and get the same records and weights
    checkpoints = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    checkpoints[-1].unlink()
    (run_dir / "model.pt").unlink()
    assert train_simple(dataclasses.replace(cfg, resume=True)) == run_dir
    reference = read_metrics(train_simple(dataclasses.replace(cfg, runs_root=tmp_path / "b")))

    def strip(rs: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in rs]

    assert strip(read_metrics(run_dir)) == strip(records) == strip(reference)
    resumed = torch.load(run_dir / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(resumed[k], v) for k, v in weights.items())

    # the policy is a RAM actor-critic `palestra play eval` loads; the world model reloads
    result = evaluate(run_dir, 1, max_frames=2000)
    assert result["obs"] == "ram" and len(result["scores"]) == 1
    world = load_world_model(run_dir / "world_model.pt")
    data = RealData.load(run_dir / "data" / "02.npz")
    error = horizon_error(world, data, horizon=3, segments=4)
    assert len(error["bytes"]) == 3 and all(0.0 <= b <= 1.0 for b in error["bytes"])


def test_config_refuses_too_few_steps() -> None:
    with pytest.raises(ValueError, match="less than one step"):
        SimpleConfig(iterations=15, real_envs=8, real_steps=100)


def test_bench_simple_quick_reports_scores_horizon_and_time_and_reuses_its_runs(
    tmp_path: Path,
) -> None:
    from palestra.core.bench import run_suite

    options = ["games=breakout", f"runs={tmp_path / 'runs'}", "jobs=2"]
    json_path, md_path = run_suite(
        "simple", quick=True, out_dir=tmp_path / "out", options=options, runs_root=tmp_path
    )
    result = json.loads(json_path.read_text())
    game = result["data"]["games"]["breakout"]
    assert len(game["simple"]["means"]) == len(game["ppo"]["means"]) == 1
    (simple,) = game["simple"]["runs"]
    assert len(simple["curve"]) == 2 and len(simple["horizon"]["bytes"]) == 5
    assert all(0 <= c <= 1 for c in simple["horizon"]["copy"])
    text = md_path.read_text()
    assert "Wall time of each part" in text and "open loop" in text
    records = sorted((tmp_path / "runs").glob("*/*/metrics.jsonl"))
    assert len(records) == 2  # simple and ppo
    before = [p.read_text() for p in records]
    run_suite("simple", quick=True, out_dir=tmp_path / "out2", options=options, runs_root=tmp_path)
    assert sorted((tmp_path / "runs").glob("*/*/metrics.jsonl")) == records
    assert [p.read_text() for p in records] == before  # finished runs are not trained again
