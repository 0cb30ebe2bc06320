"""A replay buffer for off-policy learning from ``N`` parallel environments.

Storage is a ring of ``capacity`` steps per environment, ``[capacity, N, ...]`` per field, so
the step after ``(t, e)`` is ``(t + 1, e)`` until its episode ends: slices of consecutive
steps (QWR's and AWR's multi-step targets) are index arithmetic. Each observation is stored
once: the next observation of a step is the next step's observation, except where the episode
ended (kept in a small side table, the true final observation, not the reset one) and for the
newest step (the environments' current observations, kept by :meth:`add`). uint8 frames
therefore cost one copy each, and with ``path`` the arrays are memory-mapped files.

Time limits: ``terminated`` (the MDP ended: no bootstrapping) and ``done`` (the episode ended,
terminated or truncated: slices stop there) are separate, so a truncated step bootstraps from
its final observation, as it must (Pardo et al. 2018).

The buffer's whole content is in :meth:`state_dict`, so a checkpoint resumes it exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ReplayBuffer", "Slices"]

_CORE = {"obs", "action", "reward", "terminated", "done"}


class Slices(dict):
    """Fields of sampled slices, each ``[B, L, ...]``: ``obs``, ``action``, ``reward``,
    ``terminated``, ``next_obs``, the extras, ``mask`` (1 where the step belongs to the slice:
    same episode, already stored), and for each extra ``next_<extra>``, valid where
    ``next_known`` (the next state's own stored step)."""


class ReplayBuffer:
    """Ring buffer of ``capacity`` steps for each of ``num_envs`` environments."""

    def __init__(
        self,
        capacity: int,
        num_envs: int,
        obs_shape: tuple[int, ...],
        act_dim: int,
        *,
        obs_dtype: Any = np.float32,
        extras: dict[str, int] | None = None,
        path: str | Path | None = None,
    ) -> None:
        if capacity < 2:
            raise ValueError(f"replay capacity must be at least 2 steps, not {capacity}")
        self.capacity, self.num_envs = capacity, num_envs
        self.obs_shape, self.act_dim = tuple(obs_shape), act_dim
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        shapes: dict[str, tuple[tuple[int, ...], Any]] = {
            "obs": (self.obs_shape, obs_dtype),
            "action": ((act_dim,), np.float32),
            "reward": ((), np.float32),
            "terminated": ((), np.bool_),
            "done": ((), np.bool_),
        }
        for name, dim in (extras or {}).items():
            shapes[name] = ((dim,), np.float32)
        self.fields = {
            name: self._array(name, (capacity, num_envs, *shape), dtype)
            for name, (shape, dtype) in shapes.items()
        }
        self.final_obs: dict[tuple[int, int], np.ndarray] = {}  # (slot, env) -> obs
        self.current_obs = np.zeros((num_envs, *self.obs_shape), dtype=obs_dtype)
        self.ptr = 0  # the slot the next step is written to
        self.size = 0  # stored steps per environment

    def _array(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        if self.path is None:
            return np.zeros(shape, dtype=dtype)
        return np.lib.format.open_memmap(
            self.path / f"{name}.npy", mode="w+", dtype=dtype, shape=shape
        )

    def __len__(self) -> int:
        """Stored transitions, all environments together."""
        return self.size * self.num_envs

    # -- writing -----------------------------------------------------------------------
    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: np.ndarray,
        final_obs: dict[int, np.ndarray] | None = None,
        **extras: np.ndarray,
    ) -> None:
        """Store one step of every environment.

        ``obs`` ``[N, ...]`` is what each environment showed, ``next_obs`` what it shows now
        (after an autoreset: the first observation of the next episode), ``final_obs`` maps
        the environments whose episode just ended to their true last observation.
        """
        slot = self.ptr
        for key in [k for k in self.final_obs if k[0] == slot]:  # overwritten steps
            del self.final_obs[key]
        row = self.fields
        row["obs"][slot] = obs
        row["action"][slot] = action
        row["reward"][slot] = reward
        row["terminated"][slot] = terminated
        done = np.logical_or(terminated, truncated)
        row["done"][slot] = done
        for name, value in extras.items():
            row[name][slot] = value
        for e in np.flatnonzero(done):
            if final_obs is None or int(e) not in final_obs:
                raise ValueError(f"env {int(e)} ended its episode without a final observation")
            self.final_obs[(slot, int(e))] = np.array(final_obs[int(e)], dtype=self.obs_dtype)
        self.current_obs[:] = next_obs
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    @property
    def obs_dtype(self) -> Any:
        return self.fields["obs"].dtype

    # -- reading -----------------------------------------------------------------------
    def _slot(self, logical: np.ndarray) -> np.ndarray:
        """Logical index (0 = oldest stored step) -> ring slot."""
        return (self.ptr - self.size + logical) % self.capacity

    def _next_obs(self, logical: np.ndarray, env: np.ndarray) -> np.ndarray:
        """The observation after each step ``(logical, env)``."""
        slot = self._slot(logical)
        following = np.minimum(logical + 1, self.size - 1)
        out = np.array(self.fields["obs"][self._slot(following), env])
        newest = logical == self.size - 1
        out[newest] = self.current_obs[env[newest]]
        done = self.fields["done"][slot, env]
        for i in np.flatnonzero(done):
            out[i] = self.final_obs[(int(slot[i]), int(env[i]))]
        return out

    def sample_index(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Uniform ``(logical step, env)`` pairs over everything stored."""
        if self.size == 0:
            raise ValueError("cannot sample an empty replay buffer")
        return rng.integers(0, self.size, batch), rng.integers(0, self.num_envs, batch)

    def sample(self, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One-step transitions: ``obs, action, reward, terminated, next_obs`` and extras."""
        logical, env = self.sample_index(batch, rng)
        slot = self._slot(logical)
        out = {name: np.array(a[slot, env]) for name, a in self.fields.items() if name != "done"}
        out["next_obs"] = self._next_obs(logical, env)
        return out

    def sample_slices(self, batch: int, length: int, rng: np.random.Generator) -> Slices:
        """Slices of ``length`` consecutive steps from uniform starts (masked past the end of
        the episode or of the stored data)."""
        logical, env = self.sample_index(batch, rng)
        return self.slices(logical, env, length)

    def slices(self, logical: np.ndarray, env: np.ndarray, length: int) -> Slices:
        """The slices that start at ``(logical, env)``: fields ``[B, length, ...]``."""
        steps = logical[:, None] + np.arange(length)[None, :]  # [B, L]
        inside = steps < self.size
        steps = np.minimum(steps, self.size - 1)
        envs = np.broadcast_to(env[:, None], steps.shape)
        slots = self._slot(steps)
        done = self.fields["done"][slots, envs]
        # a step is in the slice if no earlier step of the slice ended the episode
        ended_before = np.concatenate(
            [np.zeros((len(logical), 1), bool), np.cumsum(done, 1)[:, :-1] > 0], 1
        )
        mask = inside & ~ended_before
        out = Slices(
            {name: np.array(a[slots, envs]) for name, a in self.fields.items() if name != "done"}
        )
        flat_next = self._next_obs(steps.reshape(-1), envs.reshape(-1))
        out["next_obs"] = flat_next.reshape(*steps.shape, *self.obs_shape)
        out["mask"] = mask
        # the extras (e.g. the behaviour policy) of the next state, where it was stored: the
        # following step of the same episode (not past an episode's end, not the newest step)
        following = np.minimum(steps + 1, self.size - 1)
        out["next_known"] = mask & ~done & (steps + 1 < self.size)
        for name in self.fields.keys() - _CORE:
            out[f"next_{name}"] = np.array(self.fields[name][self._slot(following), envs])
        return out

    def rollout(self) -> dict[str, np.ndarray]:
        """Everything stored in order, oldest first: each field ``[T, N, ...]`` (``done``
        included) and ``next_obs`` (PPO reads its one rollout this way)."""
        logical = np.arange(self.size)
        out = {name: np.array(a[self._slot(logical)]) for name, a in self.fields.items()}
        steps = np.repeat(logical, self.num_envs)
        envs = np.tile(np.arange(self.num_envs), self.size)
        out["next_obs"] = self._next_obs(steps, envs).reshape(
            self.size, self.num_envs, *self.obs_shape
        )
        return out

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything stored, in logical order (oldest first), for a checkpoint."""
        order = self._slot(np.arange(self.size))
        return {
            "capacity": self.capacity,
            "num_envs": self.num_envs,
            "size": self.size,
            "fields": {name: np.array(a[order]) for name, a in self.fields.items()},
            "final_obs": {
                (int(np.flatnonzero(order == slot)[0]), e): v
                for (slot, e), v in self.final_obs.items()
            },
            "current_obs": self.current_obs.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["capacity"], state["num_envs"]) != (self.capacity, self.num_envs):
            raise ValueError(
                f"replay state holds capacity {state['capacity']} x {state['num_envs']} envs, "
                f"this buffer {self.capacity} x {self.num_envs}"
            )
        size = int(state["size"])
        for name, values in state["fields"].items():
            self.fields[name][:size] = values
        self.ptr, self.size = size % self.capacity, size
        self.final_obs = {(int(i), int(e)): v for (i, e), v in state["final_obs"].items()}
        self.current_obs[:] = state["current_obs"]
