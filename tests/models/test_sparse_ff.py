"""Sparse feed-forward (Terraformer): training path, decode path equal to masked dense, cost."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from palestra.models.sparse_ff import (
    SparseFF,
    SparseFFConfig,
    decode_macs,
    decode_speed,
    dense_macs,
)


def layer(**overrides: object) -> SparseFF:
    torch.manual_seed(0)
    fields = dict(d_model=16, d_ff=64, block=8, rank=4)
    fields.update(overrides)
    return SparseFF(SparseFFConfig(**fields))


def test_bad_block_raises():
    with pytest.raises(ValueError, match="multiple"):
        SparseFFConfig(d_ff=60, block=8)


def test_training_shape_mask_and_controller_gradient():
    ff = layer().train()
    x = torch.randn(2, 5, 16, requires_grad=True)
    mask = ff.mask(x)  # [2, 5, 64]
    assert mask.shape == (2, 5, 64)
    assert torch.equal(mask.unflatten(-1, (8, 8)).sum(-1), torch.ones(2, 5, 8))  # one per block
    y = ff(x)
    assert y.shape == (2, 5, 16)
    y.square().sum().backward()
    for p in [ff.controller_down.weight, ff.controller_up.weight, ff.w1, ff.w2, x]:
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_training_is_stochastic_eval_is_not():
    ff = layer()
    x = torch.randn(4, 16)
    ff.train()
    assert not torch.equal(ff.mask(x), ff.mask(x))  # Gumbel noise
    ff.eval()
    assert torch.equal(ff.mask(x), ff.mask(x))


@pytest.mark.parametrize("shape", [(1, 1, 16), (1, 16), (3, 7, 16)])
@pytest.mark.parametrize("bias", [True, False])
def test_decode_equals_masked_dense(shape, bias):
    ff = layer(bias=bias).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        dense = ff(x)
    sparse = ff.decode(x)
    assert sparse.shape == x.shape
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-5)
    # and the masked dense path differs from the unmasked layer (the mask does something)
    assert not torch.allclose(ff.dense(x), dense)


def test_decode_macs_are_one_block_th_of_dense():
    cfg = SparseFFConfig(d_model=32, d_ff=256, block=16, rank=8)
    macs = decode_macs(cfg)
    assert macs["ff"] * cfg.block == dense_macs(cfg)  # d_ff/B units of d_ff
    assert macs["ff"] == 2 * cfg.d_model * cfg.d_ff // cfg.block
    # count what torch actually multiplies (FLOPs = 2 * MACs) on one token
    ff = SparseFF(cfg).eval()
    x = torch.randn(1, 1, 32)
    for fn, expected in [(ff.decode, macs["ff"] + macs["controller"]), (ff.dense, dense_macs(cfg))]:
        with FlopCounterMode(display=False) as counter:
            fn(x)
        assert counter.get_total_flops() == 2 * expected
    with FlopCounterMode(display=False) as counter:  # the batched path costs the same per token
        ff.decode(torch.randn(4, 32))
    assert counter.get_total_flops() == 4 * 2 * (macs["ff"] + macs["controller"])


def test_decode_speed_runs():
    result = decode_speed(d_model=16, d_ff=64, block=8, rank=4, steps=3, warmup=1)
    assert set(result) == {"sparse_tok_s", "dense_tok_s", "speedup"}
    assert all(v > 0 for v in result.values())
