"""``palestra prove``: strategy schedules, time limits, parallel problems, checked proofs.

Each *attempt* (one problem under one leanCoP option list) runs in a forked child process:
it clausifies the problem, searches a connection proof, and has the independent checker
(:mod:`palestra.prove.checker`) verify any proof before it reports ``Theorem``. The parent
gives every attempt its time slice and kills it when the slice is over, so a runaway search
can never hang the command, and keeps ``jobs`` attempts running at once over the problems of a
folder.

The schedule follows the idea of leanCoP 2.1's ``leancop.sh``: several incomplete strategies
(restricted backtracking with ``cut``) over different clausal forms and clause orders, each
for a slice of the time limit, then the complete search (``[conj,nodef]`` without cut) for
what is left. The option sets and slices are Palestra's own (``SCHEDULE``), chosen in that
spirit; they are not a copy of leancop.sh's.

Statuses are SZS ontology names: ``Theorem`` (``Unsatisfiable`` for a problem without a
conjecture), ``CounterSatisfiable`` (``Satisfiable``) when a complete search ends without a
proof, ``GaveUp`` when every strategy stopped without an answer (inference limit, incomplete
search exhausted), ``Timeout``, ``InputError`` (the file could not be read), and ``Error``
(an internal failure; a proof the checker rejects is one, and is never reported as found).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palestra.core.errors import PalestraError
from palestra.core.jobs import JobResult, JobRunner
from palestra.prove.attempt import ProofAttempt, room_to_pickle

__all__ = ["SCHEDULE", "prove_paths", "szs_lines"]

# (leanCoP option list, share of the time limit); the last takes whatever time is left.
SCHEDULE: tuple[tuple[str, float], ...] = (
    ("[cut,comp(7)]", 0.10),
    ("[def,cut,comp(7)]", 0.10),
    ("[nodef,cut,comp(7)]", 0.10),
    ("[conj,cut,comp(7)]", 0.10),
    ("[reo(23),cut,comp(7)]", 0.10),
    ("[scut,cut,comp(7)]", 0.05),
    ("[conj,nodef,cut]", 0.05),
    ("[reo(31),def,cut,comp(7)]", 0.10),
    ("[conj,nodef]", 1.0),
)
_COMPLETE = frozenset({"[conj,nodef]", "[nodef]", "[def]", "[]", "[conj]", "[conj,def]"})


def _attempt(problem: Any, settings: str, inference_limit: int | None) -> dict[str, Any]:
    """One attempt, run as a job: clausify, prove, check; the outcome as a dict."""
    sys.setrecursionlimit(20_000)
    from palestra.logic.clausify import clausify, parse_settings
    from palestra.prove.calculus import Options, prove
    from palestra.prove.checker import check
    from palestra.prove.compiled import has_start_marker

    # reo(N) reorders the matrix once, in the prover (as leanCoP's prove/2 does)
    matrix = clausify(problem, **{**parse_settings(settings), "reorder": 0})
    options = Options.from_leancop(settings, inference_limit)
    if options.conj and not has_start_marker(matrix):
        # conj marks the conjecture of "axioms => conjecture"; a problem without axioms (or
        # without a conjecture) has no such split, so any clause may start the proof
        options = dataclasses.replace(options, conj=False)
    t0 = time.perf_counter()
    result = prove(matrix, options)
    out: dict[str, Any] = {
        "status": result.status,
        "inferences": result.inferences,
        "search_seconds": time.perf_counter() - t0,  # the search alone, for inferences/s
    }
    if result.status == "Theorem":
        assert result.proof is not None
        verdict = check(matrix, result.proof)
        out.update(
            checked=verdict.accepted,
            check_reason=verdict.reason,
            proof=result.proof.to_dict(),
            proof_text=str(result.proof),
        )
        if not room_to_pickle(out["proof"]):
            out["proof"] = None  # nested too deep to send back; proof_text still has it
    return out


@dataclass
class _Problem:
    """One problem under its schedule, as the parent tracks it."""

    path: Path
    strategies: list[str]
    time_limit: float
    problem: Any = None
    started: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    result: ProofAttempt | None = None

    def remaining(self) -> float:
        return self.time_limit - (time.monotonic() - self.started)


def _strategies(spec: str) -> list[str]:
    if spec == "schedule":
        return [s for s, _ in SCHEDULE]
    s = spec.strip().replace(" ", "")
    if not (s.startswith("[") and s.endswith("]")):
        raise PalestraError(
            f"strategy {spec!r}: expected 'schedule' or a list like '[cut,comp(7)]'"
        )
    from palestra.logic.settings import LeancopSettings

    try:
        LeancopSettings.parse(s)  # the one parser of the clausifier's and the search's options
    except ValueError as e:
        raise PalestraError(f"strategy {spec!r}: {e}") from None
    return [s]


def _slice(job: _Problem) -> float:
    """Seconds for the job's next attempt."""
    shares = dict(SCHEDULE)
    left = job.remaining()
    if len(job.strategies) == 1:
        return max(left, 0.0)
    return max(min(shares.get(job.strategies[0], 1.0) * job.time_limit, left), 0.0)


def _finish(job: _Problem, status: str, error: str | None = None) -> ProofAttempt:
    if error:
        error = " ".join(error.split())  # one line in the SZS output, whatever failed
    has_conjecture = bool(job.problem and job.problem.conjectures)
    if status == "Theorem" and not has_conjecture:
        status = "Unsatisfiable"
    if status == "CounterSatisfiable" and not has_conjecture:
        status = "Satisfiable"
    proving = next((a for a in job.attempts if a["status"] == "Theorem"), None)
    job.result = ProofAttempt(
        problem=job.path.stem,
        file=str(job.path),
        status=status,
        strategy=proving["strategy"] if proving else None,
        inferences=proving["inferences"]
        if proving
        else sum(a.get("inferences", 0) for a in job.attempts),
        seconds=round(time.monotonic() - job.started, 3),
        checked=bool(proving and proving.get("checked")),
        proof=proving.get("proof") if proving else None,
        proof_text=proving.get("proof_text") if proving else None,
        attempts=tuple(
            {k: a.get(k) for k in ("strategy", "status", "inferences", "seconds", "search_seconds")}
            for a in job.attempts
        ),
        error=error,
    )
    return job.result


def _after_attempt(job: _Problem, outcome: dict[str, Any]) -> bool:
    """Record an attempt; return True when the problem is decided."""
    job.attempts.append(outcome)
    status = outcome["status"]
    strategy = job.strategies.pop(0)
    if status == "Theorem":
        if not outcome.get("checked"):
            reason = outcome.get("check_reason", "")
            _finish(job, "Error", error=f"proof rejected by the checker: {reason}")
        else:
            _finish(job, "Theorem")
        return True
    if status == "Error":
        _finish(job, "Error", error=outcome.get("error"))
        return True
    if status == "CounterSatisfiable" and strategy in _COMPLETE:
        _finish(job, "CounterSatisfiable")
        return True
    if not job.strategies or job.remaining() <= 0:
        timed_out = any(a["status"] == "Timeout" for a in job.attempts)
        _finish(job, "Timeout" if timed_out and job.remaining() <= 0 else "GaveUp")
        return True
    return False


def _outcome(r: JobResult, settings: str) -> dict[str, Any]:
    """An attempt's outcome from its job: the prover's dict, or Timeout, or Error."""
    if r.status == "ok":
        outcome = dict(r.value)
    elif r.status == "timeout":
        outcome = {"status": "Timeout"}
    elif r.error.startswith(("killed by", "exited with")):  # died without a word
        outcome = {"status": "Error", "error": f"prover process died ({settings}): {r.error}"}
    else:
        outcome = {"status": "Error", "error": r.error}
    outcome.update(strategy=settings, seconds=round(r.seconds, 3))
    return outcome


def _read(job: _Problem) -> tuple[str, str] | None:
    """Read the job's problem into ``job.problem``; ``(status, one-line message)`` if it
    cannot be proved: ``InputError`` for a file the reader refuses (its ``FILE:LINE:COL``
    message) or one without formulas, ``Error`` for a failure of the reader itself, so that
    one bad file never stops a folder."""
    from palestra.logic.tptp import read_problem

    try:
        job.problem = read_problem(job.path)
    except (PalestraError, OSError) as e:
        return "InputError", " ".join(str(e).split()) or type(e).__name__
    except Exception as e:  # a reader bug: this problem's Error, the others go on
        message = " ".join(f"{job.path}: reading failed: {type(e).__name__}: {e}".split())
        return "Error", message[:500]
    if not job.problem.formulas:
        return "InputError", f"{job.path}: no formulas (no fof or cnf line to prove)"
    return None


def prove_paths(
    paths: Iterable[Path],
    *,
    strategy: str = "schedule",
    time_limit: float = 10.0,
    inference_limit: int | None = None,
    jobs: int = 1,
    on_result: Callable[[ProofAttempt], None] | None = None,
) -> list[ProofAttempt]:
    """Prove every file in ``paths``; results in input order (also passed to ``on_result``).

    Each attempt is a job of :mod:`palestra.core.jobs` with its time slice as deadline; a
    problem's next strategy starts before any new problem, so a problem's time limit is not
    spent waiting behind others.
    """
    import palestra.logic.clausify
    import palestra.prove.calculus
    import palestra.prove.checker  # noqa: F401 (imported once here, inherited by every fork)

    strategies = _strategies(strategy)
    todo = deque(_Problem(Path(p), list(strategies), time_limit) for p in paths)
    order = list(todo)
    ready: deque[_Problem] = deque()  # problems waiting for their next attempt

    def decided(job: _Problem) -> None:
        if on_result is not None and job.result is not None:
            on_result(job.result)

    with JobRunner(workers=jobs) as runner:
        while todo or ready or runner.pending():
            while runner.free() and (ready or todo):
                if ready:
                    job = ready.popleft()
                else:
                    job = todo.popleft()
                    job.started = time.monotonic()
                    error = _read(job)
                    if error is not None:
                        _finish(job, *error)
                        decided(job)
                        continue
                settings = job.strategies[0]
                runner.submit(
                    _attempt,
                    job.problem,
                    settings,
                    inference_limit,
                    key=(job, settings),
                    deadline_s=_slice(job),
                )
            for r in runner.wait():
                job, settings = r.key
                if _after_attempt(job, _outcome(r, settings)):
                    decided(job)
                else:
                    ready.append(job)
    return [job.result for job in order if job.result is not None]


def szs_lines(result: ProofAttempt, *, proof: bool = True) -> list[str]:
    """The TPTP/SZS output of one result."""
    name = result.problem
    lines = [f"% SZS status {result.status} for {name}"]
    if result.error:
        lines.append(f"% {result.error}")
    if result.status in ("Theorem", "Unsatisfiable"):
        if result.attempts is not None:
            how = f"strategy {result.strategy}"
        else:
            how = f"{'guided' if result.guided else 'unguided'} MCTS, {result.playouts:,} playouts"
        lines.append(
            f"% {how}: {result.inferences:,} inferences, "
            f"{result.seconds:.2f} s; proof checked by palestra.prove.checker"
        )
        if proof and result.proof_text:
            lines.append(f"% SZS output start Proof for {name}")
            lines.extend(result.proof_text.rstrip("\n").splitlines())
            lines.append(f"% SZS output end Proof for {name}")
    elif result.attempts is not None:
        lines.append(f"% {len(result.attempts)} attempts, {result.seconds:.2f} s")
    else:
        lines.append(
            f"% {'guided' if result.guided else 'unguided'} MCTS: {result.inferences:,} "
            f"inferences, {result.playouts:,} playouts, {result.seconds:.2f} s"
        )
    return lines


def run_prove(cfg: Any) -> int:
    """The ``palestra prove`` command; returns the exit status (0 unless input errors)."""
    from rich.console import Console

    target = Path(cfg.path)
    if not target.exists():
        raise PalestraError(f"{target}: no such file or folder")
    if cfg.guided is not None or target.is_file():
        if cfg.guided is not None:
            if not target.is_file():
                raise PalestraError(f"{target}: --guided proves one file at a time")
            from palestra.prove.rlcop import prove_guided

            model = None if cfg.guided == "none" else cfg.guided
            unreadable = _read(probe := _Problem(target, [], 0.0, started=time.monotonic()))
            if unreadable is not None:  # the same answer as the schedule's for a bad file
                result = _finish(probe, *unreadable)
            else:
                limit = cfg.inference_limit or 200_000
                result = prove_guided(target, model, inference_limit=limit)
        else:
            (result,) = prove_paths(
                [target],
                strategy=cfg.strategy,
                time_limit=cfg.time_limit,
                inference_limit=cfg.inference_limit,
            )
        if cfg.json:
            print(result.to_json_line())
        else:
            print("\n".join(szs_lines(result, proof=cfg.proof)))
        return 1 if result.status in ("InputError", "Error") else 0

    files = sorted(p for p in target.rglob("*") if p.suffix == ".p" and p.is_file())
    if not files:
        raise PalestraError(f"{target}: no TPTP problems (*.p) in this folder")
    console = Console(stderr=True)
    out = open(cfg.out, "w", encoding="utf-8") if cfg.out else None  # noqa: SIM115
    counts: dict[str, int] = {}
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not cfg.progress) as bar:
        task = bar.add_task("proving", total=len(files))

        def on_result(r: ProofAttempt) -> None:
            counts[r.status] = counts.get(r.status, 0) + 1
            proved = counts.get("Theorem", 0) + counts.get("Unsatisfiable", 0)
            bar.update(task, advance=1, description=f"proving ({proved} proved)")
            line = r.to_json_line()
            if out is not None:
                out.write(line + "\n")
                out.flush()
            if cfg.json:
                print(line, flush=True)

        try:
            results = prove_paths(
                files,
                strategy=cfg.strategy,
                time_limit=cfg.time_limit,
                inference_limit=cfg.inference_limit,
                jobs=cfg.jobs,
                on_result=on_result,
            )
        finally:
            if out is not None:
                out.close()
    from rich.table import Table

    table = Table(title=f"{target}: {len(files)} problems, {cfg.strategy}, {cfg.time_limit:g} s")
    table.add_column("status")
    table.add_column("problems", justify="right")
    table.add_column("share", justify="right")
    for status, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(status, str(n), f"{100 * n / len(files):.1f}%")
    console.print(table)
    return 1 if any(r.status == "Error" for r in results) else 0
