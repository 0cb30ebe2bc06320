"""The proof-search agent: episodes of edits with checker feedback, many workers, first wins.

After "Advancing Mathematics Research with AI-Driven Formal Proof Search" (2026): generation
alternates with verification. A worker edits a proof and reads the checker's answer after
every edit; when an episode fails it writes a short lessons note and starts again with the
note in its context; many workers run in parallel and the first proof that safe verify
accepts wins. Here one episode is::

    path = []                                   # sentences Coq accepted, from Proof.
    for edit in 1..E:
        goals = the session's goal state after path
        proposals = proposer.propose(goals, path, feedback = lessons + last error)
        run the best untried proposal sentence by sentence; keep what Coq accepts
        an error  -> feedback = "`tactic` failed: <Coq's message>"; tactic marked failed here
        no goals  -> Qed in the session, safe_verify the file -> accepted: proved
        no progress / a goal met before on the path -> undone, marked failed
    lessons += "episode k: reached `path`, stuck at <goal>: <last error>"
    the last step is marked a dead end if nothing is left to try after it (or nothing new
    was learned in the episode)

so a whole-proof proposer (:class:`~palestra.coq.proposers.LLMProposer`, mode ``proof``)
writes a proof, sees where Coq stopped it and why, and continues from the accepted prefix;
a tactic proposer builds a proof step by step. The marks live in the worker's
:class:`~palestra.coq.search.GoalCache` (keyed by the printed goal state) and carry into the
next episodes, so an episode never repeats a known failure. ``search="best-first"`` runs
:func:`~palestra.coq.search.best_first_search` instead.

:func:`prove_coq` runs ``workers`` jobs of :mod:`palestra.core.jobs` (forked processes);
worker 0 follows the proposer's ranking, worker ``i > 0`` re-ranks it with Gumbel noise
seeded by ``seed + i``, so the workers explore differently. The first verified proof makes
the runner send SIGUSR1 to the others; they see the flag between checker calls and answer
with status ``stopped``, and a worker that does not within a grace period gets SIGTERM (it
exits through its ``finally`` blocks, so its ``coqidetop`` is closed), then SIGKILL with its
process group. The goal cache is per worker: states are not shared between processes.

With ``ray`` (``--ray local`` or a cluster address) the workers are Ray tasks of one CPU each
on any node that has Palestra and Coq installed; the first verified proof cancels the others
(``ray.cancel(force=True)``), and their ``coqidetop`` dies with them (``PR_SET_PDEATHSIG``).

The schedule of one worker: the search first, then the stages that keep their own share of
the budget — ``--sketches SECONDS`` (:func:`sketch_stage`, the evolving population of proof
sketches of :mod:`palestra.coq.sketches`, with lessons carried across problems through
``--lessons FILE``), then ``--hammer SECONDS`` (:func:`hammer_stage`, ``hammer`` once at the
root, :mod:`palestra.coq.hammer`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from palestra.coq.config import ProveCoqConfig
from palestra.coq.hammer import HammerOptions, hammer_preamble
from palestra.coq.idetop import CoqError, CoqSession, SessionPool
from palestra.coq.proposers import Proposal, Proposer, goal_text, make_proposer
from palestra.coq.script import CoqScriptError, read_script, split_sentences
from palestra.coq.search import (
    CoqProblem,
    GoalCache,
    SearchBudget,
    SearchResult,
    _Cursor,
    best_first_search,
    open_problem,
    verify_closed,
)
from palestra.coq.sketches import Lessons, sketch_search
from palestra.core.errors import PalestraError
from palestra.core.jobs import run_jobs

__all__ = ["JitteredProposer", "prove_coq", "prove_problem", "run_episodes"]

_NOTE_CHARS = 240
_NO_UNTRIED = "no untried proposal at this goal"


def _short(text: str, limit: int = _NOTE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class JitteredProposer:
    """Another proposer's ranking perturbed by Gumbel noise: ``log score + T * gumbel``.

    Sampling without replacement in proportion to ``score ** (1/T)`` (the Gumbel-top-k
    trick); ``temperature=0`` keeps the ranking. Gives each worker its own order.
    """

    def __init__(self, inner: Proposer, seed: int, temperature: float = 1.0) -> None:
        self.inner = inner
        self.name = inner.name
        self.temperature = temperature
        self.rng = random.Random(seed)

    def propose(
        self, goal_state: str, history: Sequence[str], feedback: str = ""
    ) -> list[Proposal]:
        proposals = self.inner.propose(goal_state, history, feedback)
        if self.temperature <= 0:
            return proposals

        def key(p: Proposal) -> float:
            u = min(max(self.rng.random(), 1e-12), 1 - 1e-12)
            return math.log(max(p.score, 1e-9)) - self.temperature * math.log(-math.log(u))

        return sorted(proposals, key=key, reverse=True)


def run_episodes(
    problem: CoqProblem,
    proposer: Proposer,
    coq: CoqSession,
    base: int,
    *,
    budget: SearchBudget | None = None,
    edits: int = 8,
    width: int = 12,
    tactic_timeout: float = 3.0,
    max_episodes: int | None = None,
    cache: GoalCache | None = None,
    verify_timeout: float = 60.0,
    lessons_in_prompt: int = 3,
) -> SearchResult:
    """The agent's episodes (see the module doc) until a verified proof or the budget ends."""
    budget = budget or SearchBudget()
    cache = cache if cache is not None else GoalCache()
    cursor = _Cursor(coq, base, budget, tactic_timeout)
    coq.edit_at(base)
    root = goal_text(coq.proof_state())
    result = SearchResult(problem.name, False, [], None, None, "exhausted", 0, 0.0)
    episode = 0
    try:
        while True:
            why = budget.exhausted()
            if why:
                result.reason = why
                break
            if max_episodes is not None and episode >= max_episodes:
                result.reason = "episodes"
                break
            episode += 1
            cursor.rewind(0)
            on_path = [root]  # goal state after each step of the path
            error = ""
            known = cache.failures
            for _ in range(edits):
                if budget.exhausted():
                    break
                goals = on_path[-1]
                lessons = result.lessons[-lessons_in_prompt:]
                feedback = " ".join([*lessons, f"Last error: {error}" if error else ""]).strip()
                failed = cache.failed_at(goals)
                proposed = proposer.propose(goals, cursor.path, feedback)
                proposals = [p for p in proposed if p.tactic not in failed][:width]
                result.expansions += 1
                if not proposals:
                    error = _NO_UNTRIED
                    break
                tactic = proposals[0].tactic
                depth = len(cursor.path)
                states, error = _run_keeping_prefix(cursor, tactic)
                if error:
                    cache.fail(goals, tactic)
                    result.log.append(f"ep{episode} `{_short(tactic, 60)}`: {_short(error, 100)}")
                state = coq.proof_state()
                if len(cursor.path) == depth:
                    continue  # nothing accepted: try the next proposal at the same goal
                if state.complete:
                    proof, verdict = verify_closed(problem, cursor, verify_timeout)
                    if proof is not None:
                        result.proved, result.proof, result.verdict = True, proof, verdict
                        result.tactics = list(cursor.path)
                        result.reason = "proved"
                        return result
                    result.rejected += 1
                    result.verdict = verdict
                    why_not = verdict.reason if verdict else "Qed failed"
                    error = f"the proof closed but was rejected: {why_not}"
                    cache.fail(goals, tactic)
                    cursor.rewind(depth)
                    continue
                new_goals = goal_text(state)
                if new_goals in on_path:  # no progress, or back to an earlier state
                    cache.fail(goals, tactic)
                    error = error or f"`{_short(tactic, 60)}` made no progress"
                    cursor.rewind(depth)
                    continue
                cache.seen(new_goals)
                on_path.extend(states)  # several sentences may have been kept
            # the episode failed: a lessons note; its last step is a dead end when nothing
            # is left to try after it, or when the episode learned nothing (else the next
            # episode would repeat it)
            stuck = on_path[-1]
            note = (
                f"Episode {episode}: reached {len(cursor.path)} steps "
                f"`{_short(' '.join(cursor.path), 120)}`; stuck at `{_short(stuck, 120)}`"
                + (f"; error: {_short(error, 120)}" if error else "")
            )
            result.lessons.append(_short(note, 2 * _NOTE_CHARS))
            dead_end = error == _NO_UNTRIED or cache.failures == known
            if cursor.path and dead_end:
                cache.fail(on_path[-2], cursor.path[-1])
            elif not cursor.path and error == _NO_UNTRIED:
                result.reason = "exhausted"
                break
    finally:
        with contextlib.suppress(CoqError):
            cursor.rewind(0)
        result.checker_calls = budget.calls
        result.seconds = budget.elapsed()
        result.cache_hits = cache.hits
    return result


def _run_keeping_prefix(cursor: _Cursor, script: str) -> tuple[list[str], str]:
    """Run ``script`` sentence by sentence, keeping what Coq accepts.

    Returns the goal state after each accepted sentence, and the error ("" when none).
    """
    states: list[str] = []
    for s in split_sentences(script):
        try:
            cursor.run(s.text)
        except CoqError as e:
            return states, f"`{_short(s.text, 80)}` failed: {_short(e.message, 200)}"
        states.append(goal_text(cursor.coq.proof_state()))
    return states, ""


def prove_problem(
    source: str,
    cfg: ProveCoqConfig,
    *,
    worker: int = 0,
    pool: SessionPool | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SearchResult:
    """One worker on one problem: its proposer, its session, best-first or episodes."""
    hammer = HammerOptions(cfg.hammer) if cfg.hammer > 0 else None
    problem = CoqProblem.from_source(
        source,
        file=str(cfg.file),
        allow_axioms=cfg.allow_axioms,
        support=hammer_preamble(hammer) if hammer else "",
    )
    proposer: Proposer = make_proposer(
        cfg.proposer,
        source,
        llm_url=cfg.llm_url,
        llm_model=cfg.llm_model,
        seed=cfg.seed + worker,
        llm_mode=cfg.llm_mode,
        llm_max_tokens=cfg.llm_max_tokens,
        llm_max_prompt_chars=cfg.llm_prompt_chars,
        tactic_index=cfg.tactic_index,
        learned_weight=cfg.learned_weight,
    )
    if worker > 0:
        proposer = JitteredProposer(proposer, cfg.seed + worker)
    hammer_s = min(hammer.budget, cfg.budget) if hammer else 0.0
    sketch_s = min(cfg.sketches, cfg.budget - hammer_s)
    budget = SearchBudget(cfg.budget - hammer_s - sketch_s, cfg.max_calls, should_stop)
    with open_problem(problem, pool, timeout=cfg.tactic_timeout) as (coq, base):
        if budget.seconds <= 0:
            result = SearchResult(problem.name, False, [], None, None, "time", 0, 0.0)
        elif cfg.search == "best-first":
            result = best_first_search(
                problem,
                proposer,
                coq,
                base,
                budget=budget,
                tactic_timeout=cfg.tactic_timeout,
                width=cfg.width,
                max_depth=cfg.max_depth,
                verify_timeout=cfg.verify_timeout,
            )
        else:
            result = run_episodes(
                problem,
                proposer,
                coq,
                base,
                budget=budget,
                edits=cfg.edits,
                width=cfg.width,
                tactic_timeout=cfg.tactic_timeout,
                verify_timeout=cfg.verify_timeout,
            )
        if sketch_s > 0 and not result.proved and result.reason != "stopped":
            sketch_stage(
                problem,
                coq,
                base,
                result,
                seconds=max(sketch_s, cfg.budget - hammer_s - budget.elapsed()),
                tactic_timeout=cfg.tactic_timeout,
                lessons=Lessons.load(str(cfg.lessons)) if cfg.lessons else None,
                seed=cfg.seed + worker,
                should_stop=should_stop,
                verify_timeout=cfg.verify_timeout,
            )
        if hammer_s > 0 and not result.proved and result.reason != "stopped":
            hammer_stage(
                problem,
                coq,
                base,
                result,
                seconds=max(hammer_s, cfg.budget - budget.elapsed()),
                should_stop=should_stop,
                verify_timeout=cfg.verify_timeout,
            )
        return result


def sketch_stage(
    problem: CoqProblem,
    coq: CoqSession,
    base: int,
    result: SearchResult,
    *,
    seconds: float,
    tactic_timeout: float = 3.0,
    lessons: Lessons | None = None,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
    verify_timeout: float = 60.0,
) -> SearchResult:
    """The sketch population (:mod:`palestra.coq.sketches`) for ``seconds``; a complete sketch
    is replayed as the proof and checked like any other (Qed, safe verify)."""
    start = time.perf_counter()
    coq.edit_at(base)
    found = sketch_search(
        coq,
        seconds=seconds,
        tactic_timeout=min(tactic_timeout, 2.0),
        seed=seed,
        lessons=lessons,
        should_stop=should_stop,
    )
    result.log += found.log
    result.checker_calls += found.evaluated
    if found.proof is not None:
        cursor = _Cursor(coq, base, SearchBudget(seconds + 30.0, 100), tactic_timeout)
        _replay_and_verify(problem, cursor, found.proof, result, verify_timeout, "sketch replay")
    result.seconds += time.perf_counter() - start
    return result


def _replay_and_verify(
    problem: CoqProblem,
    cursor: _Cursor,
    steps: Sequence[str],
    result: SearchResult,
    verify_timeout: float,
    label: str,
) -> None:
    """Run ``steps`` from the cursor's base; a closed proof is verified (Qed, safe verify)
    and recorded in ``result``; the session is rewound to the base either way."""
    try:
        for step in steps:
            cursor.run(step)
        if cursor.coq.proof_state().complete:
            proof, verdict = verify_closed(problem, cursor, verify_timeout)
            result.verdict = verdict or result.verdict
            if proof is not None:
                result.proved, result.proof, result.tactics = True, proof, list(cursor.path)
                result.reason = "proved"
            else:
                result.rejected += 1
    except CoqError as e:
        result.log.append(f"{label}: {_short(e.message, 100)}")
    finally:
        with contextlib.suppress(CoqError):
            cursor.rewind(0)
        result.checker_calls += cursor.budget.calls


def hammer_stage(
    problem: CoqProblem,
    coq: CoqSession,
    base: int,
    result: SearchResult,
    *,
    seconds: float,
    should_stop: Callable[[], bool] | None = None,
    verify_timeout: float = 60.0,
) -> SearchResult:
    """``hammer`` once at the root with its own ``seconds``; updates and returns ``result``.

    The session must hold ``problem`` with CoqHammer loaded
    (:func:`~palestra.coq.hammer.hammer_preamble`); the proof kept is hammer's reconstruction.
    """
    budget = SearchBudget(seconds, 4, should_stop)
    cursor = _Cursor(coq, base, budget, seconds)
    coq.edit_at(base)
    _replay_and_verify(problem, cursor, ["hammer"], result, verify_timeout, "hammer")
    result.seconds += budget.elapsed()
    return result


def _outcome(result: SearchResult, worker: int) -> dict[str, Any]:
    out = result.to_dict()
    if result.reason == "stopped":
        out["status"] = "stopped"
    out["worker"] = worker
    return out


def _error(message: str, worker: int | None = None, statement: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"status": "error", "error": message, "proof": None, "checked": False}
    out.update(checker_calls=0, seconds=0.0)
    if worker is not None:
        out["worker"] = worker
    if statement:
        out["statement_error"] = True  # Coq rejected the statement file itself
    return out


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(143)  # unwinds: sessions and coqc runs are closed by their finally blocks


def _worker(index: int, cfg: ProveCoqConfig, source: str) -> dict[str, Any]:
    """One worker, run as a job of :mod:`palestra.core.jobs`; its answer as a dict.

    SIGUSR1 (the runner's stop signal) asks it to stop at the next checker call (it then
    answers with status stopped); SIGTERM makes it exit at once through its ``finally``
    blocks (``coqidetop`` closed).
    """
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():  # a Ray task may not be
        signal.signal(signal.SIGUSR1, lambda signum, frame: stop.set())
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _outcome(prove_problem(source, cfg, worker=index, should_stop=stop.is_set), index)
    except (PalestraError, OSError, ValueError) as e:
        return _error(_short(str(e), 400), index, statement=isinstance(e, CoqScriptError))


def prove_coq(cfg: ProveCoqConfig) -> dict[str, Any]:
    """Prove the last theorem of ``cfg.file``; the JSON-able answer of ``palestra prove-coq``.

    Keys: ``status`` (proved, failed, error), ``proof`` (the file safe verify accepted),
    ``checked`` (True only after safe verify), ``checker_calls`` (all workers), ``seconds``,
    ``theorem``, ``tactics``, ``winner`` (the worker whose proof counts), ``workers`` (each
    one's status: proved, failed, stopped, error), ``lessons`` (the winner's, else worker
    0's), ``error`` for status error.

    A statement file that cannot be used — unreadable, not UTF-8 text, no theorem, or text
    Coq rejects before the theorem — raises :class:`~palestra.coq.script.CoqScriptError`
    (``FILE:LINE:COL: message``), which the CLI prints as one line with exit status 2.
    """
    start = time.perf_counter()
    source = read_script(cfg.file)
    problem = CoqProblem.from_source(source, file=str(cfg.file))
    if cfg.workers == 1 and cfg.ray is None:
        try:
            workers = [_outcome(prove_problem(source, cfg), 0)]
        except CoqScriptError:
            raise
        except (PalestraError, OSError, ValueError) as e:
            workers = [_error(_short(str(e), 400), 0)]
    else:
        workers = _run_workers(cfg, source)
        if all(w.get("statement_error") for w in workers):
            raise PalestraError(workers[0]["error"])
    proved = [w for w in workers if w["status"] == "proved" and w.get("checked")]
    winner = min(proved, key=lambda w: w.get("finished", 0.0)) if proved else None
    errored = all(w["status"] == "error" for w in workers)
    status = "proved" if winner else "error" if errored else "failed"
    chosen = winner or workers[0]
    out: dict[str, Any] = {
        "status": status,
        "proof": winner["proof"] if winner else None,
        "checked": winner is not None,
        "checker_calls": sum(int(w.get("checker_calls", 0)) for w in workers),
        "seconds": round(time.perf_counter() - start, 3),
        "theorem": problem.name,
        "file": str(cfg.file),
        "proposer": cfg.proposer,
        "search": cfg.search,
        "tactics": winner.get("tactics", []) if winner else [],
        "winner": winner["worker"] if winner else None,
        "workers": [
            {k: w.get(k) for k in ("worker", "status", "reason", "checker_calls", "seconds")}
            for w in workers
        ],
        "lessons": chosen.get("lessons", []),
    }
    if status == "error":
        out["error"] = chosen.get("error", "")
    return out


def _run_workers(cfg: ProveCoqConfig, source: str) -> list[dict[str, Any]]:
    """``cfg.workers`` jobs (forked processes, each in its own process group with its
    ``coqidetop``); the first verified proof stops the others: SIGUSR1, then SIGTERM after a
    grace period, then SIGKILL to the group. A worker past the budget (and a last verify) is
    killed with its group."""
    t0 = time.monotonic()
    answers: dict[int, dict[str, Any]] = {}
    for r in run_jobs(
        functools.partial(_worker, cfg=cfg, source=source),
        range(cfg.workers),
        workers=cfg.workers,
        ray=cfg.ray,
        deadline_s=cfg.budget + cfg.verify_timeout + 60.0,  # start-up, a last verify
        first_wins=lambda out: out["status"] == "proved" and out["checked"],
        grace_s=cfg.tactic_timeout + 10.0,
    ):
        if r.value is not None:
            out = dict(r.value)
        else:
            out = _error(f"worker {r.status}: {r.error}", r.key)
        if r.status == "stopped" and out["status"] != "proved":
            out["status"] = "stopped"
        out["finished"] = time.monotonic() - t0
        answers[r.key] = out
    return [answers.get(i) or _error("no answer", i) for i in range(cfg.workers)]
