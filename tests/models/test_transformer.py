"""The transformer: shapes, causality, KV-cache decoding, generation, safetensors round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from palestra.core.errors import ConfigError
from palestra.models.hourglass import flops_per_token
from palestra.models.length_generalisation import FireBias
from palestra.models.sparse_ff import SparseFF
from palestra.models.transformer import (
    MLP,
    KVCache,
    Transformer,
    TransformerConfig,
    record_attention,
)

VOCAB = 23

# the block variants: the default PaLM-style one, and each flag flipped somewhere
VARIANTS = {
    "palm": {},
    "mqa-parallel-geglu": {"n_kv_heads": 1, "parallel_block": True, "mlp": "geglu"},
    "gqa-gpt2-like": {
        "n_kv_heads": 2,
        "rope": False,
        "norm": "layernorm",
        "mlp": "gelu",
        "bias": True,
        "tie_embeddings": False,
    },
    "gemma-like": {"mlp": "geglu", "scale_embeddings": True, "n_kv_heads": 1},
    "scalable-softmax": {"attn_log_scale": True},
    "nope": {"no_positions": True},
    "nope-heads-gqa": {"nope_heads": 2, "n_kv_heads": 2},
    "local-rope-global-nope": {"nope_heads": 2, "rope_window": 3, "attn_log_scale": True},
    "fire-ssmax-gqa": {"fire": True, "attn_log_scale": True, "n_kv_heads": 2},
    "canon": {"canon": 3},
    "token-heads-local-rope": {"token_heads": 2, "rope_window": 3, "attn_log_scale": True},
    "token-nope-gqa": {"token_heads": 2, "nope_heads": 2, "n_kv_heads": 2},
    "sinks-window-tokens": {"attn_sinks": True, "rope_window": 4, "token_heads": 1},
    "sinks-fire-gqa": {"attn_sinks": True, "fire": True, "n_kv_heads": 2},
    "canon-parallel-fire": {"canon": 4, "parallel_block": True, "fire": True},
}


def tiny(**overrides: object) -> Transformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=VOCAB, block_size=24, n_layer=2, n_head=4, d_model=32, **overrides
    )
    return Transformer(cfg).eval()


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_and_loss(variant: str) -> None:
    model = tiny(**VARIANTS[variant])
    idx = torch.randint(0, VOCAB, (3, 10))
    logits, loss = model(idx)
    assert logits.shape == (3, 10, VOCAB) and loss is None
    targets = torch.randint(0, VOCAB, (3, 10))  # not idx: a tied model favours its input
    targets[:, :4] = -100  # ignored positions
    _, loss = model(idx, targets)
    assert loss is not None and loss.ndim == 0 and torch.isfinite(loss)
    # an untrained model is close to uniform
    assert abs(loss.item() - torch.log(torch.tensor(float(VOCAB))).item()) < 0.5


def test_variants_have_the_parts_they_claim() -> None:
    names = set(dict(tiny().named_parameters()))
    assert not any("bias" in n for n in names), "PaLM default has no biases"
    assert "lm_head.weight" not in names, "embeddings are tied by default"
    assert "blocks.0.mlp.gate.weight" in names and "blocks.0.norm_2.weight" in names
    parallel = set(dict(tiny(parallel_block=True).named_parameters()))
    assert "blocks.0.norm_2.weight" not in parallel, "the parallel block shares one norm"
    mqa = tiny(n_kv_heads=1)
    assert mqa.blocks[0].attn.k_proj.weight.shape == (32 // 4, 32)  # one key head of size 8
    plain = set(dict(tiny(mlp="gelu", tie_embeddings=False).named_parameters()))
    assert "blocks.0.mlp.gate.weight" not in plain and "lm_head.weight" in plain


@pytest.mark.parametrize("variant", VARIANTS)
def test_causality(variant: str) -> None:
    """Changing token t leaves the logits at positions before t unchanged."""
    model = tiny(**VARIANTS[variant])
    idx = torch.randint(0, VOCAB, (2, 16))
    t = 9
    changed = idx.clone()
    changed[:, t] = (idx[:, t] + 1) % VOCAB
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.equal(a[:, :t], b[:, :t])
    assert not torch.allclose(a[:, t:], b[:, t:])


@pytest.mark.parametrize("variant", VARIANTS)
def test_kv_cache_matches_full_forward(variant: str) -> None:
    """Prefill, a chunk of several tokens, then one token at a time: same logits as one pass."""
    model = tiny(**VARIANTS[variant])
    idx = torch.randint(0, VOCAB, (3, 20))
    full, _ = model(idx)
    cache = KVCache(model.cfg, 3, idx.device)
    pieces = [model(idx[:, :6], cache=cache)[0], model(idx[:, 6:11], cache=cache)[0]]
    pieces += [model(idx[:, t : t + 1], cache=cache)[0] for t in range(11, 20)]
    assert cache.pos == 20
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_recorded_attention_is_the_attention_used(variant: str) -> None:
    """record_attention computes what SDPA computes (same logits, full pass and cached
    decoding) and keeps causal weights that sum to one; outside the block nothing is kept."""
    model = tiny(**VARIANTS[variant])
    idx = torch.randint(0, VOCAB, (2, 10))
    torch.manual_seed(1)
    plain, _ = model(idx)
    with record_attention(model) as maps:
        torch.manual_seed(1)
        recorded, _ = model(idx)
        cache = KVCache(model.cfg, 2, idx.device, 10, torch.Generator().manual_seed(2))
        model(idx[:, :7], cache=cache)
        model(idx[:, 7:], cache=cache)
    torch.testing.assert_close(recorded, plain, rtol=1e-5, atol=1e-5)
    assert len(maps) == 3 * model.cfg.n_layer  # full pass, then two cached chunks
    for w in maps[:2]:
        assert w.shape == (2, 4, 10, 10)
        if model.cfg.attn_sinks:  # the sink (not recorded) takes the rest
            assert torch.all(w.sum(-1) < 1) and torch.all(w.sum(-1) > 0)
        else:
            torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 10))
        assert torch.all(w.triu(diagonal=1) == 0)
    assert maps[-1].shape == (2, 4, 3, 10)  # 3 queries at positions 7..9 see 10 keys
    assert torch.all(maps[-1][..., 0, 8:] == 0)
    model(idx)
    assert len(maps) == 3 * model.cfg.n_layer


def test_greedy_generate_equals_argmax_of_full_forward() -> None:
    model = tiny(n_kv_heads=2)
    prompt = torch.randint(0, VOCAB, (2, 5))
    out = model.generate(prompt, 8, temperature=0.0)
    assert out.shape == (2, 13) and torch.equal(out[:, :5], prompt)
    seq = prompt
    for _ in range(8):  # the slow way: the whole sequence every step, no cache
        nxt = model(seq)[0][:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    assert torch.equal(out, seq)


def test_sampling_is_seeded_and_top_p_small_is_greedy() -> None:
    model = tiny()
    prompt = torch.randint(0, VOCAB, (4, 3))

    def sample(seed: int, **kw: float) -> torch.Tensor:
        return model.generate(prompt, 10, generator=torch.Generator().manual_seed(seed), **kw)

    assert torch.equal(sample(1, temperature=1.0), sample(1, temperature=1.0))
    assert not torch.equal(sample(1, temperature=5.0), sample(2, temperature=5.0))
    greedy = model.generate(prompt, 10, temperature=0.0)
    assert torch.equal(sample(3, temperature=1.0, top_p=1e-6), greedy)


def test_generate_stops_and_checks_length() -> None:
    model = tiny()
    prompt = torch.randint(0, VOCAB, (2, 4))
    first = model.generate(prompt, 1, temperature=0.0)[:, -1]
    out = model.generate(prompt, 10, temperature=0.0, stop_token=int(first[0]))
    assert (out[0, 4:] == first[0]).all()  # row 0 stopped at once and stays stopped
    with pytest.raises(ValueError, match="block_size"):
        model.generate(prompt, 21)


def test_safetensors_round_trip(tmp_path: Path) -> None:
    model = tiny(n_kv_heads=1, parallel_block=True)
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["n_kv_heads"] == 1 and saved["parallel_block"] is True
    again = Transformer.from_pretrained(tmp_path / "m").eval()
    assert again.cfg == model.cfg
    for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    idx = torch.randint(0, VOCAB, (2, 12))
    assert torch.equal(model(idx)[0], again(idx)[0])


def test_untied_round_trip_and_unknown_config_key(tmp_path: Path) -> None:
    model = tiny(tie_embeddings=False, rope=False)
    model.save_pretrained(tmp_path)
    again = Transformer.from_pretrained(tmp_path)
    assert torch.equal(again.lm_head.weight, model.lm_head.weight)
    data = json.loads((tmp_path / "config.json").read_text())
    data["n_layers"] = 3
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="unknown key 'n_layers'"):
        Transformer.from_pretrained(tmp_path)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="multiple of n_head"):
        TransformerConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match="n_kv_heads"):
        TransformerConfig(n_head=4, n_kv_heads=3)
    assert TransformerConfig(d_model=96, mlp="swiglu").ff_dim == 256
    assert TransformerConfig(d_model=96, mlp="gelu").ff_dim == 384


# ----------------------------------------------------------------------------- sparse FF
SPARSE = {"ff": "sparse", "sparse_block": 8, "sparse_rank": 8}  # d_ff 128: 16 blocks of 8


def test_sparse_ff_config() -> None:
    cfg = TransformerConfig(d_model=32, n_head=4, **SPARSE)
    assert cfg.ff_dim == 128 and cfg.sparse_ff_config().n_blocks == 16
    with pytest.raises(ValueError, match="multiple of block"):
        TransformerConfig(d_model=32, n_head=4, ff="sparse", d_ff=100, sparse_block=8)
    model = tiny(**SPARSE)
    assert all(isinstance(b.mlp, SparseFF) for b in model.blocks)
    assert all(isinstance(b.mlp, MLP) for b in tiny().blocks)


def test_sparse_ff_flops_count_the_masked_dense_path_and_controller() -> None:
    dense = TransformerConfig(d_model=32, n_head=4, mlp="gelu", d_ff=128)
    sparse = TransformerConfig(d_model=32, n_head=4, d_ff=128, ff="sparse", sparse_rank=8)
    controller = 2 * (32 * 8 + 8 * 128) * sparse.n_layer
    assert flops_per_token(sparse) == flops_per_token(dense) + controller


def test_sparse_ff_transformer_learns() -> None:
    model = tiny(**SPARSE).train()
    torch.manual_seed(1)
    idx = torch.randint(0, VOCAB, (4, 16))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            loss = model(idx[:, :-1], idx[:, 1:])[1]
        model.train()
        return float(loss)

    before = eval_loss()
    for _ in range(30):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert eval_loss() < before - 0.5
    assert all(b.mlp.controller_down.weight.grad is not None for b in model.blocks)


@pytest.mark.parametrize("parallel", [False, True])
def test_sparse_decode_path_equals_eval_forward(parallel: bool) -> None:
    """The cached path (only the chosen units) gives the logits of the eval-mode masked dense
    forward pass, for a prefill chunk, a middle chunk and single tokens, batch 1 and 3."""
    model = tiny(**SPARSE, parallel_block=parallel)
    for batch in (1, 3):
        idx = torch.randint(0, VOCAB, (batch, 20))
        full, _ = model(idx)
        cache = KVCache(model.cfg, batch, idx.device)
        pieces = [model(idx[:, :6], cache=cache)[0], model(idx[:, 6:11], cache=cache)[0]]
        pieces += [model(idx[:, t : t + 1], cache=cache)[0] for t in range(11, 20)]
        torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-4, atol=1e-5)


def test_sparse_generate_uses_the_decode_path(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(**SPARSE)
    prompt = torch.randint(0, VOCAB, (1, 4))
    expected = prompt
    for _ in range(10):  # no cache: the masked dense path, argmax units
        nxt = model(expected)[0][:, -1].argmax(-1, keepdim=True)
        expected = torch.cat([expected, nxt], dim=1)

    def dense_path(*args: object) -> None:
        raise AssertionError("generate ran the masked dense path")

    monkeypatch.setattr(SparseFF, "forward", dense_path)
    assert torch.equal(model.generate(prompt, 10, temperature=0.0), expected)


def test_sparse_round_trip_and_old_configs_still_load(tmp_path: Path) -> None:
    model = tiny(**SPARSE)
    model.save_pretrained(tmp_path / "sparse")
    again = Transformer.from_pretrained(tmp_path / "sparse").eval()
    idx = torch.randint(0, VOCAB, (2, 12))
    assert again.cfg == model.cfg and torch.equal(model(idx)[0], again(idx)[0])
    # a checkpoint written before the sparse FF existed has none of its keys
    tiny().save_pretrained(tmp_path / "old")
    data = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("ff", "sparse_block", "sparse_rank"):
        del data[key]
    (tmp_path / "old" / "config.json").write_text(json.dumps(data))
    assert Transformer.from_pretrained(tmp_path / "old").cfg.ff == "dense"


@pytest.mark.parametrize("kind", ["rope", "learned", "fire"])
def test_random_positions(kind: str) -> None:
    """Randomized positional encodings: a sorted sample of distinct ids from 0..N-1 per
    sequence; decoding with the cache's sample gives the logits of one pass at those ids;
    causality holds at any fixed sample."""
    model = tiny(random_positions=64, rope=kind == "rope", fire=kind == "fire")
    cache = KVCache(model.cfg, 3, torch.device("cpu"), 20, torch.Generator().manual_seed(7))
    assert cache.positions is not None and len(cache.positions) == 20
    ids = cache.positions.tolist()
    assert ids == sorted(set(ids)) and ids[0] >= 0 and ids[-1] < 64
    assert ids[-1] >= 24  # beyond block_size: the whole range 0..63 is in use

    idx = torch.randint(0, VOCAB, (3, 20))
    torch.manual_seed(7)  # the same sample as the cache's generator
    full, _ = model(idx)
    pieces = [model(idx[:, :6], cache=cache)[0]]
    pieces += [model(idx[:, t : t + 1], cache=cache)[0] for t in range(6, 20)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)

    torch.manual_seed(7)
    other = idx.clone()
    other[:, 12] = (other[:, 12] + 1) % VOCAB
    perturbed, _ = model(other)
    torch.testing.assert_close(perturbed[:, :12], full[:, :12])
    assert not torch.allclose(perturbed[:, 12:], full[:, 12:])
    torch.manual_seed(8)  # another sample, other logits
    assert not torch.allclose(model(idx)[0], full)

    a = model.generate(idx[:, :4], 6, temperature=0.0, generator=torch.Generator().manual_seed(1))
    b = model.generate(idx[:, :4], 6, temperature=0.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="at least block_size"):
        TransformerConfig(block_size=32, random_positions=16)


def test_scalable_softmax_scales_each_query_by_the_log_of_its_key_count() -> None:
    """Same weights with and without Scalable-Softmax: the first position (one key, whose
    softmax weight is 1 at any scale) agrees, every later one differs."""
    plain, scaled = tiny(), tiny(attn_log_scale=True)
    scaled.load_state_dict(plain.state_dict(), strict=False)
    idx = torch.randint(0, VOCAB, (2, 12))
    with torch.no_grad():
        for block in scaled.blocks:
            block.attn.log_scale.fill_(2.0)
        out = scaled(idx)[0]
        ref = plain(idx)[0]
    assert torch.allclose(out[:, 0], ref[:, 0], atol=1e-5)  # one key: softmax is 1 anyway
    assert not torch.allclose(out[:, 1:], ref[:, 1:], atol=1e-3)
    assert {n for n, _ in scaled.named_parameters() if "log_scale" in n} == {
        f"blocks.{i}.attn.log_scale" for i in range(2)
    }


def test_nope_heads_ignore_positions_and_rope_heads_do_not() -> None:
    """With every head position-free the model is NoPE (same weights, same outputs); with
    some heads position-free, positions still change the output."""
    all_free, nope = tiny(nope_heads=4), tiny(no_positions=True)
    nope.load_state_dict(all_free.state_dict())
    idx = torch.randint(0, VOCAB, (2, 12))
    with torch.no_grad():
        assert torch.allclose(all_free(idx)[0], nope(idx)[0], atol=1e-5)
        half, rope = tiny(nope_heads=2), tiny()
        rope.load_state_dict(half.state_dict())
        assert not torch.allclose(half(idx)[0], rope(idx)[0], rtol=0, atol=1e-5)
        # the first token attends only to itself: the same in both
        assert torch.allclose(half(idx)[0][:, 0], rope(idx)[0][:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="needs rope"):
        TransformerConfig(vocab_size=VOCAB, nope_heads=1, rope=False)
    with pytest.raises(ValueError, match="share a key/value head"):
        TransformerConfig(vocab_size=VOCAB, nope_heads=1, n_kv_heads=2)


def test_rope_window_bounds_what_the_rotary_heads_see() -> None:
    """All heads windowed (3 tokens, 2 layers): token 0 reaches at most position 4, so the
    logits from position 5 on do not change with it; a global head would carry it further."""
    idx = torch.randint(1, VOCAB, (1, 12))
    changed = idx.clone()
    changed[0, 0] = 0
    with torch.no_grad():
        local = tiny(rope_window=3)
        a, b = local(idx)[0], local(changed)[0]
        assert torch.allclose(a[:, 5:], b[:, 5:], atol=1e-6)
        assert not torch.allclose(a[:, :5], b[:, :5], atol=1e-6)
        mixed = tiny(rope_window=3, nope_heads=2)
        assert not torch.allclose(mixed(idx)[0][:, 5:], mixed(changed)[0][:, 5:], atol=1e-6)
    with pytest.raises(ValueError, match="needs rope"):
        TransformerConfig(vocab_size=VOCAB, rope_window=4, no_positions=True)


def test_token_heads_look_up_by_token_identity_only() -> None:
    """A token-keyed head's weights depend on the tokens alone: equal tokens at different
    distances get equal weight, the query's own position none (the first position excepted);
    moving the whole sequence (random position ids) leaves them unchanged."""
    idx = torch.tensor([[1, 5, 7, 5, 9, 9, 9, 9, 9, 9, 9, 5]])  # token 5 at 1, 3 and 11
    with torch.no_grad():
        model = tiny(token_heads=2, rope_window=3)
        with record_attention(model) as maps:
            model(idx)
        for layer in maps:
            w = layer[0, 2:]  # the two token heads [2, T, S]
            assert torch.allclose(w[:, 11, 1], w[:, 11, 3], atol=1e-6)  # 10 vs 8 back
            assert torch.allclose(w[:, 11, 11], torch.zeros(2))  # not itself
            assert torch.allclose(w[:, 1:].diagonal(offset=1, dim1=1, dim2=2), torch.zeros(1))
            assert torch.allclose(w[:, 0, 0], torch.ones(2))  # the first: only itself
        moved = tiny(token_heads=2, random_positions=48)  # positions drawn anew each call
        with record_attention(moved) as first:
            moved(idx)
        with record_attention(moved) as second:
            moved(idx)
        assert torch.allclose(first[0][0, 2:], second[0][0, 2:], atol=1e-6)
        assert not torch.allclose(first[0][0, :2], second[0][0, :2], atol=1e-4)
    assert "blocks.0.attn.token_q.weight" in dict(model.named_parameters())
    with pytest.raises(ValueError, match="exceed"):
        TransformerConfig(vocab_size=VOCAB, token_heads=3, nope_heads=2)
    with pytest.raises(ValueError, match="share a key/value head"):
        TransformerConfig(vocab_size=VOCAB, token_heads=1, n_kv_heads=2)


def test_attention_sinks_take_leftover_weight_and_hide_bos_from_windowed_heads() -> None:
    """A sink logit of -inf is plain attention; a large one takes weight from every key.
    The windowed heads never see <bos> (position 0) once sinks are on, the global ones do."""
    idx = torch.randint(1, VOCAB, (1, 12))
    with torch.no_grad():
        plain, sunk = tiny(rope_window=3), tiny(rope_window=3, attn_sinks=True)
        sunk.load_state_dict(plain.state_dict(), strict=False)
        for block in sunk.blocks:
            block.attn.sink.fill_(float("-inf"))
        changed = idx.clone()
        changed[0, 0] = 0
        # without <bos> in view and with an inert sink, positions 1.. ignore token 0
        a, b = sunk(idx)[0], sunk(changed)[0]
        assert torch.allclose(a[:, 1:], b[:, 1:], atol=1e-6)
        assert not torch.allclose(plain(idx)[0][:, 1:3], plain(changed)[0][:, 1:3], atol=1e-6)
        mixed = tiny(rope_window=3, nope_heads=2, attn_sinks=True)
        with record_attention(mixed) as maps:
            mixed(idx)
        assert torch.all(maps[0][0, :2, 1:, 0] == 0) and torch.all(maps[0][0, 2:, 1:, 0] > 0)
        assert torch.all(maps[0][0].sum(-1) < 1)  # the sink's share is not recorded
        for block in mixed.blocks:
            block.attn.sink.fill_(30.0)
        with record_attention(mixed) as maps:
            mixed(idx)
        assert maps[0].max() < 1e-6  # the sink took (nearly) everything
    assert {n for n, _ in sunk.named_parameters() if n.endswith("sink")} == {
        f"blocks.{i}.attn.sink" for i in range(2)
    }


def test_canon_convolution_reaches_exactly_its_width_back() -> None:
    """Attention confined to the token itself (rope_window=1) and a width-3 convolution in
    each of 2 layers: token 0 reaches positions 0..4 and no further; without the convolution
    only itself."""
    idx = torch.randint(1, VOCAB, (1, 12))
    changed = idx.clone()
    changed[0, 0] = 0
    with torch.no_grad():
        for canon, reach in ((3, 5), (0, 1)):
            model = tiny(rope_window=1, canon=canon)
            a, b = model(idx)[0], model(changed)[0]
            assert torch.allclose(a[:, reach:], b[:, reach:], atol=1e-6)
            assert all(not torch.allclose(a[:, t], b[:, t], atol=1e-6) for t in range(reach))
    assert {n for n, _ in tiny(canon=3).named_parameters() if "canon" in n} == {
        f"blocks.{i}.canon.weight" for i in range(2)
    }
    with pytest.raises(ValueError, match="canon=-1"):
        TransformerConfig(vocab_size=VOCAB, canon=-1)


def test_nope_has_no_position_parameters_and_refuses_random_positions() -> None:
    model = tiny(no_positions=True)
    assert model.pos_emb is None and not hasattr(model, "rope_cos")
    with pytest.raises(ValueError, match="exclude each other"):
        TransformerConfig(vocab_size=VOCAB, no_positions=True, random_positions=512)


def test_fire_bias_interpolates_distances_by_the_query_position() -> None:
    """FIRE's bias is causal, the same for every query at distance 0, and, past the threshold
    L, the same for every query on the first key (its distance over the query's position is
    always 1): a longer sequence asks its MLP for nothing new. Shifting all positions changes
    the bias (it is not a function of the distance alone)."""
    torch.manual_seed(0)
    fire = FireBias(TransformerConfig(vocab_size=VOCAB, n_head=4, fire=True))
    with torch.no_grad():
        fire.threshold.fill_(4.0)
        pos = torch.arange(40)
        bias = fire(pos, pos)  # [H, 40, 40]
        assert bias.shape == (4, 40, 40)
        assert torch.isinf(bias.triu(diagonal=1)[bias.triu(diagonal=1) != 0]).all()
        assert torch.isfinite(bias.tril()).all()
        diagonal = bias.diagonal(dim1=1, dim2=2)  # [H, 40]
        torch.testing.assert_close(diagonal, diagonal[:, :1].expand(4, 40))
        first_key = bias[:, 4:, 0]  # queries at positions >= L
        torch.testing.assert_close(first_key, first_key[:, :1].expand_as(first_key))
        assert not torch.allclose(fire(pos + 50, pos + 50), bias)
    model = tiny(fire=True)
    assert model.pos_emb is None and not hasattr(model, "rope_cos")
    assert {n for n, _ in model.named_parameters() if ".fire." in n} >= {
        f"blocks.{i}.attn.fire.threshold" for i in range(2)
    }
    with pytest.raises(ValueError, match="exclude each other"):
        TransformerConfig(vocab_size=VOCAB, fire=True, no_positions=True)
    with pytest.raises(ValueError, match="needs rope"):
        TransformerConfig(vocab_size=VOCAB, fire=True, nope_heads=2)


def test_extended_context_keeps_weights_and_scales_rope_angles() -> None:
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(n_layer=1, n_head=2, d_model=16, block_size=32))
    x = torch.randint(0, 200, (2, 30))
    plain = model.extended(128, "none")
    # plain extrapolation: the same angles at positions the model was trained on
    assert torch.allclose(plain(x)[0], model(x)[0])
    assert plain(torch.randint(0, 200, (1, 120)))[0].shape == (1, 120, 260)
    linear = model.extended(128, "linear")
    # position interpolation: position 4m of the extended model is position m of the trained
    hd = model.cfg.head_dim
    assert torch.allclose(linear.rope_cos[8], model.rope_cos[2])
    assert linear.rope_cos.shape == (128, hd)
    ntk = model.extended(128, "ntk")
    # NTK-aware: the highest frequency is kept, the lowest interpolated by the factor 4
    assert torch.allclose(ntk.rope_cos[5, 0], model.rope_cos[5, 0])
    low = hd // 2 - 1
    assert not torch.allclose(ntk.rope_cos[:, low], model.extended(128, "none").rope_cos[:, low])
    assert ntk.cfg.rope_factor == 4.0 and ntk.cfg.rope_scaling == "ntk"
    for copy in (plain, linear, ntk):
        for (name, p), q in zip(model.named_parameters(), copy.parameters(), strict=True):
            assert torch.equal(p, q), name
    with pytest.raises(ValueError):
        model.extended(16)
    learned = Transformer(TransformerConfig(n_layer=1, d_model=16, block_size=32, rope=False))
    with pytest.raises(ValueError, match="cannot be extended"):
        learned.extended(64)
