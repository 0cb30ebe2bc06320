"""ViZDoom scenarios as Play worlds: ``palestra play train --game doom/my_way_home``.

    palestra play train --algo ba3c --game doom/my_way_home --no-clip-rewards --total-steps 2000000

:class:`DoomGame` has the face of :class:`~palestra.play.atari.AtariGame` (an 84x84 grey
4-frame stack, ``reset``, ``step``, ``get_state`` / ``set_state``, the episode counters), so
the vector envs, BA3C, PPO and the evaluation take it unchanged. Per agent step:

* the action is one of the scenario's **button combinations**: for ``my_way_home`` the
  expert-augmented actor-critic paper's 8 combinations of MOVE_FORWARD, TURN_RIGHT and
  TURN_LEFT (bit 0, 1, 2 of the action index); for other scenarios one button at a time;
* it is held for ``frameskip`` tics (``make_action(buttons, 4)``), the rewards summed;
* the 160x120 grey screen is shrunk to 84x84 by area averaging and stacked;
* the episode ends ``terminated`` when the scenario finishes it (the vest reached in
  ``my_way_home``, death elsewhere) and ``truncated`` at the scenario's timeout (2,100 tics
  in ``my_way_home``: 525 agent steps).

``my_way_home`` gives +1 at the vest and -0.0001 a tic: train with ``--no-clip-rewards`` (the
sign would make every step -1). The start room is drawn by the engine from the episode's
seed, which the game draws from its own RNG.

**State.** ViZDoom's ``save`` / ``load`` are not exact (``save`` advances the game two tics;
the same actions after a ``load`` end elsewhere), but an episode replays exactly from
``set_seed(s); new_episode()``. So a state is the episode's seed and its actions so far, and
``set_state`` replays them (an episode is at most a few hundred steps: a fraction of a
second). Checkpointed training resumes exactly.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from palestra.core.errors import PalestraError
from palestra.play.atari import Starts, area_resizer, begin_at_a_start

__all__ = ["DoomGame", "DoomSettings", "is_doom"]

PREFIX = "doom/"


def is_doom(game: str) -> bool:
    """Whether ``game`` names a ViZDoom scenario (``doom/NAME``)."""
    return game.startswith(PREFIX)


@dataclass(frozen=True)
class DoomSettings:
    """The preprocessing of one ViZDoom scenario. ``noop_max``, ``sticky``, ``episodic_life``,
    ``max_frames`` and ``ram_stack`` are kept for the shared evaluation protocol and have no
    effect (ViZDoom has no no-op starts or lives, and each scenario has its own timeout)."""

    game: str = "doom/my_way_home"
    obs: str = "screen"
    frameskip: int = 4
    frame_stack: int = 4
    noop_max: int = 0
    sticky: float = 0.0
    episodic_life: bool = False
    max_frames: int = 0
    ram_stack: int = 4

    @property
    def scenario(self) -> str:
        return self.game.removeprefix(PREFIX)

    @property
    def wants_screen(self) -> bool:
        return True

    @property
    def wants_ram(self) -> bool:
        return False

    def make_game(self, seed: int, starts: Starts | None = None) -> DoomGame:
        return DoomGame(self, seed, starts)


_resize = area_resizer(120, 160)


class DoomGame:
    """One ViZDoom instance with the :class:`~palestra.play.atari.AtariGame` face."""

    def __init__(self, settings: DoomSettings, seed: int, starts: Starts | None = None) -> None:
        try:
            import vizdoom as vzd
        except ImportError:
            raise PalestraError(
                "ViZDoom scenarios need the doom extra: pip install 'palestra[doom]'"
            ) from None
        if settings.obs != "screen":
            raise PalestraError(f"ViZDoom scenarios are seen from the screen, not {settings.obs!r}")
        self.settings = settings
        config = os.path.join(vzd.scenarios_path, f"{settings.scenario}.cfg")
        if not os.path.exists(config):
            known = sorted(f[:-4] for f in os.listdir(vzd.scenarios_path) if f.endswith(".cfg"))
            raise PalestraError(
                f"unknown ViZDoom scenario {settings.scenario!r}; known: {', '.join(known)}"
            )
        game = vzd.DoomGame()
        # the engine writes its settings file (_vizdoom.ini) to the working directory
        # unless told otherwise: keep it out of the user's tree
        game.set_doom_config_path(os.path.join(tempfile.gettempdir(), "palestra_vizdoom.ini"))
        game.load_config(config)
        game.set_window_visible(False)
        game.set_sound_enabled(False)
        game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
        game.set_screen_format(vzd.ScreenFormat.GRAY8)
        game.set_available_game_variables(
            [vzd.GameVariable.POSITION_X, vzd.GameVariable.POSITION_Y]
        )
        if settings.scenario == "my_way_home":  # the paper's 8 combinations
            B = vzd.Button
            game.set_available_buttons([B.MOVE_FORWARD, B.TURN_RIGHT, B.TURN_LEFT])
            self.actions = [[(a >> k) & 1 for k in range(3)] for a in range(8)]
        else:
            n = game.get_available_buttons_size()
            self.actions = [[int(k == a) for k in range(n)] for a in range(n)]
        game.set_seed(int(seed) % (2**31))
        game.init()
        self.game = game
        self.starts = starts if starts is not None and starts.states and starts.prob > 0 else None
        self.from_start = False
        self.rng = np.random.default_rng(seed)
        self.screen = np.zeros((settings.frame_stack, 84, 84), np.uint8)
        self.ram = np.zeros((settings.ram_stack, 128), np.uint8)  # never filled: no RAM
        self.lives = 1  # as AtariGame's counter: ViZDoom scenarios have no lives
        self.episode_seed = 0
        self.history: list[int] = []  # actions of this episode
        self.episode_return = 0.0
        self.episode_length = 0
        self.game_over = False
        self.truncated = False

    @property
    def n_actions(self) -> int:
        return len(self.actions)

    def position(self) -> tuple[float, float]:
        """The player's ``(x, y)`` in map units."""
        import vizdoom as vzd

        return (
            self.game.get_game_variable(vzd.GameVariable.POSITION_X),
            self.game.get_game_variable(vzd.GameVariable.POSITION_Y),
        )

    def rgb(self) -> np.ndarray:
        """The current grey screen as RGB ``[120, 160, 3]`` (for GIFs)."""
        state = self.game.get_state()
        if state is None:
            return np.zeros((120, 160, 3), np.uint8)
        return np.repeat(state.screen_buffer[:, :, None], 3, axis=2)

    def _push(self) -> None:
        state = self.game.get_state()
        if state is None:  # the episode has ended: the last frame stays
            return
        self.screen[:-1] = self.screen[1:]
        self.screen[-1] = _resize(state.screen_buffer)

    def observation(self) -> dict[str, np.ndarray]:
        return {"screen": self.screen.copy()}

    def _new_episode(self, seed: int) -> None:
        self.game.set_seed(seed)
        self.game.new_episode()
        self.episode_seed = seed
        self.history = []
        self.screen[:] = 0
        self._push()
        self.episode_return, self.episode_length = 0.0, 0
        self.game_over = self.truncated = False

    def reset(self, noops: int | None = None) -> None:
        """A new episode from a seed drawn from the game's RNG (``noops`` is ignored), or,
        with ``starts``, possibly at one of them."""
        del noops
        if begin_at_a_start(self):
            return
        self._new_episode(int(self.rng.integers(2**31)))

    def step(self, action: int) -> tuple[float, bool, bool]:
        """One agent step: ``(reward, terminated, truncated)``; does not reset."""
        reward = float(self.game.make_action(self.actions[action], self.settings.frameskip))
        self.history.append(int(action))
        self._push()
        self.episode_return += reward
        self.episode_length += 1
        finished = self.game.is_episode_finished()
        self.truncated = bool(finished and self.game.is_episode_timeout_reached())
        self.game_over = bool(finished and not self.truncated)
        return reward, self.game_over, self.truncated

    def get_state(self) -> dict[str, Any]:
        """The episode's seed and actions (replayed by :meth:`set_state`), the RNG, the
        frame stack and the counters."""
        return {
            "seed": self.episode_seed,
            "actions": list(self.history),
            "rng": self.rng.bit_generator.state,
            "screen": self.screen.copy(),
            "counters": (
                self.episode_return,
                self.episode_length,
                self.game_over,
                self.truncated,
            ),
            "from_start": self.from_start,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._new_episode(state["seed"])
        for action in state["actions"]:
            self.game.make_action(self.actions[action], self.settings.frameskip)
        self.history = list(state["actions"])
        self.rng.bit_generator.state = state["rng"]
        self.screen[:] = state["screen"]
        (
            self.episode_return,
            self.episode_length,
            self.game_over,
            self.truncated,
        ) = state["counters"]
        self.from_start = state.get("from_start", False)

    def close(self) -> None:
        self.game.close()
