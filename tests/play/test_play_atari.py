"""Atari worlds and vector envs: preprocessing, clone/restore, golden trace, RAM batching."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ale_py")

from palestra.core.golden import assert_golden, playthrough
from palestra.core.world import make_world
from palestra.play.atari import (
    AtariGame,
    AtariSettings,
    AtariVecEnv,
    NativeScreenVecEnv,
    atari_world,
    resize84,
)

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


@pytest.mark.parametrize("obs", ["screen", "ram", "both"])
def test_observation_shapes_and_dtypes(obs: str) -> None:
    settings = AtariSettings(game="breakout", obs=obs, ram_stack=4)
    with AtariVecEnv(settings, 2, seed=0) as env:
        first = env.reset()
        result = env.step(np.zeros(2, int))
    expected = {"screen": (2, 4, 84, 84), "ram": (2, 4, 128)}
    keys = {"screen": ["screen"], "ram": ["ram"], "both": ["screen", "ram"]}[obs]
    for o in (first, result.obs):
        assert sorted(o) == sorted(keys)
        for k in keys:
            assert o[k].shape == expected[k] and o[k].dtype == np.uint8
    # the stack starts with zeros before the episode's first frame and shifts by one
    for k in keys:
        assert not first[k][:, :-1].any() and first[k][:, -1].any()
        np.testing.assert_array_equal(result.obs[k][:, -2], first[k][:, -1])
    assert result.reward.dtype == np.float32 and result.terminated.dtype == bool


def test_ram_stack_one() -> None:
    game = AtariGame(AtariSettings(obs="ram", ram_stack=1), seed=0)
    game.reset()
    assert game.observation()["ram"].shape == (1, 128)


def test_resize_and_pooling_match_ales_native_vector_env() -> None:
    """Same frames, same preprocessing: our area resize and max-pool equal ALE's C++ vector
    env up to rounding (no no-ops or FIRE, so both start from the same frame)."""

    def close(ours: np.ndarray, expected: np.ndarray) -> None:
        diff = np.abs(ours.astype(int) - expected)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3

    settings = AtariSettings(obs="screen", noop_max=0, fire_reset=False)
    native = NativeScreenVecEnv(settings, 1, seed=0, threads=1)
    ours = AtariGame(settings, seed=0)
    try:
        expected = native.reset()["screen"][0]
        ours.reset()
        close(ours.screen, expected)
        for action in [1, 1, 2, 3, 3, 0, 2, 2]:
            expected = native.step(np.array([action])).obs["screen"][0]
            ours.step(action)
            close(ours.screen, expected)
    finally:
        native.close()
    assert resize84(np.full((210, 160), 7, np.uint8)).tolist() == [[7] * 84] * 84


def test_clone_restore_is_deterministic() -> None:
    state = atari_world("breakout", obs="both", seed=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        state.apply(int(rng.integers(4)))
    branch = state.clone()
    plan = [int(a) for a in rng.integers(0, 4, 40)]

    def play(s: object) -> list[str]:
        trace = []
        for a in plan:
            s.apply(a)  # type: ignore[attr-defined]
            trace.append(f"{s} {s.reward()}")  # type: ignore[attr-defined]
        return trace

    first = play(state)
    assert play(branch) == first  # the clone replays the same future...
    again = branch.clone()
    assert str(again) == str(branch)  # ...and clones of a stepped clone are independent
    assert str(state) == str(branch)
    assert state.legal_actions() == [0, 1, 2, 3]


def test_sticky_actions_clone_includes_rng() -> None:
    state = atari_world("breakout", obs="ram", seed=1, sticky=0.25)
    for _ in range(10):
        state.apply(2)
    branch = state.clone()
    plan = [1, 2, 3, 2, 2, 3, 3, 0] * 4
    for s in (state, branch):
        for a in plan:
            s.apply(a)
    assert str(state) == str(branch)


def test_golden_playthrough() -> None:
    state = make_world("atari", game="breakout", obs="both", seed=0)
    assert_golden(playthrough(state, seed=0, max_steps=200), GOLDEN / "atari_breakout_seed0.txt")


def test_episodic_life_ends_training_episode_not_game() -> None:
    settings = AtariSettings(obs="ram", episodic_life=True)
    game = AtariGame(settings, seed=0)
    game.reset()
    lives = game.lives
    for _ in range(2000):
        _, terminated, _ = game.step(0)  # never FIRE again: lives are lost quickly
        if terminated:
            break
    assert terminated and game.lives == lives - 1 and not game.game_over


def _per_env_trace(settings: AtariSettings, seeds: list[int], actions: np.ndarray) -> tuple:
    games = [AtariGame(settings, s) for s in seeds]
    for g in games:
        g.reset()
    rams, rewards, dones, episodes = [], [], [], []
    for t, row in enumerate(actions):
        for i, (g, a) in enumerate(zip(games, row, strict=True)):
            r, term, trunc = g.step(int(a))
            rewards.append(r)
            dones.append(term or trunc)
            if g.game_over or g.truncated:
                episodes.append((t, i, g.episode_return, g.episode_length))
                g.reset()
        rams.append(np.stack([g.ram for g in games]))
    return np.stack(rams), rewards, dones, episodes


def _vec_trace(env: AtariVecEnv, actions: np.ndarray) -> tuple:
    env.reset()
    rams, rewards, dones, episodes = [], [], [], []
    for t, row in enumerate(actions):
        result = env.step(row)
        rams.append(result.obs["ram"])
        rewards.extend(result.reward.tolist())
        dones.extend((result.terminated | result.truncated).tolist())
        episodes.extend((t, i, r, n) for i, r, n in result.episodes)
    return np.stack(rams), rewards, dones, episodes


@pytest.mark.parametrize("workers", [0, 2])
def test_ram_vector_env_equals_per_env_stepping(workers: int) -> None:
    settings = AtariSettings(obs="ram", episodic_life=True, max_frames=1200)
    actions = np.random.default_rng(0).integers(0, 4, (400, 3))
    expected = _per_env_trace(settings, [5, 6, 7], actions)
    with AtariVecEnv(settings, 3, seed=5, workers=workers) as env:
        got = _vec_trace(env, actions)
    np.testing.assert_array_equal(got[0], expected[0])
    assert got[1:] == expected[1:]
    assert expected[3], "no episode ended: the check would be vacuous"


@pytest.mark.parametrize("workers", [0, 2])
def test_vector_env_state_restores_exactly(workers: int) -> None:
    settings = AtariSettings(obs="both", sticky=0.25)
    actions = np.random.default_rng(1).integers(0, 4, (60, 2))
    with AtariVecEnv(settings, 2, seed=0, workers=workers) as env:
        env.reset()
        for row in actions[:20]:
            env.step(row)
        saved = env.get_state()
        first = [env.step(row) for row in actions[20:]]
        restored = env.set_state(saved)
        second = [env.step(row) for row in actions[20:]]
    assert restored["ram"].shape == (2, 4, 128)
    for a, b in zip(first, second, strict=True):
        for k in ("screen", "ram"):
            np.testing.assert_array_equal(a.obs[k], b.obs[k])
        np.testing.assert_array_equal(a.reward, b.reward)


def test_native_env_reports_real_episodes() -> None:
    settings = replace(AtariSettings(obs="screen", episodic_life=True), max_frames=2000)
    with NativeScreenVecEnv(settings, 2, seed=0, threads=1) as env:
        env.reset()
        rng = np.random.default_rng(0)
        terminations, episodes = 0, []
        for _ in range(600):
            result = env.step(rng.integers(0, env.n_actions, 2))
            terminations += int(result.terminated.sum())
            episodes += result.episodes
    assert episodes and terminations > len(episodes)  # lives lost end training episodes only
    assert all(n > 0 for _, _, n in episodes)
