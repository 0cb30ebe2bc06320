"""Vector environments for any gymnasium environment, with the state a checkpoint needs.

:func:`make_vector_env` builds ``N`` copies of an environment in this process
(``gymnasium.vector.SyncVectorEnv``) or one process each (``AsyncVectorEnv``), always with
``autoreset_mode=SAME_STEP`` set explicitly: the step that ends an episode returns the next
episode's first observation and puts the true last one in ``info["final_obs"]``, which is what
bootstrapping at a time limit needs (a truncated step is not a terminal one).

Exact resume: :class:`Snapshot` (the outermost wrapper of every copy) reads and restores the
simulator state of MuJoCo environments (``mj_getState`` with ``mjSTATE_INTEGRATION``: positions,
velocities, actuators, the solver's warm start, time: bit for bit), the time limit's step
counter and the environment's RNG, through ``call`` so that it works in
subprocesses too. For other environments it returns None and a resumed run starts new
episodes (the loop says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from palestra.core.errors import PalestraError

__all__ = ["Snapshot", "env_spaces", "final_observations", "make_env", "make_vector_env"]

Wrapper = Callable[[gym.Env], gym.Env]


class Snapshot(gym.Wrapper):
    """Adds ``get_snapshot()`` / ``set_snapshot(state)`` (None where unsupported)."""

    def _time_limits(self) -> list[Any]:
        found, env = [], self.env
        while True:
            if isinstance(env, gym.wrappers.TimeLimit):
                found.append(env)
            if not hasattr(env, "env"):
                return found
            env = env.env

    @property
    def snapshot(self) -> dict[str, Any] | None:
        """The state (None where unsupported); assigning it restores it (``set_attr``)."""
        return self.get_snapshot()

    @snapshot.setter
    def snapshot(self, state: dict[str, Any] | None) -> None:
        self.set_snapshot(state)

    def get_snapshot(self) -> dict[str, Any] | None:
        base = self.env.unwrapped
        if hasattr(base, "get_state") and not hasattr(base, "data"):  # Atari: the emulator
            return {"emulator": base.get_state(), "rng": base.np_random.bit_generator.state}
        data = getattr(base, "data", None)
        if data is None or not hasattr(base, "set_state"):
            return None
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION  # qpos, qvel, act, warm start, time, ...
        state = np.empty(mujoco.mj_stateSize(base.model, spec))
        mujoco.mj_getState(base.model, data, state, spec)
        return {
            "mujoco": state,
            "rng": base.np_random.bit_generator.state,
            "elapsed": [t._elapsed_steps for t in self._time_limits()],
        }

    def set_snapshot(self, state: dict[str, Any] | None) -> bool:
        if state is None:
            return False
        import mujoco

        base = self.env.unwrapped
        if "emulator" in state:
            base.set_state(state["emulator"])
            base.np_random.bit_generator.state = state["rng"]
            return True
        if "mujoco" in state:
            spec = mujoco.mjtState.mjSTATE_INTEGRATION
            mujoco.mj_setState(base.model, base.data, state["mujoco"], spec)
            mujoco.mj_forward(base.model, base.data)  # derived quantities, as set_state does
        else:  # a checkpoint of the first version: positions, velocities, actuators, time
            base.set_state(state["qpos"], state["qvel"])  # (no warm start: equal to ~1 ulp)
            base.data.act[:] = state["act"]
            base.data.time = state["time"]
        base.np_random.bit_generator.state = state["rng"]
        for limit, elapsed in zip(self._time_limits(), state["elapsed"], strict=True):
            limit._elapsed_steps = elapsed
        return True


def make_env(env_id: str, wrappers: Sequence[Wrapper] = (), **kwargs: Any) -> gym.Env:
    """``gym.make(env_id)`` with ``wrappers`` applied in order and :class:`Snapshot` outside;
    an unknown id is a :class:`PalestraError` naming it."""
    if env_id.startswith("palestra/"):
        import palestra.control.driving  # noqa: F401 (registers palestra/Driving-v0)
    if env_id.startswith("myo"):
        try:
            import myosuite  # noqa: F401 (registers the myo* envs)
        except ImportError:
            raise PalestraError(
                f"{env_id} needs MyoSuite, which pins gymnasium<1.3: `make myosuite` builds "
                ".venv-myo; run .venv-myo/bin/palestra there"
            ) from None
    try:
        if env_id.startswith("atari/"):
            from palestra.control.atari_env import make_atari

            env = make_atari(env_id)
        else:
            env = gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise PalestraError(f"environment {env_id!r}: {exc}") from None
    except ImportError as exc:  # e.g. MuJoCo envs without the mujoco package
        raise PalestraError(f"environment {env_id!r} needs a package: {exc}") from None
    for wrap in wrappers:
        env = wrap(env)
    return Snapshot(env)


def make_vector_env(
    env_id: str,
    num_envs: int,
    *,
    mode: Literal["sync", "async"] = "sync",
    wrappers: Sequence[Wrapper] = (),
    **kwargs: Any,
) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_id`` (seed them with ``reset(seed=...)``)."""
    make_env(env_id, wrappers, **kwargs).close()  # a bad id fails here, in this process

    def thunk() -> gym.Env:
        return make_env(env_id, wrappers, **kwargs)

    cls = gym.vector.SyncVectorEnv if mode == "sync" else gym.vector.AsyncVectorEnv
    return cls(
        [thunk] * num_envs,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


def env_spaces(
    env: gym.vector.VectorEnv, *, discrete_ok: bool = False
) -> tuple[tuple[int, ...], int, np.ndarray, np.ndarray]:
    """``(obs shape, action dim, low, high)`` of a vector env with a flat box action space;
    with ``discrete_ok`` a ``Discrete(n)`` one gives ``action dim = n`` and empty bounds."""
    space = env.single_action_space
    if discrete_ok and isinstance(space, gym.spaces.Discrete):
        obs_space = env.single_observation_space
        assert isinstance(obs_space, gym.spaces.Box)
        return tuple(obs_space.shape), int(space.n), np.zeros(0), np.zeros(0)
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        kind = "QWR (the only one that also takes Discrete actions)" if not discrete_ok else ""
        raise PalestraError(
            f"continuous control needs a flat Box action space, not {space}"
            + (f"; discrete actions: {kind}" if kind else "")
        )
    obs_space = env.single_observation_space
    if not isinstance(obs_space, gym.spaces.Box):
        raise PalestraError(f"continuous control needs a Box observation space, not {obs_space}")
    return tuple(obs_space.shape), int(space.shape[0]), space.low.copy(), space.high.copy()


def final_observations(info: dict[str, Any], done: np.ndarray) -> dict[int, np.ndarray]:
    """The true last observation of each environment whose episode ended this step."""
    if not done.any():
        return {}
    final = info.get("final_obs")
    if final is None:
        raise PalestraError("the vector env did not report final_obs (autoreset mode?)")
    return {int(e): np.asarray(final[e]) for e in np.flatnonzero(done)}
