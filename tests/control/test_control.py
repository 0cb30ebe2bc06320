"""Continuous control: TD(lambda) targets, the replay buffer (episode ends, time limits, ring,
state), env snapshots, the networks, SAC/AWR/QWR training with exact resume, CLI, bench."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco")

from palestra.control.common import awr_weights, frozen_copy, gae, lambda_returns
from palestra.control.config import ControlTrainConfig
from palestra.control.envs import final_observations, make_env, make_vector_env
from palestra.control.qwr import aggregate
from palestra.control.replay import ReplayBuffer
from palestra.control.train import evaluate, load_agent, train
from palestra.core.errors import PalestraError
from palestra.core.runs import read_metrics
from palestra.models.control_nets import QEnsemble, QNetwork, RunningNorm, SquashedGaussianActor

TIMING = {"time", "time/sps"}


# --------------------------------------------------------------------------- TD(lambda)
def _reference_lambda_return(r, v, term, mask, gamma, lam):
    """G_0 written out as the lambda-weighted mix of n-step returns over the valid steps."""
    B, _L = r.shape
    out = np.zeros(B)
    for b in range(B):
        n = int(mask[b].sum())  # valid steps: a prefix
        boot = [(1 - term[b, k]) * v[b, k] for k in range(n)]

        def nstep(k, b=b, boot=boot):  # return using rewards 0..k-1 and the bootstrap after k-1
            return sum(gamma**i * r[b, i] for i in range(k)) + gamma**k * boot[k - 1]

        total = sum((1 - lam) * lam ** (k - 1) * nstep(k) for k in range(1, n))
        out[b] = total + lam ** (n - 1) * nstep(n)
    return out


@pytest.mark.parametrize("lam", [0.0, 0.95, 1.0])
def test_lambda_returns_match_the_n_step_mixture(lam: float) -> None:
    rng = np.random.default_rng(0)
    B, L = 64, 4
    r, v = rng.normal(size=(B, L)), rng.normal(size=(B, L))
    lengths = rng.integers(1, L + 1, B)
    mask = (np.arange(L)[None] < lengths[:, None]).astype(float)
    term = np.zeros((B, L))
    ends = rng.random(B) < 0.5  # half the slices end in a terminal step
    term[np.arange(B)[ends], lengths[ends] - 1] = 1
    t = [torch.tensor(x, dtype=torch.float64) for x in (r, v, term, mask)]
    got = lambda_returns(*t, 0.9, lam).numpy()
    np.testing.assert_allclose(got, _reference_lambda_return(r, v, term, mask, 0.9, lam))
    if lam == 0.0:  # one-step TD whatever the slice
        np.testing.assert_allclose(got, r[:, 0] + 0.9 * (1 - term[:, 0]) * v[:, 0])


def test_gae_bootstraps_truncated_steps_and_not_terminated_ones() -> None:
    """One env, 4 steps: step 1 is cut by a time limit (its final state is worth 10), step 3
    terminates. With lam = 1 each advantage is the discounted return to its episode's end
    (plus the bootstrap after a truncation) minus V."""
    g = 0.5
    r = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    v = torch.tensor([[0.5], [0.25], [1.0], [2.0]])
    next_v = torch.tensor([[0.25], [10.0], [2.0], [99.0]])  # 99: after a terminal, unused
    term = torch.tensor([[0.0], [0.0], [0.0], [1.0]])
    done = torch.tensor([[0.0], [1.0], [0.0], [1.0]])
    a = gae(r, v, next_v, term, done, g, 1.0)[:, 0]
    expected = [1 + g * 2 + g * g * 10 - 0.5, 2 + g * 10 - 0.25, 3 + g * 4 - 1.0, 4 - 2.0]
    assert torch.allclose(a, torch.tensor(expected))
    # lam = 0: one-step TD errors, bootstrapped exactly where the MDP did not end
    a0 = gae(r, v, next_v, term, done, g, 0.0)[:, 0]
    assert torch.allclose(
        a0, torch.tensor([1 + g * 0.25 - 0.5, 2 + g * 10 - 0.25, 3 + g * 2 - 1, 2.0])
    )


def test_awr_weights_are_clipped_and_monotone() -> None:
    a = torch.linspace(-3, 3, 101)
    w = awr_weights(a, beta=0.5, w_max=20.0)
    assert float(w.max()) == 20.0 and bool((w[1:] >= w[:-1]).all())
    assert w.requires_grad is False


def test_qwr_aggregates() -> None:
    q = torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    assert torch.allclose(aggregate(q, "max", 0.3), torch.tensor([3.0, 5.0]))
    assert torch.allclose(aggregate(q, "mean", 0.3), torch.tensor([2.0, 5.0]))
    lse = aggregate(q, "logsumexp", 0.3)  # between the mean and the max; equal values stay
    assert 2.0 < float(lse[0]) < 3.0 and abs(float(lse[1]) - 5.0) < 1e-5


# --------------------------------------------------------------------------- replay
def _fill(buffer: ReplayBuffer, steps: int, done_at: dict[int, tuple[int, bool]]) -> None:
    """Env e's observation at step t is [t, e] (and 1000 + t for a final one);
    ``done_at[t] = (env, terminated)`` ends that env's episode at step t."""
    n = buffer.num_envs
    for t in range(steps):
        obs = np.array([[t, e] for e in range(n)], np.float32)
        nxt = np.array([[t + 1, e] for e in range(n)], np.float32)
        term, trunc = np.zeros(n, bool), np.zeros(n, bool)
        final = {}
        if t in done_at:
            e, terminated = done_at[t]
            (term if terminated else trunc)[e] = True
            final[e] = np.array([1000 + t, e], np.float32)
        buffer.add(
            obs,
            np.full((n, 1), t, np.float32),
            np.full(n, t, np.float32),
            term,
            trunc,
            nxt,
            final,
            mu=np.zeros((n, 1), np.float32),
        )


def test_replay_next_observations_respect_episode_ends_and_time_limits() -> None:
    buffer = ReplayBuffer(100, 2, (2,), 1, extras={"mu": 1})
    _fill(buffer, 10, {3: (0, False), 6: (1, True)})
    out = buffer.slices(np.array([2, 3, 5, 9]), np.array([0, 0, 1, 1]), 3)
    # env 0 was truncated at step 3: the slice from 2 stops there and step 3 bootstraps from
    # its true final observation, not the reset one; a truncated step is not terminal
    assert out["mask"][0].tolist() == [True, True, False]
    assert out["next_obs"][0, 1].tolist() == [1003, 0]
    assert out["terminated"][0, 1] == 0
    assert out["mask"][1].tolist() == [True, False, False]
    # env 1 terminated at step 6
    assert out["mask"][2].tolist() == [True, True, False] and out["terminated"][2, 1] == 1
    # the newest step's next observation is the envs' current one; nothing stored after it
    assert out["next_obs"][3, 0].tolist() == [10, 1] and out["mask"][3].tolist() == [
        True,
        False,
        False,
    ]
    # the next state's stored extras are known only inside the episode and the data
    assert out["next_known"][2].tolist() == [True, False, False]
    one = buffer.sample(256, np.random.default_rng(0))
    ok = one["next_obs"][:, 0] == one["obs"][:, 0] + 1
    final = one["next_obs"][:, 0] >= 1000
    assert bool((ok | final).all()) and final.any()


def test_replay_ring_overwrites_oldest_and_state_round_trips(tmp_path: Path) -> None:
    buffer = ReplayBuffer(8, 2, (2,), 1, extras={"mu": 1}, path=tmp_path / "mm")
    _fill(buffer, 13, {4: (1, False), 11: (0, False)})
    assert buffer.size == 8 and len(buffer) == 16
    out = buffer.slices(np.arange(8), np.zeros(8, int), 1)
    assert out["obs"][:, 0, 0].tolist() == list(range(5, 13))  # the oldest are gone
    assert (4, 1) not in {(int(o[0]), e) for (s, e), o in buffer.final_obs.items()}
    assert isinstance(buffer.fields["obs"], np.memmap)
    copy = ReplayBuffer(8, 2, (2,), 1, extras={"mu": 1})
    copy.load_state_dict(buffer.state_dict())
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    a, b = buffer.sample_slices(64, 3, rng_a), copy.sample_slices(64, 3, rng_b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(9, 2, (2,), 1).load_state_dict(buffer.state_dict())


def test_replay_stores_uint8_frames_once() -> None:
    buffer = ReplayBuffer(16, 1, (4, 8, 8), 2, obs_dtype=np.uint8)
    assert buffer.fields["obs"].dtype == np.uint8 and "next_obs" not in buffer.fields
    frame = np.full((1, 4, 8, 8), 7, np.uint8)
    buffer.add(
        frame,
        np.zeros((1, 2)),
        np.zeros(1),
        np.zeros(1, bool),
        np.ones(1, bool),
        frame + 1,
        {0: frame[0] + 2},
    )
    assert buffer.sample(1, np.random.default_rng(0))["next_obs"][0].max() == 9


def test_replay_rejects_an_episode_end_without_final_observation() -> None:
    buffer = ReplayBuffer(4, 1, (2,), 1)
    with pytest.raises(ValueError, match="final observation"):
        buffer.add(
            np.zeros((1, 2)),
            np.zeros((1, 1)),
            np.zeros(1),
            np.ones(1, bool),
            np.zeros(1, bool),
            np.zeros((1, 2)),
        )


# --------------------------------------------------------------------------- envs
def test_vector_env_reports_true_final_observation_at_time_limit() -> None:
    env = make_vector_env("Pendulum-v1", 2)  # episodes end by truncation only, at 200 steps
    env.reset(seed=0)
    for _t in range(200):
        obs, _, term, trunc, info = env.step(np.zeros((2, 1), np.float32))
    assert not term.any() and trunc.all()
    final = final_observations(info, trunc)
    assert set(final) == {0, 1} and not np.allclose(final[0], obs[0])  # obs is the reset one
    env.close()


def test_snapshot_restores_a_mujoco_episode_exactly() -> None:
    a, b = make_env("Hopper-v5"), make_env("Hopper-v5")
    a.reset(seed=3)
    b.reset(seed=99)
    for _ in range(20):
        a.step(a.action_space.sample())
    b.set_snapshot(a.get_snapshot())
    action = np.full(3, 0.3, np.float32)
    for _ in range(5):
        oa, ra, *_ = a.step(action)
        ob, rb, *_ = b.step(action)
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb
    # the time limit's counter came along: both truncate at the same step
    assert a.get_snapshot()["elapsed"] == b.get_snapshot()["elapsed"] == [25]
    assert make_env("Pendulum-v1").get_snapshot() is None  # not MuJoCo: no snapshot


def test_ppo_refuses_minibatches_too_small_to_normalise() -> None:
    with pytest.raises(ValueError, match="too small"):
        ControlTrainConfig(algo="ppo", epoch_steps=100, minibatches=32)


def test_bad_envs_are_clear_errors() -> None:
    with pytest.raises(PalestraError, match="NoSuchEnv"):
        make_env("NoSuchEnv-v0")
    with pytest.raises(PalestraError, match="Box action space"):
        train(ControlTrainConfig(env="CartPole-v1", algo="awr", runs_root=Path("/nonexistent")))


# --------------------------------------------------------------------------- networks
def test_networks_shapes_and_members() -> None:
    q = QEnsemble(5, 2, members=2, hidden=(16, 16))
    obs, act = torch.randn(7, 5), torch.randn(7, 2)
    out = q(obs, act)
    assert out.shape == (2, 7) and not torch.allclose(out[0], out[1])  # independent members
    actor = SquashedGaussianActor(5, 2, torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0]))
    a, logp, _mean = actor.sample(obs)
    assert a.shape == (7, 2) and logp.shape == (7,)
    assert bool((a[:, 0].abs() <= 2).all()) and bool(((a[:, 1] >= 0) & (a[:, 1] <= 1)).all())
    norm = RunningNorm(3)
    data = torch.randn(1000, 3) * 5 + 2
    norm.update(data[:400])
    norm.update(data[400:])
    assert torch.allclose(norm.mean.float(), data.mean(0), atol=1e-4)
    assert torch.allclose(norm.var.float(), data.var(0, unbiased=False), atol=1e-3)


def test_fused_inference_matches_the_module_and_bf16_targets_round_the_critic() -> None:
    """run_mlp (oneDNN Linear+ReLU without autograd) gives net(x)'s values; a bfloat16
    frozen copy is the critic rounded, close to it, and never trained."""
    torch.manual_seed(0)
    q = QNetwork(5, 2, (32, 32))
    obs, act = torch.randn(7, 1, 5), torch.randn(7, 4, 2)
    with torch.no_grad():
        fast = q(obs, act)
    reference = q.net(torch.cat([obs.expand(7, 4, 5), act], -1)).squeeze(-1)
    assert fast.shape == (7, 4) and torch.allclose(fast, reference.detach(), atol=1e-5)
    target = frozen_copy(q, "bfloat16")
    assert all(p.dtype == torch.bfloat16 and not p.requires_grad for p in target.parameters())
    with torch.no_grad():
        q.net[0].weight.add_(1.0)
    target.load_state_dict(q.state_dict())  # a sync rounds the float32 values
    assert torch.equal(target.net[0].weight, q.net[0].weight.bfloat16())
    with torch.no_grad():
        low = target(obs.bfloat16(), act.bfloat16()).float()
        assert torch.allclose(low, q(obs, act), rtol=0.05, atol=0.05)


# --------------------------------------------------------------------------- training
def _cfg(root: Path, algo: str, **kw) -> ControlTrainConfig:
    base = {
        "env": "Hopper-v5",
        "algo": algo,
        "total_steps": 600,
        "epoch_steps": 100,
        "learning_starts": 100,
        "batch_size": 32,
        "hidden": 32,
        "value_steps": 6,
        "policy_steps": 5,
        "target_syncs": 2,
        "eval_every": 2,
        "eval_episodes": 1,
        "checkpoint_every": 2,
        "minibatches": 4,
        "ppo_epochs": 2,
        "runs_root": root,
        "progress": False,
    }
    base.update(kw)
    return ControlTrainConfig(**base)


@pytest.mark.parametrize("algo", ["sac", "awr", "qwr", "qwr-bf16", "ppo"])
def test_resume_continues_exactly(algo: str, tmp_path: Path) -> None:
    """Kill a run after a checkpoint (drop the last one: later steps were logged), resume:
    the metrics and weights are those of a run that never stopped (QWR with a bfloat16
    target critic too: the target is rounded from the critic at each sync)."""
    extra = {"target_dtype": "bfloat16"} if algo == "qwr-bf16" else {}
    cfg = _cfg(tmp_path / "a", algo.removesuffix("-bf16"), num_envs=2, **extra)
    run_dir = train(cfg)
    before = read_metrics(run_dir)
    weights = torch.load(run_dir / "model.pt", weights_only=False)["agent"]
    checkpoints = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    assert [p.stem for p in checkpoints] == ["step_000000400", "step_000000600"]
    checkpoints[-1].unlink()
    (run_dir / "model.pt").unlink()
    assert train(dataclasses.replace(cfg, resume=True)) == run_dir
    after = read_metrics(run_dir)

    def strip(records):
        return [{k: v for k, v in r.items() if k not in TIMING} for r in records]

    assert [r["step"] for r in after] == [100 * i for i in range(1, 7)]
    assert strip(after) == strip(before)
    assert any("eval/return" in r for r in after) and any("train/return" in r for r in after)
    resumed = torch.load(run_dir / "model.pt", weights_only=False)["agent"]
    for part in ("actor",):
        for name, tensor in weights[part].items():
            assert torch.equal(resumed[part][name], tensor), f"{part}.{name} differs"


def test_training_improves_pendulum_with_sac(tmp_path: Path) -> None:
    """A real learning check at a small budget: SAC lifts Pendulum's deterministic return far
    above the initial policy's within 4000 interactions (about -1200 to better than -400)."""
    cfg = _cfg(
        tmp_path,
        "sac",
        env="Pendulum-v1",
        total_steps=4000,
        epoch_steps=1000,
        learning_starts=1000,
        batch_size=128,
        hidden=128,
        eval_every=1,
        eval_episodes=3,
    )
    evals = [r["eval/return"] for r in read_metrics(train(cfg)) if "eval/return" in r]
    assert evals[-1] > evals[0] + 500 and evals[-1] > -400, evals


def test_load_agent_and_cli_eval(tmp_path: Path) -> None:
    run_dir = train(_cfg(tmp_path, "qwr", total_steps=200))
    agent, cfg = load_agent(run_dir)
    assert cfg.algo == "qwr"
    returns = evaluate(agent, "Hopper-v5", 2, seed=5)
    assert returns == evaluate(agent, "Hopper-v5", 2, seed=5)  # deterministic
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "palestra.cli",
            "control",
            "eval",
            str(run_dir),
            "--episodes",
            "2",
            "--seed",
            "5",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["returns"] == pytest.approx(returns)
    bad = subprocess.run(
        [sys.executable, "-m", "palestra.cli", "control", "eval", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "not a run directory" in bad.stderr


def test_bench_control_quick(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from palestra.control.bench import ControlBenchOptions
    from palestra.core.bench import get_suite, run_suite

    assert get_suite("control").config is ControlBenchOptions
    options = [
        f"runs={tmp_path / 'runs'}",
        "parts=mujoco,offline",
        "algos=qwr,sac,sb3-sac",
        "steps=500",
        "jobs=1",
        "qualities=random,expert",
        "offline_algos=qwr,bc",
        "dataset_steps=600",
        "iterations=1",
    ]
    json_path, _ = run_suite(
        "control", quick=True, out_dir=tmp_path / "out", options=options, runs_root=tmp_path
    )
    result = json.loads(json_path.read_text())
    rows = result["tables"][0]["rows"]
    assert [r[1] for r in rows] == ["qwr", "sac", "sb3-sac"]
    assert all(r[3] == 500 for r in rows)  # every arm reached the budget
    names = {f["name"] for f in result["figures"]}
    assert {"Pendulum-v1 QWR return", "Pendulum-v1 SAC training steps/s"} <= names
    # offline: the expert data agent is the mujoco part's SAC run (not trained twice)
    assert len(list((tmp_path / "runs" / "Pendulum-v1" / "sac-seed0").iterdir())) == 1
    offline = result["tables"][1]["rows"]
    assert [(r[1], r[3]) for r in offline] == [
        ("random", "qwr"),
        ("random", "bc"),
        ("expert", "qwr"),
        ("expert", "bc"),
    ]
    assert "Pendulum-v1 expert offline QWR" in names
    # report-only mode reads the kept runs back
    again, _ = run_suite(
        "control",
        quick=True,
        out_dir=tmp_path / "o2",
        options=[*options, "train=false"],
        runs_root=tmp_path,
    )
    assert json.loads(again.read_text())["tables"][0]["rows"] == rows
    assert json.loads(again.read_text())["tables"][1]["rows"] == offline


# --------------------------------------------------------------------------- offline
def test_record_load_and_train_offline(tmp_path: Path) -> None:
    """A dataset recorded from a trained run is a Minari dataset minari itself reads; the
    loader keeps episode ends; BC, IQL and QWR train on it, resume exactly, and evaluate."""
    import minari

    from palestra.control.offline import (
        ControlOfflineConfig,
        RecordConfig,
        load_dataset,
        record,
        train_offline,
    )

    run_dir = train(_cfg(tmp_path / "online", "sac", total_steps=200))
    path = record(RecordConfig(str(run_dir), out=tmp_path / "ds", name="tiny", steps=1500))
    assert path == tmp_path / "ds" / "palestra" / "hopper" / "tiny-v0"
    ds = minari.MinariDataset(path / "data")
    assert ds.total_steps == 1500 and ds.spec.env_spec.id == "Hopper-v5"
    episodes = list(ds.iterate_episodes())
    assert episodes[-1].truncations[-1]  # the cut last episode
    assert all(e.terminations[-1] or e.truncations[-1] for e in episodes)
    with pytest.raises(PalestraError, match="exists"):
        record(RecordConfig(str(run_dir), out=tmp_path / "ds", name="tiny", steps=10))

    buffer, facts = load_dataset(path)
    assert facts["env"] == "Hopper-v5" and facts["episodes"] == len(episodes)
    assert len(buffer) == 1500 and int(buffer.fields["done"].sum()) == len(episodes)
    assert int(buffer.fields["terminated"].sum()) == sum(bool(e.terminations[-1]) for e in episodes)
    first = episodes[0]
    n0 = len(first.rewards)
    np.testing.assert_allclose(buffer.fields["obs"][:n0, 0], first.observations[:-1], rtol=1e-6)
    np.testing.assert_allclose(buffer.final_obs[(n0 - 1, 0)], first.observations[-1], rtol=1e-6)
    np.testing.assert_array_equal(buffer.fields["mu"], buffer.fields["action"])
    scaled, scaled_facts = load_dataset(path, scale_rewards=True)
    returns = [float(np.sum(e.rewards)) for e in episodes]
    assert scaled_facts["reward_scale"] == pytest.approx(1000 / (max(returns) - min(returns)))
    np.testing.assert_allclose(
        scaled.fields["reward"], buffer.fields["reward"] * scaled_facts["reward_scale"], rtol=1e-5
    )
    with pytest.raises(PalestraError, match="not a Minari dataset"):
        load_dataset(tmp_path)

    for algo in ("bc", "iql", "qwr"):
        cfg = ControlOfflineConfig(
            dataset=path,
            algo=algo,
            iterations=4,
            policy_steps=8,
            value_steps=8,
            target_syncs=2,
            batch_size=32,
            hidden=32,
            eval_every=2,
            eval_episodes=1,
            checkpoint_every=2,
            runs_root=tmp_path / algo,
            progress=False,
        )
        done = train_offline(cfg)
        before = read_metrics(done)
        assert [r["step"] for r in before if "eval/return" in r] == [
            (16 if algo == "qwr" else 8) * i for i in (2, 4)
        ]
        sorted((done / "checkpoints").glob("*.pt"))[-1].unlink()
        (done / "model.pt").unlink()
        assert train_offline(dataclasses.replace(cfg, resume=True)) == done
        strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
        assert strip(read_metrics(done)) == strip(before), algo
        agent, loaded = load_agent(done)
        assert loaded.algo == algo and len(evaluate(agent, "Hopper-v5", 1, seed=0)) == 1


# --------------------------------------------------------------------------- Learning to Run
def test_frame_skip_sums_rewards_and_stops_at_the_end() -> None:
    from palestra.control.tricks import FrameSkip

    plain, skipped = make_env("Hopper-v5"), make_env("Hopper-v5", [lambda e: FrameSkip(e, 3)])
    plain.reset(seed=1)
    skipped.reset(seed=1)
    action = np.full(3, 0.2, np.float32)
    steps = [plain.step(action) for _ in range(3)]
    obs, r, *_ = skipped.step(action)
    assert r == pytest.approx(sum(s[1] for s in steps))
    np.testing.assert_array_equal(obs, steps[-1][0])  # one decision = three simulator steps
    # an episode that terminates inside a skip ends there
    env = make_env("Hopper-v5", [lambda e: FrameSkip(e, 50)])
    env.reset(seed=0)
    steps = 0
    while True:
        steps += 1
        *_, term, trunc, _ = env.step(np.ones(3, np.float32))
        if term or trunc:
            break
    assert term and steps < 20


def test_discrete_actions_and_shaping() -> None:
    from palestra.control.tricks import DiscreteActions, ForwardShaping, parse_tricks

    env = DiscreteActions(make_env("Hopper-v5"), 3)
    assert env.action(np.array([-0.9, 0.2, 0.6])).tolist() == [-1.0, 0.0, 1.0]
    assert DiscreteActions(make_env("Hopper-v5"), 2).action(
        np.array([0.1, -0.1, 0.0])
    ).tolist() == [1.0, -1.0, 1.0]
    shaped = ForwardShaping(make_env("Hopper-v5"), velocity_weight=2.0, fall_penalty=5.0)
    shaped.reset(seed=0)
    _, r, _, _, info = shaped.step(np.zeros(3, np.float32))
    assert r == pytest.approx(info["raw_reward"] + 2.0 * info["x_velocity"])
    assert len(parse_tricks("skip4,shape0.5,fall10,bins3")) == 3
    assert len(parse_tricks("skip4,shape0.5", shaping=False)) == 1
    with pytest.raises(PalestraError, match="unknown trick"):
        parse_tricks("skip4,jump2")
    with pytest.raises(PalestraError, match="x_velocity"):
        p = ForwardShaping(make_env("Pendulum-v1"), velocity_weight=1.0)
        p.reset(seed=0)
        p.step(np.zeros(1, np.float32))


def test_walker_mirror_swaps_the_legs() -> None:
    """Mirroring twice is the identity; a state whose legs are in mirrored positions
    produces mirrored observations after mirrored actions (the physics is symmetric)."""
    from palestra.control.tricks import mirror, mirror_tables

    op, ap = mirror_tables("Walker2d-v5")
    assert sorted(op) == list(range(17)) and sorted(ap) == list(range(6))
    x = {"obs": np.arange(17.0)[None], "action": np.arange(6.0)[None]}
    assert mirror(mirror(x, op, ap), op, ap)["obs"].tolist() == x["obs"].tolist()
    a, b = make_env("Walker2d-v5"), make_env("Walker2d-v5")
    oa, _ = a.reset(seed=0)
    b.reset(seed=0)
    base = b.unwrapped
    qpos, qvel = base.data.qpos.copy(), base.data.qvel.copy()
    qpos[3:6], qpos[6:9] = a.unwrapped.data.qpos[6:9], a.unwrapped.data.qpos[3:6]
    qvel[3:6], qvel[6:9] = a.unwrapped.data.qvel[6:9], a.unwrapped.data.qvel[3:6]
    base.set_state(qpos, qvel)
    action = np.array([0.5, -0.3, 0.1, -0.2, 0.4, 0.0], np.float32)
    for _ in range(5):
        oa, *_ = a.step(action)
        ob, *_ = b.step(action[ap])
    np.testing.assert_allclose(ob, oa[op], atol=1e-6)
    with pytest.raises(PalestraError, match="no mirror"):
        mirror_tables("Hopper-v5")


def test_training_with_tricks_symmetry_and_blending(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        "sac",
        env="Walker2d-v5",
        tricks="skip2,shape0.5,bins5",
        symmetry=True,
        total_steps=400,
        num_envs=2,
    )
    run_dir = train(cfg)
    state = torch.load(sorted((run_dir / "checkpoints").glob("*.pt"))[-1], weights_only=False)
    replay = state["state"]["replay"]
    assert replay["num_envs"] == 4  # 2 envs and their mirror images
    obs = replay["fields"]["obs"]
    op, _ = __import__("palestra.control.tricks", fromlist=["x"]).mirror_tables("Walker2d-v5")
    np.testing.assert_array_equal(obs[:, 2:], obs[:, :2][..., op])
    second = train(dataclasses.replace(cfg, seed=1))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "palestra.cli",
            "control",
            "eval",
            str(run_dir),
            "--episodes",
            "1",
            "--blend",
            str(second),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1])["blended"] == 2
    with pytest.raises(ValueError, match="not for on-policy"):
        _cfg(tmp_path, "ppo", symmetry=True)


def test_bench_l2r_ablation_quick(tmp_path: Path) -> None:
    from palestra.control.bench import L2R_ARMS
    from palestra.core.bench import run_suite

    options = [f"runs={tmp_path / 'runs'}", "parts=l2r", "jobs=1", "l2r_steps=600"]
    json_path, _ = run_suite(
        "control", quick=True, out_dir=tmp_path / "out", options=options, runs_root=tmp_path
    )
    rows = json.loads(json_path.read_text())["tables"][0]["rows"]
    assert [r[0] for r in rows[:-1]] == [label for label, *_ in L2R_ARMS]
    assert rows[-1][0].startswith("+ blending")
    # the frame-skip arms made 300 decisions for the same 600 simulator steps
    skip_run = next((tmp_path / "runs" / "Walker2d-v5" / "sac-l2r1-seed0").iterdir())
    assert json.loads((skip_run / "config.json").read_text())["total_steps"] == 300


# --------------------------------------------------------------------------- discrete QWR
@pytest.mark.parametrize(
    ("env_id", "target_dtype"),
    [("atari/pong-ram", "float32"), ("atari/pong", "float32"), ("atari/pong", "bfloat16")],
)
def test_discrete_qwr_on_atari_resumes_exactly(
    env_id: str, target_dtype: str, tmp_path: Path
) -> None:
    """QWR with discrete actions on Palestra's Atari envs (RAM: MLP; screens: Nature CNN,
    uint8 frames kept as uint8, also with a bfloat16 target): the emulator's state is in the
    checkpoint, so a killed run continues exactly."""
    cfg = _cfg(
        tmp_path,
        "qwr",
        env=env_id,
        target_dtype=target_dtype,
        total_steps=120,
        epoch_steps=40,
        value_steps=2,
        policy_steps=2,
        batch_size=8,
        eval_every=3,
        checkpoint_every=1,
    )
    run_dir = train(cfg)
    before = read_metrics(run_dir)
    state = torch.load(sorted((run_dir / "checkpoints").glob("*.pt"))[-1], weights_only=False)
    replay = state["state"]["replay"]["fields"]
    assert replay["obs"].dtype == np.uint8 and replay["logits"].shape[-1] > 1
    assert set(np.unique(replay["action"])) <= set(range(replay["logits"].shape[-1]))
    sorted((run_dir / "checkpoints").glob("*.pt"))[-1].unlink()
    (run_dir / "model.pt").unlink()
    assert train(dataclasses.replace(cfg, resume=True)) == run_dir
    strip = lambda rs: [{k: v for k, v in r.items() if k not in TIMING} for r in rs]  # noqa: E731
    assert strip(read_metrics(run_dir)) == strip(before)
    agent, _ = load_agent(run_dir)
    assert len(evaluate(agent, env_id, 1, seed=0)) == 1


def test_discrete_actions_are_for_qwr_only(tmp_path: Path) -> None:
    with pytest.raises(PalestraError, match="discrete actions: QWR"):
        train(_cfg(tmp_path, "sac", env="CartPole-v1"))


def test_bench_atari_quick(tmp_path: Path) -> None:
    from palestra.core.bench import run_suite

    options = [
        f"runs={tmp_path / 'runs'}",
        "parts=atari",
        "jobs=1",
        "atari_games=pong",
        "atari_steps=256",
    ]
    json_path, _ = run_suite(
        "control", quick=True, out_dir=tmp_path / "out", options=options, runs_root=tmp_path
    )
    result = json.loads(json_path.read_text())
    rows = result["tables"][0]["rows"]
    assert [(r[0], r[1]) for r in rows] == [("pong", "qwr"), ("pong", "ppo")]
    assert all(-21 <= r[3] <= 21 for r in rows)  # Pong scores
    assert (tmp_path / "runs" / "atari-pong").is_dir()  # PPO's run, kept for resuming


def test_async_envs_match_sync_and_resume_exactly(tmp_path: Path) -> None:
    """Envs stepped in subprocesses give the same run as in process, and their MuJoCo state
    travels through the checkpoint (get_attr/set_attr of the snapshot)."""
    cfg = _cfg(tmp_path / "async", "sac", num_envs=2, env_mode="async")
    a = train(cfg)
    b = train(dataclasses.replace(cfg, env_mode="sync", runs_root=tmp_path / "sync"))
    strip = lambda rs: [{k: v for k, v in r.items() if k not in TIMING} for r in rs]  # noqa: E731
    before = read_metrics(a)
    assert strip(before) == strip(read_metrics(b))
    sorted((a / "checkpoints").glob("*.pt"))[-1].unlink()
    (a / "model.pt").unlink()
    assert train(dataclasses.replace(cfg, resume=True)) == a
    assert strip(read_metrics(a)) == strip(before)
