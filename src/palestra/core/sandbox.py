"""Run untrusted Python in a child process with limits: the checker of code-synthesis benchmarks.

MBPP and HumanEval count a program as solved when it passes its ``assert`` tests. Model-written
code may loop forever, eat memory, fork, print gigabytes, read the parent's secrets or call out
to the network, so it runs here::

    r = run_python("print(sum(range(10)))", timeout_s=2)
    r.status, r.stdout, r.protections        # 'ok', '45\\n', ('network', 'user', 'rlimits', ...)

    v = check_program(solution, "assert add(2, 3) == 5", timeout_s=5)
    bool(v), v.reason                         # False, 'AssertionError at tests line 1: ...'

**How.** ``python -I -S main.py`` (isolated mode: no ``PYTHON*`` variables, no user or site
packages, so only the standard library imports; ``exit()``/``quit()`` of ``site`` are absent,
``sys.exit`` works; a fresh interpreter per program) in a fresh temporary directory (on
``/dev/shm`` as root: creating one there is ~100x faster than on a disk) that is its cwd and
``HOME`` and is deleted afterwards, with an empty environment
(``PATH=/usr/bin:/bin``) and stdin from a private file.
Before ``exec`` the child gets its own session and process group, ``RLIMIT_CPU`` (timeout + 1
s), ``RLIMIT_AS`` (``memory_mb``), ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``, ``RLIMIT_CORE`` = 0, and
then, where the kernel allows:

- ``network``: a new, empty network namespace (``unshare(CLONE_NEWNET)``; as a non-root user
  together with a new user namespace, where unprivileged user namespaces are enabled). Inside,
  not even loopback is up: every ``connect`` fails, host services on 127.0.0.1 included.
- ``user`` (root only): the code runs as a fresh unprivileged uid/gid of its own (one per run,
  from a high range no account uses), which owns the temporary directory and nothing else, so
  it cannot write to the project, ``/root`` or any file that is not world-writable, cannot
  signal other processes (other runs included), and :func:`run_python` can kill every process
  of that uid at the end (``kill(-1)`` as that uid), even ones that left the process group.
- ``processes`` (root only, as it needs the fresh uid): ``RLIMIT_NPROC`` = ``max_processes``.
  The kernel counts this limit per user, so for a shared uid (a non-root caller's own) it
  would count that user's other processes and is not set.
- ``filesystem`` (root only): a mount namespace of the run's own with a fresh tmpfs of
  ``max_disk_bytes`` at ``/tmp``, owned by the fresh uid and holding the run's files, also
  bind-mounted over the other world-writable directories (``/var/tmp``, ``/dev/shm``,
  ``/run/lock``); the code starts in ``/tmp`` (its ``HOME`` and ``TMPDIR``). With the fresh uid
  it can then write nowhere else and at most ``max_disk_bytes`` in all, and what it wrote
  vanishes with its last process.

As root the run's own uid is also what ends it: at the deadline, or when the main process
ends, its process group is killed and then every process of the uid (``kill(-1)`` from a
thread that takes the uid for that one call; see :func:`_kill_uid_in_thread`), and
:func:`run_python` returns only once none of them is alive.

A wall-clock timeout (``timeout_s``) kills the whole group with ``SIGKILL``; so does the end
of the main process (a child left running in the background does not hold the run open).
stdout and stderr are read as they come, each kept up to ``max_output_bytes`` (the rest is
read and dropped, ``truncated`` says so). ``protections`` names what actually applied; a
caller that needs one (a public leaderboard needs ``network``) must check it.

**What it does not protect against.** It is not a security boundary against a kernel exploit or
a determined attacker: the filesystem is the host's (no chroot), so the code can read every
world-readable file (``/etc``, the Python installation, other users' world-readable files);
without ``filesystem`` it can write to world-writable places (``/tmp``, ``/dev/shm``) and disk
use is bounded per file (``RLIMIT_FSIZE``) but not in total. Without root there is no separate uid:
the code can read and write whatever the caller can, can signal the caller's processes, and a
process that calls ``setsid`` escapes the final group kill. ``RLIMIT_AS`` limits address space
(per process), not resident memory, so ``memory_mb`` x ``max_processes`` is the real bound.
CPU time is limited per process; wall time for the whole run. When the caller is killed with
``SIGKILL``, the main child dies with it (``PR_SET_PDEATHSIG``) but its own children do not.
Timing side channels, ``/proc`` information about other processes and CPU starvation of the
host are not addressed.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import re
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from palestra.core.errors import PalestraError
from palestra.core.jobs import die_with_parent
from palestra.core.verdict import Verdict

__all__ = ["SandboxResult", "check_program", "run_python", "sandbox_interpreter"]

Status = Literal["ok", "error", "timeout", "memory", "killed"]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
# the world-writable directories of a Linux system, where a fresh uid could write
_SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_UID_BASE = 1_600_000_000  # fresh uids come from [base, base + 2**24): no account uses these
_SCRIPT = "main.py"
_libc: Any = None


@dataclass(frozen=True)
class SandboxResult:
    """What became of one run.

    ``status``: ``ok`` (exit 0), ``error`` (non-zero exit: an exception, a syntax error,
    ``sys.exit(1)``), ``timeout`` (wall-clock timeout, or the CPU limit), ``memory``
    (``MemoryError`` under the memory limit) or ``killed`` (another signal; ``signal`` names it).
    """

    status: Status
    exit_code: int | None
    signal: str | None
    stdout: str
    stderr: str
    seconds: float
    truncated: bool
    protections: tuple[str, ...]
    uid: int | None = None  # the fresh uid the code ran as (root only)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["protections"] = list(self.protections)
        return d


def run_python(
    source: str,
    *,
    stdin: str = "",
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    max_processes: int = 32,
    max_output_bytes: int = 1 << 20,
    max_file_bytes: int = 16 << 20,
    max_disk_bytes: int = 64 << 20,
    files: dict[str, str] | None = None,
    python: str | None = None,
) -> SandboxResult:
    """Run ``source`` as ``python -I -S main.py`` under the limits above; see the module doc.

    ``files`` (relative path -> text) are written next to ``main.py`` before it starts.
    ``max_disk_bytes`` bounds all the run writes together where ``filesystem`` applies (the
    size of its ``/tmp``). ``python`` is the interpreter (default: this one, or as root the
    first that the fresh uid can run, e.g. ``/usr/bin/python3`` where this one lives under
    ``/root``).
    """
    if not timeout_s > 0 or memory_mb <= 0 or max_processes < 1 or max_output_bytes < 0:
        raise PalestraError("sandbox limits must be positive")
    root = os.geteuid() == 0
    uid = _UID_BASE + secrets.randbelow(1 << 24) if root else None
    interpreter = _interpreter(python, uid is not None)
    contents = {_SCRIPT: source, **(files or {})}
    # as root the run's files live on a tmpfs of its own (see _private_dirs); the copy in
    # `workdir` (on RAM where /dev/shm exists: creating a folder there is ~100x faster than on
    # a disk) is what the run gets where that mount fails
    workdir = tempfile.mkdtemp(prefix="palestra-sandbox-", dir=_fast_tmp() if root else None)
    try:
        _write_files(workdir, contents, uid)
        tmpfs: _Tmpfs | None = None
        if uid is not None:
            blobs = [(name.encode(), text.encode()) for name, text in contents.items()]
            folders = sorted({os.path.dirname(n) for n, _ in blobs} - {b""}, key=len)
            size = max(max_disk_bytes, sum(len(b) for _, b in blobs) + (1 << 20))
            options = f"size={size},nr_inodes=4096,mode=0700,uid={uid},gid={uid}".encode()
            shared = [d.encode() for d in _SHARED_DIRS if os.path.isdir(d)]
            tmpfs = _Tmpfs(options, folders, blobs, shared, uid)
        limits = [
            (resource.RLIMIT_CPU, math.ceil(timeout_s) + 1),
            (resource.RLIMIT_AS, memory_mb << 20),
            (resource.RLIMIT_FSIZE, max_file_bytes),
            (resource.RLIMIT_NOFILE, 256),
            (resource.RLIMIT_CORE, 0),
        ]
        if uid is not None:
            limits.append((resource.RLIMIT_NPROC, max_processes))
        home = "/tmp" if uid is not None else workdir
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "LC_ALL": "C.UTF-8", "TMPDIR": home}
        _load_libc()
        report_r, report_w = os.pipe()
        with tempfile.TemporaryFile(dir=workdir) as stdin_file:
            stdin_file.write(stdin.encode())
            stdin_file.seek(0)
            t0 = time.monotonic()
            try:
                proc = subprocess.Popen(
                    [interpreter, "-I", "-S", _SCRIPT],
                    cwd=workdir,
                    env=env,
                    stdin=stdin_file,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    preexec_fn=lambda: _confine(limits, uid, tmpfs, report_w),
                )
            finally:
                os.close(report_w)
            try:
                protections = tuple(os.read(report_r, 256).decode().split())
            finally:
                os.close(report_r)
            return _collect(proc, t0, timeout_s, max_output_bytes, protections, uid)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check_program(source: str, tests: str, **limits: Any) -> Verdict[SandboxResult]:
    """Run ``source`` then ``tests`` (``assert`` lines, as MBPP and HumanEval write them) as one
    program; accept exactly when it exits 0 within the limits (``**limits`` go to
    :func:`run_python`). The reason is one line: the exception and the line that raised it, or
    the limit that stopped the run."""
    program = source + "\n" + tests
    result = run_python(program, **limits)
    if result.ok:
        return Verdict.accept(result)
    return Verdict.reject(_reason(result, source.count("\n") + 1, limits), result)


def sandbox_interpreter(python: str | None = None) -> str:
    """The interpreter :func:`run_python` runs (``python``, or its default here)."""
    return _interpreter(python, os.geteuid() == 0)


# -- the child's side (between fork and exec: no allocation-heavy work, no locks) -------------
@dataclass(frozen=True)
class _Tmpfs:
    """What the child needs to give the run a filesystem of its own, prepared by the parent."""

    options: bytes  # tmpfs mount options: size, inodes, owner
    folders: list[bytes]  # relative folders of the run's files, parents first
    files: list[tuple[bytes, bytes]]  # relative path, content
    shared: list[bytes]  # world-writable directories to cover with it
    uid: int


def _confine(
    limits: list[tuple[int, int]], uid: int | None, tmpfs: _Tmpfs | None, report_fd: int
) -> None:
    """In the forked child, before ``exec``: namespaces, rlimits, the fresh uid; report which."""
    applied = []
    if _unshare(_CLONE_NEWNET) or (uid is None and _unshare(_CLONE_NEWUSER | _CLONE_NEWNET)):
        applied.append("network")
    if tmpfs is not None and _private_dirs(tmpfs):
        applied.append("filesystem")
    for res, value in limits:
        resource.setrlimit(res, (value, value))
    applied.append("rlimits")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        applied += ["user", "processes"]
    die_with_parent()  # after setresuid: a change of uid clears the parent-death signal
    os.write(report_fd, " ".join(applied).encode())


def _unshare(flags: int) -> bool:
    return _libc is not None and _libc.unshare(flags) == 0


def _private_dirs(fs: _Tmpfs) -> bool:
    """A mount namespace of the run's own (changes stay inside it) with a fresh tmpfs of
    ``max_disk_bytes`` at ``/tmp``, owned by the run's uid, holding its files, and bind-mounted
    over every other world-writable directory (``/var/tmp``, ``/dev/shm``, ``/run/lock``);
    ``cwd`` is ``/tmp``. True when every step succeeded: the fresh uid can then write nowhere
    else, at most ``max_disk_bytes`` in all, and it all vanishes with the run's last process."""
    if not _unshare(_CLONE_NEWNS):
        return False
    if _libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    if _libc.mount(b"tmpfs", b"/tmp", b"tmpfs", _MS_NOSUID | _MS_NODEV, fs.options) != 0:
        return False
    for folder in fs.folders:
        os.makedirs(b"/tmp/" + folder, 0o700, exist_ok=True)
        os.chown(b"/tmp/" + folder, fs.uid, fs.uid)
    for name, data in fs.files:
        fd = os.open(b"/tmp/" + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchown(fd, fs.uid, fs.uid)
        finally:
            os.close(fd)
    for target in fs.shared:
        if target != b"/tmp" and _libc.mount(b"/tmp", target, None, _MS_BIND, None) != 0:
            return False
    os.chdir("/tmp")
    return True


# -- the parent's side ------------------------------------------------------------------------
def _load_libc() -> None:
    """Load libc in the parent: ``dlopen`` after ``fork`` in a threaded process can deadlock."""
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            _libc = ctypes.CDLL(None, use_errno=True)


def _interpreter(python: str | None, fresh_uid: bool) -> str:
    """``python``, else the real interpreter behind this one's virtual environment (``-S``
    ignores the venv anyway); for a fresh uid the first candidate any user can run (an
    interpreter under ``/root`` is not), as the system's ``python3``."""
    if python is not None:
        return python
    own = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    if not fresh_uid:
        return own
    for candidate in (own, "/usr/bin/python3", "/usr/local/bin/python3"):
        if _anyone_can_run(os.path.realpath(candidate)):
            return os.path.realpath(candidate)
    raise PalestraError(f"no Python interpreter that an unprivileged user can run (not {own})")


def _anyone_can_run(path: str) -> bool:
    """Whether "others" may execute ``path`` and search every directory above it."""
    try:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        while True:
            if not os.stat(parent).st_mode & 0o001:
                return False
            if parent == os.path.dirname(parent):
                return True
            parent = os.path.dirname(parent)
    except OSError:
        return False


def _fast_tmp() -> str | None:
    """``/dev/shm`` where it is a writable directory (tmpfs), else None (the default)."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _write_files(workdir: str, files: dict[str, str], uid: int | None) -> None:
    for name, text in files.items():
        path = os.path.normpath(os.path.join(workdir, name))
        if os.path.isabs(name) or not path.startswith(workdir + os.sep):
            raise PalestraError(f"sandbox file {name!r} must be a relative path inside its dir")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    if uid is not None:
        for dirpath, _, names in os.walk(workdir):
            os.chown(dirpath, uid, uid)
            for name in names:
                os.chown(os.path.join(dirpath, name), uid, uid)


def _collect(
    proc: subprocess.Popen,
    t0: float,
    timeout_s: float,
    cap: int,
    protections: tuple[str, ...],
    uid: int | None,
) -> SandboxResult:
    """Read both pipes (keeping ``cap`` bytes of each) until the process ends or time runs out;
    then kill what is left of the run and reap it."""
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    kept = {out_fd: bytearray(), err_fd: bytearray()}
    truncated = False
    timed_out = ended = False
    deadline = t0 + timeout_s
    with selectors.DefaultSelector() as sel:
        for pipe in (proc.stdout, proc.stderr):
            sel.register(pipe, selectors.EVENT_READ)
        try:
            while sel.get_map():
                now = time.monotonic()
                if not ended and proc.poll() is not None:  # leftovers would hold the pipes
                    ended = True  # open: end them
                    _kill_run(proc, uid)
                    deadline = min(deadline, now + 1.0)
                if now >= deadline:
                    timed_out = proc.poll() is None
                    break
                for key, _ in sel.select(timeout=min(0.05, deadline - now)):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    buf = kept[key.fd]
                    room = cap - len(buf)
                    if len(chunk) > room:
                        truncated = True
                    buf += chunk[: max(room, 0)]
        finally:
            _kill_run(proc, uid)
            proc.stdout.close()
            proc.stderr.close()
    seconds = time.monotonic() - t0
    stdout = kept[out_fd].decode("utf-8", "replace")
    stderr = kept[err_fd].decode("utf-8", "replace")
    code = proc.returncode
    sig = _signal_name(-code) if code < 0 else None
    status: Status
    if timed_out or code == -signal.SIGXCPU:
        status = "timeout"
    elif code < 0:
        status = "killed"
    elif code != 0:
        status = "memory" if _last_line(stderr).startswith("MemoryError") else "error"
    else:
        status = "ok"
    exit_code = code if code >= 0 else None
    return SandboxResult(
        status, exit_code, sig, stdout, stderr, seconds, truncated, protections, uid
    )


def _kill_run(proc: subprocess.Popen, uid: int | None) -> None:
    """SIGKILL the run's process group and reap the main process; as root, then SIGKILL every
    process of its fresh uid and wait (up to 2 s) until those are gone, so that nothing of the
    run is alive when :func:`run_python` returns."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if uid is None:
        return
    signalled = _kill_uid_in_thread(uid)
    if signalled is None:
        pid = os.fork()
        if pid == 0:  # kill(-1) as the uid reaches all its processes, atomically w.r.t. fork
            code = 1
            try:
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
                code = 0
            finally:
                os._exit(code)
        signalled = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    if signalled:  # leftovers: SIGKILL is sent, but a process dies when it is next scheduled
        deadline = time.monotonic() + 2.0
        while _live_processes(uid) and time.monotonic() < deadline:
            time.sleep(0.005)


_SYS_SETRESUID = {"x86_64": 117, "aarch64": 147}.get(os.uname().machine)


def _kill_uid_in_thread(uid: int) -> bool | None:
    """``kill(-1, SIGKILL)`` as ``uid`` from this thread alone, without a fork; whether any
    process was signalled, or None (nothing done) where the system call is unknown or refused.

    Linux keeps credentials per thread; the raw ``setresuid`` system call (glibc's wrapper
    would change every thread of the process) gives this thread real and effective uid ``uid``
    and keeps the saved uid 0, so it may return to root afterwards. With euid != 0 the
    effective capabilities are cleared, so ``kill`` may signal exactly the processes whose real
    or saved uid is ``uid``."""
    if _SYS_SETRESUID is None or _libc is None:
        return None
    keep = ctypes.c_long(-1)
    if _libc.syscall(_SYS_SETRESUID, uid, uid, keep) != 0:
        return None
    try:
        os.kill(-1, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False
    finally:
        if _libc.syscall(_SYS_SETRESUID, 0, 0, keep) != 0:  # cannot happen: saved uid is 0
            os.abort()  # a thread stuck as another user must not go on


def _live_processes(uid: int) -> bool:
    """Whether a process of ``uid`` is alive (zombies, dead and waiting to be reaped, aside)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except (OSError, IndexError):
            continue
    return False


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


_FRAME = re.compile(r'^\s*File "([^"]*)", line (\d+)')


def _reason(result: SandboxResult, source_lines: int, limits: dict[str, Any]) -> str:
    """One line for a rejected run: the exception and where, or the limit that stopped it."""
    if result.status == "timeout":
        if result.signal == "SIGXCPU":
            return "CPU time limit exceeded"
        return f"timeout after {limits.get('timeout_s', 10.0):g} s"
    if result.status == "memory":
        return f"out of memory (limit {limits.get('memory_mb', 512)} MB)"
    if result.status == "killed":
        return f"killed by {result.signal}"
    error = _last_line(result.stderr) or f"exit status {result.exit_code}"
    where = None
    lines = result.stderr.splitlines()
    for i, line in enumerate(lines):  # the last frame in main.py: where the program failed
        m = _FRAME.match(line)
        if m and os.path.basename(m.group(1)) == _SCRIPT:
            n = int(m.group(2))
            place = f"tests line {n - source_lines}" if n > source_lines else f"line {n}"
            code = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if _FRAME.match(code) or code.startswith("^") or code == error:
                code = ""
            where = f"{place}: {code}" if code else place
    return f"{error} at {where}" if where else error
