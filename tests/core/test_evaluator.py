from __future__ import annotations

from palestra.core.evaluator import Evaluator, RolloutEvaluator
from palestra.core.world import State


class Corridor:
    """Walk right from 0 to 3 (reward 1) or left to -1 (reward 0)."""

    def __init__(self, pos: int = 0) -> None:
        self.pos = pos
        self._r = 0.0

    def legal_actions(self) -> list[int]:
        return [] if self.is_terminal() else [-1, 1]

    def apply(self, action: int) -> None:
        self.pos += action
        self._r = 1.0 if self.pos == 3 else 0.0

    def is_terminal(self) -> bool:
        return self.pos in (-1, 3)

    def reward(self) -> float:
        return self._r

    def clone(self) -> Corridor:
        c = Corridor(self.pos)
        c._r = self._r
        return c


def test_rollout_evaluator_is_an_evaluator_and_seeded() -> None:
    s = Corridor()
    assert isinstance(s, State)
    ev = RolloutEvaluator(n_rollouts=400, seed=1)
    assert isinstance(ev, Evaluator)
    assert ev.prior(s) == [0.5, 0.5]
    # gambler's ruin from 0 with absorbing -1 and 3: P(reach 3) = 1/4
    v = ev.value(s)
    assert 0.18 < v < 0.32
    assert RolloutEvaluator(n_rollouts=50, seed=7).value(s) == RolloutEvaluator(
        n_rollouts=50, seed=7
    ).value(s)
    assert s.pos == 0, "value() must not change the state it evaluates"
    assert ev.value(Corridor(2)) > ev.value(Corridor(0))
