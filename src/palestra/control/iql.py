"""Implicit Q-Learning (Kostrikov, Nair, Levine 2022), the offline RL baseline.

IQL never queries the critic on actions outside the dataset: the state value is an upper
expectile of the dataset's Q-values, and the policy is extracted by advantage-weighted
regression on the dataset's own actions::

    J(V)  = E_{(s,a)~D} L_tau(min_j Q'_j(s, a) - V(s)),   L_tau(u) = |tau - 1(u < 0)| u^2
    J(Q)  = sum_j E_{(s,a,r,s')~D} (r + gamma (1 - terminated) V(s') - Q_j(s, a))^2
    J(pi) = -E_{(s,a)~D} min(exp(beta (min_j Q'_j(s, a) - V(s))), 100) log pi(a|s)
    Q'_j <- (1 - alpha) Q'_j + alpha Q_j

with the paper's MuJoCo settings: tau 0.7, beta 3, alpha 0.005, lr 3e-4, batch 256, twin
critics, rewards scaled by ``1000 / (max episode return - min episode return)`` of the
dataset (done by the loader, :func:`palestra.control.offline.load_dataset`), a Gaussian
policy with a state-independent learned std. ``policy_steps`` steps per iteration (each step
updates V, Q and the policy, as the reference does).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from palestra.control.common import Checkpointed, gaussian_act, polyak, tensors
from palestra.control.replay import ReplayBuffer
from palestra.models.control_nets import GaussianActor, QEnsemble, VNetwork, make_norm

__all__ = ["IQL"]

EXPECTILE, TEMPERATURE, MAX_WEIGHT, TAU = 0.7, 3.0, 100.0, 0.005


class IQL(Checkpointed):
    """The IQL agent: twin Q and its target, expectile V, AWR-extracted Gaussian policy."""

    update_every = "epoch"
    _state = ("norm", "actor", "q", "q_target", "v", "actor_opt", "q_opt", "v_opt")
    extras: dict[str, int] = {}  # noqa: RUF012 (read-only)

    def __init__(
        self, cfg: Any, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray
    ) -> None:
        self.cfg = cfg
        hidden = (cfg.hidden, cfg.hidden)
        self.low, self.high = torch.as_tensor(low), torch.as_tensor(high)
        self.norm = make_norm(obs_dim, bool(cfg.normalize_obs))
        self.actor = GaussianActor(obs_dim, act_dim, std=None, hidden=hidden)
        self.q = QEnsemble(obs_dim, act_dim, 2, hidden)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.v = VNetwork(obs_dim, hidden)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=3e-4)
        self.q_opt = torch.optim.Adam(self.q.parameters(), lr=3e-4)
        self.v_opt = torch.optim.Adam(self.v.parameters(), lr=3e-4)

    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return gaussian_act(self.actor, self.norm, obs, explore, self.low, self.high)[0], {}

    def observe(self, obs: np.ndarray) -> None:
        self.norm.update(torch.as_tensor(obs, dtype=torch.float32))

    def step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        obs, next_obs = self.norm(b["obs"]), self.norm(b["next_obs"])
        with torch.no_grad():
            q_data = self.q_target(obs, b["action"]).min(0).values  # [B]
        # value: the tau-expectile of the dataset's Q-values
        u = q_data - self.v(obs)
        v_loss = (torch.abs(EXPECTILE - (u < 0).float()) * u**2).mean()
        self.v_opt.zero_grad()
        v_loss.backward()
        self.v_opt.step()
        # policy: advantage-weighted regression on the dataset's actions
        with torch.no_grad():
            v = self.v(obs)
            weights = torch.clamp(torch.exp(TEMPERATURE * (q_data - v)), max=MAX_WEIGHT)
            y = b["reward"] + self.cfg.gamma * (1 - b["terminated"]) * self.v(next_obs)
        mu, log_std = self.actor(obs)
        pi_loss = -(weights * GaussianActor.log_prob(mu, log_std, b["action"])).mean()
        self.actor_opt.zero_grad()
        pi_loss.backward()
        self.actor_opt.step()
        # critics: one-step targets through V, never through a new action
        q = self.q(obs, b["action"])  # [2, B]
        q_loss = ((q - y) ** 2).mean(1).sum()
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()
        polyak(self.q_target, self.q, TAU)
        return {
            "loss/value": v_loss.item(),
            "loss/policy": pi_loss.item(),
            "loss/critic": q_loss.item(),
        }

    def update(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        out = [
            self.step(tensors(buffer.sample(self.cfg.batch_size, rng)))
            for _ in range(self.cfg.policy_steps)
        ]
        return {k: float(np.mean([o[k] for o in out])) for k in out[0]} if out else {}
