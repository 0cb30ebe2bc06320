"""The evaluator protocol that search algorithms take.

A search asks an evaluator two questions about a non-terminal state::

    evaluator.prior(state) -> list[float]   # one probability per state.legal_actions()
    evaluator.value(state) -> float         # expected outcome from here, in [0, 1] for wins

The default, :class:`RolloutEvaluator`, knows nothing about the domain: uniform priors, and
the mean reward of random playouts (rlCoP's unguided baseline; open_spiel's
``RandomRolloutEvaluator``). Gradient-boosted trees, a graph network or a transformer are just
other implementations of the same two methods.
"""

from __future__ import annotations

import random
from typing import Protocol, runtime_checkable

from palestra.core.world import State

__all__ = ["Evaluator", "RolloutEvaluator"]


@runtime_checkable
class Evaluator(Protocol):
    """Priors over the legal actions of a state, and a value of the state."""

    def prior(self, state: State) -> list[float]: ...

    def value(self, state: State) -> float: ...


class RolloutEvaluator:
    """Uniform priors; value = mean total reward of ``n_rollouts`` random playouts.

    A playout stops at a terminal state or after ``max_steps`` actions (then it scores the
    rewards collected so far). Seeded: the same seed gives the same values.
    """

    def __init__(self, n_rollouts: int = 1, max_steps: int = 1000, seed: int = 0) -> None:
        self.n_rollouts = n_rollouts
        self.max_steps = max_steps
        self.rng = random.Random(seed)

    def prior(self, state: State) -> list[float]:
        n = len(state.legal_actions())
        return [1.0 / n] * n if n else []

    def value(self, state: State) -> float:
        total = 0.0
        for _ in range(self.n_rollouts):
            s = state.clone()
            for _ in range(self.max_steps):
                if s.is_terminal():
                    break
                s.apply(self.rng.choice(s.legal_actions()))
                total += s.reward()
        return total / self.n_rollouts
