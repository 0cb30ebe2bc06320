"""The transformer's attention variants for sequences longer than the trained ones.

Each is a flag of :class:`~palestra.models.architecture.TransformerFlags`, off by default; the
parameters stay in the attention layer and the block of :mod:`palestra.models.transformer`
(checkpoint names ``attn.sink``, ``attn.log_scale``, ``attn.token_q``, ``attn.fire.*``,
``canon.weight``), which call the functions here.

- ``random_positions=N``: randomized positional encodings (Ruoss et al. 2023): ``T`` tokens get
  a sorted random sample of ``T`` position ids from ``0 .. N-1`` (:func:`random_positions_for`),
  in training and in decoding, so attention sees distances up to ``N`` on short sequences.
- ``no_positions``: no position information at all (NoPE; Kazemnejad et al. 2023): order is
  only what the causal mask implies. Overrides ``rope``.
- ``nope_heads``: the last ``nope_heads`` query heads of every layer (and their key/value
  heads) get no rotary positions: content-only lookups that positions cannot distract, next to
  RoPE heads for local steps (like the NoPE layers of Llama 4, per head).
- ``rope_window``: the rotary heads see only the last ``rope_window`` tokens (themselves
  included), so they do local steps and never meet a distance longer than training showed;
  the ``nope_heads`` stay global (iRoPE-like: Llama 4 pairs chunked local RoPE attention with
  global NoPE layers). See :func:`head_mask`.
- ``token_heads``: the last ``token_heads`` heads of every layer look keys up by token
  identity: their queries and keys come from per-layer embedding tables of the tokens
  themselves (not from the residual stream), with no positions, over the whole sequence, and a
  query never matches its own token (the first token, ``<bos>``, is every query's fallback).
  Their values are the residual stream as usual. So such a head can only ask "where is token
  X?" and read what the layers below gathered there; it cannot count or measure distance,
  which is what lets a lookup by an index-hint tag work at any length.
- ``attn_sinks``: every head gets a learned sink logit, a virtual key with a zero value that
  takes whatever attention the real keys do not (gpt-oss; "off-by-one" softmax), and the
  windowed heads no longer see ``<bos>`` (:func:`with_sink`). Without it a windowed head uses
  ``<bos>`` as its sink while ``<bos>`` is in the window, and a token farther from the start
  than training put any such token computes something else.
- ``fire``: FIRE relative positions (Li et al. 2024) instead of rotary or learned ones: every
  layer adds a learned bias ``f(psi(i - j) / psi(max(L, i)))`` per head to the attention logit
  of query position ``i`` on key position ``j``, ``psi(x) = log(c x + 1)``, ``f`` a small MLP,
  ``c`` and ``L`` learned (:class:`FireBias`). Dividing by the query's own ``psi(i)``
  (progressive interpolation) keeps the input to ``f`` in ``[0, 1]`` at every length, which is
  what lets it extend past the trained lengths (Zhou et al. 2024 pair it with randomized
  positions and index hints for addition).
- ``canon``: a causal depthwise convolution of width ``canon`` on each block's normed input
  before attention, added back (``h + conv(h)``; Canon layers, Allen-Zhu 2025): every token
  mixes in its ``canon - 1`` predecessors without attention, so local steps ("the digit just
  before this tag") do not depend on where in a long sequence they happen
  (:class:`CausalConv`).
- ``attn_log_scale``: Scalable-Softmax (Nakanishi 2025): query ``i``'s logits are multiplied by
  ``s_h * log(i + 1)``, ``i + 1`` being the number of keys it sees, with a learned ``s_h`` per
  head, so attention does not fade (flatten) as sequences grow beyond the trained lengths
  (:func:`log_scaled`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

if TYPE_CHECKING:
    from palestra.models.architecture import TransformerFlags
    from palestra.models.transformer import KVCache, TransformerConfig

__all__ = [
    "CausalConv",
    "FireBias",
    "head_mask",
    "log_scaled",
    "random_positions_for",
    "sample_positions",
    "with_sink",
]


# ----------------------------------------------------------------------------- positions
def sample_positions(
    n: int, n_positions: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A sorted random sample of ``n`` distinct position ids from ``0 .. n_positions - 1``."""
    return torch.randperm(n_positions, generator=generator)[:n].sort().values  # [n]


def random_positions_for(
    n: int, cfg: TransformerFlags, training: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Position ids of ``n`` tokens under randomized positional encodings.

    The ids are a sorted sample from ``0 .. M-1``, so ``n / M`` is how densely they sit. In
    training ``M`` is uniform in ``n .. N`` (every density from ``n/N`` to 1; a padded batch
    would otherwise fix the density at batch length / N); in decoding ``M = min(N, 2n)``, a
    density of one half, inside the training range for every length up to ``N/2`` and close
    to it beyond. So a short test sequence is not spread thinner than any training one, nor a
    long one packed denser.
    """
    N = cfg.random_positions
    m = int(torch.randint(n, N + 1, (1,), generator=generator)) if training else min(N, 2 * n)
    return sample_positions(n, m, generator)  # [n]


class FireBias(nn.Module):
    """FIRE (Li et al. 2024, "Functional Interpolation for Relative Positions"): the additive
    attention bias ``b_h(i, j) = f(psi(i - j) / psi(max(L, i)))_h`` of one layer.

    ``psi(x) = log(c x + 1)`` compresses long distances (``c > 0`` learned, 1 at first); the
    division by ``psi`` of the query's own position maps every distance into ``[0, 1]``, so a
    longer sequence asks ``f`` for no input it has not seen. ``L`` (learned, at least 1) keeps
    early queries from dividing by a tiny number. ``f``: ``1 -> fire_hidden -> n_head`` MLP.
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(1, cfg.fire_hidden), nn.ReLU(), nn.Linear(cfg.fire_hidden, cfg.n_head)
        )
        self.log_c = nn.Parameter(torch.zeros(()))  # c = exp(log_c) = 1 at first
        self.threshold = nn.Parameter(torch.tensor(16.0))  # L

    def forward(self, query_pos: torch.Tensor, key_pos: torch.Tensor) -> torch.Tensor:
        """The bias ``[H, T, S]`` of queries at ``query_pos [T]`` on keys at ``key_pos [S]``
        (position ids, increasing), ``-inf`` where a key comes after its query."""
        c = self.log_c.exp()
        qp, kp = query_pos.float()[:, None], key_pos.float()[None, :]  # [T, 1], [1, S]
        dist = (qp - kp).clamp(min=0)  # [T, S]
        scale = torch.maximum(qp, self.threshold.abs().clamp(min=1.0))  # [T, 1]
        x = torch.log1p(c * dist) / torch.log1p(c * scale)  # [T, S], in [0, 1]
        bias = self.mlp(x[..., None]).permute(2, 0, 1)  # [H, T, S]
        return bias.masked_fill(kp > qp, float("-inf"))


# ----------------------------------------------------------------------------- attention
def log_scaled(q: torch.Tensor, s: torch.Tensor, past: int, cfg: TransformerFlags) -> torch.Tensor:
    """Scalable-Softmax: the queries ``q [B, H, T, hd]`` of positions ``past ..`` times
    ``s_h * log(n)``, ``n`` the number of keys each sees (at most ``rope_window`` for the
    windowed heads) and ``s [H]`` learned."""
    T = q.size(2)
    n_keys = torch.arange(past + 1, past + T + 1, device=q.device, dtype=q.dtype)  # [T]
    log_n = n_keys.log()[None, :].expand(cfg.n_head, T)  # [H, T]
    local = cfg.rope_heads if cfg.rope_window else 0  # the windowed heads come first
    if local:  # a windowed head never sees more than rope_window keys
        log_near = n_keys.clamp(max=cfg.rope_window).log()[None, :].expand(local, T)
        log_n = torch.cat([log_near, log_n[local:]])
    return q * (s[:, None] * log_n)[None, :, :, None]


def head_mask(
    cfg: TransformerFlags, past: int, T: int, sinks: bool, device: torch.device
) -> torch.Tensor | None:
    """The keys each head may see ``[1, H, T, past+T]`` (boolean) when the heads differ:
    query ``i`` sits at position ``past + i``; a windowed rotary head sees the last
    ``rope_window`` keys up to it (not ``<bos>`` when the heads have ``sinks``), a global head
    every key up to it, a token-keyed head every key before it (``<bos>`` itself sees only
    ``<bos>``). ``None`` when every head is an ordinary causal one."""
    local = cfg.rope_heads if cfg.rope_window else 0  # the windowed heads come first
    if not (local or cfg.token_heads):
        return None
    qi = torch.arange(past, past + T, device=device)[:, None]  # [T, 1]
    kj = torch.arange(past + T, device=device)[None, :]  # [1, S]
    causal, near = kj <= qi, qi - kj < cfg.rope_window  # [T, S] each
    if sinks:  # the sink replaces <bos> in the windowed heads
        near = near & ((kj > 0) | (qi == 0))
    not_self = causal & ((kj < qi) | (qi == 0))  # token-keyed: never the query's own
    mask = torch.stack(
        [causal & near] * local
        + [causal] * (cfg.n_head - local - cfg.token_heads)
        + [not_self] * cfg.token_heads
    )
    return mask[None]  # [1, H, T, S]


def with_sink(
    mask: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sink: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Put a zero key and value in front of ``k, v [B, Hkv, S, hd]`` and the per-head sink
    logit ``sink [H]`` in front of ``mask`` (boolean: allowed keys, or an additive bias, of
    shape ``[1, H or 1, T, S]``), which becomes an additive ``[1, H, T, 1+S]`` in ``dtype``."""
    if mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            ~mask, float("-inf")
        )
    H, T = sink.size(0), mask.size(2)
    logit = sink.to(dtype)[None, :, None, None].expand(1, H, T, 1)
    mask = torch.cat([logit, mask.expand(1, H, T, -1)], dim=-1)  # [1, H, T, 1+S]
    B, Hkv, _, hd = k.shape
    k = torch.cat([k.new_zeros(B, Hkv, 1, hd), k], dim=2)
    v = torch.cat([v.new_zeros(B, Hkv, 1, hd), v], dim=2)
    return mask, k, v


# ----------------------------------------------------------------------------- canon
class CausalConv(nn.Module):
    """Depthwise causal convolution over time: ``y_t = sum_i w_i * x_{t-i}``, ``i < width``,
    per channel (a Canon layer's mixing; zeros before the first token)."""

    def __init__(self, cfg: TransformerFlags, layer: int) -> None:
        super().__init__()
        self.layer, self.width = layer, cfg.canon
        self.weight = nn.Parameter(torch.randn(cfg.d_model, 1, cfg.canon) * 0.02)  # [D, 1, k]

    def forward(self, h: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """``h [B, T, D]`` after the cached predecessors (if any); the cache keeps the last
        ``width - 1`` inputs for the next call."""
        B, _, D = h.shape
        past = cache.conv[self.layer] if cache is not None else None  # [B, k-1, D]
        history = h.new_zeros(B, self.width - 1, D) if past is None else past
        full = torch.cat([history, h], dim=1)  # [B, k-1+T, D]
        if cache is not None and self.width > 1:
            cache.conv[self.layer] = full[:, -(self.width - 1) :]
        y = F.conv1d(full.transpose(1, 2), self.weight, groups=D)  # [B, D, T]
        return y.transpose(1, 2)  # [B, T, D]
