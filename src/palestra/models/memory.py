"""Memory attention of the Focused Transformer (FoT; Tworkowski et al. 2023, "Focused
Transformer: Contrastive Training for Context Scaling"): chosen layers also attend to a memory
of (key, value) pairs from earlier chunks of the same document.

The layers are chosen with ``memory_layers`` (a flag of
:class:`~palestra.models.architecture.TransformerFlags`); every other layer sees only its
local chunk of ``block_size`` tokens. Two ways to fill a memory layer's memory, one object each,
both called by the attention layer of :mod:`palestra.models.transformer` as
``memory.attend(layer, q, k, v)``:

**Inference** (:class:`KNNMemory`): a long input is read chunk by chunk (:func:`read_chunks`,
:func:`generate_with_memory`); each chunk is a fresh local context at positions ``0 .. L-1``,
and after it the memory layers' keys and values of the chunk are appended to the memory. Query
``q_i`` of the current chunk (position ``i``) sees its causal local keys ``k_j, j <= i`` and its
``k`` nearest memory keys by inner product, ``R_i = top-k_m (q_i . m_m)`` (exact search,
``torch.topk`` over every stored key; no faiss at this scale), in **one softmax**::

    s_ij = q_i . k_j / sqrt(hd)   (j <= i),     r_im = q_i . m_m / sqrt(hd)   (m in R_i)
    y_i  = sum_j softmax(s_i, r_i)_j v_j  +  sum_{m in R_i} softmax(s_i, r_i)_m u_m

(``u_m`` the value stored with ``m_m``). With ``k`` at least the memory's size this is exact
causal attention over the concatenation of every chunk read so far (a test checks it).

**Training, cross-batch** (:class:`CrossBatch`, FoT's contribution): a batch of ``B``
documents of ``C`` chunks each runs as ``B*C`` rows of ``L`` tokens. In a memory layer, row
``(b, c)`` attends, with one softmax and **no top-k** (all keys, so the memory is
differentiable, as in FoT), to its local chunk and to the keys and values of the chunks
``c' < c`` of the ``d`` documents ``G(b) = {b, b-1, ..., b-d+1} (mod B)``: its own earlier
chunks (the positives, what a growing memory would hold) and the same earlier chunks of
``d - 1`` other documents of the batch (the negatives, which a key must learn not to match).
``d = memory_crossbatch``; ``d = 1`` is training with the document's own previous context and
no negatives (the "without cross-batch" ablation). A document's first chunk has an empty
memory.

**Positions**: as in FoT's smaller models, memory layers use no positional encoding at all (no
rotary angles on their local queries and keys nor on the memory's keys; order comes only from
the causal mask), so a stored key means the same whatever chunk it came from. LongLLaMA
instead rotates memory keys as if they sat at the start of the local context; not done here.

Not done: FoT's cross-batch stepping (rows of one batch with different ``d``) and any ``d``
schedule; approximate search, memory eviction or a memory shared across batch rows (each row
of a :class:`KNNMemory` has its own document's memory); a key/value cache for the local layers
across chunks (a chunk's non-memory layers never see the previous chunk, in training and in
inference alike, so a fact split across a chunk boundary is lost to them).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from palestra.models.transformer import Transformer

__all__ = [
    "CrossBatch",
    "KNNMemory",
    "crossbatch_groups",
    "crossbatch_mask",
    "generate_with_memory",
    "read_chunks",
]


def _expand_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """``x [B, Hkv, S, hd]`` with each key/value head repeated for its query heads."""
    return x.repeat_interleave(n_head // x.size(1), dim=1)  # [B, H, S, hd]


# ----------------------------------------------------------------------------- inference
class KNNMemory:
    """The memory of every memory layer for a batch of ``B`` documents read side by side.

    :meth:`attend` (called by a memory layer) stores the chunk's keys and values as pending;
    :meth:`commit` appends them to the memory once the chunk is done, so a chunk never
    retrieves its own keys (it sees those through the causal local attention).
    """

    def __init__(self, topk: int) -> None:
        if topk < 1:
            raise ValueError(f"topk must be at least 1, got {topk}")
        self.topk = topk
        self.keys: dict[int, torch.Tensor] = {}  # layer -> [B, Hkv, M, hd]
        self.values: dict[int, torch.Tensor] = {}  # layer -> [B, Hkv, M, hd]
        self.pending: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def size(self, layer: int) -> int:
        """Keys stored for ``layer``."""
        return 0 if layer not in self.keys else self.keys[layer].size(2)

    def retrieve(self, layer: int, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact top-k memory keys of every query of ``q [B, H, T, hd]`` by inner product:
        their scores ``q . m [B, H, T, k]`` (largest first) and indices ``[B, H, T, k]``."""
        keys = _expand_heads(self.keys[layer], q.size(1))  # [B, H, M, hd]
        scores = q @ keys.transpose(-1, -2)  # [B, H, T, M]
        top = scores.topk(min(self.topk, keys.size(2)), dim=-1)
        return top.values, top.indices  # [B, H, T, k] each

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Causal attention of ``q [B, H, T, hd]`` over the chunk's ``k, v [B, Hkv, T, hd]``
        and the top-k memory entries, one softmax (module docstring); ``[B, H, T, hd]``."""
        self.pending[layer] = (k.detach(), v.detach())
        H, T, hd = q.size(1), q.size(2), q.size(3)
        if not self.size(layer):
            return F.scaled_dot_product_attention(
                q, k, v, is_causal=T > 1, enable_gqa=k.size(1) != H
            )
        scale = 1.0 / math.sqrt(hd)
        mem_scores, index = self.retrieve(layer, q)  # [B, H, T, k]
        values = _expand_heads(self.values[layer], H)  # [B, H, M, hd]
        B, _, M, _ = values.shape
        kk = index.size(-1)
        picked = torch.gather(  # the retrieved values u_m
            values[:, :, None].expand(B, H, T, M, hd),
            3,
            index[..., None].expand(B, H, T, kk, hd),
        )  # [B, H, T, k, hd]
        local = (q @ _expand_heads(k, H).transpose(-1, -2)) * scale  # [B, H, T, T]
        causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        local = local.masked_fill(~causal, float("-inf"))
        weights = torch.cat([mem_scores * scale, local], dim=-1).softmax(dim=-1)  # [B,H,T,k+T]
        y_mem = (weights[..., :kk, None] * picked).sum(dim=3)  # [B, H, T, hd]
        return y_mem + weights[..., kk:] @ _expand_heads(v, H)  # [B, H, T, hd]

    def commit(self) -> None:
        """Append the pending chunk's keys and values to each layer's memory."""
        for layer, (k, v) in self.pending.items():
            if layer in self.keys:
                k = torch.cat([self.keys[layer], k], dim=2)
                v = torch.cat([self.values[layer], v], dim=2)
            self.keys[layer], self.values[layer] = k, v  # [B, Hkv, M, hd]
        self.pending = {}


@torch.no_grad()
def read_chunks(
    model: Transformer, idx: torch.Tensor, memory: KNNMemory | None = None
) -> tuple[torch.Tensor, KNNMemory]:
    """Read ``idx [B, N]`` (any length) chunk by chunk into a :class:`KNNMemory`: every chunk
    of ``block_size`` tokens but the last is read and committed; the last (1 to
    ``block_size`` tokens, not committed) gives the returned logits ``[B, T_last, V]``."""
    L = model.cfg.block_size
    memory = memory if memory is not None else KNNMemory(model.cfg.memory_topk)
    N = idx.size(1)
    if N < 1:
        raise ValueError("nothing to read")
    full = (N - 1) // L  # chunks committed; the rest is the current local context
    for c in range(full):
        model(idx[:, c * L : (c + 1) * L], memory=memory)
        memory.commit()
    logits, _ = model(idx[:, full * L :], memory=memory)
    memory.pending = {}
    return logits, memory


@torch.no_grad()
def generate_with_memory(
    model: Transformer, idx: torch.Tensor, max_new_tokens: int
) -> torch.Tensor:
    """Greedy continuation of ``idx [B, N]`` (any length) by ``max_new_tokens``, the prompt
    read into memory chunk by chunk; returns ``[B, N + new]``. The current chunk is re-read
    with each new token (no local KV cache), which costs little for short answers."""
    model.eval()
    out = idx
    logits, memory = read_chunks(model, idx)
    L = model.cfg.block_size
    committed = ((idx.size(1) - 1) // L) * L
    for i in range(max_new_tokens):
        nxt = logits[:, -1].argmax(dim=-1, keepdim=True)  # [B, 1]
        out = torch.cat([out, nxt], dim=1)
        if i == max_new_tokens - 1:
            break
        if out.size(1) - committed > L:  # the current chunk is full: commit it
            model(out[:, committed : committed + L], memory=memory)
            memory.commit()
            committed += L
        logits, _ = model(out[:, committed:], memory=memory)
        memory.pending = {}
    return out


# ----------------------------------------------------------------------------- training
def crossbatch_groups(docs: int, d: int) -> torch.Tensor:
    """``[docs, d]``: row ``b`` lists the documents whose earlier chunks row ``b``'s memory
    holds, ``b, b-1, ..., b-d+1 (mod docs)``: itself first, then ``d-1`` others."""
    if not 1 <= d <= docs:
        raise ValueError(f"cross-batch d={d} needs 1 <= d <= documents in the batch ({docs})")
    return (torch.arange(docs)[:, None] - torch.arange(d)[None, :]) % docs


def crossbatch_mask(docs: int, chunks: int, d: int, length: int) -> torch.Tensor:
    """Which memory keys each row may see, ``[docs*chunks, d*chunks*length]`` boolean.

    Row ``r = b*chunks + c``; memory key ``(g, c', j)`` (group member ``g``, its chunk ``c'``,
    token ``j``, in that order) is visible when ``c' < c``."""
    key_chunk = torch.arange(chunks).repeat_interleave(length).repeat(d)  # [d*C*L]
    row_chunk = torch.arange(chunks).repeat(docs)  # [B*C]
    return key_chunk[None, :] < row_chunk[:, None]  # [B*C, d*C*L]


class CrossBatch:
    """FoT's cross-batch memory for one training forward pass of ``docs`` documents of
    ``chunks`` chunks each (rows ``b*chunks + c``), ``d`` documents per memory."""

    def __init__(self, docs: int, chunks: int, d: int) -> None:
        self.docs, self.chunks, self.d = docs, chunks, d
        self.groups = crossbatch_groups(docs, d)  # [B, d]

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``q [R, H, L, hd]``, ``k, v [R, Hkv, L, hd]`` for the ``R = B*C`` rows; returns
        ``[R, H, L, hd]``: causal local attention and the visible memory, one softmax."""
        B, C, d = self.docs, self.chunks, self.d
        R, Hkv, L, hd = k.shape
        if R != B * C:
            raise ValueError(f"cross-batch expects {B}*{C} rows, got {R}")
        groups = self.groups.to(k.device)
        M = d * C * L

        def memory_of(x: torch.Tensor) -> torch.Tensor:
            per_doc = x.view(B, C, Hkv, L, hd)[groups]  # [B, d, C, Hkv, L, hd]
            mem = per_doc.permute(0, 3, 1, 2, 4, 5).reshape(B, Hkv, M, hd)  # order (g, c', j)
            return mem[:, None].expand(B, C, Hkv, M, hd).reshape(R, Hkv, M, hd)

        visible = crossbatch_mask(B, C, d, L).to(k.device)  # [R, M]
        causal = torch.ones(L, L, dtype=torch.bool, device=k.device).tril()  # [L, L]
        mask = torch.cat([visible[:, None, :].expand(R, L, M), causal.expand(R, L, L)], dim=-1)[
            :, None
        ]  # [R, 1, L, M + L]
        keys = torch.cat([memory_of(k), k], dim=2)  # [R, Hkv, M + L, hd]
        values = torch.cat([memory_of(v), v], dim=2)
        return F.scaled_dot_product_attention(
            q, keys, values, attn_mask=mask, enable_gqa=Hkv != q.size(1)
        )  # [R, H, L, hd]
