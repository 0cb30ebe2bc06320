from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from palestra.core.config import arg
from palestra.core.errors import PalestraError
from palestra.core.report import render_run_report
from palestra.core.runs import Run, read_metrics


@dataclasses.dataclass
class Cfg:
    steps: int = arg(10, "steps")


def test_run_directory_layout(tmp_path: Path) -> None:
    with Run.open("toy", Cfg(), seed=3, root=tmp_path) as run:
        run.log(1, loss=2.0)
        run.log(2, loss=1.5, acc=0.25)
        run.save_checkpoint(2, {"w": [1, 2, 3]})
    d = run.dir
    assert d.parent == tmp_path / "toy"
    assert json.loads((d / "config.json").read_text()) == {"steps": 10}
    meta = json.loads((d / "meta.json").read_text())
    assert meta["seed"] == 3 and meta["machine"]["cores"] >= 1
    assert "torch" in meta["packages"] and "commit" in meta
    assert [r["step"] for r in read_metrics(d)] == [1, 2]
    assert list(d.glob("events.out.tfevents.*")), "TensorBoard event file missing"
    assert (d / "checkpoints" / "step_000000002.pt").exists()
    assert not list((d / "checkpoints").glob(".*tmp*")), "temporary checkpoint left behind"


def test_tensorboard_events_are_readable(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with Run.open("tb", Cfg(), root=tmp_path) as run:
        for step in range(5):
            run.log(step, loss=1.0 / (step + 1))
    acc = EventAccumulator(str(run.dir))
    acc.Reload()
    values = [e.value for e in acc.Scalars("loss")]
    assert values == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])


def test_resume_cuts_metrics_back_to_checkpoint(tmp_path: Path) -> None:
    with Run.open("r", Cfg(), root=tmp_path) as run:
        for step in range(1, 8):
            run.log(step, loss=float(step))
            if step == 4:
                run.save_checkpoint(step, {"step": step})
        # the run "dies" after logging steps 5..7 without a checkpoint
    with Run.open("r", Cfg(), root=tmp_path, resume=True) as again:
        assert again.resumed and again.dir == run.dir
        step, state = again.load_checkpoint()
        assert step == 4 and state == {"step": 4}
        assert [r["step"] for r in again.metrics()] == [1, 2, 3, 4]
        again.log(5, loss=5.0)
    assert [r["step"] for r in read_metrics(run.dir)] == [1, 2, 3, 4, 5]


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    with Run.open("r", Cfg(), root=tmp_path) as run:
        run.save_checkpoint(1, {})
    with pytest.raises(PalestraError, match="differs in: steps"):
        Run.open("r", Cfg(steps=11), root=tmp_path, resume=True)


def test_resume_with_nothing_to_resume_starts_fresh(tmp_path: Path) -> None:
    with Run.open("fresh", Cfg(), root=tmp_path, resume=True) as run:
        assert not run.resumed
        assert run.load_checkpoint() is None


def test_keeps_newest_checkpoints(tmp_path: Path) -> None:
    with Run.open("k", Cfg(), root=tmp_path) as run:
        for step in (1, 2, 3, 4):
            run.save_checkpoint(step, {"s": step}, keep=2)
        names = sorted(p.name for p in (run.dir / "checkpoints").iterdir())
        assert names == ["step_000000003.pt", "step_000000004.pt"]
        assert run.load_checkpoint()[0] == 4


def test_torn_metrics_line_is_skipped(tmp_path: Path) -> None:
    with Run.open("t", Cfg(), root=tmp_path) as run:
        run.log(1, loss=1.0)
    with open(run.dir / "metrics.jsonl", "a") as f:
        f.write('{"step": 2, "lo')
    assert [r["step"] for r in read_metrics(run.dir)] == [1]


def test_report_renders_curves_and_summary(tmp_path: Path) -> None:
    with Run.open("rep", Cfg(), root=tmp_path) as run:
        for step in range(10):
            run.log(step, loss=10.0 - step, reward=float(step))
    path = render_run_report(run.dir)
    text = path.read_text()
    assert "| loss | 10 | 1 | 1 | 10 | 10 |" in text
    assert (run.dir / "curves.png").stat().st_size > 1000
    with pytest.raises(PalestraError, match="not a run directory"):
        render_run_report(tmp_path)


@dataclasses.dataclass
class ResumableCfg:
    steps: int = arg(10, "steps")
    resume: bool = arg(False, "resume", recorded=False)


def test_unrecorded_fields_do_not_block_resume(tmp_path: Path) -> None:
    with Run.open("u", ResumableCfg(), root=tmp_path) as run:
        run.save_checkpoint(1, {})
    assert json.loads((run.dir / "config.json").read_text()) == {"steps": 10}
    with Run.open("u", ResumableCfg(resume=True), root=tmp_path, resume=True) as again:
        assert again.resumed and again.dir == run.dir


@dataclasses.dataclass
class MovedCfg:
    steps: int = arg(10, "steps")
    runs_root: Path = arg(Path("runs"), "where", recorded=False)


def test_a_run_saved_with_a_field_now_unrecorded_resumes(tmp_path: Path) -> None:
    """``runs_root`` was recorded once: a run saved under ``runs/x`` and resumed as
    ``/abs/runs/x`` is the same run (where a run lives is not what it is)."""
    from palestra.core.config import RunOptions

    with Run.open("o", MovedCfg(), root=tmp_path) as run:
        run.save_checkpoint(1, {})
    saved = {"steps": 10, "runs_root": "runs/elsewhere"}  # as an older version wrote it
    (run.dir / "config.json").write_text(json.dumps(saved))
    with Run.open("o", MovedCfg(runs_root=tmp_path), root=tmp_path, resume=True) as again:
        assert again.resumed and again.dir == run.dir
    saved["steps"] = 11  # a recorded field still decides
    (run.dir / "config.json").write_text(json.dumps(saved))
    with pytest.raises(PalestraError, match="differs in: steps"):
        Run.open("o", MovedCfg(), root=tmp_path, resume=True)
    runs_root = next(f for f in dataclasses.fields(RunOptions) if f.name == "runs_root")
    assert runs_root.metadata["recorded"] is False


@dataclasses.dataclass
class GrownCfg:  # Cfg with a field added after a run was saved
    steps: int = arg(10, "steps")
    width: int = arg(4, "a field newer than the run")


def test_fields_added_later_resume_at_their_default(tmp_path: Path) -> None:
    with Run.open("g", Cfg(), root=tmp_path) as run:
        run.save_checkpoint(1, {})
    with Run.open("g", GrownCfg(), root=tmp_path, resume=True) as again:
        assert again.resumed and again.dir == run.dir  # the old run ran with width 4
    with pytest.raises(PalestraError, match="differs in: width"):
        Run.open("g", GrownCfg(width=8), root=tmp_path, resume=True)


def test_tensorboard_drops_points_past_the_checkpoint_after_resume(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with Run.open("p", Cfg(), root=tmp_path) as run:
        for step in range(1, 8):
            run.log(step, loss=float(step))
            if step == 4:
                run.save_checkpoint(step, {})
    with Run.open("p", Cfg(), root=tmp_path, resume=True) as again:
        again.load_checkpoint()
        for step in (5, 6):
            again.log(step, loss=-float(step))
    acc = EventAccumulator(str(run.dir))
    acc.Reload()
    points = [(e.step, e.value) for e in acc.Scalars("loss")]
    assert points == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, -5.0), (6, -6.0)]


# ----------------------------------------------------------------------------- killed runs
def test_resume_removes_the_temporaries_of_an_interrupted_write(tmp_path: Path) -> None:
    with Run.open("w", Cfg(), root=tmp_path) as older:
        older.save_checkpoint(1, {})
    (older.dir / ".summary.json.tmp77").write_bytes(b"{")  # another run's: not touched
    with Run.open("w", Cfg(), root=tmp_path) as run:
        run.save_checkpoint(2, {"s": 2})
    # killed inside atomic_write_bytes (before the rename) at three places
    torn = [
        run.dir / "checkpoints" / ".step_000000004.pt.tmp4242",
        run.dir / ".summary.json.tmp4242",
        run.dir / "model" / ".model.safetensors.tmp17",
    ]
    torn[-1].parent.mkdir()
    for path in torn:
        path.write_bytes(b"\x80\x02half a pickle")
    kept = [run.dir / "notes.tmp", run.dir / ".hidden", run.dir / "model" / "a.tmp1"]
    for path in kept:
        path.write_text("mine")
    with Run.open("w", Cfg(), root=tmp_path, resume=True) as again:
        assert again.dir == run.dir
        assert again.load_checkpoint() == (2, {"s": 2})
    assert not any(path.exists() for path in torn)
    assert all(path.read_text() == "mine" for path in kept)
    assert (older.dir / ".summary.json.tmp77").exists()


def test_resume_after_a_kill_before_the_first_checkpoint(tmp_path: Path) -> None:
    """The newest run of the name, with its config but no checkpoint yet, is continued from
    its start in its own directory (not a new one), its metrics and TensorBoard points of
    the killed attempt dropped; an interrupted first checkpoint write is cleaned up."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with Run.open("e", Cfg(), root=tmp_path) as finished:  # an older run, checkpointed
        finished.save_checkpoint(10, {})
    with Run.open("e", Cfg(), root=tmp_path) as killed:
        for step in (1, 2, 3):
            killed.log(step, loss=float(step))
    (killed.dir / "checkpoints").mkdir()
    (killed.dir / "checkpoints" / ".step_000000004.pt.tmp99").write_bytes(b"half")
    with Run.open("e", Cfg(), root=tmp_path, resume=True) as again:
        assert again.resumed and again.dir == killed.dir
        assert again.load_checkpoint() is None  # start from step 0
        assert again.metrics() == []
        for step in (1, 2):
            again.log(step, loss=-float(step))
    assert sorted((tmp_path / "e").iterdir()) == sorted([finished.dir, killed.dir])
    assert list((killed.dir / "checkpoints").iterdir()) == []
    assert [(r["step"], r["loss"]) for r in read_metrics(killed.dir)] == [(1, -1.0), (2, -2.0)]
    acc = EventAccumulator(str(killed.dir))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(1, -1.0), (2, -2.0)]
    # the resumed run's config must still match
    with pytest.raises(PalestraError, match="differs in: steps"):
        Run.open("e", Cfg(steps=3), root=tmp_path, resume=True)


def test_resume_picks_the_newest_run_directory(tmp_path: Path) -> None:
    parent = tmp_path / "n"
    for name in ("20250101-120000", "20250101-120000-2", "20250101-120000-10"):
        (parent / name).mkdir(parents=True)
        (parent / name / "config.json").write_text('{"steps": 10}')
    (parent / "20250102-000000").mkdir()  # killed before its config was written: not a run
    with Run.open("n", Cfg(), root=tmp_path, resume=True) as run:
        assert run.dir.name == "20250101-120000-10"
        meta = json.loads((run.dir / "meta.json").read_text())  # killed before it was written
        assert meta["name"] == "n" and "commit" in meta
