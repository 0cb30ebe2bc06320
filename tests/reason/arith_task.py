"""A tiny real task for the evaluation tests: two-digit additions ``"a+b="``, answered by the
first integer of the completion (the format of ``palestra train lm --task addition``).

Imported by the tests (and by the ``palestra eval`` subprocess they start), which registers it
as ``arith-test``; not a test module itself.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from palestra.core.verdict import Verdict
from palestra.reason.task import Checked, Problem, Task, register_task

PROBLEMS = 12


@register_task("arith-test")
class ArithTask(Task):
    name = "arith-test"
    kind = "answer"
    dataset = ""
    stop = ("\n",)
    max_tokens = 6

    def problems(self, data: str | Path | None = None) -> list[Problem]:
        rng = random.Random(0)
        out = []
        for i in range(PROBLEMS):
            a, b = rng.randrange(10, 100), rng.randrange(10, 100)
            out.append(
                Problem("arith-test", f"add-{i}", f"{a}+{b}=", f"What is {a}+{b}?", str(a + b))
            )
        return out

    def check(self, problem: Problem, completion: str) -> Checked:
        m = re.match(r"\s*(-?\d+)", completion)
        answer = m.group(1).lstrip("0") or "0" if m else None
        if answer is None:
            return Checked(Verdict.reject("no number"), None)
        if answer == problem.reference:
            return Checked(Verdict.accept(), answer)
        return Checked(Verdict.reject(f"{answer} != {problem.reference}"), answer)

    def reference_completion(self, problem: Problem) -> str:
        return problem.reference
