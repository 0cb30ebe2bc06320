"""Scratchpad tasks (Nye et al. 2021, "Show Your Work: Scratchpads for Intermediate
Computation with Language Models"): the same question asked with a direct target and with a
target that writes out the intermediate steps before the answer.

Every sampler takes a ``random.Random`` and returns ``(prompt, target)`` strings; the same
seed gives the same examples. In every target **the last line is the final answer**, so one
:func:`final_answer` serves all tasks, and each task's checker recomputes the true answer from
the prompt alone (not from the target) and compares it with the output's last line.

Formats
-------
Addition (``"addition"``, ``"addition-scratchpad"``); operands have 1..``digits`` digits::

    prompt   "29+57="
    direct   "86"
    scratch  "9+7+0=16\\n2+5+1=08\\n86"

The scratchpad goes least-significant digit first, one line per column:
``a_i+b_i+carry_in=`` then two digits, the carry out and the column's sum digit (so every
line is a true sum); a missing digit of the shorter operand is written 0.

Long addition (``"long-addition"``, ``"long-addition-scratchpad"``) is the format for length
generalisation: train on 1..8 digits, test on 9..12. Every digit carries a **position tag**
naming its column (index hints, Zhou et al. 2023, "What Algorithms can Transformers
Learn?"), so a model can find column i of each operand by content rather than by counting,
which does not extend past the lengths it was trained on. Each operand and the sum has its
own alphabet of 16 tags: ``A..P`` for the first operand, ``a..p`` for the second, ``α..π``
for the scratchpad lines and the answer. The units column's tag is drawn at random (wherever
the sum still fits the 16 tags), so every tag is seen in training even though no operand
there is longer than 8 digits. Numbers are written most-significant digit first, **each
digit followed by its tag**::

    prompt   "2D9C+5d7c="                    (29 + 57, units column tagged C)
    direct   "8δ6γ"
    scratch  "C9c7+0=16γ\nD2d5+1=08δ\n8δ6γ"

The scratchpad has one line per column, least-significant first: the column's tag in the
first operand's alphabet and its digit there, the same for the second operand, ``+`` the
carry in, ``=`` the two-digit column sum (carry out, sum digit) and the column's tag in the
sum's alphabet. A missing digit of the shorter operand is 0. The answer, the same in both
variants, is the lines' sum digits read back by tag. The direct model has to write the
leading digit first without any carries written down, which is what the scratchpad paper
found does not generalise.

Why this layout: every step the scratchpad needs is either local (the carry from the line
above, the next tag, the column sum) or a lookup "where is tag X, and which digit came just
before it?": a line's ``C`` asks for the first operand's ``C``, its ``c`` for the second
operand's ``c``, and each answer tag for the line that ends with the tag before it. With
one alphabet per role, each lookup has exactly one match, which a model with token-keyed
attention heads (``token_heads`` of :mod:`palestra.models.transformer`) finds at any
distance; a tag after its digit lets the tag's position hold the digit it names (a causal
model's token holds only what came before it). Earlier formats (one alphabet, lines without
tags in front) and the runs that tried them are in results/NOTES.md (Language models, Scratchpads).

Word problems (``"wordproblems"``) are the reasoning world of
:mod:`palestra.reason.wordproblems`, registered here so that ``palestra train lm`` trains on
it: a mixture of the direct, step-by-step and calculator styles, each chosen by its
instruction, over the training templates only; ``digits`` bounds the quantities and
``reasoning_steps`` the steps. Rule chains (``"rulechains"``) are the deductive world of
:mod:`palestra.reason.rulechains` (selection-inference): direct, chain-of-thought, selection
and inference prompts over the training names, traces of 1..``reasoning_steps`` steps.

Polynomial evaluation (``"polynomial"``, ``"polynomial-scratchpad"``); degree 1..``degree``,
integer coefficients in -9..9, x in -9..9::

    prompt   "x=4;3*x^2-2*x+5="
    direct   "45"
    scratch  "3*4^2=48\\n-2*4=-8\\n5=5\\n48-8+5=45\\n45"

one line per term with x substituted, then the sum of the terms, then the answer.

Program execution (``"program"``, ``"program-trace"``): a small generated Python program
(assignments, an ``if``/``else``, a ``for`` loop over ``range(1..3)``), a comment line ends
the prompt, so the prompt is itself valid Python::

    prompt   "a = 3\\nb = a + 2\\nfor i in range(2):\\n    b = b + a\\n# trace\\n"
    direct   "a=3, b=11, i=1"
    trace    "1: a=3\\n2: a=3, b=5\\n3: a=3, b=5, i=0\\n4: a=3, b=8, i=0\\n...\\na=3, b=11, i=1"

Each trace line is ``LINE: STATE``, the variables after line LINE ran, in the order the
interpreter executed the lines (a ``for`` header appears once per iteration and once more when
the loop ends). Traces are recorded from the real interpreter with ``sys.settrace``
(:func:`trace_program`), so they are right by construction rather than by a second model of
Python semantics.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = [
    "TASK_NAMES",
    "ScratchpadTask",
    "addition",
    "check_addition",
    "check_long_addition",
    "check_polynomial",
    "check_program",
    "exact_match",
    "examples",
    "final_answer",
    "long_addition",
    "make_task",
    "polynomial",
    "program",
    "tagged_sum",
    "trace_program",
]

TASK_NAMES = (
    "addition",
    "addition-scratchpad",
    "long-addition",
    "long-addition-scratchpad",
    "polynomial",
    "polynomial-scratchpad",
    "program",
    "program-trace",
    "rulechains",
    "wordproblems",
)


def final_answer(text: str) -> str:
    """The last line of ``text`` (where every target here puts its answer)."""
    lines = text.rstrip("\n").split("\n")
    return lines[-1].strip()


def exact_match(output: str, target: str) -> bool:
    """The whole output, scratchpad included, equals the target."""
    return output == target


# ----------------------------------------------------------------------------- addition
def _number(rng: random.Random, max_digits: int) -> int:
    n = rng.randint(1, max_digits)
    return rng.randint(10 ** (n - 1) if n > 1 else 0, 10**n - 1)


def addition(rng: random.Random, digits: int = 3, scratchpad: bool = False) -> tuple[str, str]:
    """``a+b=`` with operands of 1..``digits`` digits; the scratchpad is a per-column carry
    trace, least-significant column first."""
    a, b = _number(rng, digits), _number(rng, digits)
    prompt, answer = f"{a}+{b}=", str(a + b)
    if not scratchpad:
        return prompt, answer
    # the column sum's tens digit is the carry out, its units digit the sum's digit
    lines = [f"{x}+{y}+{carry}={s:02d}" for x, y, carry, s in _columns(a, b)]
    return prompt, "\n".join([*lines, answer])


def _columns(a: int, b: int) -> Iterator[tuple[int, int, int, int]]:
    """The columns of ``a + b``, units first: ``(digit of a, digit of b, carry in, their
    sum)``, a missing digit being 0; the carry out is ``sum // 10``."""
    ra, rb = str(a)[::-1], str(b)[::-1]
    carry = 0
    for i in range(max(len(ra), len(rb))):
        x = int(ra[i]) if i < len(ra) else 0
        y = int(rb[i]) if i < len(rb) else 0
        s = x + y + carry
        yield x, y, carry, s
        carry = s // 10


def check_addition(prompt: str, output: str) -> bool:
    """Is the output's last line the sum asked for in ``prompt`` (``a+b=``)?"""
    m = re.fullmatch(r"(\d+)\+(\d+)=", prompt)
    if m is None:
        raise ValueError(f"not an addition prompt: {prompt!r}")
    return final_answer(output) == str(int(m.group(1)) + int(m.group(2)))


# ----------------------------------------------------------------------------- long addition
TAGS = "ABCDEFGHIJKLMNOP"  # the first operand's column tags
B_TAGS = "abcdefghijklmnop"  # the second operand's
SUM_TAGS = "αβγδεζηθικλμνξοπ"  # the scratchpad lines' and the answer's


def _tagged(
    number: int, units_tag: int, shuffle: random.Random | None = None, tags: str = TAGS
) -> str:
    """``number`` most-significant digit first, each digit followed by its column's tag
    (``_tagged(29, 2) == "2D9C"``); with ``shuffle``, the pairs above the units digit in a
    random order (``"3E2F4D9C"`` is 2349: the tags say each digit's column; the units pair
    stays last, so the first scratchpad line still knows where to start)."""
    digits = str(number)[::-1]  # units first
    pairs = [d + tags[units_tag + i] for i, d in enumerate(digits)][::-1]
    if shuffle is not None:
        high = pairs[:-1]
        shuffle.shuffle(high)
        pairs = [*high, pairs[-1]]
    return "".join(pairs)


def long_addition(
    rng: random.Random,
    digits: int = 8,
    scratchpad: bool = False,
    exact: int | None = None,
    shuffle: bool = False,
) -> tuple[str, str]:
    """Tagged ``a+b=``: operands of 1..``digits`` digits (each length uniform), or of exactly
    ``exact`` digits both. The units column's tag is uniform over the offsets at which the
    sum still fits the 16 tags, so short sums also show the late tags. ``shuffle``: the
    operands' tagged digits above the units digit in random order (a training augmentation:
    a column can then be found only by its tag, not by where it sits; the answer stays in
    order)."""
    if max(digits, exact or 0) >= len(TAGS):
        raise ValueError(f"long addition has {len(TAGS)} tags: at most {len(TAGS) - 1} digits")
    if exact is not None:
        lo = 10 ** (exact - 1) if exact > 1 else 0
        a, b = rng.randint(lo, 10**exact - 1), rng.randint(lo, 10**exact - 1)
    else:
        a, b = _number(rng, digits), _number(rng, digits)
    units = rng.randint(0, len(TAGS) - len(str(a + b)))
    return tagged_sum(a, b, units, scratchpad, rng if shuffle else None)


def tagged_sum(
    a: int, b: int, units: int, scratchpad: bool = False, shuffle: random.Random | None = None
) -> tuple[str, str]:
    """The long-addition example ``a + b`` with the units column tagged ``TAGS[units]``
    (``tagged_sum(29, 57, 2) == ("2D9C+5d7c=", "8δ6γ")``); ``shuffle`` orders the operands'
    tagged digits at random."""
    if a < 0 or b < 0 or not 0 <= units <= len(TAGS) - len(str(a + b)):
        raise ValueError(f"{a}+{b} with units tag {units} does not fit the tags {TAGS}")
    prompt = f"{_tagged(a, units, shuffle)}+{_tagged(b, units, shuffle, B_TAGS)}="
    answer = _tagged(a + b, units, tags=SUM_TAGS)
    if not scratchpad:
        return prompt, answer
    lines = [
        f"{TAGS[col]}{x}{B_TAGS[col]}{y}+{carry}={s:02d}{SUM_TAGS[col]}"
        for col, (x, y, carry, s) in enumerate(_columns(a, b), start=units)
    ]
    return prompt, "\n".join([*lines, answer])


def _read_tagged(text: str, tags: str = TAGS, any_order: bool = False) -> tuple[int, int]:
    """``(number, units tag index)`` of a number tagged from ``tags``; ``ValueError`` if the
    tags are not consecutive, descending (or, with ``any_order``, consecutive once sorted)."""
    if not re.fullmatch(f"(?:\\d[{tags}])+", text):
        raise ValueError(f"not a tagged number: {text!r}")
    pairs = [text[i : i + 2] for i in range(0, len(text), 2)]
    if any_order:
        pairs.sort(key=lambda pair: tags.index(pair[1]), reverse=True)
    digits, found = "".join(p[0] for p in pairs), "".join(p[1] for p in pairs)
    units = tags.index(found[-1])
    if found != "".join(tags[units + i] for i in range(len(found)))[::-1]:
        raise ValueError(f"tags of {text!r} are not consecutive")
    return int(digits), units


def check_long_addition(prompt: str, output: str) -> bool:
    """Is the output's last line the tagged sum of the prompt's tagged operands?"""
    m = re.fullmatch(f"((?:\\d[{TAGS}])+)\\+((?:\\d[{B_TAGS}])+)=", prompt)
    if m is None:
        raise ValueError(f"not a long-addition prompt: {prompt!r}")
    a, units = _read_tagged(m.group(1), TAGS, any_order=True)
    b, units_b = _read_tagged(m.group(2), B_TAGS, any_order=True)
    if units != units_b:
        raise ValueError(f"the operands of {prompt!r} tag their units columns differently")
    return final_answer(output) == _tagged(a + b, units, tags=SUM_TAGS)


# ----------------------------------------------------------------------------- polynomials
def _term(c: int, k: int, first: bool) -> str:
    body = "" if k == 0 else "*x" if k == 1 else f"*x^{k}"
    sign = ("-" if c < 0 else "") if first else ("-" if c < 0 else "+")
    return f"{sign}{abs(c)}{body}"


def _signed_sum(values: list[int]) -> str:
    return str(values[0]) + "".join(f"+{v}" if v >= 0 else str(v) for v in values[1:])


def polynomial(rng: random.Random, degree: int = 3, scratchpad: bool = False) -> tuple[str, str]:
    """Evaluate ``sum c_k x^k`` at an integer x; the scratchpad evaluates term by term."""
    d = rng.randint(1, degree)
    terms = [(rng.choice([c for c in range(-9, 10) if c]), d)]
    terms += [(c, k) for k in range(d - 1, -1, -1) if (c := rng.randint(-9, 9))]
    x = rng.randint(-9, 9)
    poly = "".join(_term(c, k, i == 0) for i, (c, k) in enumerate(terms))
    prompt = f"x={x};{poly}="
    values = [c * x**k for c, k in terms]
    answer = str(sum(values))
    if not scratchpad:
        return prompt, answer
    xs = f"({x})" if x < 0 else str(x)
    lines = []
    for (c, k), v in zip(terms, values, strict=True):
        power = "" if k == 0 else f"*{xs}" if k == 1 else f"*{xs}^{k}"
        lines.append(f"{c}{power}={v}")
    lines.append(f"{_signed_sum(values)}={answer}")
    return prompt, "\n".join([*lines, answer])


_TERM = re.compile(r"([+-]?)(\d+)(\*x(?:\^(\d+))?)?")


def check_polynomial(prompt: str, output: str) -> bool:
    """Is the output's last line the polynomial's value? (Parses the prompt; no ``eval``.)"""
    m = re.fullmatch(r"x=(-?\d+);(.+)=", prompt)
    if m is None:
        raise ValueError(f"not a polynomial prompt: {prompt!r}")
    x, poly = int(m.group(1)), m.group(2)
    total, at = 0, 0
    while at < len(poly):
        t = _TERM.match(poly, at)
        if t is None or t.end() == at:
            raise ValueError(f"cannot read the polynomial in {prompt!r}")
        c = int(t.group(2)) * (-1 if t.group(1) == "-" else 1)
        k = 0 if t.group(3) is None else int(t.group(4) or 1)
        total += c * x**k
        at = t.end()
    return final_answer(output) == str(total)


# ----------------------------------------------------------------------------- programs
_VARS = "abcd"


def _expression(rng: random.Random, names: list[str]) -> str:
    if not names or rng.random() < 0.15:
        return str(rng.randint(0, 9))
    u = rng.choice(names)
    op = rng.choice("++-*")
    if op == "*":  # keep values small: multiply by a small constant only
        return f"{u} * {rng.randint(2, 3)}"
    w = rng.choice(names) if rng.random() < 0.5 else str(rng.randint(1, 9))
    return f"{u} {op} {w}"


def _program_lines(rng: random.Random, statements: int) -> list[str]:
    """Straight-line assignments, at most one ``if``/``else`` and one ``for`` (no nesting).

    Only the top level creates variables, so every name is bound before it is read.
    """
    defined: list[str] = []
    lines = [f"{(v := rng.choice(_VARS))} = {rng.randint(0, 9)}"]
    defined.append(v)
    kinds = ["assign", "assign", "if", "for"]
    for _ in range(statements - 1):
        kind = rng.choice(kinds)
        if kind == "assign":
            target = rng.choice(_VARS)
            lines.append(f"{target} = {_expression(rng, defined)}")
            if target not in defined:
                defined.append(target)
        elif kind == "if":
            kinds.remove("if")
            u = rng.choice(defined)
            lines.append(f"if {u} > {rng.randint(0, 9)}:")
            lines.append(f"    {rng.choice(defined)} = {_expression(rng, defined)}")
            if rng.random() < 0.5:
                lines.append("else:")
                lines.append(f"    {rng.choice(defined)} = {_expression(rng, defined)}")
        else:
            kinds.remove("for")
            lines.append(f"for i in range({rng.randint(1, 3)}):")
            inner = [*defined, "i"]
            for _ in range(rng.randint(1, 2)):
                lines.append(f"    {rng.choice(defined)} = {_expression(rng, inner)}")
            defined.append("i")
    return lines


def _state(namespace: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def format_state(state: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in state.items())


def trace_program(source: str) -> list[tuple[int, dict[str, Any]]]:
    """Run ``source`` under ``sys.settrace``; return ``(line, variables after it ran)`` for
    every executed line, in execution order, and the final variables as the last entry's.

    A ``"line"`` event fires just *before* a line runs, so the variables seen there are the
    state after the previous line; the ``"return"`` event closes the last line.
    Runs ``exec`` on ``source``: for generated programs only, this is not a sandbox.
    """
    code = compile(source, "<program>", "exec")
    steps: list[tuple[int, dict[str, Any]]] = []
    last_line: int | None = None

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal last_line
        if event in ("line", "return"):
            if last_line is not None:
                steps.append((last_line, _state(frame.f_locals)))
            last_line = frame.f_lineno if event == "line" else None
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        exec(code, {})
    finally:
        sys.settrace(previous)
    return steps


def run_program(source: str) -> dict[str, Any]:
    """The variables after running ``source`` with plain ``exec`` (no tracing)."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "<program>", "exec"), namespace)
    return _state(namespace)


def program(rng: random.Random, statements: int = 4, trace: bool = False) -> tuple[str, str]:
    """A generated program; the target is its final state, after its line trace if asked."""
    source = "\n".join(_program_lines(rng, statements)) + "\n"
    steps = trace_program(source)
    answer = format_state(steps[-1][1])
    prompt = source + ("# trace\n" if trace else "# state\n")
    if not trace:
        return prompt, answer
    lines = [f"{line}: {format_state(state)}" for line, state in steps]
    return prompt, "\n".join([*lines, answer])


def check_program(prompt: str, output: str) -> bool:
    """Is the output's last line the program's final state? Runs the prompt with ``exec``:
    meant for prompts from :func:`program`, not for untrusted code."""
    return final_answer(output) == format_state(run_program(prompt))


# ----------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class ScratchpadTask:
    """A named task: ``sample(rng) -> (prompt, target)``, ``check(prompt, output) -> bool``
    (the final answer is right), and the tokenizer kind its alphabet fits."""

    name: str
    sample: Callable[[random.Random], tuple[str, str]]
    check: Callable[[str, str], bool]
    tokenizer: str


def make_task(
    name: str,
    *,
    digits: int = 3,
    degree: int = 3,
    statements: int = 4,
    shuffle_digits: bool = False,
    reasoning_steps: int = 4,
) -> ScratchpadTask:
    """The task called ``name`` (one of :data:`TASK_NAMES`) with its difficulty knobs
    (``shuffle_digits``: long addition's operands in random digit order; ``reasoning_steps``:
    word problems of 1..this many steps, their quantities of 1..``digits`` digits)."""
    if name not in TASK_NAMES:
        raise ValueError(f"unknown scratchpad task {name!r}; known: {', '.join(TASK_NAMES)}")
    if name == "wordproblems":  # the reasoning world of palestra.reason (its module doc)
        from palestra.reason import wordproblems as wp

        def sample_word_problem(rng: random.Random) -> tuple[str, str]:
            return wp.training_example(rng, max_steps=reasoning_steps, digits=digits)

        return ScratchpadTask(name, sample_word_problem, wp.check_answer, "byte")
    if name == "rulechains":  # selection-inference's world (palestra.reason.rulechains)
        from palestra.reason import rulechains as rc

        def sample_rule_chain(rng: random.Random) -> tuple[str, str]:
            return rc.training_example(rng, max_depth=min(reasoning_steps, rc.MAX_TRACE - 1))

        return ScratchpadTask(name, sample_rule_chain, rc.check_answer, "byte")
    pad = name.endswith(("-scratchpad", "-trace"))  # the target writes the work down
    family = name.removesuffix("-scratchpad").removesuffix("-trace")
    sample, check, tokenizer = {
        "addition": (lambda rng: addition(rng, digits, pad), check_addition, "digit"),
        "long-addition": (
            lambda rng: long_addition(rng, digits, pad, shuffle=shuffle_digits),
            check_long_addition,
            "digit",
        ),
        "polynomial": (lambda rng: polynomial(rng, degree, pad), check_polynomial, "digit"),
        "program": (lambda rng: program(rng, statements, pad), check_program, "byte"),
    }[family]
    return ScratchpadTask(name, sample, check, tokenizer)


def examples(task: ScratchpadTask, seed: int) -> Iterator[tuple[str, str]]:
    """An endless seeded stream of ``(prompt, target)`` pairs."""
    rng = random.Random(seed)
    while True:
        yield task.sample(rng)
