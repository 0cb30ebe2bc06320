"""Multi-Game Decision Transformers: the model's causal reads and shapes, return-conditioned
acting among legal actions, data recorded from a trained agent and random play, windows
padded at episode starts, a tiny two-game training that resumes and plays both games."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")

from palestra.core.runs import read_metrics
from palestra.models.mgdt import MGDT, N_ACTIONS, RETURN_BINS, MGDTConfig, return_bins
from palestra.play.config import MGDTDataConfig, MGDTTrainConfig, PlayTrainConfig
from palestra.play.mgdt import GameData, load_mgdt, record_game, sample_windows, train_mgdt
from palestra.play.train import train


def _batch(cfg: MGDTConfig, B: int = 3) -> tuple[torch.Tensor, ...]:
    K = cfg.context
    frames = torch.randint(0, 256, (B, K, cfg.frames, 84, 84), dtype=torch.uint8)
    returns = torch.randint(0, RETURN_BINS, (B, K))
    actions = torch.randint(0, N_ACTIONS, (B, K))
    rewards = torch.randint(-1, 2, (B, K)).float()
    return frames, returns, actions, rewards


def test_heads_read_only_what_comes_before_what_they_predict() -> None:
    torch.manual_seed(0)
    cfg = MGDTConfig(d_model=32, n_layer=2, n_head=2, context=3, patch=21, dropout=0.0)
    model = MGDT(cfg).eval()
    frames, returns, actions, rewards = _batch(cfg)
    a_logits, r_logits, w_logits = model(frames, returns, actions, rewards)
    assert a_logits.shape == (3, 3, N_ACTIONS) and r_logits is not None
    assert r_logits.shape == (3, 3, RETURN_BINS) and w_logits.shape == (3, 3, 3)
    # the last step's action and reward do not change its action or return prediction ...
    other = actions.clone()
    other[:, -1] = (other[:, -1] + 1) % N_ACTIONS
    other_rewards = rewards.clone()
    other_rewards[:, -1] = -other_rewards[:, -1] + (other_rewards[:, -1] == 0).float()
    a2, r2, w2 = model(frames, returns, other, other_rewards)
    assert torch.allclose(a2[:, -1], a_logits[:, -1], atol=1e-5)
    assert torch.allclose(r2[:, -1], r_logits[:, -1], atol=1e-5)
    assert not torch.allclose(w2[:, -1], w_logits[:, -1])  # ... but the reward head reads a_t
    # the return token does not reach the return head, and does reach the action head
    returns2 = returns.clone()
    returns2[:, -1] = (returns2[:, -1] + 7) % RETURN_BINS
    a3, r3, _ = model(frames, returns2, actions, rewards)
    assert torch.allclose(r3[:, -1], r_logits[:, -1], atol=1e-5)
    assert not torch.allclose(a3[:, -1], a_logits[:, -1])
    bc = MGDT(dataclasses.replace(cfg, returns=False))
    a_bc, none, _ = bc(frames, None, actions, rewards)
    assert a_bc.shape == (3, 3, N_ACTIONS) and none is None
    assert return_bins(torch.tensor([-50.0, -20.0, 0.4, 99.0, 500.0])).tolist() == [
        0,
        0,
        20,
        119,
        119,
    ]


def test_act_keeps_to_legal_actions_and_kappa_favours_high_returns() -> None:
    torch.manual_seed(0)
    cfg = MGDTConfig(d_model=32, n_layer=1, n_head=2, context=2, patch=21, dropout=0.0)
    model = MGDT(cfg).eval()
    frames, returns, actions, rewards = _batch(cfg, B=64)
    legal = torch.zeros(64, N_ACTIONS, dtype=torch.bool)
    legal[:, [0, 1, 3]] = True
    g = torch.Generator().manual_seed(0)
    action, low = model.act(frames, returns, actions, rewards, legal, kappa=0.0, generator=g)
    assert set(action.tolist()) <= {0, 1, 3}
    _, high = model.act(frames, returns, actions, rewards, legal, kappa=30.0, generator=g)
    assert high.float().mean() > low.float().mean() + 20  # expert returns drawn


def _agent(tmp_path: Path) -> Path:
    cfg = PlayTrainConfig(
        game="breakout",
        obs="ram",
        algo="ppo",
        total_steps=32,
        num_envs=2,
        rollout=16,
        minibatches=2,
        epochs=1,
        hidden=16,
        runs_root=tmp_path / "agents",
        progress=False,
    )
    return train(cfg)


def test_data_from_an_agent_and_random_play_then_a_two_game_model_resumes_and_plays(
    tmp_path: Path,
) -> None:
    agent = _agent(tmp_path)
    data = tmp_path / "data"
    out = record_game(
        MGDTDataConfig(
            game="breakout", sources=(f"{agent}:0.5", "random"), steps=150, envs=2, out=data
        )
    )
    record_game(MGDTDataConfig(game="pong", sources=("random",), steps=10, envs=1, out=data))
    d = GameData.load(out)
    meta = json.loads((out / "episodes.json").read_text())
    assert {e["source"] for e in meta["episodes"]} == {f"{agent}:0.5", "random"}
    assert isinstance(d.frames, np.memmap) and d.frames.shape[1:] == (84, 84)
    # full-set actions of Breakout's minimal set (NOOP, FIRE, RIGHT, LEFT)
    assert set(np.unique(d.actions)) <= {0, 1, 3, 4}
    e = meta["episodes"][0]
    assert e["score"] == d.rewards[e["start"] : e["start"] + e["length"]].sum()
    assert d.returns[e["start"]] == np.sign(d.rewards[e["start"] : e["start"] + e["length"]]).sum()

    rng = np.random.default_rng(0)
    b = sample_windows([d], 64, 4, 4, rng)
    assert b["frames"].shape == (64, 4, 4, 84, 84) and b["mask"][:, -1].all()
    starts = ~b["mask"]  # padded steps: zero tokens
    assert (b["actions"][starts] == 0).all() and (b["returns"][starts] == 0).all()

    cfg = MGDTTrainConfig(
        data=data,
        d_model=32,
        n_layer=1,
        n_head=2,
        steps=6,
        batch=4,
        warmup=2,
        log_every=1,
        checkpoint_every=3,
        eval_episodes=1,
        runs_root=tmp_path / "runs",
        progress=False,
    )
    run_dir = train_mgdt(cfg)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["scores"]) == {"breakout", "pong"}
    assert summary["data"]["breakout"]["episodes"] == len(meta["episodes"])
    before = read_metrics(run_dir)
    checkpoints = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    checkpoints[-1].unlink()
    (run_dir / "model.pt").unlink()
    assert train_mgdt(dataclasses.replace(cfg, resume=True)) == run_dir

    def strip(rs: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("time", "seconds")} for r in rs]

    assert strip(read_metrics(run_dir)) == strip(before)
    assert load_mgdt(run_dir).cfg.returns


def test_bench_mgdt_quick_trains_agents_records_data_and_compares_dt_with_bc(
    tmp_path: Path,
) -> None:
    from palestra.core.bench import run_suite

    options = [
        "games=breakout",
        "steps_per_source=40",
        "agent_frames=64",
        f"runs={tmp_path / 'runs'}",
    ]
    json_path, md_path = run_suite(
        "mgdt", quick=True, out_dir=tmp_path / "out", options=options, runs_root=tmp_path
    )
    result = json.loads(json_path.read_text())
    assert set(result["data"]["models"]) == {"dt 64x2", "bc 64x2"}
    assert set(result["data"]["single"]) == {"breakout"}  # one DT per game, on its data
    assert set(result["data"]["single"]["breakout"]["scores"]) == {"breakout"}
    sources = result["data"]["sources"]["breakout"]
    assert set(sources) == {
        "random",
        *(f"{result['data']['agents']['breakout']}:{e}" for e in (0.5, 0.25, 0.0)),
    }
    assert "Normalised score by model size" in md_path.read_text()
    # a second run reuses the agent, the data and the models
    data = tmp_path / "runs" / "data" / "breakout" / "frames.npy"
    stamp = data.stat().st_mtime
    run_suite("mgdt", quick=True, out_dir=tmp_path / "out2", options=options, runs_root=tmp_path)
    assert data.stat().st_mtime == stamp
