"""Shared test fixtures: the benchmark data sets (found as Palestra finds them), threads."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Hypothesis profiles for the fuzz tests (marker ``fuzz``): "ci" keeps ``make test`` fast;
# HYPOTHESIS_PROFILE=fuzz PALESTRA_FUZZ_EXAMPLES=N runs N examples per test (long runs).
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("PALESTRA_FUZZ_EXAMPLES", "100000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def m2k() -> Path:
    """The M2k data set (PALESTRA_DATA, or ../shared/data beside the checkout); skip where
    it is absent."""
    from palestra.core.data import find

    found = find("m2k")
    if found is None:
        pytest.skip("data set m2k not found (palestra data list)")
    return found.path


def live_processes(
    *, uid: int | None = None, pgid: int | None = None, ppid: int | None = None
) -> list[int]:
    """Live processes (zombies excluded: killed orphans may wait for a container's init to
    reap them) owned by ``uid``, in process group ``pgid`` or children of ``ppid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, parent, group = f.read().rsplit(")", 1)[1].split()[:3]
            owner = os.stat(f"/proc/{entry}").st_uid
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z" and (owner == uid or int(group) == pgid or int(parent) == ppid):
            pids.append(int(entry))
    return pids


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def sigkill_when(args: list[str], ready: Callable[[], bool], *, timeout_s: float) -> None:
    """Run ``args`` (one thread for torch) and SIGKILL it as soon as ``ready()`` holds; the
    test fails if the process ended, or ``timeout_s`` passed, before it could be killed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    child = subprocess.Popen(args, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and child.poll() is None and not ready():
            time.sleep(0.005)
        running = child.poll() is None
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert running, f"the run ended before it could be killed: {err.decode()[-2000:]}"
    assert child.returncode == -signal.SIGKILL


def train_tiny_word_lm(root: Path) -> Path:
    """A one-layer word-problem model with room for the prompts (context 512), trained for a
    few steps: the plumbing of the programs that need the word problems' prompts (STaR,
    Promptbreeder, the lm-programs bench), not their effect."""
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    cfg = LMTrainConfig(
        task="wordproblems", digits=2, n_layer=1, n_head=2, d_model=32, block_size=512,
        steps=4, batch_size=4, lr=3e-3, warmup=2, eval_every=4, checkpoint_every=4,
        eval_examples=2, runs_root=root, progress=False,
    )  # fmt: skip
    return train(cfg)


def train_tiny_lm(
    root: Path, *, block_size: int = 64, steps: int = 40, batch_size: int = 16
) -> Path:
    """A one-layer byte-level model trained for a few steps on 2-digit additions (any text
    is a valid prompt for it): the real model behind the tests of servers and evaluations."""
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    cfg = LMTrainConfig(
        task="addition",
        tokenizer="byte",
        digits=2,
        n_layer=1,
        n_head=2,
        d_model=32,
        block_size=block_size,
        steps=steps,
        batch_size=batch_size,
        lr=3e-3,
        warmup=max(2, steps // 8),
        eval_every=steps,
        checkpoint_every=steps,
        eval_examples=4,
        runs_root=root,
        progress=False,
    )
    return train(cfg)
