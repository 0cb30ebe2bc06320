"""The Learning to Run tricks (Kidziński et al. 2018, "Learning to Run challenge solutions:
adapting reinforcement learning methods for neuromusculoskeletal environments"), each as an
environment wrapper or a training option, so that an ablation adds one at a time.

* :class:`FrameSkip` — repeat each action ``k`` simulator steps, summing the rewards (most
  teams used 2–5: the policy decides at a coarser time scale, episodes are shorter).
* :class:`ForwardShaping` — add ``w * forward velocity`` to the reward, or subtract a
  penalty ``p`` on falling (termination): the velocity-based and falling shaping of the
  teams' reward engineering; the evaluation return stays the environment's own (the info
  key ``"raw_reward"`` carries it, and evaluation runs without wrappers).
* :class:`DiscreteActions` — snap each action dimension to one of ``bins`` evenly spaced
  levels of its range (2 levels is the bang-bang muscle activation several teams used).
* symmetry — the mirrored copy of every transition (left and right legs swapped), added to
  the replay as data augmentation; :data:`MIRRORS` holds the permutations of observations
  and actions for the environments that have them, :func:`mirror` applies one.
* policy blending — the deterministic actions of several trained agents averaged
  (:class:`Blend`), as the top teams blended snapshots of their policies.

:func:`apply_tricks` builds the wrapper list from a trick string such as
``"skip4,shape0.5,bins3"`` (the ``--tricks`` option of ``palestra control train``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from palestra.core.errors import PalestraError

__all__ = [
    "MIRRORS",
    "Blend",
    "DiscreteActions",
    "ForwardShaping",
    "FrameSkip",
    "mirror",
    "mirror_tables",
    "parse_tricks",
]


class FrameSkip(gym.Wrapper):
    """Repeat the action ``k`` times; the reward is the sum, the episode ends where any
    repeated step ends it."""

    def __init__(self, env: gym.Env, k: int) -> None:
        super().__init__(env)
        if k < 1:
            raise ValueError(f"frame skip must be at least 1, not {k}")
        self.k = k

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for _ in range(self.k):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class ForwardShaping(gym.Wrapper):
    """``r' = r + w * info["x_velocity"] - p * terminated``; ``info["raw_reward"] = r``."""

    def __init__(
        self, env: gym.Env, velocity_weight: float = 0.0, fall_penalty: float = 0.0
    ) -> None:
        super().__init__(env)
        self.velocity_weight, self.fall_penalty = velocity_weight, fall_penalty

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "raw_reward": float(reward)}
        if self.velocity_weight:
            if "x_velocity" not in info:
                raise PalestraError("velocity shaping needs an env that reports info['x_velocity']")
            reward = float(reward) + self.velocity_weight * float(info["x_velocity"])
        if terminated:
            reward = float(reward) - self.fall_penalty
        return obs, float(reward), terminated, truncated, info


class DiscreteActions(gym.ActionWrapper):
    """Snap each action dimension to the nearest of ``bins`` levels spanning its range."""

    def __init__(self, env: gym.Env, bins: int) -> None:
        super().__init__(env)
        if bins < 2:
            raise ValueError(f"action discretisation needs at least 2 levels, not {bins}")
        space = env.action_space
        assert isinstance(space, gym.spaces.Box)
        self.low, self.high, self.bins = space.low, space.high, bins

    def action(self, action: Any) -> np.ndarray:
        a = np.clip(np.asarray(action, dtype=np.float64), self.low, self.high)
        unit = (a - self.low) / (self.high - self.low)  # [0, 1]
        level = np.floor(unit * (self.bins - 1) + 0.5) / (self.bins - 1)  # half rounds up
        return (self.low + level * (self.high - self.low)).astype(np.float32)


# (observation permutation, action permutation) that swap the left and right legs;
# Walker2d-v5: observation = qpos[1:] (z, angle, 3 right joints, 3 left joints) + qvel (x, z,
# angle velocities, 3 right, 3 left); action = 3 right torques, 3 left torques
MIRRORS: dict[str, tuple[list[int], list[int]]] = {
    "Walker2d": (
        [0, 1, 5, 6, 7, 2, 3, 4, 8, 9, 10, 14, 15, 16, 11, 12, 13],
        [3, 4, 5, 0, 1, 2],
    ),
}


def mirror_tables(env_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The permutations of ``env_id`` (any version), or a clear error."""
    name = env_id.split("-v")[0]
    if name not in MIRRORS:
        known = ", ".join(MIRRORS)
        raise PalestraError(f"no mirror symmetry known for {env_id} (known: {known})")
    obs, act = MIRRORS[name]
    return np.array(obs), np.array(act)


def mirror(
    batch: dict[str, np.ndarray], obs_perm: np.ndarray, act_perm: np.ndarray
) -> dict[str, np.ndarray]:
    """The mirrored copy of a batch of transitions (rewards and flags unchanged)."""
    out = dict(batch)
    for key in ("obs", "next_obs"):
        if key in out:
            out[key] = out[key][..., obs_perm]
    for key in ("action", "mu", "sampled"):
        if key in out:
            out[key] = out[key][..., act_perm]
    return out


class Blend:
    """Several trained agents acting as one: the mean of their deterministic actions."""

    def __init__(self, agents: Sequence[Any]) -> None:
        if not agents:
            raise ValueError("blending needs at least one agent")
        self.agents = list(agents)

    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, Any]]:
        actions = [agent.act(obs, explore=False)[0] for agent in self.agents]
        return np.mean(actions, axis=0), {}


_TRICK = re.compile(r"(skip|shape|fall|bins)([0-9.]+)")


def parse_tricks(spec: str, *, shaping: bool = True) -> list[Any]:
    """``"skip4,shape0.5,fall10,bins3"`` -> wrapper constructors, in that order; empty: none.

    ``skipK`` frame skip, ``shapeW`` forward-velocity shaping weight, ``fallP`` falling
    penalty, ``binsN`` action levels. ``shaping=False`` leaves the reward shaping out (for
    evaluation: the skip and the levels are how the policy acts, the shaping is not what it
    is scored on). Symmetry is a replay option (``--symmetry``)."""
    wrappers: list[Any] = []
    velocity, fall = 0.0, 0.0
    for part in filter(None, (p.strip() for p in spec.split(","))):
        m = _TRICK.fullmatch(part)
        if m is None:
            raise PalestraError(
                f"unknown trick {part!r} in {spec!r}; known: skipK, shapeW, fallP, binsN"
            )
        name, value = m.group(1), float(m.group(2))
        if name == "skip":
            wrappers.append(lambda env, k=int(value): FrameSkip(env, k))
        elif name == "bins":
            wrappers.append(lambda env, n=int(value): DiscreteActions(env, n))
        elif name == "shape":
            velocity = value
        else:
            fall = value
    if shaping and (velocity or fall):
        wrappers.append(lambda env: ForwardShaping(env, velocity, fall))
    return wrappers
