"""Gemma checkpoints in the HF layout: names, the norm convention, round trip, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from palestra.core.errors import PalestraError
from palestra.models.gemma import gemma_config, load_gemma, save_gemma
from palestra.models.transformer import Transformer, TransformerConfig

GEMMA_LIKE = {
    "vocab_size": 50,
    "block_size": 32,
    "n_layer": 2,
    "n_head": 4,
    "n_kv_heads": 1,
    "d_model": 32,
    "mlp": "geglu",
    "scale_embeddings": True,
}


def gemma_model() -> Transformer:
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(**GEMMA_LIKE)).eval()
    with torch.no_grad():  # non-trivial norm gains, so the +1 convention is exercised
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def test_round_trip_keeps_the_logits(tmp_path: Path) -> None:
    model = gemma_model()
    save_gemma(model, tmp_path)
    names = set(load_file(str(tmp_path / "model.safetensors")))
    assert "model.layers.1.self_attn.q_proj.weight" in names
    assert "model.layers.0.mlp.gate_proj.weight" in names and "model.norm.weight" in names
    hf = json.loads((tmp_path / "config.json").read_text())
    assert hf["model_type"] == "gemma" and hf["num_key_value_heads"] == 1
    again = load_gemma(tmp_path)
    idx = torch.randint(0, 50, (2, 12))
    torch.testing.assert_close(again(idx)[0], model(idx)[0])


def test_gemma_norm_weights_are_offsets_from_one(tmp_path: Path) -> None:
    """A Gemma norm weight of 0 means a gain of 1 (Gemma scales by 1 + w)."""
    save_gemma(gemma_model(), tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state = {k: torch.zeros_like(v) if "norm" in k else v for k, v in state.items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    model = load_gemma(tmp_path)
    assert torch.equal(model.norm_f.weight, torch.ones(32))
    assert torch.equal(model.blocks[0].norm_1.weight, torch.ones(32))


def test_config_mapping_and_refusals(tmp_path: Path) -> None:
    hf = {
        "vocab_size": 256000,
        "hidden_size": 2048,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "num_hidden_layers": 18,
        "intermediate_size": 16384,
        "max_position_embeddings": 8192,
        "head_dim": 256,
        "hidden_act": "gelu",
    }
    cfg = gemma_config(hf, block_size=64)  # Gemma 2B's shape
    assert (cfg.d_model, cfg.head_dim, cfg.kv_heads, cfg.ff_dim) == (2048, 256, 1, 16384)
    assert cfg.scale_embeddings and cfg.tie_embeddings and cfg.mlp == "geglu"
    with pytest.raises(PalestraError, match="Gemma 2"):
        gemma_config({**hf, "attn_logit_softcapping": 50.0})
    with pytest.raises(PalestraError, match="head_dim"):
        gemma_config({**hf, "head_dim": 128})
    with pytest.raises(PalestraError, match="lacks 'vocab_size'"):
        gemma_config({k: v for k, v in hf.items() if k != "vocab_size"})
    with pytest.raises(PalestraError, match=r"config\.json: cannot read"):
        load_gemma(tmp_path)
    with pytest.raises(PalestraError, match="not Gemma-shaped"):
        save_gemma(Transformer(TransformerConfig(vocab_size=50, block_size=8)), tmp_path)
