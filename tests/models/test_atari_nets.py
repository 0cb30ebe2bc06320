"""The Atari actor-critic: shapes, and the bf16 screen torso against float32."""

from __future__ import annotations

import pytest
import torch

from palestra.models.atari_nets import AtariActorCritic


def _pair(obs: str) -> tuple[AtariActorCritic, AtariActorCritic]:
    torch.manual_seed(0)
    fp32 = AtariActorCritic(6, obs, hidden=32)
    bf16 = AtariActorCritic(6, obs, hidden=32, bf16=True)
    bf16.load_state_dict(fp32.state_dict())
    return fp32, bf16


def _batch(n: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        "screen": torch.randint(0, 256, (n, 4, 84, 84), dtype=torch.uint8, generator=g),
        "ram": torch.randint(0, 256, (n, 4, 128), dtype=torch.uint8, generator=g),
    }


@pytest.mark.parametrize("obs", ["screen", "both"])
def test_bf16_torso_is_close_to_float32_and_keeps_float32_outside(obs: str) -> None:
    fp32, bf16 = _pair(obs)
    x = _batch()
    f32, f16 = fp32.features(x), bf16.features(x)
    assert f16.dtype == torch.float32  # the heads see float32
    assert not torch.equal(f32, f16)  # the torso really ran in bfloat16
    assert torch.allclose(f16, f32, rtol=0.05, atol=0.02 * f32.abs().max().item())
    logits, value = bf16(x)
    assert logits.dtype == value.dtype == torch.float32 and logits.shape == (5, 6)
    (logits.logsumexp(-1).mean() + value.pow(2).mean()).backward()
    for name, p in bf16.named_parameters():
        assert p.dtype == torch.float32 and p.grad is not None, name
        assert p.grad.dtype == torch.float32 and p.grad.abs().sum() > 0, name


def test_bf16_leaves_the_ram_torso_alone() -> None:
    fp32, bf16 = _pair("ram")
    x = _batch()
    assert torch.equal(fp32.features(x), bf16.features(x))


def test_bf16_is_deterministic() -> None:
    _, bf16 = _pair("screen")
    x = _batch()
    assert torch.equal(bf16(x)[0], bf16(x)[0])
