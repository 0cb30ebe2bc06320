"""The driving scenarios: the CRTS contract, drivable references, rewards and early stops,
both observations, and training through the control loop."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from palestra.control.driving import (
    COMMANDS,
    KINDS,
    STEER_MAX,
    WHEELBASE,
    DrivingEnv,
    Ego,
    _drivable,
    make_scenario,
)


def pursuit(env: DrivingEnv) -> np.ndarray:
    """A pure-pursuit driver of the reference (the scripted expert)."""
    sc, ego = env.scenario, env.ego
    tx, ty = sc.waypoints[min(sc.progress + 4, len(sc.waypoints) - 1)]
    alpha = math.atan2(ty - ego.y, tx - ego.x) - ego.heading
    steer = math.atan2(2 * WHEELBASE * math.sin(alpha), math.hypot(tx - ego.x, ty - ego.y))
    dv = sc.reference[min(sc.t, len(sc.reference) - 1), 2] - ego.v
    return np.array([np.clip(dv, -1, 1), np.clip(steer / STEER_MAX, -1, 1)])


@pytest.mark.parametrize("kind", KINDS)
def test_scenarios_are_drivable_and_follow_the_contract(kind: str) -> None:
    for seed in range(4):
        sc = make_scenario(kind, seed)
        assert _drivable(sc)
        assert set(sc.commands) <= set(COMMANDS) and "CHANGE_LANE_LEFT" in sc.commands
        ego = Ego(x=99.0, y=99.0)
        sc.reset(ego)
        assert (ego.x, ego.y) == tuple(sc.reference[0, :2]) and sc.t == 0
        total = 0.0
        for x, y, _ in sc.reference[1:]:
            ego.x, ego.y = float(x), float(y)
            command, reward, done, info = sc.step(ego)
            total += reward
            assert command in COMMANDS
            if done:
                break
        assert info["success"] and info["sparse"] == 1.0
        # 0.1 per waypoint passed (all but the first) plus 1 at the finish
        assert total == pytest.approx(0.1 * (len(sc.waypoints) - 1) + 1.0)
    assert make_scenario(kind, 3).reference.tobytes() == make_scenario(kind, 3).reference.tobytes()


@pytest.mark.parametrize("obs", ["vector", "bev"])
def test_the_scripted_driver_succeeds_and_sparse_reward_pays_only_at_the_end(obs: str) -> None:
    env = DrivingEnv("mixed", obs=obs, reward="sparse")
    seen = set()
    for ep in range(9):
        o, info = env.reset(seed=ep)
        seen.add(info["scenario"])
        assert o.shape == env.observation_space.shape and o.dtype == np.float32
        rewards, done = [], False
        while not done:
            o, r, term, trunc, info = env.step(pursuit(env))
            rewards.append(r)
            done = term or trunc
        assert info["success"] and term and not trunc
        assert rewards[-1] == 1.0 and sum(rewards[:-1]) == 0.0
    assert seen == set(KINDS)


def test_leaving_the_reference_stops_early() -> None:
    env = DrivingEnv("lane_change")
    env.reset(seed=0)
    done = False
    while not done:  # never change lanes: drift away from the reference
        _, _, term, trunc, info = env.step(np.array([0.0, 0.0]))
        done = term or trunc
    assert term and info["off_track"] and info["deviation"] > 3 and not info["success"]
    env.reset(seed=0)
    for _ in range(40):  # hard right: off the road or off the track
        _, _, term, _, info = env.step(np.array([0.0, 1.0]))
        if term:
            break
    assert term and (info["off_road"] or info["off_track"])


def test_birds_eye_view_shows_road_vehicles_and_reference() -> None:
    env = DrivingEnv("overtake", obs="bev")
    env.reset(seed=1)
    img = env.bev()
    assert img.shape == (3, 32, 32) and img.dtype == np.uint8
    assert img[0].any() and img[1, 23:26, 15:17].min() == 128  # road; the ego
    assert (img[1] == 255).any()  # another vehicle (the slow one ahead)
    assert img[2].any()  # the reference
    assert env.render().shape == (128, 128, 3)
    with pytest.raises(ValueError, match="unknown scenario"):
        DrivingEnv("roundabout")


def test_driving_trains_through_the_control_loop(tmp_path: Path) -> None:
    from palestra.control.config import ControlTrainConfig
    from palestra.control.envs import make_env
    from palestra.control.train import train
    from palestra.core.runs import read_metrics

    env = make_env("palestra/Driving-v0", scenario="merge")
    assert env.reset(seed=0)[0].shape == (34,)
    cfg = ControlTrainConfig(
        env="palestra/Driving-v0",
        algo="sac",
        total_steps=300,
        epoch_steps=100,
        learning_starts=100,
        batch_size=32,
        hidden=32,
        eval_every=3,
        eval_episodes=1,
        runs_root=tmp_path,
        progress=False,
    )
    records = read_metrics(train(cfg))
    assert any("eval/return" in r for r in records)


def test_bench_driving_quick(tmp_path: Path) -> None:
    import json

    from palestra.core.bench import run_suite

    options = [
        f"runs={tmp_path / 'runs'}",
        "parts=driving",
        "jobs=1",
        "driving_algos=ppo",
        "driving_steps=250",
        "driving_episodes=2",
    ]
    json_path, _ = run_suite(
        "control", quick=True, out_dir=tmp_path / "out", options=options, runs_root=tmp_path
    )
    rows = json.loads(json_path.read_text())["tables"][0]["rows"]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("vector", "dense", "ppo"),
        ("vector", "sparse", "ppo"),
        ("bev", "dense", "ppo"),
        ("bev", "sparse", "ppo"),
    ]
    assert all(0.0 <= r[4] <= 1.0 for r in rows)
