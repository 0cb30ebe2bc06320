"""The LM trainer: it learns, it writes a run, and a killed run resumes exactly."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from palestra.core.errors import PalestraError
from palestra.core.runs import read_metrics
from palestra.lm.config import LMTrainConfig
from palestra.lm.scratchpad import TASK_NAMES
from palestra.lm.tokenizers import load_tokenizer
from palestra.lm.train import complete, learning_rate, lr_factor, train
from palestra.models.transformer import Transformer

from ..conftest import sigkill_when

TINY: dict[str, Any] = dict(
    n_layer=1, n_head=2, d_model=16, batch_size=8, warmup=5, eval_examples=4, progress=False
)


def test_lr_schedule() -> None:
    factors = [lr_factor(s, warmup=10, steps=100, min_ratio=0.1) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert factors[-1] == pytest.approx(0.1)


def test_lm_arch_schedule_keeps_its_own_arithmetic() -> None:
    """bench lm-arch's variant, bit for bit: its cosine ends one step past the last, and its
    warm-up rounds lr * (s + 1) / warmup (not lr * ((s + 1) / warmup))."""
    lr, warmup, steps = 3e-3, 3, 60
    for s in range(steps):
        if s < warmup:
            expected = lr * (s + 1) / warmup
        else:
            progress = (s - warmup) / (steps - warmup)
            expected = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        assert learning_rate(s, lr, warmup, steps, 0.1, schedule="lm-arch") == expected
        assert learning_rate(s, lr, warmup, steps, 0.1) == lr * lr_factor(s, warmup, steps, 0.1)
    assert learning_rate(2, lr, warmup, steps, 0.1) != learning_rate(
        2, lr, warmup, steps, 0.1, schedule="lm-arch"
    )


def test_tiny_addition_run_learns_and_writes_its_records(tmp_path: Path) -> None:
    cfg = LMTrainConfig(
        task="addition",
        digits=2,
        n_layer=2,
        n_head=2,
        d_model=32,
        block_size=16,
        steps=150,
        batch_size=32,
        lr=3e-3,
        warmup=10,
        eval_every=75,
        eval_examples=16,
        checkpoint_every=75,
        runs_root=tmp_path,
        progress=False,
    )
    run_dir = train(cfg)
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == list(range(1, 151))
    first = sum(r["loss"] for r in records[:10]) / 10
    last = sum(r["loss"] for r in records[-10:]) / 10
    assert last < 0.6 * first, (first, last)
    evals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evals] == [75, 150]
    assert evals[1]["val_loss"] < evals[0]["val_loss"]
    assert all(0.0 <= r["exact_match"] <= r["answer_accuracy"] <= 1.0 for r in evals)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "addition" and "resume" not in config
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["final"]["step"] == 150
    # the saved model and tokenizer work on their own
    model = Transformer.from_pretrained(run_dir / "model").eval()
    tokenizer = load_tokenizer(run_dir / "model" / "tokenizer.json")
    outputs = complete(model, tokenizer, ["12+34=", "5+5=", "99+1="], max_new_tokens=4)
    assert len(outputs) == 3 and all(set(o) <= set("0123456789+=") for o in outputs)
    # resuming a finished run changes nothing
    assert train(dataclasses.replace(cfg, resume=True)) == run_dir
    assert read_metrics(run_dir) == records


@pytest.mark.parametrize("task", [t for t in TASK_NAMES if t != "addition"])
def test_every_task_runs(task: str, tmp_path: Path) -> None:
    cfg = LMTrainConfig(
        task=task,
        steps=3,
        eval_every=3,
        checkpoint_every=3,
        block_size={"wordproblems": 512, "rulechains": 640}.get(task, 320),  # long examples
        statements=3,
        runs_root=tmp_path,
        **{**TINY, "batch_size": 2, "eval_examples": 2},
    )
    records = read_metrics(train(cfg))
    assert [r["step"] for r in records] == [1, 2, 3] and "answer_accuracy" in records[-1]


def test_chars_task_and_too_small_block(tmp_path: Path) -> None:
    text = tmp_path / "corpus.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 20)
    cfg = LMTrainConfig(
        task="chars",
        data=text,
        block_size=16,
        steps=5,
        eval_every=5,
        checkpoint_every=5,
        runs_root=tmp_path,
        **TINY,
    )
    run_dir = train(cfg)
    assert "val_loss" in read_metrics(run_dir)[-1]
    assert load_tokenizer(run_dir / "tokenizer.json").decode([4, 5]) == "\n "
    with pytest.raises(PalestraError, match="does not fit block_size"):
        train(
            LMTrainConfig(
                task="addition-scratchpad",
                digits=5,
                block_size=8,
                steps=1,
                runs_root=tmp_path,
                **TINY,
            )
        )


# ----------------------------------------------------------------------------- the kill test
KILL_STEPS = 150
KILL_CFG: dict[str, Any] = dict(
    task="addition-scratchpad",
    digits=2,
    block_size=32,
    steps=KILL_STEPS,
    eval_every=50,
    checkpoint_every=20,
    seed=7,
    **TINY,
)


def _latest_checkpoint(root: Path) -> int | None:
    found = sorted(root.glob("lm/*/checkpoints/step_*.pt"))
    return int(found[-1].stem.split("_")[1]) if found else None


def _logged_steps(root: Path) -> list[int]:
    dirs = sorted((root / "lm").glob("*")) if (root / "lm").is_dir() else []
    return [r["step"] for r in read_metrics(dirs[-1])] if dirs else []


def test_killed_run_resumes_exactly(tmp_path: Path) -> None:
    """SIGKILL a training run after a checkpoint and a few more steps; --resume continues
    from that checkpoint, every step is logged once, and the final weights and every step's
    loss equal those of a run that was never stopped."""
    root = tmp_path / "runs"
    code = (
        "from pathlib import Path\n"
        "from palestra.lm.train import train\n"
        "from palestra.lm.config import LMTrainConfig\n"
        f"train(LMTrainConfig(runs_root=Path({str(root)!r}), **{KILL_CFG!r}))\n"
    )

    def past_a_checkpoint() -> bool:
        checkpoint, steps = _latest_checkpoint(root), _logged_steps(root)
        return checkpoint is not None and bool(steps) and steps[-1] >= checkpoint + 3

    sigkill_when([sys.executable, "-c", code], past_a_checkpoint, timeout_s=60)
    killed_at = time.time()
    checkpoint = _latest_checkpoint(root)
    assert checkpoint is not None and checkpoint < KILL_STEPS
    assert _logged_steps(root)[-1] > checkpoint  # steps that the resumed run must redo

    run_dir = train(LMTrainConfig(runs_root=root, resume=True, **KILL_CFG))
    assert len(list((root / "lm").iterdir())) == 1, "resume started a new run"
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == list(range(1, KILL_STEPS + 1))
    # steps up to the checkpoint were not redone; the ones after it were (after the kill)
    assert all(r["time"] <= killed_at for r in records if r["step"] <= checkpoint)
    assert all(r["time"] >= killed_at - 1 for r in records if r["step"] > checkpoint)

    reference = train(LMTrainConfig(runs_root=tmp_path / "reference", **KILL_CFG))
    expected = read_metrics(reference)
    assert [r["loss"] for r in records] == [r["loss"] for r in expected]
    resumed_weights = load_file(str(run_dir / "model" / "model.safetensors"))
    reference_weights = load_file(str(reference / "model" / "model.safetensors"))
    assert resumed_weights.keys() == reference_weights.keys()
    for name, tensor in reference_weights.items():
        assert torch.equal(resumed_weights[name], tensor), f"{name} differs after resuming"
