"""The core of LM programs: a traced, budgeted, seeded handle on a model, and one way to run
a program.

A *program* is a plain function ``program(lm, task, problem, **options) -> Outcome`` that
asks the model through ``lm`` (an :class:`LM`) as often as it likes and returns the final
text (what the task's checker judges) and its own answer. :func:`run_program` is the one
entry point, a function of (backend, task, problem, budget, seed)::

    result = run_program(self_consistency, backend, task, problem,
                         budget=Budget(calls=16), seed=7, k=8, temperature=0.7)
    result.text, result.answer, result.stopped    # "done", "budget" or "context"
    [call.sampling["seed"] for call in result.trace]

**Backends.** ``lm`` speaks the one :class:`~palestra.lm.backends.Backend` protocol, so a
program runs unchanged on :class:`~palestra.lm.backends.OpenAIBackend` (any URL: ``palestra lm
serve``, vLLM, an API) and on :class:`~palestra.lm.backends.LocalBackend` (in process).

**Seeds.** Call ``i`` of a run with seed ``s`` is sampled with :func:`call_seed` ``(s, i)``
(SHA-256), so every call has its own seed and a run is reproduced call for call by the same
seed. Calls are numbered in the order the program asks for them; :meth:`LM.complete_each`
numbers its calls before it sends them, in parallel, so their seeds do not depend on which
answer comes back first. The program's own randomness (a tie broken, a sample accepted) comes
from :meth:`LM.random`, seeded from the run's seed and a name.

**Budgets.** :class:`Budget` bounds the calls and the *completion* tokens of a run. A call is
admitted only if its worst case fits in what is left (``n * max_tokens`` tokens, counted
against what the finished calls really used plus the worst case of those in flight); a call
that does not fit raises :class:`BudgetExhausted` before anything is sent. So the budget is
never exceeded, and admission depends on the calls' order only, not on timing. A program may
catch :class:`BudgetExhausted` and answer with what it has (self-consistency votes on the
samples it got); otherwise :func:`run_program` ends the run with ``stopped="budget"`` and an
empty text.

**Traces.** Every call is a :class:`Call` in ``result.trace``: its index and purpose, the
prompt, the sampling parameters (its seed included), every completion with its finish
reason and tokens, the prompt's tokens, the wall time, and the error of a refused call.

What it does not do: no retries beyond the backend's own, no cache, no chat API (programs
continue raw text, which tool use needs); prompt tokens are traced but not budgeted (a
backend counts them differently), and a program's own loops are bounded by its options, not
by the core.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from palestra.core.errors import PalestraError
from palestra.lm.backends import (
    MAX_STOP_STRINGS,
    Backend,
    BackendError,
    Completion,
    cut_at_stops,
    refused_for_context,
)
from palestra.reason.task import Problem, Task

__all__ = [
    "LM",
    "Budget",
    "BudgetExhausted",
    "Call",
    "Outcome",
    "Program",
    "Result",
    "answer_key",
    "call_seed",
    "run_program",
]


def call_seed(seed: int, index: int) -> int:
    """The seed of call ``index`` of a run with ``seed``: 63 bits of SHA-256."""
    text = f"palestra-program\x1f{seed}\x1f{index}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class Budget:
    """The most calls and completion tokens one run may use (``None``: no bound)."""

    calls: int | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("calls", "tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise PalestraError(f"a budget of {name} must be at least 1, got {value}")


class BudgetExhausted(PalestraError):
    """A call that the run's budget has no room for (nothing was sent)."""


@dataclass(frozen=True)
class Call:
    """One model call of a run, as the trace records it."""

    index: int
    purpose: str
    prompt: str
    sampling: dict[str, Any]  # n, temperature, top_p, max_tokens, stop, seed
    completions: list[dict[str, Any]]  # text, finish_reason, completion_tokens
    prompt_tokens: int
    seconds: float
    error: str | None = None

    @property
    def completion_tokens(self) -> int:
        return sum(c["completion_tokens"] for c in self.completions)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    """What a program returns: the text the task checks, the program's own answer key, and
    anything else worth keeping (votes, scores, tool calls)."""

    text: str
    answer: str | None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """A run: the program's outcome, the trace of every call, and why it stopped."""

    text: str
    answer: str | None
    trace: list[Call]
    stopped: str  # "done", "budget" (BudgetExhausted) or "context" (a prompt too long)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return len(self.trace)

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.trace)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.trace)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "answer": self.answer,
            "stopped": self.stopped,
            "info": self.info,
            "trace": [c.to_json() for c in self.trace],
        }


class LM:
    """A backend seen through one run: seeds per call, the budget, the trace.

    ``concurrency`` bounds the calls :meth:`complete_each` has in flight at once."""

    def __init__(
        self, backend: Backend, budget: Budget | None = None, seed: int = 0, concurrency: int = 1
    ) -> None:
        if concurrency < 1:
            raise PalestraError(f"concurrency must be at least 1, got {concurrency}")
        self.backend = backend
        self.budget = budget or Budget()
        self.seed = seed
        self.concurrency = concurrency
        self.trace: list[Call] = []
        self._next = 0  # the next call's index
        self._spent = 0  # completion tokens of finished calls
        self._reserved = 0  # worst-case tokens of calls in flight
        self._lock = threading.Lock()

    def random(self, name: str) -> random.Random:
        """A generator for the program's own choices, seeded by the run's seed and ``name``."""
        digest = hashlib.sha256(f"palestra-program\x1f{self.seed}\x1f{name}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    @property
    def tokens_used(self) -> int:
        return self._spent

    def _admit(self, n: int, max_tokens: int) -> int:
        """Reserve a call (its index) or raise :class:`BudgetExhausted`."""
        with self._lock:
            if self.budget.calls is not None and self._next >= self.budget.calls:
                raise BudgetExhausted(f"the budget of {self.budget.calls} calls is spent")
            worst = n * max_tokens
            if self.budget.tokens is not None:
                left = self.budget.tokens - self._spent - self._reserved
                if worst > left:
                    raise BudgetExhausted(
                        f"a call of up to {worst} tokens does not fit the {left} tokens left "
                        f"of the budget of {self.budget.tokens}"
                    )
            self._reserved += worst
            index = self._next
            self._next += 1
            return index

    def _send(
        self,
        index: int,
        prompt: str,
        purpose: str,
        n: int,
        temperature: float,
        top_p: float,
        max_tokens: int,
        stop: Sequence[str],
    ) -> list[Completion]:
        seed = call_seed(self.seed, index)
        stops = [s for s in stop if s]
        sampling = {
            "n": n,
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "stop": stops,
            "seed": seed,
        }
        start = time.perf_counter()
        error: BackendError | None = None
        completions: list[Completion] = []
        try:
            completions = self.backend.complete(
                prompt,
                n=n,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=stops[:MAX_STOP_STRINGS] or None,
                seed=seed,
            )
            completions = [cut_at_stops(c, stops) for c in completions]  # the rest of them
        except BackendError as e:
            error = e
        call = Call(
            index=index,
            purpose=purpose,
            prompt=prompt,
            sampling=sampling,
            completions=[
                {
                    "text": c.text,
                    "finish_reason": c.finish_reason,
                    "completion_tokens": c.completion_tokens,
                }
                for c in completions
            ],
            prompt_tokens=completions[0].prompt_tokens if completions else 0,
            seconds=round(time.perf_counter() - start, 4),
            error=None if error is None else error.message,
        )
        with self._lock:
            self._reserved -= n * max_tokens
            self._spent += call.completion_tokens
            self.trace.append(call)
            self.trace.sort(key=lambda c: c.index)
        if error is not None:
            raise error
        return completions

    def complete(
        self,
        prompt: str,
        *,
        purpose: str = "sample",
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 64,
        stop: Sequence[str] = (),
    ) -> list[Completion]:
        """``n`` completions of ``prompt`` from one call (its seed: the run's next)."""
        index = self._admit(n, max_tokens)
        return self._send(index, prompt, purpose, n, temperature, top_p, max_tokens, stop)

    def complete_each(
        self,
        prompts: Sequence[str],
        *,
        purpose: str = "sample",
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 64,
        stop: Sequence[str] = (),
    ) -> list[Completion]:
        """One completion of each prompt, one call each, up to ``concurrency`` in flight.

        The calls are admitted and numbered first, in order; the prompts the budget has no
        room for are dropped, so the answer is a prefix (one completion per admitted prompt,
        in order). :class:`BudgetExhausted` only when not even the first fits."""
        admitted: list[int] = []
        for _ in prompts:
            try:
                admitted.append(self._admit(1, max_tokens))
            except BudgetExhausted:
                if not admitted:
                    raise
                break

        def one(i: int) -> Completion:
            sent = self._send(
                admitted[i], prompts[i], purpose, 1, temperature, top_p, max_tokens, stop
            )
            return sent[0]

        if self.concurrency == 1 or len(admitted) == 1:
            return [one(i) for i in range(len(admitted))]
        with ThreadPoolExecutor(min(self.concurrency, len(admitted))) as pool:
            return list(pool.map(one, range(len(admitted))))


def answer_key(task: Task, problem: Problem, text: str) -> str | None:
    """The answer a completion gives, as the task's majority vote counts it
    (``task.check(problem, text).answer``). The verdict that call also returns is dropped
    unread: a program never learns from the gold answer."""
    return task.check(problem, text).answer


class Program(Protocol):
    """What :func:`run_program` runs."""

    def __call__(self, lm: LM, task: Task, problem: Problem, **options: Any) -> Outcome: ...


def run_program(
    program: Callable[..., Outcome],
    backend: Backend,
    task: Task,
    problem: Problem,
    *,
    budget: Budget | None = None,
    seed: int = 0,
    concurrency: int = 1,
    **options: Any,
) -> Result:
    """Run ``program`` on ``problem`` (see the module doc); ``options`` go to the program.

    A :class:`BudgetExhausted` the program does not catch ends the run with
    ``stopped="budget"``; a prompt the model refuses as too long for its context with
    ``stopped="context"``; both with an empty text. Any other error is raised."""
    lm = LM(backend, budget, seed, concurrency)
    try:
        outcome = program(lm, task, problem, **options)
    except BudgetExhausted as e:
        return Result("", None, list(lm.trace), "budget", {"error": str(e)})
    except BackendError as e:
        if not refused_for_context(e):
            raise
        return Result("", None, list(lm.trace), "context", {"error": e.message})
    return Result(outcome.text, outcome.answer, list(lm.trace), "done", dict(outcome.info))
