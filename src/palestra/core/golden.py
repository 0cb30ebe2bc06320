"""Golden traces: a seeded playthrough of a world, stored as text and diffed.

A refactor of a prover, solver or environment that changes what the agent sees (legal
actions, rewards, terminal states) changes the trace, and the test shows the diff. Set
``PALESTRA_UPDATE_GOLDEN=1`` to rewrite the stored traces after an intended change, and
review the diff in version control. (open_spiel's playthroughs work the same way.)
"""

from __future__ import annotations

import difflib
import os
import random
from collections.abc import Callable
from pathlib import Path

from palestra.core.world import State

__all__ = ["assert_golden", "playthrough"]


def playthrough(
    state: State,
    *,
    seed: int = 0,
    max_steps: int = 100,
    describe: Callable[[State], str] = str,
) -> str:
    """Play random legal actions (seeded) and write every step as text.

    Each step shows the state (``describe(state)``, by default ``str``), the legal actions,
    the action taken and the reward; the last lines give the outcome.
    """
    rng = random.Random(seed)
    lines = [f"seed {seed}"]
    total = 0.0
    for step in range(max_steps):
        if state.is_terminal():
            break
        actions = state.legal_actions()
        action = rng.choice(actions)
        lines.append(f"step {step}")
        lines.append(f"  state   {describe(state)}")
        lines.append(f"  legal   {' '.join(map(str, actions))}")
        lines.append(f"  action  {action}")
        state.apply(action)
        r = state.reward()
        total += r
        lines.append(f"  reward  {r:g}")
    lines.append(f"final   {describe(state)}")
    lines.append(f"terminal {state.is_terminal()}  return {total:g}")
    return "\n".join(lines) + "\n"


def assert_golden(text: str, path: str | Path) -> None:
    """Fail with a unified diff unless ``text`` equals the stored trace at ``path``.

    A missing trace is an error too (so a test can never pass by having nothing to compare),
    unless ``PALESTRA_UPDATE_GOLDEN=1``, which (re)writes it.
    """
    path = Path(path)
    if os.environ.get("PALESTRA_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        raise AssertionError(f"{path}: no golden trace; run with PALESTRA_UPDATE_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{path} (golden)",
            tofile="now",
        )
        raise AssertionError("golden trace differs:\n" + "".join(diff))
