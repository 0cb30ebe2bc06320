"""Bench ``serve``: requests/s, latency and tokens/s of the OpenAI-compatible server.

    palestra bench serve --quick
    palestra bench serve -o run_dir=runs/lm/20250101-120000 -o concurrency=1,2,4,8

The server (:mod:`palestra.lm.server`) runs in its own process on a free loopback port, as
``palestra lm serve`` would; this process drives a bounded load through
:class:`~palestra.lm.backends.OpenAIBackend`: for each concurrency level, a fixed list of
requests with that many in flight at once, within a time limit (requests not started by then
are skipped and counted). The peer is the same model in this process through
:class:`~palestra.lm.backends.LocalBackend`, given the same prompts, ``max_tokens``, greedy
decoding and concurrency; so the ratio is what HTTP, JSON and a second process cost. Both
decode greedily, and the report says whether every text came out the same.

Without ``run_dir`` a small model is trained first (scratchpad addition, a few seconds); its
answers run to a few dozen tokens, long enough for tokens/s to mean something. All traffic is
on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.errors import PalestraError

__all__ = ["ServeBenchOptions"]

MODEL_NAME = "bench"
PEER = "LocalBackend (in-process)"


@dataclass
class ServeBenchOptions(Config):
    """Options of ``palestra bench serve`` (quick mode caps requests, time and training)."""

    run_dir: Path | None = arg(
        None, "Run directory to serve; unset: train a small model in a temporary folder."
    )
    requests: int = arg(
        48, "Requests per concurrency level and backend (quick: at most 24).", min=1
    )
    concurrency: tuple[int, ...] = arg((1, 2, 4), "Concurrency levels: requests in flight.", min=1)
    max_tokens: int = arg(40, "max_tokens of every request (greedy decoding).", min=1)
    threads: int = arg(1, "torch threads of the server and of the in-process peer.", min=1)
    time_limit: float = arg(
        60.0, "Seconds per level and backend; requests not started by then are skipped.", above=0
    )
    stream: bool = arg(False, "Ask the server for streamed (SSE) answers.")
    train_steps: int = arg(300, "Steps of the model trained when no run_dir is given.", min=1)

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        if not self.concurrency:
            raise ValueError("concurrency needs at least one level")


def _train_model(root: Path, steps: int, seed: int, threads: int) -> Path:
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    cfg = LMTrainConfig(
        task="addition-scratchpad",
        digits=3,
        n_layer=2,
        n_head=4,
        d_model=64,
        block_size=64,
        steps=steps,
        batch_size=32,
        lr=3e-3,
        warmup=min(50, steps // 5 + 1),
        eval_every=steps,
        checkpoint_every=steps,
        eval_examples=8,
        seed=seed,
        threads=threads,
        run_name="bench-serve-model",
        runs_root=root,
        progress=False,
    )
    return train(cfg)


def _prompts(run_dir: Path, count: int, seed: int) -> list[str]:
    """Prompts of the task the model was trained on (empty prompts for a character model)."""
    from palestra.lm.scratchpad import make_task

    config = run_dir / "config.json"
    cfg = json.loads(config.read_text()) if config.is_file() else {}
    task = cfg.get("task")  # absent for a model/ folder, which keeps no training config
    if task is None or task == "chars":
        return [""] * count
    sampler = make_task(
        task,
        digits=cfg.get("digits", 3),
        degree=cfg.get("degree", 3),
        statements=cfg.get("statements", 4),
    )
    rng = random.Random(f"{seed}/bench-serve")
    return [sampler.sample(rng)[0] for _ in range(count)]


@contextlib.contextmanager
def _server_process(run_dir: Path, threads: int, log: Path) -> Iterator[str]:
    """``palestra.lm.server.serve`` in a child process on a free loopback port; yields its
    URL; stops it with SIGTERM (then SIGKILL) however the block ends."""
    code = (
        "import sys\n"
        "from palestra.lm.server import serve\n"
        "from palestra.lm.serve_config import ServeConfig\n"
        "serve(ServeConfig(sys.argv[1], host='127.0.0.1', port=0, threads=int(sys.argv[2]),"
        f" max_n=1, model_name={MODEL_NAME!r}))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log, "w") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(run_dir), str(threads)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            lines: queue.Queue[str] = queue.Queue()
            assert child.stdout is not None
            stdout = child.stdout
            threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
            try:
                line = lines.get(timeout=120)
            except queue.Empty:
                line = ""
            if not line.startswith("serving "):
                raise PalestraError(
                    f"the server did not start: {log.read_text()[-500:].strip() or line}"
                )
            yield line.split()[-1]
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


def _drive(
    backend: Any, jobs: list[tuple[str, int]], concurrency: int, time_limit: float
) -> dict[str, Any]:
    """Run ``jobs`` (prompt, max_tokens) with ``concurrency`` in flight; greedy decoding."""
    start = time.perf_counter()
    deadline = start + time_limit

    def one(job: tuple[str, int]) -> tuple[float, int, str] | None:
        if time.perf_counter() > deadline:
            return None
        t0 = time.perf_counter()
        [c] = backend.complete(job[0], temperature=0.0, max_tokens=job[1])
        return time.perf_counter() - t0, c.completion_tokens, c.text

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, jobs))
    wall = time.perf_counter() - start
    done = [r for r in results if r is not None]
    latencies = sorted(r[0] for r in done)
    tokens = sum(r[1] for r in done)
    return {
        "done": len(done),
        "skipped": len(results) - len(done),
        "wall_s": wall,
        "requests_per_s": len(done) / wall,
        "tokens_per_s": tokens / wall,
        "p50_ms": 1000 * _quantile(latencies, 0.50),
        "p95_ms": 1000 * _quantile(latencies, 0.95),
        "mean_tokens": tokens / max(1, len(done)),
        "latencies_ms": [round(1000 * x, 3) for x in latencies],
        "texts": [r[2] if r else None for r in results],
    }


def _quantile(sorted_xs: list[float], q: float) -> float:
    """Linear-interpolated quantile of a sorted list (nan when empty)."""
    if not sorted_xs:
        return float("nan")
    if len(sorted_xs) == 1:
        return sorted_xs[0]
    return statistics.quantiles(sorted_xs, n=100, method="inclusive")[round(q * 100) - 1]


@register_suite("serve", config=ServeBenchOptions)
def run(bench: Bench) -> None:
    from palestra.lm.backends import LocalBackend, OpenAIBackend

    opts: ServeBenchOptions = bench.options or ServeBenchOptions()
    n_requests = min(opts.requests, 24) if bench.quick else opts.requests
    train_steps = min(opts.train_steps, 60) if bench.quick else opts.train_steps
    time_limit = min(opts.time_limit, 20.0) if bench.quick else opts.time_limit

    with tempfile.TemporaryDirectory(prefix="palestra-bench-serve-") as tmp:
        run_dir = opts.run_dir
        if run_dir is None:
            run_dir = _train_model(Path(tmp) / "runs", train_steps, bench.seed, opts.threads)
            bench.note(
                f"model: trained here for {train_steps} steps on 3-digit scratchpad addition "
                "(2 layers, d_model 64, block 64, digit tokenizer)"
            )
        else:
            bench.note(f"model: {run_dir}")
        run_dir = Path(run_dir)
        local = LocalBackend(run_dir, threads=opts.threads)
        jobs = []
        for prompt in _prompts(run_dir, n_requests, bench.seed):
            room = local.block_size - len(local.encode(prompt))
            jobs.append((prompt, max(1, min(opts.max_tokens, room))))

        results: dict[str, dict[int, dict[str, Any]]] = {"http": {}, "local": {}}
        with _server_process(run_dir, opts.threads, Path(tmp) / "server.log") as url:
            remote = OpenAIBackend(url, MODEL_NAME, stream=opts.stream, timeout=60.0)
            for backend in (remote, local):  # warm-up: first calls pay for lazy setup
                backend.complete(jobs[0][0], temperature=0.0, max_tokens=jobs[0][1])
            for c in opts.concurrency:
                results["http"][c] = _drive(remote, jobs, c, time_limit)
                results["local"][c] = _drive(local, jobs, c, time_limit)

    setting = (
        f"{n_requests} requests, max_tokens<={opts.max_tokens}, greedy, "
        f"{opts.threads} torch thread(s)" + (", streamed" if opts.stream else "")
    )
    rows = []
    same = True
    for c in opts.concurrency:
        ours, peer = results["http"][c], results["local"][c]
        for name, key, unit, higher in (
            ("requests/s", "requests_per_s", "req/s", True),
            ("p50 latency", "p50_ms", "ms", False),
            ("p95 latency", "p95_ms", "ms", False),
            ("tokens/s", "tokens_per_s", "tok/s", True),
        ):
            bench.figure(
                f"{name} @ concurrency {c}",
                ours[key],
                unit,
                peer=PEER,
                peer_value=peer[key],
                higher_is_better=higher,
                setting=setting,
            )
        for label, r in (("HTTP server", ours), ("in-process", peer)):
            keys = ("requests_per_s", "p50_ms", "p95_ms", "tokens_per_s", "mean_tokens")
            rows.append(
                [label, c, r["done"], r["skipped"], round(r["wall_s"], 2), *(r[k] for k in keys)]
            )
        same &= all(a == b for a, b in zip(ours["texts"], peer["texts"], strict=True) if a and b)
    bench.table(
        "load by backend and concurrency",
        [
            *("backend", "concurrency", "done", "skipped", "wall s"),
            *("req/s", "p50 ms", "p95 ms", "tok/s", "tokens/request"),
        ],
        rows,
    )
    with bench.plot(
        "latency", "Request latency vs concurrency", xlabel="requests in flight", ylabel="ms"
    ) as ax:
        levels = list(opts.concurrency)
        for backend, label, color in (("http", "HTTP server", "C0"), ("local", PEER, "C1")):
            for q, style in (("p50", "-"), ("p95", "--")):
                values = [results[backend][c][f"{q}_ms"] for c in levels]
                ax.plot(levels, values, style, color=color, marker="o", label=f"{label} {q}")
        ax.set_xticks(levels)
    bench.note(
        "ours: the server in a child process (ThreadingHTTPServer, one model, a lock around "
        "every forward pass) asked over loopback HTTP by OpenAIBackend; peer: the same model "
        "through LocalBackend in this process; same prompts, max_tokens and greedy decoding."
    )
    bench.note(
        "the HTTP and in-process texts were "
        + ("identical for every request." if same else "NOT identical: a bug to look at.")
    )
    bench.note(
        "both share this machine's cores with the load driver; with one model and a lock, "
        "more concurrency raises latency more than throughput."
    )
    bench.data = {
        backend: {str(c): {k: v for k, v in r.items() if k != "texts"} for c, r in by_level.items()}
        for backend, by_level in results.items()
    }
