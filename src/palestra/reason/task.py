"""The task contract: problems, prompts and the verifier of a completion.

A task turns a data set into :class:`Problem` s and checks what a model wrote::

    task = get_task("mbpp")
    problems = task.problems()                     # data found by palestra.core.data
    text = backend.complete(task.prompt(p), stop=list(task.stop), ...)[0].text
    checked = task.check(p, text)                  # Checked(verdict, answer)
    bool(checked.verdict), checked.verdict.reason

Every task has a ``kind``: ``"code"`` (the completion is a program, run with its tests in the
sandbox; accepted when every test passes) or ``"answer"`` (a final answer is extracted from
the completion and compared with the gold one). ``Checked.answer`` is the extracted answer in
canonical form, the key that majority voting (maj@k) counts; ``None`` when nothing could be
extracted (a vote for nothing) and for code tasks whose programs have no single answer
(HumanEval, MBPP; MathQA-Python's programs compute one, the option they select).

``task.reference_completion(p)`` is what a perfect model would write (the canonical solution
as a completion of the prompt; the gold answer in the task's answer format): the bench's
self-check runs it through ``check`` and must see every problem accepted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from palestra.core.errors import PalestraError
from palestra.core.verdict import Verdict

__all__ = ["TASKS", "Checked", "Problem", "Task", "get_task", "register_task", "task_names"]


@dataclass(frozen=True)
class Problem:
    """One problem of a task.

    ``prompt`` is the text the model continues (few-shot examples already in it, as the
    task's paper wrote them); ``question`` the problem alone (for chat messages);
    ``reference`` the canonical solution (code tasks) or the gold answer (answer tasks);
    ``tests`` the test program of a code task (empty for answer tasks); ``meta`` anything
    else the task's checker needs (entry point, options, the reference's own run time, ...).
    """

    task: str
    id: str
    prompt: str
    question: str
    reference: str
    tests: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    """A completion's verdict and the answer extracted from it (the maj@k vote key)."""

    verdict: Verdict
    answer: str | None = None


class Task(ABC):
    """A benchmark: problems from a named data set, a prompt format and a verifier."""

    name: ClassVar[str]
    kind: ClassVar[Literal["code", "answer"]]
    dataset: ClassVar[str]  # the palestra.core.data set the problems come from
    stop: ClassVar[tuple[str, ...]] = ()  # stop strings of a completion
    max_tokens: ClassVar[int] = 512  # a completion's default token budget

    @abstractmethod
    def problems(self, data: str | Path | None = None) -> list[Problem]:
        """Every problem of the evaluation split, in a fixed order; ``data`` overrides where
        the data set is found (``palestra.core.data.locate``)."""

    def prompt(self, problem: Problem) -> str:
        """The text a completion model continues."""
        return problem.prompt

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        """The conversation a chat model answers (default: the prompt as one user turn)."""
        return [{"role": "user", "content": problem.prompt}]

    @abstractmethod
    def check(self, problem: Problem, completion: str) -> Checked:
        """The verdict on ``completion`` (and the extracted answer)."""

    @abstractmethod
    def reference_completion(self, problem: Problem) -> str:
        """A completion that a perfect model would write; ``check`` must accept it."""


TASKS: dict[str, Callable[[], Task]] = {}


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator: make a task available to ``palestra eval NAME``."""

    def deco(cls: type[Task]) -> type[Task]:
        TASKS[name] = cls
        return cls

    return deco


def _load_all() -> None:
    import importlib

    for module in ("code_tasks", "math_tasks", "rulechains", "wordproblems"):
        importlib.import_module(f"palestra.reason.{module}")


def task_names() -> list[str]:
    _load_all()
    return sorted(TASKS)


def get_task(name: str, **options: Any) -> Task:
    """The task registered as ``name``; an error naming the known tasks otherwise."""
    _load_all()
    if name not in TASKS:
        raise PalestraError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    return TASKS[name](**options)
