"""Hourglass: shapes, causality across the shortening, learning, and FLOPs against vanilla."""

from __future__ import annotations

import pytest
import torch

from palestra.models.hourglass import Hourglass, HourglassConfig, flops_per_token
from palestra.models.transformer import Block, Transformer

VOCAB = 19


def tiny(**overrides: object) -> Hourglass:
    torch.manual_seed(0)
    fields = dict(vocab_size=VOCAB, block_size=24, d_model=32, n_head=4, shorten_factor=3)
    fields.update(overrides)
    return Hourglass(HourglassConfig(**fields)).eval()


@pytest.mark.parametrize("T", [24, 13, 1])
@pytest.mark.parametrize("upsample", ["linear", "repeat"])
def test_shapes_and_loss(T, upsample):
    model = tiny(upsample=upsample)
    idx = torch.randint(0, VOCAB, (2, T))
    logits, loss = model(idx)
    assert logits.shape == (2, T, VOCAB) and loss is None
    logits, loss = model(idx, targets=idx)
    assert loss is not None and loss.ndim == 0 and torch.isfinite(loss)


def test_too_long_raises():
    with pytest.raises(ValueError, match="block_size"):
        tiny()(torch.zeros(1, 25, dtype=torch.long))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"upsample": "repeat"},
        {"shorten_factor": 4, "rope": False, "norm": "layernorm", "mlp": "gelu"},
        {"shorten_factor": 1},
    ],
)
def test_causal(overrides):
    """Changing token t leaves the logits at positions < t unchanged, and changes position t."""
    model = tiny(**overrides)
    k = model.cfg.shorten_factor
    idx = torch.randint(0, VOCAB, (2, 23))  # 23: the last group is padded
    logits, _ = model(idx)
    for t in [0, 1, k - 1, k, k + 1, 2 * k - 1, 2 * k, 10, 22]:
        perturbed = idx.clone()
        perturbed[:, t] = (perturbed[:, t] + 1) % VOCAB
        logits_p, _ = model(perturbed)
        torch.testing.assert_close(logits_p[:, :t], logits[:, :t], rtol=0, atol=1e-6)
        assert not torch.allclose(logits_p[:, t], logits[:, t])


def test_shortened_path_carries_information():
    """The residual alone would also be causal; check that the shortened stack is read: with
    the pre and post layers removed, the logits at position jk still depend on token jk."""
    model = tiny(n_pre_layer=0, n_post_layer=0, shorten_factor=3)
    idx = torch.randint(0, VOCAB, (1, 12))
    base = model(idx)[0]
    for t in [3, 6, 9]:
        perturbed = idx.clone()
        perturbed[:, t] = (perturbed[:, t] + 1) % VOCAB
        delta = (model(perturbed)[0] - base).abs().amax(dim=-1)[0]  # [T]
        assert delta[:t].max() == 0
        assert delta[t + 1 : t + 3].min() > 0  # later positions in the group see it too


def test_loss_decreases_on_repetitive_corpus():
    torch.manual_seed(0)
    cfg = HourglassConfig(
        vocab_size=VOCAB, block_size=32, d_model=32, n_head=4, shorten_factor=3, dropout=0.0
    )
    model = Hourglass(cfg).train()
    pattern = torch.tensor([1, 5, 2, 7, 3, 9, 4])
    corpus = pattern.repeat(40)  # [280]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        starts = torch.randint(0, corpus.numel() - cfg.block_size - 1, (8,))
        x = torch.stack([corpus[s : s + cfg.block_size] for s in starts])  # [8, 32]
        y = torch.stack([corpus[s + 1 : s + 1 + cfg.block_size] for s in starts])  # [8, 32]
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 2.5  # about ln(19) at init
    assert sum(losses[-5:]) / 5 < 0.5


def test_flops_fewer_than_vanilla():
    cfg = HourglassConfig(
        vocab_size=256, block_size=1024, d_model=256, n_head=4, n_pre_layer=2,
        n_short_layer=8, n_post_layer=2, shorten_factor=4,
    )  # fmt: skip
    hourglass, vanilla = flops_per_token(cfg), flops_per_token(cfg.vanilla())
    assert cfg.vanilla().n_layer == 12
    assert hourglass < 0.6 * vanilla
    # the shortened layers cannot cost less than nothing: the full layers are a lower bound
    assert hourglass > 4 / 12 * (vanilla - 2 * 256 * 256)
    # a shorten factor of 1 costs a bit more than vanilla (the pooling/upsampling matrices)
    cfg1 = HourglassConfig(**{**cfg.__dict__, "shorten_factor": 1})
    assert flops_per_token(cfg1) == vanilla + 4 * 256 * 256


def test_flops_formula_counts_block_weights():
    """The per-layer weight term of the formula matches the Linear weights of a real Block."""
    cfg = HourglassConfig(vocab_size=VOCAB, block_size=8, d_model=32, n_head=4)
    vcfg = cfg.vanilla()
    weights = sum(
        m.weight.numel() for m in Block(vcfg, 0).modules() if isinstance(m, torch.nn.Linear)
    )
    attn_ctx = 4 * vcfg.block_size * vcfg.d_model
    per_layer = (flops_per_token(vcfg) - 2 * VOCAB * 32) / vcfg.n_layer
    assert per_layer == 2 * weights + attn_ctx
    # and the vanilla config builds a Transformer with the same number of block parameters
    hg, tf = Hourglass(cfg), Transformer(vcfg)

    def n_blocks(m):
        groups = ("blocks", "pre", "short", "post")
        return sum(p.numel() for n, p in m.named_parameters() if n.split(".")[0] in groups)

    assert n_blocks(hg) == n_blocks(tf)
