"""``palestra report RUN_DIR``: learning curves as PNG and a Markdown summary of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from palestra.core.errors import PalestraError
from palestra.core.runs import atomic_write_bytes, read_metrics

__all__ = ["render_run_report"]


def _series(records: list[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    series: dict[str, tuple[list[int], list[float]]] = {}
    for r in records:
        for key, value in r.items():
            if key in ("step", "time") or not isinstance(value, (int, float)):
                continue
            steps, values = series.setdefault(key, ([], []))
            steps.append(r["step"])
            values.append(value)
    return series


def render_run_report(run_dir: str | Path) -> Path:
    """Plot every logged metric against the step and write ``RUN_DIR/report.md``.

    Returns the path of the report. The curves go to ``RUN_DIR/curves.png`` (one panel per
    metric).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise PalestraError(f"{run_dir}: not a run directory (no config.json)")
    config = json.loads((run_dir / "config.json").read_text())
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    series = _series(read_metrics(run_dir))

    lines = [f"# Run `{meta.get('name', run_dir.parent.name)}` — {run_dir.name}", ""]
    commit = (meta.get("commit") or "unknown")[:10]
    machine = meta.get("machine", {})
    lines += [
        f"- started {meta.get('started', '?')}, commit `{commit}`"
        + (" (dirty)" if meta.get("dirty") else ""),
        f"- machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores",
        f"- seed {meta.get('seed')}; command: `{' '.join(meta.get('argv', []))}`",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(config, indent=2),
        "```",
        "",
    ]
    if series:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(series)
        cols = min(3, n)
        rows = (n + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
        for ax, (name, (steps, values)) in zip(axes.flat, series.items(), strict=False):
            ax.plot(steps, values, lw=1.2)
            ax.set_title(name)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(run_dir / "curves.png", dpi=100)
        plt.close(fig)
        lines += [
            "## Metrics",
            "",
            "| metric | first | last | min | max | points |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, (_steps, values) in series.items():
            lines.append(
                f"| {name} | {values[0]:.4g} | {values[-1]:.4g} | {min(values):.4g} | "
                f"{max(values):.4g} | {len(values)} |"
            )
        lines += ["", "![curves](curves.png)", ""]
    else:
        lines += ["No metrics were logged.", ""]
    path = run_dir / "report.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path
