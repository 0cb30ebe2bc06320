"""Q-Value Weighted Regression (Kozakowski, Kaiser, Michalewski, Mohiuddin, Kańska 2021),
after its reference implementation, trax's ``SamplingAWR`` with ``light_mujoco.gin``.

QWR is AWR with a Q-function critic, so that the advantage of an action is measured against
the other actions of the same state rather than against a single sampled return. Each epoch
collects ``epoch_steps`` interactions with the Gaussian policy ``pi = N(mu(s), 0.4^2)``,
keeping the behaviour distribution ``mu_b(s)`` of every step, and then trains:

* the critic, ``value_steps`` steps on slices of ``margin`` consecutive steps from the
  replay of the last epochs, towards TD(lambda) targets of a target critic ``Q'`` that is
  synced ``target_syncs`` times per epoch::

      V(s)    = agg_{i=1..n} Q'(s, a_i),  a_i ~ N(mu_b(s), 0.4^2)       (n = q_samples)
      agg     = T * log(1/n sum_i exp(Q_i / T))  on Q normalised by its mean absolute
                deviation (log-sum-exp, T = 0.3; the 2020 configuration: raw Q, T = 1), or
                max, or mean
      y(s,a)  = TD(lambda) return of the slice, bootstrapped with V    (common.lambda_returns)
      J(Q)    = E[(Q(s, a) - y)^2]

  with the network predicting ``Q * (1 - gamma)`` (trax's ``scale_value_targets``);
* the policy, ``policy_steps`` steps on states of the replay with freshly sampled actions::

      a_i ~ N(mu_b(s), 0.4^2),  A_i = Q'(s, a_i) - 1/n sum_j Q'(s, a_j)
      w_i = min(exp(norm(A)_i / beta), w_max)       (norm: batch mean 0, std 1)
      J(pi) = -E_s[1/n sum_i w_i log pi(a_i | s)]

Actions are sampled from the *behaviour* distribution stored with each step, as the
reference does (``_get_dist_inputs``); where a next state has no stored step (the true final
state of a truncated episode, or the newest step) its actions come from the current policy.
Offline, where the data holds no behaviour distribution, the reference centres it on the
dataset's action (``_get_dist_inputs`` in offline mode): the loader stores ``mu = action``
(:func:`palestra.control.offline.load_dataset`), which keeps the sampled actions near the
data.

With ``target_dtype='bfloat16'`` the target critic is held in bfloat16 (rounded from the
float32 critic at every sync) and values the ``B x margin x n`` sampled actions with bf16
matmuls accumulating in float32: most of an epoch's arithmetic, 7x faster on a CPU with AMX
(an epoch of the paper's settings: 2x). The critic being trained, its optimiser and the
policy stay float32.

Differences from the reference, all small: the critic is an MLP on ``[s, a]`` (the reference
injects the action multiplicatively into a 256-unit layer), sampled actions are clipped to
the action box before the critic sees them (the environment clips executed ones the same
way), and a truncated episode bootstraps from its final state.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from palestra.control.common import (
    Checkpointed,
    awr_weights,
    descend,
    frozen_copy,
    gaussian_act,
    lambda_returns,
    regression_update,
    tensors,
)
from palestra.control.config import ControlTrainConfig
from palestra.control.replay import ReplayBuffer
from palestra.models.atari_nets import NatureCNN
from palestra.models.control_nets import GaussianActor, QNetwork, make_norm, mlp

__all__ = ["QWR", "QWRDiscrete", "aggregate"]


def aggregate(
    q: torch.Tensor, how: str, temperature: float, normalization: str = "abs"
) -> torch.Tensor:
    """``[B, n]`` Q-values of sampled actions -> ``[B]`` state values (trax's
    ``_aggregate_values``; ``normalization='abs'`` scales by the batch's mean absolute
    deviation first, ``'none'`` aggregates the raw values)."""
    scale = (q - q.mean()).abs().mean() + 1e-5 if normalization == "abs" else q.new_tensor(1.0)
    x = q / scale
    if how == "max":
        v = x.max(-1).values
    elif how == "mean":
        v = x.mean(-1)
    else:
        v = (torch.logsumexp(x / temperature, -1) - math.log(q.shape[-1])) * temperature
    return v * scale


class QWR(Checkpointed):
    """The QWR agent: Gaussian policy, Q critic and its target, observation normaliser."""

    update_every = "epoch"
    _state = ("norm", "actor", "critic", "target", "actor_opt", "critic_opt")

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
        self.extras = {"mu": act_dim}
        hidden = (cfg.hidden, cfg.hidden)
        self.low, self.high = torch.as_tensor(low), torch.as_tensor(high)
        self.norm = make_norm(obs_dim, bool(cfg.normalize_obs))
        self.actor = GaussianActor(obs_dim, act_dim, std=cfg.policy_std, hidden=hidden)
        self.critic = QNetwork(obs_dim, act_dim, hidden)
        self.target = frozen_copy(self.critic, cfg.target_dtype)
        self.scale = 1.0 / (1.0 - cfg.gamma) if cfg.gamma < 1 else 1.0
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.value_lr, fused=True)

    # -- acting ------------------------------------------------------------------------
    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        action, mu = gaussian_act(self.actor, self.norm, obs, explore, self.low, self.high)
        return action, {"mu": mu.numpy()}

    def observe(self, obs: np.ndarray) -> None:
        self.norm.update(torch.as_tensor(obs, dtype=torch.float32))

    # -- learning ----------------------------------------------------------------------
    def _q(self, net: torch.nn.Module, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        dtype = next(net.parameters()).dtype
        return net(obs.to(dtype), action.to(dtype)).float() * self.scale

    def _sample_actions(self, mu: torch.Tensor) -> torch.Tensor:
        """``[..., act]`` means -> ``[..., n, act]`` actions of ``N(mu, std^2)``, clipped."""
        n = self.cfg.q_samples
        mu = mu.unsqueeze(-2).expand(*mu.shape[:-1], n, mu.shape[-1])
        a = mu + self.cfg.policy_std * torch.randn_like(mu)
        return torch.clamp(a, self.low, self.high)

    @torch.no_grad()
    def _behaviour(
        self, obs: torch.Tensor, stored: torch.Tensor | None, known: Any
    ) -> torch.Tensor:
        """Means of the behaviour policy: stored where ``known``, else the current policy's
        (computed for those rows only: few, the final states of truncated episodes)."""
        if stored is None:
            return self.actor(obs)[0]
        unknown = known <= 0
        if not unknown.any():
            return stored
        mu = stored.clone()
        mu[unknown] = self.actor(obs[unknown])[0]
        return mu

    def critic_step(self, buffer: ReplayBuffer, rng: np.random.Generator) -> float:
        cfg = self.cfg
        s = tensors(buffer.sample_slices(cfg.batch_size, cfg.margin, rng))
        obs, next_obs = self.norm(s["obs"][:, 0]), self.norm(s["next_obs"])  # [B,o], [B,L,o]
        with torch.no_grad():
            mu_next = self._behaviour(next_obs, s.get("next_mu"), s["next_known"])  # [B, L, a]
            actions = self._sample_actions(mu_next)  # [B, L, n, a]
            q_next = self._q(self.target, next_obs.unsqueeze(-2), actions)  # [B, L, n]
            v_next = aggregate(
                q_next.flatten(0, 1), cfg.q_aggregate, cfg.q_temperature, cfg.q_normalization
            )
            y = lambda_returns(
                s["reward"],
                v_next.view(q_next.shape[:2]),
                s["terminated"],
                s["mask"],
                cfg.gamma,
                cfg.lam,
            )
        q = self._q(self.critic, obs, s["action"][:, 0])
        loss = ((q - y) ** 2).mean() / self.scale**2  # the network's own units
        return descend(self.critic_opt, loss, cfg.grad_clip)

    def policy_step(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        cfg = self.cfg
        b = tensors(buffer.sample(cfg.batch_size, rng))
        obs = self.norm(b["obs"])
        with torch.no_grad():
            mu_b = self._behaviour(obs, b.get("mu"), torch.ones(len(obs)))
            actions = self._sample_actions(mu_b)  # [B, n, a]
            q = self._q(self.target, obs.unsqueeze(-2), actions)  # [B, n]
            advantages = q - q.mean(-1, keepdim=True)
            weights = awr_weights(advantages, cfg.beta, cfg.w_max)
        mu, log_std = self.actor(obs)
        log_prob = GaussianActor.log_prob(mu.unsqueeze(-2), log_std.unsqueeze(-2), actions)
        loss = -(weights * log_prob).mean()
        descend(self.actor_opt, loss, cfg.grad_clip)
        return {"loss/policy": loss.item(), "weight_max": weights.max().item()}

    def update(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        """One epoch of critic steps (target synced ``target_syncs`` times), then policy steps."""
        return regression_update(
            self, lambda: self.critic_step(buffer, rng), lambda: self.policy_step(buffer, rng)
        )


class _DiscreteNet(nn.Module):
    """A torso (the Nature CNN for ``[4, 84, 84]`` uint8 screens, else a ReLU MLP) and a
    linear head with one output per action: policy logits, or Q-values of every action."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden: int) -> None:
        super().__init__()
        if len(obs_shape) == 3:
            self.torso: nn.Module = NatureCNN(frames=obs_shape[0])
            width = self.torso.features  # type: ignore[assignment]
        else:
            self.torso = nn.Sequential(mlp(obs_shape[0], hidden, (hidden,)), nn.ReLU())
            width = hidden
        self.head = nn.Linear(width, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs))


class QWRDiscrete(Checkpointed):
    """QWR with discrete actions (the QWR paper's Atari setting, same hyperparameters): a
    categorical policy, a critic that outputs ``Q(s, .)`` for every action at once, actions
    sampled from the stored behaviour distribution (its logits) exactly as in :class:`QWR`::

        a_i ~ Categorical(logits_b(s)),  V(s) = agg_i Q'(s, a_i),  A_i = Q'(s, a_i) - mean_j Q'
        J(pi) = -E_s[1/n sum_i min(exp(norm(A)_i / beta), w_max) log pi(a_i | s)]

    Screens are scaled to [0, 1] inside the Nature CNN (no running normaliser); flat
    observations (RAM, toy envs) go through the normaliser and an MLP.
    """

    update_every = "epoch"
    _state = ("norm", "actor", "critic", "target", "actor_opt", "critic_opt")

    def __init__(self, cfg: ControlTrainConfig, obs_shape: tuple[int, ...], n_actions: int) -> None:
        assert cfg.lr is not None
        self.cfg, self.n_actions = cfg, n_actions
        self.extras = {"logits": n_actions}
        self.image = len(obs_shape) == 3
        self.norm = make_norm(obs_shape[0], bool(cfg.normalize_obs) and not self.image)
        self.actor = _DiscreteNet(obs_shape, n_actions, cfg.hidden)
        self.critic = _DiscreteNet(obs_shape, n_actions, cfg.hidden)
        self.target = frozen_copy(self.critic, cfg.target_dtype)
        self.scale = 1.0 / (1.0 - cfg.gamma) if cfg.gamma < 1 else 1.0
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.value_lr, fused=True)

    def _x(self, obs: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(obs))
        return x if self.image else self.norm(x.float())

    @torch.no_grad()
    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        logits = self.actor(self._x(obs))
        if explore:
            action = torch.distributions.Categorical(logits=logits).sample()
        else:
            action = logits.argmax(-1)
        return action.numpy(), {"logits": logits.numpy()}

    def observe(self, obs: np.ndarray) -> None:
        if not self.image:
            self.norm.update(torch.as_tensor(obs, dtype=torch.float32))

    def _q(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        dtype = next(net.parameters()).dtype
        x = x if x.dtype == torch.uint8 else x.to(dtype)
        return net(x).float() * self.scale  # [..., A]

    def _sample(self, logits: torch.Tensor) -> torch.Tensor:
        """``[B, A]`` logits -> ``[B, n]`` sampled actions."""
        return torch.multinomial(torch.softmax(logits, -1), self.cfg.q_samples, replacement=True)

    def critic_step(self, buffer: ReplayBuffer, rng: np.random.Generator) -> float:
        cfg = self.cfg
        s = buffer.sample_slices(cfg.batch_size, cfg.margin, rng)
        B, L = s["reward"].shape
        obs = self._x(s["obs"][:, 0])
        next_obs = self._x(s["next_obs"].reshape(B * L, *s["next_obs"].shape[2:]))
        f = tensors({k: s[k] for k in ("reward", "terminated", "mask", "next_known")})
        with torch.no_grad():
            current = self.actor(next_obs)
            stored = torch.as_tensor(s["next_logits"].reshape(B * L, -1), dtype=torch.float32)
            known = f["next_known"].reshape(-1, 1) > 0
            behaviour = torch.where(known, stored, current)
            q_next = self._q(self.target, next_obs).gather(1, self._sample(behaviour))
            v_next = aggregate(q_next, cfg.q_aggregate, cfg.q_temperature, cfg.q_normalization)
            y = lambda_returns(
                f["reward"], v_next.view(B, L), f["terminated"], f["mask"], cfg.gamma, cfg.lam
            )
        action = torch.as_tensor(s["action"][:, 0, 0]).long().unsqueeze(-1)
        q = self._q(self.critic, obs).gather(1, action).squeeze(-1)
        loss = ((q - y) ** 2).mean() / self.scale**2
        return descend(self.critic_opt, loss, cfg.grad_clip)

    def policy_step(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        cfg = self.cfg
        b = buffer.sample(cfg.batch_size, rng)
        obs = self._x(b["obs"])
        with torch.no_grad():
            actions = self._sample(torch.as_tensor(b["logits"], dtype=torch.float32))  # [B, n]
            q = self._q(self.target, obs).gather(1, actions)
            weights = awr_weights(q - q.mean(-1, keepdim=True), cfg.beta, cfg.w_max)
        log_prob = torch.log_softmax(self.actor(obs), -1).gather(1, actions)
        loss = -(weights * log_prob).mean()
        descend(self.actor_opt, loss, cfg.grad_clip)
        return {"loss/policy": loss.item(), "weight_max": weights.max().item()}

    def update(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        """One epoch of critic steps (target synced ``target_syncs`` times), then policy steps."""
        return regression_update(
            self, lambda: self.critic_step(buffer, rng), lambda: self.policy_step(buffer, rng)
        )
