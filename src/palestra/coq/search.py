"""Best-first search over Coq's interactive proof states, in one ``coqidetop`` session.

A node is a path of tactics from ``Proof.``; its goal state is what Coq printed after the
last one. Expanding a node asks the proposer for tactics and runs each in the session::

    pop the node n of least cost
    move the session to n          edit_at the longest common prefix, re-add the rest
    for (tactic, score) in proposer.propose(goals(n), path(n)):
        add(tactic)                error or timeout -> next
        no goals left?             Qed, then safe_verify the whole file -> proved
        goals printed as before?   the goal cache has it: not pushed again
        push child, cost(n) - log(score) + depth_cost + goal_cost * (goals - 1)
        edit_at(n)

The document of a session is a path, not a tree (:meth:`CoqSession.edit_at` forgets later
states), so moving between siblings re-adds their common ancestors' tactics; each such ``add``
counts as a checker call. A proof counts only once :func:`~palestra.coq.verify.safe_verify`
accepted the candidate file (a separate ``coqc`` run); the session's word is not enough.
Budgets: wall-clock seconds and checker calls (every ``add``, and every safe verify) per
problem, and a ``should_stop`` callable polled between calls (another worker won).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from palestra.coq.hammer import is_hammer, run_hammer
from palestra.coq.idetop import CoqCrashed, CoqError, CoqSession, SessionPool
from palestra.coq.portfolio import HAMMER_REQUIRE, SUPPORT_REQUIRE
from palestra.coq.proposers import Proposer, goal_text
from palestra.coq.script import (
    CoqScriptError,
    line_column,
    split_preamble,
    split_sentences,
    split_theorem,
)
from palestra.coq.verify import Verdict, safe_verify
from palestra.core.errors import PalestraError

__all__ = [
    "CoqProblem",
    "GoalCache",
    "SearchBudget",
    "SearchResult",
    "best_first_search",
    "open_problem",
]

_HAMMER_WORDS = re.compile(
    r"\b(?:sauto|hauto|qauto|lauto|ssimpl|sintuition|scongruence|sfirstorder|strivial|"
    r"sblast|hammer|srun)\b"
)


@dataclass(frozen=True)
class CoqProblem:
    """A statement file cut for interactive search: what the session loads, then ``Proof.``.

    ``session_preamble`` is the support Requires (tactic libraries, CoqHammer) followed by the
    file's own Require/Import lines; ``between`` is the rest up to and including the theorem's
    statement. :meth:`candidate` writes the file that safe verify checks; ``allow_axioms`` is
    what safe verify may let a proof assume beyond the standard axioms (the statement file's
    own ``Axiom``/``Parameter``/... only when named here). ``file`` names the source in
    errors (``FILE:LINE:COL: ...``).
    """

    source: str
    name: str
    statement: str
    session_preamble: str
    between: str
    statement_end: int
    file: str = "<input>"
    allow_axioms: tuple[str, ...] = ()

    @classmethod
    def from_source(
        cls,
        source: str,
        *,
        file: str = "<input>",
        allow_axioms: Sequence[str] = (),
        support: str = "",
    ) -> CoqProblem:
        """``support``: more sentences the session loads before the file's own preamble
        (:func:`~palestra.coq.hammer.hammer_preamble` for a search that runs ``hammer``)."""
        split = split_theorem(source)
        if split is None:
            raise CoqScriptError(file, 0, 0, "no Theorem/Lemma statement in the source")
        statement_end = split.statement.start + len(split.statement.text)
        preamble, _ = split_preamble(source[: split.statement.start])
        # the support Requires go first: importing Lra after the file's Open Scope would
        # reopen R_scope and change what the statement means (as in portfolio.py)
        extra = f"{support}\n" if support else ""
        session_preamble = f"{SUPPORT_REQUIRE}\n{HAMMER_REQUIRE}\n{extra}{preamble}"
        return cls(
            source=source,
            name=split.name,
            statement=split.statement.text,
            session_preamble=session_preamble,
            between=source[len(preamble) : statement_end],
            statement_end=statement_end,
            file=file,
            allow_axioms=tuple(allow_axioms),
        )

    def error(self, e: CoqError, part: str) -> PalestraError:
        """Coq's error while loading ``part`` (``"session_preamble"``, ``"between"`` or
        ``"proof"``: the ``Proof.`` after the statement) at its place in the source."""
        if isinstance(e, CoqCrashed):  # coqidetop's failure, not the file's
            return e
        offset = e.location[0] if e.location else 0
        if part == "session_preamble":
            own = len(self.session_preamble) - (self.statement_end - len(self.between))
            if offset < own:  # in the support Requires this module adds, not in the file
                return PalestraError(f"loading the tactic libraries: {' '.join(e.message.split())}")
            offset -= own
        elif part == "between":
            offset += self.statement_end - len(self.between)
        else:
            offset = self.statement_end
        line, col = line_column(self.source, offset)
        return CoqScriptError(self.file, line, col, e.message)

    def candidate(self, tactics: Sequence[str]) -> str:
        """The whole file: support Requires, the original up to its statement, the proof."""
        hammer = any(_HAMMER_WORDS.search(t) for t in tactics)
        requires = SUPPORT_REQUIRE + ("\n" + HAMMER_REQUIRE if hammer else "")
        body = "".join(f"  {_sentence(t)}\n" for t in tactics)
        return f"{requires}\n{self.source[: self.statement_end]}\nProof.\n{body}Qed.\n"


def _sentence(tactic: str) -> str:
    tactic = tactic.strip()
    return tactic if tactic.endswith(".") else tactic + "."


@contextlib.contextmanager
def open_problem(
    problem: CoqProblem, pool: SessionPool | None = None, **session_options: object
) -> Iterator[tuple[CoqSession, int]]:
    """A session at the state just after ``Proof.`` (pooled when ``pool`` is given)."""
    own = pool is None
    pool = pool or SessionPool(max_idle=1, **session_options)
    try:
        with contextlib.ExitStack() as stack:
            # Coq's errors in the statement file become FILE:LINE:COL errors; errors in the
            # caller's block pass through unchanged
            try:
                coq = stack.enter_context(pool.session(problem.session_preamble))
            except CoqError as e:
                raise problem.error(e, "session_preamble") from None
            try:
                coq.exec(problem.between, timeout=max(coq.timeout, 30.0))
            except CoqError as e:
                raise problem.error(e, "between") from None
            try:
                base = coq.add("Proof.")
            except CoqError as e:
                raise problem.error(e, "proof") from None
            yield coq, base
    finally:
        if own:
            pool.close()


class GoalCache:
    """Goal states already seen, keyed by their printed text (:func:`goal_text`).

    ``seen(key)`` is True (and counts a hit) when the state was met before on any path; a
    search then does not push it again, so no state is expanded twice. ``failed`` remembers
    the tactics that errored (or made no progress) at a state, so an agent's later episodes
    skip them. One cache serves one problem (a goal's text does not say which file's
    definitions it uses).
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self.failed: dict[str, set[str]] = {}
        self.failures = 0  # (state, tactic) pairs recorded in ``failed``
        self.hits = 0
        self.expanded = 0

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: str) -> bool:
        return key in self._seen

    def seen(self, key: str) -> bool:
        if key in self._seen:
            self.hits += 1
            return True
        self._seen.add(key)
        return False

    def fail(self, key: str, tactic: str) -> None:
        tactics = self.failed.setdefault(key, set())
        if tactic not in tactics:
            tactics.add(tactic)
            self.failures += 1

    def failed_at(self, key: str) -> set[str]:
        return self.failed.get(key, set())


@dataclass
class SearchBudget:
    """Per-problem limits: wall-clock seconds and checker calls; a stop flag from outside."""

    seconds: float = 60.0
    checker_calls: int = 2000
    should_stop: Callable[[], bool] | None = None
    start: float = field(default_factory=time.perf_counter)
    calls: int = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def exhausted(self) -> str | None:
        """Why the search must stop now (``"time"``, ``"calls"``, ``"stopped"``), or None."""
        if self.should_stop is not None and self.should_stop():
            return "stopped"
        if self.left() <= 0:
            return "time"
        if self.calls >= self.checker_calls:
            return "calls"
        return None


@dataclass
class SearchResult:
    """What a search (or an agent's episodes) ended with; ``proved`` only after safe verify."""

    theorem: str
    proved: bool
    tactics: list[str]
    proof: str | None  # the candidate file safe verify accepted
    verdict: Verdict | None
    reason: str  # proved, time, calls, stopped, exhausted
    checker_calls: int
    seconds: float
    expansions: int = 0
    cache_hits: int = 0
    rejected: int = 0  # closed in the session but refused by safe verify
    lessons: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "theorem": self.theorem,
            "status": "proved" if self.proved else "failed",
            "proof": self.proof,
            "checked": bool(self.verdict and self.verdict.accepted),
            "tactics": self.tactics,
            "reason": self.reason,
            "checker_calls": self.checker_calls,
            "seconds": round(self.seconds, 3),
            "expansions": self.expansions,
            "cache_hits": self.cache_hits,
            "rejected": self.rejected,
            "lessons": self.lessons,
        }


class _Cursor:
    """Moves one session between paths of tactics below the base state (``Proof.``).

    ``states[i]`` is the session state after ``path[: i + 1]``; every ``add`` is charged to
    the budget.
    """

    def __init__(self, coq: CoqSession, base: int, budget: SearchBudget, timeout: float) -> None:
        self.coq, self.base, self.budget, self.timeout = coq, base, budget, timeout
        self.path: list[str] = []
        self.states: list[int] = []

    def call_timeout(self) -> float:
        return max(0.5, min(self.timeout, self.budget.left()))

    def rewind(self, depth: int) -> None:
        """Back to the state after the first ``depth`` tactics of the current path."""
        if depth < len(self.path):
            self.coq.edit_at(self.states[depth - 1] if depth else self.base)
            del self.path[depth:], self.states[depth:]

    def run(self, tactic: str) -> str:
        """Run one proposal (one or more sentences) at the tip; on error rewind and raise.

        ``hammer`` is run by :func:`~palestra.coq.hammer.run_hammer` and recorded as its
        reconstruction; the recorded text (``tactic`` unless it had a ``hammer``) is returned.
        """
        depth = len(self.path)
        tip = self.coq.tip
        ran: list[str] = []
        replaced = False
        try:
            for s in split_sentences(tactic):
                self.budget.calls += 1
                if is_hammer(s.text):
                    limit = self.call_timeout()
                    ran.append(run_hammer(self.coq, limit, max(self.timeout, 10.0)) + ".")
                    replaced = True
                else:
                    self.coq.add(_sentence(s.text), timeout=self.call_timeout())
                    ran.append(s.text)
        except CoqError:
            if self.coq.tip != tip:
                self.coq.edit_at(tip)
            raise
        recorded = " ".join(ran) if replaced else tactic
        self.path.append(recorded)
        self.states.append(self.coq.tip)
        assert len(self.path) == depth + 1
        return recorded

    def move_to(self, path: Sequence[str]) -> None:
        common = 0
        while common < min(len(path), len(self.path)) and path[common] == self.path[common]:
            common += 1
        self.rewind(common)
        for tactic in path[common:]:
            self.run(tactic)

    def qed(self) -> bool:
        """Does ``Qed`` accept the closed proof in the session? (rewinds after)."""
        tip = self.coq.tip
        self.budget.calls += 1
        try:
            self.coq.add("Qed.", timeout=max(self.timeout, 10.0))
        except CoqError:
            return False
        finally:
            if self.coq.tip != tip:
                self.coq.edit_at(tip)
        return True


def verify_closed(
    problem: CoqProblem, cursor: _Cursor, verify_timeout: float
) -> tuple[str | None, Verdict | None]:
    """When the session's proof is closed: Qed in the session, then safe verify the file."""
    if not cursor.qed():
        return None, None
    candidate = problem.candidate(cursor.path)
    cursor.budget.calls += 1
    verdict = safe_verify(
        problem.source, candidate, timeout=verify_timeout, allow_axioms=problem.allow_axioms
    )
    return (candidate if verdict.accepted else None), verdict


@dataclass(order=True)
class _Node:
    cost: float
    order: int
    path: tuple[str, ...] = field(compare=False)
    goals: str = field(compare=False)


def best_first_search(
    problem: CoqProblem,
    proposer: Proposer,
    coq: CoqSession,
    base: int,
    *,
    budget: SearchBudget | None = None,
    tactic_timeout: float = 3.0,
    width: int = 12,
    max_depth: int = 10,
    depth_cost: float = 0.3,
    goal_cost: float = 0.5,
    cache: GoalCache | None = None,
    verify_timeout: float = 60.0,
) -> SearchResult:
    """Search from ``base`` (the state after ``Proof.``) for a proof safe verify accepts.

    ``width`` proposals are tried per node; nodes deeper than ``max_depth`` are not expanded.
    The cost of a node is ``sum(-log score) + depth_cost * depth + goal_cost * (goals - 1)``.
    """
    budget = budget or SearchBudget()
    cache = cache if cache is not None else GoalCache()
    cursor = _Cursor(coq, base, budget, tactic_timeout)
    cursor.rewind(0)
    coq.edit_at(base)
    root_goals = goal_text(coq.proof_state())
    cache.seen(root_goals)
    counter = itertools.count()
    frontier = [_Node(0.0, next(counter), (), root_goals)]
    result = SearchResult(problem.name, False, [], None, None, "exhausted", 0, 0.0)
    last_verdict: Verdict | None = None
    try:
        while frontier:
            why = budget.exhausted()
            if why:
                result.reason = why
                break
            node = heapq.heappop(frontier)
            if len(node.path) >= max_depth:
                continue
            try:
                cursor.move_to(node.path)
            except CoqError as e:  # a timeout on replay: drop the node
                result.log.append(f"replay failed: {e.message[:80]}")
                cursor.rewind(0)
                continue
            cache.expanded += 1
            result.expansions += 1
            proposals = proposer.propose(node.goals, list(node.path))[:width]
            for p in proposals:
                why = budget.exhausted()
                if why:
                    result.reason = why
                    break
                if p.tactic in cache.failed_at(node.goals):
                    continue
                try:
                    tactic = cursor.run(p.tactic)
                except CoqError:
                    cache.fail(node.goals, p.tactic)
                    continue
                state = coq.proof_state()
                if state.complete:
                    proof, verdict = verify_closed(problem, cursor, verify_timeout)
                    if proof is not None:
                        result.proved, result.proof, result.verdict = True, proof, verdict
                        result.tactics = list(cursor.path)
                        result.reason = "proved"
                        return result
                    result.rejected += 1
                    last_verdict = verdict
                    cursor.rewind(len(node.path))
                    continue
                goals = goal_text(state)
                if goals == node.goals:
                    cache.fail(node.goals, p.tactic)  # no progress
                elif not cache.seen(goals):
                    cost = (
                        node.cost
                        - math.log(max(p.score, 1e-6))
                        + depth_cost
                        + goal_cost * max(0, len(state.goals) + len(state.background) - 1)
                    )
                    heapq.heappush(
                        frontier, _Node(cost, next(counter), (*node.path, tactic), goals)
                    )
                cursor.rewind(len(node.path))
    finally:
        with contextlib.suppress(CoqError):
            cursor.rewind(0)
        result.checker_calls = budget.calls
        result.seconds = budget.elapsed()
        result.cache_hits = cache.hits
        if not result.proved:
            result.verdict = last_verdict
    return result
