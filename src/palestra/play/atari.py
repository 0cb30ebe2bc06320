"""Atari 2600 worlds on ale-py: the standard preprocessing, three observation modes, and
vector environments for batched training.

Preprocessing (Mnih et al. 2015; Machado et al. 2018 for sticky actions), per agent step:

* **no-op starts**: after a reset, 1..``noop_max`` (uniform) emulator frames of NOOP, then one
  agent step of FIRE in games whose minimal action set has FIRE (``fire_reset``);
* **frame skip** 4: the action is repeated for 4 emulator frames, the rewards summed, and the
  screen observation is the pixel-wise max of the last two frames (Atari sprites flicker);
* **84x84 grayscale** by area averaging (as ALE's native vector env: equal up to rounding, at
  most one grey level on a few pixels), **4-frame stack**, zeros before the first frame of an
  episode;
* **episodic life** (training only): a lost life ends the *training* episode (``terminated``)
  while the game goes on; the real episode (game over, or ``max_frames`` = 108,000 emulator
  frames, i.e. 30 minutes: ``truncated``) is what returns are reported over;
* **reward clipping** (training only) is left to the learner: environments here always return
  the raw score change, which the learner clips with ``sign`` (so the real return is logged);
* **sticky actions** optional (``sticky=0.25`` as Machado et al.); full action set off.

Observation modes (Sygnowski & Michalewski 2016, "Learning from the memory of Atari 2600"):

* ``screen``: ``{"screen": uint8 [4, 84, 84]}``;
* ``ram``: ``{"ram": uint8 [ram_stack, 128]}``, the console's 128 bytes of RAM read after each
  agent step (i.e. after the 4th skipped frame). ``ram_stack=4`` (default) stacks the RAM of the
  last four agent steps like the screen, which lets a feed-forward net read velocities;
  ``ram_stack=1`` is the single-snapshot setting of the paper;
* ``both``: both of the above.

Vector environments return dicts of batched arrays (``[N, ...]``) and reset finished envs in
the same step (the returned observation is the new episode's first one):

* :class:`NativeScreenVecEnv` wraps ``ale_py.vector_env.AtariVectorEnv`` (C++ threads, the
  fastest for screens); it has no RAM mode and cannot save its state;
* :class:`AtariVecEnv` steps ``ale_py.ALEInterface`` instances itself, in process or split
  across worker processes, reading RAM with ``getRAM`` (0.5 µs); its state can be saved and
  restored, so training on it resumes exactly.

The world ``"atari"`` (:class:`AtariState`) puts one console behind the state contract;
``clone`` snapshots the emulator with ``cloneState(include_rng=True)`` and clones share one
emulator, restoring their snapshot when they are stepped, so cloning is cheap.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from palestra.core.errors import PalestraError
from palestra.core.world import register_world

__all__ = [
    "AtariGame",
    "AtariSettings",
    "AtariState",
    "AtariVecEnv",
    "NativeScreenVecEnv",
    "ObsMode",
    "Starts",
    "StepResult",
    "make_vec_env",
    "resize84",
]

ObsMode = Literal["screen", "ram", "both"]
RAM_SIZE = 128
SCREEN = (210, 160)


@dataclass(frozen=True)
class AtariSettings:
    """The preprocessing of one game (see the module docstring)."""

    game: str = "breakout"
    obs: ObsMode = "screen"
    frameskip: int = 4
    noop_max: int = 30
    sticky: float = 0.0
    episodic_life: bool = False
    fire_reset: bool = True
    frame_stack: int = 4
    ram_stack: int = 4
    max_frames: int = 108_000
    full_action_space: bool = False

    @property
    def wants_screen(self) -> bool:
        return self.obs in ("screen", "both")

    @property
    def wants_ram(self) -> bool:
        return self.obs in ("ram", "both")

    def make_game(self, seed: int, starts: Starts | None = None) -> AtariGame:
        """The game these settings describe (the vector envs build games through this, so
        other worlds with the same face, e.g. :class:`~palestra.play.doom.DoomSettings`,
        plug in)."""
        return AtariGame(self, seed, starts)


@dataclass
class Starts:
    """States a training episode may start from instead of the reset: with probability
    ``prob`` a reset restores one of ``states`` (:meth:`AtariGame.get_state` dicts, e.g. along
    expert trajectories), drawn uniformly. Such episodes are played but not reported (their
    return would include points scored before the start)."""

    states: list[dict[str, Any]]
    prob: float


def begin_at_a_start(game: Any) -> bool:
    """With probability ``game.starts.prob``, put ``game`` (an :class:`AtariGame` or a game
    with its face) at one of its starts, drawn with its own RNG (which the start's state does
    not replace), with fresh episode counters; returns whether it did (``game.from_start``)."""
    starts = game.starts
    game.from_start = starts is not None and game.rng.random() < starts.prob
    if game.from_start:
        start = starts.states[int(game.rng.integers(len(starts.states)))]
        game.set_state({**start, "rng": game.rng.bit_generator.state, "from_start": True})
        game.episode_return, game.episode_length = 0.0, 0
        game.game_over = game.truncated = False
    return game.from_start


@dataclass
class StepResult:
    """One vector step. ``reward`` is raw (unclipped); ``terminated`` includes life losses
    when ``episodic_life``; ``episodes`` lists ``(env, return, length)`` of real episodes
    (game over or time limit) that ended in this step, in agent steps and raw score."""

    obs: dict[str, np.ndarray]
    reward: np.ndarray  # [N] float32
    terminated: np.ndarray  # [N] bool
    truncated: np.ndarray  # [N] bool
    episodes: list[tuple[int, float, int]]


# ----------------------------------------------------------------------------- resizing
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` weights of area interpolation: output pixel ``i`` averages the input
    interval ``[i s, (i+1) s)``, ``s = n_in / n_out``, each input pixel weighted by its
    overlap (OpenCV's INTER_AREA for a non-integer scale)."""
    scale = n_in / n_out
    weights = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(lo), min(n_in, int(np.ceil(hi)))):
            weights[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return weights / scale


def _band(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero band of an area-weight matrix: ``[n_out, k]`` indices and weights."""
    width = int((weights > 0).sum(1).max())
    index = np.zeros((weights.shape[0], width), np.intp)
    band = np.zeros((weights.shape[0], width), np.float32)
    for i, row in enumerate(weights):
        nonzero = np.flatnonzero(row)
        index[i, : len(nonzero)] = nonzero
        index[i, len(nonzero) :] = nonzero[0]  # padding, weight 0
        band[i, : len(nonzero)] = row[nonzero]
    return index, band


Terms = list[tuple[np.ndarray, np.ndarray]]


def _terms(n_in: int, n_out: int, axis: int) -> Terms:
    """The area weights of one axis as ``(index, weight)`` gathers, weights shaped to
    broadcast along ``axis`` (0: rows, 1: columns)."""
    index, weights = _band(_area_weights(n_in, n_out))  # [n_out, k] each
    shape = (-1, 1) if axis == 0 else (1, -1)
    return [(i, w.reshape(shape).copy()) for i, w in zip(index.T, weights.T, strict=True)]


def area_resizer(height: int, width: int, size: int = 84) -> Callable[[np.ndarray], np.ndarray]:
    """A function from ``[height, width]`` grayscale to ``[size, size]`` uint8 by area
    averaging (OpenCV's INTER_AREA).

    Each output pixel mixes a few rows and columns, so the weights are applied as a few row
    and column gathers rather than a dense matrix product: no BLAS call, whose thread pool
    would fight torch's for the cores while the learner steps its envs.
    """
    row_terms, col_terms = _terms(height, size, 0), _terms(width, size, 1)

    def resize(gray: np.ndarray) -> np.ndarray:
        g = gray.astype(np.float32)
        (index, weight), *rest = row_terms
        rows = g[index] * weight  # [size, width]
        for index, weight in rest:
            rows += g[index] * weight
        (index, weight), *rest = col_terms
        out = rows[:, index] * weight  # [size, size]
        for index, weight in rest:
            out += rows[:, index] * weight
        return np.rint(out).astype(np.uint8)

    return resize


_resize_atari = area_resizer(*SCREEN)


def resize84(gray: np.ndarray) -> np.ndarray:
    """A ``[210, 160]`` grayscale Atari screen to ``[84, 84]`` uint8 by area averaging."""
    return _resize_atari(gray)


# ----------------------------------------------------------------------------- one game
def _ale(settings: AtariSettings, seed: int) -> Any:
    from ale_py import ALEInterface, LoggerMode, roms

    ALEInterface.setLoggerMode(LoggerMode.Error)
    ale = ALEInterface()
    ale.setInt("random_seed", int(seed) % (2**31))
    ale.setFloat("repeat_action_probability", float(settings.sticky))
    ale.setInt("max_num_frames_per_episode", 0)  # the time limit is ours (truncation)
    try:
        ale.loadROM(roms.get_rom_path(settings.game))
    except (TypeError, RuntimeError, AttributeError, KeyError) as e:
        raise PalestraError(f"unknown Atari game {settings.game!r}: {e}") from None
    return ale


class AtariGame:
    """One emulator with the standard preprocessing; :meth:`step` takes an action *index*
    into the (minimal) action set. Not a gymnasium env: the vector envs and the world
    wrap it."""

    def __init__(self, settings: AtariSettings, seed: int, starts: Starts | None = None) -> None:
        from ale_py import Action

        self.settings = settings
        self.starts = starts if starts is not None and starts.states and starts.prob > 0 else None
        self.from_start = False  # this episode began at one of ``starts``
        self.ale = _ale(settings, seed)
        actions = (
            self.ale.getLegalActionSet()
            if settings.full_action_space
            else self.ale.getMinimalActionSet()
        )
        self.actions = list(actions)
        self.fire = settings.fire_reset and Action.FIRE in self.actions and len(self.actions) >= 3
        self._fire_index = self.actions.index(Action.FIRE) if self.fire else 0
        self.rng = np.random.default_rng(seed)
        self._frames = np.zeros((2, *SCREEN), np.uint8)  # last two frames of a skip
        self.screen = np.zeros((settings.frame_stack, 84, 84), np.uint8)
        self.ram = np.zeros((settings.ram_stack, RAM_SIZE), np.uint8)
        self.lives = 0
        self.episode_return = 0.0
        self.episode_length = 0
        self.game_over = False
        self.truncated = False

    @property
    def n_actions(self) -> int:
        return len(self.actions)

    def rgb(self) -> np.ndarray:
        """The current screen, RGB ``[210, 160, 3]`` (for GIFs)."""
        return self.ale.getScreenRGB()

    # -- observation
    def _push(self, pooled: bool) -> None:
        s = self.settings
        if s.wants_screen:
            frame = np.maximum(self._frames[0], self._frames[1]) if pooled else self._frames[1]
            self.screen[:-1] = self.screen[1:]
            self.screen[-1] = resize84(frame)
        if s.wants_ram:
            self.ram[:-1] = self.ram[1:]
            self.ram[-1] = self.ale.getRAM()

    def observation(self) -> dict[str, np.ndarray]:
        """The current observation (copies)."""
        obs = {}
        if self.settings.wants_screen:
            obs["screen"] = self.screen.copy()
        if self.settings.wants_ram:
            obs["ram"] = self.ram.copy()
        return obs

    # -- dynamics
    def _skip(self, action: int) -> float:
        """Repeat ``action`` for ``frameskip`` frames; keep the last two screens."""
        s = self.settings
        reward = 0.0
        a = self.actions[action]
        for k in range(s.frameskip):
            reward += self.ale.act(a)
            if s.wants_screen and k >= s.frameskip - 2:
                self.ale.getScreenGrayscale(self._frames[k - (s.frameskip - 2)])
            if self.ale.game_over():
                if s.wants_screen and k < s.frameskip - 1:
                    self.ale.getScreenGrayscale(self._frames[1])
                    if k < s.frameskip - 2:
                        self._frames[0] = self._frames[1]
                break
        return reward

    def reset(self, noops: int | None = None) -> None:
        """A new real episode: reset, no-op starts (``noops`` of them, else 1..noop_max
        drawn), FIRE, and a fresh frame stack."""
        s = self.settings
        if begin_at_a_start(self):
            return
        self.ale.reset_game()
        if noops is None:
            noops = int(self.rng.integers(1, s.noop_max + 1)) if s.noop_max > 0 else 0
        for _ in range(noops):
            self.ale.act(self.actions[0])
            if self.ale.game_over():
                self.ale.reset_game()
        self.screen[:] = 0
        self.ram[:] = 0
        if self.fire:
            self._skip(self._fire_index)
            if self.ale.game_over():
                self.ale.reset_game()
            pooled = True
        else:
            if s.wants_screen:
                self.ale.getScreenGrayscale(self._frames[1])
            pooled = False
        self._push(pooled)
        self.lives = self.ale.lives()
        self.episode_return = 0.0
        self.episode_length = 0
        self.game_over = False
        self.truncated = False

    def step(self, action: int) -> tuple[float, bool, bool]:
        """One agent step: ``(raw reward, terminated, truncated)``; does not reset.

        ``terminated`` is a game over, or a lost life when ``episodic_life``.
        """
        reward = self._skip(action)
        self._push(True)
        self.episode_return += reward
        self.episode_length += 1
        lives = self.ale.lives()
        self.game_over = bool(self.ale.game_over())
        life_lost = 0 < lives < self.lives
        self.lives = lives
        self.truncated = (
            not self.game_over and self.ale.getEpisodeFrameNumber() >= self.settings.max_frames
        )
        terminated = self.game_over or (self.settings.episodic_life and life_lost)
        return reward, terminated, self.truncated

    # -- state
    def get_state(self) -> dict[str, Any]:
        """Everything that determines the future: emulator (with its RNG), stacks, counters."""
        return {
            "ale": self.ale.cloneState(include_rng=True),
            "rng": self.rng.bit_generator.state,
            "frames": self._frames.copy(),
            "screen": self.screen.copy(),
            "ram": self.ram.copy(),
            "counters": (
                self.lives,
                self.episode_return,
                self.episode_length,
                self.game_over,
                self.truncated,
            ),
            "from_start": self.from_start,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.ale.restoreState(state["ale"])
        self.rng.bit_generator.state = state["rng"]
        self._frames[:] = state["frames"]
        self.screen[:] = state["screen"]
        self.ram[:] = state["ram"]
        (
            self.lives,
            self.episode_return,
            self.episode_length,
            self.game_over,
            self.truncated,
        ) = state["counters"]
        self.from_start = state.get("from_start", False)  # absent from older checkpoints


# ----------------------------------------------------------------------------- vector envs
class _Group:
    """Games stepped one after another in this process."""

    def __init__(
        self, settings: AtariSettings, seeds: list[int], starts: Starts | None = None
    ) -> None:
        self.games = [settings.make_game(s, starts) for s in seeds]

    def reset(self) -> dict[str, np.ndarray]:
        for g in self.games:
            g.reset()
        return self._obs()

    def _obs(self) -> dict[str, np.ndarray]:
        s = self.games[0].settings
        obs = {}
        if s.wants_screen:
            obs["screen"] = np.stack([g.screen for g in self.games])
        if s.wants_ram:
            obs["ram"] = np.stack([g.ram for g in self.games])
        return obs

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        n = len(self.games)
        reward = np.zeros(n, np.float32)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        episodes = []
        for i, (g, a) in enumerate(zip(self.games, actions, strict=True)):
            reward[i], terminated[i], truncated[i] = g.step(int(a))
            if g.game_over or g.truncated:
                if not g.from_start:
                    episodes.append((i, g.episode_return, g.episode_length))
                g.reset()
        return self._obs(), reward, terminated, truncated, episodes

    def get_state(self) -> list[dict[str, Any]]:
        return [g.get_state() for g in self.games]

    def set_state(self, states: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        for g, s in zip(self.games, states, strict=True):
            g.set_state(s)
        return self._obs()


def _worker(
    conn: Any, settings: AtariSettings, seeds: list[int], starts: Starts | None = None
) -> None:
    """A worker process: serves a :class:`_Group` over a pipe until told to close."""
    try:
        group = _Group(settings, seeds, starts)
        conn.send(("ok", group.games[0].n_actions))
        while True:
            command, payload = conn.recv()
            if command == "close":
                break
            result = getattr(group, command)(*payload)
            conn.send(("ok", result))
    except Exception as e:  # report to the parent rather than die silently
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


class _Remote:
    """A :class:`_Group` in a worker process (spawned: no torch state is inherited)."""

    def __init__(
        self, settings: AtariSettings, seeds: list[int], starts: Starts | None = None
    ) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker, args=(child, settings, seeds, starts), daemon=True
        )
        self.process.start()
        child.close()
        self.n_actions = self._receive()

    def _receive(self) -> Any:
        try:
            status, value = self.conn.recv()
        except EOFError:
            raise PalestraError(
                f"Atari worker process {self.process.pid} died (exit code {self.process.exitcode})"
            ) from None
        if status == "error":
            raise PalestraError(f"Atari worker process failed: {value}")
        return value

    def send(self, command: str, *payload: Any) -> None:
        self.conn.send((command, payload))

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self.conn.send(("close", ()))
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn.close()


class AtariVecEnv:
    """``num_envs`` games stepped by Palestra: in process (``workers=0``) or split across
    ``workers`` processes. Works for every observation mode; :meth:`get_state` and
    :meth:`set_state` save and restore every game exactly.

    Game ``i`` is seeded with ``seed + i``, whatever the number of workers, so the same seed
    gives the same trajectories in process and in workers.
    """

    def __init__(
        self,
        settings: AtariSettings,
        num_envs: int,
        seed: int = 0,
        workers: int = 0,
        starts: Starts | None = None,
    ) -> None:
        self.settings = settings
        self.num_envs = num_envs
        seeds = [seed + i for i in range(num_envs)]
        self._local: _Group | None = None
        self._remotes: list[_Remote] = []
        self._sizes: list[int] = []
        if workers <= 0:
            self._local = _Group(settings, seeds, starts)
            self.n_actions = self._local.games[0].n_actions
        else:
            workers = min(workers, num_envs)
            chunks = np.array_split(np.arange(num_envs), workers)
            try:
                for chunk in chunks:
                    self._remotes.append(_Remote(settings, [seeds[i] for i in chunk], starts))
                    self._sizes.append(len(chunk))
            except BaseException:
                self.close()
                raise
            self.n_actions = self._remotes[0].n_actions

    @property
    def games(self) -> list[AtariGame]:
        """The in-process games (for recording frames); empty with workers."""
        return self._local.games if self._local is not None else []

    def _call(self, command: str, *per_worker: list[Any]) -> list[Any]:
        for k, remote in enumerate(self._remotes):
            remote.send(command, *(p[k] for p in per_worker))
        return [remote._receive() for remote in self._remotes]

    @staticmethod
    def _cat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def reset(self) -> dict[str, np.ndarray]:
        if self._local is not None:
            return self._local.reset()
        return self._cat(self._call("reset"))

    def step(self, actions: np.ndarray) -> StepResult:
        actions = np.asarray(actions)
        if self._local is not None:
            obs, reward, terminated, truncated, episodes = self._local.step(actions)
            return StepResult(obs, reward, terminated, truncated, episodes)
        bounds = np.cumsum([0, *self._sizes])
        parts = self._call("step", [actions[a:b] for a, b in itertools.pairwise(bounds)])
        episodes = [(int(i + bounds[k]), r, n) for k, p in enumerate(parts) for i, r, n in p[4]]
        return StepResult(
            self._cat([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
            np.concatenate([p[3] for p in parts]),
            episodes,
        )

    def get_state(self) -> list[dict[str, Any]]:
        if self._local is not None:
            return self._local.get_state()
        return [s for part in self._call("get_state") for s in part]

    def set_state(self, states: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Restore every game; returns the current observation."""
        if len(states) != self.num_envs:
            raise PalestraError(f"{len(states)} saved games for {self.num_envs} envs")
        if self._local is not None:
            return self._local.set_state(states)
        bounds = np.cumsum([0, *self._sizes])
        chunks = [states[a:b] for a, b in itertools.pairwise(bounds)]
        return self._cat(self._call("set_state", chunks))

    def close(self) -> None:
        for remote in self._remotes:
            remote.close()
        self._remotes = []

    def __enter__(self) -> AtariVecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NativeScreenVecEnv:
    """ALE's C++ vector env (screens only) behind the same face as :class:`AtariVecEnv`.

    Configured to match Palestra's preprocessing: same-step autoreset, raw rewards,
    ``life_loss_info`` for episodic life (a life loss terminates, the game goes on).
    Its state cannot be saved: :meth:`get_state` returns None.
    """

    def __init__(
        self, settings: AtariSettings, num_envs: int, seed: int = 0, threads: int = 0
    ) -> None:
        from ale_py.vector_env import AtariVectorEnv

        if settings.obs != "screen":
            raise PalestraError("ALE's native vector env has screens only; use AtariVecEnv")
        self.settings = settings
        self.num_envs = num_envs
        self.seed = seed
        self._env = AtariVectorEnv(
            settings.game,
            num_envs,
            num_threads=threads,
            max_num_frames_per_episode=settings.max_frames,
            repeat_action_probability=settings.sticky,
            full_action_space=settings.full_action_space,
            autoreset_mode="SameStep",
            stack_num=settings.frame_stack,
            frameskip=settings.frameskip,
            noop_max=settings.noop_max,
            episodic_life=False,
            life_loss_info=settings.episodic_life,
            reward_clipping=False,
            use_fire_reset=settings.fire_reset,
        )
        self.n_actions = int(self._env.single_action_space.n)
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, np.int64)
        self._frame = np.zeros(num_envs, np.int64)

    def reset(self) -> dict[str, np.ndarray]:
        obs, info = self._env.reset(seed=self.seed)
        self._returns[:] = 0
        self._lengths[:] = 0
        self._frame[:] = info["episode_frame_number"]
        return {"screen": obs}

    def step(self, actions: np.ndarray) -> StepResult:
        obs, reward, terminated, truncated, info = self._env.step(np.asarray(actions))
        reward = np.asarray(reward, np.float32)
        self._returns += reward
        self._lengths += 1
        frame = np.asarray(info["episode_frame_number"])
        # A real episode ended when the game was reset: its frame counter went back.
        ended = truncated | (terminated & (frame < self._frame))
        episodes = [
            (int(i), float(self._returns[i]), int(self._lengths[i])) for i in np.flatnonzero(ended)
        ]
        self._returns[ended] = 0
        self._lengths[ended] = 0
        self._frame = frame
        return StepResult({"screen": obs}, reward, terminated, truncated, episodes)

    def get_state(self) -> None:
        return None

    def set_state(self, states: Any) -> dict[str, np.ndarray]:
        raise PalestraError("ALE's native vector env cannot restore a saved state")

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> NativeScreenVecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_vec_env(
    settings: AtariSettings,
    num_envs: int,
    seed: int = 0,
    *,
    backend: Literal["auto", "ale", "palestra"] = "auto",
    workers: int = 0,
    threads: int = 0,
    starts: Starts | None = None,
) -> AtariVecEnv | NativeScreenVecEnv:
    """The vector env for ``settings``: ``auto`` is ALE's native one for screens, Palestra's
    for ``ram`` and ``both`` (which ALE's cannot serve) and wherever episodes may begin at
    ``starts`` (ALE's cannot restore states)."""
    atari = isinstance(settings, AtariSettings)
    if backend == "auto":
        backend = "ale" if atari and settings.obs == "screen" and starts is None else "palestra"
    if backend == "ale":
        if starts is not None or not atari:
            raise PalestraError("ALE's native vector env runs Atari games from their reset only")
        return NativeScreenVecEnv(settings, num_envs, seed, threads)
    return AtariVecEnv(settings, num_envs, seed, workers, starts)


# ----------------------------------------------------------------------------- the world
class _Console:
    """One emulator shared by a state and its clones; ``owner`` is whose state it holds."""

    def __init__(self, game: AtariGame) -> None:
        self.game = game
        self.owner: AtariState | None = None


class AtariState:
    """An Atari game behind the state contract (``palestra.core.world``).

    Actions are indices into the minimal action set; :meth:`reward` is the raw score change
    of the last agent step; terminal at game over or the time limit. Deterministic given the
    seed when ``sticky=0`` (and with sticky actions too: the emulator's RNG is part of a
    clone).
    """

    def __init__(self, console: _Console, snapshot: dict[str, Any] | None, reward: float) -> None:
        self._console = console
        self._snapshot = snapshot
        self._reward = reward

    def _game(self) -> AtariGame:
        console = self._console
        if console.owner is not self:
            if console.owner is not None:
                console.owner._snapshot = console.game.get_state()
            assert self._snapshot is not None
            console.game.set_state(self._snapshot)
            console.owner = self
            self._snapshot = None
        return console.game

    def legal_actions(self) -> list[int]:
        return [] if self.is_terminal() else list(range(self._game().n_actions))

    def apply(self, action: int) -> None:
        game = self._game()
        if game.game_over or game.truncated:
            raise PalestraError("apply on a terminal Atari state")
        if not 0 <= int(action) < game.n_actions:
            raise PalestraError(f"illegal action {action!r}; legal: 0..{game.n_actions - 1}")
        self._reward, _, _ = game.step(int(action))

    def is_terminal(self) -> bool:
        game = self._game()
        return game.game_over or game.truncated

    def reward(self) -> float:
        return float(self._reward)

    def clone(self) -> AtariState:
        snapshot = self._game().get_state()
        return AtariState(self._console, snapshot, self._reward)

    def observation(self) -> dict[str, np.ndarray]:
        """The preprocessed observation (``screen`` and/or ``ram`` per the mode)."""
        return self._game().observation()

    @property
    def lives(self) -> int:
        return self._game().lives

    @property
    def frame(self) -> int:
        """Emulator frames since the start of this episode."""
        return int(self._game().ale.getEpisodeFrameNumber())

    def rgb(self) -> np.ndarray:
        """The full-size colour screen ``[210, 160, 3]`` (for pictures)."""
        return self._game().ale.getScreenRGB()

    def __str__(self) -> str:
        game = self._game()
        parts = [f"frame {self.frame}", f"lives {game.lives}"]
        if game.settings.wants_ram:
            parts.append(f"ram {zlib.crc32(game.ram.tobytes()):08x}")
        if game.settings.wants_screen:
            parts.append(f"screen {zlib.crc32(game.screen.tobytes()):08x}")
        return " ".join(parts)


@register_world("atari")
def atari_world(
    game: str = "breakout",
    obs: ObsMode = "both",
    seed: int = 0,
    sticky: float = 0.0,
    noop_max: int = 30,
    ram_stack: int = 4,
    full_action_space: bool = False,
) -> AtariState:
    """The initial state of ``game`` after the standard reset (no-op starts from ``seed``)."""
    settings = replace(
        AtariSettings(),
        game=game,
        obs=obs,
        sticky=sticky,
        noop_max=noop_max,
        ram_stack=ram_stack,
        full_action_space=full_action_space,
    )
    atari = AtariGame(settings, seed)
    atari.reset()
    console = _Console(atari)
    state = AtariState(console, None, 0.0)
    console.owner = state
    return state
