"""Bias interventions on coding problems: blocks of influence and minimal edits of one block.

Mouselinos, Malinowski and Michalewski ("A Simple, Yet Effective Approach to Finding Biases in
Code Generation", Findings of ACL 2023, arXiv:2211.00609) split a coding problem into *blocks
of influence* and edit one block at a time; a model that loses accuracy when a block loses its
hints relied on those hints rather than on the rest of the problem::

    task = get_task("mbpp")                       # or "humaneval"
    p = task.problems()[0]
    blocks(p)                                     # Blocks(name, description, examples, context)
    r = intervene(p, "anonymize_name", render=task.render)   # Intervened or Skipped
    r.problem.id                                  # mbpp/11~anonymize_name: `func` everywhere
    task.check(r.problem, task.reference_completion(r.problem))  # the renamed reference passes

This module makes the intervened problems; measuring a model on them is ``palestra eval
--intervention NAME`` (one run) and ``palestra eval-biases`` (:mod:`palestra.reason.biases`:
every intervention and the paired pass@1 drop table). An intervened problem is an ordinary
:class:`~palestra.reason.task.Problem` of its task: the task's own ``prompt`` and ``check`` use
its rewritten prompt, tests and ``meta["entry_point"]``; its reference-time entry (the task's
time limit) is keyed by the rewritten program, so it is measured once like any other.

**The blocks.** *Name*: the entry point's name, wherever it occurs (the ``def`` line, the
docstring's examples, the tests, recursive calls of the reference). *Description*: the
natural-language text of the task (HumanEval: the docstring around its examples; MBPP: the
task sentence). *Examples*: input/output examples (HumanEval: the docstring's ``>>>`` lines or
its ``Example(s):`` section; MBPP: the ``assert`` lines shown in the prompt). *Context*:
everything else (imports, signature, helper functions; MBPP's few-shot frame), never edited.

**The interventions** (functions ``Problem -> Problem``; the new id is the old one plus
``~NAME``; ``meta["intervention"]`` lists what was applied, ``meta["original_id"]`` the
unmodified problem's id):

- ``anonymize_name``: the function becomes ``func`` (the paper's name-block transformation);
- ``misleading_name``: the function gets the name of an unrelated common task (``is_prime``,
  ``reverse_string``, ...; chosen by seed among names that share no word with the original);
- ``remove_keywords``: the description loses its keywords (see :func:`keywords`);
- ``remove_description``: the description is dropped, the signature and examples stay
  (MBPP: the task sentence becomes "Write a function.", the prompt's frame needs one);
- ``remove_examples``: the examples are dropped (MBPP: the shown asserts give way to the
  function's ``def`` line, the only other place its name and arguments could come from; the
  prompt's lines are recorded in ``meta["shown_examples"]``, the tests stay the same);
- :func:`combined` composes two of them, as the paper's combinations of two blocks.

A renamed function is renamed in the prompt, the reference and the tests (every Python name
token, every whole-word occurrence inside string literals and examples; in the description's
prose see :func:`_mention`), so the intervened reference still passes its tests.
:func:`check_blocks` proves on ASTs that only the targeted blocks changed. An intervention
that cannot apply (no examples to remove, no keyword in the description) raises
:class:`NotApplicable` with the reason; :func:`intervene` turns that into a skip. On the full
data every applied intervention's reference passes the task's check (HumanEval: 164 renamed,
154 without keywords, 158 without examples; MBPP: 257, 248, 257).

What this does not do: the paper's own keyword lists and code are not used (we could read
only its abstract and figure captions here); our keywords are the description's words that
share a stem with a word of the function name, plus a fixed list of algorithmic words, and
our misleading names are our own list. The examples block of a HumanEval docstring is found by
a heuristic (the first ``>>>`` line or ``Example``/``For example`` heading, else the trailing
lines that start with a call of the function, up to a ``Note:``/``Constraints:`` section), so
a docstring written otherwise may be split differently (HumanEval/130, whose definitions and
examples interleave, is skipped for ``remove_examples``). A plain-word name (``median``) is
renamed in the prose only where written as a call, so "Return median of ..." keeps its word.
Nothing here judges whether an intervened problem is still solvable, nor measures a model.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import re
import tokenize
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from palestra.core.errors import PalestraError
from palestra.core.pyparse import parse_python
from palestra.core.verdict import Verdict
from palestra.reason.task import Problem

__all__ = [
    "BLOCKS",
    "INTERVENTIONS",
    "TASKS",
    "Blocks",
    "Intervened",
    "NotApplicable",
    "Render",
    "Skipped",
    "anonymize_name",
    "blocks",
    "check_blocks",
    "combined",
    "intervene",
    "keywords",
    "lookup",
    "misleading_name",
    "remove_description",
    "remove_examples",
    "remove_keywords",
]

Render = Callable[[str, list[str]], str]  # MBPP().render(question, test_list) -> the 3-shot prompt
BLOCKS = ("name", "description", "examples", "context")
TASKS = ("humaneval", "mbpp")  # the tasks whose problems have these blocks
_MARK = "\u27eaentry\u27eb"  # stands for the entry point's name when blocks are compared
_HOLE = "\u27eahole\u27eb"  # where the docstring's text waits while the code is renamed


class NotApplicable(PalestraError):
    """An intervention that does not apply to a problem (the message says why)."""


# ----------------------------------------------------------------------------- the blocks
@dataclass(frozen=True)
class Blocks:
    """A problem's blocks of influence, as text.

    ``description`` holds the description's pieces (HumanEval: the docstring text before and
    after the examples; MBPP: the task sentence); ``examples`` the example lines as the prompt
    shows them; ``context`` the rest of the prompt with the other blocks cut out (marked
    ``⟪description⟫`` / ``⟪docstring⟫`` / ``⟪examples⟫``).
    """

    task: str
    name: str
    description: tuple[str, ...]
    examples: str
    context: str


@dataclass(frozen=True)
class _Doc:
    """Where the entry point's docstring sits in a HumanEval prompt: ``prompt[start:end]`` is
    the text between its quotes, split as ``pre + examples + post``."""

    start: int
    end: int
    pre: str
    examples: str
    post: str


_EXAMPLE_HEAD = re.compile(r"^\s*(>>>|(for\s+)?examples?\b|e\.g\.)", re.IGNORECASE)
_SECTION_AFTER = re.compile(r"^\s*(notes?|constraints?|restrictions?)\s*:", re.IGNORECASE)
_QUOTE = re.compile(r"^([rRuU]*)(\"\"\"|'''|\"|')")


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")


def _mention(name: str, like: str | None = None) -> re.Pattern[str]:
    """The name's mentions in prose: every whole-word occurrence of an identifier-like name
    (``find_zero``, ``fib4``, ``isPrime``); of a plain word (``median``, ``find``) only the
    ones written as a call (``median(l)``), so the sentence "find the median" keeps its words.
    ``like``: decide by that name instead (a new name is mentioned as the old one was)."""
    if re.search(r"[_\d]|.[A-Z]", like or name):
        return _word(name)
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?=\s*\()")


def _offset(source: str, lineno: int, col_bytes: int) -> int:
    """The string index of an AST position (1-based line, UTF-8 byte column)."""
    lines = io.StringIO(source, newline="").readlines()  # the parser's lines: \n, \r\n, \r
    before = sum(len(line) for line in lines[: lineno - 1])
    return before + len(lines[lineno - 1].encode()[:col_bytes].decode())


def _entry_function(tree: ast.Module, name: str, where: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise PalestraError(f"{where}: no top-level function {name!r}")


def _doc_node(fn: ast.FunctionDef) -> ast.Expr | None:
    """The function's docstring, or its first string statement (HumanEval/115 imports first)."""
    for stmt in fn.body:
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            return stmt
    return None


def _split_examples(inner: str, name: str) -> tuple[str, str, str]:
    """``inner`` (a docstring's text) as ``pre, examples, post`` (see the module docstring)."""
    lines = inner.splitlines(keepends=True)
    closing = ""
    if lines and not lines[-1].strip():  # the indentation before the closing quotes
        closing = lines.pop()
    start = next((i for i, line in enumerate(lines) if _EXAMPLE_HEAD.match(line)), None)
    if start is None:  # no heading: the trailing lines that call the function, if any
        call = re.compile(rf"^\s*(for\s+)?{re.escape(name)}\s*\(\s*[^)\s]")
        i = len(lines)
        while i > 0 and (not lines[i - 1].strip() or call.search(lines[i - 1])):
            i -= 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        start = i if i < len(lines) else None
    if start is None:
        return "".join(lines), "", closing
    end = next(
        (j for j in range(start + 1, len(lines)) if _SECTION_AFTER.match(lines[j])), len(lines)
    )
    return "".join(lines[:start]), "".join(lines[start:end]), "".join(lines[end:]) + closing


def _humaneval_doc(problem: Problem) -> _Doc | None:
    prompt, name = problem.prompt, _entry(problem)
    fn = _entry_function(_parse(prompt, problem.id), name, problem.id)
    node = _doc_node(fn)
    if node is None:
        return None
    assert node.end_lineno is not None and node.end_col_offset is not None
    start = _offset(prompt, node.lineno, node.col_offset)
    end = _offset(prompt, node.end_lineno, node.end_col_offset)
    literal = prompt[start:end]
    m = _QUOTE.match(literal)
    if m is None or not literal.endswith(m.group(2)) or len(literal) < 2 * len(m.group(2)):
        raise PalestraError(f"{problem.id}: the docstring of {name} is not one string literal")
    opening = len(m.group(0))
    start, end = start + opening, end - len(m.group(2))
    pre, examples, post = _split_examples(prompt[start:end], name)
    return _Doc(start, end, pre, examples, post)


def _shown(problem: Problem) -> list[str]:
    """The asserts an MBPP prompt shows (its test list, unless an intervention replaced it)."""
    return list(problem.meta.get("shown_examples", problem.meta.get("test_list", [])))


def _mbpp_spans(problem: Problem) -> tuple[tuple[int, int], tuple[int, int]]:
    """Where the task sentence and the shown asserts sit in an MBPP prompt (the last ones)."""
    prompt, question, shown = problem.prompt, problem.question, _shown(problem)
    q = prompt.rfind(question)
    if q < 0 or not shown:
        raise PalestraError(f"{problem.id}: the prompt does not show the task and its asserts")
    at, first = q + len(question), None
    for line in shown:
        found = prompt.find(line, at)
        if found < 0:
            raise PalestraError(f"{problem.id}: the prompt does not show {line!r}")
        first = found if first is None else first
        at = found + len(line)
    assert first is not None
    return (q, q + len(question)), (first, at)


def blocks(problem: Problem) -> Blocks:
    """The blocks of influence of a HumanEval or MBPP problem (see the module docstring)."""
    _require_task(problem)
    name = _entry(problem)
    if problem.task == "humaneval":
        doc = _humaneval_doc(problem)
        if doc is None:
            return Blocks(problem.task, name, (), "", problem.prompt)
        context = problem.prompt[: doc.start] + "\u27eadocstring\u27eb" + problem.prompt[doc.end :]
        return Blocks(problem.task, name, (doc.pre, doc.post), doc.examples, context)
    (q0, q1), (e0, e1) = _mbpp_spans(problem)
    p = problem.prompt
    context = p[:q0] + "\u27eadescription\u27eb" + p[q1:e0] + "\u27eaexamples\u27eb" + p[e1:]
    return Blocks(problem.task, name, (p[q0:q1],), p[e0:e1], context)


def _require_task(problem: Problem) -> None:
    if problem.task not in TASKS:
        raise PalestraError(
            f"{problem.id}: interventions apply to {' and '.join(TASKS)}, not {problem.task!r}"
        )


def _entry(problem: Problem) -> str:
    name = problem.meta.get("entry_point")
    if not isinstance(name, str) or not name.isidentifier():
        raise PalestraError(f"{problem.id}: meta['entry_point'] must name the function")
    return name


def _parse(source: str, where: str) -> ast.Module:
    try:
        tree = parse_python(source)  # without invalid-escape warnings ('\w' in data sets)
        assert isinstance(tree, ast.Module)
        return tree
    except SyntaxError as e:
        raise PalestraError(f"{where}: not valid Python (line {e.lineno}: {e.msg})") from None


# ----------------------------------------------------------------------------- the AST check
class _Strings(ast.NodeTransformer):
    """Replace the entry point's whole-word mentions inside string constants; optionally blank
    the entry point's docstring (compared as text, block by block)."""

    def __init__(self, name: str, blank_doc_of: str | None) -> None:
        self.word = _word(name)
        self.blank_doc_of = blank_doc_of

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if node.name == self.blank_doc_of:
            doc = _doc_node(node)
            if doc is not None:
                doc.value = ast.Constant("")
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):
            return ast.Constant(self.word.sub(_MARK, node.value))
        return node


def _shape(source: str, name: str, where: str, blank_doc_of: str | None = None) -> str:
    """The AST of ``source`` as text with the name ``name`` (identifiers and words inside
    strings) replaced by one mark: two programs that differ only in that name compare equal."""
    tree = _Strings(name, blank_doc_of).visit(_parse(source, where))
    return ast.dump(tree).replace(repr(name), repr(_MARK))  # identifiers: id='name', ...


def check_blocks(
    before: Problem, after: Problem, targets: Iterable[str], *, render: Render | None = None
) -> Verdict[None]:
    """Accept when ``after`` differs from ``before`` in exactly the ``targets`` blocks.

    The context, the reference and the tests are compared as ASTs (with the entry point's name
    abstracted: an anonymized function's program is the same program); the description and
    examples blocks as text (name abstracted too); the name block as the name. For MBPP, with
    ``render``, both prompts must also be exactly ``render(question, shown asserts)``.
    """
    targets = set(targets)
    if not targets <= set(BLOCKS[:3]):
        raise PalestraError(f"targets must be among {', '.join(BLOCKS[:3])}: {sorted(targets)}")
    b, a = blocks(before), blocks(after)
    old, new = b.name, a.name
    if new != old and _word(new).search(_all_text(before)):
        return Verdict.reject(f"the new name {new!r} already occurs in {before.id}")

    def text(x: Blocks, name: str) -> tuple[str, str]:
        prose = _mention(name, like=old).sub(_MARK, "".join(x.description))
        return prose, _word(name).sub(_MARK, x.examples)

    (desc_b, ex_b), (desc_a, ex_a) = text(b, old), text(a, new)
    changed = {
        "name": old != new,
        "description": desc_b != desc_a,
        "examples": ex_b != ex_a,
    }
    for block, did in changed.items():
        if did != (block in targets):
            what = "changed" if did else "did not change"
            return Verdict.reject(f"{after.id}: the {block} block {what}")
    doc = before.task == "humaneval"  # its entry's docstring holds blocks: compared above
    for (part, src_b), (_, src_a) in zip(_programs(before), _programs(after), strict=True):
        shape_b = _shape(src_b, old, before.id, old if doc else None)
        if shape_b != _shape(src_a, new, after.id, new if doc else None):
            return Verdict.reject(f"{after.id}: the {part} changed beyond the targeted blocks")
    if before.task == "mbpp":
        if b.context != a.context:
            return Verdict.reject(f"{after.id}: the prompt's frame changed")
        if render is not None:
            for p in (before, after):
                if render(p.question, _shown(p)) != p.prompt:
                    return Verdict.reject(f"{p.id}: the prompt is not render(question, asserts)")
    return Verdict.accept(None, f"only {', '.join(sorted(targets))} changed")


def _programs(problem: Problem) -> list[tuple[str, str]]:
    """The Python sources of a problem that :func:`check_blocks` compares: (part, source)."""
    parts = [("reference", problem.reference), ("tests", problem.tests)]
    if problem.task == "humaneval":
        parts = [
            ("context", problem.prompt),
            ("reference", problem.prompt + problem.reference),
            ("tests", problem.tests),
        ]
    tests = problem.meta.get("test_list", [])
    return parts + [(f"test {i}", t) for i, t in enumerate(tests)]


def _all_text(problem: Problem) -> str:
    return "\n".join((problem.prompt, problem.question, problem.reference, problem.tests))


# ----------------------------------------------------------------------------- renaming
def _rename_source(source: str, old: str, new: str, where: str) -> str:
    """``old`` renamed ``new`` in Python source: every name token, and every whole-word
    occurrence inside string literals (docstring examples, messages); nothing else moves."""
    starts = [0]
    for line in io.StringIO(source).readlines():  # the lines tokenize reads ("\n" ends one)
        starts.append(starts[-1] + len(line))
    word = _word(old)
    edits: list[tuple[int, int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in (tokenize.NAME, tokenize.STRING):
                continue
            begin = starts[tok.start[0] - 1] + tok.start[1]
            end = starts[tok.end[0] - 1] + tok.end[1]
            if tok.type == tokenize.NAME and tok.string == old:
                edits.append((begin, end, new))
            elif tok.type == tokenize.STRING:
                head = len(tok.string) - len(tok.string.lstrip("bBfFrRuU"))  # the prefix
                body = tok.string[head:]
                renamed = word.sub(new, body)
                if renamed != body:
                    edits.append((begin + head, end, renamed))
    except (tokenize.TokenError, IndentationError, SyntaxError) as e:
        raise PalestraError(f"{where}: cannot tokenize ({e})") from None
    for begin, end, text in reversed(edits):
        source = source[:begin] + text + source[end:]
    return source


def _rename(problem: Problem, new: str, tag: str, render: Render | None) -> Problem:
    old = _entry(problem)
    where = problem.id
    tests = _rename_source(problem.tests, old, new, where)
    meta = dict(problem.meta, entry_point=new)
    if problem.task == "humaneval":
        # The docstring is renamed block by block (prose and examples differ), the rest as code.
        doc, prompt = _humaneval_doc(problem), problem.prompt
        if doc is not None:
            prompt = prompt[: doc.start] + _HOLE + prompt[doc.end :]
        joint = _rename_source(prompt + problem.reference, old, new, where)
        prompt = _rename_source(prompt, old, new, where)
        if not joint.startswith(prompt):
            raise PalestraError(f"{where}: renaming the prompt and the reference disagree")
        reference = joint[len(prompt) :]
        if doc is not None:
            prose = _mention(old)
            inner = prose.sub(new, doc.pre) + _word(old).sub(new, doc.examples)
            prompt = prompt.replace(_HOLE, inner + prose.sub(new, doc.post), 1)
        question = prompt
    else:
        render = _render(render)
        reference = _rename_source(problem.reference, old, new, where)
        meta["test_list"] = [_rename_source(t, old, new, where) for t in meta.get("test_list", [])]
        if "shown_examples" in meta:
            meta["shown_examples"] = [
                _rename_source(t, old, new, where) for t in meta["shown_examples"]
            ]
        question = _mention(old).sub(new, problem.question)
        prompt = render(question, _shown(replace(problem, meta=meta)))
    return _tagged(
        replace(
            problem, prompt=prompt, question=question, reference=reference, tests=tests, meta=meta
        ),
        tag,
    )


def _tagged(problem: Problem, tag: str) -> Problem:
    done = [*problem.meta.get("intervention", []), tag]
    original = problem.meta.get("original_id", problem.id)
    meta = dict(problem.meta, intervention=done, original_id=original)
    return replace(problem, id=f"{problem.id}~{tag}", meta=meta)


def _render(render: Render | None) -> Render:
    """``render``, else the MBPP task's own (its data found by ``palestra.core.data``)."""
    return render if render is not None else _mbpp_render()


@functools.cache
def _mbpp_render() -> Render:
    from palestra.reason.code_tasks import MBPP  # on first use: callers mostly pass render=

    return MBPP().render


def _fresh(problem: Problem, candidates: Sequence[str]) -> str:
    """The first candidate that occurs nowhere in the problem (so renaming is reversible)."""
    text = _all_text(problem) + "\n" + "\n".join(problem.meta.get("test_list", []))
    for name in candidates:
        if not _word(name).search(text):
            return name
    raise NotApplicable(f"every candidate name already occurs in {problem.id}")


# ----------------------------------------------------------------------------- interventions
def anonymize_name(problem: Problem, *, render: Render | None = None, seed: int = 0) -> Problem:
    """Name block: the function is called ``func`` (``func1``, ... if ``func`` is taken)."""
    del seed  # one neutral name: nothing to choose
    new = _fresh(problem, ["func", *(f"func{i}" for i in range(1, 10))])
    return _rename(problem, new, "anonymize_name", render)


# Names of common, unrelated beginner tasks: a name that promises another task.
_MISLEADING = (
    "is_prime",
    "reverse_string",
    "count_vowels",
    "sort_list",
    "find_max",
    "sum_digits",
    "remove_duplicates",
    "fibonacci",
    "is_palindrome",
    "merge_lists",
    "capitalize_words",
    "binary_search",
    "gcd",
    "flatten_list",
    "to_uppercase",
    "average",
    "count_words",
    "is_leap_year",
    "factorial",
    "celsius_to_fahrenheit",
)


def _parts(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return {p.lower() for p in re.split(r"[_\d]+", spaced) if p}


def misleading_name(problem: Problem, *, render: Render | None = None, seed: int = 0) -> Problem:
    """Name block: the function gets the name of an unrelated common task (a seeded choice
    among :data:`_MISLEADING` names that share no word with the original)."""
    old_parts = _parts(_entry(problem))
    pool = [n for n in _MISLEADING if not _related(_parts(n), old_parts)]
    key = hashlib.sha256(f"{seed}:{problem.id}".encode()).digest()
    start = int.from_bytes(key[:8], "big") % len(pool)
    new = _fresh(problem, pool[start:] + pool[:start])
    return _rename(problem, new, "misleading_name", render)


def _related(a: set[str], b: set[str]) -> bool:
    return any(_same_stem(x, y) for x in a for y in b)


def _same_stem(word: str, key: str) -> bool:
    """``word`` and ``key`` share a stem: one is the other plus at most 3 letters (sort,
    sorted; close, closer), both at least 3 letters long."""
    word, key = word.lower(), key.lower()
    if min(len(word), len(key)) < 3:
        return False
    short, long = sorted((word, key), key=len)
    return long.startswith(short) and len(long) - len(short) <= 3


_STOP = frozenset({"the", "and", "for", "with", "from", "get", "has", "are", "not", "all", "any"})
# Words that name an algorithm or an operation: the cues the paper found models latch onto.
_ALGORITHMIC = (
    "sort",
    "sum",
    "product",
    "max",
    "maximum",
    "min",
    "minimum",
    "largest",
    "smallest",
    "longest",
    "shortest",
    "reverse",
    "prime",
    "palindrome",
    "count",
    "average",
    "mean",
    "median",
    "unique",
    "duplicate",
    "even",
    "odd",
    "ascending",
    "descending",
    "vowel",
    "factorial",
    "fibonacci",
    "divisible",
    "frequency",
)
_NO_DESCRIPTION = "Write a function."  # MBPP's task sentence without a description
_WORD = re.compile(r"(?<![\w.])[A-Za-z]+(?![\w(])")


def keywords(description: str, name: str) -> list[str]:
    """The keywords :func:`remove_keywords` removes from ``description``: its words that share
    a stem with a word of the function's ``name`` (the hint the two blocks share), and words
    of a fixed list of algorithmic words (sort, sum, prime, palindrome, ...). Words written as
    calls (``poly(x)``) or attributes are code, not keywords."""
    keys = [p for p in _parts(name) if p not in _STOP] + list(_ALGORITHMIC)
    found = []
    for m in _WORD.finditer(description):
        word = m.group(0)
        if word.lower() not in _STOP and any(_same_stem(word, k) for k in keys):
            found.append(word)
    return found


def _drop_words(text: str, name: str) -> str:
    """``text`` without its :func:`keywords` (each with one adjacent space)."""
    keys = [p for p in _parts(name) if p not in _STOP] + list(_ALGORITHMIC)

    def drop(m: re.Match[str]) -> str:
        word = m.group(1)
        if word.lower() in _STOP or not any(_same_stem(word, k) for k in keys):
            return m.group(0)
        return ""  # the word and the space after it

    return re.sub(r"(?<![\w.])([A-Za-z]+)(?![\w(]) ?", drop, text)


def _with_description(
    problem: Problem, edit: Callable[[str], str], tag: str, render: Render | None
) -> Problem:
    if problem.task == "humaneval":
        doc = _humaneval_doc(problem)
        if doc is None:
            raise NotApplicable(f"{problem.id}: no docstring")
        pre, post = edit(doc.pre), edit(doc.post)
        if not doc.examples and not pre.strip() and not post.strip():
            pre = "\n"  # keep the docstring a docstring
        prompt = problem.prompt[: doc.start] + pre + doc.examples + post + problem.prompt[doc.end :]
        return _tagged(replace(problem, prompt=prompt, question=prompt), tag)
    question = edit(problem.question).strip() or _NO_DESCRIPTION
    prompt = _render(render)(question, _shown(problem))
    return _tagged(replace(problem, prompt=prompt, question=question), tag)


def remove_keywords(problem: Problem, *, render: Render | None = None, seed: int = 0) -> Problem:
    """Description block: its :func:`keywords` are removed."""
    del seed
    name = _entry(problem)
    b = blocks(problem)
    if not any(keywords(d, name) for d in b.description):
        raise NotApplicable(f"{problem.id}: no keyword in the description")
    return _with_description(problem, lambda t: _drop_words(t, name), "remove_keywords", render)


def remove_description(problem: Problem, *, render: Render | None = None, seed: int = 0) -> Problem:
    """Description block: the description is dropped (HumanEval: the docstring keeps its
    examples; MBPP: the task sentence becomes empty)."""
    del seed
    if not any(d.strip() for d in blocks(problem).description):
        raise NotApplicable(f"{problem.id}: no description")
    if problem.task == "humaneval":
        return _with_description(
            problem, lambda t: "\n" if t.strip() else t, "remove_description", render
        )
    return _with_description(problem, lambda t: _NO_DESCRIPTION, "remove_description", render)


def remove_examples(problem: Problem, *, render: Render | None = None, seed: int = 0) -> Problem:
    """Example block: the examples are dropped. An MBPP prompt shows its function's name and
    arguments only in its asserts, so they give way to the reference's ``def`` line, recorded
    in ``meta["shown_examples"]`` (the tests that check it stay the same)."""
    del seed
    if problem.task == "humaneval":
        doc = _humaneval_doc(problem)
        if doc is None or not doc.examples.strip():
            raise NotApplicable(f"{problem.id}: no examples in the docstring")
        post = doc.post
        if not doc.pre.strip() and not post.strip():
            post = "\n" + post  # keep the docstring non-empty
        prompt = problem.prompt[: doc.start] + doc.pre + post + problem.prompt[doc.end :]
        after = replace(problem, prompt=prompt, question=prompt)
        if blocks(after).examples:  # HumanEval/130: definitions by calls, then its examples
            raise NotApplicable(
                f"{problem.id}: without its examples the description's own lines read as "
                "examples (the blocks interleave)"
            )
        return _tagged(after, "remove_examples")
    name = _entry(problem)
    fn = _entry_function(_parse(problem.reference, problem.id), name, problem.id)
    signature = f"def {name}({ast.unparse(fn.args)}):"
    meta = dict(problem.meta, shown_examples=[signature])
    prompt = _render(render)(problem.question, [signature])
    return _tagged(replace(problem, prompt=prompt, meta=meta), "remove_examples")


Intervention = Callable[..., Problem]  # (problem, *, render=None, seed=0) -> Problem

INTERVENTIONS: dict[str, tuple[Intervention, frozenset[str]]] = {
    "anonymize_name": (anonymize_name, frozenset({"name"})),
    "misleading_name": (misleading_name, frozenset({"name"})),
    "remove_keywords": (remove_keywords, frozenset({"description"})),
    "remove_description": (remove_description, frozenset({"description"})),
    "remove_examples": (remove_examples, frozenset({"examples"})),
}


def combined(*names: str) -> tuple[Intervention, frozenset[str]]:
    """The interventions ``names`` applied one after the other (the paper combines two blocks),
    and the blocks they target; its id suffix is ``~a~b``."""
    parts = [lookup(n) for n in names]
    parts.sort(key=lambda part: "name" in part[1])  # edit the text before renaming in it
    if len({b for _, bs in parts for b in bs}) != sum(len(bs) for _, bs in parts):
        raise PalestraError(f"combined interventions must target different blocks: {names}")

    def apply(problem: Problem, *, render: Render | None = None, seed: int = 0) -> Problem:
        for fn, _ in parts:
            problem = fn(problem, render=render, seed=seed)
        return problem

    return apply, frozenset().union(*(bs for _, bs in parts))


def lookup(name: str) -> tuple[Intervention, frozenset[str]]:
    """The intervention called ``name`` (a key of :data:`INTERVENTIONS`, or ``a+b``) and the
    blocks it targets; an error naming the known ones otherwise."""
    if "+" in name:
        return combined(*name.split("+"))
    if name not in INTERVENTIONS:
        raise PalestraError(
            f"unknown intervention {name!r}; known: {', '.join(INTERVENTIONS)} (or a+b)"
        )
    return INTERVENTIONS[name]


@dataclass(frozen=True)
class Intervened:
    """An intervened problem and the verdict of the block check on it."""

    original: Problem
    problem: Problem
    intervention: str
    check: Verdict[None]


@dataclass(frozen=True)
class Skipped:
    """A problem an intervention does not apply to, and why."""

    problem_id: str
    intervention: str
    reason: str


def intervene(
    problem: Problem, intervention: str, *, render: Render | None = None, seed: int = 0
) -> Intervened | Skipped:
    """Apply ``intervention`` (a name of :data:`INTERVENTIONS`, or ``a+b``) and check with
    :func:`check_blocks` that only its blocks changed; a :class:`Skipped` when it does not
    apply. A failed block check is an error (a bug here, or a problem of another shape)."""
    fn, targets = lookup(intervention)
    _require_task(problem)
    try:
        after = fn(problem, render=render, seed=seed)
    except NotApplicable as e:
        return Skipped(problem.id, intervention, str(e))
    verdict = check_blocks(problem, after, targets, render=render)
    if not verdict:
        raise PalestraError(f"intervention {intervention} on {problem.id}: {verdict.reason}")
    return Intervened(problem, after, intervention, verdict)
