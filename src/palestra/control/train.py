"""The training loop of ``palestra control train``: collect, store, learn, evaluate, checkpoint.

Every epoch collects ``epoch_steps`` interactions from the vector env into the replay buffer;
SAC learns after every step, AWR and QWR after the epoch. Metrics go to the run's
``metrics.jsonl`` (``train/return`` of the episodes that ended, ``eval/return`` of
deterministic episodes on a separate env, the algorithm's losses, ``time/sps``). A checkpoint
holds the agent (networks, optimisers, normaliser), the replay buffer, every RNG, the
episode counters and the simulator state of each env copy, so a killed run resumes exactly
(on MuJoCo; other envs restart their episodes, with a warning).
"""

from __future__ import annotations

import io
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from palestra.control.common import Agent
from palestra.control.config import ControlEvalConfig, ControlTrainConfig
from palestra.control.envs import env_spaces, final_observations, make_env, make_vector_env
from palestra.control.replay import ReplayBuffer
from palestra.control.tricks import Blend, mirror, mirror_tables, parse_tricks
from palestra.core.config import config_from_mapping, config_to_dict
from palestra.core.errors import PalestraError
from palestra.core.progress import step_bar
from palestra.core.runs import (
    Run,
    atomic_write_bytes,
    load_final_state,
    rng_state,
    set_rng_state,
)

__all__ = [
    "eval_metrics",
    "evaluate",
    "learner_state",
    "load_agent",
    "make_agent",
    "restore_learner",
    "run_eval",
    "save_policy",
    "train",
]


def build_agent(
    cfg: ControlTrainConfig,
    env_id: str,
    obs_shape: tuple[int, ...],
    act_dim: int,
    low: Any,
    high: Any,
) -> Agent:
    """The agent for an env's spaces: QWR with discrete actions where the env's actions are
    discrete (``low`` empty), otherwise the algorithm on flat observations."""
    if low.size == 0:
        from palestra.control.qwr import QWRDiscrete

        return QWRDiscrete(cfg, obs_shape, act_dim)
    if len(obs_shape) != 1:
        raise PalestraError(f"{env_id}: flat observations needed, not shape {obs_shape}")
    return make_agent(cfg, obs_shape[0], act_dim, low, high)


def make_agent(
    cfg: ControlTrainConfig, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray
) -> Agent:
    if cfg.algo == "sac":
        from palestra.control.sac import SAC

        return SAC(cfg, obs_dim, act_dim, low, high)
    if cfg.algo == "ppo":
        from palestra.control.ppo import PPO

        return PPO(cfg, obs_dim, act_dim, low, high)
    if cfg.algo == "awr":
        from palestra.control.awr import AWR

        return AWR(cfg, obs_dim, act_dim, low, high)
    from palestra.control.qwr import QWR

    return QWR(cfg, obs_dim, act_dim, low, high)


def evaluate(
    agent: Agent, env_id: str, episodes: int, seed: int, *, tricks: str = ""
) -> list[float]:
    """Returns of ``episodes`` deterministic episodes (seeds ``seed``, ``seed + 1``, ...), with
    the frame skip and action levels of ``tricks`` (never its reward shaping)."""
    env = make_env(env_id, parse_tricks(tricks, shaping=False))
    returns = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total, done = 0.0, False
            while not done:
                action, _ = agent.act(np.asarray(obs)[None], explore=False)
                obs, reward, terminated, truncated, _ = env.step(action[0])
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return returns


def _store(
    buffer: ReplayBuffer,
    mirrors: tuple[np.ndarray, np.ndarray] | None,
    obs: np.ndarray,
    action: np.ndarray,
    reward: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    next_obs: np.ndarray,
    final: dict[int, np.ndarray],
    extras: dict[str, np.ndarray],
) -> None:
    """Add a step of the n envs; with ``mirrors``, their mirror images as envs n..2n-1."""
    action = action.reshape(len(obs), -1)  # a discrete action: its index, [n, 1]
    if mirrors is None:
        buffer.add(obs, action, reward, terminated, truncated, next_obs, final, **extras)
        return
    op, ap = mirrors
    n = len(obs)
    flipped = mirror({"obs": obs, "next_obs": next_obs, "action": action, **extras}, op, ap)
    buffer.add(
        np.concatenate([obs, flipped["obs"]]),
        np.concatenate([action, flipped["action"]]),
        np.concatenate([reward, reward]),
        np.concatenate([terminated, terminated]),
        np.concatenate([truncated, truncated]),
        np.concatenate([next_obs, flipped["next_obs"]]),
        {**final, **{e + n: v[op] for e, v in final.items()}},
        **{k: np.concatenate([v, flipped[k]]) for k, v in extras.items()},
    )


def learner_state(agent: Agent, rng: np.random.Generator) -> dict[str, Any]:
    """The agent and every RNG, for a checkpoint (online and offline training alike)."""
    return {"agent": agent.state_dict(), "rng": rng_state(), "generator": rng.bit_generator.state}


def restore_learner(state: dict[str, Any], agent: Agent, rng: np.random.Generator) -> None:
    """Undo :func:`learner_state`."""
    agent.load_state_dict(state["agent"])
    set_rng_state(state["rng"])
    rng.bit_generator.state = state["generator"]


def eval_metrics(returns: list[float]) -> dict[str, float]:
    """The logged summary of evaluation returns."""
    return {"eval/return": float(np.mean(returns)), "eval/return_std": float(np.std(returns))}


def _checkpoint(
    agent: Agent,
    buffer: ReplayBuffer,
    env: Any,
    rng: np.random.Generator,
    counters: dict[str, Any],
) -> dict[str, Any]:
    return {
        **learner_state(agent, rng),
        "replay": buffer.state_dict(),
        "envs": list(env.get_attr("snapshot")),
        **counters,
    }


def train(cfg: ControlTrainConfig) -> Path:
    """Train per ``cfg``; return the run directory."""
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    console = Console(stderr=True)
    env = make_vector_env(
        cfg.env, cfg.num_envs, mode=cfg.env_mode, wrappers=parse_tricks(cfg.tricks)
    )
    obs_shape, act_dim, low, high = env_spaces(env, discrete_ok=cfg.algo == "qwr")
    discrete = low.size == 0
    agent = build_agent(cfg, cfg.env, obs_shape, act_dim, low, high)
    n = cfg.num_envs
    assert cfg.epoch_steps is not None
    # PPO learns from its last rollout only: the buffer holds exactly one
    capacity = cfg.epoch_steps if cfg.algo == "ppo" else cfg.replay_size
    # with symmetry the buffer holds 2n "envs": the n real ones, then their mirror images
    mirrors = mirror_tables(cfg.env) if cfg.symmetry else None
    stored = 2 * n if mirrors is not None else n
    buffer = ReplayBuffer(
        max(2, capacity // stored),
        stored,
        obs_shape,
        1 if discrete else act_dim,  # a discrete action is stored as its index
        obs_dtype=env.single_observation_space.dtype,  # uint8 frames stay uint8
        extras=agent.extras,
    )
    rng = np.random.default_rng(cfg.seed)
    assert cfg.learning_starts is not None
    run = Run.open(cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume)
    try:
        obs, _ = env.reset(seed=cfg.seed * 1000)
        epoch, step = 0, 0
        ep_return = np.zeros(n)
        checkpoint = run.load_checkpoint() if run.resumed else None
        if checkpoint is None:
            agent.observe(obs)
        else:
            _, state = checkpoint
            restore_learner(state, agent, rng)
            buffer.load_state_dict(state["replay"])
            epoch, step = state["epoch"], state["step"]
            if all(s is not None for s in state["envs"]):
                env.set_attr("snapshot", state["envs"])
                obs = buffer.current_obs[:n].copy()
                ep_return = state["ep_return"]
            else:
                console.print("[yellow]this env cannot restore its state: episodes restart")
                agent.observe(obs)
        with step_bar(
            f"{cfg.algo} {cfg.env}",
            cfg.epochs,
            completed=epoch,
            console=console,
            enabled=cfg.progress,
        ) as bar:
            while epoch < cfg.epochs:
                t0 = time.perf_counter()
                finished: list[float] = []
                metrics: dict[str, float] = {}
                for _ in range(cfg.epoch_steps // n):
                    action, extras = agent.act(obs, explore=True)
                    if step < cfg.learning_starts:
                        action = (
                            rng.integers(0, act_dim, size=action.shape)
                            if discrete
                            else rng.uniform(low, high, size=action.shape).astype(np.float32)
                        )
                    next_obs, reward, terminated, truncated, info = env.step(action)
                    done = terminated | truncated
                    _store(
                        buffer,
                        mirrors,
                        obs,
                        action,
                        reward,
                        terminated,
                        truncated,
                        next_obs,
                        final_observations(info, done),
                        extras,
                    )
                    agent.observe(next_obs)
                    ep_return += info.get("raw_reward", reward)  # unshaped
                    for e in np.flatnonzero(done):
                        finished.append(float(ep_return[e]))
                        ep_return[e] = 0.0
                    obs = next_obs
                    step += n
                    if agent.update_every == "step" and step >= cfg.learning_starts:
                        metrics = agent.update(buffer, rng)
                if agent.update_every == "epoch":
                    metrics = agent.update(buffer, rng)
                epoch += 1
                seconds = time.perf_counter() - t0
                record: dict[str, float] = {**metrics, "time/sps": cfg.epoch_steps / seconds}
                if finished:
                    record["train/return"] = float(np.mean(finished))
                    record["train/episodes"] = len(finished)
                if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                    returns = evaluate(
                        agent, cfg.env, cfg.eval_episodes, 10_000 + cfg.seed, tricks=cfg.tricks
                    )
                    record.update(eval_metrics(returns))
                if epoch % cfg.log_every == 0 or "eval/return" in record:
                    run.log(step, **record)
                bar(epoch, f"{cfg.algo} {cfg.env} {record.get('eval/return', '')}")
                if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
                    counters = {"epoch": epoch, "step": step, "ep_return": ep_return.copy()}
                    run.save_checkpoint(step, _checkpoint(agent, buffer, env, rng, counters))
        save_policy(run.dir / "model.pt", agent, cfg)
        return run.dir
    finally:
        env.close()
        run.close()


def save_policy(path: Path, agent: Agent, cfg: ControlTrainConfig) -> None:
    """Atomically write the agent's weights with the config that rebuilds it."""
    buffer = io.BytesIO()
    torch.save({"agent": agent.state_dict(), "config": config_to_dict(cfg)}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_agent(run_dir: str | Path) -> tuple[Agent, ControlTrainConfig]:
    """The agent of a run: ``model.pt`` if training finished, else its newest checkpoint."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise PalestraError(f"{run_dir}: not a run directory (no config.json)")
    saved = json.loads(config_path.read_text())
    if "dataset" in saved:  # an offline run
        from palestra.control import offline

        cfg: ControlTrainConfig = config_from_mapping(
            offline.ControlOfflineConfig, saved, str(config_path)
        )
    else:
        cfg = config_from_mapping(ControlTrainConfig, saved, str(config_path))
    state = load_final_state(run_dir)["agent"]
    probe = make_vector_env(cfg.env, 1)
    obs_shape, act_dim, low, high = env_spaces(probe, discrete_ok=cfg.algo == "qwr")
    probe.close()
    if "dataset" in saved:
        agent = offline.make_offline_agent(cfg, obs_shape[0], act_dim, low, high)  # type: ignore[arg-type]
    else:
        agent = build_agent(cfg, cfg.env, obs_shape, act_dim, low, high)
    agent.load_state_dict(state)
    return agent, cfg


def run_eval(cfg: ControlEvalConfig) -> dict[str, Any]:
    """``palestra control eval``: deterministic returns of a trained agent."""
    torch.set_num_threads(cfg.threads)
    agent, train_cfg = load_agent(cfg.run_dir)
    if cfg.blend:  # policy blending: the mean deterministic action of all the runs' agents
        others = [load_agent(d) for d in cfg.blend]
        for _, other in others:
            if (other.env, other.tricks) != (train_cfg.env, train_cfg.tricks):
                raise PalestraError(f"cannot blend agents of {other.env} and {train_cfg.env}")
        agent = Blend([agent, *(a for a, _ in others)])  # type: ignore[assignment]
    returns = evaluate(agent, train_cfg.env, cfg.episodes, cfg.seed, tricks=train_cfg.tricks)
    result = {
        "env": train_cfg.env,
        "algo": train_cfg.algo,
        "blended": 1 + len(cfg.blend),
        "episodes": cfg.episodes,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "returns": returns,
    }
    print(json.dumps(result))
    return result
