"""BA3C: synchronous batched advantage actor-critic on Atari, from the screen, RAM or both.

    palestra play train --algo ba3c --game breakout --obs ram --total-steps 2000000

A3C (Mnih et al. 2016) made fast on CPUs by batching (GA3C, Babaeizadeh et al. 2017; BA3C,
Adamski et al. 2018, "Distributed Deep Reinforcement Learning: learn how to play Atari games
in 21 minutes"): one learner steps ``num_envs`` envs in lock step, picks all their actions in
one batched forward pass, and after ``rollout`` steps makes one Adam update on the whole
``num_envs x rollout`` batch. Per update::

    R_t      = r_t + gamma (1 - done_t) R_{t+1},   R_T = V(s_T)         (n-step returns)
    A_t      = R_t - V(s_t)                                            (no gradient)
    loss     = -E[log pi(a_t|s_t) A_t] + vf_coef 1/2 E[(R_t - V(s_t))^2] - ent_coef H[pi]

with rewards clipped to their sign, Adam, gradient-norm clipping, and the learning rate
annealed linearly to 0. The config is :class:`palestra.play.config.PlayTrainConfig`.

Resuming is exact on Palestra's env backend (a checkpoint holds the weights, Adam, the RNG
states and every emulator); on ALE's native vector env the episodes restart.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.distributions import Categorical

from palestra.core.errors import PalestraError
from palestra.core.runs import Run
from palestra.play.common import (
    checkpoint_state,
    make_model,
    make_train_env,
    nstep_returns,
    obs_tensors,
    restore_or_reset,
    save_policy,
)
from palestra.play.config import PlayTrainConfig

__all__ = ["PlayTrainConfig", "train"]


def train(cfg: PlayTrainConfig) -> Path:
    """Train (or, with ``cfg.resume``, continue training) with BA3C; return the run directory."""
    if cfg.algo != "ba3c":
        raise PalestraError(f"palestra.play.ba3c trains algo 'ba3c', not {cfg.algo!r}")
    assert cfg.num_envs is not None and cfg.rollout is not None and cfg.lr is not None
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    T, N = cfg.rollout, cfg.num_envs
    B = T * N
    num_updates = cfg.num_updates
    console = Console(stderr=True)

    env = make_train_env(cfg)
    try:
        model = make_model(cfg, env.n_actions)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        with Run.open(
            cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume
        ) as run:
            # ------------------------------------------------------------ start or resume
            # pending: real episodes not yet logged
            start, global_step, pending, next_obs = restore_or_reset(
                run, model, optimizer, env, console
            )

            obs_buf = {
                k: torch.zeros((T, N, *v.shape[1:]), dtype=v.dtype) for k, v in next_obs.items()
            }  # [T, N, ...] uint8
            actions = torch.zeros((T, N), dtype=torch.long)
            rewards = torch.zeros((T, N))
            dones = torch.zeros((T, N))

            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=console, disable=not cfg.progress) as bar:
                bar_task = bar.add_task(f"ba3c {cfg.game}/{cfg.obs}", total=num_updates)
                bar.update(bar_task, completed=start)
                for update in range(start + 1, num_updates + 1):
                    t0 = time.perf_counter()
                    lr = cfg.lr * (1.0 - (update - 1) / num_updates) if cfg.anneal_lr else cfg.lr
                    for group in optimizer.param_groups:
                        group["lr"] = lr

                    # ---------------------------------------------------- rollout
                    for t in range(T):
                        for k, v in next_obs.items():
                            obs_buf[k][t] = v
                        with torch.no_grad():
                            logits, _ = model(next_obs)  # [N, A]
                        action = Categorical(logits=logits).sample()  # [N]
                        actions[t] = action
                        result = env.step(action.numpy())
                        reward = torch.from_numpy(result.reward)
                        rewards[t] = torch.sign(reward) if cfg.clip_rewards else reward
                        dones[t] = torch.from_numpy(result.terminated | result.truncated).float()
                        next_obs = obs_tensors(result.obs)
                        pending.extend(result.episodes)
                    global_step += B
                    t_rollout = time.perf_counter() - t0

                    # ---------------------------------------------------- one large-batch step
                    with torch.no_grad():
                        next_value = model.value(next_obs)  # [N]
                    returns = nstep_returns(rewards, dones, next_value, cfg.gamma).reshape(B)
                    logits, value = model(
                        {k: v.reshape(B, *v.shape[2:]) for k, v in obs_buf.items()}
                    )
                    dist = Categorical(logits=logits)  # [B, A]
                    advantages = returns - value.detach()  # [B]
                    policy_loss = -(dist.log_prob(actions.reshape(B)) * advantages).mean()
                    value_loss = 0.5 * ((returns - value) ** 2).mean()
                    entropy = dist.entropy().mean()
                    loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    grad_norm = torch.nn.utils.clip_grad_norm_(
                        model.parameters(),
                        cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf"),
                    )
                    optimizer.step()
                    seconds = time.perf_counter() - t0

                    # ---------------------------------------------------- records
                    if update % cfg.log_every == 0 or update == num_updates:
                        metrics: dict[str, Any] = {
                            "policy_loss": policy_loss.item(),
                            "value_loss": value_loss.item(),
                            "entropy": entropy.item(),
                            "grad_norm": grad_norm.item(),
                            "lr": lr,
                            "steps_per_s": B / seconds,
                            "frames_per_s": 4 * B / seconds,
                            "rollout_steps_per_s": B / t_rollout,
                        }
                        if pending:
                            metrics["episodic_return"] = float(np.mean([r for _, r, _ in pending]))
                            metrics["episodic_length"] = float(np.mean([n for _, _, n in pending]))
                            metrics["episodes"] = len(pending)
                            pending = []
                        run.log(global_step, **metrics)
                    if update % cfg.checkpoint_every == 0 or update == num_updates:
                        run.save_checkpoint(
                            global_step, checkpoint_state(model, optimizer, env, update, pending)
                        )
                    bar.update(bar_task, completed=update)

            save_policy(run.dir / "model.pt", model, cfg, env.n_actions)
            history = run.metrics()
            returns_logged = [r["episodic_return"] for r in history if "episodic_return" in r]
            run.write_json(
                "summary.json",
                {
                    "algo": "ba3c",
                    "agent_steps": global_step,
                    "frames": 4 * global_step,
                    "updates": num_updates,
                    "last_episodic_return": returns_logged[-1] if returns_logged else None,
                    "final": history[-1] if history else {},
                },
            )
    finally:
        env.close()
    return run.dir
