"""A compact decoder-only transformer whose block takes the PaLM / Gemma choices as flags.

One file, read top to bottom: config, norms and rotary positions, attention with a KV cache
(:class:`KVCache` for one batch of equal-length rows; :class:`SlotCache` for continuous
batching, rows of different lengths), MLP, block, model (forward, ``generate``,
``save_pretrained`` / ``from_pretrained``).

The choices, each a field of :class:`TransformerConfig` (those a user picks on the command line
are declared in :mod:`palestra.models.architecture`, with their checks):

- ``rope``: rotary position embeddings (Su et al. 2021, RoFormer) instead of learned absolute
  positions. A pair of channels ``(x1, x2)`` at position ``m`` is rotated by the angle
  ``m * theta**(-2i/head_dim)``: ``(x1 cos - x2 sin, x2 cos + x1 sin)``, so that ``q_m . k_n``
  depends on ``m - n`` only. We rotate the two halves of a head (the GPT-NeoX / Llama layout).
- ``norm="rmsnorm"``: ``x / sqrt(mean(x**2) + eps) * g`` (Zhang & Sennrich 2019), no mean
  subtraction and no bias; ``"layernorm"`` for the GPT-2 block.
- ``mlp``: ``"swiglu"`` ``W_down(silu(W_gate x) * W_up x)`` (Shazeer 2020, used by PaLM),
  ``"geglu"`` the same with tanh-GELU (Gemma), ``"gelu"`` the plain ``W_down gelu(W_up x)``.
- ``n_kv_heads``: grouped-query attention (Ainslie et al. 2023): ``n_head`` query heads share
  ``n_kv_heads`` key/value heads; ``1`` is multi-query attention (Shazeer 2019, PaLM), ``None``
  ordinary multi-head attention. The KV cache shrinks by ``n_head / n_kv_heads``.
- ``parallel_block``: PaLM's ``x + Attn(LN(x)) + MLP(LN(x))`` with one shared norm, instead of
  the serial ``x = x + Attn(LN1(x)); x = x + MLP(LN2(x))``.
- ``bias=False``: no biases in linear layers or norms (PaLM).
- ``tie_embeddings``: the output projection is the token embedding matrix (``logits = h E^T``).
- ``scale_embeddings``: multiply token embeddings by ``sqrt(d_model)`` (Gemma).
- ``ff="sparse"``: each block's feed-forward is the Terraformer's sparse ReLU layer
  (:class:`~palestra.models.sparse_ff.SparseFF`, Jaszczur et al. 2021): ``d_ff`` units in blocks
  of ``sparse_block``, one unit per block kept by a low-rank controller of width
  ``sparse_rank``. Training runs its masked dense path (Gumbel straight-through); decoding with
  a :class:`KVCache` (``generate``) runs its decode path, which computes only the chosen units,
  ``1/sparse_block`` of the dense layer's work. ``mlp`` does not apply to it.
- The attention variants for sequences longer than the trained ones (``random_positions``,
  ``no_positions``, ``nope_heads``, ``rope_window``, ``token_heads``, ``attn_sinks``,
  ``fire``, ``canon``, ``attn_log_scale``) are explained, and their pieces written, in
  :mod:`palestra.models.length_generalisation`; :class:`Attention` and :class:`Block` hold
  their parameters.
- ``memory_layers``: those layers are Focused Transformer memory layers
  (:mod:`palestra.models.memory`): no positions, and given a memory (``forward(idx,
  memory=...)``) they also attend to (key, value) pairs of earlier chunks. A training input
  longer than ``block_size`` (a multiple of it) is read as chunks with FoT's cross-batch memory
  (``memory_crossbatch``); :func:`~palestra.models.memory.generate_with_memory` reads any
  length at inference.

Checkpoints use the Hugging Face layout: ``model.safetensors`` and ``config.json`` in one
folder. The safetensors format holds tensors only (no pickled code), so loading is safe.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from palestra.models.architecture import TransformerFlags
from palestra.models.length_generalisation import (
    CausalConv,
    FireBias,
    head_mask,
    log_scaled,
    random_positions_for,
    with_sink,
)
from palestra.models.memory import CrossBatch, KNNMemory
from palestra.models.pretrained import load_pretrained, save_pretrained
from palestra.models.sparse_ff import SparseFF, SparseFFConfig

__all__ = ["KVCache", "SlotCache", "Transformer", "TransformerConfig", "record_attention"]

IGNORE_INDEX = -100  # targets with this value add nothing to the loss (prompt, padding)
# parameters that write into the residual stream (attention output, MLP output); not the sparse
# FF's controller_down, hence the "mlp." prefix
RESIDUAL_PROJECTIONS = ("o_proj.weight", "mlp.down.weight", "mlp.w2")


@dataclass
class TransformerConfig(TransformerFlags):
    """The architecture: the choices a user picks (:class:`TransformerFlags`: shape, attention,
    positions, block) and the ones fixed by the data or by a checkpoint's family (vocabulary,
    norm, biases, embeddings, the sparse FF). Defaults give a small PaLM-style model."""

    vocab_size: int = 260
    d_ff: int | None = None  # None: 4 * d_model for "gelu" or "sparse", 8/3 d_model if gated
    ff: Literal["dense", "sparse"] = "dense"  # "sparse": Terraformer sparse FF (mlp unused)
    sparse_block: int = 32  # units per block of the sparse FF; one of them is active
    sparse_rank: int = 32  # width of the sparse FF's low-rank controller
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    rope_theta: float = 10000.0
    # RoPE scaling for reading beyond the trained context (set by Transformer.extended):
    # "linear" position interpolation (Chen et al. 2023, positions m / rope_factor) or
    # "ntk" (NTK-aware: theta * rope_factor ** (hd / (hd - 2)), high frequencies kept)
    rope_scaling: Literal["none", "linear", "ntk"] = "none"
    rope_factor: float = 1.0
    fire_hidden: int = 32  # width of FIRE's MLP
    bias: bool = False
    tie_embeddings: bool = True
    scale_embeddings: bool = False
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        super().__post_init__()  # shape, heads and the position choices
        if self.ff == "sparse":
            self.sparse_ff_config()  # checks that d_ff is a multiple of sparse_block

    @property
    def ff_dim(self) -> int:
        if self.d_ff is not None:
            return self.d_ff
        if self.mlp == "gelu" or self.ff == "sparse":
            return 4 * self.d_model
        # a gated MLP has three matrices; 8/3 d keeps the parameter count of a 4d plain MLP
        return 8 * math.ceil(8 * self.d_model / 3 / 8)

    def sparse_ff_config(self) -> SparseFFConfig:
        """The config of each block's :class:`SparseFF` (when ``ff="sparse"``)."""
        return SparseFFConfig(
            d_model=self.d_model,
            d_ff=self.ff_dim,
            block=self.sparse_block,
            rank=self.sparse_rank,
            bias=self.bias,
        )


# ----------------------------------------------------------------------------- positions, norms
def rope_tables(cfg: TransformerConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of ``m * theta**(-2i/head_dim)`` for every position m, both halves.

    With ``rope_scaling``: "linear" uses ``m / rope_factor`` (position interpolation: a
    context ``rope_factor`` times the trained one maps onto the trained angles); "ntk" uses
    ``theta * rope_factor ** (hd / (hd - 2))`` (the lowest frequency interpolated, the highest
    left as trained)."""
    half = cfg.head_dim // 2
    theta = cfg.rope_theta
    if cfg.rope_scaling == "ntk":
        theta = theta * cfg.rope_factor ** (cfg.head_dim / max(1, cfg.head_dim - 2))
    inv_freq = theta ** (-torch.arange(half, dtype=torch.float32) / half)  # [hd/2]
    positions = torch.arange(cfg.n_positions, dtype=torch.float32)
    if cfg.rope_scaling == "linear":
        positions = positions / cfg.rope_factor
    angles = torch.outer(positions, inv_freq)
    angles = torch.cat([angles, angles], dim=-1)  # [n_positions, hd]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs ``(x[i], x[i + hd/2])`` of ``x [B, H, T, hd]`` by their angle."""
    x1, x2 = x.chunk(2, dim=-1)  # [B, H, T, hd/2] each
    rotated = torch.cat([-x2, x1], dim=-1)  # [B, H, T, hd]
    return x * cos + rotated * sin  # cos, sin: [T, hd], broadcast over B and H


def make_norm(cfg: TransformerConfig) -> nn.Module:
    if cfg.norm == "rmsnorm":
        return nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
    return nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)


# ----------------------------------------------------------------------------- attention
class KVCache:
    """Keys and values of every position seen so far, preallocated for ``block_size``.

    ``pos`` is the number of positions already in the cache: the next forward pass writes its
    ``T`` new positions at ``pos .. pos+T`` and its queries attend to ``0 .. pos+T``.

    For a model with ``random_positions``, the cache also draws the position ids of the
    ``length`` tokens it will hold (prompt and generated tokens; default ``block_size``).
    """

    def __init__(
        self,
        cfg: TransformerConfig,
        batch_size: int,
        device: torch.device,
        length: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        shape = (cfg.n_layer, batch_size, cfg.kv_heads, cfg.block_size, cfg.head_dim)
        self.k = torch.zeros(shape, device=device)  # [L, B, n_kv, block_size, hd]
        self.v = torch.zeros(shape, device=device)  # [L, B, n_kv, block_size, hd]
        self.pos = 0
        self.positions: torch.Tensor | None = None  # [length] position ids, when random
        # the last canon - 1 normed inputs of each block's convolution (zeros: the padding)
        width = max(cfg.canon - 1, 0)
        self.conv = torch.zeros(cfg.n_layer, batch_size, width, cfg.d_model, device=device)
        if cfg.random_positions:
            n = cfg.block_size if length is None else length
            self.positions = random_positions_for(n, cfg, False, generator).to(device)

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new ``k, v [B, n_kv, T, hd]``; return all keys and values so far."""
        end = self.pos + k.size(2)
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]  # [B, n_kv, pos+T, hd]


class SlotCache:
    """Keys and values of a changing set of sequences of different lengths: continuous batching.

    Row ``r < rows`` holds one sequence, ``lengths[r]`` positions of it. A decoding step gives
    every row one new token (``Transformer.forward(idx [rows, 1], cache=slot_cache)``): row
    ``r``'s token sits at position ``lengths[r]`` (its own rotary angle or learned position),
    its key and value are written there, and its query sees keys ``0 .. lengths[r]`` only (a
    per-row mask over the longest row's keys). So rows that joined at different times decode
    in one forward pass, each exactly as if it were alone.

    A sequence joins with :meth:`add` (its prompt prefilled by an ordinary :class:`KVCache`,
    copied into as many rows as it has samples) and leaves with :meth:`free`, which moves the
    last row into the freed one so the rows in use stay ``0 .. rows-1`` (a view, no gather, in
    every step). Rows are allocated as needed (doubling) and given back by :meth:`clear`.

    Only models whose attention depends on a query's position through rotary angles, learned
    positions or nothing at all can decode this way (:meth:`supports`); the variants that need
    a per-sequence draw or the whole past per head (``random_positions``, ``fire``, ``canon``,
    ``token_heads``, ``rope_window``, ``attn_sinks``, ``attn_log_scale``) cannot.
    """

    def __init__(self, cfg: TransformerConfig, device: torch.device | None = None) -> None:
        self.cfg = cfg
        self.device = device or torch.device("cpu")
        self.rows = 0  # rows in use: 0 .. rows-1
        self.k = self._empty(0)  # [L, capacity, n_kv, block_size, hd]
        self.v = self._empty(0)  # [L, capacity, n_kv, block_size, hd]
        self.lengths = torch.zeros(0, dtype=torch.long, device=self.device)  # [capacity]
        self.keys = 0  # keys S the step under way attends over: the longest row's, + 1
        self.mask: torch.Tensor | None = None  # [rows, 1, 1, S] of the step under way

    @staticmethod
    def supports(cfg: TransformerFlags) -> bool:
        """Whether a model of this config can decode rows of different lengths together."""
        return not (
            cfg.random_positions
            or cfg.fire
            or cfg.canon
            or cfg.token_heads
            or cfg.rope_window
            or cfg.attn_sinks
            or cfg.attn_log_scale
        )

    def _empty(self, capacity: int) -> torch.Tensor:
        cfg = self.cfg
        shape = (cfg.n_layer, capacity, cfg.kv_heads, cfg.block_size, cfg.head_dim)
        return torch.zeros(shape, device=self.device)

    @property
    def capacity(self) -> int:
        return self.k.size(1)

    def _reserve(self, rows: int) -> None:
        if rows <= self.capacity:
            return
        capacity = max(rows, 2 * self.capacity, 8)
        k, v = self._empty(capacity), self._empty(capacity)
        k[:, : self.rows] = self.k[:, : self.rows]
        v[:, : self.rows] = self.v[:, : self.rows]
        lengths = torch.zeros(capacity, dtype=torch.long, device=self.device)
        lengths[: self.rows] = self.lengths[: self.rows]
        self.k, self.v, self.lengths = k, v, lengths

    def add(self, prefill: KVCache, copies: int) -> int:
        """Append ``copies`` rows holding row 0 of ``prefill`` (its ``pos`` positions); return
        the first new row."""
        first, length = self.rows, prefill.pos
        self._reserve(first + copies)
        new = slice(first, first + copies)
        self.k[:, new, :, :length] = prefill.k[:, :1, :, :length]  # [L, copies, n_kv, T, hd]
        self.v[:, new, :, :length] = prefill.v[:, :1, :, :length]
        self.lengths[new] = length
        self.rows += copies
        return first

    def free(self, row: int) -> int | None:
        """Give up ``row``; the last row moves into it. Return the row that moved (its old
        index), or ``None`` when ``row`` was the last. Free several rows last-first."""
        last = self.rows - 1
        if not 0 <= row <= last:
            raise IndexError(f"row {row} is not in use ({self.rows} rows)")
        self.rows = last
        if row == last:
            return None
        self.k[:, row] = self.k[:, last]
        self.v[:, row] = self.v[:, last]
        self.lengths[row] = self.lengths[last]
        return last

    def clear(self) -> None:
        """Drop every row and the memory they held."""
        self.rows = 0
        self.k, self.v = self._empty(0), self._empty(0)
        self.lengths = self.lengths[:0].clone()

    def positions(self) -> torch.Tensor:
        """The position ``[rows]`` of each row's next token; sets the step's keys (up to the
        longest row) and mask: row ``r``'s query sees keys ``0 .. lengths[r]`` (no mask when
        every row has the same length)."""
        lengths = self.lengths[: self.rows]  # [B]
        shortest, longest = (int(x) for x in lengths.aminmax())
        self.keys = longest + 1
        self.mask = None
        if shortest != longest:
            mask = torch.arange(self.keys, device=self.device) <= lengths[:, None]  # [B, S]
            self.mask = mask[:, None, None, :]  # [B, 1, 1, S], broadcast over heads
        return lengths

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store each row's new ``k, v [B, n_kv, 1, hd]`` at its own position; return the keys
        and values ``[B, n_kv, S, hd]`` up to the longest row (the mask hides the rest)."""
        B, S = self.rows, self.keys  # positions() starts a step
        rows = torch.arange(B, device=self.device)
        at = self.lengths[:B]  # [B]
        self.k[layer, rows, :, at] = k[:, :, 0]  # [B, n_kv, hd] written at (row, ., at[row])
        self.v[layer, rows, :, at] = v[:, :, 0]
        return self.k[layer, :B, :, :S], self.v[layer, :B, :, :S]

    def advance(self) -> None:
        """End the step: every row is one position longer."""
        self.lengths[: self.rows] += 1
        self.keys, self.mask = 0, None


class Context(NamedTuple):
    """What every block of one forward pass reads besides the residual stream."""

    cache: KVCache | SlotCache | None = None
    # cos, sin [T, hd] at the positions; [B, 1, 1, hd] per row with a SlotCache
    rope: tuple[torch.Tensor, torch.Tensor] | None = None
    fire_positions: tuple[torch.Tensor, torch.Tensor] | None = None  # queries' [T], keys' [S]
    idx: torch.Tensor | None = None  # [B, T] the tokens, for token-keyed heads
    memory: KNNMemory | CrossBatch | None = None  # what the memory layers attend to besides


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig, layer: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.layer = layer
        hd = cfg.head_dim
        # token-keyed heads: the last tq query heads and tk key heads (see token_heads)
        self.tq = cfg.token_heads
        self.tk = cfg.token_heads // (cfg.n_head // cfg.kv_heads)
        self.q_proj = nn.Linear(cfg.d_model, (cfg.n_head - self.tq) * hd, bias=cfg.bias)
        self.k_proj = nn.Linear(cfg.d_model, (cfg.kv_heads - self.tk) * hd, bias=cfg.bias)
        self.token_q = nn.Embedding(cfg.vocab_size, self.tq * hd) if self.tq else None
        self.token_k = nn.Embedding(cfg.vocab_size, self.tk * hd) if self.tq else None
        self.v_proj = nn.Linear(cfg.d_model, cfg.kv_heads * hd, bias=cfg.bias)
        self.o_proj = nn.Linear(cfg.n_head * hd, cfg.d_model, bias=cfg.bias)
        self.fire = FireBias(cfg) if cfg.fire else None
        self.record: list[torch.Tensor] | None = None  # see record_attention
        # s_h * log(n) is 1 at n = 64 keys to start with
        self.log_scale = (
            nn.Parameter(torch.full((cfg.n_head,), 1.0 / math.log(64.0)))
            if cfg.attn_log_scale
            else None
        )
        self.sink = nn.Parameter(torch.zeros(cfg.n_head)) if cfg.attn_sinks else None
        self.memory = layer in cfg.memory_layers  # a memory layer: no positions

    def forward(self, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        """Causal self-attention of ``x [B, T, D]``, which continues the tokens in
        ``ctx.cache`` (if any)."""
        cfg, cache = self.cfg, ctx.cache
        B, T, _ = x.shape  # [B, T, D]
        hd = cfg.head_dim
        q = self.q_proj(x).view(B, T, cfg.n_head - self.tq, hd)  # [B, T, H - tq, hd]
        k = self.k_proj(x).view(B, T, cfg.kv_heads - self.tk, hd)  # [B, T, Hkv - tk, hd]
        if self.token_q is not None and self.token_k is not None:
            if ctx.idx is None:
                raise ValueError("token-keyed heads need the tokens")
            q = torch.cat([q, self.token_q(ctx.idx).view(B, T, self.tq, hd)], dim=2)
            k = torch.cat([k, self.token_k(ctx.idx).view(B, T, self.tk, hd)], dim=2)
        q, k = q.transpose(1, 2), k.transpose(1, 2)  # [B, H, T, hd], [B, Hkv, T, hd]
        v = self.v_proj(x).view(B, T, cfg.kv_heads, hd).transpose(1, 2)  # [B, Hkv, T, hd]
        if ctx.memory is not None and self.memory:  # local chunk and memory, one softmax
            if cache is not None:
                raise ValueError("a memory layer does not take a KV cache and a memory together")
            y = ctx.memory.attend(self.layer, q, k, v)  # [B, H, T, hd]
            return self.o_proj(y.transpose(1, 2).reshape(B, T, cfg.n_head * hd))  # [B, T, D]
        if ctx.rope is not None and not self.memory:
            cos, sin = ctx.rope  # [T, hd] each, already at this chunk's positions
            if cfg.rope_heads < cfg.n_head:  # the last heads stay unrotated (content-only)
                hq = cfg.rope_heads
                hk = hq // (cfg.n_head // cfg.kv_heads)
                q = torch.cat([apply_rope(q[:, :hq], cos, sin), q[:, hq:]], dim=1)
                k = torch.cat([apply_rope(k[:, :hk], cos, sin), k[:, hk:]], dim=1)
            else:
                q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if isinstance(cache, SlotCache):  # one token per row, each row at its own position
            k, v = cache.update(self.layer, k, v)  # [B, Hkv, S, hd]
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=cache.mask, enable_gqa=cfg.kv_heads != cfg.n_head
            )  # [B, H, 1, hd]; cache.mask [B, 1, 1, S] (if any) keeps each row to its keys
            return self.o_proj(y.transpose(1, 2).reshape(B, T, cfg.n_head * hd))  # [B, 1, D]
        past = 0 if cache is None else cache.pos
        if self.log_scale is not None:
            q = log_scaled(q, self.log_scale, past, cfg)  # Scalable-Softmax
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # [B, Hkv, past+T, hd]
        # Query i sits at position past+i and may see keys 0..past+i. SDPA's is_causal aligns
        # the mask top-left, which is right only when there is no past.
        mask = head_mask(cfg, past, T, self.sink is not None, x.device)  # windows, token keys
        if mask is None and self.fire is not None:
            if ctx.fire_positions is None:
                raise ValueError("a FIRE attention layer needs the position ids")
            mask = self.fire(*ctx.fire_positions)[None].to(q.dtype)  # [1, H, T, S], causal
        elif mask is None and (
            (past and T > 1) or self.record is not None or self.sink is not None
        ):
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
        if self.sink is not None and mask is not None:  # a zero key and value in front
            mask, k, v = with_sink(mask, k, v, self.sink, q.dtype)  # mask [1, H, T, 1+S]
        if self.record is not None:
            assert mask is not None  # recording always builds the mask
            weights = self._weights(q, k, mask)  # [B, H, T, S] (+1 with a sink, in front)
            self.record.append(weights if self.sink is None else weights[..., 1:])
            y = weights @ v.repeat_interleave(cfg.n_head // cfg.kv_heads, dim=1)
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                is_causal=mask is None and past == 0 and T > 1,
                dropout_p=cfg.dropout if self.training else 0.0,
                enable_gqa=cfg.kv_heads != cfg.n_head,
            )  # [B, H, T, hd]
        y = y.transpose(1, 2).reshape(B, T, cfg.n_head * cfg.head_dim)  # [B, T, H*hd]
        return self.o_proj(y)  # [B, T, D]

    def _weights(self, q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The attention weights ``[B, H, T, S]`` SDPA would use (no dropout), written out so
        record_attention can keep them; ``mask`` boolean (allowed keys) or an additive bias."""
        k = k.repeat_interleave(self.cfg.n_head // self.cfg.kv_heads, dim=1)  # [B, H, S, hd]
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.size(-1))  # [B, H, T, S]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
        return scores.softmax(dim=-1)


@contextmanager
def record_attention(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Inside the block, every attention layer of ``model`` appends its weights
    ``[B, H, T, S]`` to the yielded list on each forward pass (layer order), e.g.::

        with record_attention(model) as maps:
            model(idx)
        maps[layer][0, head, query]  # what that query attended to
    """
    maps: list[torch.Tensor] = []
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    for layer in layers:
        layer.record = maps
    try:
        yield maps
    finally:
        for layer in layers:
            layer.record = None


# ----------------------------------------------------------------------------- MLP, block
class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.gated = cfg.mlp != "gelu"
        self.act = F.silu if cfg.mlp == "swiglu" else lambda h: F.gelu(h, approximate="tanh")
        self.up = nn.Linear(cfg.d_model, cfg.ff_dim, bias=cfg.bias)
        self.gate = nn.Linear(cfg.d_model, cfg.ff_dim, bias=cfg.bias) if self.gated else None
        self.down = nn.Linear(cfg.ff_dim, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is None:
            return self.down(self.act(self.up(x)))  # [B, T, F] -> [B, T, D]
        return self.down(self.act(self.gate(x)) * self.up(x))  # [B, T, F] -> [B, T, D]


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig, layer: int) -> None:
        super().__init__()
        self.parallel = cfg.parallel_block
        self.canon = CausalConv(cfg, layer) if cfg.canon else None
        self.norm_1 = make_norm(cfg)
        self.attn = Attention(cfg, layer)
        self.norm_2 = None if cfg.parallel_block else make_norm(cfg)  # PaLM shares one norm
        self.mlp: MLP | SparseFF = (
            MLP(cfg) if cfg.ff == "dense" else SparseFF(cfg.sparse_ff_config())
        )
        self.drop = nn.Dropout(cfg.dropout)

    def feed_forward(self, h: torch.Tensor, decoding: bool) -> torch.Tensor:
        """The MLP on ``h [B, T, D]``. A sparse MLP takes its decode path (only the chosen
        units, argmax controller) when decoding with a cache, its training path otherwise."""
        if decoding and isinstance(self.mlp, SparseFF):
            return self.mlp.decode(h)
        return self.mlp(h)

    def forward(self, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        decoding = ctx.cache is not None
        h = self.norm_1(x)  # [B, T, D]
        if self.canon is None:
            a = h  # attention's input
        else:
            assert not isinstance(ctx.cache, SlotCache), "SlotCache.supports excludes canon"
            a = h + self.canon(h, ctx.cache)
        attn = self.drop(self.attn(a, ctx))
        if self.norm_2 is None:
            return x + attn + self.drop(self.feed_forward(h, decoding))
        x = x + attn
        return x + self.drop(self.feed_forward(self.norm_2(x), decoding))


# ----------------------------------------------------------------------------- model
class Transformer(nn.Module):
    """Decoder-only language model: ``forward(idx, targets)`` and ``generate``."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        learned = not (cfg.rope or cfg.no_positions or cfg.fire)
        self.pos_emb = nn.Embedding(cfg.n_positions, cfg.d_model) if learned else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm_f = make_norm(cfg)
        self.lm_head = (
            None if cfg.tie_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        )
        if cfg.uses_rope:
            cos, sin = rope_tables(cfg)
            # not persistent: derived from the config, so not written into checkpoints
            self.register_buffer("rope_cos", cos, persistent=False)  # [n_positions, hd]
            self.register_buffer("rope_sin", sin, persistent=False)  # [n_positions, hd]
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer) so the residual
        # stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith(RESIDUAL_PROJECTIONS):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, SparseFF):  # its unit weights are parameters, not nn.Linear
            nn.init.normal_(module.w1, mean=0.0, std=0.02)
            nn.init.normal_(module.w2, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _positions(
        self, T: int, past: int, cache: KVCache | None, device: torch.device
    ) -> torch.Tensor:
        """Position ids ``[T]`` of the tokens at ``past .. past+T``: the cache's own draw when
        decoding a randomized-position model, a fresh draw in a plain forward pass, else
        ``past .. past+T-1``."""
        if cache is not None and cache.positions is not None:
            if past + T > len(cache.positions):
                raise ValueError(f"the cache holds positions for {len(cache.positions)} tokens")
            return cache.positions[past : past + T]
        if self.cfg.random_positions:
            return random_positions_for(T, self.cfg, self.training).to(device)
        return torch.arange(past, past + T, device=device)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | SlotCache | None = None,
        memory: KNNMemory | CrossBatch | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position of ``idx [B, T]``, and the mean cross-entropy on
        ``targets [B, T]`` (entries equal to -100 ignored) when given.

        With a ``cache`` the tokens continue the ones already cached: they sit at positions
        ``cache.pos ..``, and the cache advances by ``T``. With ``random_positions`` the
        position ids are a fresh sorted random sample (the cache's own sample when decoding).
        With a :class:`SlotCache`, ``idx [rows, 1]`` is one token per row, each continuing its
        own row (see :meth:`_forward_rows`).

        With ``memory`` the memory layers also attend to it (:mod:`palestra.models.memory`). A
        model with memory layers given no memory and no cache reads an input longer than
        ``block_size`` (a multiple of it) as chunks with the cross-batch memory of training
        (:meth:`_forward_crossbatch`).
        """
        if isinstance(cache, SlotCache):
            return self._forward_rows(idx, cache), None
        cfg = self.cfg
        T = idx.size(1)
        if cfg.memory_layers and memory is None and cache is None and cfg.block_size < T:
            return self._forward_crossbatch(idx, targets)
        weight = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight  # [V, D]
        return logits_and_loss(self._hidden(idx, cache, memory), weight, targets)

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """The final hidden states ``[B, T, D]`` of ``idx [B, T]`` (after the last norm: what
        the output layer reads), for heads other than the language model's, such as a
        verifier's (:mod:`palestra.reason.verifier`)."""
        if idx.size(1) > self.cfg.block_size:
            raise ValueError(f"sequence of {idx.size(1)} tokens exceeds block_size")
        return self._hidden(idx, None, None)

    def _hidden(
        self, idx: torch.Tensor, cache: KVCache | None, memory: KNNMemory | CrossBatch | None
    ) -> torch.Tensor:
        """The normed final hidden states ``[B, T, D]`` of ``forward``'s plain path."""
        cfg = self.cfg
        T = idx.size(1)
        past = cache.pos if cache is not None else 0
        if past + T > cfg.block_size:
            raise ValueError(f"sequence of {past + T} tokens exceeds block_size={cfg.block_size}")
        x = self.tok_emb(idx)  # [B, T, D]
        if cfg.scale_embeddings:
            x = x * math.sqrt(cfg.d_model)
        rope, fire_positions = None, None
        if not cfg.no_positions:
            positions = self._positions(T, past, cache, idx.device)  # [T]
            if self.pos_emb is not None:
                x = x + self.pos_emb(positions)  # [B, T, D]
            elif cfg.fire:  # the queries' ids, and the ids of every key they see
                keys = positions if not past else self._positions(past + T, 0, cache, idx.device)
                fire_positions = (positions, keys)  # [T], [past+T]
            else:
                rope = (self.rope_cos[positions], self.rope_sin[positions])  # [T, hd]
        x = self.drop(x)
        ctx = Context(cache, rope, fire_positions, idx, memory)
        for block in self.blocks:
            x = block(x, ctx)  # [B, T, D]
        if cache is not None:
            cache.pos += T
        return self.norm_f(x)

    def _forward_crossbatch(
        self, idx: torch.Tensor, targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """FoT training: ``idx [B, C*L]`` (``L = block_size``) as ``B*C`` rows of one chunk,
        the memory layers attending to the earlier chunks of ``memory_crossbatch`` documents
        (:class:`~palestra.models.memory.CrossBatch`); logits ``[B, C*L, V]``, mean loss."""
        B, T = idx.shape
        L = self.cfg.block_size
        if T % L:
            raise ValueError(f"a memory model reads {T} tokens as chunks of block_size={L}")
        rows = idx.reshape(B * (T // L), L)  # [B*C, L]
        row_targets = None if targets is None else targets.reshape(B * (T // L), L)
        memory = CrossBatch(B, T // L, self.cfg.memory_crossbatch)
        logits, loss = self(rows, row_targets, memory=memory)  # [B*C, L, V]
        return logits.reshape(B, T, -1), loss

    def _forward_rows(self, idx: torch.Tensor, cache: SlotCache) -> torch.Tensor:
        """Logits ``[B, 1, V]`` of one new token per row of ``cache`` (``idx [B, 1]``, ``B =
        cache.rows``), row ``b``'s at position ``cache.lengths[b]``; the rows advance by one."""
        cfg = self.cfg
        if idx.size(0) != cache.rows or idx.size(1) != 1:
            raise ValueError(f"a SlotCache step takes [{cache.rows}, 1] tokens, got {idx.shape}")
        if not SlotCache.supports(cfg):
            raise ValueError("this model's attention cannot decode rows of different lengths")
        positions = cache.positions()  # [B], and the step's mask
        if int(positions.max()) >= cfg.block_size:
            raise ValueError(f"a row would exceed block_size={cfg.block_size}")
        x = self.tok_emb(idx)  # [B, 1, D]
        if cfg.scale_embeddings:
            x = x * math.sqrt(cfg.d_model)
        rope = None
        if self.pos_emb is not None:
            x = x + self.pos_emb(positions)[:, None]  # [B, 1, D]
        elif not cfg.no_positions:  # rotary: each row's own angle
            cos, sin = self.rope_cos[positions], self.rope_sin[positions]  # [B, hd]
            rope = (cos[:, None, None], sin[:, None, None])  # [B, 1, 1, hd]: heads, one token
        ctx = Context(cache, rope, None, idx)
        for block in self.blocks:
            x = block(x, ctx)  # [B, 1, D]
        cache.advance()
        weight = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight  # [V, D]
        return logits_and_loss(self.norm_f(x), weight, None)[0]  # [B, 1, V]

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        stop_token: int | None = None,
    ) -> torch.Tensor:
        """Continue ``idx [B, T]`` by up to ``max_new_tokens``; return ``[B, T + new]``.

        The prompt is run once to fill a :class:`KVCache`; each new token then costs one
        position. ``temperature=0`` is greedy decoding; otherwise sample from
        ``softmax(logits / temperature)`` restricted to the smallest set of tokens whose
        probability reaches ``top_p`` (nucleus sampling, Holtzman et al. 2020). Once a row has
        produced ``stop_token`` it keeps producing it, and decoding ends when every row has.
        Call ``model.eval()`` first if the model has dropout.
        """
        B, T = idx.shape
        if T + max_new_tokens > self.cfg.block_size:
            raise ValueError(
                f"prompt of {T} + {max_new_tokens} new tokens exceeds "
                f"block_size={self.cfg.block_size}"
            )
        cache = KVCache(self.cfg, B, idx.device, T + max_new_tokens, generator)
        logits, _ = self(idx, cache=cache)  # [B, T, V]
        out = [idx]
        done = torch.zeros(B, dtype=torch.bool, device=idx.device)
        for i in range(max_new_tokens):
            nxt = sample_next(logits[:, -1], temperature, top_p, generator)  # [B]
            if stop_token is not None:
                nxt = torch.where(done, stop_token, nxt)
                done |= nxt == stop_token
            out.append(nxt[:, None])
            if (stop_token is not None and bool(done.all())) or i == max_new_tokens - 1:
                break
            logits, _ = self(nxt[:, None], cache=cache)  # [B, 1, V]
        return torch.cat(out, dim=1)  # [B, T + new]

    # ------------------------------------------------------------------------- checkpoints
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``directory``."""
        return save_pretrained(self, self.cfg, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> Transformer:
        """Load a model written by :meth:`save_pretrained` (unknown config keys are errors)."""
        return load_pretrained(cls, TransformerConfig, directory, device)

    def extended(
        self, block_size: int, scaling: Literal["none", "linear", "ntk"] = "none"
    ) -> Transformer:
        """A copy of this model (the same weights) reading up to ``block_size`` tokens, its
        rotary angles scaled by ``block_size / trained block_size`` with ``scaling`` ("none":
        plain extrapolation to unseen positions). Only rotary or position-free models extend:
        learned position tables have nothing beyond the trained context."""
        cfg = self.cfg
        if self.pos_emb is not None or cfg.random_positions:
            raise ValueError("learned or randomized position tables cannot be extended")
        if block_size < cfg.block_size:
            raise ValueError(f"block_size={block_size} is below the trained {cfg.block_size}")
        factor = cfg.rope_factor * block_size / cfg.block_size
        new_cfg = dataclasses.replace(
            cfg,
            block_size=block_size,
            rope_scaling=scaling,
            rope_factor=factor if scaling != "none" else 1.0,
        )
        model = Transformer(new_cfg).to(next(self.parameters()).device)
        model.load_state_dict(self.state_dict())
        return model.train(self.training)


def logits_and_loss(
    h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The output layer: logits ``h W^T [B, T, V]`` of the final hidden states ``h [B, T, D]``
    (``weight`` ``[V, D]``) and, given ``targets [B, T]``, their mean cross-entropy, entries
    equal to ``IGNORE_INDEX`` left out."""
    logits = F.linear(h, weight)  # [B, T, V]
    if targets is None:
        return logits, None
    B, T = targets.shape
    loss = F.cross_entropy(
        logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=IGNORE_INDEX
    )
    return logits, loss


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One token per row of ``logits [B, V]``: greedy at temperature 0, else nucleus sampling."""
    if temperature == 0:
        return logits.argmax(dim=-1)  # [B]
    probs = F.softmax(logits / temperature, dim=-1)  # [B, V]
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)  # [B, V]
        # drop a token when the tokens ranked above it already reach top_p (keeps the first)
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]  # [B]
