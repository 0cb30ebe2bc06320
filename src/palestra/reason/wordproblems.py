"""Generated grade-school word problems: a reasoning world a small model can learn.

A problem is a quantity that a short story changes step by step (GSM8K-like: counts, money,
time, rates)::

    Think step by step.
    Q: Mia has 12 apples. She buys 3 bags with 4 apples in each bag. She eats 5 apples.
    How many apples does Mia have now?
    A: Apples in the bags: 3 * 4 = 12.
    Apples: 12 + 12 = 24.
    Apples: 24 - 5 = 19.
    The answer is 19.

**Structure.** A *scenario* (the template: a setting, its unit, and one sentence form for each
move) and a chain of *moves* that change the running quantity ``x``: ``add`` (x + a),
``sub`` (x - a), ``add_groups`` (x + a*b), ``sub_groups`` (x - a*b), ``mul`` (x * a) and
``div`` (x / a, exact). The grouped moves take two arithmetic steps, the others one; the
**difficulty** is the number of steps. Numbers are integers, every intermediate value is a
positive integer (a subtraction leaves at least 1, a division is exact); ``digits``
bounds the given quantities (1..``digits`` digits), so large numbers are a knob.

**Styles.** Every problem has three solutions ending in the same last line "The answer is N.":

- ``direct``: that line alone;
- ``steps``: one line per step, ``LABEL: a op b = c.``;
- ``calculator``: the same lines with the arithmetic written as calculator calls,
  ``LABEL: <<a*b>>c.`` -- the call ``<<EXPR>>`` and right after it the tool's result, so a
  program can stop a model at ``>>``, compute the result and feed it back
  (:mod:`palestra.reason.programs.tools`).

**Instructions.** A prompt is ``INSTRUCTION\\nQ: QUESTION\\nA:``; the instruction picks the
style (:data:`INSTRUCTIONS`: three paraphrases per style, the first one canonical), so a model
trained on the mixture (``palestra train lm --task wordproblems``) answers directly, step by
step or with the calculator as told, and prompts change its behaviour. A prompt without an
instruction is answered step by step.

**Splits.** The held-out split is of *templates*: the scenarios in :data:`HELD_OUT` (a water
tank and a train: their wording, units and labels) never appear in training data; the eval
tasks draw their problems from them (``wordproblems-train`` draws from the training ones).

**The verifier.** :func:`solve_question` reads the question *text* back: it matches each
sentence against the sentence forms of the scenarios (each a regular expression; exactly one
must match), recovers the moves and their numbers, and evaluates them with exact fractions
from :data:`FORMULAS` (one formula string per move, read by a small expression evaluator,
:func:`evaluate_expression`), not with the generator's running values.
:func:`check_solution` checks a written solution: every ``a op b = c`` and every calculator
call is true arithmetic, each step starts from the previous result, and the last line's
answer is the problem's. The tests run both on every generated problem.

Registered: the LM training task ``wordproblems`` (:func:`training_example`) and the reason
tasks ``wordproblems`` (step by step), ``wordproblems-direct``, ``wordproblems-calc`` (held-out
templates) and ``wordproblems-train`` (step by step, training templates), 200 problems each,
difficulty 1..4 in turn.

What it does not do: the stories are not semantically rich (one quantity, no second entity,
no fractions or percentages, no distractor sentences), and the verifier trusts that a sentence
matching a form means what the form says -- it checks the arithmetic of the text, not English.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar, Literal

from palestra.core.errors import PalestraError
from palestra.core.pyparse import parse_python
from palestra.reason.answers import Style as AnswerStyle
from palestra.reason.math_tasks import _AnswerTask
from palestra.reason.task import Problem, register_task

__all__ = [
    "FORMULAS",
    "HELD_OUT",
    "INSTRUCTIONS",
    "SCENARIOS",
    "STYLES",
    "Move",
    "Scenario",
    "WordProblem",
    "arithmetic_score",
    "check_answer",
    "check_solution",
    "evaluate_expression",
    "generate",
    "parse_prompt",
    "prompt_for",
    "solve_question",
    "training_example",
]

WordStyle = Literal["direct", "steps", "calculator"]
STYLES: tuple[WordStyle, ...] = ("direct", "steps", "calculator")

INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "direct": ("Answer directly.", "Give only the answer.", "Reply with the final answer only."),
    "steps": ("Think step by step.", "Let's think step by step.", "Show your work."),
    "calculator": (
        "Use the calculator.",
        "Use the calculator for each step.",
        "Work it out with the calculator.",
    ),
}

# the value of x after each move, given its numbers a (and b): the verifier evaluates these
FORMULAS: dict[str, str] = {
    "add": "x + a",
    "sub": "x - a",
    "add_groups": "x + a * b",
    "sub_groups": "x - a * b",
    "mul": "x * a",
    "div": "x / a",
}
STEPS_OF = {"add": 1, "sub": 1, "add_groups": 2, "sub_groups": 2, "mul": 1, "div": 1}


@dataclass(frozen=True)
class Scenario:
    """A template: the start sentence, one sentence form per move, the question, and the
    labels of the solution's lines (``unit``: the running quantity; ``more``/``less``: the
    product of a grouped move). Forms use ``{a}``, ``{b}``, ``{name}`` and pronouns
    ``{He} {he} {his} {His} {him} {self}``."""

    name: str
    start: str
    moves: dict[str, str]
    question: str
    unit: str
    more: str
    less: str


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "orchard",
            "{name} has {a} apples.",
            {
                "add": "{He} picks {a} more apples.",
                "sub": "{He} eats {a} apples.",
                "add_groups": "{He} buys {a} bags with {b} apples in each bag.",
                "sub_groups": "{He} gives {a} friends {b} apples each.",
                "mul": "{His} pile of apples then grows to {a} times its size.",
                "div": "{He} splits the apples into {a} equal baskets and keeps one basket.",
            },
            "How many apples does {name} have now?",
            "Apples",
            "Apples in the bags",
            "Apples given away",
        ),
        Scenario(
            "savings",
            "{name} has ${a}.",
            {
                "add": "{He} earns ${a} walking dogs.",
                "sub": "{He} spends ${a} on a book.",
                "add_groups": "{He} works {a} hours at ${b} per hour.",
                "sub_groups": "{He} buys {a} pens at ${b} each.",
                "mul": "{His} grandmother makes {his} money {a} times as much.",
                "div": "{He} shares {his} money equally among {a} people, {self} included, "
                "and keeps {his} share.",
            },
            "How many dollars does {name} have now?",
            "Money",
            "Earned",
            "Spent on pens",
        ),
        Scenario(
            "marathon",
            "A movie marathon lasts {a} minutes.",
            {
                "add": "{a} minutes of trailers are added.",
                "sub": "{a} minutes are cut.",
                "add_groups": "{a} episodes of {b} minutes each are added.",
                "sub_groups": "{a} scenes of {b} minutes each are removed.",
                "mul": "The schedule is repeated until it lasts {a} times as long.",
                "div": "It is split into {a} equal evenings and only one evening is kept.",
            },
            "How many minutes does the marathon last now?",
            "Minutes",
            "Minutes added",
            "Minutes removed",
        ),
        Scenario(
            "library",
            "A library has {a} books.",
            {
                "add": "It receives a gift of {a} books.",
                "sub": "{a} books are lost.",
                "add_groups": "It buys {a} boxes of {b} books each.",
                "sub_groups": "It sends {a} schools {b} books each.",
                "mul": "A merger makes its collection {a} times as large.",
                "div": "The books are shared equally among {a} branches and it keeps one share.",
            },
            "How many books does the library have now?",
            "Books",
            "Books bought",
            "Books sent",
        ),
        Scenario(
            "bakery",
            "{name} bakes {a} cookies.",
            {
                "add": "{He} bakes {a} more cookies.",
                "sub": "{He} drops {a} cookies.",
                "add_groups": "{He} bakes {a} more trays of {b} cookies each.",
                "sub_groups": "{He} sells {a} boxes of {b} cookies each.",
                "mul": "A big order makes {him} bake until {he} has {a} times as many cookies.",
                "div": "{He} packs the cookies equally into {a} tins and keeps one tin.",
            },
            "How many cookies does {name} have now?",
            "Cookies",
            "Cookies on the trays",
            "Cookies sold",
        ),
        Scenario(
            "garden",
            "{name} plants {a} flowers.",
            {
                "add": "{He} plants {a} more flowers.",
                "sub": "{a} of the flowers wilt.",
                "add_groups": "{He} plants {a} rows of {b} flowers.",
                "sub_groups": "{He} picks {a} bunches of {b} flowers.",
                "mul": "By summer {his} garden has {a} times as many flowers.",
                "div": "{He} moves the flowers into {a} equal beds and gives away all but one bed.",
            },
            "How many flowers does {name} have now?",
            "Flowers",
            "Flowers in the rows",
            "Flowers picked",
        ),
        # -- held out: never in training data
        Scenario(
            "tank",
            "A tank holds {a} liters of water.",
            {
                "add": "{a} liters are poured in.",
                "sub": "{a} liters leak out.",
                "add_groups": "A pump runs for {a} minutes, adding {b} liters per minute.",
                "sub_groups": "{a} buckets of {b} liters each are taken out.",
                "mul": "A second pipe makes the amount of water {a} times as large.",
                "div": "The water is divided equally among {a} tanks, this one included.",
            },
            "How many liters of water are in the tank now?",
            "Water",
            "Water pumped in",
            "Water taken out",
        ),
        Scenario(
            "train",
            "A train has travelled {a} km.",
            {
                "add": "It goes {a} km further.",
                "sub": "It backs up {a} km.",
                "add_groups": "It then runs for {a} hours at {b} km per hour.",
                "sub_groups": "It reverses for {a} hours at {b} km per hour.",
                "mul": "By evening its distance from the station is {a} times as large.",
                "div": "Its distance from the station then shrinks to one part in {a}.",
            },
            "How many km is the train from the station now?",
            "Distance",
            "Distance run",
            "Distance reversed",
        ),
    )
}
HELD_OUT: tuple[str, ...] = ("tank", "train")
TRAINING: tuple[str, ...] = tuple(s for s in SCENARIOS if s not in HELD_OUT)

NAMES = (
    ("Mia", "she"), ("Leo", "he"), ("Ava", "she"), ("Omar", "he"), ("Zoe", "she"),
    ("Ben", "he"), ("Lila", "she"), ("Sam", "he"), ("Nora", "she"), ("Ivan", "he"),
)  # fmt: skip
_PRONOUNS = {
    "she": {"He": "She", "he": "she", "His": "Her", "his": "her", "him": "her", "self": "herself"},
    "he": {"He": "He", "he": "he", "His": "His", "his": "his", "him": "him", "self": "himself"},
}


@dataclass(frozen=True)
class Move:
    """One move of a story: its kind (a key of :data:`FORMULAS`) and its numbers."""

    kind: str
    a: int
    b: int | None = None


@dataclass(frozen=True)
class WordProblem:
    """A generated problem: the question, its structure, the answer and the solutions."""

    scenario: str
    name: str
    start: int
    moves: tuple[Move, ...]
    question: str
    answer: int
    solutions: dict[str, str]  # style -> the text after "A:"

    @property
    def steps(self) -> int:
        """The difficulty: arithmetic steps of the solution."""
        return sum(STEPS_OF[m.kind] for m in self.moves)


# ----------------------------------------------------------------------------- generation
def _amount(rng: random.Random, digits: int) -> int:
    """A given quantity of 1..``digits`` digits (at least 1)."""
    n = rng.randint(1, digits)
    return rng.randint(max(1, 10 ** (n - 1)), 10**n - 1)


def _feasible(kind: str, x: int, steps_left: int, digits: int) -> bool:
    if STEPS_OF[kind] > steps_left:
        return False
    if kind == "sub":
        return x >= 2
    if kind == "sub_groups":
        return x >= 5  # 2 groups of 2, and 1 left
    if kind == "div":
        return any(x % k == 0 for k in range(2, 10))
    if kind == "mul":
        return x <= 10 ** (digits + 1)
    return True


def _numbers(kind: str, x: int, rng: random.Random, digits: int) -> tuple[int, int | None]:
    """Numbers for a move that keep every value a positive integer."""
    if kind == "add":
        return _amount(rng, digits), None
    if kind == "sub":
        return rng.randint(1, x - 1), None
    if kind == "add_groups":
        return rng.randint(2, 9), max(2, _amount(rng, digits))
    if kind == "sub_groups":
        a = rng.randint(2, min(9, (x - 1) // 2))
        return a, rng.randint(2, (x - 1) // a)
    if kind == "mul":
        return rng.randint(2, 5), None
    return rng.choice([k for k in range(2, 10) if x % k == 0]), None  # div


def _apply(kind: str, x: int, a: int, b: int | None) -> int:
    """The generator's own arithmetic (the verifier uses :data:`FORMULAS` instead)."""
    if kind == "add":
        return x + a
    if kind == "sub":
        return x - a
    if kind in ("add_groups", "sub_groups"):
        assert b is not None
        return x + a * b if kind == "add_groups" else x - a * b
    if kind == "mul":
        return x * a
    assert x % a == 0
    return x // a


def _fill(form: str, name: str, pronoun: str, a: int, b: int | None = None) -> str:
    return form.format(name=name, a=a, b=b, **_PRONOUNS[pronoun])


def _solution_lines(scenario: Scenario, start: int, moves: Sequence[Move]) -> list[tuple]:
    """The steps as ``(label, left, op, right, result)``."""
    lines, x = [], start
    for m in moves:
        if m.kind in ("add_groups", "sub_groups"):
            assert m.b is not None
            product = m.a * m.b
            label = scenario.more if m.kind == "add_groups" else scenario.less
            lines.append((label, m.a, "*", m.b, product))
            op = "+" if m.kind == "add_groups" else "-"
            y = _apply(m.kind, x, m.a, m.b)
            lines.append((scenario.unit, x, op, product, y))
        else:
            op = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[m.kind]
            y = _apply(m.kind, x, m.a, m.b)
            lines.append((scenario.unit, x, op, m.a, y))
        x = y
    return lines


def generate(
    rng: random.Random,
    *,
    steps: int,
    digits: int = 2,
    scenarios: Sequence[str] = TRAINING,
) -> WordProblem:
    """A problem of exactly ``steps`` arithmetic steps from one of ``scenarios``."""
    if steps < 1:
        raise PalestraError(f"a word problem needs at least 1 step, got {steps}")
    if digits < 1:
        raise PalestraError(f"digits must be at least 1, got {digits}")
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or not scenarios:
        raise PalestraError(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    scenario = SCENARIOS[rng.choice(list(scenarios))]
    name, pronoun = rng.choice(NAMES)
    start = _amount(rng, digits) + (10 if digits == 1 else 0)  # room for a subtraction
    x, left, moves = start, steps, []
    while left > 0:
        kinds = [k for k in FORMULAS if _feasible(k, x, left, digits)]
        kind = rng.choice(kinds)
        a, b = _numbers(kind, x, rng, digits)
        moves.append(Move(kind, a, b))
        x = _apply(kind, x, a, b)
        left -= STEPS_OF[kind]
    sentences = [_fill(scenario.start, name, pronoun, start)]
    sentences += [_fill(scenario.moves[m.kind], name, pronoun, m.a, m.b) for m in moves]
    sentences.append(_fill(scenario.question, name, pronoun, 0))
    lines = _solution_lines(scenario, start, moves)
    last = f"The answer is {x}."
    steps_text = [f"{label}: {p} {op} {q} = {r}." for label, p, op, q, r in lines]
    calc_text = [f"{label}: <<{p}{op}{q}>>{r}." for label, p, op, q, r in lines]
    solutions = {
        "direct": f" {last}",
        "steps": " " + "\n".join([*steps_text, last]),
        "calculator": " " + "\n".join([*calc_text, last]),
    }
    return WordProblem(scenario.name, name, start, tuple(moves), " ".join(sentences), x, solutions)


def prompt_for(question: str, style: str | None, variant: int = 0) -> str:
    """The prompt of ``question`` in ``style`` (its instruction ``variant``; ``None``: no
    instruction, answered step by step)."""
    if style is None:
        return f"Q: {question}\nA:"
    if style not in INSTRUCTIONS:
        raise PalestraError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    return f"{INSTRUCTIONS[style][variant]}\nQ: {question}\nA:"


def training_example(rng: random.Random, *, max_steps: int = 4, digits: int = 2) -> tuple[str, str]:
    """One ``(prompt, target)`` of the training mixture: training templates, 1..``max_steps``
    steps, the style uniform over :data:`STYLES` with a uniform paraphrase of its instruction
    (one example in ten has no instruction and is answered step by step)."""
    problem = generate(rng, steps=rng.randint(1, max_steps), digits=digits)
    if rng.random() < 0.1:
        return prompt_for(problem.question, None), problem.solutions["steps"]
    style = rng.choice(STYLES)
    variant = rng.randrange(len(INSTRUCTIONS[style]))
    return prompt_for(problem.question, style, variant), problem.solutions[style]


# ----------------------------------------------------------------------------- the verifier
_OPS = {ast.Add: lambda p, q: p + q, ast.Sub: lambda p, q: p - q, ast.Mult: lambda p, q: p * q}


def evaluate_expression(text: str, names: dict[str, Fraction] | None = None) -> Fraction:
    """The exact value of an arithmetic expression: integers and decimals, ``+ - * /``,
    parentheses, unary minus, and ``names``. Anything else (calls, powers, attributes) is a
    :class:`PalestraError`; so is a division by zero or an expression over 200 characters."""
    if len(text) > 200:
        raise PalestraError("expression too long")
    try:
        tree = parse_python(text.strip(), mode="eval")
    except SyntaxError:
        raise PalestraError(f"not an arithmetic expression: {text!r}") from None
    env = names or {}

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return Fraction(str(node.value))
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = value(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Div):
                if right == 0:
                    raise PalestraError("division by zero")
                return left / right
            if type(node.op) in _OPS:
                return _OPS[type(node.op)](left, right)
        raise PalestraError(f"not an arithmetic expression: {text!r}")

    return value(tree)


def _form_regex(form: str) -> re.Pattern[str]:
    """The regular expression of a sentence form: numbers and names captured."""
    out, at = [], 0
    for m in re.finditer(r"\{(\w+)\}", form):
        out.append(re.escape(form[at : m.start()]))
        slot = m.group(1)
        if slot in ("a", "b"):
            out.append(rf"(?P<{slot}>\d+)")
        elif slot == "name":
            out.append(r"(?P<name>[A-Z][a-z]+)")
        else:
            choices = sorted({p[slot] for p in _PRONOUNS.values()})
            out.append("(?:" + "|".join(choices) + ")")
        at = m.end()
    out.append(re.escape(form[at:]))
    return re.compile("".join(out))


_FORMS: list[tuple[str, str, re.Pattern[str]]] = [
    (s.name, role, _form_regex(form))
    for s in SCENARIOS.values()
    for role, form in [("start", s.start), ("question", s.question), *s.moves.items()]
]
_SENTENCE = re.compile(r"(?<=[.?])\s+")


def solve_question(question: str) -> tuple[str, Fraction]:
    """``(scenario, answer)`` of a question read from its text (see the module doc): every
    sentence must match exactly one sentence form, the first a start, the last a question,
    all of one scenario. A text that does not read so is a :class:`PalestraError`."""
    sentences = _SENTENCE.split(question.strip())
    reads = []
    for sentence in sentences:
        found = [(s, role, m) for s, role, rx in _FORMS if (m := rx.fullmatch(sentence))]
        if len(found) != 1:
            how = "no" if not found else f"{len(found)}"
            raise PalestraError(f"{how} sentence forms match {sentence!r}")
        reads.append(found[0])
    scenarios = {s for s, _, _ in reads}
    roles = [role for _, role, _ in reads]
    if len(scenarios) != 1 or roles[0] != "start" or roles[-1] != "question":
        raise PalestraError(f"not a word problem of one scenario: {question!r}")
    x = Fraction(int(reads[0][2].group("a")))
    for _, role, m in reads[1:-1]:
        if role not in FORMULAS:
            raise PalestraError(f"a {role} sentence in the middle of {question!r}")
        names = {"x": x, **{k: Fraction(int(v)) for k, v in m.groupdict().items() if k != "name"}}
        x = evaluate_expression(FORMULAS[role], names)
    return scenarios.pop(), x


def parse_prompt(prompt: str) -> tuple[str | None, str]:
    """``(style, question)`` of a prompt made by :func:`prompt_for` (style ``None`` when no
    known instruction leads it)."""
    m = re.fullmatch(r"(?:(.*)\n)?Q: (.*)\nA:", prompt, re.DOTALL)
    if m is None:
        raise PalestraError(f"not a word-problem prompt: {prompt[:80]!r}")
    instruction, question = m.group(1), m.group(2)
    style = next((s for s, texts in INSTRUCTIONS.items() if instruction in texts), None)
    return style, question


_ANSWER = re.compile(r"The answer is (-?\d+(?:\.\d+)?)\.?\s*$")
_EQUATION = re.compile(r"^[^:\n]*: (-?\d+) ([-+*/]) (-?\d+) = (-?\d+)\.$")
_CALL = re.compile(r"^[^:\n]*: <<([^<>]*)>>(-?\d+)\.$")


def check_solution(question: str, solution: str) -> tuple[bool, str]:
    """Is ``solution`` (any style) a right solution of ``question``? ``(ok, reason)``.

    Its last line must be "The answer is N." with N the answer :func:`solve_question` reads
    from the question; each other line an equation ``LABEL: p op q = r.`` or a calculator call
    ``LABEL: <<EXPR>>r.`` whose arithmetic is true."""
    _, answer = solve_question(question)
    lines = solution.strip().split("\n")
    m = _ANSWER.fullmatch(lines[-1])
    if m is None:
        return False, f"last line is not 'The answer is N.': {lines[-1]!r}"
    for line in lines[:-1]:
        eq, call = _EQUATION.fullmatch(line), _CALL.fullmatch(line)
        if eq is not None:
            expr, result = f"{eq.group(1)} {eq.group(2)} {eq.group(3)}", eq.group(4)
        elif call is not None:
            expr, result = call.group(1), call.group(2)
        else:
            return False, f"not a step: {line!r}"
        if evaluate_expression(expr) != Fraction(result):
            return False, f"false arithmetic: {line!r}"
    if Fraction(m.group(1)) != answer:
        return False, f"answer {m.group(1)} != {answer}"
    return True, "right"


def arithmetic_score(question: str, solution: str) -> float:
    """A verifier's score of ``solution`` that never computes the answer: 0 without a last
    line "The answer is N."; else the share of its step lines that are true arithmetic whose
    operands are numbers of the question or results of earlier steps (0.5 when there are no
    steps: a direct answer cannot be checked this way), halved when N is not the last step's
    result. Right solutions score 1; so do wrong ones whose every step is true arithmetic
    on the question's numbers (an operation the story did not ask for)."""
    lines = solution.strip().split("\n")
    m = _ANSWER.fullmatch(lines[-1].strip()) if lines else None
    if m is None:
        return 0.0
    known = {Fraction(n) for n in re.findall(r"\d+", question)}
    good, last = 0, None
    for line in lines[:-1]:
        eq, call = _EQUATION.fullmatch(line.strip()), _CALL.fullmatch(line.strip())
        try:
            if eq is not None:
                operands = [Fraction(eq.group(1)), Fraction(eq.group(3))]
                true = evaluate_expression(f"{eq.group(1)} {eq.group(2)} {eq.group(3)}")
                result = Fraction(eq.group(4))
            elif call is not None:
                operands = [Fraction(n) for n in re.findall(r"\d+", call.group(1))]
                true, result = evaluate_expression(call.group(1)), Fraction(call.group(2))
            else:
                continue
        except PalestraError:
            continue
        if true == result and all(x in known for x in operands):
            good += 1
        known.add(result)
        last = result
    steps = len(lines) - 1
    score = 0.5 if steps == 0 else good / steps
    if last is not None and Fraction(m.group(1)) != last:
        score /= 2
    return score


def check_answer(prompt: str, output: str) -> bool:
    """Is the last line of ``output`` "The answer is N." with N the answer of the prompt's
    question (read from the text by :func:`solve_question`)? The LM trainer's checker."""
    _, question = parse_prompt(prompt)
    _, answer = solve_question(question)
    lines = output.rstrip("\n").split("\n")
    m = _ANSWER.fullmatch(lines[-1].strip())
    return m is not None and Fraction(m.group(1)) == answer


# ----------------------------------------------------------------------------- the reason tasks
EVAL_SEED = 2026
EVAL_PROBLEMS = 200
EVAL_STEPS = (1, 2, 3, 4)


class WordProblemsTask(_AnswerTask):
    """Word problems with a fixed instruction style: 200 problems of a split, difficulty
    1..4 in turn, from seed 2026. The answer is read as in GSM8K ("The answer is N")."""

    name: ClassVar[str] = "wordproblems"
    dataset: ClassVar[str] = "wordproblems (generated)"
    style: ClassVar[AnswerStyle] = "gsm8k"
    stop = ("\nQ:",)
    max_tokens = 160  # a 4-step solution is about 100 tokens; prompts leave 160 in a 512 context
    word_style: ClassVar[str] = "steps"
    split: ClassVar[str] = "heldout"
    digits: ClassVar[int] = 2  # quantities of 1..digits digits (the training mixture's: 2)

    def problems(
        self,
        data: str | Path | None = None,
        *,
        seed: int | str = EVAL_SEED,
        count: int = EVAL_PROBLEMS,
    ) -> list[Problem]:
        """The task's problems; another ``seed`` draws another set of the same split (the
        learned verifier's training problems, :mod:`palestra.reason.verifier`)."""
        if data is not None:
            raise PalestraError(f"{self.name} is generated; it reads no data set (--data)")
        scenarios = HELD_OUT if self.split == "heldout" else TRAINING
        rng = random.Random(f"{seed}/{self.split}")
        tag = self.split if seed == EVAL_SEED else f"{self.split}@{seed}"
        if self.digits != 2:
            tag = f"{tag}/digits{self.digits}"
        out = []
        for i in range(count):
            steps = EVAL_STEPS[i % len(EVAL_STEPS)]
            wp = generate(rng, steps=steps, scenarios=scenarios, digits=self.digits)
            out.append(
                Problem(
                    task=self.name,
                    id=f"wordproblems/{tag}/{i}",
                    prompt=prompt_for(wp.question, self.word_style),
                    question=wp.question,
                    reference=str(wp.answer),
                    meta={
                        "steps": wp.steps,
                        "scenario": wp.scenario,
                        "style": self.word_style,
                        "solutions": wp.solutions,
                    },
                )
            )
        return out

    def reference_completion(self, problem: Problem) -> str:
        return problem.meta["solutions"][self.word_style]


@register_task("wordproblems")
class WordProblemsSteps(WordProblemsTask):
    """Held-out templates, asked to think step by step."""

    name = "wordproblems"


@register_task("wordproblems-direct")
class WordProblemsDirect(WordProblemsTask):
    """Held-out templates, asked to answer directly."""

    name = "wordproblems-direct"
    word_style = "direct"


@register_task("wordproblems-calc")
class WordProblemsCalc(WordProblemsTask):
    """Held-out templates, asked to use the calculator."""

    name = "wordproblems-calc"
    word_style = "calculator"


@register_task("wordproblems-train")
class WordProblemsTrain(WordProblemsTask):
    """Training templates (other numbers than any seeded training batch is likely to hold),
    step by step: the gap to ``wordproblems`` is the template generalisation gap."""

    name = "wordproblems-train"
    split = "train"


@register_task("wordproblems-calc-large")
class WordProblemsCalcLarge(WordProblemsTask):
    """Held-out templates, quantities of up to 3 digits (the model trained on 2), asked to use
    the calculator: where a calculator should help most."""

    name = "wordproblems-calc-large"
    word_style = "calculator"
    digits = 3


@register_task("wordproblems-train-calc-large")
class WordProblemsTrainCalcLarge(WordProblemsTask):
    """Training templates, quantities of up to 3 digits, asked to use the calculator."""

    name = "wordproblems-train-calc-large"
    split = "train"
    word_style = "calculator"
    digits = 3


@register_task("wordproblems-train-direct")
class WordProblemsTrainDirect(WordProblemsTask):
    """Training templates, asked to answer directly."""

    name = "wordproblems-train-direct"
    split = "train"
    word_style = "direct"


@register_task("wordproblems-train-calc")
class WordProblemsTrainCalc(WordProblemsTask):
    """Training templates, asked to use the calculator."""

    name = "wordproblems-train-calc"
    split = "train"
    word_style = "calculator"
