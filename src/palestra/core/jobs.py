"""Many attempts in parallel, one way: forked processes (or Ray tasks), deadlines, no orphans.

Every pillar runs attempts side by side: the prover tries strategies on the problems of a
folder, rlCoP attempts its training problems, the Coq agent races workers, the SAT bench solves
formulas. They all go through this module::

    for r in run_jobs(attempt, problems, workers=2, deadline_s=10, progress="proving"):
        r.key, r.status, r.value      # in the order they finish

    with JobRunner(workers=2) as jobs:  # when what runs next depends on what finished
        jobs.submit(attempt, problem, key=problem, deadline_s=slice)
        for r in jobs.wait(): ...

**Locally** each job is one ``fork`` of this process (so it inherits what the parent loaded:
a model, a clausified matrix), in a process group of its own. Its return value comes back
pickled through a pipe that the parent drains as bytes arrive, so large results never block
the child. At the job's deadline the parent kills the whole group (``SIGKILL``), so whatever
the job started dies with it, and reaps it: no orphans, no zombies. A job that raises, or dies
without an answer (a signal, out of memory), is a :class:`JobResult` with status ``crashed``
and the reason; :meth:`JobResult.unwrap` turns that into a typed :class:`JobError`. Each child
asks Linux to kill it when the parent dies (``prctl(PR_SET_PDEATHSIG)``), so a runner killed
by ``SIGKILL`` leaves no job running; a job that starts programs of its own passes
:func:`die_with_parent` as their ``preexec_fn`` to give them the same guarantee.

**Stopping early.** ``first_wins`` (a predicate on a job's value) stops the other jobs once one
value satisfies it: they get ``stop_signal`` (a job may catch it and return what it has), then
after ``grace_s`` ``SIGTERM`` (its ``finally`` blocks run), then ``SIGKILL`` to the group.

**On Ray** (``ray="local"`` or a cluster address) each job is a Ray task with one CPU; deadlines
cancel the task (``ray.cancel(force=True)``), a raised exception is a crashed job. The nodes
need ``palestra`` installed and the job's arguments must pickle.

What it does not protect against: a job that puts its own children in another process group
or session (``setsid``) takes them out of the group kill, and a job that ignores ``SIGTERM``
inside a C call is only stopped by the final ``SIGKILL``.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import os
import pickle
import selectors
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from palestra.core.errors import PalestraError

__all__ = ["JobError", "JobResult", "JobRunner", "die_with_parent", "run_jobs"]

T = TypeVar("T")
Status = Literal["ok", "timeout", "crashed", "stopped"]

_PR_SET_PDEATHSIG = 1


class JobError(PalestraError):
    """A job that crashed or ran out of time, where the caller needed its value."""


@dataclass(frozen=True)
class JobResult(Generic[T]):
    """What became of one job.

    ``status`` is ``ok`` (``value`` is the function's return value), ``timeout`` (killed at its
    deadline), ``crashed`` (raised, or died without an answer; ``error`` says how) or
    ``stopped`` (stopped because another job won; ``value`` is what it returned, if anything).
    """

    key: Any
    status: Status
    value: T | None = None
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def unwrap(self) -> T:
        """The value, or :class:`JobError` naming the job and what happened to it."""
        if self.status == "ok":
            return self.value  # type: ignore[return-value]
        what = self.error or self.status
        raise JobError(f"job {self.key!r}: {self.status}: {what}")


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``: how a Ray task runs a callable that is not a function."""
    return fn(*args, **kwargs)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have Linux send ``sig`` to this process when its parent dies (a no-op elsewhere).

    Pass it as ``preexec_fn`` to ``subprocess.Popen`` for helpers (``coqidetop``, ``coqc``)
    that must not outlive the job that started them.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _child(fn: Callable[..., Any], args: tuple, kwargs: dict, write_fd: int) -> None:
    """In the forked child: run ``fn``, send ``(status, value_or_error)`` pickled, exit."""
    with contextlib.suppress(OSError):  # the parent may have done it already
        os.setpgid(0, 0)
    die_with_parent()
    try:
        payload = pickle.dumps(("ok", fn(*args, **kwargs)), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as e:  # every failure goes back to the parent as a crashed job
        message = f"{type(e).__name__}: {e}".strip().rstrip(":")
        payload = pickle.dumps(("crashed", message[:2000]))
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(0)


@dataclass
class _Local:
    """A running forked job, as the parent tracks it."""

    key: Any
    pid: int
    fd: int
    started: float
    deadline: float | None
    data: bytearray = field(default_factory=bytearray)
    stop_sent: bool = False


@dataclass
class _Queued:
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    key: Any
    deadline_s: float | None


def _exit_reason(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(sig).name}"
        return f"killed by signal {sig}"
    return f"exited with status {os.waitstatus_to_exitcode(status)} without an answer"


class JobRunner:
    """Up to ``workers`` jobs at once; :meth:`submit` queues, :meth:`wait` collects.

    Use it as a context manager: leaving the block (normally, by an exception or by Ctrl-C)
    kills every job still running and reaps it.
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        ray: str | None = None,
        stop_signal: int = signal.SIGUSR1,
        grace_s: float = 5.0,
    ) -> None:
        if workers < 1:
            raise PalestraError(f"workers must be at least 1 (got {workers})")
        self.workers = workers
        self.stop_signal = stop_signal
        self.grace_s = grace_s
        self._queue: deque[_Queued] = deque()
        self._running: dict[int, _Local] = {}  # by read fd
        self._selector = selectors.DefaultSelector()
        self._ray_address = ray
        self._ray_started = False
        self._ray_tasks: dict[Callable[..., Any], Any] = {}
        self._ray_pending: dict[Any, tuple[Any, float, float | None]] = {}  # ref -> (key, t0, dl)
        if ray is not None:
            from palestra.core.cluster import ray_connect

            self._ray_started = ray_connect(ray, workers)

    # -- the caller's side ------------------------------------------------------------------
    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def running(self) -> int:
        return len(self._running) + len(self._ray_pending)

    def pending(self) -> int:
        """Jobs submitted and not yet collected by :meth:`wait` (running or queued)."""
        return self.running() + len(self._queue)

    def free(self) -> int:
        """Slots a submitted job would start in at once."""
        return max(0, self.workers - self.running() - len(self._queue))

    def submit(
        self,
        fn: Callable[..., T],
        *args: Any,
        key: Any = None,
        deadline_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Run ``fn(*args, **kwargs)`` as a job (now if a slot is free, else when one frees);
        ``key`` comes back on its :class:`JobResult`; ``deadline_s`` counts from its start."""
        if deadline_s is not None and not deadline_s >= 0:  # also refuses nan
            raise PalestraError(f"deadline must be a number of seconds >= 0 (got {deadline_s})")
        self._queue.append(_Queued(fn, args, kwargs, key, deadline_s))
        self._start_queued()

    def wait(self, timeout: float | None = None) -> list[JobResult]:
        """Block until at least one job finishes (or ``timeout`` passes); return those that
        finished, in the order they did. Empty when nothing is pending or time ran out."""
        end = None if timeout is None else time.monotonic() + timeout
        while self.pending():
            on_ray = self._ray_address is not None
            done = self._wait_ray(end) if on_ray else self._wait_local(end)
            self._start_queued()
            if done or (end is not None and time.monotonic() >= end):
                return done
        return []

    def stop(self, *, grace_s: float | None = None) -> list[JobResult]:
        """Stop every job: queued ones never start; running ones get the stop signal, then
        ``SIGTERM``, then ``SIGKILL``; returns their results, status ``stopped``."""
        grace = self.grace_s if grace_s is None else grace_s
        self._queue.clear()
        out: list[JobResult] = []
        if self._ray_address is not None:
            import ray

            for ref, (key, t0, _) in list(self._ray_pending.items()):
                ray.cancel(ref, force=True)
                out.append(JobResult(key, "stopped", seconds=time.monotonic() - t0))
            self._ray_pending.clear()
            return out
        for job in self._running.values():
            job.stop_sent = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.pid, self.stop_signal)
        end = time.monotonic() + grace
        while self._running and time.monotonic() < end:
            out += self._wait_local(end, honour_deadlines=False)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self._running:
                break
            for job in self._running.values():
                with contextlib.suppress(ProcessLookupError):
                    if sig == signal.SIGTERM:
                        os.kill(job.pid, sig)
                    else:
                        os.killpg(job.pid, sig)
            end = time.monotonic() + (min(grace, 10.0) if sig == signal.SIGTERM else 5.0)
            while self._running and time.monotonic() < end:
                out += self._wait_local(end, honour_deadlines=False)
        for job in list(self._running.values()):  # unkillable: give up on it, but reap
            out.append(self._kill(job, "stopped", "did not stop"))
        return out

    def close(self) -> None:
        """Kill every running job's process group and reap it; drop queued jobs."""
        self._queue.clear()
        for job in list(self._running.values()):
            self._kill(job, "stopped", "runner closed")
        self._selector.close()
        if self._ray_address is not None:
            import ray

            for ref in self._ray_pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            self._ray_pending.clear()
            if self._ray_started:
                ray.shutdown()
                self._ray_started = False

    # -- local processes ----------------------------------------------------------------------
    def _start_queued(self) -> None:
        while self._queue and self.running() < self.workers:
            q = self._queue.popleft()
            if self._ray_address is not None:
                self._start_ray(q)
            else:
                self._start_local(q)

    def _start_local(self, q: _Queued) -> None:
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child never returns from here
            os.close(read_fd)
            for fd in self._running:  # other jobs' pipes are none of its business
                with contextlib.suppress(OSError):
                    os.close(fd)
            _child(q.fn, q.args, q.kwargs, write_fd)
        os.close(write_fd)
        with contextlib.suppress(OSError):  # also set here: no window without the group
            os.setpgid(pid, pid)
        now = time.monotonic()
        deadline = None if q.deadline_s is None else now + q.deadline_s
        self._running[read_fd] = _Local(q.key, pid, read_fd, now, deadline)
        os.set_blocking(read_fd, False)
        self._selector.register(read_fd, selectors.EVENT_READ)

    def _wait_local(self, end: float | None, honour_deadlines: bool = True) -> list[JobResult]:
        now = time.monotonic()
        stops = [end] if end is not None else []
        if honour_deadlines:
            stops += [j.deadline for j in self._running.values() if j.deadline is not None]
        timeout = max(0.0, min(stops) - now) if stops else None
        done: list[JobResult] = []
        for sel_key, _ in self._selector.select(timeout):
            job = self._running[sel_key.fd]
            try:
                chunk = os.read(job.fd, 1 << 20)
            except BlockingIOError:
                continue
            if chunk:
                job.data += chunk
            else:
                done.append(self._finish(job))
        if honour_deadlines:
            now = time.monotonic()
            for job in list(self._running.values()):
                if job.deadline is not None and now >= job.deadline:
                    done.append(self._kill(job, "timeout", "deadline"))
        return done

    def _release(self, job: _Local) -> int:
        """Unregister and close the job's pipe, reap it; its wait status."""
        del self._running[job.fd]
        self._selector.unregister(job.fd)
        os.close(job.fd)
        # Before reaping: until then the group's id cannot be reused, so this reaches only
        # what the job left behind in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.pid, signal.SIGKILL)
        _, status = os.waitpid(job.pid, 0)
        return status

    def _finish(self, job: _Local) -> JobResult:
        status = self._release(job)
        seconds = time.monotonic() - job.started
        value, error, state = None, "", "crashed"
        if job.data:
            try:
                state, payload = pickle.loads(bytes(job.data))
            except Exception as e:  # a truncated answer: the child died while writing
                payload = f"unreadable answer ({type(e).__name__}); {_exit_reason(status)}"
            if state == "ok":
                value = payload
            else:
                error = str(payload)
        else:
            error = _exit_reason(status)
        if job.stop_sent:
            state = "stopped"
        return JobResult(job.key, state, value, error, seconds)  # type: ignore[arg-type]

    def _kill(self, job: _Local, state: Status, error: str) -> JobResult:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.pid, signal.SIGKILL)
        self._release(job)
        return JobResult(job.key, state, None, error, time.monotonic() - job.started)

    # -- Ray tasks --------------------------------------------------------------------------
    def _start_ray(self, q: _Queued) -> None:
        import ray

        # ray.remote takes functions only: a functools.partial (or any callable) is called
        # through _call, a function, with the callable as its first argument
        plain = inspect.isfunction(q.fn)
        if q.fn not in self._ray_tasks:
            self._ray_tasks[q.fn] = ray.remote(num_cpus=1)(q.fn if plain else _call)
        args = q.args if plain else (q.fn, *q.args)
        ref = self._ray_tasks[q.fn].remote(*args, **q.kwargs)
        now = time.monotonic()
        deadline = None if q.deadline_s is None else now + q.deadline_s
        self._ray_pending[ref] = (q.key, now, deadline)

    def _wait_ray(self, end: float | None) -> list[JobResult]:
        import ray

        now = time.monotonic()
        stops = [d for _, _, d in self._ray_pending.values() if d is not None]
        stops += [end] if end is not None else []
        timeout = max(0.0, min(stops) - now) if stops else None
        ready, _ = ray.wait(list(self._ray_pending), num_returns=1, timeout=timeout)
        done: list[JobResult] = []
        for ref in ready:
            key, t0, _ = self._ray_pending.pop(ref)
            seconds = time.monotonic() - t0
            try:
                done.append(JobResult(key, "ok", ray.get(ref), seconds=seconds))
            except Exception as e:
                cause = getattr(e, "cause", None) or e  # a RayTaskError wraps the job's error
                message = f"{type(cause).__name__}: {cause}".splitlines()[0][:2000]
                done.append(JobResult(key, "crashed", None, message, seconds))
        now = time.monotonic()
        for ref, (key, t0, deadline) in list(self._ray_pending.items()):
            if deadline is not None and now >= deadline:
                ray.cancel(ref, force=True)
                del self._ray_pending[ref]
                done.append(JobResult(key, "timeout", None, "deadline", now - t0))
        return done


def run_jobs(
    fn: Callable[..., T],
    items: Iterable[Any],
    *,
    workers: int = 1,
    deadline_s: float | None = None,
    first_wins: Callable[[T], bool] | None = None,
    ray: str | None = None,
    progress: str | None = None,
    grace_s: float = 5.0,
    stop_signal: int = signal.SIGUSR1,
) -> Iterator[JobResult[T]]:
    """``fn(item)`` for every item, ``workers`` at a time; results as they finish.

    Each result's ``key`` is the item's index in ``items``. With ``first_wins``, the first
    value for which it is true stops the other jobs (they are yielded too, status
    ``stopped``) and the rest never start. ``progress`` titles a progress bar on stderr.
    Closing the iterator early kills what is still running.
    """
    items = list(items)
    bar = contextlib.nullcontext(lambda: None)
    if progress is not None:
        from palestra.core.progress import progress_bar

        bar = progress_bar(progress, len(items))
    with bar as tick, JobRunner(workers, ray=ray, grace_s=grace_s, stop_signal=stop_signal) as r:
        for i, item in enumerate(items):
            r.submit(fn, item, key=i, deadline_s=deadline_s)
        while r.pending():
            for result in r.wait():
                tick()
                yield result
                if first_wins is not None and result.ok and first_wins(result.value):
                    for stopped in r.stop():
                        tick()
                        yield stopped
                    return
