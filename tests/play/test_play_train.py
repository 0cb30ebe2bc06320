"""PPO and BA3C on Atari: kernels against slow references, smoke runs, exact resume, eval."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("ale_py")

from palestra.core.config import ConfigError, config_from_mapping
from palestra.core.runs import read_metrics
from palestra.play.common import gae, load_policy, nstep_returns
from palestra.play.config import PlayTrainConfig, cpu_has_bf16
from palestra.play.evaluate import evaluate, random_scores
from palestra.play.train import train

TIMING = {"time", "steps_per_s", "frames_per_s", "rollout_steps_per_s"}


def _slow_gae(rewards, values, dones, next_value, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, the sum cut after the episode's last step."""
    T, N = rewards.shape
    adv = torch.zeros(T, N, dtype=torch.float64)
    for n in range(N):
        v_next = [values[t + 1, n] if t + 1 < T else next_value[n] for t in range(T)]
        deltas = [
            rewards[t, n] + gamma * v_next[t] * (1 - dones[t, n]) - values[t, n] for t in range(T)
        ]
        for t in range(T):
            total, weight = 0.0, 1.0
            for k in range(t, T):
                total += weight * deltas[k]
                if dones[k, n]:
                    break
                weight *= gamma * lam
            adv[t, n] = total
    return adv


def test_gae_matches_slow_reference() -> None:
    g = torch.Generator().manual_seed(0)
    T, N = 13, 4
    rewards = torch.randn(T, N, generator=g, dtype=torch.float64)
    values = torch.randn(T, N, generator=g, dtype=torch.float64)
    dones = (torch.rand(T, N, generator=g) < 0.2).double()
    next_value = torch.randn(N, generator=g, dtype=torch.float64)
    adv, ret = gae(rewards, values, dones, next_value, 0.99, 0.95)
    expected = _slow_gae(rewards, values, dones, next_value, 0.99, 0.95)
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values)
    # lambda = 1: GAE returns are the n-step returns of A3C
    _, ret1 = gae(rewards, values, dones, next_value, 0.9, 1.0)
    torch.testing.assert_close(ret1, nstep_returns(rewards, dones, next_value, 0.9))


def test_nstep_returns_by_hand() -> None:
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    ret = nstep_returns(rewards, dones, torch.tensor([10.0]), gamma=0.5)
    assert ret[:, 0].tolist() == [1.0, 0.0, 2.0 + 0.5 * 10.0]


def test_config_defaults_and_errors() -> None:
    assert PlayTrainConfig(algo="ba3c").rollout == 5
    assert PlayTrainConfig().num_envs == 8 and PlayTrainConfig().lr == 2.5e-4
    with pytest.raises(ValueError, match="screens only"):
        PlayTrainConfig(obs="ram", env_backend="ale")
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_mapping(PlayTrainConfig, {"learning_rate": 1})


def test_precision_auto_follows_the_cpu_and_is_saved_resolved(tmp_path: Path) -> None:
    native = tmp_path / "native"
    native.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 sha_ni\n")
    plain = tmp_path / "plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma avx512f\n")
    assert cpu_has_bf16(native) and not cpu_has_bf16(plain)
    assert not cpu_has_bf16(tmp_path / "missing")
    expected = "bf16" if cpu_has_bf16() else "fp32"
    assert PlayTrainConfig().precision == expected
    assert PlayTrainConfig(precision="fp32").precision == "fp32"
    with pytest.raises(ValueError, match="precision"):
        PlayTrainConfig(precision="fp16")  # type: ignore[arg-type]
    run_dir = train(_cfg(tmp_path, obs="screen", total_steps=16, precision="bf16"))
    assert json.loads((run_dir / "config.json").read_text())["precision"] == "bf16"
    model, saved = load_policy(run_dir)
    assert saved.precision == "bf16" and model.bf16


def _cfg(tmp_path: Path, **kw: Any) -> PlayTrainConfig:
    base: dict[str, Any] = dict(
        num_envs=2,
        rollout=8,
        total_steps=32,
        minibatches=2,
        epochs=2,
        hidden=32,
        runs_root=tmp_path,
        progress=False,
    )
    return PlayTrainConfig(**{**base, **kw})


@pytest.mark.parametrize("algo", ["ppo", "ba3c"])
@pytest.mark.parametrize("obs", ["screen", "ram", "both"])
def test_smoke_run_writes_records(algo: str, obs: str, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, algo=algo, obs=obs, checkpoint_every=1)
    run_dir = train(cfg)
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [16, 32]
    for r in records:
        assert r["steps_per_s"] > 0 and r["entropy"] > 0
        assert all(v == v for k, v in r.items() if k != "explained_variance")  # no NaN
    assert (run_dir / "model.pt").exists()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["agent_steps"] == 32 and summary["frames"] == 128
    model, saved = load_policy(run_dir)
    assert saved.obs == obs and saved.algo == algo and model.obs == obs


@pytest.mark.parametrize(("algo", "obs"), [("ppo", "ram"), ("ba3c", "both")])
def test_resume_continues_exactly(algo: str, obs: str, tmp_path: Path) -> None:
    """Drop the newest checkpoint of a finished run (as if it had been killed after the one
    before, with later steps already logged), resume, and get the very metrics and weights
    of the run that never stopped, and of an independent uninterrupted run."""
    cfg = _cfg(tmp_path / "a", algo=algo, obs=obs, total_steps=96, checkpoint_every=2)
    run_dir = train(cfg)
    before = read_metrics(run_dir)
    weights = torch.load(run_dir / "model.pt", weights_only=False)["model"]
    checkpoints = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    assert [p.stem for p in checkpoints] == ["step_000000064", "step_000000096"]
    checkpoints[-1].unlink()
    (run_dir / "model.pt").unlink()

    assert train(dataclasses.replace(cfg, resume=True)) == run_dir
    after = read_metrics(run_dir)
    reference = read_metrics(train(dataclasses.replace(cfg, runs_root=tmp_path / "b")))

    def strip(records: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in records]

    assert [r["step"] for r in after] == [16 * i for i in range(1, 7)]
    assert strip(after) == strip(before) == strip(reference)
    resumed = torch.load(run_dir / "model.pt", weights_only=False)["model"]
    for name, tensor in weights.items():
        assert torch.equal(resumed[name], tensor), f"{name} differs after resuming"


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, obs="ram", total_steps=16)
    train(cfg)
    with pytest.raises(Exception, match="different config"):
        train(dataclasses.replace(cfg, lr=1e-3, resume=True))


def test_evaluate_writes_scores_and_frames(tmp_path: Path) -> None:
    run_dir = train(_cfg(tmp_path, obs="ram", total_steps=16))
    result = evaluate(run_dir, 2, max_frames=800, frames=tmp_path / "strip", greedy=True)
    assert len(result["scores"]) == 2 and result["protocol"]["clipped"] is False
    assert all(0 < n <= 200 for n in result["lengths"])
    assert (tmp_path / "strip.gif").exists() and (tmp_path / "strip.png").exists()
    assert json.loads((run_dir / "eval.json").read_text())["mean"] == result["mean"]
    assert len(random_scores("breakout", 2, max_frames=400)) == 2


def test_bench_suite_runs_its_throughput_part_tiny(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from palestra.core.bench import get_suite, run_suite
    from palestra.play.bench import AtariBenchOptions

    assert get_suite("atari").config is AtariBenchOptions
    options = [
        "parts=throughput",
        "num_envs=2",
        "rollout=8",
        "ba3c_rollout=4",
        "minibatches=2",
        "epochs=1",
        "iterations=2",
        "threads=1",
    ]
    json_path, md_path = run_suite(
        "atari", quick=True, out_dir=tmp_path / "results", options=options, runs_root=tmp_path
    )
    result = json.loads(json_path.read_text())
    figures = {f["name"]: f for f in result["figures"]}
    assert figures["PPO screen training"]["value"] > 0
    assert figures["PPO screen training"]["peer_value"] > 0
    assert figures["BA3C ram training"]["value"] > 0
    assert "Training throughput" in md_path.read_text()


def test_bench_learning_part_keeps_its_runs_and_resumes_them(tmp_path: Path) -> None:
    """With ``runs=DIR`` the learning part trains into DIR with checkpoints; running the
    same command again continues those runs (here: finds them finished) instead of
    training anew, and reports the same training curve."""
    from palestra.core.bench import run_suite

    options = [
        "parts=learning",
        "learn_games=breakout",
        "learn_obs=ram",
        "frames=4096",  # one PPO update of 8 envs x 128 steps
        "seeds=1",
        "eval_episodes=1",
        "threads=1",
        f"runs={tmp_path / 'kept'}",
    ]
    results = []
    for attempt in ("first", "again"):
        json_path, _ = run_suite(
            "atari", quick=True, out_dir=tmp_path / attempt, options=options, runs_root=tmp_path
        )
        result = json.loads(json_path.read_text())
        results.append(result["data"]["learning"])
        assert any("up to 30 no-op starts, actions sampled" in n for n in result["notes"])
    (run_dir,) = (tmp_path / "kept" / "breakout-ram-0").iterdir()
    assert (run_dir / "model.pt").exists() and any((run_dir / "checkpoints").iterdir())
    assert [r["step"] for r in read_metrics(run_dir)] == [1024]  # one update, trained once
    assert results[0]["curves"] == results[1]["curves"]


def test_bench_options_refuse_an_unknown_observation_mode() -> None:
    from palestra.play.bench import AtariBenchOptions

    assert AtariBenchOptions(learn_obs=("ram", "screen")).learn_obs == ("ram", "screen")
    with pytest.raises(ValueError, match="unknown learn_obs"):
        AtariBenchOptions(learn_obs=("ram", "rom"))


def test_bench_learning_part_trains_the_papers_ram_network_beside(tmp_path: Path) -> None:
    from palestra.core.bench import run_suite

    options = [
        "parts=learning",
        "learn_games=breakout",
        "learn_obs=ram",
        "learn_nets=palestra,paper",
        "frames=4096",
        "eval_episodes=1",
        "threads=1",
        f"runs={tmp_path / 'kept'}",
    ]
    json_path, _ = run_suite(
        "atari", quick=True, out_dir=tmp_path / "out", options=options, runs_root=tmp_path
    )
    rows = json.loads(json_path.read_text())["data"]["learning"]["rows"]
    assert [r[1] for r in rows] == ["ram", "ram/paper"]
    (paper_run,) = (tmp_path / "kept" / "breakout-ram-0-paper").iterdir()
    saved = json.loads((paper_run / "config.json").read_text())
    assert (saved["hidden"], saved["ram_stack"]) == (128, 1)
    with pytest.raises(ValueError, match="unknown learn_nets"):
        from palestra.play.bench import AtariBenchOptions

        AtariBenchOptions(learn_nets=("big",))
