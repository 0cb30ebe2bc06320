"""Offline RL: datasets recorded in Minari's format, and QWR, behaviour cloning and IQL trained
on them without touching the environment.

* :func:`record` plays a trained agent (``palestra control train`` run) or the uniform random
  policy for a number of interactions and writes a Minari dataset (HDF5 episodes and
  metadata, :func:`minari.create_dataset_from_buffers`; nothing is downloaded) with the env's
  spec, so ``minari.load_dataset`` / ``MinariDataset(path)`` read it as any other. The
  agent's actions are sampled from its stochastic policy, as D4RL's datasets were.
* :func:`load_dataset` reads a Minari dataset (ours or anyone's with a flat Box observation
  and action space) into a :class:`~palestra.control.replay.ReplayBuffer`: episode ends keep
  terminated apart from truncated, the last observation of each episode is its true final
  one. The behaviour distribution QWR samples from is centred on the dataset's actions
  (``mu = action``), as trax's offline QWR does; IQL's rewards are rescaled by
  ``1000 / (max - min episode return)``, as the IQL paper does on MuJoCo.
* :func:`train_offline` (``palestra control offline``): iterations of updates (QWR: a critic
  and policy epoch; BC and IQL: ``policy_steps`` steps), deterministic evaluation on the
  dataset's environment every ``eval_every`` iterations, checkpoints and exact resume.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from rich.console import Console

from palestra.control.config import ControlTrainConfig
from palestra.control.envs import make_env
from palestra.control.replay import ReplayBuffer
from palestra.control.train import (
    eval_metrics,
    evaluate,
    learner_state,
    load_agent,
    make_agent,
    restore_learner,
    save_policy,
)
from palestra.core.config import Config, arg, with_defaults
from palestra.core.errors import PalestraError
from palestra.core.progress import step_bar
from palestra.core.runs import Run, provenance

__all__ = [
    "ControlOfflineConfig",
    "RecordConfig",
    "dataset_path",
    "load_dataset",
    "make_offline_agent",
    "record",
    "train_offline",
]


# --------------------------------------------------------------------------- recording
@dataclass
class RecordConfig(Config):
    """Record a Minari dataset from a trained agent or the random policy."""

    source: str = arg(
        ..., "A run directory of `palestra control train`, or 'random'.", positional=True
    )
    out: Path = arg(Path("datasets"), "Folder of Minari datasets (like MINARI_DATASETS_PATH).")
    name: str = arg("medium", "Dataset name: the id is palestra/<env>/<name>-v0.")
    env: str | None = arg(None, "Environment (default: the run's; required for 'random').")
    steps: int = arg(100_000, "Interactions recorded (the last episode is cut, truncated).", min=1)
    seed: int = arg(0, "Seed of the episodes and of the policy's sampling.", min=0)
    explore: bool = arg(True, "Sample the agent's stochastic policy (else its mean action).")


def dataset_path(out: str | Path, env_id: str, name: str) -> Path:
    """Where :func:`record` writes dataset ``name`` of ``env_id`` under ``out``:
    ``OUT/palestra/<env>/<name>-v0`` (Minari's layout for the id ``palestra/<env>/<name>-v0``)."""
    return Path(out) / "palestra" / env_id.split("-v")[0].lower() / f"{name}-v0"


@contextlib.contextmanager
def _datasets_path(folder: Path) -> Iterator[None]:
    """Minari writes under ``MINARI_DATASETS_PATH``: point it at ``folder`` for the call."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(folder.resolve())
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def record(cfg: RecordConfig) -> Path:
    """Play and write the dataset; returns its folder (the one ``load_dataset`` takes)."""
    import minari
    from minari.data_collector import EpisodeBuffer

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    agent = None
    if cfg.source == "random":
        if cfg.env is None:
            raise PalestraError("recording the random policy needs --env")
        env_id, algorithm = cfg.env, "uniform random actions"
    else:
        agent, train_cfg = load_agent(cfg.source)
        env_id, algorithm = cfg.env or train_cfg.env, f"palestra {train_cfg.algo} ({cfg.source})"
    env = make_env(env_id)
    episodes: list[Any] = []
    returns: list[float] = []
    steps = 0
    try:
        while steps < cfg.steps:
            obs, _ = env.reset(seed=cfg.seed * 100_000 + len(episodes))
            o, a, r, te, tr = [np.asarray(obs)], [], [], [], []
            done = False
            while not done:
                if agent is None:
                    action = rng.uniform(env.action_space.low, env.action_space.high).astype(
                        np.float32
                    )
                else:
                    action = agent.act(np.asarray(obs)[None], explore=cfg.explore)[0][0]
                obs, reward, terminated, truncated, _ = env.step(action)
                steps += 1
                truncated = truncated or steps >= cfg.steps
                o.append(np.asarray(obs))
                a.append(action)
                r.append(float(reward))
                te.append(bool(terminated))
                tr.append(bool(truncated and not terminated))
                done = terminated or truncated
            returns.append(float(np.sum(r)))
            episodes.append(
                EpisodeBuffer(
                    id=len(episodes),
                    seed=cfg.seed * 100_000 + len(episodes),
                    observations=np.array(o, np.float64),
                    actions=np.array(a, np.float32),
                    rewards=np.array(r),
                    terminations=np.array(te),
                    truncations=np.array(tr),
                    infos={},
                )
            )
    finally:
        env.close()
    dataset_id = "/".join(dataset_path("", env_id, cfg.name).parts)
    with _datasets_path(cfg.out):
        from minari.storage import get_dataset_path

        if get_dataset_path(dataset_id).exists():
            raise PalestraError(f"{get_dataset_path(dataset_id)}: dataset exists (delete it first)")
        commit = provenance().get("commit") or "unknown"
        minari.create_dataset_from_buffers(
            dataset_id,
            episodes,
            env=env_id,
            eval_env=env_id,
            algorithm_name=algorithm,
            author="palestra",
            author_email="palestra@localhost",
            code_permalink=f"palestra@{commit}",
            description=(
                f"{len(episodes)} episodes, {steps} steps of {algorithm} on {env_id}; "
                f"mean return {np.mean(returns):.1f}"
            ),
        )
        path = get_dataset_path(dataset_id)
    return Path(path)


# --------------------------------------------------------------------------- loading
def _open(path: Path) -> Any:
    import minari

    path = Path(path)
    data = path / "data" if (path / "data").is_dir() else path
    if not (data / "metadata.json").exists():
        raise PalestraError(f"{path}: not a Minari dataset (no data/metadata.json)")
    return minari.MinariDataset(data)


def load_dataset(
    path: str | Path, *, scale_rewards: bool = False
) -> tuple[ReplayBuffer, dict[str, Any]]:
    """The dataset's steps in a replay buffer (one "env" holding the episodes in order), and
    facts about it: env id, episodes, steps, episode returns, reward scale."""
    ds = _open(Path(path))
    if ds.spec.env_spec is None:
        raise PalestraError(f"{path}: the dataset names no environment to evaluate on")
    episodes = list(ds.iterate_episodes())
    obs_dim = int(np.prod(episodes[0].observations.shape[1:]))
    act_dim = int(np.prod(episodes[0].actions.shape[1:]))
    total = sum(len(e.rewards) for e in episodes)
    returns = [float(np.sum(e.rewards)) for e in episodes]
    scale = 1.0
    if scale_rewards and max(returns) > min(returns):
        scale = 1000.0 / (max(returns) - min(returns))
    buffer = ReplayBuffer(max(2, total), 1, (obs_dim,), act_dim, extras={"mu": act_dim})
    for e in episodes:
        obs = np.asarray(e.observations, np.float32).reshape(len(e.observations), obs_dim)
        act = np.asarray(e.actions, np.float32).reshape(len(e.actions), act_dim)
        for t in range(len(act)):
            term, trunc = bool(e.terminations[t]), bool(e.truncations[t])
            if t == len(act) - 1 and not term:
                trunc = True  # an episode's last stored step ends it, whatever it says
            buffer.add(
                obs[t : t + 1],
                act[t : t + 1],
                np.array([e.rewards[t] * scale], np.float32),
                np.array([term]),
                np.array([trunc]),
                obs[t + 1 : t + 2],
                {0: obs[t + 1]} if term or trunc else None,
                mu=act[t : t + 1],
            )
    facts = {
        "env": ds.spec.env_spec.id,
        "episodes": len(episodes),
        "steps": total,
        "mean_return": float(np.mean(returns)),
        "reward_scale": scale,
        "dataset_id": ds.spec.dataset_id,
    }
    return buffer, facts


# --------------------------------------------------------------------------- training
@dataclass
@with_defaults(run_name="control-offline", checkpoint_every=10)
class ControlOfflineConfig(ControlTrainConfig):
    """Train QWR, behaviour cloning or IQL on a Minari dataset, without the environment.

    The world and interaction fields of ``control train`` are not read (the environment is
    the dataset's, for evaluation only); an iteration is one epoch of updates.
    """

    dataset: Path | None = arg(None, "A Minari dataset folder (e.g. from `control record`).")
    algo: Literal["qwr", "bc", "iql"] = arg("qwr", "qwr, bc (behaviour cloning) or iql.")  # type: ignore[assignment]
    iterations: int = arg(
        100, "Iterations (QWR: value_steps + policy_steps; BC/IQL: policy_steps).", min=1
    )
    eval_every: int = arg(5, "Evaluate every this many iterations (and at the end).", min=1)


def make_offline_agent(
    cfg: ControlOfflineConfig, obs_dim: int, act_dim: int, low: Any, high: Any
) -> Any:
    if cfg.algo == "bc":
        from palestra.control.bc import BC

        return BC(cfg, obs_dim, act_dim, low, high)
    if cfg.algo == "iql":
        from palestra.control.iql import IQL

        return IQL(cfg, obs_dim, act_dim, low, high)
    return make_agent(cfg, obs_dim, act_dim, low, high)


def train_offline(cfg: ControlOfflineConfig) -> Path:
    """Train per ``cfg`` on its dataset; return the run directory."""
    if cfg.dataset is None:
        raise PalestraError("--dataset is required: a Minari dataset folder")
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    buffer, facts = load_dataset(cfg.dataset, scale_rewards=cfg.algo == "iql")
    probe = make_env(facts["env"])
    low, high = probe.action_space.low.copy(), probe.action_space.high.copy()
    probe.close()
    agent = make_offline_agent(cfg, buffer.obs_shape[0], buffer.act_dim, low, high)
    obs = buffer.fields["obs"][: buffer.size, 0]
    for start in range(0, len(obs), 10_000):  # the normaliser sees the dataset (up to its limit)
        agent.observe(obs[start : start + 10_000])
    rng = np.random.default_rng(cfg.seed)
    run = Run.open(cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume)
    console = Console(stderr=True)
    steps_per_iteration = cfg.policy_steps + (cfg.value_steps if cfg.algo == "qwr" else 0)
    try:
        run.write_json("dataset.json", {**facts, "path": str(cfg.dataset)})
        iteration = 0
        checkpoint = run.load_checkpoint() if run.resumed else None
        if checkpoint is not None:
            _, state = checkpoint
            restore_learner(state, agent, rng)
            iteration = state["iteration"]
        with step_bar(
            f"offline {cfg.algo} {facts['dataset_id']}",
            cfg.iterations,
            completed=iteration,
            console=console,
            enabled=cfg.progress,
        ) as bar:
            while iteration < cfg.iterations:
                metrics = agent.update(buffer, rng)
                iteration += 1
                if iteration % cfg.eval_every == 0 or iteration == cfg.iterations:
                    returns = evaluate(agent, facts["env"], cfg.eval_episodes, 10_000 + cfg.seed)
                    metrics.update(eval_metrics(returns))
                run.log(iteration * steps_per_iteration, **metrics)
                bar(iteration)
                if iteration % cfg.checkpoint_every == 0 or iteration == cfg.iterations:
                    state = {**learner_state(agent, rng), "iteration": iteration}
                    run.save_checkpoint(iteration * steps_per_iteration, state)
        save_policy(run.dir / "model.pt", agent, cfg)
        return run.dir
    finally:
        run.close()
