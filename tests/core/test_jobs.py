"""The job runner: values back, deadlines that kill the whole process group, typed crashes,
first-wins stopping, and no job outliving a runner killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from palestra.core.jobs import JobError, JobRunner, run_jobs

from ..conftest import alive, live_processes


def _square(x: int) -> int:
    return x * x


def test_values_come_back_keyed_by_item_index():
    results = list(run_jobs(_square, range(7), workers=2))
    assert sorted(r.key for r in results) == list(range(7))
    assert all(r.ok and r.status == "ok" for r in results)
    assert {r.key: r.value for r in results} == {i: i * i for i in range(7)}


def test_a_large_result_does_not_block_the_child():
    (r,) = run_jobs(lambda n: b"x" * n, [8 << 20], deadline_s=60)
    assert r.ok and len(r.value) == 8 << 20


def _sleeper_with_grandchild(pidfile: str) -> None:
    child = subprocess.Popen(["sleep", "120"])  # same process group as the job
    Path(pidfile).write_text(f"{os.getpid()} {child.pid}")
    time.sleep(120)


def test_deadline_kills_the_job_and_everything_in_its_group(tmp_path):
    pidfile = tmp_path / "pids"
    t0 = time.monotonic()
    (r,) = run_jobs(_sleeper_with_grandchild, [str(pidfile)], deadline_s=1.0)
    assert r.status == "timeout" and not r.ok
    assert time.monotonic() - t0 < 30
    job_pid, grandchild = map(int, pidfile.read_text().split())
    assert live_processes(pgid=job_pid) == []
    assert not alive(grandchild)
    with pytest.raises(ChildProcessError):
        os.waitpid(job_pid, os.WNOHANG)  # reaped: no zombie left
    with pytest.raises(JobError, match="timeout"):
        r.unwrap()


def _raise(x: int) -> None:
    raise ValueError(f"bad item {x}")


def _die(x: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_crashes_are_typed_results():
    (r,) = run_jobs(_raise, [3])
    assert r.status == "crashed" and r.error == "ValueError: bad item 3"
    with pytest.raises(JobError, match="bad item 3"):
        r.unwrap()
    (r,) = run_jobs(_die, [0])
    assert r.status == "crashed" and "SIGKILL" in r.error


def _race(x: float) -> str:
    stopped = []
    signal.signal(signal.SIGUSR1, lambda *_: stopped.append(1))
    t0 = time.monotonic()
    while time.monotonic() - t0 < x:
        if stopped:
            return f"stopped after {x}"
        time.sleep(0.01)
    return f"finished {x}"


def test_first_wins_stops_the_others_who_may_answer():
    results = list(run_jobs(_race, [60.0, 0.2, 60.0], workers=3, first_wins=lambda v: True))
    by_key = {r.key: r for r in results}
    assert by_key[1].status == "ok" and by_key[1].value == "finished 0.2"
    for k in (0, 2):
        assert by_key[k].status == "stopped"
        assert by_key[k].value == "stopped after 60.0"  # caught the stop signal, answered


def _stubborn(x: int) -> None:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(120)


def test_stop_escalates_to_sigkill():
    with JobRunner(workers=1, grace_s=0.2) as jobs:
        jobs.submit(_stubborn, 0, key="s")
        time.sleep(0.5)  # let it install its handlers
        (r,) = jobs.stop()
        assert r.status == "stopped" and r.key == "s"
        assert jobs.pending() == 0


def test_runner_keeps_the_worker_limit_and_queues():
    with JobRunner(workers=2) as jobs:
        for i in range(5):
            jobs.submit(_square, i, key=i)
        assert jobs.running() == 2 and jobs.free() == 0
        seen = []
        while jobs.pending():
            seen += [r.value for r in jobs.wait()]
    assert sorted(seen) == [0, 1, 4, 9, 16]


def test_bad_deadline_is_refused():
    with JobRunner() as jobs, pytest.raises(Exception, match="deadline"):
        jobs.submit(_square, 1, deadline_s=float("nan"))


def test_no_job_outlives_a_runner_killed_with_sigkill(tmp_path):
    pidfile = tmp_path / "pids"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from palestra.core.jobs import JobRunner

        def job():
            Path({str(pidfile)!r}).write_text(str(__import__("os").getpid()))
            time.sleep(120)

        with JobRunner() as jobs:
            jobs.submit(job)
            jobs.wait()
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(300):
            if pidfile.exists() and pidfile.read_text():
                break
            time.sleep(0.05)
        job_pid = int(pidfile.read_text())
        assert alive(job_pid)
        parent.kill()
        parent.wait()
        for _ in range(100):
            if not alive(job_pid):
                break
            time.sleep(0.05)
        assert not alive(job_pid)
    finally:
        parent.kill()


@pytest.mark.slow
def test_ray_tasks_behind_the_same_call():
    pytest.importorskip("ray")
    results = list(run_jobs(_square, range(4), workers=2, ray="local"))
    assert {r.key: r.value for r in results} == {0: 0, 1: 1, 2: 4, 3: 9}
    (r,) = run_jobs(_raise, [5], ray="local")
    assert r.status == "crashed" and "bad item 5" in r.error
