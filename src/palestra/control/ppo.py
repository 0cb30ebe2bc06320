"""PPO for continuous actions (Schulman et al. 2017), with cleanrl's ``ppo_continuous_action``
settings, as the on-policy reference of the control pillar.

The training loop collects one rollout of ``epoch_steps`` interactions into a replay buffer
that holds exactly one rollout, then this agent makes ``ppo_epochs`` passes of
``minibatches`` minibatches over it::

    A_t     = GAE over the rollout, truncation-aware (common.gae); returns R = A + V
    ratio   = pi(a|s) / pi_old(a|s)
    J       = -E[min(ratio A', clip(ratio, 1 - c, 1 + c) A')]     (A' minibatch-normalised)
              + vf_coef E[max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)] / 2
              - ent_coef E[H(pi)]

``s'_t`` is the true next state, the final one where an episode was cut by its time limit,
so a truncated step bootstraps from ``V(s'_t)`` while a terminated one does not: the
time-limit handling the Atari recipe's GAE (which cuts every episode end) lacks. Rewards are
divided by the running std of the discounted return (gymnasium's ``NormalizeReward``,
computed here over each rollout in order), the learning rate anneals linearly to 0 over the
run, the policy is a Gaussian with a state-independent learned log-std and Tanh MLPs of 64
units with orthogonal initialisation (cleanrl's network).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from palestra.control.common import gae
from palestra.control.replay import ReplayBuffer
from palestra.models.control_nets import RunningNorm, make_norm

__all__ = ["PPO"]


def _layer(n_in: int, n_out: int, gain: float = math.sqrt(2)) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class PPO:
    """Clipped PPO with GAE over the last rollout."""

    update_every = "epoch"

    def __init__(
        self, cfg: Any, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray
    ) -> None:
        assert cfg.lr is not None and cfg.epoch_steps is not None
        self.cfg = cfg
        self.extras = {"logp": 1, "value": 1, "sampled": act_dim}
        self.low, self.high = torch.as_tensor(low), torch.as_tensor(high)
        self.norm = make_norm(obs_dim, bool(cfg.normalize_obs))
        self.actor = nn.Sequential(
            _layer(obs_dim, 64), nn.Tanh(), _layer(64, 64), nn.Tanh(), _layer(64, act_dim, 0.01)
        )
        self.critic = nn.Sequential(
            _layer(obs_dim, 64), nn.Tanh(), _layer(64, 64), nn.Tanh(), _layer(64, 1, 1.0)
        )
        self.log_std = nn.Parameter(torch.zeros(act_dim))
        params = [*self.actor.parameters(), *self.critic.parameters(), self.log_std]
        self.opt = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5)
        self.return_stats = RunningNorm(1, sample_limit=2**62)  # of the discounted returns
        self.discounted = np.zeros(0)  # per env, carried across rollouts
        self.updates = 0

    def _dist(self, obs: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self.actor(obs), self.log_std.exp())

    @torch.no_grad()
    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        x = self.norm(torch.as_tensor(obs, dtype=torch.float32))
        dist = self._dist(x)
        action = dist.sample() if explore else dist.mean
        extras = {  # the environment gets the clipped action; the ratio uses the sampled one
            "logp": dist.log_prob(action).sum(-1, keepdim=True).numpy(),
            "value": self.critic(x).numpy(),
            "sampled": action.numpy(),
        }
        return torch.clamp(action, self.low, self.high).numpy(), extras

    def observe(self, obs: np.ndarray) -> None:
        self.norm.update(torch.as_tensor(obs, dtype=torch.float32))

    def _reward_scale(self, rewards: np.ndarray, done: np.ndarray) -> float:
        """Fold the rollout's discounted returns into the running statistics; ``1/std``."""
        if self.discounted.shape != rewards.shape[1:]:
            self.discounted = np.zeros(rewards.shape[1:])
        returns = np.empty_like(rewards)
        for t in range(len(rewards)):
            self.discounted = self.discounted * self.cfg.gamma + rewards[t]
            returns[t] = self.discounted
            self.discounted = np.where(done[t], 0.0, self.discounted)
        self.return_stats.update(torch.as_tensor(returns.reshape(-1, 1)))
        return float(1.0 / math.sqrt(float(self.return_stats.var[0]) + 1e-8))

    def update(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        cfg = self.cfg
        data = buffer.rollout()  # the last rollout in order, [T, N, ...]
        T, N = data["reward"].shape
        f32 = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in data.items()}
        rewards, done = data["reward"], data["done"]
        scale = self._reward_scale(rewards, done) if cfg.normalize_reward else 1.0
        obs = self.norm(f32["obs"].reshape(T * N, -1))
        with torch.no_grad():
            next_v = self.critic(self.norm(f32["next_obs"])).squeeze(-1)  # [T, N]
            values = f32["value"].squeeze(-1)  # [T, N], at collection
            advantages = gae(
                f32["reward"] * scale,
                values,
                next_v,
                f32["terminated"],
                f32["done"],
                cfg.gamma,
                cfg.lam,
            )
            returns = (advantages + values).reshape(-1)
            advantages = advantages.reshape(-1)
        old_logp, old_v = f32["logp"].reshape(-1), values.reshape(-1)
        actions = f32["sampled"].reshape(T * N, -1)
        # learning-rate annealing over the run (cleanrl)
        total_updates = max(1, cfg.total_steps // cfg.epoch_steps)
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr * (1.0 - self.updates / total_updates)
        size = T * N
        mb = max(1, size // cfg.minibatches)
        losses = []
        for _ in range(cfg.ppo_epochs):
            order = torch.as_tensor(rng.permutation(size))
            for start in range(0, size, mb):
                idx = order[start : start + mb]
                dist = self._dist(obs[idx])
                logp = dist.log_prob(actions[idx]).sum(-1)
                ratio = (logp - old_logp[idx]).exp()
                adv = advantages[idx]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg = torch.max(
                    -adv * ratio, -adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)
                ).mean()
                v = self.critic(obs[idx]).squeeze(-1)
                v_clipped = old_v[idx] + (v - old_v[idx]).clamp(-cfg.clip_coef, cfg.clip_coef)
                v_loss = (
                    0.5 * torch.max((v - returns[idx]) ** 2, (v_clipped - returns[idx]) ** 2).mean()
                )
                entropy = dist.entropy().sum(-1).mean()
                loss = pg + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(
                    [*self.actor.parameters(), *self.critic.parameters(), self.log_std],
                    cfg.max_grad_norm,
                )
                self.opt.step()
                losses.append((pg.item(), v_loss.item(), entropy.item()))
        self.updates += 1
        pg_l, v_l, ent = (float(np.mean(x)) for x in zip(*losses, strict=True))
        return {"loss/policy": pg_l, "loss/value": v_l, "entropy": ent, "reward_scale": scale}

    def state_dict(self) -> dict[str, Any]:
        return {
            "norm": self.norm.state_dict(),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "log_std": self.log_std.detach().clone(),
            "opt": self.opt.state_dict(),
            "return_stats": self.return_stats.state_dict(),
            "discounted": self.discounted.copy(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("norm", "actor", "critic", "opt", "return_stats"):
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            self.log_std.copy_(state["log_std"])
        self.discounted = np.array(state["discounted"])
        self.updates = int(state["updates"])
