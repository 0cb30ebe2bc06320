"""Behaviour cloning: the offline baseline that ignores rewards.

A Gaussian policy's mean regressed onto the dataset's actions::

    J(pi) = E_{(s, a) ~ D} || mu(s) - a ||^2

``policy_steps`` steps per iteration on uniform batches; the deterministic policy is ``mu``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from palestra.control.common import Checkpointed, gaussian_act, tensors
from palestra.control.replay import ReplayBuffer
from palestra.models.control_nets import GaussianActor, make_norm

__all__ = ["BC"]


class BC(Checkpointed):
    """Behaviour cloning of the dataset's actions (MSE on the policy mean)."""

    update_every = "epoch"
    _state = ("norm", "actor", "actor_opt")
    extras: dict[str, int] = {}  # noqa: RUF012 (read-only)

    def __init__(
        self, cfg: Any, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray
    ) -> None:
        self.cfg = cfg
        hidden = (cfg.hidden, cfg.hidden)
        self.low, self.high = torch.as_tensor(low), torch.as_tensor(high)
        self.norm = make_norm(obs_dim, bool(cfg.normalize_obs))
        self.actor = GaussianActor(obs_dim, act_dim, std=cfg.policy_std, hidden=hidden)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)

    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return gaussian_act(self.actor, self.norm, obs, explore, self.low, self.high)[0], {}

    def observe(self, obs: np.ndarray) -> None:
        self.norm.update(torch.as_tensor(obs, dtype=torch.float32))

    def update(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        losses = []
        for _ in range(self.cfg.policy_steps):
            b = tensors(buffer.sample(self.cfg.batch_size, rng))
            mu, _ = self.actor(self.norm(b["obs"]))
            loss = ((mu - b["action"]) ** 2).sum(-1).mean()
            self.actor_opt.zero_grad()
            loss.backward()
            self.actor_opt.step()
            losses.append(loss.item())
        return {"loss/policy": float(np.mean(losses))}
