"""Atari games as gymnasium envs for the control algorithms (QWR on Atari), on Palestra's own
ALE preprocessing (:class:`palestra.play.atari.AtariGame`: 4 frames skipped with max-pooling,
84 x 84 grey screens stacked 4 deep or the 128-byte RAM, no-op starts, FIRE at reset, sticky
actions as an option), so the numbers compare with the play pillar's PPO.

Ids: ``atari/GAME`` (screens, ``[4, 84, 84]`` uint8) and ``atari/GAME-ram`` (the last 4 RAM
snapshots, ``[512]`` uint8), e.g. ``palestra control train --env atari/pong --algo qwr``.
The emulator's state (with its RNG) is part of the env's snapshot, so runs resume exactly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from palestra.play.atari import RAM_SIZE, AtariGame, AtariSettings

__all__ = ["AtariEnv", "make_atari"]


class AtariEnv(gym.Env):
    """One Atari game; a ``reset(seed=...)`` starts a new console seeded with ``seed``."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, game: str = "pong", obs: str = "screen", sticky: float = 0.0) -> None:
        if obs not in ("screen", "ram"):
            raise ValueError(f"atari obs must be screen or ram, not {obs!r}")
        self.settings = AtariSettings(game=game, obs=obs, sticky=sticky)  # type: ignore[arg-type]
        self.game = AtariGame(self.settings, 0)  # fails here for an unknown ROM
        self.action_space = gym.spaces.Discrete(self.game.n_actions)
        shape = (4, 84, 84) if obs == "screen" else (4 * RAM_SIZE,)
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)

    def _obs(self) -> np.ndarray:
        o = self.game.observation()
        return o["screen"] if "screen" in o else o["ram"].reshape(-1)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self.game = AtariGame(self.settings, seed)
        self.game.reset()
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        reward, terminated, truncated = self.game.step(int(np.asarray(action).reshape(-1)[0]))
        return self._obs(), float(reward), bool(terminated), bool(truncated), {}

    def get_state(self) -> dict[str, Any]:
        return self.game.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self.game.set_state(state)


def make_atari(env_id: str) -> gym.Env:
    """``atari/GAME`` or ``atari/GAME-ram`` -> the env, with gymnasium's time-limit-free
    wrappers (the game's own 108k-frame limit truncates)."""
    name = env_id.split("/", 1)[1]
    obs = "ram" if name.endswith("-ram") else "screen"
    game = name.removesuffix("-ram")
    return gym.wrappers.OrderEnforcing(AtariEnv(game, obs))
