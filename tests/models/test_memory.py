"""Memory attention (Focused Transformer): kernels against plain attention and brute force."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from palestra.models.memory import (
    CrossBatch,
    KNNMemory,
    crossbatch_groups,
    crossbatch_mask,
    generate_with_memory,
    read_chunks,
)
from palestra.models.transformer import Context, Transformer, TransformerConfig


def _config(**kw: object) -> TransformerConfig:
    base = dict(vocab_size=17, n_layer=2, n_head=2, d_model=16, block_size=8, memory_layers=(1,))
    return TransformerConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_empty_memory_is_plain_attention() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 6, 8), torch.randn(2, 2, 6, 8), torch.randn(2, 2, 6, 8)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    got = KNNMemory(topk=4).attend(1, q, k, v)
    assert torch.allclose(got, expected, atol=1e-6)
    # the whole model: an empty memory changes nothing
    model = Transformer(_config()).eval()
    idx = torch.randint(0, 17, (3, 8))
    plain, _ = model(idx)
    with_memory, _ = model(idx, memory=KNNMemory(topk=4))
    assert torch.allclose(plain, with_memory, atol=1e-5)


def test_retrieval_is_the_true_top_k() -> None:
    torch.manual_seed(1)
    memory = KNNMemory(topk=5)
    memory.keys[0] = torch.randn(2, 1, 40, 8)  # [B, Hkv, M, hd]
    memory.values[0] = torch.randn(2, 1, 40, 8)
    q = torch.randn(2, 2, 3, 8)  # two query heads share the one key head
    scores, index = memory.retrieve(0, q)
    for b in range(2):
        for h in range(2):
            for t in range(3):
                brute = [(float(q[b, h, t] @ memory.keys[0][b, 0, m]), m) for m in range(40)]
                best = sorted(brute, reverse=True)[:5]
                assert index[b, h, t].tolist() == [m for _, m in best]
                assert torch.allclose(scores[b, h, t], torch.tensor([s for s, _ in best]))


def test_chunked_memory_with_all_keys_equals_full_attention() -> None:
    """One memory layer (no positions): reading chunks with k >= the memory's size is causal
    attention over the concatenation."""
    torch.manual_seed(2)
    cfg = _config(n_layer=1, memory_layers=(0,), block_size=24, memory_topk=1000)
    attn = Transformer(cfg).blocks[0].attn
    x = torch.randn(2, 24, 16)  # three chunks of 8
    full = attn(x, Context())  # [B, 24, D]
    memory = KNNMemory(topk=1000)
    parts = []
    for c in range(3):
        parts.append(attn(x[:, 8 * c : 8 * (c + 1)], Context(memory=memory)))
        memory.commit()
    assert memory.size(0) == 24
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)


def test_read_chunks_keeps_the_last_chunk_local() -> None:
    torch.manual_seed(3)
    model = Transformer(_config()).eval()
    idx = torch.randint(0, 17, (2, 21))
    logits, memory = read_chunks(model, idx)
    assert logits.shape == (2, 5, 17)  # 21 = 2 chunks of 8 in memory + 5 local tokens
    assert memory.size(1) == 16 and not memory.pending
    out = generate_with_memory(model, idx, 12)  # crosses a chunk boundary while decoding
    assert out.shape == (2, 33) and torch.equal(out[:, :21], idx)


def test_crossbatch_negatives_come_from_other_documents_only() -> None:
    groups = crossbatch_groups(5, 3)
    assert groups[:, 0].tolist() == list(range(5))  # own document first
    for b in range(5):
        others = groups[b, 1:].tolist()
        assert b not in others and len(set(others)) == 2
    mask = crossbatch_mask(5, 3, 3, 4)  # [15, 3*3*4]
    for b in range(5):
        for c in range(3):
            seen = mask[b * 3 + c].view(3, 3, 4)  # (group member, chunk, token)
            assert seen[:, :c].all() and not seen[:, c:].any()  # earlier chunks only
    with pytest.raises(ValueError):
        crossbatch_groups(2, 3)


def test_crossbatch_attention_sees_exactly_its_memory() -> None:
    """Zero queries attend uniformly: the output is the mean of the visible values."""
    B, C, L, hd = 3, 2, 2, 4
    cross = CrossBatch(B, C, d=2)
    q = torch.zeros(B * C, 1, L, hd)
    k = torch.zeros(B * C, 1, L, hd)
    v = torch.zeros(B * C, 1, L, hd)
    for r in range(B * C):
        v[r, 0, :, 0] = r  # a row's values name the row: doc b, chunk c is row b*C + c
    y = cross.attend(0, q, k, v)  # [R, 1, L, hd]
    for b in range(B):
        own_first = b * C
        # chunk 1, token 0 sees: chunk 0 of docs b and b-1 (2 keys each), itself
        expected = (2 * own_first + 2 * ((b - 1) % B) * C + (own_first + 1)) / 5
        assert y[own_first + 1, 0, 0, 0].item() == pytest.approx(expected)
        assert y[own_first, 0, 1, 0].item() == pytest.approx(own_first)  # chunk 0: local only


def test_training_forward_reads_chunks_and_learns_shapes() -> None:
    torch.manual_seed(4)
    model = Transformer(_config(memory_crossbatch=2))
    idx = torch.randint(0, 17, (4, 24))
    logits, loss = model(idx, idx)
    assert logits.shape == (4, 24, 17) and loss is not None
    loss.backward()
    assert model.blocks[1].attn.q_proj.weight.grad is not None
    with pytest.raises(ValueError):
        model(torch.randint(0, 17, (4, 20)))  # not a multiple of block_size


def test_memory_flags_are_checked() -> None:
    with pytest.raises(ValueError):
        _config(memory_layers=(2,))
    with pytest.raises(ValueError):
        _config(token_heads=1)
    assert TransformerConfig().memory_layers == ()
