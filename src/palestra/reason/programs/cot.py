"""Chain of thought (Wei et al. 2022; the scratchpad of Nye et al. 2021): one completion of
the task's prompt, which asks for the steps before the answer.

The program is the simplest there is -- one call -- and the baseline the others are measured
against: greedy (``temperature=0``) it is "greedy chain of thought"; on a prompt that asks for
the answer alone (``wordproblems-direct``) the same program is greedy *direct* answering, so
the two are compared with one program and two prompts.

What it does not do: it adds no few-shot examples or instruction of its own (the task's
prompt is used as it is).
"""

from __future__ import annotations

from palestra.reason.programs.core import LM, Outcome, answer_key
from palestra.reason.task import Problem, Task

__all__ = ["chain_of_thought"]


def chain_of_thought(
    lm: LM,
    task: Task,
    problem: Problem,
    *,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int | None = None,
) -> Outcome:
    """One completion of ``task.prompt(problem)``; its answer is the task's extraction."""
    [completion] = lm.complete(
        task.prompt(problem),
        purpose="chain of thought",
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens or task.max_tokens,
        stop=list(task.stop),
    )
    return Outcome(completion.text, answer_key(task, problem, completion.text))
