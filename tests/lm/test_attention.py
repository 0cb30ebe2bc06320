"""``palestra lm attention``: the weights it reports are the model's, at the asked token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from palestra.cli import app
from palestra.core.errors import PalestraError
from palestra.lm.attention import attention_at
from palestra.lm.tokenizers import DigitTokenizer
from palestra.models.transformer import Transformer, TransformerConfig


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained digit-level model with sharp attention (large query/key weights),
    saved as a run's model/ folder."""
    torch.manual_seed(0)
    tokenizer = DigitTokenizer()
    cfg = TransformerConfig(
        vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=2, d_model=16
    )
    model = Transformer(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                p.mul_(40.0)
    return _save_run(model, tokenizer, tmp_path_factory.mktemp("run"))


def _save_run(model: Transformer, tokenizer: DigitTokenizer, run: Path) -> Path:
    """``run/model/`` as ``palestra train lm`` leaves it: weights, config, tokenizer."""
    model.save_pretrained(run / "model")
    tokenizer.save(run / "model" / "tokenizer.json")
    return run


def test_weights_are_causal_distributions_at_the_query(run_dir: Path) -> None:
    out = attention_at(run_dir, "2D9C+5d7c=", at=4)
    assert out["tokens"][:5] == ["<bos>", "2", "D", "9", "C"] and out["query"] == 4
    assert len(out["weights"]) == 2 and all(len(heads) == 2 for heads in out["weights"])
    for heads in out["weights"]:
        for weights in heads:
            assert len(weights) == 5  # the query and the 4 tokens before it
            assert sum(weights) == pytest.approx(1.0, abs=1e-5)
    # the same query with more text after it: causal, so the same weights
    longer = attention_at(run_dir, "2D9C+5d7c=C9c7+0=16γ", at=4)
    torch.testing.assert_close(torch.tensor(longer["weights"]), torch.tensor(out["weights"]))
    assert max(max(w) for heads in out["weights"] for w in heads) > 0.5  # not uniform
    last = attention_at(run_dir, "2D9C+5d7c=")
    assert last["query"] == 10 and len(last["weights"][0][0]) == 11
    with pytest.raises(PalestraError, match="outside"):
        attention_at(run_dir, "2D9C", at=9)
    with pytest.raises(PalestraError, match="block_size"):
        attention_at(run_dir, "1A" * 20)


def test_cli_table_and_json(run_dir: Path) -> None:
    runner = CliRunner()
    args = ["lm", "attention", str(run_dir), "--text", "9C+7c=\\n", "--top", "2"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "query: token 7 '\\n'" in table.output and "layer 1 head 1 (rotary):" in table.output
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tokens"][-1] == "\n" and len(data["heads"]) == 4
    assert all(len(h["top"]) == 2 for h in data["heads"])
    weights = [t["weight"] for t in data["heads"][0]["top"]]
    assert weights == sorted(weights, reverse=True)


def test_head_kinds_and_sink_share(tmp_path: Path) -> None:
    """A model with a windowed rotary head, a token-keyed head and attention sinks: each
    head is labelled, and a large sink logit shows up as the sink's share."""
    torch.manual_seed(0)
    tokenizer = DigitTokenizer()
    cfg = TransformerConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=32,
        n_layer=1,
        n_head=2,
        d_model=16,
        rope_window=4,
        token_heads=1,
        attn_sinks=True,
    )
    model = Transformer(cfg)
    with torch.no_grad():
        model.blocks[0].attn.sink.copy_(torch.tensor([0.0, 20.0]))  # head 1: nearly all sink
    _save_run(model, tokenizer, tmp_path)
    out = attention_at(tmp_path, "2D9C+5d7c=C")
    assert out["kinds"] == ["rotary, last 4", "token-keyed"]
    result = CliRunner().invoke(
        app, ["lm", "attention", str(tmp_path), "--text", "2D9C+5d7c=C", "--json"]
    )
    assert result.exit_code == 0, result.output
    heads = json.loads(result.output)["heads"]
    assert [h["kind"] for h in heads] == ["rotary, last 4", "token-keyed"]
    assert heads[1]["sink"] > 0.99 and 0 < heads[0]["sink"] < 0.9
    table = CliRunner().invoke(app, ["lm", "attention", str(tmp_path), "--text", "2D9C+5d7c=C"])
    assert "layer 0 head 1 (token-keyed):" in table.output and "sink 1.00" in table.output
