r"""Bench parts for the answer checker: gold vs gold, near misses, and two peer checkers.

Plain functions for ``palestra bench eval`` to assemble (see :func:`answers_bench`):

(a) :func:`gold_vs_gold`: every problem's reference completion goes through the task's own
    ``check`` (extraction, then :func:`~palestra.reason.answers.equivalent` against the gold
    answer); every one must be accepted.
(b) :func:`near_misses`: each gold answer perturbed (:func:`perturbations`: one digit changed,
    the first number's sign flipped, the last element of a list, set or tuple dropped) must be
    rejected; a wrong accept is counted per data set and listed.
(c) :func:`crosscheck`: the same pairs judged by ``math-verify`` (``parse``/``verify``, its own
    LaTeX extraction and sympy comparison) and by lm-evaluation-harness's Minerva checker
    (``normalize_final_answer`` then ``is_equiv``, loaded from the installed ``lm_eval``
    package's ``tasks/minerva_math/utils.py`` alone, so ``pip install --no-deps lm-eval``
    suffices). A peer that is not installed is a column skipped with a note (the extra
    ``palestra[crosscheck]`` installs math-verify; lm-eval is installed without its deps).

What it does not show: a perturbation can, rarely, leave an answer equal in meaning (``1^2``
-> ``1^3``); each wrong accept is listed with both strings so it can be judged by eye. The
peers' own timeouts use ``signal.alarm``, so :func:`crosscheck` must run in the main thread.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench
from palestra.reason.answers import equivalent
from palestra.reason.task import Problem, Task

__all__ = [
    "Pair",
    "answers_bench",
    "crosscheck",
    "gold_vs_gold",
    "load_peers",
    "near_misses",
    "perturbations",
]


@dataclass(frozen=True)
class Pair:
    """An answer judged against a gold one; ``expected`` is the right verdict."""

    dataset: str
    id: str
    kind: str  # "gold", "digit", "sign", "drop"
    answer: str
    gold: str
    expected: bool
    ours: bool
    how: str
    reason: str


def gold_vs_gold(task: Task, problems: list[Problem]) -> list[Pair]:
    """Each reference completion checked by the task; ``answer`` is what was extracted."""
    from palestra.reason.answers import extract_answer

    out = []
    for p in problems:
        completion = task.reference_completion(p)
        checked = task.check(p, completion)
        extracted = extract_answer(completion, task.style) or ""  # type: ignore[attr-defined]
        evidence = checked.verdict.evidence
        how = evidence.how if evidence is not None else "none"
        out.append(
            Pair(
                task.name,
                p.id,
                "gold",
                extracted,
                p.reference,
                True,
                bool(checked.verdict),
                how,
                checked.verdict.reason,
            )
        )
    return out


_DIGIT = re.compile(r"\d")
_FIRST_NUMBER = re.compile(r"(-?)(\d+(?:\.\d+)?)")


def _elements(gold: str) -> tuple[str, str, list[str]] | None:
    r"""``(open, close, parts)`` of a gold answer that is a list, ``\{set\}`` or ``(tuple)``."""
    from palestra.reason.answers import _top_level_split

    text = gold.strip().strip("$").strip()
    for open_, close in (("\\{", "\\}"), ("\\left\\{", "\\right\\}"), ("(", ")")):
        if text.startswith(open_) and text.endswith(close):
            inner = text[len(open_) : len(text) - len(close)]
            parts = _top_level_split(inner)
            if len(parts) >= 2 and _top_level_split(text) == [text]:
                return open_, close, parts
    parts = _top_level_split(text)
    return ("", "", parts) if len(parts) >= 2 else None


def perturbations(gold: str, rng: random.Random) -> list[tuple[str, str]]:
    """``(kind, wrong answer)`` for ``gold``: a digit changed, the first number's sign
    flipped (not for a zero), the last element dropped (lists, sets, tuples)."""
    out: list[tuple[str, str]] = []
    digits = [m.start() for m in _DIGIT.finditer(gold)]
    if digits:
        at = rng.choice(digits)
        new = str((int(gold[at]) + rng.randint(1, 9)) % 10)
        out.append(("digit", gold[:at] + new + gold[at + 1 :]))
    m = _FIRST_NUMBER.search(gold)
    if m and float(m.group(2)) != 0:
        flipped = m.group(2) if m.group(1) else f"-{m.group(2)}"
        out.append(("sign", gold[: m.start()] + flipped + gold[m.end() :]))
    found = _elements(gold)
    if found is not None:
        open_, close, parts = found
        out.append(("drop", open_ + ",".join(parts[:-1]) + close))
    return out


def near_misses(task: Task, problems: list[Problem], seed: int = 0) -> list[Pair]:
    """Every perturbation of every gold answer, judged by :func:`equivalent`."""
    rng = random.Random(seed)
    out = []
    for p in problems:
        for kind, wrong in perturbations(p.reference, rng):
            verdict = equivalent(wrong, p.reference)
            evidence = verdict.evidence
            how = evidence.how if evidence is not None else "none"
            out.append(
                Pair(
                    task.name,
                    p.id,
                    kind,
                    wrong,
                    p.reference,
                    False,
                    bool(verdict),
                    how,
                    verdict.reason,
                )
            )
    return out


# -- the peers --------------------------------------------------------------------------------
Judge = Callable[[str, str], bool]


def _math_verify() -> Judge:
    from math_verify import parse, verify

    def wrap(s: str) -> str:
        return s if "$" in s or "\\boxed" in s else f"${s}$"

    def judge(answer: str, gold: str) -> bool:
        with contextlib.redirect_stderr(io.StringIO()):
            return bool(verify(parse(wrap(gold)), parse(wrap(answer))))

    return judge


def _minerva_lm_eval() -> Judge:
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("lm_eval is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "tasks/minerva_math/utils.py"
    module_spec = importlib.util.spec_from_file_location("_lm_eval_minerva_utils", path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"{path} not found")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)

    def judge(answer: str, gold: str) -> bool:
        a = module.normalize_final_answer(answer)
        g = module.normalize_final_answer(gold)
        return bool(module.is_equiv(a, g))

    return judge


PEERS: dict[str, Callable[[], Judge]] = {
    "math-verify 0.9.0": _math_verify,
    "lm-eval 0.4.13 Minerva": _minerva_lm_eval,
}


def load_peers() -> tuple[dict[str, Judge], dict[str, str]]:
    """The peer checkers that load here, and why each other one did not."""
    loaded: dict[str, Judge] = {}
    missing: dict[str, str] = {}
    for name, factory in PEERS.items():
        try:
            loaded[name] = factory()
        except (ImportError, AssertionError) as e:
            missing[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return loaded, missing


def crosscheck(pairs: list[Pair], judges: dict[str, Judge]) -> dict[str, list[bool | None]]:
    """Each judge's verdict on every pair (None where the judge raised)."""
    out: dict[str, list[bool | None]] = {}
    for name, judge in judges.items():
        verdicts: list[bool | None] = []
        for pair in pairs:
            try:
                verdicts.append(judge(pair.answer, pair.gold))
            except Exception:  # a peer's own failure is its verdict "none", never ours
                verdicts.append(None)
        out[name] = verdicts
    return out


# -- the assembled part -----------------------------------------------------------------------
def answers_bench(bench: Bench, tasks: list[Task] | None = None, *, sample: int = 0) -> None:
    """Gold vs gold, near misses and the peers' agreement, recorded in ``bench``.

    ``tasks`` default to math500 and imobench; ``sample`` > 0 takes a seeded sample of that
    many problems per task (``bench.seed``).
    """
    if tasks is None:
        from palestra.reason.math_tasks import IMOAnswerBench, Math500

        tasks = [Math500(), IMOAnswerBench()]
    judges, missing = load_peers()
    for name, why in missing.items():
        bench.note(f"{name}: column skipped, not installed here ({why})")
    peer_names = list(judges)
    summary: list[list[Any]] = []
    agreement: list[list[Any]] = []
    wrong: list[list[Any]] = []
    for task in tasks:
        problems = task.problems()
        if 0 < sample < len(problems):
            problems = random.Random(bench.seed).sample(problems, sample)
        golds = gold_vs_gold(task, problems)
        misses = near_misses(task, problems, seed=bench.seed)
        accepted = sum(p.ours for p in golds)
        wrong_accepts = [p for p in misses if p.ours]
        bench.figure(
            f"{task.name}: gold vs gold accepted",
            100 * accepted / len(golds),
            "%",
            setting=f"{len(golds)} problems",
        )
        bench.figure(
            f"{task.name}: near misses wrongly accepted",
            len(wrong_accepts),
            "answers",
            higher_is_better=False,
            setting=f"{len(misses)} perturbed answers",
        )
        verdicts = crosscheck(golds + misses, judges)
        kinds = ["gold", "digit", "sign", "drop"]
        for kind in kinds:
            chosen = [i for i, p in enumerate(golds + misses) if p.kind == kind]
            if not chosen:
                continue
            right = [(golds + misses)[i].expected for i in chosen]
            ours = sum((golds + misses)[i].ours == right[k] for k, i in enumerate(chosen))
            row: list[Any] = [task.name, kind, len(chosen), ours]
            for name in peer_names:
                v = [verdicts[name][i] for i in chosen]
                row.append(sum(x == right[k] for k, x in enumerate(v)))
                row.append(
                    sum(x == (golds + misses)[i].ours for x, i in zip(v, chosen, strict=True))
                )
            agreement.append(row)
        summary.append([task.name, len(golds), accepted, len(misses), len(wrong_accepts)])
        wrong += [[p.dataset, p.id, p.kind, p.answer, p.gold, p.how] for p in wrong_accepts]
        for name in peer_names:
            for i, p in enumerate(golds + misses):
                if verdicts[name][i] is not None and verdicts[name][i] != p.expected:
                    bench.data.setdefault(f"{name} wrong", []).append(
                        [p.dataset, p.id, p.kind, p.answer, p.gold]
                    )
    bench.table(
        "answer checker: gold vs gold and near misses",
        ["data set", "problems", "gold accepted", "near misses", "near misses accepted"],
        summary,
    )
    headers = ["data set", "kind", "pairs", "ours right"]
    for name in peer_names:
        headers += [f"{name} right", f"{name} agrees with ours"]
    bench.table("verdicts by kind of pair (right = the expected verdict)", headers, agreement)
    if wrong:
        bench.table(
            "near misses we accepted", ["data set", "id", "kind", "answer", "gold", "how"], wrong
        )
