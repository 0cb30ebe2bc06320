"""``palestra eval TASK``: sample a model on a task's problems, check every sample, report
pass@k and maj@k.

    palestra eval gsm8k --backend http://127.0.0.1:8000/v1 --samples 10 --temperature 0.8 \\
        --limit 100 --out runs/eval/gsm8k-qwen
    palestra eval humaneval --backend local:runs/lm/20250101-120000 --samples 5

The loop, top to bottom: the task's problems (``--limit`` first ones) times ``--samples``
sample indices make the work list; each request asks for ``--samples-per-request`` samples
of one problem (default 1: one request per sample, each with its own seed); the requests run
``--concurrency`` at a time (:func:`palestra.lm.backends.complete_many`); each answer is
checked as soon as it arrives on a pool of checker threads (``task.check``: code runs in the
sandbox, answers go through the task's extractor) while sampling goes on; every checked sample
is one line of ``samples.jsonl``. At the end the run directory gets ``summary.json``,
``report.md`` and the plots ``pass_at_k.png`` (and ``maj_at_k.png`` for answer tasks), and
the summary table is printed.

**Seeds.** Sample ``i`` of problem ``p`` of task ``t`` in a run with seed ``s`` is drawn with
the seed :func:`sample_seed` ``(s, t, p, i)``, a stable hash (SHA-256), never one seed for all
samples. With ``--samples-per-request K > 1`` one request asks for ``n = K`` samples with the
seed of its first sample index, and the sample index within the chunk is the choice index: a
sample is then reproducible for the same ``K`` (which the run records), as the server decodes
the ``n`` samples of a request from one generator.

**Resuming.** ``--out DIR`` names the run directory; running the same command again after a
kill (``kill -9`` included) continues it: the (problem, sample) pairs already in
``samples.jsonl`` are skipped, a torn last line is dropped, and the recorded config must be
the same (concurrency, cache and progress may differ). Results do not depend on the order in
which samples finished, so a resumed run's summary is the clean run's.

**Programs.** ``--program NAME`` (cot, sc, best-of-n, reject, tool, beam: :mod:`palestra.
reason.programs`) makes each sample one run of an LM program instead of one completion:
sample ``i`` of problem ``p`` is the program run with the seed ``sample_seed(s, t, p, i)``
(each of its calls derives its own), the run's text is checked as a completion would be, and
its record adds the program's answer, why it stopped, its calls and its whole trace (every
call's prompt, sampling, completions and tokens); its tokens are the sums over its calls.
``--k``, ``--verifier``, ``--tools``, ``--beam``, ``--max-calls`` and ``--max-program-tokens``
are the programs' options; ``--temperature``, ``--top-p`` and ``--max-tokens`` their sampling
(beam: ``--max-tokens`` bounds each step, a line). Run directories,
resuming, summaries and reports are the same as for plain sampling, so ``pass@1`` of a
``--program sc --k 8`` run is the accuracy of maj@8 runs. (A program run is the unit, rather
than a new ``palestra run`` command: it gets all of this for free.)

**What counts.** A prompt the model refuses as too long for its context is recorded as a
failed sample (``finish_reason: "error"``, the message in ``error``) and counted in the
summary's ``errors``; any other backend error stops the run (resume it). Token counts are the
backend's; with ``K > 1`` each sample of a request carries the request's prompt tokens.

What it does not do: it does not retry a sample whose check raised (a checker bug stops the
run), nor judge whether ``--samples`` is enough for the k reported (pass@k is reported for
``k <= --samples`` only).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.config import Config, arg, config_to_dict
from palestra.core.errors import PalestraError
from palestra.core.runs import atomic_write_bytes, provenance, remove_temporaries
from palestra.core.verdict import Verdict
from palestra.lm.backends import (
    MAX_STOP_STRINGS,
    Answer,
    Backend,
    Request,
    Sampling,
    complete_many,
    cut_at_stops,
)
from palestra.reason.task import Problem, Task

__all__ = [
    "EvalConfig",
    "estimate_interval",
    "evaluate",
    "format_summary",
    "ks_for",
    "read_samples",
    "run_eval",
    "sample_seed",
    "summarize",
    "write_report",
]

SAMPLES = "samples.jsonl"


@dataclass
class EvalConfig(Config):
    """Options of ``palestra eval TASK``."""

    task: str = arg(
        ..., "Task to evaluate (humaneval, mbpp, gsm8k, math500, ...).", positional=True
    )
    backend: str = arg(
        ..., "The model: an OpenAI-compatible API root (http://HOST:PORT/v1) or local:RUN_DIR."
    )
    model: str = arg("", "Model name sent to the API (empty: the first of GET /models).")
    samples: int = arg(1, "Samples per problem (n of pass@k).", min=1)
    temperature: float = arg(0.0, "Sampling temperature (0: greedy).", min=0, max=2)
    top_p: float = arg(1.0, "Nucleus sampling: keep the smallest set of this mass.", above=0, max=1)
    max_tokens: int | None = arg(None, "Tokens per completion (unset: the task's default).", min=1)
    limit: int | None = arg(None, "Evaluate the first this many problems only.", min=1)
    seed: int = arg(0, "Run seed; each sample's seed is derived from it.", min=0)
    samples_per_request: int = arg(
        1, "Samples asked for in one request (n); their seed is the chunk's first sample's.", min=1
    )
    chat: bool = arg(False, "Ask the chat API with the task's messages (else the completions API).")
    intervention: str = arg(
        "",
        "humaneval, mbpp: evaluate the problems under this bias intervention (anonymize_name,"
        " misleading_name, remove_keywords, remove_description, remove_examples, or a+b);"
        " problems it does not apply to are left out, listed in the summary; ids get ~NAME.",
    )
    data: Path | None = arg(None, "Where the task's data set is (default: palestra.core.data).")
    program: str = arg(
        "",
        "Run an LM program per sample instead of one completion (palestra.reason.programs):"
        " cot, sc (self-consistency), best-of-n, reject (verifier rejection), tool"
        " (calculator and sandboxed Python), beam (beam search over solution steps), si"
        " (selection-inference, rule chains); each"
        " sample's record keeps the program's trace.",
    )
    k: int = arg(
        8,
        "Programs sc and best-of-n: samples per run; reject: most proposals; beam:"
        " continuations of each partial solution per step; si: draws of a step.",
        min=1,
    )
    beam: int = arg(4, "Program beam: partial solutions kept per step (the beam's width).", min=1)
    check_steps: bool = arg(
        True,
        "Program si: check each step with the task's step checker (rule chains: the prover)"
        " and redraw a rejected one, up to --k draws (sampled at --temperature, else 0.7).",
    )
    verifier: str = arg(
        "arithmetic",
        "Programs best-of-n, reject and beam: the verifier, a name (arithmetic) or learned:DIR"
        " (a `palestra train verifier` run).",
    )
    tools: str = arg("calculator,python", "Program tool: the tools, comma-separated.")
    max_calls: int | None = arg(None, "Programs: most model calls per run.", min=1)
    max_program_tokens: int | None = arg(
        None, "Programs: most completion tokens per run (all its calls).", min=1
    )
    out: Path | None = arg(
        None,
        "Run directory; an existing one is resumed (default: runs/eval/TASK/STAMP).",
        recorded=False,
    )
    concurrency: int = arg(4, "Requests in flight at once.", min=1, recorded=False)
    check_workers: int = arg(
        2, "Threads checking samples while sampling goes on.", min=1, recorded=False
    )
    cache: Path | None = arg(None, "SQLite response cache to read and fill.", recorded=False)
    stream: bool = arg(False, "Ask the server for streamed answers.", recorded=False)
    timeout: float = arg(300.0, "Seconds to wait for one answer.", above=0, recorded=False)
    retries: int = arg(
        4, "Retries of a failed request (429, 5xx, no answer).", min=0, recorded=False
    )
    api_key_env: str = arg(
        "OPENAI_API_KEY", "Environment variable holding the API key (if set).", recorded=False
    )
    progress: bool = arg(True, "Show a progress bar on stderr.", recorded=False)


# ----------------------------------------------------------------------------- seeds
def sample_seed(seed: int, task: str, problem: str, sample: int) -> int:
    """The seed of sample ``sample`` of ``problem``: the first 63 bits of
    SHA-256(``seed``, ``task``, ``problem``, ``sample``), the same on every machine."""
    text = "\x1f".join(("palestra-eval", str(seed), task, problem, str(sample)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


# ----------------------------------------------------------------------------- the run dir
def read_samples(path: Path) -> list[dict[str, Any]]:
    """The records of ``samples.jsonl``; a torn last line (a kill mid-write) is cut from the
    file, so that appending goes on from a clean line."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1  # everything after the last newline is torn
    records = []
    for line in raw[:end].splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise PalestraError(f"{path}: a malformed line that is not the last") from None
    if end < len(raw):
        with open(path, "r+b") as f:
            f.truncate(end)
    return records


def _open_run(cfg: EvalConfig, task_name: str) -> tuple[Path, bool]:
    """The run directory (created, or found and checked for the same config) and whether it
    is resumed."""
    recorded = config_to_dict(cfg, recorded_only=True)
    if cfg.out is not None and (cfg.out / "config.json").is_file():
        saved = json.loads((cfg.out / "config.json").read_text())
        # a field added since the run began reads as its default there
        defaults = config_to_dict(type(cfg)(task=cfg.task, backend=cfg.backend))
        saved = {**{k: defaults[k] for k in recorded if k not in saved}, **saved}
        if saved != recorded:
            diff = sorted(k for k in set(saved) | set(recorded) if saved.get(k) != recorded.get(k))
            raise PalestraError(
                f"{cfg.out}: cannot resume with a different config (differs in: "
                f"{', '.join(diff)}); give another --out for a new run"
            )
        remove_temporaries(cfg.out)
        return cfg.out, True
    if cfg.out is not None:
        directory = cfg.out
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        directory = Path("runs") / "eval" / task_name / stamp
        n = 1
        while directory.exists():
            n += 1
            directory = Path("runs") / "eval" / task_name / f"{stamp}-{n}"
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": f"eval/{task_name}",
        "seed": cfg.seed,
        "argv": sys.argv,
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        **provenance(),
    }
    atomic_write_bytes(directory / "meta.json", json.dumps(meta, indent=2).encode())
    atomic_write_bytes(directory / "config.json", json.dumps(recorded, indent=2).encode())
    return directory, False


# ----------------------------------------------------------------------------- the backend
def _make_backend(cfg: EvalConfig) -> tuple[Backend, str]:
    """The backend named by ``--backend`` and the model's name (the cache key's)."""
    from palestra.lm.backends import LocalBackend, OpenAIBackend

    if cfg.backend.startswith("local:"):
        path = Path(cfg.backend.removeprefix("local:"))
        return LocalBackend(path), cfg.model or f"local:{path.resolve()}"
    api_key = os.environ.get(cfg.api_key_env) or None
    backend = OpenAIBackend(
        cfg.backend,
        cfg.model,
        api_key,
        timeout=cfg.timeout,
        stream=cfg.stream,
        retries=cfg.retries,
    )
    if not backend.model:
        models = backend.models()
        if not models:
            raise PalestraError(f"{cfg.backend}: the server lists no models; give --model")
        backend.model = models[0]
    return backend, f"{backend.model}@{backend.base_url}"


def _original_id(problem: Problem) -> str:
    """The id of the unmodified problem: an intervened problem's sample ``i`` is drawn with
    the seed of the original's sample ``i`` (common random numbers for the paired drop)."""
    return problem.meta.get("original_id", problem.id.split("~")[0])


def _check_intervention(task: Task, intervention: str) -> None:
    """An error unless ``intervention`` names interventions and ``task`` has their blocks."""
    from palestra.reason.interventions import TASKS, lookup

    if task.name not in TASKS:
        raise PalestraError(
            f"bias interventions apply to the code tasks {' and '.join(TASKS)}, not {task.name}"
        )
    lookup(intervention)


def _intervened(
    task: Task, problems: list[Problem], intervention: str, seed: int
) -> tuple[list[Problem], list[dict[str, str]]]:
    """``problems`` under ``intervention`` (each checked to change only its blocks) and the
    ones it does not apply to, with the reason; :class:`NotApplicable` when it applies to
    none. The intervened problems are the task's own: its ``check`` runs their rewritten
    tests, with the time limit of their rewritten reference."""
    from palestra.reason.interventions import NotApplicable, Skipped, intervene

    _check_intervention(task, intervention)
    render = getattr(task, "render", None)
    out, skipped = [], []
    for p in problems:
        r = intervene(p, intervention, render=render, seed=seed)
        if isinstance(r, Skipped):
            skipped.append({"problem": r.problem_id, "reason": r.reason})
        else:
            out.append(r.problem)
    if not out:
        raise NotApplicable(
            f"intervention {intervention} applies to none of the {len(problems)} problems"
            + (f" ({skipped[0]['reason']})" if skipped else "")
        )
    return out, skipped


def _resolve_task(name: str) -> Task:
    """A task registered under ``name`` (one registered by a plugin or test is used as it is;
    otherwise the built-in tasks are loaded)."""
    from palestra.reason.task import TASKS, get_task

    return TASKS[name]() if name in TASKS else get_task(name)


# ----------------------------------------------------------------------------- the loop
@dataclass(frozen=True)
class _Chunk:
    """The samples ``start .. start + n - 1`` of a problem, asked in one request; ``missing``
    are those not yet in the JSONL."""

    problem: Problem
    start: int
    n: int
    missing: frozenset[int]


def _text_hash(request: str | list[dict]) -> str:
    text = request if isinstance(request, str) else json.dumps(request, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def evaluate(
    cfg: EvalConfig,
    *,
    task: Task | None = None,
    backend: Backend | None = None,
    model: str | None = None,
    echo: bool = True,
) -> Path:
    """Run (or resume) the evaluation ``cfg`` describes; return its run directory.

    ``task`` and ``backend`` replace the ones ``cfg`` names (a task object not in the
    registry, a backend already open); ``model`` then names the model for the cache and the
    report. ``echo`` prints the summary table.
    """
    task = task or _resolve_task(cfg.task)
    if cfg.intervention:
        _check_intervention(task, cfg.intervention)
    if cfg.program:
        _check_program(cfg)
    problems = task.problems(cfg.data)
    if cfg.limit is not None:
        problems = problems[: cfg.limit]
    skipped: list[dict[str, str]] = []
    if cfg.intervention:
        problems, skipped = _intervened(task, problems, cfg.intervention, cfg.seed)
    if not problems:
        raise PalestraError(f"task {cfg.task}: no problems to evaluate")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise PalestraError(f"task {cfg.task}: problem ids are not unique")
    if backend is None:
        backend, model = _make_backend(cfg)
    model = model or cfg.model or "model"
    run_dir, _ = _open_run(cfg, task.name)
    samples_path = run_dir / SAMPLES
    done: dict[str, set[int]] = defaultdict(set)
    for r in read_samples(samples_path):
        done[r["problem"]].add(r["sample"])

    stops = list(task.stop)
    max_tokens = cfg.max_tokens or task.max_tokens
    chunks = []
    for problem in problems:
        for start in range(0, cfg.samples, cfg.samples_per_request):
            n = min(cfg.samples_per_request, cfg.samples - start)
            missing = frozenset(set(range(start, start + n)) - done[problem.id])
            if missing:
                chunks.append(_Chunk(problem, start, n, missing))
    todo = sum(len(c.missing) for c in chunks)

    def requests() -> Iterator[Request]:
        for chunk in chunks:
            p = chunk.problem
            sampling = Sampling(
                n=chunk.n,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                max_tokens=max_tokens,
                stop=stops[:MAX_STOP_STRINGS] or None,  # the rest are cut in _records
                seed=sample_seed(cfg.seed, task.name, _original_id(p), chunk.start),
            )
            prompt = task.messages(p) if cfg.chat else task.prompt(p)
            yield Request(prompt, sampling, chat=cfg.chat, sample=chunk.start, tag=chunk)

    def records(answer: Answer) -> list[dict[str, Any]]:
        chunk: _Chunk = answer.request.tag
        p = chunk.problem
        out = []
        for j in sorted(chunk.missing):
            t0 = time.perf_counter()
            record: dict[str, Any] = {
                "task": task.name,
                "problem": p.id,
                "sample": j,
                "seed": answer.request.sampling.seed,
                "choice": j - chunk.start,
                "prompt_sha256": _text_hash(answer.request.prompt),
            }
            if answer.error is not None:
                verdict = Verdict.reject(f"not sampled: {answer.error.message}")
                record.update(
                    completion="",
                    answer=None,
                    verdict=verdict.to_json(),
                    accepted=False,
                    prompt_tokens=0,
                    completion_tokens=0,
                    finish_reason="error",
                    error=answer.error.message,
                )
            else:
                completion = cut_at_stops(answer.completions[j - chunk.start], stops)
                checked = task.check(p, completion.text)
                record.update(
                    completion=completion.text,
                    answer=checked.answer,
                    verdict=checked.verdict.to_json(),
                    accepted=bool(checked.verdict),
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    finish_reason=completion.finish_reason,
                    error=None,
                )
            record.update(
                seconds=round(answer.seconds, 4),
                check_seconds=round(time.perf_counter() - t0, 4),
                cached=answer.cached,
            )
            out.append(record)
        return out

    cache = None
    if cfg.cache is not None:
        from palestra.reason.cache import ResponseCache

        cache = ResponseCache(cfg.cache, model=model)
    start_time = time.perf_counter()
    try:
        if cfg.program:
            work = [(c.problem, j) for c in chunks for j in sorted(c.missing)]
            _run_programs(cfg, task, backend, work, max_tokens, samples_path)
        else:
            _sample_and_check(cfg, backend, requests(), records, samples_path, todo, cache)
    finally:
        if cache is not None:
            cache.close()
    wall = time.perf_counter() - start_time

    all_records = read_samples(samples_path)
    summary = summarize(all_records, task=task, problems=ids, samples=cfg.samples)
    summary.update(model=model, backend=cfg.backend, chat=cfg.chat, seed=cfg.seed)
    if cfg.program:
        summary["program"] = _program_summary(cfg, all_records)
    if cfg.intervention:
        summary.update(intervention=cfg.intervention, skipped=skipped)
    summary["timing"] = {
        "wall_seconds_last_session": round(wall, 3),
        "request_seconds": round(sum(r["seconds"] for r in all_records), 3),
        "check_seconds": round(sum(r["check_seconds"] for r in all_records), 3),
        "cached_samples": sum(bool(r.get("cached")) for r in all_records),
    }
    write_report(run_dir, summary)
    if echo:
        print(format_summary(summary))
        print(f"run: {run_dir}")
    return run_dir


def _sample_and_check(
    cfg: EvalConfig,
    backend: Backend,
    requests: Iterator[Request],
    records: Any,
    samples_path: Path,
    todo: int,
    cache: Any,
) -> None:
    """Sample on ``cfg.concurrency`` threads and check on ``cfg.check_workers`` threads at
    once; append each checked sample to ``samples_path`` (one writer lock, a flush per
    answer so that a kill loses at most the lines being written)."""
    import contextlib

    from palestra.core.progress import progress_bar

    lock = threading.Lock()
    room = threading.Semaphore(4 * cfg.check_workers)  # answers waiting to be checked
    failures: list[BaseException] = []
    bar = progress_bar(f"eval {cfg.task}", todo) if cfg.progress else contextlib.nullcontext()
    with (
        bar as advance,
        open(samples_path, "a", encoding="utf-8") as out,
        ThreadPoolExecutor(cfg.check_workers, thread_name_prefix="check") as checkers,
    ):

        def check(answer: Answer) -> None:
            try:
                lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in records(answer)]
                with lock:
                    out.write("".join(lines))
                    out.flush()
                if advance is not None:
                    for _ in lines:
                        advance()
            except BaseException as e:  # a checker bug: stop the run, keep the traceback
                failures.append(e)
            finally:
                room.release()

        futures: list[Future[None]] = []
        for answer in complete_many(backend, requests, concurrency=cfg.concurrency, cache=cache):
            if failures:
                break
            room.acquire()
            futures.append(checkers.submit(check, answer))
        for f in futures:
            f.result()
    if failures:
        raise failures[0]


# ----------------------------------------------------------------------------- programs
def _check_program(cfg: EvalConfig) -> None:
    """An error unless ``cfg`` names a program and options it can run with."""
    from palestra.reason.programs import PROGRAMS, make_verifier
    from palestra.reason.programs.tools import TOOLS

    if cfg.program not in PROGRAMS:
        raise PalestraError(f"unknown program {cfg.program!r}; known: {', '.join(PROGRAMS)}")
    if cfg.chat or cfg.samples_per_request > 1 or cfg.cache is not None:
        raise PalestraError(
            "--program runs on the completions API, one program run per sample: no --chat, "
            "--samples-per-request or --cache with it"
        )
    if cfg.program in ("best-of-n", "reject", "beam"):
        make_verifier(cfg.verifier, check_only=True)
    unknown = [t for t in cfg.tools.split(",") if t not in TOOLS]
    if cfg.program == "tool" and unknown:
        raise PalestraError(f"unknown tools {unknown}; known: {', '.join(TOOLS)}")


def _program_options(cfg: EvalConfig, max_tokens: int) -> dict[str, Any]:
    """The options ``cfg`` gives the program it names."""
    from palestra.reason.programs import make_verifier

    options: dict[str, Any] = {
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": max_tokens,
    }
    if cfg.program == "sc":
        options["k"] = cfg.k
    elif cfg.program == "best-of-n":
        options.update(n=cfg.k, verifier=make_verifier(cfg.verifier))
    elif cfg.program == "reject":
        options.update(max_tries=cfg.k, verifier=make_verifier(cfg.verifier))
    elif cfg.program == "tool":
        options["tools"] = tuple(cfg.tools.split(","))
    elif cfg.program == "si":  # greedy first draws; --k draws of a step the checker rejects
        options = {"temperature": cfg.temperature or 0.7, "check": cfg.check_steps, "tries": cfg.k}
        if cfg.max_tokens is not None:
            options["max_step_tokens"] = cfg.max_tokens
    elif cfg.program == "beam":  # --max-tokens, when given, bounds each step (a line)
        del options["max_tokens"]
        options.update(beam=cfg.beam, expand=cfg.k, verifier=make_verifier(cfg.verifier))
        if cfg.max_tokens is not None:
            options["max_step_tokens"] = cfg.max_tokens
    return options


def _run_programs(
    cfg: EvalConfig,
    task: Task,
    backend: Backend,
    work: list[tuple[Problem, int]],
    max_tokens: int,
    samples_path: Path,
) -> None:
    """Run the program once per (problem, sample) of ``work``, ``cfg.concurrency`` runs at
    once; check each run's text and append its record (with the trace) as it finishes.
    Sample ``i`` of problem ``p`` runs with the seed ``sample_seed(seed, task, p, i)``."""
    import contextlib

    from palestra.core.progress import progress_bar
    from palestra.reason.programs import PROGRAMS, Budget, run_program

    program = PROGRAMS[cfg.program]
    options = _program_options(cfg, max_tokens)
    budget = Budget(cfg.max_calls, cfg.max_program_tokens)
    lock = threading.Lock()

    def one(item: tuple[Problem, int]) -> dict[str, Any]:
        problem, i = item
        seed = sample_seed(cfg.seed, task.name, _original_id(problem), i)
        t0 = time.perf_counter()
        result = run_program(program, backend, task, problem, budget=budget, seed=seed, **options)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        checked = task.check(problem, result.text)
        last = result.trace[-1].completions if result.trace else []
        finish = (
            result.stopped
            if result.stopped != "done"
            else (last[0]["finish_reason"] if last else "stop")
        )
        return {
            "task": task.name,
            "problem": problem.id,
            "sample": i,
            "seed": seed,
            "choice": 0,
            "prompt_sha256": _text_hash(task.prompt(problem)),
            "completion": result.text,
            "answer": checked.answer,
            "verdict": checked.verdict.to_json(),
            "accepted": bool(checked.verdict),
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "finish_reason": finish,
            "error": result.info.get("error") if result.stopped != "done" else None,
            "seconds": round(seconds, 4),
            "check_seconds": round(time.perf_counter() - t1, 4),
            "cached": False,
            "program": cfg.program,
            "program_answer": result.answer,
            "stopped": result.stopped,
            "calls": result.calls,
            "info": result.info,
            "trace": [c.to_json() for c in result.trace],
        }

    bar = (
        progress_bar(f"eval {cfg.task} ({cfg.program})", len(work))
        if cfg.progress
        else contextlib.nullcontext()
    )
    with (
        bar as advance,
        open(samples_path, "a", encoding="utf-8") as out,
        ThreadPoolExecutor(cfg.concurrency, thread_name_prefix="program") as pool,
    ):
        futures = [pool.submit(one, item) for item in work]
        try:
            for future in futures:
                line = json.dumps(future.result(), ensure_ascii=False) + "\n"
                with lock:
                    out.write(line)
                    out.flush()
                if advance is not None:
                    advance()
        finally:
            for f in futures:
                f.cancel()


def _program_summary(cfg: EvalConfig, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The program's figures: calls per run, why runs stopped."""
    runs = [r for r in records if "calls" in r]
    return {
        "name": cfg.program,
        "runs": len(runs),
        "calls": sum(r["calls"] for r in runs),
        "calls_per_run": sum(r["calls"] for r in runs) / max(1, len(runs)),
        "stopped": dict(sorted(Counter(r["stopped"] for r in runs).items())),
    }


# ----------------------------------------------------------------------------- the summary
def ks_for(n: int) -> list[int]:
    """The k reported for ``n`` samples: 1, 2, 5, 10, 20, 50, 100, ... up to ``n``, and ``n``."""
    ks, scale = [], 1
    while scale <= n:
        ks += [k for k in (scale, 2 * scale, 5 * scale) if k <= n]
        scale *= 10
    return ks if not ks or ks[-1] == n else [*ks, n]


def summarize(
    records: Sequence[dict[str, Any]],
    *,
    task: Task,
    problems: Sequence[str],
    samples: int,
    ks: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The figures of a run's records: pass@k (and maj@k for answer tasks) for every k of
    ``ks`` (default :func:`ks_for`), averaged over ``problems`` with a 95% normal interval
    over problems, the Wilson interval of the per-sample accept rate, tokens, errors and
    finish reasons.

    Deterministic in the records (not their order), so a resumed run's equals a clean run's.
    Every problem must have all its ``samples``: a missing one is an error, not a skip.
    """
    from palestra.reason.metrics import maj_at_k, pass_at_k, wilson_interval

    by_problem: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        by_problem[r["problem"]].setdefault(r["sample"], r)
    short = [p for p in problems if len(by_problem[p]) < samples]
    if short:
        raise PalestraError(
            f"{len(short)} problems lack samples (first: {short[0]}); run again to finish"
        )
    rows = [[by_problem[p][i] for i in range(samples)] for p in problems]
    ks = list(ks) if ks is not None else ks_for(samples)
    summary: dict[str, Any] = {
        "task": task.name,
        "kind": task.kind,
        "problems": len(problems),
        "samples": samples,
        "records": len(problems) * samples,
        "ks": ks,
    }
    accepted = [sum(bool(r["accepted"]) for r in row) for row in rows]
    summary["accepted"] = sum(accepted)
    summary["accept_rate_interval"] = list(wilson_interval(sum(accepted), len(rows) * samples))
    estimators = {"pass": lambda k: [pass_at_k(samples, c, k) for c in accepted]}
    if task.kind == "answer":
        votes = [[r["answer"] for r in row] for row in rows]
        correct = [[bool(r["accepted"]) for r in row] for row in rows]
        estimators["maj"] = lambda k: [
            maj_at_k(v, c, k) for v, c in zip(votes, correct, strict=True)
        ]
    for name, per_problem in estimators.items():
        values, intervals = {}, {}
        for k in ks:
            mean, low, high = estimate_interval(per_problem(k))
            values[str(k)] = mean
            intervals[str(k)] = [low, high]
        summary[f"{name}@k"] = values
        summary[f"{name}@k_interval"] = intervals
    flat = [r for row in rows for r in row]
    summary["tokens"] = {
        "prompt": sum(r["prompt_tokens"] for r in flat),
        "completion": sum(r["completion_tokens"] for r in flat),
        "completion_per_sample": sum(r["completion_tokens"] for r in flat) / len(flat),
    }
    summary["errors"] = sum(r["finish_reason"] == "error" for r in flat)
    summary["finish_reasons"] = dict(sorted(Counter(r["finish_reason"] for r in flat).items()))
    return summary


def estimate_interval(values: Sequence[float], z: float = 1.96) -> tuple[float, float, float]:
    """``(mean, low, high)`` of per-problem estimates in [0, 1]: the normal interval over
    problems (:func:`palestra.reason.metrics.mean_interval`), clipped to [0, 1]; where the
    estimates do not vary (every problem solved, or none) that interval is a point, and the
    Wilson interval of the mean over the problems is given instead (values in [0, 1] with mean
    m vary at most as a coin of bias m does)."""
    from palestra.reason.metrics import mean_interval, wilson_interval

    mean, low, high = mean_interval(values, z=z)
    if high - low <= 1e-12:
        low, high = wilson_interval(round(mean * len(values)), len(values), z=z)
    return mean, max(0.0, low), min(1.0, high)


def format_summary(summary: dict[str, Any]) -> str:
    """The summary table printed at the end of a run."""
    maj = summary.get("maj@k")
    lines = [
        f"{summary['task']} ({summary['kind']}): {summary.get('model', '')}, "
        f"{summary['problems']} problems x {summary['samples']} samples",
        f"{'k':>6}  {'pass@k':>8}  {'95% interval':>17}" + (f"  {'maj@k':>8}" if maj else ""),
    ]
    for k in summary["ks"]:
        low, high = summary["pass@k_interval"][str(k)]
        line = f"{k:>6}  {summary['pass@k'][str(k)]:>8.4f}  [{low:>6.4f}, {high:>6.4f}]"
        if maj:
            line += f"  {maj[str(k)]:>8.4f}"
        lines.append(line)
    tokens = summary["tokens"]
    lines.append(
        f"accepted {summary['accepted']}/{summary['records']} samples; tokens: prompt "
        f"{tokens['prompt']:,}, completion {tokens['completion']:,} "
        f"({tokens['completion_per_sample']:.1f} per sample); errors {summary['errors']}"
    )
    if "program" in summary:
        lines.append(_program_line(summary["program"]))
    return "\n".join(lines)


def write_report(run_dir: Path, summary: dict[str, Any]) -> None:
    """``summary.json``, ``report.md`` and the plots of pass@k (and maj@k) against k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    atomic_write_bytes(run_dir / "summary.json", json.dumps(summary, indent=2).encode())
    plots = [("pass", "pass_at_k.png")]
    if "maj@k" in summary:
        plots.append(("maj", "maj_at_k.png"))
    ks = summary["ks"]
    for name, filename in plots:
        fig, ax = plt.subplots(figsize=(5.6, 3.6), dpi=110)
        try:
            values = [summary[f"{name}@k"][str(k)] for k in ks]
            low = [summary[f"{name}@k_interval"][str(k)][0] for k in ks]
            high = [summary[f"{name}@k_interval"][str(k)][1] for k in ks]
            ax.plot(ks, values, marker="o", label=f"{name}@k")
            ax.fill_between(ks, low, high, alpha=0.2, label="95% interval over problems")
            if len(ks) > 1:
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("k")
            ax.set_ylabel(f"{name}@k")
            ax.set_title(f"{summary['task']}: {name}@k ({summary['samples']} samples/problem)")
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            fig.savefig(run_dir / filename)
        finally:
            plt.close(fig)
    api = "chat" if summary.get("chat") else "completion"
    program = [f"- {_program_line(summary['program'])}"] if "program" in summary else []
    lines = [
        f"# Evaluation of `{summary.get('model', '')}` on {summary['task']}",
        "",
        f"- backend `{summary.get('backend', '')}`, {api} API, seed {summary.get('seed')}",
        f"- {summary['problems']} problems x {summary['samples']} samples; "
        f"accepted {summary['accepted']} samples; errors (prompt too long) {summary['errors']}",
        f"- tokens: prompt {summary['tokens']['prompt']:,}, completion "
        f"{summary['tokens']['completion']:,}; finish reasons {summary['finish_reasons']}",
        *program,
        "",
        "| k | pass@k | 95% interval |" + (" maj@k | 95% interval |" if "maj@k" in summary else ""),
        "|---:|---:|---|" + ("---:|---|" if "maj@k" in summary else ""),
    ]
    for k in ks:
        row = f"| {k} | {summary['pass@k'][str(k)]:.4f} | {_interval(summary, 'pass', k)} |"
        if "maj@k" in summary:
            row += f" {summary['maj@k'][str(k)]:.4f} | {_interval(summary, 'maj', k)} |"
        lines.append(row)
    lines += ["", *(f"![{name}@k]({filename})" for name, filename in plots), ""]
    atomic_write_bytes(run_dir / "report.md", "\n".join(lines).encode())


def _program_line(program: dict[str, Any]) -> str:
    return (
        f"program {program['name']}: {program['calls_per_run']:.2f} model calls per run, "
        f"runs stopped {program['stopped']}"
    )


def _interval(summary: dict[str, Any], name: str, k: int) -> str:
    low, high = summary[f"{name}@k_interval"][str(k)]
    return f"[{low:.4f}, {high:.4f}]"


def run_eval(cfg: EvalConfig) -> Path:
    """The ``palestra eval`` command."""
    return evaluate(cfg)


@dataclass
class BiasesConfig(EvalConfig):
    """Options of ``palestra eval-biases TASK``: ``palestra eval`` once unmodified and once
    per intervention (each run in ``OUT/NAME``), then the paired pass@1 drop table."""

    interventions: tuple[str, ...] = arg(
        (
            "anonymize_name",
            "misleading_name",
            "remove_keywords",
            "remove_description",
            "remove_examples",
            "anonymize_name+remove_examples",
        ),
        "Interventions to measure, comma-separated (a+b: two blocks at once).",
    )
    intervention: str = arg("", "Not used by eval-biases (give --interventions).")
    out: Path | None = arg(
        None,
        "Folder of the runs and the table; an existing one is resumed (default: runs/biases/TASK).",
        recorded=False,
    )
