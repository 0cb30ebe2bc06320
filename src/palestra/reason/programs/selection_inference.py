"""Selection-inference (Creswell, Shanahan and Higgins 2022): reasoning as a loop of two
separate model calls, with a checker between them.

At step ``t`` with the facts inferred so far ``K_t``::

    s_t = LM(select_prompt(problem, K_t))        # selection: sentences copied from the
                                                  # context or K_t (or "none." to halt)
    i_t = LM(infer_prompt(s_t))                   # inference: sees the selection only
    accept (s_t, i_t) iff check(problem, s_t, i_t, K_t)
    K_{t+1} = K_t + [i_t]

and the run ends when ``i_t`` is the goal (answer ``True``), when the selection is
``none.``, or after ``max_steps`` (answer ``Unknown``). Because the inference call sees
nothing but the selection, every conclusion is a function of the premises it names: the
trace is the reasoning, not a story told beside it (the paper's point). With
``check=True`` each step goes to the task's step checker (in the rule-chain world
Palestra's connection prover, its proof re-checked: :func:`palestra.reason.rulechains.
check_step`; and the selected sentences must be in the context or inferred before); a
rejected step is redrawn, up to ``tries`` times, the first try greedy and the others
sampled at ``temperature``. Without the checker every step is taken as written (the plain
SI loop), so the difference between the two is what the checker buys.

A task runs this program if it has :class:`SITask`'s methods (the rule chains do:
:class:`palestra.reason.rulechains.RuleChainTask`). The final text is the accepted trace
in the task's chain-of-thought format, ending in its answer line, so the task's checker
and every metric of ``palestra eval`` apply unchanged.

What it does not do: no search over alternative selections (a rejected step is redrawn,
not backtracked: a beam over steps is :mod:`~palestra.reason.programs.beam`), no learned
halter (the model's ``none.`` or the step limit halts), and an inference that repeats a
known fact is rejected by the checker, not by the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from palestra.core.verdict import Verdict
from palestra.reason.programs.core import LM, BudgetExhausted, Outcome, answer_key
from palestra.reason.task import Problem, Task

__all__ = ["SITask", "selection_inference"]


@runtime_checkable
class SITask(Protocol):
    """What selection-inference needs of a task."""

    def select_prompt(self, problem: Problem, known: Sequence[str]) -> str: ...

    def infer_prompt(self, selection: str) -> str: ...

    def check_si_step(
        self, problem: Problem, selection: str, inference: str, known: Sequence[str]
    ) -> Verdict[Any]: ...

    def goal(self, problem: Problem) -> str: ...

    def render(self, problem: Problem, steps: Sequence[tuple[str, str]], proved: bool) -> str: ...


def selection_inference(
    lm: LM,
    task: Task,
    problem: Problem,
    *,
    max_steps: int = 6,
    check: bool = True,
    tries: int = 4,
    temperature: float = 0.7,
    max_step_tokens: int = 96,
) -> Outcome:
    """Alternate selection and inference calls until the goal is inferred (the module doc)."""
    if not isinstance(task, SITask):
        raise TypeError(f"task {task.name} has no selection-inference prompts (SITask)")
    goal = task.goal(problem)
    known: list[str] = []
    steps: list[tuple[str, str]] = []
    rejected: list[dict[str, str]] = []
    halted, proved = "steps", False
    try:
        for t in range(1, max_steps + 1):
            step, rejected_here = None, False
            for attempt in range(1 if not check else tries):
                sampling = {"temperature": 0.0 if attempt == 0 else temperature}
                [s] = lm.complete(
                    task.select_prompt(problem, known),
                    purpose=f"selection {t}" + (f" (try {attempt + 1})" if attempt else ""),
                    max_tokens=max_step_tokens,
                    stop=["\n"],
                    **sampling,
                )
                selection = s.text.strip()
                if selection in ("none.", ""):
                    break
                [i] = lm.complete(
                    task.infer_prompt(selection),
                    purpose=f"inference {t}" + (f" (try {attempt + 1})" if attempt else ""),
                    max_tokens=max_step_tokens,
                    stop=["\n"],
                    **sampling,
                )
                inference = i.text.strip()
                verdict = (
                    task.check_si_step(problem, selection, inference, known) if check else None
                )
                if verdict is None or verdict.accepted:
                    step = (selection, inference)
                    break
                rejected.append({"step": str(t), "selection": selection, "reason": verdict.reason})
                rejected_here = True
            if step is None:
                halted = "rejected" if rejected_here else "none"
                break
            steps.append(step)
            known.append(step[1])
            if step[1] == goal:
                halted, proved = "goal", True
                break
    except BudgetExhausted:
        halted = "budget"
    text = task.render(problem, steps, proved)
    info = {"steps": len(steps), "halted": halted, "rejected": rejected, "checked": check}
    return Outcome(text, answer_key(task, problem, text), info)
