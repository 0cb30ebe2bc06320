"""The transformer's architecture choices as config fields, declared once for every user.

:class:`TransformerShape` (layers, heads, width, context) and :class:`TransformerFlags` (the
choices of attention, positions and block that ``palestra train lm`` offers, with their
validity checks) are the base classes of the model's
:class:`~palestra.models.transformer.TransformerConfig`, of the training config
``palestra train lm`` (:class:`~palestra.lm.config.LMTrainConfig`, whose options are these
fields) and of the LM benches' options. A command that wants other defaults says so with
:func:`~palestra.core.config.with_defaults`. What each choice computes is written in
:mod:`palestra.models.transformer`.

Torch-free: the CLI imports it at start-up to build its options.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from palestra.core.config import Config, arg

__all__ = ["TransformerFlags", "TransformerShape", "flag_values", "shape_values"]


@dataclass
class TransformerShape(Config):
    """How big: blocks, heads, width and context."""

    n_layer: int = arg(4, "Transformer blocks.", min=1)
    n_head: int = arg(4, "Query heads per block.", min=1)
    d_model: int = arg(128, "Width of the residual stream.", min=1)
    block_size: int = arg(
        256, "Longest sequence in tokens (prompt and continuation together).", min=1
    )

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not a multiple of n_head={self.n_head}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


@dataclass
class TransformerFlags(TransformerShape):
    """The architecture a user picks: the shape, attention, positions and block kind.

    Defaults give a small PaLM-style model (RoPE, RMSNorm, SwiGLU, multi-head attention).
    """

    n_kv_heads: int | None = arg(None, "Key/value heads: unset = n_head, 1 = multi-query.", min=1)
    mlp: Literal["swiglu", "geglu", "gelu"] = arg("swiglu", "MLP kind.")
    parallel_block: bool = arg(False, "PaLM's parallel attention + MLP block.")
    rope: bool = arg(True, "Rotary position embeddings (else learned absolute ones).")
    random_positions: int = arg(
        0,
        "0: positions 0..T-1. N >= block_size: each sequence gets a sorted random sample of "
        "positions from 0..N-1 (randomized positional encodings, Ruoss et al. 2023), which "
        "helps length generalisation.",
    )
    no_positions: bool = arg(
        False, "NoPE: no position information at all, only the causal mask (overrides rope)."
    )
    nope_heads: int = arg(
        0,
        "Heads per layer without rotary positions (content-only lookups next to RoPE heads); "
        "a multiple of n_head / n_kv_heads.",
    )
    rope_window: int = arg(
        0,
        "> 0: the rotary heads attend only to the last rope_window tokens (local steps), the "
        "--nope-heads stay global.",
    )
    token_heads: int = arg(
        0,
        "Heads per layer (the last ones) that look keys up by token identity: queries and "
        "keys are embeddings of the tokens, no positions, never the query's own token.",
    )
    attn_sinks: bool = arg(
        False,
        "A learned sink logit per head (a zero key and value that takes leftover attention); "
        "windowed heads stop seeing <bos>.",
    )
    fire: bool = arg(
        False,
        "FIRE relative positions (Li et al. 2024): a learned per-head attention bias of the "
        "log distance divided by the log of the query's position; overrides --rope.",
    )
    canon: int = arg(
        0,
        "> 0: a causal depthwise convolution of this width before attention in every block "
        "(Canon layers): each token mixes in its last canon-1 predecessors without attention.",
    )
    attn_log_scale: bool = arg(
        False,
        "Scalable-Softmax: scale query i's attention logits by a learned s_h * log(i + 1), so "
        "attention stays sharp on sequences longer than the trained ones.",
    )
    dropout: float = arg(0.0, "Dropout probability.", min=0, below=1)
    memory_layers: tuple[int, ...] = arg(
        (),
        "Focused Transformer memory attention in these layers (0-based): they also attend to "
        "(key, value) pairs of earlier block_size chunks of the document, without positions "
        "(palestra.models.memory); training inputs are then several chunks long.",
        min=0,
    )
    memory_topk: int = arg(
        32, "Memory layers at inference: memory keys each query retrieves (exact top-k).", min=1
    )
    memory_crossbatch: int = arg(
        1,
        "Memory layers in training: FoT's cross-batch d, documents whose earlier chunks each "
        "row's memory holds (its own and d-1 others of the batch as negatives); 1: no negatives.",
        min=1,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_head % self.kv_heads:
            raise ValueError(
                f"n_head={self.n_head} is not a multiple of n_kv_heads={self.kv_heads}"
            )
        if self.rope and self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head size, got {self.head_dim}")
        if self.no_positions and self.random_positions:
            raise ValueError("no_positions and random_positions exclude each other")
        if self.no_positions and self.fire:
            raise ValueError("no_positions and fire exclude each other")
        group = self.n_head // self.kv_heads  # query heads per key/value head
        if self.nope_heads:
            if not self.uses_rope or not 0 < self.nope_heads <= self.n_head:
                raise ValueError(f"nope_heads={self.nope_heads} needs rope and 1..n_head heads")
            if self.nope_heads % group:
                raise ValueError(
                    f"nope_heads={self.nope_heads} is not a multiple of the {group} query heads "
                    "that share a key/value head"
                )
        if self.token_heads:
            if not 0 < self.token_heads + self.nope_heads <= self.n_head:
                raise ValueError(
                    f"token_heads={self.token_heads} and nope_heads={self.nope_heads} "
                    f"exceed the {self.n_head} heads"
                )
            if self.token_heads % group:
                raise ValueError(
                    f"token_heads={self.token_heads} is not a multiple of the {group} query "
                    "heads that share a key/value head"
                )
            if self.fire:
                raise ValueError("token_heads and fire exclude each other")
        if self.canon < 0:
            raise ValueError(f"canon={self.canon} must be >= 0")
        if self.rope_window < 0 or (self.rope_window and not self.uses_rope):
            raise ValueError(f"rope_window={self.rope_window} needs rope and a size >= 0")
        if self.memory_layers:
            if max(self.memory_layers) >= self.n_layer:
                raise ValueError(
                    f"memory_layers={list(self.memory_layers)} names a layer beyond "
                    f"n_layer={self.n_layer}"
                )
            excluded = ("random_positions", "fire", "token_heads", "attn_sinks", "attn_log_scale")
            other = [n for n in (*excluded, "rope_window", "nope_heads") if getattr(self, n)]
            if other:
                raise ValueError(f"memory_layers do not combine with {', '.join(other)}")
        if self.random_positions and self.random_positions < self.block_size:
            raise ValueError(
                f"random_positions={self.random_positions} must be at least "
                f"block_size={self.block_size}"
            )

    @property
    def kv_heads(self) -> int:
        return self.n_head if self.n_kv_heads is None else self.n_kv_heads

    @property
    def uses_rope(self) -> bool:
        return self.rope and not self.no_positions and not self.fire

    @property
    def rope_heads(self) -> int:
        """Heads per layer that get rotary positions (the first ones; see nope_heads)."""
        return self.n_head - self.nope_heads - self.token_heads

    @property
    def n_positions(self) -> int:
        """Size of the position tables: the largest position id plus one."""
        return max(self.block_size, self.random_positions)

    def head_kinds(self) -> list[str]:
        """What each head of a layer is, in order: ``rotary`` (``rotary, last N`` when
        windowed), ``no positions`` or ``token-keyed``; learned or FIRE positions apply to
        every head that is not token-keyed."""
        if not self.uses_rope:
            plain = "no positions" if self.no_positions else "FIRE" if self.fire else "learned"
            return [plain] * (self.n_head - self.token_heads) + ["token-keyed"] * self.token_heads
        rotary = f"rotary, last {self.rope_window}" if self.rope_window else "rotary"
        return (
            [rotary] * self.rope_heads
            + ["no positions"] * self.nope_heads
            + ["token-keyed"] * self.token_heads
        )


def shape_values(cfg: TransformerShape) -> dict[str, Any]:
    """The :class:`TransformerShape` fields of ``cfg`` (any config that inherits them)."""
    return {f.name: getattr(cfg, f.name) for f in fields(TransformerShape)}


def flag_values(cfg: TransformerFlags) -> dict[str, Any]:
    """The :class:`TransformerFlags` fields of ``cfg``, e.g. to build the model's config from
    a training config: ``TransformerConfig(vocab_size=V, **flag_values(cfg))``."""
    return {f.name: getattr(cfg, f.name) for f in fields(TransformerFlags)}
