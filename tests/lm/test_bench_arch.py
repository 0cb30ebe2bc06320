"""``palestra bench lm-arch`` end to end at a tiny size: figures, tables, plot, notes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from palestra.core.bench import run_suite, suite_names
from palestra.lm.bench_arch import ArchBenchOptions, corpus_data, language_models
from palestra.lm.corpus import build_corpus
from palestra.models.hourglass import flops_per_token

TINY = [
    *("steps=4", "batch_size=2", "block_size=16", "d_model=16", "n_head=2", "n_layer=2"),
    *("hourglass_layers=1,2,1", "sparse_block=4", "sparse_rank=4", "curve_points=2"),
    *("curve_windows=2", "eval_windows=4", "max_chars=5000", "decode_d_model=32"),
    *("decode_d_ff=128", "decode_layers=1", "decode_n_head=2", "decode_block=8"),
    *("decode_rank=4", "decode_tokens=8", "decode_repeats=1"),
]


def test_suite_is_listed() -> None:
    assert "lm-arch" in suite_names()


def test_tiny_run_writes_finite_figures_and_report(tmp_path: Path) -> None:
    js, md = run_suite(
        "lm-arch",
        quick=True,
        out_dir=tmp_path / "results",
        options=TINY,
        runs_root=tmp_path / "runs",
    )
    result = json.loads(js.read_text())
    figures = {f["name"]: f for f in result["figures"]}
    for model in ("Hourglass", "sparse FF"):
        for name in ("held-out bpc", "forward FLOPs/token", "training tokens/s"):
            fig = figures[f"{name}, {model}"]
            assert fig["peer"].startswith("vanilla")
            assert math.isfinite(fig["value"]) and math.isfinite(fig["peer_value"])
            assert fig["value"] > 0 and fig["peer_value"] > 0
    decode = figures["batch-1 decode tokens/s, sparse FF"]
    assert decode["peer"] == "dense FF, same params" and decode["value"] > 0
    # bits per character of an untrained-ish model: below log2(vocab), above zero
    vocab = result["data"]["corpus"]["vocab_chars"] + 4
    assert 0 < figures["held-out bpc, Hourglass"]["value"] < math.log2(vocab) + 1
    models = result["data"]["models"]
    assert set(models) == {"vanilla", "Hourglass", "sparse FF"}
    assert len({m["tokens"] for m in models.values()}) == 1  # the same training budget
    assert all(len(m["curve"]) == 2 for m in models.values())
    params = result["data"]["decoding"]["params"]
    assert abs(params["sparse"] - params["dense"]) <= 0.01 * params["dense"]
    assert result["data"]["decoding"]["agreement"] == pytest.approx(1.0)
    assert result["data"]["corpus"]["sha256"]["train"]
    text = md.read_text()
    assert "held-out bpc, Hourglass" in text and "Hourglass vs vanilla" in text
    assert "lm-arch_learning_curves.png" in text
    assert (tmp_path / "results" / "lm-arch_learning_curves.png").exists()


def test_every_model_sees_the_same_batches_and_windows() -> None:
    corpus = build_corpus(max_chars=3000)
    a = corpus_data(corpus, steps=3, batch_size=2, block_size=8, seed=5)
    b = corpus_data(corpus, steps=3, batch_size=2, block_size=8, seed=5)
    x, y = a.batch(2)
    assert x.shape == (2, 8) and (x[:, 1:] == y[:, :-1]).all()
    assert (x == b.batch(2)[0]).all() and (a.val_windows(4) == b.val_windows(4)).all()
    assert a.val_windows(0).shape[1] == 9  # all non-overlapping windows of T+1


def test_default_hourglass_is_sized_to_the_vanilla_flops() -> None:
    cfgs = language_models(ArchBenchOptions(), vocab_size=168)
    ratio = flops_per_token(cfgs["Hourglass"]) / flops_per_token(cfgs["vanilla"])
    assert 0.9 < ratio < 1.1


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="three counts"):
        ArchBenchOptions(hourglass_layers=(2, 4))
    with pytest.raises(ValueError, match="steps"):
        ArchBenchOptions(steps=0)
