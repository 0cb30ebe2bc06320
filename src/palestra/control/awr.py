"""Advantage-Weighted Regression (Peng, Kumar, Zhang, Levine 2019), as trax's ``AWR`` runs it
beside QWR (same replay, schedule and Gaussian policy; the critic is a state value).

Each epoch collects ``epoch_steps`` interactions, then trains:

* the value ``V``, ``value_steps`` steps on replay slices of ``margin`` steps, towards the
  TD(lambda) return of a target ``V'`` synced ``target_syncs`` times per epoch::

      y(s) = TD(lambda) return of the slice, bootstrapped with V'(s')   (common.lambda_returns)
      J(V) = E[(V(s) - y)^2]          (the network predicts V * (1 - gamma))

* the policy, ``policy_steps`` steps on the replay's own actions::

      A(s, a) = y(s) - V(s),   w = min(exp(norm(A) / beta), w_max)
      J(pi)   = -E[w log pi(a | s)]

The difference from QWR is the one the QWR paper studies: AWR's advantage compares the
return of the one action taken (a sample of the behaviour's future) with the state's value,
QWR's compares several actions of the same state through a Q-function.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from palestra.control.common import (
    Checkpointed,
    awr_weights,
    descend,
    gaussian_act,
    lambda_returns,
    regression_update,
    tensors,
)
from palestra.control.config import ControlTrainConfig
from palestra.control.replay import ReplayBuffer
from palestra.models.control_nets import GaussianActor, VNetwork, make_norm

__all__ = ["AWR"]


class AWR(Checkpointed):
    """The AWR agent: Gaussian policy, state-value critic and its target, normaliser."""

    update_every = "epoch"
    _state = ("norm", "actor", "critic", "target", "actor_opt", "critic_opt")
    extras: dict[str, int] = {}  # noqa: RUF012 (read-only)

    def __init__(
        self,
        cfg: ControlTrainConfig,
        obs_dim: int,
        act_dim: int,
        low: np.ndarray,
        high: np.ndarray,
    ) -> None:
        assert cfg.lr is not None
        self.cfg = cfg
        hidden = (cfg.hidden, cfg.hidden)
        self.low, self.high = torch.as_tensor(low), torch.as_tensor(high)
        self.norm = make_norm(obs_dim, bool(cfg.normalize_obs))
        self.actor = GaussianActor(obs_dim, act_dim, std=cfg.policy_std, hidden=hidden)
        self.critic = VNetwork(obs_dim, hidden)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.scale = 1.0 / (1.0 - cfg.gamma) if cfg.gamma < 1 else 1.0
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.value_lr, fused=True)

    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return gaussian_act(self.actor, self.norm, obs, explore, self.low, self.high)[0], {}

    def observe(self, obs: np.ndarray) -> None:
        self.norm.update(torch.as_tensor(obs, dtype=torch.float32))

    def _targets(self, buffer: ReplayBuffer, rng: np.random.Generator) -> tuple[Any, Any]:
        """A batch of slices: (normalised first states, their TD(lambda) targets)."""
        cfg = self.cfg
        s = tensors(buffer.sample_slices(cfg.batch_size, cfg.margin, rng))
        obs = self.norm(s["obs"][:, 0])
        with torch.no_grad():
            v_next = self.target(self.norm(s["next_obs"])) * self.scale  # [B, L]
            y = lambda_returns(s["reward"], v_next, s["terminated"], s["mask"], cfg.gamma, cfg.lam)
        return s, obs, y

    def critic_step(self, buffer: ReplayBuffer, rng: np.random.Generator) -> float:
        _, obs, y = self._targets(buffer, rng)
        loss = ((self.critic(obs) - y / self.scale) ** 2).mean()
        return descend(self.critic_opt, loss, self.cfg.grad_clip)

    def policy_step(self, buffer: ReplayBuffer, rng: np.random.Generator) -> float:
        cfg = self.cfg
        s, obs, y = self._targets(buffer, rng)
        with torch.no_grad():
            weights = awr_weights(y - self.critic(obs) * self.scale, cfg.beta, cfg.w_max)
        mu, log_std = self.actor(obs)
        loss = -(weights * GaussianActor.log_prob(mu, log_std, s["action"][:, 0])).mean()
        return descend(self.actor_opt, loss, cfg.grad_clip)

    def update(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        return regression_update(
            self,
            lambda: self.critic_step(buffer, rng),
            lambda: {"loss/policy": self.policy_step(buffer, rng)},
        )
