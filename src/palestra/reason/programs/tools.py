"""Tool use: the model writes a tool call in its text, the program runs the tool and feeds
the result back into the continuation (Toolformer's and the cascades paper's "tool use";
GSM8K's calculator annotations).

Two tools, each with its syntax in the text:

- **calculator**: ``<<EXPR>>`` then the result, e.g. ``Apples: <<12+7>>19.`` The model is
  stopped at ``>>``; the program evaluates ``EXPR`` exactly (:func:`calculator`: ``+ - * /``,
  parentheses, decimals; exact fractions, written as an integer or a decimal of up to 6
  places) and appends ``>>`` and the result, then lets the model go on. The word problems'
  calculator style (:mod:`palestra.reason.wordproblems`) is written in this syntax.
- **python**: ``<python>CODE</python>`` then ``<output>STDOUT</output>``. The model is
  stopped at ``</python>``; the code runs in :func:`palestra.core.sandbox.run_python` (no
  network, limits on time, memory, processes and output) and its stdout (or the last line of
  its error) is fed back.

The loop (:func:`tool_use`): complete the prompt plus the text so far, with the tools' stop
strings added to the task's; if the text ends inside an open call (a ``<<`` after the last
``>>``, a ``<python>`` after the last ``</python>``), run the tool, append its result, and
continue; else stop. ``max_rounds`` bounds the tool calls, ``max_tokens`` the completion
tokens of all the continuations together. Each tool call is recorded in
``info["tool_calls"]`` (tool, input, output); the model calls are in the run's trace.

What it does not do: the calculator has no functions or powers (an unknown expression gives
``error``); the Python tool's state does not persist between calls; a call the model leaves
open at the end of its text (no stop string reached) is completed by the tool all the same.
"""

from __future__ import annotations

from fractions import Fraction

from palestra.core.errors import PalestraError
from palestra.reason.programs.core import LM, Outcome, answer_key
from palestra.reason.task import Problem, Task

__all__ = ["TOOLS", "calculator", "open_call", "python_tool", "tool_use"]

# tool -> (opening, closing, what goes after the closing before the result, after it)
TOOLS: dict[str, tuple[str, str, str, str]] = {
    "calculator": ("<<", ">>", "", ""),
    "python": ("<python>", "</python>", "<output>", "</output>"),
}


def format_number(value: Fraction) -> str:
    """An exact value as the calculator writes it: ``19``, ``2.5``, ``0.333333``."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text


def calculator(expression: str) -> str:
    """The value of ``expression`` (see the module doc), or ``error``."""
    from palestra.reason.wordproblems import evaluate_expression

    try:
        return format_number(evaluate_expression(expression))
    except PalestraError:
        return "error"


def python_tool(code: str, *, timeout_s: float = 5.0, max_chars: int = 400) -> str:
    """The stdout of ``code`` run in the sandbox (the last ``max_chars`` characters), or
    ``error: ...`` with the last line of its stderr or the limit that stopped it."""
    from palestra.core.sandbox import run_python

    result = run_python(code, timeout_s=timeout_s, memory_mb=256, max_output_bytes=1 << 16)
    if result.ok:
        return result.stdout[-max_chars:].strip()
    last = (result.stderr.strip().splitlines() or [result.status])[-1]
    return f"error: {last[-max_chars:]}"


def open_call(text: str, tools: tuple[str, ...]) -> tuple[str, str] | None:
    """``(tool, input)`` of a call left open at the end of ``text``, or None."""
    best: tuple[int, str, str] | None = None
    for tool in tools:
        opening, closing, _, _ = TOOLS[tool]
        at = text.rfind(opening)
        if at >= 0 and text.find(closing, at) < 0 and (best is None or at > best[0]):
            best = (at, tool, text[at + len(opening) :])
    return None if best is None else (best[1], best[2])


def tool_use(
    lm: LM,
    task: Task,
    problem: Problem,
    *,
    tools: tuple[str, ...] = ("calculator", "python"),
    max_rounds: int = 8,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int | None = None,
    python_timeout_s: float = 5.0,
) -> Outcome:
    """Complete the task's prompt, running the tools the text calls (the module doc)."""
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise PalestraError(f"unknown tools {unknown}; known: {', '.join(TOOLS)}")
    prompt = task.prompt(problem)
    stops = [TOOLS[t][1] for t in tools] + list(task.stop)
    left = max_tokens or task.max_tokens
    text, calls = "", []
    for round_ in range(max_rounds + 1):
        [c] = lm.complete(
            prompt + text,
            purpose="tool use" if round_ == 0 else f"continue after tool call {round_}",
            temperature=temperature,
            top_p=top_p,
            max_tokens=left,
            stop=stops,
        )
        text += c.text
        left -= c.completion_tokens
        call = open_call(text, tools) if c.finish_reason == "stop" else None
        if call is None or left < 1 or round_ == max_rounds:
            break
        tool, given = call
        output = (
            calculator(given)
            if tool == "calculator"
            else python_tool(given, timeout_s=python_timeout_s)
        )
        _, closing, before, after = TOOLS[tool]
        text += f"{closing}{before}{output}{after}"
        calls.append({"tool": tool, "input": given, "output": output})
    return Outcome(text, answer_key(task, problem, text), {"tool_calls": calls})
