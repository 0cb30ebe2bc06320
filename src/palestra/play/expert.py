"""Expert trajectories for Atari by search: Go-Explore's exploration phase on ALE state cloning.

    palestra play expert --game montezuma_revenge --steps 2000000 --out runs/expert/mr.npz

The expert-augmented actor-critic (Garmulewicz, Michalewski & Miłoś 2018) learns from an
actor-critic loss plus a loss on expert transitions. The authors' human trajectories are not
reachable here, so the expert comes from a search that uses what an emulator offers and a
learner does not: saving and restoring its state. The search is Go-Explore's first phase
(Ecoffet et al. 2019/2021), without its robustification (which is the learner's job):

* an archive maps **cells** (coarse descriptions of a state) to the best way found to reach
  them: the emulator state, the score, and the actions from the reset. The cell of
  Montezuma's Revenge is Go-Explore's domain-knowledge one, read from the RAM: level
  (``ram[57]``), room (``ram[3]``), the inventory byte (``ram[65]``: keys, sword, torch, ...)
  and the player's position ``(ram[42], ram[43])`` in ``bin`` x ``bin`` pixel squares. Other
  Atari games use Go-Explore's domain-agnostic cell: the screen shrunk to 11x8 pixels of 8
  grey levels. ViZDoom scenarios (``doom/NAME``) use the player's position in squares of
  ``8 bin`` map units; their states are restored by replaying the episode from its seed
  (:mod:`palestra.play.doom`), and an episode that reaches its goal ends the exploration and
  is kept.
* each **iteration** picks a cell with probability proportional to
  ``1/sqrt(1 + chosen) + 1/sqrt(1 + seen)`` (rarely tried cells first), restores its state,
  and takes ``explore_steps`` random agent steps, repeating the previous action with
  probability ``repeat`` (0.95); every cell met is added, or replaced when it is met with a
  higher score, or the same score in fewer steps. Exploration stops at a lost life (as
  Go-Explore, states after a death are not kept).

Each of ``trajectories`` searches starts from its own number of no-op frames after the reset
(spread over training's 1..30), so the learner, which starts after random no-ops, sees the
expert at several timings. The best cell's actions are then **replayed** from a fresh
emulator, recording the observations the learner will see; the replayed score must equal the
searched one (the emulator is deterministic with sticky actions off), which checks the
archive independently of the search that built it. The dataset (:class:`ExpertData`) stores
per agent step the latest 84x84 screen, the latest RAM, the action and the raw reward; the
frame and RAM stacks of any depth are rebuilt on load, exactly as :class:`AtariGame` builds
them (zeros before the episode's first observation).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from palestra.core.config import Config, arg, config_to_dict
from palestra.core.errors import PalestraError
from palestra.core.progress import step_bar
from palestra.core.runs import atomic_write_bytes
from palestra.play.atari import AtariGame, AtariSettings
from palestra.play.doom import DoomSettings, is_doom

__all__ = [
    "ExpertBuffer",
    "ExpertData",
    "ExpertSearchConfig",
    "cell_function",
    "expert_starts",
    "load_expert",
    "record",
    "search",
]


# ----------------------------------------------------------------------------- cells
def montezuma_cell(game: AtariGame, bin_px: int) -> tuple[int, ...]:
    """Go-Explore's domain-knowledge cell of Montezuma's Revenge, from the RAM."""
    ram = game.ale.getRAM()
    return (
        int(ram[57]),  # level
        int(ram[3]),  # room
        int(ram[65]),  # inventory (keys, sword, torch, ...)
        int(ram[42]) // bin_px,  # x
        int(ram[43]) // bin_px,  # y
    )


def screen_cell(game: AtariGame, bin_px: int) -> tuple[int, ...]:
    """Go-Explore's domain-agnostic cell: the screen as 11x8 pixels of 8 grey levels.

    ``bin_px`` is unused (the cell has a fixed size)."""
    del bin_px
    gray = game.ale.getScreenGrayscale()  # [210, 160]
    small = gray[: 210 - 210 % 8, : 160 - 160 % 11].reshape(8, 210 // 8, 11, 160 // 11)
    return tuple((small.mean(axis=(1, 3)) // 32).astype(np.int64).ravel().tolist())


def doom_cell(game: Any, bin_px: int) -> tuple[int, ...]:
    """A ViZDoom player's position in squares of ``8 bin_px`` map units (64 by default)."""
    x, y = game.position()
    return (int(x // (8 * bin_px)), int(y // (8 * bin_px)))


_CELLS: dict[str, Callable[[Any, int], tuple[int, ...]]] = {
    "montezuma_revenge": montezuma_cell,
}


def cell_function(game: str) -> Callable[[Any, int], tuple[int, ...]]:
    """The cell of ``game``: a RAM cell where one is known, the position in ViZDoom, else
    the shrunk screen."""
    if is_doom(game):
        return doom_cell
    return _CELLS.get(game, screen_cell)


# ----------------------------------------------------------------------------- the search
@dataclass
class Cell:
    """The best way found to reach one cell."""

    state: dict[str, Any]  # AtariGame.get_state()
    score: float
    actions: list[int]
    chosen: int = 0
    seen: int = 0


@dataclass
class ExpertSearchConfig(Config):
    """Find an expert trajectory in an Atari game by Go-Explore's exploration (state
    restores), replay it from a fresh emulator and save what the learner needs."""

    game: str = arg("montezuma_revenge", "ALE game (ROM) name.")
    trajectories: int = arg(
        8,
        "Independent searches, each from its own number of no-op frames after the reset "
        "(spread over 1..noop_max), so the learner sees the expert from several timings.",
        min=1,
    )
    noop_max: int = arg(30, "No-op starts of the trajectories: 1..noop_max, as training's.", min=0)
    steps: int = arg(200_000, "Agent steps of exploration per trajectory (4 frames each).", min=1)
    canonical: bool = arg(
        True,
        "Label each expert step with the lowest-numbered action that has the same effect "
        "(same next RAM and reward): random exploration picks any of several equivalent "
        "actions, and a learner imitates consistent labels more easily.",
    )
    stop_score: float | None = arg(
        None, "Stop a trajectory's search once its best score reaches this (default: never)."
    )
    explore_steps: int = arg(100, "Random agent steps per iteration from the chosen cell.", min=1)
    repeat: float = arg(0.95, "Probability of repeating the previous random action.", min=0, max=1)
    bin: int = arg(8, "RAM cells: pixels per position bin.", min=1)
    seed: int = arg(0, "Seed of the emulator and of the search.", min=0)
    out: Path = arg(
        Path("expert.npz"),
        "Where to write the dataset (.npz, with a .json beside).",
        recorded=False,
    )
    progress: bool = arg(True, "Show a progress bar on stderr.", recorded=False)


@dataclass
class SearchResult:
    """The archive's best cell and how the search went."""

    best: Cell
    archive: dict[tuple[int, ...], Cell]
    steps: int
    seconds: float
    curve: list[tuple[int, float, int]] = field(default_factory=list)  # (steps, best, cells)

    @property
    def cells(self) -> int:
        return len(self.archive)


def _settings(game: str, obs: str = "ram") -> Any:
    # deterministic: no sticky actions, no no-op starts (life losses: the lives counter)
    if is_doom(game):
        return DoomSettings(game=game)
    return AtariSettings(game=game, obs=obs, noop_max=0, sticky=0.0)  # type: ignore[arg-type]


def _better(score: float, length: int, cell: Cell) -> bool:
    return score > cell.score or (score == cell.score and length < len(cell.actions))


def search(cfg: ExpertSearchConfig, noops: int = 0, index: int = 0) -> SearchResult:
    """Go-Explore's exploration phase for ``cfg.steps`` agent steps from a reset followed by
    ``noops`` no-op frames; the best cell found (highest score, then fewest steps)."""
    rng = np.random.default_rng([cfg.seed, index])
    game = _settings(cfg.game).make_game(cfg.seed + index)
    cell_of = cell_function(cfg.game)
    game.reset(noops)
    archive: dict[tuple[int, ...], Cell] = {cell_of(game, cfg.bin): Cell(game.get_state(), 0.0, [])}
    best = next(iter(archive.values()))
    n_actions = game.n_actions
    steps, curve, t0 = 0, [], time.perf_counter()
    title = f"expert {index + 1}/{cfg.trajectories} {cfg.game}"
    with step_bar(title, cfg.steps, enabled=cfg.progress) as bar:
        while steps < cfg.steps and (cfg.stop_score is None or best.score < cfg.stop_score):
            keys = list(archive)
            weights = np.array(
                [
                    1 / math.sqrt(1 + archive[k].chosen) + 1 / math.sqrt(1 + archive[k].seen)
                    for k in keys
                ]
            )
            start = archive[keys[rng.choice(len(keys), p=weights / weights.sum())]]
            start.chosen += 1
            game.set_state(start.state)
            score, actions, lives = start.score, list(start.actions), game.lives
            action = int(rng.integers(n_actions))
            for _ in range(cfg.explore_steps):
                if rng.random() >= cfg.repeat:
                    action = int(rng.integers(n_actions))
                reward, _, _ = game.step(action)
                steps += 1
                if game.truncated or game.lives < lives:
                    break  # states after a death or the time limit are not kept
                score += reward
                actions.append(action)
                if game.game_over:  # the episode was won (a goal reached): nothing follows
                    if _better(score, len(actions), best):
                        best = Cell(game.get_state(), score, list(actions))
                    break
                key = cell_of(game, cfg.bin)
                cell = archive.get(key)
                if cell is None:
                    archive[key] = cell = Cell(game.get_state(), score, list(actions))
                elif _better(score, len(actions), cell):
                    cell.state, cell.score, cell.actions = game.get_state(), score, list(actions)
                cell.seen += 1
                if _better(cell.score, len(cell.actions), best):
                    best = cell
            if len(curve) == 0 or steps - curve[-1][0] >= max(1, cfg.steps // 200):
                curve.append((steps, best.score, len(archive)))
            bar(min(steps, cfg.steps))
    curve.append((steps, best.score, len(archive)))
    return SearchResult(best, archive, steps, time.perf_counter() - t0, curve)


# ----------------------------------------------------------------------------- the dataset
@dataclass
class ExpertData:
    """Expert trajectories, one row per agent step ``t`` (the observation before the action):
    ``screen [T, 84, 84]`` and ``ram [T, 128]`` uint8 are the latest frame and RAM of the
    observation, ``actions [T]`` indices into the minimal action set, ``rewards [T]`` the raw
    reward of the step, ``trajectory [T]`` which trajectory the row belongs to (rows of one
    trajectory are contiguous and in order)."""

    game: str
    screen: np.ndarray
    ram: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    trajectory: np.ndarray
    meta: dict[str, Any]

    def __len__(self) -> int:
        return len(self.actions)

    def scores(self) -> list[float]:
        """The raw score of each trajectory."""
        ids = np.unique(self.trajectory)
        return [float(self.rewards[self.trajectory == i].sum()) for i in ids]

    def _position(self) -> np.ndarray:
        """``[T]`` index of each row within its trajectory."""
        start = np.r_[True, self.trajectory[1:] != self.trajectory[:-1]]
        first = np.maximum.accumulate(np.where(start, np.arange(len(self)), 0))
        return np.arange(len(self)) - first

    def returns(self, gamma: float, clip: bool = True) -> np.ndarray:
        """``[T]`` discounted future (sign-clipped) rewards to the end of each trajectory
        (no bootstrapping past its last step)."""
        rewards = np.sign(self.rewards) if clip else self.rewards
        out = np.zeros(len(rewards), np.float32)
        running = 0.0
        for t in range(len(rewards) - 1, -1, -1):
            if t == len(rewards) - 1 or self.trajectory[t + 1] != self.trajectory[t]:
                running = 0.0
            running = float(rewards[t]) + gamma * running
            out[t] = running
        return out

    def stacks(self, obs: str, frame_stack: int = 4, ram_stack: int = 4) -> dict[str, np.ndarray]:
        """Observations as :class:`AtariGame` gives them: ``screen [T, frame_stack, 84, 84]``
        and/or ``ram [T, ram_stack, 128]``, zeros before each trajectory's first step."""
        position = self._position()
        out = {}
        if obs in ("screen", "both"):
            out["screen"] = _stack(self.screen, position, frame_stack)
        if obs in ("ram", "both"):
            out["ram"] = _stack(self.ram, position, ram_stack)
        if not out:
            raise ValueError(f"unknown observation mode {obs!r}")
        return out

    def save(self, path: Path) -> Path:
        """Write ``path`` (.npz) and ``path.json`` (the metadata), atomically."""
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{k: getattr(self, k) for k in _ARRAYS})
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
        meta = {"game": self.game, "scores": self.scores(), "steps": len(self), **self.meta}
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta, indent=2).encode())
        return path


_ARRAYS = ("screen", "ram", "actions", "rewards", "trajectory")


def _stack(frames: np.ndarray, position: np.ndarray, depth: int) -> np.ndarray:
    """Row ``t``: the ``depth`` latest frames up to ``t`` (the latest last), zeros where they
    would reach before the start of ``t``'s trajectory."""
    T = len(frames)
    out = np.zeros((T, depth, *frames.shape[1:]), frames.dtype)
    for k in range(depth):  # slot depth-1-k holds the frame k steps back
        rows = np.flatnonzero(position >= k)
        out[rows, depth - 1 - k] = frames[rows - k]
    return out


def load_expert(path: Path) -> ExpertData:
    """Read a dataset written by :func:`find_expert` (``.npz`` and its ``.json``)."""
    path = Path(path)
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        with np.load(path) as data:
            arrays = {k: data[k] for k in _ARRAYS}
    except (OSError, ValueError, KeyError) as e:
        raise PalestraError(f"{path}: not an expert dataset ({e})") from None
    n = len(arrays["actions"])
    if n == 0 or any(len(a) != n for a in arrays.values()):
        raise PalestraError(f"{path}: empty, or arrays of different lengths")
    game = meta.pop("game", None)
    if not isinstance(game, str):
        raise PalestraError(f"{path.with_suffix('.json')}: no 'game'")
    return ExpertData(game, meta=meta, **arrays)


def canonical_actions(game_name: str, actions: list[int], seed: int, noops: int = 0) -> list[int]:
    """``actions`` with each replaced by the lowest-numbered action whose step from the same
    state gives the same RAM and reward (so the trajectory itself is unchanged)."""
    game = _settings(game_name).make_game(seed)
    game.reset(noops)
    out = []
    for action in actions:
        before = game.get_state()
        reward, _, _ = game.step(action)
        after, ram = game.get_state(), game.ale.getRAM().copy()
        for candidate in range(action):
            game.set_state(before)
            r, _, _ = game.step(candidate)
            if r == reward and np.array_equal(game.ale.getRAM(), ram):
                action = candidate
                break
        game.set_state(after)
        out.append(action)
    return out


def record(game_name: str, actions: list[int], seed: int, noops: int = 0) -> ExpertData:
    """Replay ``actions`` from a fresh emulator (the search's settings, seed and no-ops) and
    record the observations and rewards of every step."""
    game = _settings(game_name, "both").make_game(seed)
    game.reset(noops)
    T = len(actions)
    screen = np.zeros((T, 84, 84), np.uint8)
    ram = np.zeros((T, 128), np.uint8)
    rewards = np.zeros(T, np.float32)
    for t, action in enumerate(actions):
        screen[t] = game.screen[-1]
        ram[t] = game.ram[-1]
        rewards[t], terminated, truncated = game.step(action)
        if (terminated or truncated) and t < T - 1:
            raise PalestraError(f"replay of the expert ended at step {t + 1} of {T}")
    actions_ = np.asarray(actions, np.int64)
    return ExpertData(game_name, screen, ram, actions_, rewards, np.zeros(T, np.int64), {})


def expert_starts(data: ExpertData, settings: Any) -> list[dict[str, Any]]:
    """The emulator state before every step of every trajectory of ``data``, replayed in a
    game with the training ``settings`` (so the observation stacks are the learner's), for
    :class:`~palestra.play.atari.Starts`. Each replay's rewards are checked against the
    dataset's."""
    from dataclasses import replace

    settings = replace(settings, noop_max=0, sticky=0.0)
    states: list[dict[str, Any]] = []
    for i, info in enumerate(data.meta["trajectories"]):
        rows = np.flatnonzero(data.trajectory == i)
        game = settings.make_game(int(info.get("seed", data.meta["config"]["seed"])))
        game.reset(int(info["noops"]))
        for row in rows:
            states.append(game.get_state())
            reward, _, _ = game.step(int(data.actions[row]))
            if np.float32(reward) != data.rewards[row]:  # stored as float32
                raise PalestraError(
                    f"expert trajectory {i} replays differently at step {row - rows[0]} "
                    f"(reward {reward:g}, recorded {data.rewards[row]:g})"
                )
    return states


def _noops(cfg: ExpertSearchConfig) -> list[int]:
    """No-op frames of each trajectory: spread evenly over 1..noop_max (0 without no-ops)."""
    if cfg.noop_max == 0:
        return [0] * cfg.trajectories
    if cfg.trajectories == 1:
        return [1]
    return [
        1 + round(i * (cfg.noop_max - 1) / (cfg.trajectories - 1)) for i in range(cfg.trajectories)
    ]


def find_expert(cfg: ExpertSearchConfig) -> tuple[ExpertData, list[SearchResult]]:
    """Search each trajectory, replay its best cell's actions, check the replayed score
    against the searched one, and save them together."""
    parts, results, info = [], [], []
    for i, noops in enumerate(_noops(cfg)):
        result = search(cfg, noops, i)
        if result.best.score <= 0:
            raise PalestraError(
                f"{cfg.game}: no reward found in {result.steps:,} search steps after {noops} "
                f"no-ops ({result.cells} cells); raise --steps"
            )
        actions, seed = result.best.actions, cfg.seed + i
        if cfg.canonical and not is_doom(cfg.game):  # needs the RAM
            actions = canonical_actions(cfg.game, actions, seed, noops)
        part = record(cfg.game, actions, seed, noops)
        if not np.isclose(part.rewards.sum(dtype=np.float64), result.best.score, atol=1e-5):
            raise PalestraError(
                f"the replay scored {part.rewards.sum()}, the search {result.best.score}: the "
                "emulator was not deterministic"
            )
        part.trajectory[:] = i
        parts.append(part)
        results.append(result)
        info.append(
            {
                "noops": noops,
                "seed": seed,
                "score": result.best.score,
                "length": len(result.best.actions),
                "cells": result.cells,
                "search_steps": result.steps,
                "seconds": round(result.seconds, 1),
                "curve": result.curve,
            }
        )
    data = ExpertData(
        cfg.game,
        *(np.concatenate([getattr(p, k) for p in parts]) for k in _ARRAYS),
        meta={"trajectories": info, "config": config_to_dict(cfg, recorded_only=True)},
    )
    data.save(cfg.out)
    return data, results


def run_expert_search(cfg: ExpertSearchConfig) -> None:
    """``palestra play expert``: search, save, print a summary."""
    data, results = find_expert(cfg)
    seconds = sum(r.seconds for r in results)
    print(
        f"{cfg.game}: {len(results)} expert trajectories, scores "
        f"{', '.join(f'{x:g}' for x in data.scores())} ({len(data)} agent steps in all); "
        f"{sum(r.steps for r in results):,} search steps in {seconds:.0f} s; written {cfg.out}"
    )


# ----------------------------------------------------------------------------- the learner's side
class ExpertBuffer:
    """An expert dataset as the learner samples it: observation stacks of the training
    observation mode, actions, and discounted (clipped) returns, as tensors.

    :meth:`sample` draws with torch's global RNG, which training checkpoints save, so a
    resumed run draws the same batches.
    """

    def __init__(
        self, data: ExpertData, obs: str, ram_stack: int, gamma: float, clip: bool
    ) -> None:
        import torch

        self.data = data
        self.obs = {k: torch.from_numpy(v) for k, v in data.stacks(obs, 4, ram_stack).items()}
        self.actions = torch.from_numpy(data.actions).long()  # [T]
        self.returns = torch.from_numpy(data.returns(gamma, clip))  # [T]

    def __len__(self) -> int:
        return len(self.actions)

    def sample(self, n: int) -> tuple[dict[str, Any], Any, Any]:
        """``n`` transitions drawn uniformly with replacement: ``(obs, actions, returns)``."""
        import torch

        index = torch.randint(len(self), (n,))
        return {k: v[index] for k, v in self.obs.items()}, self.actions[index], self.returns[index]
