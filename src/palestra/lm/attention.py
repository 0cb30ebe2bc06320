"""``palestra lm attention``: what each head of a trained model attends to at one token.

The weights come from :func:`palestra.models.transformer.record_attention`, the same
attention the model computes (tested against SDPA). Used to see how a scratchpad model finds
the digits a line needs: by tag, or by distance (results/NOTES.md, issue 7).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from palestra.core.errors import PalestraError
from palestra.lm.serve_config import AttentionConfig

__all__ = ["attention_at", "run_attention"]


def attention_at(run_dir: str | Path, text: str, at: int = -1, seed: int = 0) -> dict[str, Any]:
    """The tokens of ``<bos> text``, the query index, the model's next-token prediction
    there, and ``weights[layer][head][key]`` of that query."""
    import torch

    from palestra.lm.backends import LocalBackend
    from palestra.models.transformer import record_attention

    backend = LocalBackend(run_dir)  # the run's model (eval mode) and tokenizer
    model, tokenizer = backend.model, backend.tokenizer
    ids = tokenizer.encode(text, bos=True)
    if len(ids) > model.cfg.block_size:
        raise PalestraError(
            f"{len(ids)} tokens exceed the model's block_size={model.cfg.block_size}"
        )
    query = at if at >= 0 else len(ids) + at
    if not 0 <= query < len(ids):
        raise PalestraError(f"--at {at} is outside the {len(ids)} tokens (0 is <bos>)")
    torch.manual_seed(seed)  # the position ids of a random-positions model
    with torch.no_grad(), record_attention(model) as maps:
        logits, _ = model(torch.tensor([ids]))
    tokens = ["<bos>"] + [tokenizer.decode([i]) for i in ids[1:]]
    return {
        "tokens": tokens,
        "query": query,
        "predicted": tokenizer.decode([int(logits[0, query].argmax())]),
        "weights": [m[0, :, query, : query + 1].tolist() for m in maps],  # [L][H][keys]
        "kinds": model.cfg.head_kinds(),
    }


def run_attention(cfg: AttentionConfig) -> None:
    """Print, per layer and head, the ``cfg.top`` keys the query attends to most."""
    out = attention_at(cfg.run_dir, cfg.text.replace("\\n", "\n"), cfg.at, cfg.seed)
    tokens, query = out["tokens"], out["query"]
    rows = []
    for layer, heads in enumerate(out["weights"]):
        for head, weights in enumerate(heads):
            order = sorted(range(len(weights)), key=lambda k: -weights[k])[: cfg.top]
            rows.append(
                {
                    "layer": layer,
                    "head": head,
                    "kind": out["kinds"][head],
                    "top": [{"index": k, "token": tokens[k], "weight": weights[k]} for k in order],
                    "sink": max(0.0, 1.0 - sum(weights)),  # an attention sink's share
                }
            )
    if cfg.json:
        keep = {k: out[k] for k in ("tokens", "query", "predicted")}
        print(json.dumps({**keep, "heads": rows}))
        return
    print(f"query: token {query} {tokens[query]!r}; the model predicts {out['predicted']!r} next")
    for row in rows:
        keys = "  ".join(f"{t['index']}:{t['token']!r} {t['weight']:.2f}" for t in row["top"])
        sink = f"  sink {row['sink']:.2f}" if row["sink"] >= 0.005 else ""
        print(f"layer {row['layer']} head {row['head']} ({row['kind']}):  {keys}{sink}")
