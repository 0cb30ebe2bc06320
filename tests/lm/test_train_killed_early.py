"""``palestra train lm`` SIGKILLed before its first checkpoint: ``--resume`` continues the
same run directory from the start and ends where a run that was never stopped ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from palestra.core.runs import read_metrics
from palestra.lm.config import LMTrainConfig
from palestra.lm.train import train

from ..conftest import sigkill_when

BIN = Path(sys.executable).parent / "palestra"
STEPS = 200
CFG: dict[str, Any] = dict(
    task="addition-scratchpad",
    digits=2,
    block_size=32,
    steps=STEPS,
    eval_every=STEPS,
    checkpoint_every=STEPS,  # the only checkpoint is the last
    seed=7,
    n_layer=1,
    n_head=2,
    d_model=16,
    batch_size=8,
    warmup=5,
    eval_examples=4,
    progress=False,
)


def cli(root: Path, resume: bool) -> list[str]:
    args = [str(BIN), "train", "lm", "--runs-root", str(root)]
    for key, value in CFG.items():
        flag = "--" + key.replace("_", "-")
        args += (
            [flag if value else "--no-" + flag[2:]]
            if isinstance(value, bool)
            else [flag, str(value)]
        )
    return args + (["--resume"] if resume else [])


def test_killed_before_the_first_checkpoint_resumes_in_its_directory(tmp_path: Path) -> None:
    root = tmp_path / "runs"

    def three_steps_logged() -> bool:
        runs = list(root.glob("lm/*/metrics.jsonl"))
        return bool(runs) and len(read_metrics(runs[0].parent)) >= 3

    sigkill_when(cli(root, resume=False), three_steps_logged, timeout_s=120)
    killed_at = time.time()
    (run_dir,) = (root / "lm").iterdir()
    assert (run_dir / "config.json").is_file()
    assert not list(run_dir.glob("checkpoints/step_*.pt")), "killed too late: a checkpoint"
    assert 3 <= len(read_metrics(run_dir)) < STEPS

    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    resumed = subprocess.run(cli(root, resume=True), env=env, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert list((root / "lm").iterdir()) == [run_dir], "resume started a new run"
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    assert all(r["time"] >= killed_at - 1 for r in records)  # all redone after the kill

    reference = train(LMTrainConfig(runs_root=tmp_path / "reference", **CFG))
    expected = read_metrics(reference)
    timeless = [{k: v for k, v in r.items() if k != "time"} for r in records]
    assert timeless == [{k: v for k, v in r.items() if k != "time"} for r in expected]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["final"] | {"time": 0} == expected[-1] | {"time": 0}
    weights = load_file(str(run_dir / "model" / "model.safetensors"))
    for name, tensor in load_file(str(reference / "model" / "model.safetensors")).items():
        assert torch.equal(weights[name], tensor), f"{name} differs after resuming"
