"""IMO-ProofBench's autograder: the real data, the published prompt filled in, the grade parser
(valid, tolerated, out of range, malformed; never an exception), and grading end to end
through a real HTTP server with a tiny model trained here, whose replies are all malformed and
are counted as such."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palestra.core.errors import PalestraError
from palestra.lm.backends import BackendError, OpenAIBackend
from palestra.lm.config import LMTrainConfig
from palestra.lm.serve_config import ServeConfig
from palestra.lm.server import ModelServer
from palestra.lm.train import train
from palestra.reason.proofbench import (
    PROOF_AUTOGRADER_PROMPT,
    Parsed,
    ProofProblem,
    grade,
    grade_all,
    grader_prompt,
    load_proofbench,
    parse_grade,
)


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
    cfg = LMTrainConfig(
        task="addition",
        tokenizer="byte",  # any text is a prompt
        digits=2,
        n_layer=1,
        n_head=2,
        d_model=32,
        block_size=5120,  # the grader prompt of the shortest problem is about 4,100 bytes
        steps=20,
        batch_size=8,
        lr=3e-3,
        warmup=2,
        eval_every=20,
        checkpoint_every=20,
        eval_examples=2,
        runs_root=tmp_path_factory.mktemp("runs"),
        progress=False,
    )
    with ModelServer(ServeConfig(train(cfg), port=0, max_n=4, model_name="tiny")) as server:
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
