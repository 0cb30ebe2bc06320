"""Multi-Game Decision Transformer (Lee et al. 2022): one transformer plays many Atari games.

Each timestep ``t`` of a trajectory is a run of tokens, ``P`` image patches, then the return
to go, the action and the reward::

    o_t^1 .. o_t^P   R_t   a_t   r_t        (P = (84 / patch)^2 patches of 4 stacked frames)

and a window of ``K`` timesteps is one causal sequence of ``K * (P + 3)`` tokens (``P + 2``
without returns: the behaviour-cloning baseline, same network). The embeddings::

    patch     W_p flatten(frames[:, i:i+p, j:j+p]) / 255 + e_pos(i, j)      [B, K, P, D]
    return    E_R[bin(R_t)]      120 bins of the return to go over -20 .. 100 (the paper's)
    action    E_a[a_t]           the full action set of 18, shared by every game
    reward    E_r[sign(r_t) + 1]
    + a learned embedding per token slot of the window                       [K (P + 3), D]

then pre-norm transformer blocks (:class:`palestra.models.transformer.Block`, causal). Heads
read the hidden state of the token *before* what they predict::

    return logits  [B, K, 120] from the last patch of o_t    -> R_t
    action logits  [B, K, 18]  from R_t (from the last patch without returns) -> a_t
    reward logits  [B, K, 3]   from a_t                      -> sign(r_t)

    loss = CE(action) + CE(return) + CE(reward)   (returns and rewards are predicted too, as
                                                    the paper trains them)

Acting with expert returns (the paper's sampling): the return head gives ``P(R | o_t, ...)``;
an expert return is drawn from ``P(R) exp(kappa (R - R_low) / (R_high - R_low))`` (kappa 10,
the paper's), fed as ``R_t``, and the action is sampled from the action head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from palestra.models.transformer import Block, Context, TransformerConfig

__all__ = ["MGDT", "N_ACTIONS", "RETURN_BINS", "MGDTConfig", "return_bins"]

N_ACTIONS = 18  # ALE's full action set
RETURN_LOW, RETURN_HIGH = -20, 100
RETURN_BINS = RETURN_HIGH - RETURN_LOW  # 120 bins of width 1, the paper's


def return_bins(returns: torch.Tensor) -> torch.Tensor:
    """Bin indices ``0 .. 119`` of returns to go (clipped rewards summed), clamped."""
    return (returns.round().long() - RETURN_LOW).clamp(0, RETURN_BINS - 1)


@dataclass(frozen=True)
class MGDTConfig:
    """The network's shape."""

    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    context: int = 4  # timesteps K in a window
    patch: int = 14  # pixels per patch side (84 / patch patches per side)
    frames: int = 4  # stacked frames per observation
    returns: bool = True  # False: the behaviour-cloning baseline (no return tokens)
    dropout: float = 0.1

    @property
    def patches(self) -> int:
        return (84 // self.patch) ** 2

    @property
    def tokens_per_step(self) -> int:
        return self.patches + (3 if self.returns else 2)


class MGDT(nn.Module):
    """Decision transformer over image patches, returns, actions and rewards."""

    def __init__(self, cfg: MGDTConfig) -> None:
        super().__init__()
        if 84 % cfg.patch:
            raise ValueError(f"patch {cfg.patch} does not divide the 84-pixel frame")
        self.cfg = cfg
        D, T = cfg.d_model, cfg.context * cfg.tokens_per_step
        self.patch_in = nn.Linear(cfg.frames * cfg.patch * cfg.patch, D)
        self.patch_pos = nn.Parameter(torch.zeros(cfg.patches, D))
        self.return_emb = nn.Embedding(RETURN_BINS, D)
        self.action_emb = nn.Embedding(N_ACTIONS, D)
        self.reward_emb = nn.Embedding(3, D)
        self.slot = nn.Parameter(torch.zeros(T, D))
        block_cfg = TransformerConfig(
            vocab_size=1,
            block_size=T,
            d_model=D,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            dropout=cfg.dropout,
            rope=False,
        )
        self.blocks = nn.ModuleList(Block(block_cfg, i) for i in range(cfg.n_layer))
        self.norm = nn.LayerNorm(D)
        self.return_head = nn.Linear(D, RETURN_BINS)
        self.action_head = nn.Linear(D, N_ACTIONS)
        self.reward_head = nn.Linear(D, 3)
        self.drop = nn.Dropout(cfg.dropout)
        nn.init.normal_(self.patch_pos, std=0.02)
        nn.init.normal_(self.slot, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _patches(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames [B, K, F, 84, 84]`` uint8 -> patch embeddings ``[B, K, P, D]``."""
        B, K, Fr, H, W = frames.shape
        p = self.cfg.patch
        x = frames.float().div_(255.0).view(B, K, Fr, H // p, p, W // p, p)
        x = x.permute(0, 1, 3, 5, 2, 4, 6).reshape(B, K, self.cfg.patches, Fr * p * p)
        return self.patch_in(x) + self.patch_pos

    def forward(
        self,
        frames: torch.Tensor,
        returns: torch.Tensor | None,
        actions: torch.Tensor,
        rewards: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``frames [B, K, F, 84, 84]`` uint8, ``returns [B, K]`` return-to-go bins (None for
        the baseline), ``actions [B, K]`` full-set indices, ``rewards [B, K]`` in {-1, 0, 1}
        -> ``(action logits [B, K, 18], return logits [B, K, 120] or None, reward logits
        [B, K, 3])``. Tokens after what a head reads do not reach it (causal), so the
        actions and rewards of step ``t`` may hold anything when predicting ``a_t``."""
        cfg = self.cfg
        B, K = actions.shape
        P = cfg.patches
        parts = [self._patches(frames)]  # [B, K, P, D]
        if cfg.returns:
            assert returns is not None
            parts.append(self.return_emb(returns)[:, :, None])
        parts.append(self.action_emb(actions)[:, :, None])
        parts.append(self.reward_emb((rewards.sign() + 1).long())[:, :, None])
        x = torch.cat(parts, 2).reshape(B, K * cfg.tokens_per_step, -1)  # [B, K*S, D]
        x = self.drop(x + self.slot[: x.size(1)])
        ctx = Context()
        for block in self.blocks:
            x = block(x, ctx)
        h = self.norm(x).view(B, K, cfg.tokens_per_step, -1)  # [B, K, S, D]
        last_patch, after = h[:, :, P - 1], P
        return_logits = None
        if cfg.returns:
            return_logits = self.return_head(last_patch)  # reads o_t: predicts R_t
            action_logits = self.action_head(h[:, :, after])  # reads R_t: predicts a_t
            after += 1
        else:
            action_logits = self.action_head(last_patch)
        reward_logits = self.reward_head(h[:, :, after])  # reads a_t: predicts r_t
        return action_logits, return_logits, reward_logits

    def loss(
        self,
        frames: torch.Tensor,
        returns: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss on a batch of windows; ``mask [B, K]`` marks real timesteps
        (windows at an episode's start are padded in front)."""
        action_logits, return_logits, reward_logits = self(
            frames, returns if self.cfg.returns else None, actions, rewards
        )
        m = mask.reshape(-1).float()

        def ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            per = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), target.reshape(-1), reduction="none"
            )
            return (per * m).sum() / m.sum().clamp(min=1)

        action_loss = ce(action_logits, actions)
        reward_loss = ce(reward_logits, (rewards.sign() + 1).long())
        loss = action_loss + reward_loss
        stats = {"action_loss": action_loss.item(), "reward_loss": reward_loss.item()}
        if return_logits is not None:
            return_loss = ce(return_logits, returns)
            loss = loss + return_loss
            stats["return_loss"] = return_loss.item()
        with torch.no_grad():
            right = (action_logits.argmax(-1) == actions).float().reshape(-1)
            stats["action_accuracy"] = ((right * m).sum() / m.sum().clamp(min=1)).item()
        return loss, stats

    @torch.no_grad()
    def act(
        self,
        frames: torch.Tensor,
        returns: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        legal: torch.Tensor,
        *,
        kappa: float = 10.0,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The action at the last timestep of each window, and the return bin it was
        conditioned on. ``returns[:, -1]`` is filled here: an expert return drawn from
        ``P(R) exp(kappa * (R - R_low) / (R_high - R_low))``; ``legal [B, 18]`` bool masks
        the game's actions (the policy plays the minimal set of its game)."""
        returns = returns.clone()
        if self.cfg.returns:
            _, return_logits, _ = self(frames, returns, actions, rewards)
            logits = return_logits[:, -1].float()  # [B, 120]
            bias = kappa * torch.arange(RETURN_BINS, dtype=torch.float) / (RETURN_BINS - 1)
            expert = torch.softmax(logits + bias, -1)  # log P(R) + kappa * normalised R
            returns[:, -1] = torch.multinomial(expert, 1, generator=generator).squeeze(-1)
        action_logits, _, _ = self(frames, returns if self.cfg.returns else None, actions, rewards)
        logits = action_logits[:, -1].float().masked_fill(~legal, float("-inf"))
        if temperature == 0:
            return logits.argmax(-1), returns[:, -1]
        probs = torch.softmax(logits / temperature, -1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1), returns[:, -1]
