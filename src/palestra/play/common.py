"""Small kernels the Atari recipes share: GAE, n-step returns, envs and model from a config,
the checkpoint of a training run (saved and restored in one place, so both recipes resume
exactly), and the saved policy.

The training loops themselves live in :mod:`palestra.play.ppo` and :mod:`palestra.play.ba3c`,
one readable file each.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from palestra.core.config import config_from_mapping, config_to_dict
from palestra.core.errors import PalestraError
from palestra.core.runs import (
    Run,
    atomic_write_bytes,
    load_final_state,
    rng_state,
    set_rng_state,
)
from palestra.models.atari_nets import AtariActorCritic
from palestra.play.atari import (
    AtariSettings,
    AtariVecEnv,
    NativeScreenVecEnv,
    Starts,
    make_vec_env,
)
from palestra.play.config import PlayTrainConfig
from palestra.play.doom import DoomSettings, is_doom

__all__ = [
    "checkpoint_state",
    "gae",
    "load_policy",
    "make_model",
    "make_train_env",
    "nstep_returns",
    "obs_tensors",
    "restore_or_reset",
    "rng_state",
    "save_policy",
    "set_rng_state",
    "settings_for",
    "train_starts",
]


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016); returns (advantages, returns).

    ``rewards``, ``values``, ``dones``: ``[T, N]``; ``dones[t]`` says transition ``t`` ended
    its episode (terminated or truncated: no bootstrapping across it); ``next_value``: ``[N]``
    is ``V(s_T)``. With ``nextnonterminal_t = 1 - dones[t]``::

        delta_t = r_t + gamma * V(s_{t+1}) * nextnonterminal_t - V(s_t)
        A_t     = delta_t + gamma * lam * nextnonterminal_t * A_{t+1},   A_T = 0
        returns = A + V
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    lastgaelam = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        nextvalues = next_value if t == T - 1 else values[t + 1]
        nextnonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
        lastgaelam = delta + gamma * lam * nextnonterminal * lastgaelam
        advantages[t] = lastgaelam
    return advantages, advantages + values


def nstep_returns(
    rewards: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor, gamma: float
) -> torch.Tensor:
    """n-step returns of A3C (Mnih et al. 2016), bootstrapped from ``V(s_T)``::

    R_T = V(s_T),   R_t = r_t + gamma * (1 - done_t) * R_{t+1}       # [T, N]
    """
    returns = torch.zeros_like(rewards)
    running = next_value
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1.0 - dones[t]) * running
        returns[t] = running
    return returns


def obs_tensors(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Numpy observation arrays as (shared-memory) torch tensors."""
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in obs.items()}


def checkpoint_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    env: Any,
    update: int,
    pending: list[tuple[int, float, int]],
) -> dict[str, Any]:
    """Everything a recipe needs to continue exactly: weights, optimizer, RNGs, envs."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "update": update,
        "pending": pending,
        "env": env.get_state(),
        "n_actions": env.n_actions,
    }


def restore_or_reset(
    run: Run,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    env: Any,
    console: Console,
) -> tuple[int, int, list[tuple[int, float, int]], dict[str, torch.Tensor]]:
    """Load the run's newest :func:`checkpoint_state`, or reset the envs of a new run.

    Returns ``(update, global_step, pending episodes, first observations)``. ``env`` is a
    vector env or anything with its ``reset / get_state / set_state`` (BA3C's rollout
    sources). ALE's native vector env cannot save its state (``get_state`` is None): its
    episodes restart (with a warning).
    """
    checkpoint = run.load_checkpoint() if run.resumed else None
    if checkpoint is None:
        return 0, 0, [], obs_tensors(env.reset())
    global_step, state = checkpoint
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    if state["env"] is not None:  # saved by an env that can restore it (not ALE's native)
        next_obs = obs_tensors(env.set_state(state["env"]))
    else:
        console.print("[yellow]resuming without env state: episodes restart")
        next_obs = obs_tensors(env.reset())
    return state["update"], global_step, state["pending"], next_obs


def settings_for(cfg: PlayTrainConfig, *, training: bool = True) -> Any:
    """The preprocessing of ``cfg`` (:class:`AtariSettings`, or :class:`DoomSettings` for a
    ``doom/`` scenario); episodic life only while training."""
    if is_doom(cfg.game):
        return DoomSettings(game=cfg.game)
    return AtariSettings(
        game=cfg.game,
        obs=cfg.obs,
        sticky=cfg.sticky,
        episodic_life=cfg.episodic_life and training,
        ram_stack=cfg.ram_stack,
    )


def make_train_env(cfg: PlayTrainConfig) -> AtariVecEnv | NativeScreenVecEnv:
    """The training envs of ``cfg``; with ``expert_starts``, episodes may begin along the
    expert's trajectories (replayed here, so Ray workers build theirs too)."""
    assert cfg.num_envs is not None
    settings = settings_for(cfg)
    return make_vec_env(
        settings,
        cfg.num_envs,
        cfg.seed,
        backend=cfg.env_backend,
        workers=cfg.env_workers,
        threads=cfg.env_threads,
        starts=train_starts(cfg, settings),
    )


def train_starts(cfg: PlayTrainConfig, settings: Any) -> Starts | None:
    """Where training episodes may begin besides the reset: the expert's states, with
    ``expert_starts``; else None."""
    if cfg.expert is None or cfg.expert_starts <= 0:
        return None
    from palestra.play.expert import expert_starts, load_expert

    return Starts(expert_starts(load_expert(cfg.expert), settings), cfg.expert_starts)


def make_model(cfg: PlayTrainConfig, n_actions: int) -> AtariActorCritic:
    return AtariActorCritic(
        n_actions,
        cfg.obs,
        ram_stack=cfg.ram_stack,
        hidden=cfg.hidden,
        bf16=cfg.precision == "bf16",
    )


def save_policy(path: Path, model: AtariActorCritic, cfg: PlayTrainConfig, n_actions: int) -> None:
    """Atomically write the trained policy with what is needed to rebuild it."""
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "n_actions": n_actions,
            "config": config_to_dict(cfg, recorded_only=True),
        },
        buffer,
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_policy(run_dir: str | Path) -> tuple[AtariActorCritic, PlayTrainConfig]:
    """The policy of a run: ``model.pt`` if training finished, else its newest checkpoint;
    its settings from there (a SimPLe run's) or from the run's ``config.json``."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise PalestraError(f"{run_dir}: not a run directory (no config.json)")
    blob = load_final_state(run_dir)
    # a recipe whose run config is not PlayTrainConfig (SimPLe) stores its policy's with it
    saved, where = blob.get("config"), "model.pt"
    if saved is None:
        saved, where = json.loads(config_path.read_text()), "config.json"
    cfg = config_from_mapping(PlayTrainConfig, saved, where)
    model = make_model(cfg, blob["n_actions"])
    model.load_state_dict(blob["model"])
    return model.eval(), cfg
