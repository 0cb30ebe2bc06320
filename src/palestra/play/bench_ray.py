"""``palestra bench atari-ray``: BA3C training throughput with 1, 2, 4, ... Ray rollout workers.

For each observation mode, whole BA3C training updates (rollout and Adam step) are timed with
the envs stepped by 1, 2, 4, ... Ray actors (:class:`palestra.play.ba3c.RayRollouts`), up to
the machine's core count, always the same total env count, rollout length and network, and
with the envs stepped by the learner itself (no Ray: the peer, measured in the same run). The
first update of every run is warm-up and not counted. Figures are agent steps/s (frames/s =
4x); the report has a table and a plot of steps/s against the number of workers.

Every Ray actor holds one CPU and the learner waits for all of them (the update is
synchronous), so the workers scale only while free cores remain: on a machine whose cores are
busy with other work the figures say little about scaling (the report notes the load).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.runs import read_metrics

__all__ = ["AtariRayBenchOptions", "run", "worker_counts"]

# Updates per measurement in quick mode (full mode: 4x); screens are ~4x slower than RAM.
QUICK_UPDATES = {"screen": 25, "both": 25, "ram": 100}


@dataclass
class AtariRayBenchOptions(Config):
    """Options of ``palestra bench atari-ray``."""

    game: str = arg("breakout", "Game.")
    obs: tuple[str, ...] = arg(("screen", "ram"), "Observation modes measured (screen, ram, both).")
    num_envs: int = arg(32, "Envs in all: the same for every worker count and in process.", min=1)
    rollout: int = arg(5, "Agent steps per env per update (BA3C's default).", min=1)
    workers: tuple[int, ...] | None = arg(
        None, "Ray worker counts (default: 1, 2, 4, ... up to the machine's cores).", min=1
    )
    updates: int | None = arg(
        None,
        "Updates per run, the first not counted (default quick: screen 25, ram 100; full 4x).",
        min=2,
    )
    threads: int = arg(1, "torch threads of the learner (every worker uses one).", min=1)


def worker_counts(cores: int) -> list[int]:
    """1, 2, 4, ... up to ``cores``, and ``cores`` itself."""
    counts = [1 << k for k in range(cores.bit_length()) if 1 << k <= cores]
    return counts if counts[-1] == cores else [*counts, cores]


@contextlib.contextmanager
def _ray_cluster(cpus: int) -> Iterator[None]:
    """A local Ray cluster of ``cpus`` CPUs for the bench's runs to join, shut down after;
    a Ray already initialised in this process (a test's) is used and left as it is."""
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def _steps_per_s(
    opts: AtariRayBenchOptions, obs: str, workers: int, updates: int, root: Path
) -> float:
    """Agent steps/s over updates 2..N of a BA3C run with ``workers`` Ray actors (0: none)."""
    from palestra.play.config import PlayTrainConfig
    from palestra.play.train import train

    cfg = PlayTrainConfig(
        game=opts.game,
        obs=obs,  # type: ignore[arg-type]
        algo="ba3c",
        num_envs=opts.num_envs,
        rollout=opts.rollout,
        total_steps=updates * opts.num_envs * opts.rollout,
        threads=opts.threads,
        workers=workers,
        checkpoint_every=10**9,
        run_name=f"ba3c-{obs}-{workers}",
        runs_root=root,
        progress=False,
    )
    records = read_metrics(train(cfg))
    first, last = records[0], records[-1]
    return (last["step"] - first["step"]) / (last["time"] - first["time"])


def _plot(bench: Bench, series: dict[str, dict[str, Any]], counts: list[int]) -> None:
    """Steps/s vs workers per observation, the in-process figure and ideal scaling."""
    with bench.plot(
        "scaling",
        "BA3C training throughput vs Ray rollout workers",
        xlabel="Ray rollout workers",
        ylabel="agent steps/s",
    ) as ax:
        for obs, s in series.items():
            (line,) = ax.plot(counts, s["ray"], "o-", label=f"{obs}: Ray workers")
            color = line.get_color()
            ax.axhline(s["local"], color=color, linestyle="--", label=f"{obs}: in process")
            ideal = [s["ray"][0] * k / counts[0] for k in counts]
            ax.plot(counts, ideal, ":", color=color, alpha=0.6, label=f"{obs}: linear")
        ax.set_xticks(counts)


@register_suite("atari-ray", config=AtariRayBenchOptions)
def run(bench: Bench) -> None:
    """Steps/s of BA3C with 1, 2, 4, ... Ray workers vs in process, per observation mode."""
    opts: AtariRayBenchOptions = bench.options or AtariRayBenchOptions()
    cores = os.cpu_count() or 1
    counts = sorted(opts.workers or worker_counts(cores))
    if opts.updates is not None and opts.updates < 2:
        raise ValueError("updates must be at least 2 (the first is warm-up)")
    load = os.getloadavg()[0]
    rows: list[list[Any]] = []
    series: dict[str, dict[str, Any]] = {}
    with _ray_cluster(max(cores, *counts)), tempfile.TemporaryDirectory() as tmp:
        for obs in opts.obs:
            updates = opts.updates or QUICK_UPDATES[obs] * (1 if bench.quick else 4)
            setting = (
                f"{opts.game} {obs}, {opts.num_envs} envs in all, rollout {opts.rollout}, "
                f"{updates} updates"
            )
            local = _steps_per_s(opts, obs, 0, updates, Path(tmp))
            rows.append([obs, "in process (no Ray)", local, 4 * local, 1.0, "–"])
            values = []
            for k in counts:
                value = _steps_per_s(opts, obs, k, updates, Path(tmp))
                values.append(value)
                label = f"{k} Ray worker{'s' if k > 1 else ''}"
                bench.figure(
                    f"BA3C {obs}, {label}",
                    value,
                    "agent steps/s",
                    peer="BA3C in process (no Ray)",
                    peer_value=local,
                    setting=setting,
                )
                efficiency = (value / values[0]) / (k / counts[0])
                rows.append([obs, label, value, 4 * value, value / local, efficiency])
            series[obs] = {"workers": counts, "ray": values, "local": local}
    headers = ["obs", "rollouts", "agent steps/s", "frames/s", "vs in process", "scaling eff."]
    bench.table("BA3C training throughput", headers, rows)
    bench.data["scaling"] = series
    bench.data["table"] = {"headers": headers, "rows": rows}
    _plot(bench, series, counts)
    bench.note(
        f"{cores} cores; load average {load:.1f} when the bench started (other work on the "
        "machine takes cores from the workers). Each Ray worker holds one CPU and the learner "
        "needs one too, so steps/s can only grow while free cores remain."
    )
    bench.note(
        "Scaling efficiency = (steps/s / steps/s at the fewest workers) / (workers ratio); "
        "1 is linear. In process, screens use ALE's native vector env (C++ threads, one per "
        "core), RAM Palestra's in-process env; every worker steps its envs on one thread."
    )
