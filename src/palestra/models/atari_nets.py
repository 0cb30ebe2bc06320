"""Actor-critic networks for Atari: the Nature CNN for screens, an MLP for the RAM, both.

* :class:`NatureCNN` (Mnih et al. 2015): ``[B, 4, 84, 84]`` uint8 -> ``[B, 512]``; pixels are
  scaled to [0, 1] inside the net.
* :class:`RamMLP` (Sygnowski & Michalewski 2016): ``[B, K, 128]`` uint8 RAM bytes, scaled to
  [0, 1], flattened -> two ReLU layers -> ``[B, hidden]``.
* :class:`AtariActorCritic`: the torso(s) for the observation mode (``screen``, ``ram``, or
  ``both``: the two feature vectors concatenated) and two linear heads, policy logits and
  state value, with cleanrl's orthogonal initialisation (gain sqrt(2) in the torso, 0.01 for
  the policy head, 1 for the value head). With ``bf16=True`` the screen torso runs under
  bfloat16 autocast (its weights stay float32, its features come back as float32), so the
  heads, the losses and the optimiser see float32 throughout; acting and learning use the
  same arithmetic, so PPO's first ratio is 1 up to kernel rounding.

Observations are dicts ``{"screen": ..., "ram": ...}`` of batched tensors, as the vector
environments of :mod:`palestra.play.atari` return them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["AtariActorCritic", "NatureCNN", "RamMLP"]


def _init(layer: nn.Module, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain)  # type: ignore[arg-type]
    nn.init.constant_(layer.bias, bias)  # type: ignore[arg-type]
    return layer


class NatureCNN(nn.Module):
    """Three conv layers (32 8x8/4, 64 4x4/2, 64 3x3/1) and a 512-unit dense layer."""

    def __init__(self, frames: int = 4, features: int = 512) -> None:
        super().__init__()
        self.features = features
        self.net = nn.Sequential(
            _init(nn.Conv2d(frames, 32, 8, stride=4)),
            nn.ReLU(),
            _init(nn.Conv2d(32, 64, 4, stride=2)),
            nn.ReLU(),
            _init(nn.Conv2d(64, 64, 3, stride=1)),
            nn.ReLU(),
            nn.Flatten(),
            _init(nn.Linear(64 * 7 * 7, features)),
            nn.ReLU(),
        )
        # oneDNN's convolutions run about 1.45x faster forward+backward on CPU with
        # channels-last tensors (measured at batch 256 on 2 cores); the weights are stored
        # that way (state dicts are unaffected: they hold values, not strides)
        self.to(memory_format=torch.channels_last)

    def forward(self, screen: torch.Tensor) -> torch.Tensor:
        """``[B, 4, 84, 84]`` uint8 -> ``[B, 512]``."""
        x = screen.contiguous(memory_format=torch.channels_last)  # uint8: cheap to permute
        # under bf16 autocast, or with bf16 weights, the pixels go straight to bfloat16
        # (0..255 are exact there), saving the float32 copy autocast would cast again;
        # in place: no second copy
        dtype = self.net[0].weight.dtype
        if torch.is_autocast_enabled("cpu"):
            dtype = torch.bfloat16
        return self.net(x.to(dtype).mul_(1.0 / 255.0))


class RamMLP(nn.Module):
    """RAM bytes in [0, 1], flattened over the stack, through two ReLU layers."""

    def __init__(self, ram_stack: int = 4, hidden: int = 256) -> None:
        super().__init__()
        self.features = hidden
        self.net = nn.Sequential(
            nn.Flatten(),
            _init(nn.Linear(ram_stack * 128, hidden)),
            nn.ReLU(),
            _init(nn.Linear(hidden, hidden)),
            nn.ReLU(),
        )

    def forward(self, ram: torch.Tensor) -> torch.Tensor:
        return self.net(ram.float() / 255.0)  # [B, K, 128] -> [B, hidden]


class AtariActorCritic(nn.Module):
    """Policy logits and value from a screen, RAM, or both observation."""

    def __init__(
        self,
        n_actions: int,
        obs: str = "screen",
        *,
        frames: int = 4,
        ram_stack: int = 4,
        hidden: int = 256,
        bf16: bool = False,
    ) -> None:
        super().__init__()
        if obs not in ("screen", "ram", "both"):
            raise ValueError(f"unknown observation mode {obs!r}")
        self.obs = obs
        self.bf16 = bf16
        self.screen = NatureCNN(frames) if obs in ("screen", "both") else None
        self.ram = RamMLP(ram_stack, hidden) if obs in ("ram", "both") else None
        width = sum(t.features for t in (self.screen, self.ram) if t is not None)
        self.actor = _init(nn.Linear(width, n_actions), gain=0.01)
        self.critic = _init(nn.Linear(width, 1), gain=1.0)

    def features(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.screen is not None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                screen = self.screen(obs["screen"])
            parts.append(screen.float())
        if self.ram is not None:
            parts.append(self.ram(obs["ram"]))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)  # [B, width]

    def forward(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [B, A], value [B])``."""
        h = self.features(obs)
        return self.actor(h), self.critic(h).squeeze(-1)

    def value(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.critic(self.features(obs)).squeeze(-1)  # [B]
