"""PPO on Atari from the screen, the RAM or both (Schulman et al. 2017; cleanrl's ppo_atari).

    palestra play train --algo ppo --game breakout --obs ram --total-steps 1000000
    palestra play train --algo ppo ... --resume        # after a crash: continues exactly

The config is :class:`palestra.play.config.PlayTrainConfig` (kept light for the CLI). Top to
bottom: vector env and actor-critic, then per update

1. a rollout of ``rollout`` steps in ``num_envs`` envs, actions sampled from the policy in one
   batched forward pass per step; rewards clipped to their sign (the logged returns are raw);
2. GAE advantages (:func:`palestra.play.common.gae`), no bootstrapping across episode ends;
3. ``epochs`` passes of ``minibatches`` minibatches over the clipped surrogate::

       ratio   = pi(a|s) / pi_old(a|s)
       L_clip  = E[ max(-A ratio, -A clip(ratio, 1 - eps, 1 + eps)) ]
       L_value = 1/2 E[ max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2) ]
       loss    = L_clip - ent_coef H[pi] + vf_coef L_value

   with Adam (eps 1e-5), gradient-norm clipping and the learning rate annealed linearly to 0.

With ``precision bf16`` (the default on CPUs with native bfloat16) the screen network runs in
bfloat16 autocast, for acting and learning alike; weights, heads, losses and Adam stay float32.

Resuming is exact on Palestra's env backend: a checkpoint holds the weights, Adam, the RNG
states, the update index, and every emulator's state, so a resumed run repeats the losses of
one that never stopped. ALE's native vector env cannot save its state; a resumed screen run
on it restarts its episodes (the learner's state is still restored exactly).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch.distributions import Categorical

from palestra.core.errors import PalestraError
from palestra.core.progress import step_bar
from palestra.core.runs import Run
from palestra.play.common import (
    checkpoint_state,
    gae,
    make_model,
    make_train_env,
    obs_tensors,
    restore_or_reset,
    save_policy,
)
from palestra.play.config import PlayTrainConfig

__all__ = ["PlayTrainConfig", "ppo_update", "train"]


def train(cfg: PlayTrainConfig) -> Path:
    """Train (or, with ``cfg.resume``, continue training) with PPO; return the run directory."""
    if cfg.algo != "ppo":
        raise PalestraError(f"palestra.play.ppo trains algo 'ppo', not {cfg.algo!r}")
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
        # fused: one kernel per step instead of a dozen per tensor (3% of an update here)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=1e-5, fused=True)
        with Run.open(
            cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume
        ) as run:
            # ------------------------------------------------------------ start or resume
            # pending: real episodes not yet logged
            start, global_step, pending, next_obs = restore_or_reset(
                run, model, optimizer, env, console
            )

            # rollout storage
            obs_buf = {
                k: torch.zeros((T, N, *v.shape[1:]), dtype=v.dtype) for k, v in next_obs.items()
            }  # [T, N, ...] uint8
            actions = torch.zeros((T, N), dtype=torch.long)
            logprobs = torch.zeros((T, N))
            rewards = torch.zeros((T, N))
            dones = torch.zeros((T, N))
            values = torch.zeros((T, N))

            with step_bar(
                f"ppo {cfg.game}/{cfg.obs}",
                num_updates,
                completed=start,
                console=console,
                enabled=cfg.progress,
            ) as update_bar:
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
                            logits, value = model(next_obs)  # [N, A], [N]
                        dist = Categorical(logits=logits)
                        action = dist.sample()  # [N]
                        actions[t], logprobs[t], values[t] = action, dist.log_prob(action), value
                        result = env.step(action.numpy())
                        reward = torch.from_numpy(result.reward)
                        rewards[t] = torch.sign(reward) if cfg.clip_rewards else reward
                        dones[t] = torch.from_numpy(result.terminated | result.truncated).float()
                        next_obs = obs_tensors(result.obs)
                        pending.extend(result.episodes)
                    global_step += B
                    t_rollout = time.perf_counter() - t0

                    # ---------------------------------------------------- advantages
                    with torch.no_grad():
                        next_value = model.value(next_obs)  # [N]
                    advantages, returns = gae(
                        rewards, values, dones, next_value, cfg.gamma, cfg.gae_lambda
                    )

                    # ---------------------------------------------------- optimisation
                    b_obs = {k: v.reshape(B, *v.shape[2:]) for k, v in obs_buf.items()}
                    stats, explained_var = ppo_update(
                        model,
                        optimizer,
                        cfg,
                        b_obs,
                        actions.reshape(B),
                        logprobs.reshape(B),
                        advantages.reshape(B),
                        returns.reshape(B),
                        values.reshape(B),
                    )
                    seconds = time.perf_counter() - t0

                    # ---------------------------------------------------- records
                    if update % cfg.log_every == 0 or update == num_updates:
                        metrics: dict[str, Any] = {
                            **stats,
                            "explained_variance": explained_var,
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
                    update_bar(update)

            save_policy(run.dir / "model.pt", model, cfg, env.n_actions)
            history = run.metrics()
            returns_logged = [r["episodic_return"] for r in history if "episodic_return" in r]
            run.write_json(
                "summary.json",
                {
                    "algo": "ppo",
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


def ppo_update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    cfg: PlayTrainConfig,
    b_obs: dict[str, torch.Tensor],
    b_actions: torch.Tensor,
    b_logprobs: torch.Tensor,
    b_adv: torch.Tensor,
    b_returns: torch.Tensor,
    b_values: torch.Tensor,
) -> tuple[dict[str, float], float]:
    """``cfg.epochs`` passes of ``cfg.minibatches`` minibatches of the clipped surrogate over
    one batch of ``B`` transitions (``b_obs`` ``{k: [B, ...]}``, the rest ``[B]``); returns the
    last minibatch's statistics with the mean clip fraction, and the explained variance."""
    B = b_actions.shape[0]
    minibatch = B // cfg.minibatches
    clipfracs, stats = [], {}
    for _epoch in range(cfg.epochs):
        perm = torch.randperm(B)
        for lo in range(0, B, minibatch):
            mb = perm[lo : lo + minibatch]
            logits, newvalue = model({k: v[mb] for k, v in b_obs.items()})
            dist = Categorical(logits=logits)
            newlogprob = dist.log_prob(b_actions[mb])
            entropy = dist.entropy().mean()
            logratio = newlogprob - b_logprobs[mb]
            ratio = logratio.exp()
            with torch.no_grad():
                approx_kl = ((ratio - 1) - logratio).mean()
                clipfracs.append(((ratio - 1.0).abs() > cfg.clip_coef).float().mean().item())
            mb_adv = b_adv[mb]
            if cfg.norm_adv and len(mb) > 1:
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
            pg_loss = torch.max(
                -mb_adv * ratio,
                -mb_adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef),
            ).mean()
            if cfg.clip_vloss:
                v_clipped = b_values[mb] + (newvalue - b_values[mb]).clamp(
                    -cfg.clip_coef, cfg.clip_coef
                )
                v_loss = (
                    0.5
                    * torch.max(
                        (newvalue - b_returns[mb]) ** 2, (v_clipped - b_returns[mb]) ** 2
                    ).mean()
                )
            else:
                v_loss = 0.5 * ((newvalue - b_returns[mb]) ** 2).mean()
            loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            stats = {
                "policy_loss": pg_loss.item(),
                "value_loss": v_loss.item(),
                "entropy": entropy.item(),
                "approx_kl": approx_kl.item(),
            }
    var_y = b_returns.var()
    explained_var = (
        float("nan") if var_y == 0 else (1 - (b_returns - b_values).var() / var_y).item()
    )
    return {**stats, "clipfrac": float(np.mean(clipfracs))}, explained_var
