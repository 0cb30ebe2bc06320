r"""Final answers of maths completions: extraction, normalisation, equivalence, vote keys.

A completion's final answer is found by the task's extractor (:func:`extract_answer`):

- ``boxed``: the last ``\boxed{...}`` (braces balanced), ``\boxed x`` or ``\fbox{...}``;
- ``minerva``: ``Final Answer: The final answer is X. I hope it is correct.`` (Lewkowycz et
  al. 2022, the format of their 4-shot MATH prompt; a completion cut before "I hope" counts);
- ``gsm8k``: ``#### N`` (the GSM8K solutions' own format);
- and then, for every style, "The answer is X" (Wei et al. 2022's chain-of-thought format).

:func:`equivalent` then compares it with the gold answer, in order of cost:

1. ``exact``: the two strings, stripped, are equal;
2. ``normalised``: equal after :func:`normalize_final_answer`, which follows Minerva's
   ``normalize_final_answer`` (their appendix D: unit words and filler substrings removed,
   ``\text{}`` unwrapped, ``\fracab``/``\sqrta`` braced, ``$`` dropped, ``1,000`` -> ``1000``)
   with these changes: ``\dfrac``/``\tfrac`` -> ``\frac``, ``\left``/``\right`` and ``^\circ``
   dropped, ``{,}`` thousands, ``\%`` dropped; unit words are removed only as whole words
   (Minerva's plain substring removal turns ``\left`` into ``\le``); every ``$...$`` span is
   kept (Minerva keeps the first, so ``$n=4$ or $n=5$`` would equal ``$n=4$ or $n=6$``); and a
   ``name =`` prefix is dropped from each comma-separated part only when ``name`` is a variable,
   a function ``f(x)`` or a tuple of variables (Minerva keeps what follows the last ``=``, so
   ``g(x)=2x^3+c, g(x)=-2x^3+c`` would become ``-2x^3+c``);
3. ``numeric``: both are plain decimal numbers or fractions and equal as exact rationals
   (done here, no sympy);
4. ``symbolic`` / ``numeric``: both sides are parsed by a small LaTeX-to-sympy parser (numbers,
   ``\frac``, ``\sqrt[n]``, powers, ``\pi``, ``e``, ``i``, ``\infty``, trigonometric and
   logarithm functions, ``\pm``, ``\binom``, floor/ceiling, mixed numbers ``2\frac{1}{2}``,
   tuples, intervals and unions, sets ``\{..\}``, bare comma lists, (in)equations, matrices) and
   compared structurally: sets and bare comma lists unordered, tuples, intervals and matrices
   ordered; expressions equal when ``simplify(a - b) == 0`` (``symbolic``) or when ``a - b``
   evaluates to under 1e-12 relative at 50 digits (constants) or at five seeded random points
   from 0.5 to 13,000 (expressions in variables) (``numeric``).

Step 4 runs in a separate worker process (a fork of this one, memory-limited), never in this
process: a pathological answer (``9^{9^{9}}``) cannot hang or exhaust the caller. A check that
runs past its ``timeout_s`` kills the worker, starts a new one and counts as not equal, with
that reason. :func:`vote_key` is the canonical form majority voting counts (the simplified
sympy form where the worker computes one in time, else the normalised string).

What it does not do: it does not judge prose answers ("all $n$ for which ..."), whose only
routes to acceptance are equal strings; it does not check units (``5 cm`` equals ``5 m``:
unit words are removed, as in Minerva); letters are variables except ``e`` (Euler's number)
and ``i`` (the imaginary unit); answers with a word of three or more letters are compared as
strings only (``abc`` and ``cab`` are not multiplied out); ``(a, b)`` is a pair, which also
equals the open interval from ``a`` to ``b``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import resource
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from palestra.core.verdict import Verdict

__all__ = [
    "AnswerEvidence",
    "SymbolicWorker",
    "equivalent",
    "extract_answer",
    "extract_boxed",
    "extract_final_answer",
    "extract_gsm8k",
    "extract_the_answer_is",
    "normalize_final_answer",
    "vote_key",
]

Style = Literal["boxed", "minerva", "gsm8k"]
How = Literal["exact", "normalised", "symbolic", "numeric", "none"]

DEFAULT_TIMEOUT_S = 5.0


# -- extraction -------------------------------------------------------------------------------
def _balanced(text: str, start: int) -> int | None:
    """The index just past the group opened by ``text[start] == "{"``, or None."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def extract_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}`` / ``\fbox{...}`` / ``\boxed x`` in ``text``."""
    last = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    while last >= 0:
        name = "\\boxed" if text.startswith("\\boxed", last) else "\\fbox"
        i = last + len(name)
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            end = _balanced(text, i)
            if end is not None:
                return text[i + 1 : end - 1].strip()
        elif i > last + len(name):  # "\boxed 5": up to the end of the math or the line
            m = re.match(r"[^$\n]+", text[i:])
            if m:
                return m.group(0).strip().rstrip(".").strip()
        last = max(text.rfind("\\boxed", 0, last), text.rfind("\\fbox", 0, last))
    return None


_FINAL = re.compile(
    r"Final Answer: The final answer is(.*?)(?:\. I hope it is correct|$)", re.DOTALL
)


def _strip_math(answer: str) -> str:
    answer = answer.strip()
    if len(answer) >= 2 and answer.startswith("$") and answer.endswith("$"):
        inner = answer[1:-1].strip()
        if not re.search(r"(?<!\\)\$", inner):
            return inner
    return answer


def extract_final_answer(text: str) -> str | None:
    """X of Minerva's ``Final Answer: The final answer is X. I hope it is correct.`` (the
    first one, as Minerva reads it; a completion stopped before "I hope" keeps all of X)."""
    m = _FINAL.search(text)
    if not m:
        return None
    answer = m.group(1).strip()
    if m.group(0).endswith(answer) and answer.endswith("."):  # cut at the end of the text
        answer = answer[:-1]
    return _strip_math(answer) or None


_THE_ANSWER = re.compile(r"[Tt]he (?:final )?answer is[:\s]*(.+?)(?:\.\s|\.$|\n|$)", re.DOTALL)


def extract_the_answer_is(text: str) -> str | None:
    """X of the last "The answer is X." (Wei et al.'s chain-of-thought format)."""
    found = _THE_ANSWER.findall(text)
    return _strip_math(found[-1]) or None if found else None


_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def extract_gsm8k(text: str) -> str | None:
    """N of ``#### N``; else of "The answer is N"; else the last number in the text."""
    m = re.search(r"####\s*([^\n]+)", text)
    if m:
        return m.group(1).strip()
    said = extract_the_answer_is(text)
    if said is not None:
        return said
    numbers = _NUMBER.findall(text)
    return numbers[-1].rstrip(".,") if numbers else None


def extract_answer(text: str, style: Style) -> str | None:
    """The final answer of a completion in the task's ``style`` (see the module doc)."""
    if style == "gsm8k":
        return extract_gsm8k(text)
    if style == "minerva":
        found = extract_final_answer(text) or extract_boxed(text)
    elif style == "boxed":
        found = extract_boxed(text) or extract_final_answer(text)
    else:
        raise ValueError(f"unknown answer style {style!r}")
    return found if found is not None else extract_the_answer_is(text)


# -- Minerva's normaliser (with the changes of the module doc) ------------------------------
_SUBSTITUTIONS = [
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\left", ""),
    ("\\right", ""),
    ("\\mbox", "\\text"),
    ("\\textrm", "\\text"),
    ("\\mathrm", "\\text"),
    (",\\text{and}", ","),
    ("\\text{and}", ","),
    ("\\text{or}", ","),
    ("\\text{m}", "\\text{}"),
    ("\\displaystyle", ""),
]
_UNITS = [
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units",
    "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds",
    "meters", "meals", "edges", "students", "childrentickets", "multiples",
]  # fmt: skip
_REMOVED = [
    "\\ldots", "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3",
    "\\text{\n}", "\\text{}", "\\text{th}", "^\\circ", "^{\\circ}", "\\circ", "\\;", ",\\!",
    "\\!", "\\,", "\\:", "{,}", '"', "\\dots", "\\cdots", "\\%", "%", "\\$",
]  # fmt: skip
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_LHS = re.compile(r"^(\\?[A-Za-z]+(_\{?[A-Za-z0-9]+\}?)?('*)(\([A-Za-z, ]*\))?|\([A-Za-z, ]+\))$")


def _top_level_split(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside brackets and braces."""
    parts, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):  # \{ and \} count as brackets; skip other escapes
            if text[i + 1] in "{}":
                depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _drop_lhs(part: str) -> str:
    pieces = _top_level_split(part, "=")
    if len(pieces) == 2 and _LHS.match(pieces[0].strip()) and pieces[1].strip():
        return pieces[1]
    return part


def _brace_shorthand(text: str) -> str:
    r"""``\frac12`` -> ``\frac{1}{2}``, ``\sqrt2`` -> ``\sqrt{2}`` (single-token arguments)."""
    token = r"(\\[a-zA-Z]+|[^{\\\s])"
    text = re.sub(r"\\frac\s*" + token + r"\s*" + token, r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\frac\{([^{}]*)\}\s*" + token, r"\\frac{\1}{\2}", text)
    return re.sub(r"\\sqrt\s*(?![\[{])" + token, r"\\sqrt{\1}", text)


def normalize_final_answer(answer: str) -> str:
    """A final answer in canonical string form (Minerva's normaliser, as the module doc
    says), e.g. ``\\$1,000.`` -> ``1000``, ``\\text{(C)}`` -> ``(C)``, ``x = \\dfrac12`` ->
    ``\\frac{1}{2}``."""
    text = answer.strip()
    for before, after in _SUBSTITUTIONS:
        text = text.replace(before, after)
    for expr in _REMOVED:
        text = text.replace(expr, "")
    text = re.sub(r"\\(?:text|textbf|mathbf|overline|boxed)\{([^{}]*)\}", r"\1", text)
    text = text.replace("$", " ")
    words = "|".join(sorted(_UNITS, key=len, reverse=True))
    text = re.sub(rf"(?<![\\A-Za-z])(?:{words})(?![A-Za-z])", " ", text)
    text = re.sub(r"(?<![\\A-Za-z])an?\s+(?=[A-Za-z])", " ", text)  # articles: "a triangle"
    text = re.sub(r"(?<!\\)\\ ", " ", text).strip().rstrip(".").strip()
    # a command followed by a letter keeps one space ("\pi r"); other whitespace goes
    text = re.sub(r"(\\[A-Za-z]+)\s+(?=[A-Za-z])", r"\1 ", text)
    text = re.sub(r"(?<![A-Za-z])\s+|\s+(?![A-Za-z])", "", text)
    text = _brace_shorthand(text)
    text = ",".join(_drop_lhs(p) for p in _top_level_split(text))
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    if re.fullmatch(r"-?\d+\.\d*?0+", text):  # 18.00 -> 18, 2.50 -> 2.5
        text = text.rstrip("0").rstrip(".")
    return text


_PLAIN = re.compile(r"^(-?)(\d+(?:\.\d+)?|\.\d+)(?:/(\d+))?$")


def _plain_number(text: str) -> Fraction | None:
    m = _PLAIN.match(text)
    if not m:
        return None
    value = Fraction(m.group(2)) / (int(m.group(3)) if m.group(3) else 1)
    return -value if m.group(1) else value


# -- the verdict ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerEvidence:
    """How an answer was compared with the gold one: both as given and normalised, and the
    step that decided (``how``: exact, normalised, numeric, symbolic, or none)."""

    answer: str | None
    gold: str
    answer_normalised: str
    gold_normalised: str
    how: How
    detail: str = ""


def equivalent(
    answer: str | None, gold: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Verdict[AnswerEvidence]:
    """Whether ``answer`` means ``gold`` (the steps of the module doc); a rejection's reason
    says which check failed (or that the symbolic check timed out)."""
    gold_n = normalize_final_answer(gold)
    if answer is None:
        return Verdict.reject("no answer extracted", AnswerEvidence(None, gold, "", gold_n, "none"))
    answer_n = normalize_final_answer(answer)

    def evidence(how: How, detail: str = "") -> AnswerEvidence:
        return AnswerEvidence(answer, gold, answer_n, gold_n, how, detail)

    if answer.strip() == gold.strip():
        return Verdict.accept(evidence("exact"), "equal strings")
    if answer_n == gold_n:
        return Verdict.accept(evidence("normalised"), "equal normalised strings")
    if not answer_n:
        return Verdict.reject("empty answer after normalisation", evidence("none"))
    a, g = _plain_number(answer_n), _plain_number(gold_n)
    if a is not None and g is not None:
        if a == g:
            return Verdict.accept(evidence("numeric", f"{a} = {g}"), "equal numbers")
        return Verdict.reject(f"{answer_n} != {gold_n}", evidence("none"))
    if _has_words(answer_n) or _has_words(gold_n):
        return Verdict.reject("different text answers", evidence("none", "words: no sympy"))
    status, value = _default_worker().call("compare", (answer_n, gold_n), timeout_s)
    if status == "timeout":
        return Verdict.reject(
            f"symbolic check timed out after {timeout_s:g} s", evidence("none", "timeout")
        )
    if status == "error":
        return Verdict.reject(f"not comparable: {value}", evidence("none", str(value)))
    how, detail = value
    if how is None:
        return Verdict.reject(f"{answer_n} != {gold_n} ({detail})", evidence("none", detail))
    return Verdict.accept(evidence(how, detail), f"{how}ally equal")


def vote_key(answer: str | None, *, timeout_s: float = 2.0) -> str:
    """The canonical form of ``answer`` that majority voting counts: answers that are equal
    numbers, or the same set in another order, get the same key where sympy can tell."""
    if answer is None:
        return ""
    text = normalize_final_answer(answer)
    number = _plain_number(text)
    if number is not None:
        return str(number)
    if not text or _has_words(text):
        return text
    status, value = _default_worker().call("key", (text,), timeout_s)
    return value if status == "ok" and value else text


_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{[A-Za-z]*\*?\}")


def _has_words(text: str) -> bool:
    """Whether ``text`` has a word of three letters or more (not a command or environment)."""
    return _WORD.search(_ENVIRONMENT.sub("", text)) is not None


# -- the worker process -----------------------------------------------------------------------
class SymbolicWorker:
    """One forked process that parses and compares answers with sympy, one request at a time.

    :meth:`call` sends a request and waits at most ``timeout_s``; past that the process is
    killed (``SIGKILL``) and a new one started, and the call answers ``("timeout", None)``.
    The worker's address space is limited to what it had at fork plus ``memory_mb``, so a
    huge number fails with ``MemoryError`` instead of exhausting the machine. Thread-safe; a
    forked copy of the caller (a :mod:`palestra.core.jobs` job) starts a worker of its own.
    """

    def __init__(self, memory_mb: int = 2048) -> None:
        self.memory_mb = memory_mb
        self.restarts = 0
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Any = None
        self._owner = os.getpid()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("fork")
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(theirs, self.memory_mb), daemon=True)
        proc.start()
        theirs.close()
        self._proc, self._conn, self._owner = proc, ours, os.getpid()

    def close(self) -> None:
        """Kill the worker process (a later call starts a new one)."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            self._proc.join()
            self._conn.close()
            self._proc = self._conn = None

    def call(self, op: str, args: tuple, timeout_s: float) -> tuple[str, Any]:
        """``("ok", value)``, ``("error", message)`` or ``("timeout", None)``."""
        with self._lock:
            if self._owner != os.getpid():  # a fork of the owner: the worker is not ours
                if self._conn is not None:
                    self._conn.close()
                self._proc = self._conn = None
            if self._proc is None or not self._proc.is_alive():
                self.close()
                self._start()
            try:
                self._conn.send((op, args))
                if self._conn.poll(timeout_s):
                    return self._conn.recv()
            except (EOFError, OSError) as e:  # the worker died (e.g. killed from outside)
                self.close()
                self.restarts += 1
                return "error", f"worker died: {type(e).__name__}"
            self.close()
            self.restarts += 1
            return "timeout", None


_WORKER: SymbolicWorker | None = None
_WORKER_LOCK = threading.Lock()


def _default_worker() -> SymbolicWorker:
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = SymbolicWorker()
        return _WORKER


def _serve(conn: Any, memory_mb: int) -> None:
    """The worker's loop: answer ``(op, args)`` requests until the pipe closes."""
    from palestra.core.jobs import die_with_parent

    die_with_parent()
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/statm") as f:
            vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = vm + memory_mb * (1 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from palestra.reason import _symbolic

    ops = {"compare": _symbolic.compare, "key": _symbolic.canonical}
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", ops[op](*args))
        except MemoryError:
            reply = ("error", "out of memory")
        except Exception as e:  # every failure of one request is that request's answer
            reply = ("error", f"{type(e).__name__}: {str(e)[:200]}")
        conn.send(reply)
