"""A world model of an Atari console's RAM, for SimPLe-style learning inside the model.

SimPLe (Kaiser et al. 2019) learns a video model ``p(frame_{t+1}, r_t | frames_{t-3..t}, a_t)``
and trains PPO on the model's rollouts. :class:`RamWorldModel` is its cheap variant on the
console's 128-byte RAM (Sygnowski & Michalewski 2016's observation), the same structure at a
fraction of the cost::

    x      = bits(ram_{t-K+1..t})                              [B, K*128*8]
    h_1    = ReLU(W_1 x + b_1)                                 [B, H]
    h_2    = ReLU(W_2 (h_1 * (1 + U onehot(a_t))) + b_2)       [B, H]   (multiplicative action,
                                                                         as SimPLe's model)
    z      = V_b h_2                                           [B, 128, D]  (a code per byte)
    bytes  = z E^T + c_b + g * onehot(ram_t)                   [B, 128, 256]
             -> logits of ram_{t+1}   (E [256, D]: value embeddings shared by the bytes,
                                       c_b [128, 256] a bias per byte and value,
                                       g [128]: a learned copy gain per byte, 5 at first)
    reward = V_r h_2 + c_r   -> logits of sign(r_t) + 1        [B, 3]
    done   = V_d h_2 + c_d   -> logit of the episode ending    [B]

    loss   = mean_j CE(bytes_j, ram_{t+1, j}) + CE(reward, sign(r_t) + 1) + BCE(done, d_t)

The input is the RAM's bits (a counter's step or a flag is one bit away, where scaled byte
values would ask the network for exact arithmetic). Bytes out are classes, not regressed
values: most RAM bytes are counters, flags and positions
whose next value is exact, which a 256-way softmax represents and a Gaussian does not
(SimPLe's pixels are likewise 256-way). Most bytes do not change in a step (96% of Breakout's
under random play), so the logits start from a copy of the current byte, the role SimPLe's
skip connections play for pixels, and the network learns the changes. Rewards are predicted
as their sign, the learner's clipped reward.

The byte logits are factored through a ``D``-dimensional code per byte (``byte_dim``, 32):
a dense ``H -> 128 * 256`` head is 16.8M multiply-adds per transition, 85% of the model's
cost; the factored one is 2.1M + 1M, and 256 values in 32 dimensions still let each byte
peak at any value.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["RamWorldModel"]


class RamWorldModel(nn.Module):
    """Next RAM, clipped reward and episode end from a RAM stack and an action."""

    def __init__(
        self, n_actions: int, ram_stack: int = 4, hidden: int = 512, byte_dim: int = 32
    ) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.ram_stack = ram_stack
        self.hidden = hidden
        self.byte_dim = byte_dim
        self.inp = nn.Linear(ram_stack * 128 * 8, hidden)
        self.register_buffer("_bit", 2 ** torch.arange(8), persistent=False)
        self.action = nn.Linear(n_actions, hidden, bias=False)
        self.mid = nn.Linear(hidden, hidden)
        self.bytes = nn.Linear(hidden, 128 * byte_dim)
        self.values = nn.Parameter(torch.randn(256, byte_dim) / byte_dim**0.5)  # E
        self.byte_bias = nn.Parameter(torch.zeros(128, 256))  # c_b
        self.reward = nn.Linear(hidden, 3)
        self.done = nn.Linear(hidden, 1)
        self.copy_gain = nn.Parameter(torch.full((128,), 5.0))

    def forward(
        self, ram: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``ram [B, K, 128]`` uint8, ``action [B]`` long -> ``(byte logits [B, 128, 256],
        reward logits [B, 3], done logit [B])``."""
        x = ((ram.long()[..., None] & self._bit) > 0).float().flatten(1)  # [B, K*128*8]
        h = F.relu(self.inp(x))  # [B, H]
        a = F.one_hot(action, self.n_actions).float()  # [B, A]
        h = F.relu(self.mid(h * (1.0 + self.action(a))))  # [B, H]
        z = self.bytes(h).view(-1, 128, self.byte_dim)  # [B, 128, D]
        byte_logits = torch.baddbmm(self.byte_bias, z, self.values.T.expand(len(z), -1, -1))
        current = ram[:, -1].long()[..., None]  # [B, 128, 1]: the copy prior g_j at ram_t[j]
        gain = self.copy_gain[None, :, None].expand(len(z), -1, 1).to(byte_logits.dtype)
        byte_logits = byte_logits.scatter_add(-1, current, gain)  # [B, 128, 256]
        return byte_logits, self.reward(h), self.done(h).squeeze(-1)

    def loss(
        self,
        ram: torch.Tensor,
        action: torch.Tensor,
        next_ram: torch.Tensor,
        reward: torch.Tensor,
        done: torch.Tensor,
        byte_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss on a batch of transitions and its parts; ``next_ram [B, 128]``
        uint8, ``reward [B]`` raw, ``done [B]`` 0/1; ``byte_mask [B]`` bool leaves out of
        the byte loss the transitions whose ``next_ram`` is not theirs (the game was reset)."""
        byte_logits, reward_logits, done_logit = self(ram, action)
        per_byte = F.cross_entropy(
            byte_logits.reshape(-1, 256), next_ram.reshape(-1).long(), reduction="none"
        ).view(-1, 128)  # [B, 128]
        if byte_mask is None:
            byte_loss = per_byte.mean()
        else:
            byte_loss = (per_byte * byte_mask[:, None]).sum() / (128 * byte_mask.sum()).clamp(min=1)
        reward_class = (torch.sign(reward) + 1).long()  # -1, 0, +1 -> 0, 1, 2
        reward_loss = F.cross_entropy(reward_logits, reward_class)
        done_loss = F.binary_cross_entropy_with_logits(done_logit, done.float())
        loss = byte_loss + reward_loss + done_loss
        return loss, {
            "byte_loss": byte_loss.item(),
            "reward_loss": reward_loss.item(),
            "done_loss": done_loss.item(),
        }

    @torch.no_grad()
    def step(
        self,
        ram: torch.Tensor,
        action: torch.Tensor,
        *,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One imagined step: ``(next ram [B, 128] uint8, clipped reward [B] in {-1, 0, 1},
        done [B] bool)``; bytes and rewards by argmax at ``temperature`` 0, else sampled."""
        byte_logits, reward_logits, done_logit = self(ram, action)
        if temperature > 0:
            probs = torch.softmax(byte_logits / temperature, -1).reshape(-1, 256)
            next_ram = torch.multinomial(probs, 1, generator=generator).view(-1, 128)
            r_probs = torch.softmax(reward_logits / temperature, -1)
            reward = torch.multinomial(r_probs, 1, generator=generator).squeeze(-1)
        else:
            next_ram = byte_logits.argmax(-1)
            reward = reward_logits.argmax(-1)
        return next_ram.to(torch.uint8), (reward - 1).float(), done_logit > 0
