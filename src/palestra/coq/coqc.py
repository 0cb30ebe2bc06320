"""Whole-file checking with ``coqc``, Coq's batch compiler.

``check_file(source)`` writes the text to a fresh temporary directory, runs ``coqc`` there with a
wall-clock timeout and the given load paths (``-Q dir Lib`` / ``-R dir Lib``), and returns a
:class:`CoqcResult`. Coq reports an error as::

    File "./Candidate.v", line 7, characters 2-5:
    Error: The reference foo was not found in the current environment.

which becomes ``CoqcError(line=7, column=2, end_column=5, message="The reference foo ...")``
(``column`` and ``end_column`` are Coq's 0-based character offsets within the line).

What it does not protect against: ``coqc`` is run as the calling user with no sandbox, so a
file can read and write what that user can (``Redirect``, ``Load``, plugins via
``Declare ML Module``); an accepted file may still use ``Admitted``/axioms (see
:mod:`palestra.coq.verify` for that check); memory is not limited unless ``memory_mb`` is set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from palestra.core.errors import PalestraError

__all__ = [
    "CoqNotFound",
    "CoqcError",
    "CoqcResult",
    "LoadPath",
    "check_file",
    "coq_binary",
    "parse_errors",
    "run_coqc",
]

_LOCATION = re.compile(
    r'^File "(?P<file>[^"]*)", line (?P<line>\d+), characters (?P<a>\d+)-(?P<b>\d+):\s*$'
)


class CoqNotFound(PalestraError):
    """A Coq executable is not installed (Debian: ``apt-get install coq``)."""


def coq_binary(name: str) -> str:
    """The path of a Coq executable (``coqc``, ``coqidetop``); ``.opt`` builds are accepted."""
    for candidate in (name, f"{name}.opt"):
        path = shutil.which(candidate)
        if path:
            return path
    raise CoqNotFound(f"{name} not found on PATH; install Coq 8.16 (Debian package 'coq')")


# Debian's CoqHammer runs its ATP wrapper ``htimeout`` by bare name for CVC4 (E gets the full
# path): its folder goes on the PATH of every Coq process started here.
HAMMER_LIBEXEC = Path("/usr/libexec/coq-hammer")

# CoqHammer 1.3.2 calls ``cvc4 --tlimit T`` with T in seconds, but CVC4 1.8 reads ``--tlimit``
# as milliseconds of wall-clock time: CVC4 gave up after T ms, and whether it had proved the goal
# by then depended on the machine's load (the intermittent "ATPs failed to find a proof" of
# ``prove-coq --hammer``). A ``cvc4`` shim ahead of the real one on the PATH of Coq processes
# multiplies the value after ``--tlimit`` by 1000.
CVC4_SHIM = """#!/bin/sh
# written by palestra.coq.coqc: CoqHammer gives --tlimit in seconds, CVC4 reads milliseconds
scale=
for a do
  shift
  if [ -n "$scale" ]; then a=$((a * 1000)); scale=; elif [ "$a" = "--tlimit" ]; then scale=1; fi
  set -- "$@" "$a"
done
exec "{real}" "$@"
"""


def write_cvc4_shim(folder: Path, real: str) -> Path:
    """Write (atomically, so concurrent workers never run half a file) the ``cvc4`` shim that
    runs ``real`` with ``--tlimit`` scaled from seconds to milliseconds; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "cvc4"
    text = CVC4_SHIM.format(real=real)
    if not shim.is_file() or shim.read_text() != text:
        tmp = folder / f".cvc4.{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(shim)
    return shim


@functools.cache
def _shim_folder() -> Path | None:
    """The folder of the ``cvc4`` shim (None when CVC4 is not installed or it cannot be
    written: hammer then runs CVC4 as CoqHammer calls it)."""
    real = shutil.which("cvc4")
    if real is None:
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    try:
        return write_cvc4_shim(base / "palestra" / "coq-shims", real).parent
    except OSError:
        return None


def coq_env() -> dict[str, str]:
    """The environment of Coq processes: ours, with CoqHammer's helper folder on PATH and the
    ``cvc4`` shim before it."""
    env = dict(os.environ)
    if HAMMER_LIBEXEC.is_dir():
        env["PATH"] = f"{HAMMER_LIBEXEC}{os.pathsep}{env.get('PATH', '')}"
        shims = _shim_folder()
        if shims is not None:
            env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    return env


@dataclass(frozen=True)
class LoadPath:
    """``-Q directory logical`` (``recursive=False``) or ``-R directory logical``."""

    directory: Path
    logical: str
    recursive: bool = False

    def args(self) -> list[str]:
        # absolute: coqidetop runs in a cache folder, not in the caller's directory
        return ["-R" if self.recursive else "-Q", str(Path(self.directory).resolve()), self.logical]


@dataclass(frozen=True)
class CoqcError:
    """One error Coq reported: 1-based ``line``, 0-based ``column``..``end_column``."""

    line: int
    column: int
    end_column: int
    message: str
    file: str = ""

    def __str__(self) -> str:
        return f"{self.file or '<input>'}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class CoqcResult:
    """What ``coqc`` said about one file; ``ok`` is exit status 0 within the time limit."""

    ok: bool
    errors: list[CoqcError]
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    returncode: int | None = None


def parse_errors(output: str) -> list[CoqcError]:
    """Coq's ``File "...", line L, characters A-B:`` blocks, each followed by its message.

    The message runs from the line after the location to the next location line (or the end),
    with the leading ``Error:`` removed and whitespace collapsed; only blocks whose message
    starts with ``Error`` are kept (warnings have the same location format).
    """
    lines = output.splitlines()
    errors: list[CoqcError] = []
    k = 0
    while k < len(lines):
        m = _LOCATION.match(lines[k])
        if not m:
            k += 1
            continue
        j = k + 1
        while j < len(lines) and not _LOCATION.match(lines[j]):
            j += 1
        body = "\n".join(lines[k + 1 : j]).strip()
        if body.startswith("Error"):
            message = " ".join(re.sub(r"^Error:?", "", body).split())
            errors.append(
                CoqcError(
                    line=int(m["line"]),
                    column=int(m["a"]),
                    end_column=int(m["b"]),
                    message=message,
                    file=m["file"],
                )
            )
        k = j
    if not errors and re.search(r"^Error:", output, re.M):
        # errors without a location (e.g. "There are pending proofs in file ...")
        body = output[re.search(r"^Error:", output, re.M).start() :]  # type: ignore[union-attr]
        errors.append(CoqcError(0, 0, 0, " ".join(body[len("Error:") :].split())))
    return errors


def run_coqc(
    path: str | Path,
    *,
    load_paths: Sequence[LoadPath] = (),
    timeout: float = 60.0,
    extra_args: Sequence[str] = (),
    cwd: str | Path | None = None,
    memory_mb: int | None = None,
) -> CoqcResult:
    """Compile one ``.v`` file in place (its ``.vo`` is written beside it).

    On timeout the whole process group is killed and ``timed_out`` is True.
    """
    path = Path(path)
    cmd = [coq_binary("coqc"), *[a for lp in load_paths for a in lp.args()], *extra_args]
    cmd.append(path.name if cwd is None else str(path))
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=str(cwd if cwd is not None else path.parent),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=coq_env(),
        start_new_session=True,  # its own process group, killed as a whole on timeout
    )
    if memory_mb is not None:
        _limit_memory(proc.pid, memory_mb)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        stdout, stderr = proc.communicate()
    except BaseException:
        _kill_group(proc)
        proc.communicate()
        raise
    seconds = time.perf_counter() - start
    errors = [] if timed_out else parse_errors(stdout + "\n" + stderr)
    return CoqcResult(
        ok=proc.returncode == 0 and not timed_out,
        errors=errors,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out,
        seconds=seconds,
        returncode=proc.returncode,
    )


def check_file(
    source: str,
    *,
    name: str = "Candidate",
    load_paths: Sequence[LoadPath] = (),
    timeout: float = 60.0,
    memory_mb: int | None = None,
) -> CoqcResult:
    """Compile the text ``source`` as ``<name>.v`` in a fresh temporary directory.

    The directory is bound to the logical name ``Palestra`` (``-Q tmp Palestra``) and removed
    afterwards whatever happens.
    """
    with tempfile.TemporaryDirectory(prefix="palestra-coqc-") as tmp:
        path = Path(tmp) / f"{name}.v"
        path.write_text(source, encoding="utf-8")
        return run_coqc(
            path,
            load_paths=[LoadPath(Path(tmp), "Palestra"), *load_paths],
            timeout=timeout,
            memory_mb=memory_mb,
        )


def _limit_memory(pid: int, memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    # the process may already have exited, or the limit be refused
    with contextlib.suppress(OSError, ValueError):
        resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
