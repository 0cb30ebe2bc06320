"""The ``scratchpad`` bench end to end on a tiny budget: two real training runs, greedy
decoding at every length, a report with the per-length table and plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from palestra.core.bench import run_suite
from palestra.core.errors import PalestraError
from palestra.lm import bench_scratchpad  # registers the suite


def test_scratchpad_bench_smoke(tmp_path: Path) -> None:
    options = [
        "train_digits=2",
        "test_digits=3",
        "quick_steps=4",
        "quick_examples=3",
        "n_layer=1",
        "d_model=32",
        "n_head=2",
        "token_heads=1",
        "batch_size=4",
        f"runs_root={tmp_path / 'runs'}",
    ]
    js, md = run_suite(
        "scratchpad", quick=True, out_dir=tmp_path / "results", runs_root=tmp_path, options=options
    )
    result = json.loads(js.read_text())
    figures = {f["name"]: f for f in result["figures"]}
    unseen = figures["exact match, 3-3 digits (never trained on)"]
    assert unseen["peer"] == bench_scratchpad.PEER and unseen["unit"] == "%"
    assert 0 <= unseen["value"] <= 100 and 0 <= unseen["peer_value"] <= 100
    assert set(result["data"]["accuracy"]) == {"scratchpad", "direct"}
    assert list(result["data"]["accuracy"]["direct"]) == ["1", "2", "3"]
    for run in result["data"]["runs"].values():
        assert (Path(run) / "model" / "model.safetensors").is_file()
    assert (tmp_path / "results" / "scratchpad_accuracy.png").is_file()
    assert "exact match by number of digits" in md.read_text()

    # evaluating given runs trains nothing new and finds the same accuracies
    again = [
        *options,
        f"scratchpad_run={result['data']['runs']['scratchpad']}",
        f"direct_run={result['data']['runs']['direct']}",
    ]
    js2, _ = run_suite(
        "scratchpad", quick=True, out_dir=tmp_path / "again", runs_root=tmp_path, options=again
    )
    assert json.loads(js2.read_text())["data"]["accuracy"] == result["data"]["accuracy"]
    assert len(list((tmp_path / "runs").glob("bench-scratchpad-*/*"))) == 2


def test_scratchpad_bench_rejects_a_run_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(PalestraError, match="no trained model"):
        bench_scratchpad.accuracy_by_digits(tmp_path, True, range(1, 2), 1, 2)


def test_options_are_the_model_flags_with_the_bench_defaults() -> None:
    opts = bench_scratchpad.ScratchpadBenchOptions()
    assert (opts.block_size, opts.rope_window, opts.token_heads) == (256, 16, 2)
    assert opts.attn_sinks and opts.attn_log_scale and opts.rope and opts.n_layer == 4
    # here no_positions overrides random_positions (for train lm they exclude each other)
    nope = bench_scratchpad.ScratchpadBenchOptions(
        no_positions=True, random_positions=512, rope_window=0
    )
    assert nope.random_positions == 0
    with pytest.raises(ValueError, match="exceed"):
        bench_scratchpad.ScratchpadBenchOptions(token_heads=4, nope_heads=1)
