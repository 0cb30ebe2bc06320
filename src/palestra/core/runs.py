"""Run records: where every training or bench run writes what it did.

A run lives in ``runs/<name>/<timestamp>/``::

    config.json        the resolved config (less fields marked ``arg(..., recorded=False)``)
    meta.json          commit, machine, package versions, seed, command line, start time
    metrics.jsonl      one JSON object per logged step: {"step": ..., "time": ..., <metrics>}
    events.out.tfevents.*   the same scalars for TensorBoard
    checkpoints/step_<N>.pt  atomic checkpoints (written to a temporary name, then renamed)

``Run.open(..., resume=True)`` reopens the newest run of that name, checks that the config is
the same and removes the temporary files that a kill in the middle of an atomic write left
(``.NAME.tmpPID``, see :func:`atomic_write_bytes`). :meth:`Run.load_checkpoint` then cuts
``metrics.jsonl`` back to the checkpoint's step (a run killed between a checkpoint and its
death logged steps that will be redone) and returns the checkpoint for the caller to restore.
A run killed before its first checkpoint is continued too, from the start, in the same
directory: its metrics are emptied when it is reopened. A killed run therefore continues where
its last checkpoint (or its start) left it, and its metrics read as if it had never stopped.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from palestra.core.config import config_to_dict
from palestra.core.errors import PalestraError

__all__ = [
    "Run",
    "atomic_write_bytes",
    "load_final_state",
    "machine_info",
    "provenance",
    "read_metrics",
    "remove_temporaries",
    "rng_state",
    "set_rng_state",
]

_PACKAGES = ("palestra", "torch", "numpy", "python-sat", "ale-py", "gymnasium", "ray")


# the name of atomic_write_bytes's temporary file: ".NAME.tmpPID"
_TEMPORARY = re.compile(r"\..+\.tmp[0-9]+")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new, never half.

    Write to a temporary file ``.NAME.tmpPID`` in the same folder, flush it to disk, then
    ``os.replace``. A kill before the rename leaves the temporary file; reopening the run
    (:meth:`Run.open` with ``resume``) removes it.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    """What machine this is: enough to tell whether two figures are comparable."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": sys.version.split()[0],
    }


def provenance() -> dict[str, Any]:
    """Commit, machine and package versions: stamped on every run and bench result."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "dirty": bool(dirty) if dirty is not None else None,
        "machine": machine_info(),
        "packages": versions,
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")},
    }


def _defaults_added_since(config: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """The recorded fields of ``config`` that still have their default value.

    A run saved before a field existed lacks its key; it ran with what is now the default, so
    resuming it with the default is resuming the same config.
    """
    if not dataclasses.is_dataclass(config):
        return {}
    out = {}
    for f in dataclasses.fields(config):
        if f.name not in cfg or f.default is dataclasses.MISSING:
            continue
        if json.loads(json.dumps(f.default, default=str)) == cfg[f.name]:
            out[f.name] = cfg[f.name]
    return out


def _unrecorded(config: Any) -> set[str]:
    """The fields of ``config`` marked ``recorded=False``."""
    if not dataclasses.is_dataclass(config):
        return set()
    return {f.name for f in dataclasses.fields(config) if not f.metadata.get("recorded", True)}


class Run:
    """An open run directory. Use :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(self, directory: Path, config: Any, *, resumed: bool, tensorboard: bool) -> None:
        self.dir = directory
        self.config = config
        self.resumed = resumed
        self._tensorboard = tensorboard
        self._tb: Any = None
        self._purge_step: int | None = None
        self._metrics = open(self.dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        name: str,
        config: Any,
        *,
        seed: int | None = None,
        root: str | Path = "runs",
        resume: bool | str | Path = False,
        tensorboard: bool = True,
    ) -> Run:
        """Start a new run of ``name``, or reopen one with ``resume``.

        ``resume=True`` picks the newest run of ``name`` under ``root`` with a checkpoint;
        ``resume=PATH`` names the run directory. A new run is started when ``resume=True``
        finds nothing to resume (the first run of a ``--resume`` loop).
        """
        root = Path(root)
        cfg = config_to_dict(config, recorded_only=True)
        if resume:
            directory = Path(resume) if not isinstance(resume, bool) else cls._latest(root / name)
            if directory is not None:
                saved_path = directory / "config.json"
                if not saved_path.exists():
                    raise PalestraError(f"{directory}: not a run directory (no config.json)")
                saved = {**_defaults_added_since(config, cfg), **json.loads(saved_path.read_text())}
                for k in _unrecorded(config):  # recorded by older versions, not compared now
                    saved.pop(k, None)
                if saved != cfg:
                    diff = sorted(k for k in set(saved) | set(cfg) if saved.get(k) != cfg.get(k))
                    raise PalestraError(
                        f"{directory}: cannot resume with a different config "
                        f"(differs in: {', '.join(diff)}); start without resume for a new run"
                    )
                remove_temporaries(directory)
                if not (directory / "meta.json").exists():  # killed before it was written
                    _write_meta(directory, name, seed)
                run = cls(directory, config, resumed=True, tensorboard=tensorboard)
                if not _checkpoints(directory):  # killed before its first checkpoint
                    run._truncate_metrics(None)  # it starts again from step 0
                return run
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        (root / name).mkdir(parents=True, exist_ok=True)
        directory, n = root / name / stamp, 1
        while True:  # mkdir is the claim: two runs started in the same second get two folders
            try:
                directory.mkdir()
                break
            except FileExistsError:
                n += 1
                directory = root / name / f"{stamp}-{n}"
        atomic_write_bytes(directory / "config.json", json.dumps(cfg, indent=2).encode())
        _write_meta(directory, name, seed)
        return cls(directory, config, resumed=False, tensorboard=tensorboard)

    @staticmethod
    def _latest(parent: Path) -> Path | None:
        """The newest run directory (one with a ``config.json``) under ``parent``.

        With or without a checkpoint: a run killed before its first checkpoint is the run to
        continue, not a reason to start another.
        """
        if not parent.is_dir():
            return None
        candidates = [d for d in parent.iterdir() if (d / "config.json").is_file()]
        return max(candidates, key=_stamp_order) if candidates else None

    # -- metrics -----------------------------------------------------------------------
    def log(self, step: int, **metrics: float) -> None:
        """Append one line to ``metrics.jsonl`` and the same scalars to TensorBoard."""
        record = {"step": int(step), "time": round(time.time(), 3)}
        record.update({k: float(v) for k, v in metrics.items()})
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()
        if self._tensorboard:
            if self._tb is None:
                from torch.utils.tensorboard import SummaryWriter

                # After a resume, TensorBoard drops the dead run's points past the checkpoint.
                self._tb = SummaryWriter(log_dir=str(self.dir), purge_step=self._purge_step)
            for k, v in metrics.items():
                self._tb.add_scalar(k, float(v), int(step))

    def metrics(self) -> list[dict[str, Any]]:
        """All metric records logged so far (in this run and the runs it resumes)."""
        self._metrics.flush()
        return read_metrics(self.dir)

    # -- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, step: int, state: dict[str, Any], keep: int = 2) -> Path:
        """Atomically save ``state`` (anything ``torch.save`` takes) as the step's checkpoint.

        Keeps the newest ``keep`` checkpoints. The metrics are flushed first, so a checkpoint
        never refers to steps whose metrics are lost.
        """
        import torch

        self._metrics.flush()
        os.fsync(self._metrics.fileno())
        folder = self.dir / "checkpoints"
        folder.mkdir(exist_ok=True)
        buffer = io.BytesIO()
        torch.save({"step": int(step), "state": state}, buffer)
        path = folder / f"step_{int(step):09d}.pt"
        atomic_write_bytes(path, buffer.getvalue())
        for old in _checkpoints(self.dir)[:-keep]:
            old.unlink(missing_ok=True)
        return path

    def load_checkpoint(self) -> tuple[int, dict[str, Any]] | None:
        """The newest checkpoint as ``(step, state)``, or None; cuts metrics back to it."""
        import torch

        found = _checkpoints(self.dir)
        if not found:
            return None
        blob = torch.load(found[-1], map_location="cpu", weights_only=False)
        step = int(blob["step"])
        self._truncate_metrics(step)
        return step, blob["state"]

    def _truncate_metrics(self, step: int | None) -> None:
        """Keep the metrics of the steps up to ``step`` (None: keep none), and tell
        TensorBoard to drop its points past it."""
        self._metrics.close()
        path = self.dir / "metrics.jsonl"
        kept = [r for r in read_metrics(self.dir) if step is not None and r["step"] <= step]
        atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in kept).encode())
        self._metrics = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._purge_step = 0 if step is None else step + 1
        if step is None and self._tb is None:
            # Nothing is kept: drop the killed attempt's event files outright rather than
            # rely on TensorBoard's purge, which orders files by name (time, pid, counter).
            for events in self.dir.glob("events.out.tfevents.*"):
                events.unlink()

    def write_json(self, name: str, data: Any) -> Path:
        """Atomically write a JSON artefact (results, summaries) into the run directory."""
        path = self.dir / name
        atomic_write_bytes(path, json.dumps(data, indent=2).encode())
        return path

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        self._metrics.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rng_state() -> dict[str, Any]:
    """The global RNG states of torch, numpy and Python, for a checkpoint."""
    import random

    import numpy as np
    import torch

    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved, so a resumed run draws the same numbers."""
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def remove_temporaries(directory: str | Path) -> list[Path]:
    """Remove the temporary files of interrupted :func:`atomic_write_bytes` calls anywhere in
    a run directory; return them.

    Only files named as that function names them (``.NAME.tmpPID``) go. Call it on a run no
    other process is writing: a live writer's temporary file looks the same.
    """
    removed = []
    for folder, _, files in os.walk(directory):
        for file in files:
            if _TEMPORARY.fullmatch(file):
                path = Path(folder, file)
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _write_meta(directory: Path, name: str, seed: int | None) -> None:
    meta = {
        "name": name,
        "seed": seed,
        "argv": sys.argv,
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        **provenance(),
    }
    atomic_write_bytes(directory / "meta.json", json.dumps(meta, indent=2).encode())


def _stamp_order(directory: Path) -> tuple[str, int]:
    """Sort key of run directories by age: ``STAMP`` < ``STAMP-2`` < ... < ``STAMP-10``."""
    numbered = re.fullmatch(r"([0-9]{8}-[0-9]{6})-([0-9]+)", directory.name)
    if numbered:
        return numbered[1], int(numbered[2])
    return directory.name, 1


def _checkpoints(directory: Path) -> list[Path]:
    folder = directory / "checkpoints"
    return sorted(folder.glob("step_*.pt")) if folder.is_dir() else []


def load_final_state(directory: str | Path) -> dict[str, Any]:
    """What a trainer left to rebuild its model from: ``model.pt`` (written when training
    finished) if it exists, else the state of the newest checkpoint."""
    import torch

    directory = Path(directory)
    if (directory / "model.pt").exists():
        return torch.load(directory / "model.pt", map_location="cpu", weights_only=False)
    found = _checkpoints(directory)
    if not found:
        raise PalestraError(f"{directory}: no model.pt and no checkpoint")
    return torch.load(found[-1], map_location="cpu", weights_only=False)["state"]


def read_metrics(directory: str | Path) -> list[dict[str, Any]]:
    """Read ``metrics.jsonl``, skipping a torn last line (a run killed mid-write)."""
    path = Path(directory) / "metrics.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
