"""Kernels the continuous-control algorithms share: the agent interface the training loop
drives, TD(lambda) targets over replay slices, advantage weights, Polyak averaging."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from palestra.control.replay import ReplayBuffer

__all__ = [
    "Agent",
    "Checkpointed",
    "awr_weights",
    "descend",
    "frozen_copy",
    "gae",
    "gaussian_act",
    "lambda_returns",
    "polyak",
    "regression_epoch",
    "regression_update",
    "tensors",
]


class Agent(Protocol):
    """What :func:`palestra.control.loop.train` needs of an algorithm.

    ``update_every`` is ``"step"`` (SAC: :meth:`update` after every interaction) or
    ``"epoch"`` (AWR, QWR: after every epoch of interactions). ``extras`` names the per-step
    arrays :meth:`act` returns that the replay buffer must keep (QWR: the behaviour policy).
    """

    update_every: str
    extras: dict[str, int]

    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``[N, obs]`` -> (actions ``[N, act]`` inside the box, extras ``[N, ...]``)."""
        ...

    def observe(self, obs: np.ndarray) -> None:
        """See observations the environments produced (normaliser statistics)."""
        ...

    def update(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        """Learn from the buffer; return metrics."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Numpy fields as float32 tensors (booleans as 0/1 floats)."""
    return {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in batch.items()}


@torch.no_grad()
def frozen_copy(net: torch.nn.Module, dtype: str = "float32") -> torch.nn.Module:
    """A gradient-free copy of ``net`` held in ``dtype`` (a target network); syncing it
    with ``load_state_dict`` rounds the source's float32 values into it."""
    return copy.deepcopy(net).requires_grad_(False).to(getattr(torch, dtype))


def polyak(target: torch.nn.Module, source: torch.nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau source``, parameter by parameter."""
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


def lambda_returns(
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """TD(lambda) targets of the first step of each slice; all inputs ``[B, L]``.

    ``next_values[:, k]`` estimates the value of the state after step ``k``; ``mask[:, k]``
    is 1 while the slice is in its episode (a slice stops at the end of its episode or of
    the data: the last valid step bootstraps from its own next value, unless terminated)::

        v_k = (1 - terminated_k) * next_values_k
        G_k = r_k + gamma * v_k                                  (last valid step)
        G_k = r_k + gamma * ((1 - lam) * v_k + lam * G_{k+1})    (otherwise)

    Returns ``G_0``: ``[B]``. This is trax's ``td_lambda`` estimator over slices of length
    ``L`` (its ``margin``), with truncated episodes bootstrapped from their final state.
    """
    v = (1.0 - terminated) * next_values
    length = rewards.shape[1]
    g = rewards[:, -1] + gamma * v[:, -1]
    for k in reversed(range(length - 1)):
        follows = mask[:, k + 1]
        blended = (1 - lam) * v[:, k] + lam * g
        g = rewards[:, k] + gamma * torch.where(follows > 0, blended, v[:, k])
    return g


def awr_weights(advantages: torch.Tensor, beta: float, w_max: float) -> torch.Tensor:
    """``min(exp(A' / beta), w_max)`` with ``A'`` the batch-normalised advantages (trax's
    default ``advantage_normalization``), computed without gradient."""
    a = advantages.detach()
    a = (a - a.mean()) / (a.std() + 1e-5)
    return torch.clamp(torch.exp(a / beta), max=w_max)


def regression_epoch(
    cfg: Any,
    critic: torch.nn.Module,
    target: torch.nn.Module,
    critic_step: Callable[[], float],
    policy_step: Callable[[], Any],
) -> tuple[list[float], list[Any]]:
    """AWR's and QWR's epoch (trax's ``train_epoch``): ``cfg.value_steps`` critic steps in
    ``cfg.target_syncs`` rounds, the target critic synced before each round, then the target
    synced once more and ``cfg.policy_steps`` policy steps against it. Returns the critic
    losses and the policy steps' results."""
    losses: list[float] = []
    syncs = min(cfg.target_syncs, cfg.value_steps)
    for i in range(syncs):
        target.load_state_dict(critic.state_dict())
        steps = cfg.value_steps // syncs + (i < cfg.value_steps % syncs)
        losses += [critic_step() for _ in range(steps)]
    target.load_state_dict(critic.state_dict())
    return losses, [policy_step() for _ in range(cfg.policy_steps)]


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalised advantage estimation that tells time limits from terminal states; all
    inputs ``[T, N]``, ``next_values[t]`` the value of the true state after step ``t`` (the
    final state of a truncated episode, not the next episode's first)::

        delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)
        A_t     = delta_t + gamma lam (1 - done_t) A_{t+1},    A_T = 0

    A truncated step (done, not terminated) bootstraps from its final state and stops the
    recursion; a terminated one does neither. Returns the advantages ``[T, N]``.
    """
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * (1 - terminated[t]) * next_values[t] - values[t]
        last = delta + gamma * lam * (1 - done[t]) * last
        advantages[t] = last
    return advantages


class Checkpointed:
    """``state_dict`` / ``load_state_dict`` over the attributes an agent names in ``_state``
    (modules, optimisers, normalisers: anything with the two methods)."""

    _state: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).state_dict() for name in self._state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self._state:
            getattr(self, name).load_state_dict(state[name])


@torch.no_grad()
def gaussian_act(
    actor: torch.nn.Module,
    norm: torch.nn.Module,
    obs: np.ndarray,
    explore: bool,
    low: torch.Tensor,
    high: torch.Tensor,
) -> tuple[np.ndarray, torch.Tensor]:
    """A Gaussian policy's action for ``[N, obs]``: sampled (``explore``) or its mean, clipped
    to the box; also the mean (QWR keeps it as the behaviour distribution)."""
    mu, log_std = actor(norm(torch.as_tensor(obs, dtype=torch.float32)))
    action = mu + log_std.exp() * torch.randn_like(mu) if explore else mu
    return torch.clamp(action, low, high).numpy(), mu


def regression_update(
    agent: Any, critic_step: Callable[[], float], policy_step: Callable[[], dict[str, float]]
) -> dict[str, float]:
    """:func:`regression_epoch` for an agent with ``cfg``, ``critic`` and ``target``, and its
    metrics: mean critic and policy losses, the largest advantage weight."""
    critic, policy = regression_epoch(
        agent.cfg, agent.critic, agent.target, critic_step, policy_step
    )
    metrics = {"loss/critic": float(np.mean(critic)) if critic else 0.0}
    if policy:
        metrics["loss/policy"] = float(np.mean([p["loss/policy"] for p in policy]))
        if "weight_max" in policy[0]:
            metrics["weight_max"] = float(np.max([p["weight_max"] for p in policy]))
    return metrics


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip: float = 0.0) -> float:
    """One gradient step on ``loss`` (the global gradient norm clipped to ``clip`` if set);
    returns the loss's value."""
    optimizer.zero_grad()
    loss.backward()
    if clip:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    return loss.item()
