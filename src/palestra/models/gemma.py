"""Gemma checkpoints in the Hugging Face layout, to and from :class:`Transformer`.

    model = load_gemma("path/to/gemma-dir")        # config.json + *.safetensors (HF names)
    save_gemma(model, "out/")                       # the same layout, loadable by HF loaders

Gemma (Gemma Team 2024) is the decoder-only transformer with the choices that
:class:`~palestra.models.transformer.TransformerConfig` names ``mlp="geglu"`` (tanh-GELU),
``norm="rmsnorm"``, RoPE, multi-query / grouped-query attention, no biases, tied embeddings
and ``scale_embeddings`` (token embeddings times ``sqrt(hidden_size)``). Two conventions
differ from Palestra's and are converted here:

- **names**: ``model.layers.{i}.self_attn.q_proj.weight`` is ``blocks.{i}.attn.q_proj.weight``,
  ``mlp.gate_proj / up_proj / down_proj`` are ``mlp.gate / up / down``, the norms are
  ``input_layernorm`` / ``post_attention_layernorm`` / ``model.norm``;
- **RMSNorm gain**: Gemma stores ``w`` and scales by ``1 + w``; Palestra stores the gain itself.

Only Gemma (1) is supported: a config with Gemma 2's logit soft-capping, sliding windows or
a head size other than ``hidden_size / num_attention_heads`` is refused with a clear error
rather than loaded into a model that would compute something else. No weights can be
downloaded here; the tests write a checkpoint with :func:`save_gemma` and read it back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from palestra.core.errors import PalestraError
from palestra.models.transformer import Transformer, TransformerConfig

__all__ = ["gemma_config", "load_gemma", "save_gemma"]

# HF name (with {i} for the layer) -> Palestra name; True where the tensor is an RMSNorm gain
_LAYER_NAMES: dict[str, tuple[str, bool]] = {
    "input_layernorm.weight": ("norm_1.weight", True),
    "post_attention_layernorm.weight": ("norm_2.weight", True),
    "self_attn.q_proj.weight": ("attn.q_proj.weight", False),
    "self_attn.k_proj.weight": ("attn.k_proj.weight", False),
    "self_attn.v_proj.weight": ("attn.v_proj.weight", False),
    "self_attn.o_proj.weight": ("attn.o_proj.weight", False),
    "mlp.gate_proj.weight": ("mlp.gate.weight", False),
    "mlp.up_proj.weight": ("mlp.up.weight", False),
    "mlp.down_proj.weight": ("mlp.down.weight", False),
}
_TOP_NAMES: dict[str, tuple[str, bool]] = {
    "model.embed_tokens.weight": ("tok_emb.weight", False),
    "model.norm.weight": ("norm_f.weight", True),
}
_GEMMA2_KEYS = ("attn_logit_softcapping", "final_logit_softcapping", "sliding_window")
_ACTIVATIONS = ("gelu_pytorch_tanh", "gelu")  # Gemma's GeGLU uses the tanh approximation


def gemma_config(hf: dict[str, Any], block_size: int | None = None) -> TransformerConfig:
    """The :class:`TransformerConfig` of a Gemma ``config.json`` (``block_size`` defaults to
    ``max_position_embeddings``)."""
    try:
        hidden, heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
        if hf.get("model_type", "gemma") != "gemma":
            raise PalestraError(f"model_type {hf['model_type']!r} is not 'gemma'")
        for key in _GEMMA2_KEYS:
            if hf.get(key) is not None:
                raise PalestraError(f"{key} is a Gemma 2 feature this loader does not support")
        head_dim = int(hf.get("head_dim", hidden // heads))
        if head_dim * heads != hidden:
            raise PalestraError(
                f"head_dim {head_dim} x {heads} heads != hidden_size {hidden} (not supported)"
            )
        act = hf.get("hidden_activation") or hf.get("hidden_act", "gelu_pytorch_tanh")
        if act not in _ACTIVATIONS:
            raise PalestraError(f"activation {act!r} is not Gemma's GeGLU")
        if hf.get("attention_bias"):
            raise PalestraError("attention_bias=true is not supported")
        return TransformerConfig(
            vocab_size=int(hf["vocab_size"]),
            block_size=block_size or int(hf.get("max_position_embeddings", 8192)),
            n_layer=int(hf["num_hidden_layers"]),
            n_head=heads,
            n_kv_heads=int(hf.get("num_key_value_heads", heads)),
            d_model=hidden,
            d_ff=int(hf["intermediate_size"]),
            mlp="geglu",
            norm="rmsnorm",
            rope=True,
            rope_theta=float(hf.get("rope_theta", 10000.0)),
            bias=False,
            tie_embeddings=True,
            scale_embeddings=True,
            norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        )
    except KeyError as e:
        raise PalestraError(f"Gemma config.json lacks {e.args[0]!r}") from None


def _hf_to_palestra(name: str) -> tuple[str, bool] | None:
    if name in _TOP_NAMES:
        return _TOP_NAMES[name]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", name)
    if m and m.group(2) in _LAYER_NAMES:
        ours, is_norm = _LAYER_NAMES[m.group(2)]
        return f"blocks.{m.group(1)}.{ours}", is_norm
    return None


def load_gemma(
    directory: str | Path, block_size: int | None = None, dtype: torch.dtype = torch.float32
) -> Transformer:
    """A :class:`Transformer` with the weights of the Gemma checkpoint in ``directory``
    (``config.json`` and one or more ``*.safetensors`` files)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path = directory / "config.json"
    try:
        hf = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PalestraError(f"{config_path}: cannot read ({e})") from None
    try:
        cfg = gemma_config(hf, block_size)
    except PalestraError as e:
        raise PalestraError(f"{config_path}: {e}") from None
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise PalestraError(f"{directory}: no *.safetensors weights")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        for name, tensor in load_file(str(file)).items():
            mapped = _hf_to_palestra(name)
            if mapped is None:
                if name == "lm_head.weight":  # some exports repeat the tied embedding
                    continue
                raise PalestraError(f"{file.name}: unexpected tensor {name!r}")
            ours, is_norm = mapped
            tensor = tensor.to(dtype)
            state[ours] = tensor + 1.0 if is_norm else tensor
    model = Transformer(cfg)
    expected = set(model.state_dict())
    if missing := sorted(expected - set(state)):
        raise PalestraError(f"{directory}: the checkpoint lacks {', '.join(missing[:4])} ...")
    model.load_state_dict(state)
    return model.eval()


def save_gemma(model: Transformer, directory: str | Path) -> Path:
    """Write ``model`` as a Gemma checkpoint (HF names, Gemma's norm convention, a Gemma
    ``config.json``); refused for a model whose choices Gemma does not share."""
    from safetensors.torch import save_file

    cfg = model.cfg
    gemma_like = (
        cfg.mlp == "geglu"
        and cfg.ff == "dense"
        and cfg.norm == "rmsnorm"
        and cfg.rope
        and not cfg.bias
        and cfg.tie_embeddings
        and cfg.scale_embeddings
        and not cfg.parallel_block
        and not cfg.random_positions
        and not cfg.no_positions
        and not cfg.nope_heads
        and not cfg.rope_window
        and not cfg.fire
        and not cfg.canon
        and not cfg.attn_log_scale
    )
    if not gemma_like:
        raise PalestraError(
            "save_gemma: the model is not Gemma-shaped (needs geglu, rmsnorm, rope, no bias, "
            "tied and scaled embeddings, sequential blocks, dense feed-forward, plain positions "
            "and softmax)"
        )
    ours_to_hf = {v[0]: (k, v[1]) for k, v in _TOP_NAMES.items()}
    for i in range(cfg.n_layer):
        for hf_name, (ours, is_norm) in _LAYER_NAMES.items():
            ours_to_hf[f"blocks.{i}.{ours}"] = (f"model.layers.{i}.{hf_name}", is_norm)
    state = {}
    for name, tensor in model.state_dict().items():
        hf_name, is_norm = ours_to_hf[name]
        tensor = tensor.detach().to(torch.float32).contiguous()
        state[hf_name] = tensor - 1.0 if is_norm else tensor
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    hf = {
        "architectures": ["GemmaForCausalLM"],
        "model_type": "gemma",
        "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.block_size,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.kv_heads,
        "hidden_size": cfg.d_model,
        "head_dim": cfg.head_dim,
        "intermediate_size": cfg.ff_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "rope_theta": cfg.rope_theta,
        "rms_norm_eps": cfg.norm_eps,
        "attention_bias": False,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }
    (directory / "config.json").write_text(json.dumps(hf, indent=2) + "\n")
    return directory
