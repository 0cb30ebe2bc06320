"""Hourglass: a decoder-only transformer that runs its middle layers on a shortened sequence.

Nawrot et al. 2021, "Hierarchical Transformers Are More Efficient Language Models". The model
is ``pre layers -> shorten by k -> shortened layers -> upsample by k -> post layers``:

- **Shortening by linear pooling**: ``k`` consecutive vectors are concatenated and projected,
  ``z_j = W_s [x_{jk}; ...; x_{jk+k-1}]`` with ``W_s: k*D -> D``, so the shortened layers see
  ``T/k`` positions and cost about ``1/k`` per token (attention about ``1/k**2``).
- **Causal shift**: before pooling, the sequence is shifted right by ``k - 1`` (zeros enter on
  the left), so group ``j`` holds ``x_{jk-k+1} .. x_{jk}``: its last member is the token at the
  first position the group is upsampled to. Without the shift, position ``jk`` would read
  ``x_{jk+1} .. x_{jk+k-1}`` through the shortened stack, i.e. see the future.
- **Upsampling**: ``"linear"`` projects ``z_j`` to ``k`` vectors (``W_u: D -> k*D``), one for
  each position ``jk .. jk+k-1``; ``"repeat"`` copies ``z_j`` to all ``k`` of them.
- **Residual from before shortening**: the upsampled vectors are added to the output of the
  pre layers, ``x = x_pre + upsample(z)``, then the post layers run at full resolution.

Position ``i`` thus sees the tokens ``<= i`` only: the pre and post layers are causal, and the
shortened vector it reads (group ``floor(i/k)``) summarises tokens ``<= k*floor(i/k) <= i``.

The blocks (attention, MLP, norm, RoPE) are those of :mod:`palestra.models.transformer`. Not
here: the attention-based upsampling of the paper, nested hourglasses (several shortening
levels), and a KV cache (``forward`` recomputes the whole sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from palestra.models.transformer import (
    RESIDUAL_PROJECTIONS,
    Block,
    Context,
    Transformer,
    TransformerConfig,
    logits_and_loss,
    make_norm,
    rope_tables,
)

__all__ = ["Hourglass", "HourglassConfig", "flops_per_token"]


@dataclass
class HourglassConfig:
    """The architecture: ``n_pre_layer`` full, ``n_short_layer`` shortened by
    ``shorten_factor``, ``n_post_layer`` full. The block choices are as in the Transformer."""

    vocab_size: int = 260
    block_size: int = 256
    d_model: int = 128
    n_head: int = 4
    n_pre_layer: int = 1
    n_short_layer: int = 2
    n_post_layer: int = 1
    shorten_factor: int = 4  # k
    upsample: Literal["linear", "repeat"] = "linear"
    d_ff: int | None = None
    mlp: Literal["swiglu", "geglu", "gelu"] = "swiglu"
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    rope: bool = True
    bias: bool = False
    tie_embeddings: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.shorten_factor < 1:
            raise ValueError(f"shorten_factor must be >= 1, got {self.shorten_factor}")
        if self.upsample not in ("linear", "repeat"):
            raise ValueError(f"upsample must be 'linear' or 'repeat', got {self.upsample!r}")
        self.block_config(shortened=True)  # let TransformerConfig check heads, rope, ...

    @property
    def n_layer(self) -> int:
        return self.n_pre_layer + self.n_short_layer + self.n_post_layer

    def block_config(self, shortened: bool) -> TransformerConfig:
        """The TransformerConfig of the full-resolution or the shortened blocks."""
        return TransformerConfig(
            vocab_size=self.vocab_size,
            block_size=(
                math.ceil(self.block_size / self.shorten_factor) if shortened else self.block_size
            ),
            n_layer=self.n_layer,
            n_head=self.n_head,
            d_model=self.d_model,
            d_ff=self.d_ff,
            mlp=self.mlp,
            norm=self.norm,
            rope=self.rope,
            bias=self.bias,
            tie_embeddings=self.tie_embeddings,
            dropout=self.dropout,
        )

    def vanilla(self) -> TransformerConfig:
        """The plain Transformer with the same blocks and the same total number of layers."""
        return self.block_config(shortened=False)


# ----------------------------------------------------------------------------- FLOPs
def _layer_flops(cfg: TransformerConfig, n_ctx: int) -> int:
    """Forward FLOPs per token of one block at context ``n_ctx`` (Kaplan et al. 2020, Table 1):
    2 per weight of the attention and MLP matrices, plus ``2 * 2 * n_ctx * d`` for the scores
    ``q k^T`` and the weighted sum of values. Norms, activations and softmax are left out.

    A sparse FF (``ff="sparse"``) is counted as it trains: its masked dense path computes all
    ``d_ff`` units (two matrices) plus the low-rank controller ``D*r + r*d_ff``."""
    d, hd = cfg.d_model, cfg.head_dim
    attn_weights = 2 * d * cfg.n_head * hd + 2 * d * cfg.kv_heads * hd  # q, o; k, v
    if cfg.ff == "sparse":
        mlp_weights = 2 * d * cfg.ff_dim + d * cfg.sparse_rank + cfg.sparse_rank * cfg.ff_dim
    else:
        mlp_weights = (2 if cfg.mlp == "gelu" else 3) * d * cfg.ff_dim
    return 2 * (attn_weights + mlp_weights) + 4 * n_ctx * cfg.n_head * hd


def flops_per_token(cfg: HourglassConfig | TransformerConfig) -> float:
    """Forward FLOPs per token at full context ``block_size``, with the formula of
    :func:`_layer_flops` for each block and ``2 * V * D`` for the output head.

    A shortened block runs once per ``k`` tokens at context ``T/k``, so it costs
    ``_layer_flops(T/k) / k`` per token. Pooling (``k*D -> D`` once per ``k`` tokens) and linear
    upsampling (``D -> k*D`` once per ``k`` tokens) each add ``2 * D * D`` per token.
    """
    head = 2 * cfg.vocab_size * cfg.d_model
    if isinstance(cfg, TransformerConfig):
        return cfg.n_layer * _layer_flops(cfg, cfg.block_size) + head
    k, d = cfg.shorten_factor, cfg.d_model
    full = (cfg.n_pre_layer + cfg.n_post_layer) * _layer_flops(cfg.vanilla(), cfg.block_size)
    short_cfg = cfg.block_config(shortened=True)
    short = cfg.n_short_layer * _layer_flops(short_cfg, short_cfg.block_size) / k
    resample = 2 * d * d + (2 * d * d if cfg.upsample == "linear" else 0)
    return full + short + resample + head


# ----------------------------------------------------------------------------- model
class Hourglass(nn.Module):
    """Pre layers, a ``k``-times shortened stack, post layers: ``forward(idx, targets)``."""

    def __init__(self, cfg: HourglassConfig) -> None:
        super().__init__()
        self.cfg = cfg
        full_cfg, short_cfg = cfg.block_config(shortened=False), cfg.block_config(shortened=True)
        k, d = cfg.shorten_factor, cfg.d_model
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.pos_emb = None if cfg.rope else nn.Embedding(cfg.block_size, d)
        self.short_pos_emb = None if cfg.rope else nn.Embedding(short_cfg.block_size, d)
        self.drop = nn.Dropout(cfg.dropout)
        # layer indices only name KV-cache slots in Block, which we do not use
        self.pre = nn.ModuleList(Block(full_cfg, i) for i in range(cfg.n_pre_layer))
        self.shorten = nn.Linear(k * d, d, bias=cfg.bias)  # linear pooling of k tokens
        self.short = nn.ModuleList(Block(short_cfg, i) for i in range(cfg.n_short_layer))
        self.upsample = nn.Linear(d, k * d, bias=cfg.bias) if cfg.upsample == "linear" else None
        self.post = nn.ModuleList(Block(full_cfg, i) for i in range(cfg.n_post_layer))
        self.norm_f = make_norm(full_cfg)
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(d, cfg.vocab_size, bias=False)
        if cfg.rope:
            for name, c in (("", full_cfg), ("short_", short_cfg)):
                cos, sin = rope_tables(c)
                self.register_buffer(f"{name}rope_cos", cos, persistent=False)  # [T, hd]
                self.register_buffer(f"{name}rope_sin", sin, persistent=False)  # [T, hd]
        self.apply(Transformer._init_weights)
        for name, p in self.named_parameters():  # GPT-2 residual scaling, as in Transformer
            if name.endswith(RESIDUAL_PROJECTIONS):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _positions(
        self, x: torch.Tensor, short: bool
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """Add learned positions to ``x [B, T, D]`` or return the RoPE tables for ``T``."""
        T = x.size(1)
        if not self.cfg.rope:
            emb = self.short_pos_emb if short else self.pos_emb
            return x + emb(torch.arange(T, device=x.device)), None
        if short:
            return x, (self.short_rope_cos[:T], self.short_rope_sin[:T])  # [T, hd]
        return x, (self.rope_cos[:T], self.rope_sin[:T])  # [T, hd]

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position of ``idx [B, T]`` and the mean cross-entropy on
        ``targets [B, T]`` (-100 ignored). Any ``T <= block_size`` works, multiple of k or not.
        """
        cfg = self.cfg
        B, T = idx.shape
        if idx.size(1) > cfg.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size={cfg.block_size}")
        k, d = cfg.shorten_factor, cfg.d_model
        x, rope = self._positions(self.drop(self.tok_emb(idx)), short=False)  # [B, T, D]
        for block in self.pre:
            x = block(x, Context(rope=rope))  # [B, T, D]
        residual = x

        # shorten: shift right by k-1 so group j = x[jk-k+1 .. jk], pad the end to n*k, pool
        n = math.ceil(T / k)
        shifted = F.pad(x, (0, 0, k - 1, 0))[:, :T]  # [B, T, D], shifted[i] = x[i-k+1]
        shifted = F.pad(shifted, (0, 0, 0, n * k - T))  # [B, n*k, D]
        z = self.shorten(shifted.reshape(B, n, k * d))  # [B, n, D]
        z, short_rope = self._positions(z, short=True)
        for block in self.short:
            z = block(z, Context(rope=short_rope))  # [B, n, D]

        # upsample: group j feeds positions jk .. jk+k-1; residual from before shortening
        if self.upsample is not None:
            up = self.upsample(z).reshape(B, n * k, d)  # [B, n*k, D]
        else:
            up = z.repeat_interleave(k, dim=1)  # [B, n*k, D]
        x = residual + up[:, :T]  # [B, T, D]
        for block in self.post:
            x = block(x, Context(rope=rope))  # [B, T, D]

        weight = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight  # [V, D]
        return logits_and_loss(self.norm_f(x), weight, targets)
