"""IMO-ProofBench's autograder: the real data, the published prompt filled in, the grade parser
(valid, tolerated, out of range, malformed; never an exception), the proofs file's errors
(``FILE:LINE``), and grading end to end (``grade_all`` and ``palestra grade-proofs``) through
a real HTTP server with a tiny model trained here, whose replies are all malformed and are
counted as such, and whose context refuses the longer prompts, counted as errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palestra.core.errors import PalestraError
from palestra.lm.backends import BackendError, OpenAIBackend, chat_prompt
from palestra.lm.serve_config import ServeConfig
from palestra.lm.server import ModelServer
from palestra.reason.proofbench import (
    PROOF_AUTOGRADER_PROMPT,
    GradeProofsConfig,
    Parsed,
    ProofProblem,
    grade,
    grade_all,
    grader_prompt,
    load_proofbench,
    parse_grade,
    read_proofs,
    run_grade_proofs,
)

from ..conftest import train_tiny_lm

SRC = Path(__file__).resolve().parents[2] / "src"
BLOCK = 4800  # the tiny grader's context, in bytes (a byte tokenizer)


@pytest.fixture(scope="module")
def problems() -> list[ProofProblem]:
    return load_proofbench()


def test_the_data(problems: list[ProofProblem]) -> None:
    assert len(problems) == 60
    first = problems[0]
    assert first.id == "PB-Basic-001" and first.category == "Algebra"
    assert first.problem.startswith("Determine all functions $f: \\mathbb{Z}")
    assert "(Partial)" in first.guidelines and first.solution
    assert {p.level for p in problems} >= {"IMO-easy"}
    assert sum(p.id.startswith("PB-Advanced") for p in problems) == 30


def test_a_file_that_is_not_proofbench(tmp_path: Path) -> None:
    bad = tmp_path / "proofbench_v2.csv"
    bad.write_text("Problem ID,Problem\nx,y\n", encoding="utf-8")
    with pytest.raises(PalestraError, match="no column Solution, Grading guidelines"):
        load_proofbench(bad)
    with pytest.raises(PalestraError, match="not found"):
        load_proofbench(tmp_path / "nowhere")


def test_the_prompt_is_filled_in_one_pass(problems: list[ProofProblem]) -> None:
    p = problems[0]
    proof = "Put $x = 0$: then {solution} is not a field here; f(0) = {0}."
    text = grader_prompt(p, proof)
    assert text.startswith("You are an expert grader for the International Mathematics Olympiad")
    for part in (p.problem, p.solution, p.guidelines, proof):
        assert part in text
    assert text.index(p.problem) < text.index(p.solution) < text.index(p.guidelines)
    assert text.index(p.guidelines) < text.index(proof)
    assert "{problem}" not in text and "{predicted_answer}" not in text
    assert "{solution}" in text  # the proof's own braces stay as written
    assert "<points>N out of 7</points>" in PROOF_AUTOGRADER_PROMPT
    assert text.rstrip().endswith("* <points>0 out of 7</points>")


@pytest.mark.parametrize(
    ("reply", "points"),
    [
        ("The proof is complete.\n<points>7 out of 7</points>", 7),
        ("<points>6 out of 7</points> and later <points>0 out of 7</points>", 6),  # the first
        ("<POINTS> 1 OUT OF 7 </POINTS>", 1),
        ("<points>0/7</points>", 0),
        ("**<points>**6** out of 7</points>**", 6),
        ("<points>7</points>", 7),
        ("<points>\n  6 out of 7 points.\n</points>", 6),
        ("< points >3 out of 7</ points >", 3),  # off-rubric, but a grade on the scale
        ("Final score: <points>6 out of 7", 6),  # unclosed at the end
    ],
)
def test_valid_grades(reply: str, points: int) -> None:
    assert parse_grade(reply) == Parsed(points)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("<points>8 out of 7</points>", "8 is outside 0-7"),
        ("<points>-1 out of 7</points>", "-1 is outside 0-7"),
        ("<points>12</points>", "12 is outside 0-7"),
        ("<points>5 out of 10</points>", "a grade out of 10"),
        ("<points>6.5 out of 7</points>", "not a whole number"),
    ],
)
def test_out_of_range(reply: str, reason: str) -> None:
    parsed = parse_grade(reply)
    assert parsed.points is None and parsed.malformed and reason in parsed.reason


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "no <points> block"),
        ("I give it 7 out of 7.", "no <points> block"),
        ("<points>N out of 7</points>", "not a grade"),
        ("<points>seven out of 7</points>", "not a grade"),
        ("<points></points>", "not a grade"),
        ("<points>6 out of 7, maybe 7</points>", "not a grade"),
        ("<points>", "<points> is not closed"),
        ("\x00\ufffd<points>\ufffd", "<points> is not closed"),
        # long degenerate replies are read in linear time (no regex backtracking blow-up)
        ("<points>" + " " * 20_000 + "x", "<points> is not closed"),
        ("<points>6" + " " * 20_000 + "x</points>", "not a grade"),
        ("<points>" * 20_000, "<points> is not closed"),
    ],
)
def test_malformed(reply: str, reason: str) -> None:
    parsed = parse_grade(reply)
    assert parsed.malformed and reason in parsed.reason


@given(st.text())
def test_the_parser_never_raises(reply: str) -> None:
    parsed = parse_grade(reply)
    assert parsed.malformed or 0 <= parsed.points <= 7  # type: ignore[operator]


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    # the shortest grader prompts (about 4,100 bytes) fit, most do not
    run = train_tiny_lm(tmp_path_factory.mktemp("runs"), block_size=BLOCK, steps=20, batch_size=8)
    with ModelServer(ServeConfig(run, port=0, max_n=4, model_name="tiny")) as server:
        yield server


def test_grading_through_a_server_counts_malformed_grades(
    server: ModelServer, problems: list[ProofProblem]
) -> None:
    backend = OpenAIBackend(server.url, "tiny")
    shortest = sorted(problems, key=lambda p: len(grader_prompt(p, "")))[:2]
    items = [(shortest[0], "Take $x = 0$."), (shortest[1], "By induction on $n$.")]
    summary = grade_all(backend, items, samples=2, temperature=1.0, max_tokens=12, seed=3)
    assert [g.problem_id for g in summary.grades] == [p.id for p in shortest]
    assert summary.replies == 4 and summary.malformed == 4 and summary.graded == 0
    assert math.isnan(summary.mean_points)
    for g in summary.grades:
        assert g.points is None and len(g.texts) == 2
        assert all(s.reason == "no <points> block" for s in g.samples)
    body = summary.to_json()
    assert body["malformed"] == 4 and body["mean_points"] is None
    # the same seed gives the same replies
    again = grade(
        backend, shortest[0], "Take $x = 0$.", samples=2, temperature=1.0, max_tokens=12, seed=3
    )
    assert again.texts == summary.grades[0].texts


def test_a_prompt_too_long_is_an_error_not_a_grade(
    server: ModelServer, problems: list[ProofProblem]
) -> None:
    longest = max(problems, key=lambda p: len(grader_prompt(p, "")))
    with pytest.raises(BackendError, match="maximum context length"):
        grade(OpenAIBackend(server.url, "tiny"), longest, "A proof.", max_tokens=8)
    with pytest.raises(PalestraError, match="samples"):
        grade(OpenAIBackend(server.url, "tiny"), longest, "A proof.", samples=0)


# ----------------------------------------------------------------------------- the command
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"id": "PB-Basic-001", "proof": "p"}\n{"id": "PB-Basic-002", "proof": \n',
            ":2:33: malformed JSON (Expecting value)",
        ),
        ('\n["PB-Basic-001", "p"]\n', ':2: expected {"id": str, "proof": str}'),
        ('{"id": "PB-Basic-001", "proof": 7}\n', ':1: expected {"id": str, "proof": str}'),
        (
            '{"id": "PB-Basic-001", "proof": "a"}\n\n{"id": "PB-Basic-001", "proof": "b"}\n',
            ":3: a second proof of PB-Basic-001 (the first on line 1)",
        ),
        ('{"id": "PB-Basic-999", "proof": "a"}\n', ":1: unknown problem id 'PB-Basic-999'"),
        ("\n\n", ": no proofs"),
    ],
)
def test_proofs_file_errors_name_the_line(
    tmp_path: Path, problems: list[ProofProblem], text: str, message: str
) -> None:
    path = tmp_path / "proofs.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PalestraError) as e:
        read_proofs(path, {p.id for p in problems})
    assert str(e.value) == f"{path}{message}"


def test_grade_proofs_cli_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "proofs.jsonl"
    path.write_text('{"id": "PB-Basic-001", "proof": "fine"}\nnot json\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "palestra.cli", "grade-proofs"),
            *("--backend", "http://127.0.0.1:9/v1", "--proofs", str(path)),
            *("--out", str(tmp_path / "out")),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {path}:2:1: malformed JSON (Expecting value")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def fits(problem: ProofProblem, proof: str, max_tokens: int) -> bool:
    """Does the grader prompt of ``proof`` leave room for ``max_tokens`` in the tiny model's
    context? (Counted here: the chat template's bytes, one <bos>.)"""
    messages = [{"role": "user", "content": grader_prompt(problem, proof)}]
    return len(chat_prompt(messages).encode()) + 1 + max_tokens <= BLOCK


def test_grade_proofs_command_counts_malformed_replies_and_refusals(
    server: ModelServer, problems: list[ProofProblem], tmp_path: Path
) -> None:
    """The reference solutions of the first 2 problems: one prompt fits the tiny model's
    context (its replies are malformed), one does not (an error); neither is a crash."""
    first = problems[:2]
    refused = [not fits(p, p.solution, 12) for p in first]
    assert refused == [True, False]  # PB-Basic-001 is longer than PB-Basic-002
    cfg = GradeProofsConfig(
        backend=server.url,
        model="tiny",
        samples=2,
        temperature=1.0,
        max_tokens=12,
        limit=2,
        out=tmp_path / "refs",
    )
    result = run_grade_proofs(cfg)
    assert [e["problem_id"] for e in result["errors"]] == ["PB-Basic-001"]
    assert "maximum context length is 4800 tokens" in result["errors"][0]["error"]
    (graded,) = result["grades"]
    assert graded["problem_id"] == "PB-Basic-002" and graded["points"] is None
    assert len(graded["replies"]) == 2 and all("<points>" not in t for t in graded["replies"])
    assert graded["reasons"] == ["no <points> block"] * 2
    assert (result["replies"], result["malformed"], result["graded"]) == (2, 2, 0)
    assert result["source"] == "reference solutions" and result["mean_points"] is None
    assert (result["given"], result["proofs"]) == (2, 1)
    assert json.loads((tmp_path / "refs" / "grades.json").read_text()) == result
    assert "malformed 2, errors (prompt refused) 1" in (tmp_path / "refs" / "report.md").read_text()

    # a proofs file: graded in the data set's order, whatever the file's
    shortest = sorted(problems, key=lambda p: len(grader_prompt(p, "")))[:2]
    assert all(fits(p, "Take $x = 0$.", 12) for p in shortest)
    path = tmp_path / "proofs.jsonl"
    lines = [json.dumps({"id": p.id, "proof": "Take $x = 0$."}) for p in reversed(shortest)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_grade_proofs(replace(cfg, proofs=path, limit=None, out=tmp_path / "file"))
    order = [p.id for p in problems if p in shortest]
    assert [g["problem_id"] for g in result["grades"]] == order and result["errors"] == []
    assert result["malformed"] == result["replies"] == 4
