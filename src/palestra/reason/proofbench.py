"""IMO-ProofBench and its published autograder: a model grades a proof on the IMO's 0-7 scale.

IMO-ProofBench (Luong et al., "Towards Robust Mathematical Reasoning", EMNLP 2025; data
``imobench/proofbench_v2.csv`` of github.com/google-deepmind/superhuman, CC-BY-4.0) has 60
proof problems, each with a reference solution and problem-specific grading guidelines. The
paper's ProofAutoGrader asks a strong model to grade a candidate proof against them and to end
with ``<points>N out of 7</points>``::

    problems = load_proofbench()                   # data set "imobench" (palestra.core.data)
    g = grade(backend, problems[0], proof, samples=4)
    g.points, g.malformed                          # mean of the parsed grades, unparsable ones
    summary = grade_all(backend, [(p, proofs[p.id]) for p in problems])
    summary.mean_points, summary.malformed

    palestra grade-proofs --backend http://127.0.0.1:8000/v1 --proofs proofs.jsonl --out DIR

The command grades each line ``{"id": "PB-Basic-001", "proof": "..."}`` of ``--proofs``
(default: the reference solutions, a grader's self-check: a good grader gives them 7) and
writes ``DIR/grades.json`` (every reply, its parse, the mean) and ``DIR/report.md``; a grader
prompt the model refuses as longer than its context is counted under ``errors``.

:data:`PROOF_AUTOGRADER_PROMPT` is the paper's grader prompt (its appendix). We could not read
the paper's PDF here; the text is as NVIDIA NeMo-Skills reproduces it for IMO-ProofBench
(``nemo_skills/prompt/config/judge/imo_proofbench.yaml``), so line breaks may differ from the
paper's typesetting. It is sent as one user message through ``backend.chat`` (any
:class:`~palestra.lm.backends.Backend`: a served model, an OpenAI-compatible endpoint).

:func:`parse_grade` reads the *first* ``<points>...</points>`` block, as the prompt announces:
``N out of 7`` or ``N/7`` or a bare ``N`` (whitespace, case and Markdown emphasis tolerated;
an unclosed final ``<points>N out of 7`` too). Anything else is *malformed* (no block, a
non-integer, a value outside 0-7, another scale): counted, never an exception. The rubric
names 7, 6, 1 and 0; another integer in 0-7 is accepted as the grader's answer.

What this does not do: it does not check that a grader's reasoning supports its number, nor
calibrate graders against human grades (IMO-GradingBench is not used); a grade is only as
good as the model that wrote it. Backend failures (a prompt longer than the model's context,
an unreachable server) are errors, not malformed grades.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palestra.core.config import Config, arg
from palestra.core.data import locate
from palestra.core.errors import PalestraError
from palestra.core.runs import atomic_write_bytes

if TYPE_CHECKING:
    from palestra.lm.backends import Backend

__all__ = [
    "PROOF_AUTOGRADER_PROMPT",
    "Grade",
    "GradeProofsConfig",
    "GradeSummary",
    "Parsed",
    "ProofProblem",
    "grade",
    "grade_all",
    "grader_prompt",
    "load_proofbench",
    "parse_grade",
    "read_proofs",
    "run_grade_proofs",
]

MAX_POINTS = 7

# Luong et al. 2025, appendix: the ProofAutoGrader prompt (see the module docstring for where
# this transcription comes from). {problem}, {solution}, {grading_guidelines} and
# {predicted_answer} are filled by grader_prompt.
PROOF_AUTOGRADER_PROMPT = """\
You are an expert grader for the International Mathematics Olympiad (IMO). Your task is to \
evaluate a proposed solution strictly and rigorously. Keep in mind the standards at the IMO \
are extremely high: only arguments that are logically sound, complete, and precise should be \
rewarded.

### General Scoring Rubric
Scores are assigned on a 0-7 scale. The general guidelines are:
* **7 Points (Correct):** The solution is complete, correct, and fully rigorous. If the \
submission contains incorrect attempts or lines of reasoning but ultimately presents a \
complete and correct solution, it should still be awarded full points; the presence of \
earlier, discarded work does not detract from the final correct proof.
* **6 Points (Almost Correct):** The solution is almost correct with a sound core argument, \
but contains minor errors in calculation or small gaps in logic. Missing proofs for major \
components, unjustified claims, or sketchy arguments are **not** eligible for 6 points.
* **1 Point (Partial Progress):** The solution demonstrates substantial progress explicitly \
mentioned in the grading guidelines. Initial observations, reformulating the problem without \
making substantive headway, or proving partial results not mentioned in the grading \
guidelines are generally **not** eligible for this score.
* **0 Points (Incorrect):** The solution doesn't make substantial progress that is a key step \
in the full solution or is fundamentally flawed. All partial progress without key results or \
lacking rigor also fall in this category.

### Input Data and Interpretation
You are provided with the following:
1. **Problem Statement:** The IMO problem.
2. **Ground Truth Solution:** A reference solution. Assume this solution is correct. It \
demonstrates one valid approach.
3. **Specific Grading Guidelines:** Criteria for awarding credit for this specific problem. \
These guidelines take precedence over the General Scoring Rubric, especially for partial \
credit.
4. **Proposed Solution:** The student submission.

### Evaluation Process
You must follow this structured process:
1. **Analyze References:** Meticulously read and understand the problem and Ground Truth \
Solution check the Specific Grading Guidelines. Identify the key steps for a complete \
solution and the criteria for partial credit.
2. **Step-by-Step Verification:** Verify the logical validity and rigor of every step. \
Identify all flaws, gaps, assumptions, and errors. **Make sure you fully understand every \
piece of logic behind each step of the proposed solution, you must be careful for solutions \
that 'pretend' to be correct.**
3. **Assess Progress:** Determine the extent of non-trivial progress made.
4. **Score Determination:** Compare the findings against the Specific Grading Guidelines and \
the General Rubric to determine the final score.

### Output Requirements
You must provide your final score in the format <points>N out of 7</points>. Ensure the \
`<points>` block is used **only once**, as your answer will be parsed based on the first \
<points> </points> block that appears in your whole response.

**PROBLEM STATEMENT**
{problem}

**GROUND-TRUTH SOLUTION**
{solution}

**SPECIFIC GRADING GUIDELINES**
{grading_guidelines}

**PROPOSED SOLUTION**
{predicted_answer}

Present your detailed thought process and formal justification based on the scoring rubric \
and grading guidelines, and finally present your final score in the format below.

[Select one of the following options]

* <points>7 out of 7</points>
* <points>6 out of 7</points>
* <points>1 out of 7</points>
* <points>0 out of 7</points>
"""

_FIELD = re.compile(r"\{(problem|solution|grading_guidelines|predicted_answer)\}")
_COLUMNS = ("Problem ID", "Problem", "Solution", "Grading guidelines", "Category", "Level")


@dataclass(frozen=True)
class ProofProblem:
    """One IMO-ProofBench problem (a row of ``proofbench_v2.csv``)."""

    id: str
    problem: str
    solution: str
    guidelines: str
    category: str = ""
    level: str = ""
    short_answer: str = ""
    source: str = ""


def load_proofbench(data: str | Path | None = None) -> list[ProofProblem]:
    """The 60 problems of ``proofbench_v2.csv`` in file order; ``data`` is the imobench folder
    (or the CSV itself), found by :func:`palestra.core.data.locate` when not given."""
    path = Path(data) if data is not None and Path(data).is_file() else None
    if path is None:
        path = locate("imobench", data, part="proofbench_v2.csv")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise PalestraError(f"{path}: not IMO-ProofBench (no column {', '.join(missing)})")
        return [
            ProofProblem(
                row["Problem ID"],
                row["Problem"],
                row["Solution"],
                row["Grading guidelines"],
                row.get("Category") or "",
                row.get("Level") or "",
                row.get("Short Answer") or "",
                row.get("Source") or "",
            )
            for row in reader
        ]


def grader_prompt(problem: ProofProblem, proof: str) -> str:
    """:data:`PROOF_AUTOGRADER_PROMPT` filled with the problem, its reference solution, its
    grading guidelines and the candidate ``proof`` (in one pass: braces in the texts stay)."""
    values = {
        "problem": problem.problem,
        "solution": problem.solution,
        "grading_guidelines": problem.guidelines,
        "predicted_answer": proof,
    }
    return _FIELD.sub(lambda m: values[m.group(1)], PROOF_AUTOGRADER_PROMPT)


# ----------------------------------------------------------------------------- the parser
@dataclass(frozen=True)
class Parsed:
    """A grader reply read: ``points`` (0-7), or ``None`` with the ``reason`` it is malformed."""

    points: int | None
    reason: str = "ok"

    @property
    def malformed(self) -> bool:
        return self.points is None


# Patterns written to run in linear time on any reply (no two adjacent unbounded repeats).
_OPEN = re.compile(r"<\s*points\s*>", re.IGNORECASE)
_CLOSE = re.compile(r"<\s*/\s*points\s*>", re.IGNORECASE)
_UNCLOSED = re.compile(r"[\s*_]*(\d+)[\s*_]*(?:out\s+of|/)\s*7\b", re.IGNORECASE)
_VALUE = re.compile(
    r"^(?P<n>[+-]?\d+(?:[.,]\d+)?)(?: ?(?:out of|/) ?(?P<of>\d+(?:\.\d+)?))?(?: points?)?\.?$",
    re.IGNORECASE,
)


def parse_grade(text: str) -> Parsed:
    """The grade in a grader's reply: the first ``<points>...</points>`` block (see the module
    docstring for what is tolerated). Never raises for any string."""
    opened = _OPEN.search(text)
    if opened is None:
        return Parsed(None, "no <points> block")
    closed = _CLOSE.search(text, opened.end())
    if closed is None:
        unclosed = _UNCLOSED.match(text, opened.end())
        if unclosed is None:
            return Parsed(None, "<points> is not closed")
        return _checked(unclosed.group(1), "7")
    inner = re.sub(r"[*_`]", "", text[opened.end() : closed.start()])  # Markdown emphasis
    inner = " ".join(inner.split())
    m = _VALUE.match(inner)
    if m is None:
        return Parsed(None, f"not a grade: {inner[:40]!r}")
    return _checked(m.group("n"), m.group("of"))


def _checked(n: str, of: str | None) -> Parsed:
    if of is not None and float(of) != MAX_POINTS:
        return Parsed(None, f"a grade out of {of}, not out of {MAX_POINTS}")
    if not re.fullmatch(r"[+-]?\d+", n):
        return Parsed(None, f"{n} is not a whole number of points")
    points = int(n)
    if not 0 <= points <= MAX_POINTS:
        return Parsed(None, f"{points} is outside 0-{MAX_POINTS}")
    return Parsed(points)


# ----------------------------------------------------------------------------- grading
@dataclass(frozen=True)
class Grade:
    """The grades one proof got: each sample's parse and text; ``points`` is the mean of the
    well-formed samples (``None`` when none was)."""

    problem_id: str
    samples: tuple[Parsed, ...]
    texts: tuple[str, ...]

    @property
    def points(self) -> float | None:
        valid = [s.points for s in self.samples if s.points is not None]
        return sum(valid) / len(valid) if valid else None

    @property
    def malformed(self) -> int:
        return sum(s.malformed for s in self.samples)


def grade(
    backend: Backend,
    problem: ProofProblem,
    proof: str,
    *,
    samples: int = 1,
    temperature: float = 0.0,
    max_tokens: int = 4096,
    seed: int | None = 0,
) -> Grade:
    """Grade ``proof`` with ``samples`` replies of ``backend`` (its ``chat`` call, the grader
    prompt as the user's message)."""
    if samples < 1:
        raise PalestraError(f"samples must be at least 1, got {samples}")
    messages = [{"role": "user", "content": grader_prompt(problem, proof)}]
    replies = backend.chat(
        messages, n=samples, temperature=temperature, max_tokens=max_tokens, seed=seed
    )
    texts = tuple(r.text for r in replies)
    return Grade(problem.id, tuple(parse_grade(t) for t in texts), texts)


@dataclass(frozen=True)
class GradeSummary:
    """The grades of many proofs: ``mean_points`` over the proofs with a well-formed grade
    (``nan`` when none had one), ``malformed`` the unparsable replies among all samples."""

    grades: tuple[Grade, ...]

    @property
    def graded(self) -> int:
        return sum(g.points is not None for g in self.grades)

    @property
    def malformed(self) -> int:
        return sum(g.malformed for g in self.grades)

    @property
    def replies(self) -> int:
        return sum(len(g.samples) for g in self.grades)

    @property
    def mean_points(self) -> float:
        points = [g.points for g in self.grades if g.points is not None]
        return sum(points) / len(points) if points else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "proofs": len(self.grades),
            "graded": self.graded,
            "replies": self.replies,
            "malformed": self.malformed,
            "mean_points": None if math.isnan(self.mean_points) else self.mean_points,
            "grades": [
                {
                    "problem_id": g.problem_id,
                    "points": g.points,
                    "samples": [s.points for s in g.samples],
                    "reasons": [s.reason for s in g.samples],
                    "replies": list(g.texts),
                }
                for g in self.grades
            ],
        }


def grade_all(
    backend: Backend,
    items: Iterable[tuple[ProofProblem, str]],
    *,
    samples: int = 1,
    temperature: float = 0.0,
    max_tokens: int = 4096,
    seed: int | None = 0,
) -> GradeSummary:
    """:func:`grade` every ``(problem, proof)`` pair, in order."""
    grades = [
        grade(
            backend,
            problem,
            proof,
            samples=samples,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
        )
        for problem, proof in items
    ]
    return GradeSummary(tuple(grades))


# ----------------------------------------------------------------------------- the command
def read_proofs(path: Path, known: Collection[str] | None = None) -> dict[str, str]:
    """``{problem id: proof}`` from a JSONL file of ``{"id": ..., "proof": ...}`` lines (blank
    lines skipped); a malformed line, a line of another shape, an id given twice or (with
    ``known``) an id not in ``known`` is an error ``FILE:LINE: ...``, a file without proofs
    too."""
    proofs: dict[str, str] = {}
    first: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise PalestraError(f"{path}: cannot read proofs ({e})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise PalestraError(f"{path}:{number}:{e.colno}: malformed JSON ({e.msg})") from None
        if not (
            isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("proof"), str)
        ):
            raise PalestraError(f'{path}:{number}: expected {{"id": str, "proof": str}}')
        if known is not None and item["id"] not in known:
            raise PalestraError(f"{path}:{number}: unknown problem id {item['id']!r}")
        if item["id"] in first:
            raise PalestraError(
                f"{path}:{number}: a second proof of {item['id']} (the first on line "
                f"{first[item['id']]})"
            )
        first[item["id"]] = number
        proofs[item["id"]] = item["proof"]
    if not proofs:
        raise PalestraError(f"{path}: no proofs")
    return proofs


def run_grade_proofs(cfg: GradeProofsConfig) -> dict[str, Any]:
    """The ``palestra grade-proofs`` command: grade each proof, write ``grades.json`` and
    ``report.md`` in ``--out``; a proof whose grader prompt the model refuses (too long for
    its context) is counted as an error, not a grade. ``grades.json`` (also returned) holds
    the ``source`` of the proofs, how many were ``given``, :meth:`GradeSummary.to_json` of
    the graded ones (``proofs`` counts those) and the ``errors``."""
    from palestra.core.progress import progress_bar
    from palestra.lm.backends import BackendError, refused_for_context
    from palestra.reason.evaluate import _make_backend

    problems = load_proofbench(cfg.data)
    if cfg.proofs is not None:
        proofs = read_proofs(cfg.proofs, {p.id for p in problems})
        items = [(p, proofs[p.id]) for p in problems if p.id in proofs]
    else:  # the reference solutions: a grader's self-check (a good grader gives 7)
        items = [(p, p.solution) for p in problems]
    items = items[: cfg.limit] if cfg.limit is not None else items
    backend, model = _make_backend(cfg)  # type: ignore[arg-type]
    grades, errors = [], []
    with progress_bar("grade proofs", len(items)) as advance:
        for problem, proof in items:
            try:
                grades.append(
                    grade(
                        backend,
                        problem,
                        proof,
                        samples=cfg.samples,
                        temperature=cfg.temperature,
                        max_tokens=cfg.max_tokens,
                        seed=cfg.seed,
                    )
                )
            except BackendError as e:
                if not refused_for_context(e):  # the server down, a bad parameter: stop
                    raise
                errors.append({"problem_id": problem.id, "error": e.message})
            advance()
    summary = GradeSummary(tuple(grades))
    result = {
        "model": model,
        "source": "reference solutions" if cfg.proofs is None else str(cfg.proofs),
        "given": len(items),
        **summary.to_json(),
        "errors": errors,
    }
    out = cfg.out or Path("runs") / "grade-proofs"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "grades.json", json.dumps(result, indent=2).encode())
    mean = result["mean_points"]
    text = (
        f"# IMO-ProofBench grades by `{model}`\n\n"
        f"- proofs: {result['source']} ({len(items)}), samples per proof {cfg.samples}\n"
        f"- graded {summary.graded}, replies {summary.replies}, malformed {summary.malformed}, "
        f"errors (prompt refused) {len(errors)}\n"
        f"- mean points: {'n/a' if mean is None else f'{mean:.2f} / 7'}\n"
    )
    atomic_write_bytes(out / "report.md", text.encode())
    print(text)
    print(f"grades: {out / 'grades.json'}")
    return result


@dataclass
class GradeProofsConfig(Config):
    """Options of ``palestra grade-proofs``: IMO-ProofBench proofs graded by a model with the
    published ProofAutoGrader prompt."""

    backend: str = arg(
        ..., "The grader: an OpenAI-compatible API root (http://HOST:PORT/v1) or local:RUN_DIR."
    )
    model: str = arg("", "Model name sent to the API (empty: the first of GET /models).")
    proofs: Path | None = arg(
        None, 'JSONL of {"id": "PB-Basic-001", "proof": "..."} (unset: the reference solutions).'
    )
    samples: int = arg(1, "Grader replies per proof (well-formed grades are averaged).", min=1)
    temperature: float = arg(0.0, "Grader sampling temperature.", min=0, max=2)
    max_tokens: int = arg(4096, "Tokens per grader reply.", min=1)
    seed: int = arg(0, "Seed of the grader's sampling.", min=0)
    limit: int | None = arg(None, "Grade the first this many proofs only.", min=1)
    data: Path | None = arg(None, "The imobench folder (default: palestra.core.data).")
    out: Path | None = arg(None, "Output folder (default: runs/grade-proofs).", recorded=False)
    stream: bool = arg(False, "Ask the server for streamed answers.", recorded=False)
    timeout: float = arg(600.0, "Seconds to wait for one answer.", above=0, recorded=False)
    retries: int = arg(4, "Retries of a failed request.", min=0, recorded=False)
    api_key_env: str = arg(
        "OPENAI_API_KEY", "Environment variable holding the API key (if set).", recorded=False
    )
