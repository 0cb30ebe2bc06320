"""Soft Actor-Critic (Haarnoja et al. 2018, with the automatic entropy of Haarnoja et al.
2018b), the in-house reference of the continuous-control bench.

One gradient step per interaction on a uniform replay batch, in Stable-Baselines3's order::

    alpha loss   J(log alpha) = -E[log alpha * (log pi(a~|s) + H_target)],  H_target = -|A|
    critic loss  y = r + gamma (1 - terminated) (min_j Q'_j(s', a') - alpha log pi(a'|s'))
                 J(Q) = sum_j 1/2 E[(Q_j(s, a) - y)^2],    a' ~ pi(.|s')
    actor loss   J(pi) = E[alpha log pi(a~|s) - min_j Q_j(s, a~)],   a~ ~ pi(.|s)
    targets      Q'_j <- (1 - tau) Q'_j + tau Q_j

with a tanh-squashed Gaussian policy (:class:`~palestra.models.control_nets.
SquashedGaussianActor`). ``terminated`` is the MDP's end only: a step cut by a time limit
bootstraps from its true final observation (kept by the replay buffer).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from palestra.control.common import polyak, tensors
from palestra.control.config import ControlTrainConfig
from palestra.control.replay import ReplayBuffer
from palestra.models.control_nets import QEnsemble, SquashedGaussianActor, make_norm

__all__ = ["SAC"]


class SAC:
    """The SAC agent: actor, twin critics and their targets, entropy temperature."""

    update_every = "step"
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
        self.norm = make_norm(obs_dim, bool(cfg.normalize_obs))
        self.actor = SquashedGaussianActor(
            obs_dim, act_dim, torch.as_tensor(low), torch.as_tensor(high), hidden
        )
        self.q = QEnsemble(obs_dim, act_dim, 2, hidden)  # the twin critics, [2, B]
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.target_entropy = -float(act_dim)
        # fused Adam: one kernel per parameter group instead of a loop over tensors
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.q.parameters(), lr=cfg.critic_lr, fused=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.critic_lr)

    @torch.no_grad()
    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        x = self.norm(torch.as_tensor(obs, dtype=torch.float32))
        action, _, mean = self.actor.sample(x)
        return (action if explore else mean).numpy(), {}

    def observe(self, obs: np.ndarray) -> None:
        self.norm.update(torch.as_tensor(obs, dtype=torch.float32))

    def update(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        cfg = self.cfg
        for _ in range(cfg.gradient_steps):
            b = tensors(buffer.sample(cfg.batch_size, rng))
            obs, next_obs = self.norm(b["obs"]), self.norm(b["next_obs"])

            # temperature, on the current policy's samples
            action_pi, logp_pi, _ = self.actor.sample(obs)
            alpha_loss = -(self.log_alpha * (logp_pi.detach() + self.target_entropy)).mean()
            self.alpha_opt.zero_grad()
            alpha_loss.backward()
            self.alpha_opt.step()
            alpha = self.log_alpha.detach().exp()

            # critics
            with torch.no_grad():
                next_action, next_logp, _ = self.actor.sample(next_obs)
                q_next = self.q_target(next_obs, next_action).min(0).values
                y = b["reward"] + cfg.gamma * (1 - b["terminated"]) * (q_next - alpha * next_logp)
            q = self.q(obs, b["action"])  # [2, B]
            critic_loss = 0.5 * ((q - y) ** 2).mean(1).sum()
            self.critic_opt.zero_grad()
            critic_loss.backward()
            self.critic_opt.step()

            # actor, through critics that are frozen for this backward pass
            self.q.requires_grad_(False)
            q_pi = self.q(obs, action_pi).min(0).values
            actor_loss = (alpha * logp_pi - q_pi).mean()
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            self.q.requires_grad_(True)

            polyak(self.q_target, self.q, cfg.tau)
        metrics = {
            "loss/critic": critic_loss.item(),
            "loss/actor": actor_loss.item(),
            "alpha": float(alpha),
            "q": q.mean().item(),
            "entropy": -logp_pi.mean().item(),
        }
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "norm": self.norm.state_dict(),
            "actor": self.actor.state_dict(),
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("norm", "actor", "q", "q_target"):
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        for name in ("actor_opt", "critic_opt", "alpha_opt"):
            getattr(self, name).load_state_dict(state[name])
