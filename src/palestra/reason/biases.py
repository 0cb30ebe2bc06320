"""``palestra eval-biases TASK``: the accuracy drop of a model under each bias intervention.

    palestra eval-biases humaneval --backend http://127.0.0.1:8000/v1 --samples 5 \\
        --temperature 0.8 --out runs/biases/humaneval-mymodel

Mouselinos et al.'s experiment (:mod:`palestra.reason.interventions`): the task is evaluated
unmodified and under each intervention, every run an ordinary ``palestra eval`` run in
``OUT/NAME/`` (per-sample JSONL, resumable after a kill: run the same command again), with
sample ``i`` of an intervened problem drawn with the seed of the unmodified problem's sample
``i``. The table compares, for each intervention, pass@1 on the problems it applied to with
pass@1 of the *same* problems unmodified (an intervention that skips the easy problems would
otherwise look like a drop), and gives the paired 95% interval of the drop over problems.

What it does not do: it says that a model drops, not why; with few samples per problem the
intervals are wide (they are printed for that reason).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from palestra.core.errors import PalestraError
from palestra.core.runs import atomic_write_bytes
from palestra.reason.evaluate import (
    BiasesConfig,
    EvalConfig,
    _make_backend,
    _resolve_task,
    evaluate,
    read_samples,
)
from palestra.reason.metrics import mean_interval

__all__ = ["drop_table", "run_biases"]

UNMODIFIED = "none"


def _rates(run_dir: Path) -> dict[str, float]:
    """pass@1 of each problem of a run, keyed by the unmodified problem's id."""
    passed: dict[str, list[bool]] = defaultdict(list)
    for r in read_samples(run_dir / "samples.jsonl"):
        passed[r["problem"].split("~")[0]].append(bool(r["accepted"]))
    return {p: sum(v) / len(v) for p, v in passed.items()}


def drop_table(original: dict[str, float], runs: dict[str, dict[str, float]]) -> list[dict]:
    """One row per intervention: problems it applied to, pass@1 before and after on those,
    the drop and its paired 95% interval over problems."""
    rows = []
    for name, rates in runs.items():
        ids = sorted(set(rates) & set(original))
        if not ids:
            continue
        before = [original[i] for i in ids]
        after = [rates[i] for i in ids]
        drop, low, high = mean_interval([b - a for b, a in zip(before, after, strict=True)])
        pass_before = sum(before) / len(ids)
        rows.append(
            {
                "intervention": name,
                "problems": len(ids),
                "skipped": len(original) - len(ids),
                "pass@1 original": pass_before,
                "pass@1 intervened": sum(after) / len(ids),
                "drop": drop,
                "drop 95% interval": [low, high],
                "relative drop": drop / pass_before if pass_before > 0 else None,
            }
        )
    return rows


def _markdown(task: str, model: str, samples: int, rows: list[dict]) -> str:
    lines = [
        f"# Bias interventions: `{model}` on {task} ({samples} samples per problem)",
        "",
        "| intervention | problems | skipped | pass@1 original | pass@1 intervened | drop "
        "| 95% interval | relative drop |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        rel = "n/a" if r["relative drop"] is None else f"{r['relative drop']:.1%}"
        low, high = r["drop 95% interval"]
        lines.append(
            f"| {r['intervention']} | {r['problems']} | {r['skipped']} "
            f"| {r['pass@1 original']:.3f} | {r['pass@1 intervened']:.3f} | {r['drop']:+.3f} "
            f"| [{low:+.3f}, {high:+.3f}] | {rel} |"
        )
    return "\n".join([*lines, "", "![drops](biases.png)", ""])


def _plot(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * max(1, len(rows))), dpi=110)
    try:
        names = [r["intervention"] for r in rows]
        drops = [r["drop"] for r in rows]
        err = [
            [r["drop"] - r["drop 95% interval"][0] for r in rows],
            [r["drop 95% interval"][1] - r["drop"] for r in rows],
        ]
        ax.barh(names, drops, xerr=err, color="tab:red", alpha=0.7, capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.invert_yaxis()
        ax.set_xlabel("pass@1 drop (original - intervened), 95% interval over problems")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def run_biases(cfg: BiasesConfig) -> dict[str, Any]:
    """The ``palestra eval-biases`` command: the runs, then ``biases.{json,md,png}`` in
    ``--out`` (default ``runs/biases/TASK``)."""
    task = _resolve_task(cfg.task)
    if task.kind != "code":
        raise PalestraError(f"bias interventions apply to code tasks, not {task.name}")
    if cfg.intervention:
        raise PalestraError("give the interventions with --interventions, not --intervention")
    root = cfg.out or Path("runs") / "biases" / task.name
    backend, model = _make_backend(cfg)
    base = {f: getattr(cfg, f) for f in EvalConfig.__dataclass_fields__}
    runs: dict[str, dict[str, float]] = {}
    original: dict[str, float] = {}
    for name in (UNMODIFIED, *cfg.interventions):
        one = replace(
            EvalConfig(**base),
            intervention="" if name == UNMODIFIED else name,
            out=root / name.replace("+", "_and_"),
        )
        print(f"== {name}", flush=True)
        run_dir = evaluate(one, task=task, backend=backend, model=model, echo=False)
        if name == UNMODIFIED:
            original = _rates(run_dir)
        else:
            runs[name] = _rates(run_dir)
    rows = drop_table(original, runs)
    result = {
        "task": task.name,
        "model": model,
        "samples": cfg.samples,
        "problems": len(original),
        "pass@1 unmodified": sum(original.values()) / len(original),
        "rows": rows,
    }
    atomic_write_bytes(root / "biases.json", json.dumps(result, indent=2).encode())
    text = _markdown(task.name, model, cfg.samples, rows)
    atomic_write_bytes(root / "biases.md", text.encode())
    _plot(root / "biases.png", rows)
    print(text)
    print(f"runs and table: {root}")
    return result
