"""``palestra eval-biases TASK``: the accuracy drop of a model under each bias intervention.

    palestra eval-biases humaneval --backend http://127.0.0.1:8000/v1 --samples 5 \\
        --temperature 0.8 --out runs/biases/humaneval-mymodel

In process (any :class:`~palestra.lm.backends.Backend`, as :func:`~palestra.reason.evaluate.
evaluate` takes one)::

    result = run_biases(BiasesConfig("humaneval", backend="-", limit=20,
                                     interventions=("anonymize_name",), out=Path("runs/b")),
                        backend=my_backend, model="mine")
    result["rows"][0]["drop"], result["rows"][0]["drop 95% interval"]

Mouselinos et al.'s experiment (:mod:`palestra.reason.interventions` makes the problems): the
task is evaluated unmodified and under each intervention, every run an ordinary ``palestra
eval`` run in ``OUT/NAME/`` (``OUT/none`` unmodified; ``a+b`` in ``OUT/a_and_b``; per-sample
JSONL, resumable after a kill: run the same command again, finished runs add no sample), with
sample ``i`` of an intervened problem drawn with the seed of the unmodified problem's sample
``i`` (common random numbers). :func:`drop_table` compares, for each intervention, pass@1 on
the problems it applied to with pass@1 of the *same* problems unmodified (an intervention that
skips the hard problems would otherwise look like a gain), and gives the 95% interval of the
mean paired drop over problems. ``OUT/biases.json`` holds the rows, the problems each
intervention skipped and why, and the interventions that applied to none; ``biases.md`` the
table, ``biases.png`` the drops with their intervals.

What it does not do: it says that a model drops, not why; with few problems or samples the
intervals are wide (normal approximation over problems; printed for that reason), and no
correction is made for testing several interventions at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palestra.core.errors import PalestraError
from palestra.core.runs import atomic_write_bytes
from palestra.reason.evaluate import (
    SAMPLES,
    BiasesConfig,
    EvalConfig,
    _check_intervention,
    _make_backend,
    _resolve_task,
    evaluate,
    read_samples,
)
from palestra.reason.interventions import NotApplicable
from palestra.reason.metrics import mean_interval
from palestra.reason.task import Task

if TYPE_CHECKING:
    from palestra.lm.backends import Backend

__all__ = ["UNMODIFIED", "drop_table", "pass_rates", "run_biases", "run_dir_name"]

UNMODIFIED = "none"  # the run of the unmodified problems


def run_dir_name(intervention: str) -> str:
    """The folder of an intervention's run under ``OUT`` (``a+b`` -> ``a_and_b``)."""
    return intervention.replace("+", "_and_")


def pass_rates(run_dir: Path) -> dict[str, float]:
    """pass@1 of each problem of a run (its accepted share of samples), keyed by the
    unmodified problem's id (``HumanEval/0~anonymize_name`` -> ``HumanEval/0``)."""
    passed: dict[str, list[bool]] = defaultdict(list)
    for r in read_samples(run_dir / SAMPLES):
        passed[r["problem"].split("~", 1)[0]].append(bool(r["accepted"]))
    return {p: sum(v) / len(v) for p, v in passed.items()}


def drop_table(
    original: dict[str, float], runs: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    """One row per intervention with at least one problem: the problems it applied to (the
    ids both ``original`` and its rates have), the rest of ``original`` as skipped, pass@1
    before and after on those problems, the mean paired drop (before minus after) with its
    95% interval over problems, and the drop relative to pass@1 before (None when that is 0)."""
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


def _markdown(
    task: str, model: str, samples: int, rows: list[dict[str, Any]], not_applied: dict[str, str]
) -> str:
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
    lines += [f"\n{name}: not applied ({why})" for name, why in not_applied.items()]
    return "\n".join([*lines, "", "![drops](biases.png)", ""])


def _plot(path: Path, rows: list[dict[str, Any]]) -> None:
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


def run_biases(
    cfg: BiasesConfig,
    *,
    task: Task | None = None,
    backend: Backend | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """The ``palestra eval-biases`` command: the runs (see the module docstring), then
    ``biases.{json,md,png}`` in ``cfg.out`` (default ``runs/biases/TASK``); returns what
    ``biases.json`` holds. ``task``, ``backend`` and ``model`` replace the ones ``cfg`` names,
    as for :func:`~palestra.reason.evaluate.evaluate`."""
    task = task or _resolve_task(cfg.task)
    if cfg.intervention:
        raise PalestraError("give the interventions with --interventions, not --intervention")
    if not cfg.interventions:
        raise PalestraError("--interventions names no intervention")
    for name in cfg.interventions:  # every name checked before the first sample
        _check_intervention(task, name)
    folders = [run_dir_name(n) for n in cfg.interventions]
    if len(set(folders)) != len(folders) or UNMODIFIED in folders:
        raise PalestraError(f"--interventions names one twice: {', '.join(cfg.interventions)}")
    root = cfg.out or Path("runs") / "biases" / task.name
    if backend is None:
        backend, model = _make_backend(cfg)
    model = model or cfg.model or "model"
    base = EvalConfig(**{f.name: getattr(cfg, f.name) for f in fields(EvalConfig)})
    runs: dict[str, dict[str, float]] = {}
    skipped: dict[str, list[dict[str, str]]] = {}
    not_applied: dict[str, str] = {}
    original: dict[str, float] = {}
    for name in (UNMODIFIED, *cfg.interventions):
        one = replace(
            base,
            intervention="" if name == UNMODIFIED else name,
            out=root / (UNMODIFIED if name == UNMODIFIED else run_dir_name(name)),
        )
        print(f"== {name}", flush=True)
        try:
            run_dir = evaluate(one, task=task, backend=backend, model=model, echo=False)
        except NotApplicable as e:  # raised before its run directory is made
            not_applied[name] = str(e)
            continue
        if name == UNMODIFIED:
            original = pass_rates(run_dir)
        else:
            runs[name] = pass_rates(run_dir)
            summary = json.loads((run_dir / "summary.json").read_text())
            skipped[name] = summary.get("skipped", [])
    rows = drop_table(original, runs)
    result = {
        "task": task.name,
        "model": model,
        "samples": cfg.samples,
        "temperature": cfg.temperature,
        "seed": cfg.seed,
        "problems": len(original),
        "pass@1 unmodified": sum(original.values()) / len(original),
        "rows": rows,
        "skipped": skipped,
        "not applied": not_applied,
    }
    atomic_write_bytes(root / "biases.json", json.dumps(result, indent=2).encode())
    text = _markdown(task.name, model, cfg.samples, rows, not_applied)
    atomic_write_bytes(root / "biases.md", text.encode())
    _plot(root / "biases.png", rows)
    print(text)
    print(f"runs and table: {root}")
    return result
