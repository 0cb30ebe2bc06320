"""The RAM world model: shapes, a loss that learns real transitions, imagined steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")

from palestra.models.world_model import RamWorldModel
from palestra.play.atari import AtariGame, AtariSettings


def _transitions(n: int) -> tuple[torch.Tensor, ...]:
    """``n`` real Breakout transitions under random actions (RAM stacks of 4)."""
    game = AtariGame(AtariSettings(game="breakout", obs="ram", noop_max=0), 0)
    game.reset()
    rng = np.random.default_rng(0)
    rams, actions, nexts, rewards, dones = [], [], [], [], []
    for _ in range(n):
        a = int(rng.integers(game.n_actions))
        rams.append(game.ram.copy())
        reward, terminated, truncated = game.step(a)
        actions.append(a)
        nexts.append(game.ram[-1].copy())
        rewards.append(reward)
        dones.append(terminated or truncated)
        if game.game_over or game.truncated:
            game.reset()
    as_t = torch.as_tensor
    return (
        as_t(np.stack(rams)),
        as_t(actions),
        as_t(np.stack(nexts)),
        as_t(rewards, dtype=torch.float32),
        as_t(dones),
    )


def test_shapes_and_an_imagined_step() -> None:
    model = RamWorldModel(n_actions=4, ram_stack=4, hidden=32)
    ram = torch.randint(0, 256, (5, 4, 128), dtype=torch.uint8)
    action = torch.tensor([0, 1, 2, 3, 0])
    byte_logits, reward_logits, done_logit = model(ram, action)
    assert byte_logits.shape == (5, 128, 256) and reward_logits.shape == (5, 3)
    assert done_logit.shape == (5,)
    next_ram, reward, done = model.step(ram, action)
    assert next_ram.dtype == torch.uint8 and next_ram.shape == (5, 128)
    assert set(reward.tolist()) <= {-1.0, 0.0, 1.0} and done.dtype == torch.bool
    g = torch.Generator().manual_seed(0)
    sampled, _, _ = model.step(ram, action, temperature=1.0, generator=g)
    assert sampled.shape == (5, 128)


def test_training_learns_the_consoles_transitions() -> None:
    """Trained on 1,000 real transitions, the model beats copying the current RAM on 200
    held-out ones: most bytes stay put (copying is right on about 96% of them), and it also
    gets a share of the bytes that change right (copying gets none)."""
    torch.manual_seed(0)
    ram, action, next_ram, reward, done = _transitions(1200)
    model = RamWorldModel(n_actions=4, ram_stack=4, hidden=256)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(1000):
        index = torch.randint(1000, (64,))
        loss, _ = model.loss(ram[index], action[index], next_ram[index], reward[index], done[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    held_out = slice(1000, 1200)
    predicted, _, _ = model.step(ram[held_out], action[held_out])
    right = predicted == next_ram[held_out]  # [200, 128]
    copy_right = ram[held_out, -1] == next_ram[held_out]
    assert right.float().mean() > copy_right.float().mean()
    assert right[~copy_right].float().mean() > 0.1  # changed bytes predicted
