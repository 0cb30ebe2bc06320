"""ViZDoom scenarios behind the AtariGame face: steps, timeouts, exact state, training."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("vizdoom")

from palestra.core.errors import PalestraError
from palestra.core.runs import read_metrics
from palestra.play.config import PlayTrainConfig
from palestra.play.doom import DoomGame, DoomSettings
from palestra.play.train import train

SETTINGS = DoomSettings(game="doom/my_way_home")


def test_my_way_home_has_the_papers_actions_and_times_out_truncated() -> None:
    game = DoomGame(SETTINGS, 0)
    assert game.n_actions == 8  # forward x turn right x turn left
    game.reset()
    assert game.observation()["screen"].shape == (4, 84, 84)
    assert game.observation()["screen"][-1].any() and not game.observation()["screen"][0].any()
    total, steps = 0.0, 0
    while True:
        reward, terminated, truncated = game.step(0)  # no button: the vest is never reached
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert truncated and not terminated and steps == 525  # 2,100 tics of 4
    assert total == pytest.approx(-0.21, abs=1e-6)  # the living reward, -0.0001 a tic
    game.close()


def test_state_is_restored_exactly_by_replaying_the_episode() -> None:
    rng = np.random.default_rng(0)
    game = DoomGame(SETTINGS, 1)
    game.reset()
    for a in rng.integers(8, size=30):
        game.step(int(a))
    state = game.get_state()
    tail = rng.integers(8, size=20)

    def play() -> list[tuple[float, np.ndarray]]:
        return [(game.step(int(a))[0], game.screen.copy()) for a in tail]

    first = play()
    game.set_state(state)
    again = play()
    for (r1, s1), (r2, s2) in zip(first, again, strict=True):
        assert r1 == r2 and np.array_equal(s1, s2)
    other = DoomGame(SETTINGS, 2)  # another seed starts elsewhere
    other.reset()
    game.set_state(state)
    assert game.position() != other.position()
    game.close()
    other.close()


def test_config_refuses_what_doom_cannot_do() -> None:
    with pytest.raises(ValueError, match="no-clip-rewards"):
        PlayTrainConfig(game="doom/my_way_home", algo="ba3c", obs="screen")
    with pytest.raises(ValueError, match="from the screen"):
        PlayTrainConfig(game="doom/my_way_home", obs="ram", clip_rewards=False)
    with pytest.raises(PalestraError, match=r"unknown ViZDoom scenario 'nowhere'; known: .*basic"):
        DoomGame(DoomSettings(game="doom/nowhere"), 0)


def test_ba3c_trains_on_doom_and_resumes_exactly(tmp_path: Path) -> None:
    cfg = PlayTrainConfig(
        game="doom/my_way_home",
        obs="screen",
        algo="ba3c",
        clip_rewards=False,
        num_envs=4,
        rollout=4,
        total_steps=64,
        checkpoint_every=2,
        runs_root=tmp_path / "a",
        progress=False,
    )
    run_dir = train(cfg)
    before = read_metrics(run_dir)
    weights = torch.load(run_dir / "model.pt", weights_only=False)["model"]
    sorted((run_dir / "checkpoints").glob("step_*.pt"))[-1].unlink()
    (run_dir / "model.pt").unlink()
    assert train(dataclasses.replace(cfg, resume=True)) == run_dir
    timing = {"time", "steps_per_s", "frames_per_s", "rollout_steps_per_s"}
    strip = [{k: v for k, v in r.items() if k not in timing} for r in read_metrics(run_dir)]
    assert strip == [{k: v for k, v in r.items() if k not in timing} for r in before]
    resumed = torch.load(run_dir / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(resumed[k], v) for k, v in weights.items())


def test_expert_search_on_doom_returns_by_replay_and_its_best_cell_replays() -> None:
    from palestra.play.expert import ExpertSearchConfig, record, search

    cfg = ExpertSearchConfig(game="doom/my_way_home", steps=1500, progress=False)
    result = search(cfg, 0, 0)
    assert result.cells > 3 and all(len(key) == 2 for key in result.archive)  # (x, y) squares
    data = record(cfg.game, result.best.actions, cfg.seed, 0)  # the search's game seed
    assert data.rewards.sum(dtype=np.float64) == pytest.approx(result.best.score, abs=1e-5)
    assert data.stacks("screen")["screen"].shape == (len(data), 4, 84, 84)
