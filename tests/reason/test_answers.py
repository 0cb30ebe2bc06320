"""Answer extraction, Minerva-style normalisation, equivalence and the worker's timeout."""

from __future__ import annotations

import pytest

from palestra.reason import answers
from palestra.reason.answers import (
    equivalent,
    extract_answer,
    extract_boxed,
    extract_final_answer,
    extract_gsm8k,
    normalize_final_answer,
    vote_key,
)


# -- extraction -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
        (r"first \boxed{1} then \boxed{\{1, \{2\}\}}", r"\{1, \{2\}\}"),
        (r"the answer is $\boxed 5$.", "5"),
        (r"\fbox{x+1} done", "x+1"),
        (r"\boxed{unclosed", None),
        ("no box here", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


def test_extract_final_answer_minerva_format():
    text = "work...\nFinal Answer: The final answer is $[2,5)$. I hope it is correct."
    assert extract_final_answer(text) == "[2,5)"
    # a completion stopped before "I hope" keeps the answer
    assert extract_final_answer("Final Answer: The final answer is $24$.") == "24"
    assert extract_final_answer(r"Final Answer: The final answer is 3.5") == "3.5"
    assert extract_final_answer("nothing") is None


def test_extract_gsm8k_formats():
    assert extract_gsm8k("Janet sells 9 eggs.\n#### 18") == "18"
    assert extract_gsm8k("So 5 * 4 = 20. The answer is 29.") == "29"
    assert extract_gsm8k("She has 1,000 and then 3.5 left") == "3.5"
    assert extract_gsm8k("no numbers") is None


def test_extract_answer_styles_fall_back():
    text = r"We get $\boxed{7}$. The answer is 8."
    assert extract_answer(text, "boxed") == "7"
    assert extract_answer(text, "minerva") == "7"  # no final-answer line: the box
    assert extract_answer("The answer is 8.", "minerva") == "8"
    assert extract_answer("x\n#### 4", "gsm8k") == "4"
    with pytest.raises(ValueError):
        extract_answer("x", "nope")  # type: ignore[arg-type]


# -- normalisation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("1,000", "1000"),
        ("1{,}000", "1000"),
        (r"\$18.00", "18"),
        ("$5$", "5"),
        (r"5\text{ cm}", "5"),
        ("12 inches", "12"),
        (r"\text{(C)}", "(C)"),
        (r"30^\circ", "30"),
        (r"30^{\circ}", "30"),
        (r"\dfrac12", r"\frac{1}{2}"),
        (r"\tfrac{3}{4}", r"\frac{3}{4}"),
        (r"\sqrt2", r"\sqrt{2}"),
        (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"),
        ("x = 5", "5"),
        ("f(x) = 2x", "2x"),
        (r"10\%", "10"),
        (r"\pi r^2", r"\pi r^2"),
        (r"\left\{1,2\right\}", r"\{1,2\}"),
    ],
)
def test_normaliser_cases(raw, normal):
    assert normalize_final_answer(raw) == normal


def test_normaliser_keeps_what_minerva_loses():
    # Minerva keeps only the first $...$ span and only what follows the last "="
    assert normalize_final_answer("$n=4$ or $n=5$") != normalize_final_answer("$n=4$ or $n=6$")
    both = normalize_final_answer("g(x)=2x^{3}+c, g(x)=-2x^{3}+c")
    assert both == "2x^{3}+c,-2x^{3}+c"
    assert normalize_final_answer(r"\left(1,2\right)") == "(1,2)"  # \left is not "\le" + "ft"
    assert normalize_final_answer("a+b") == "a+b"  # a variable "a" is no article


# -- equivalence -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "gold", "how"),
    [
        ("5", "5", "exact"),
        (r"\$1,000", "1000", "normalised"),
        ("18.0", "18", "normalised"),
        ("0.5", "1/2", "numeric"),
        (r"\frac{1}{2}", "0.5", "symbolic"),
        (r"\sqrt{8}", r"2\sqrt{2}", "symbolic"),
        (r"2\frac{1}{2}", r"\frac{5}{2}", "symbolic"),
        (r"\{3, 1, 2\}", r"\{1, 2, 3\}", "symbolic"),
        ("2, 1", "1, 2", "symbolic"),
        (r"1 \pm \sqrt{2}", r"1+\sqrt{2}, 1-\sqrt{2}", "symbolic"),
        (r"(3, \pi/2)", r"\left( 3, \frac{\pi}{2} \right)", "symbolic"),
        (r"(-\infty, 2) \cup (3, \infty)", r"(3, \infty) \cup (-\infty, 2)", "symbolic"),
        ("(x+1)^2", "x^2+2x+1", "symbolic"),
        (r"\sin^2 x + \cos^2 x", "1", "symbolic"),
        (r"\begin{pmatrix} 1 \\ -2 \end{pmatrix}", r"\begin{pmatrix}1\\-2\end{pmatrix}", None),
        (r"\frac{\sqrt{3}}{2}", "0.8660254037844386", "numeric"),
    ],
)
def test_equivalent_accepts(answer, gold, how):
    verdict = equivalent(answer, gold)
    assert verdict, verdict.reason
    if how is not None:
        assert verdict.evidence.how == how


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("(1, 2)", "(2, 1)"),  # tuples are ordered
        (r"\{1, 2\}", "(1, 2)"),  # a set is no tuple
        ("[2, 5)", "[2, 5]"),  # interval ends matter
        (r"\{1, 2\}", r"\{1, 2, 3\}"),  # an element dropped
        ("-5", "5"),
        ("19", "18"),
        ("2^{100}", "2^{100}+1"),  # proved different: no numeric tolerance
        (r"\lfloor \log_{7}a\rfloor +1", r"\lfloor \log_{2}a\rfloor +1"),
        ("(x+1)^3", "x^2+2x+1"),
        ("0.3333", r"\frac{1}{3}"),
        ("$n=4$ or $n=6$", "$n=4$ or $n=5$"),
        ("Evelyn", "Devon"),
        ("no", "yes"),
    ],
)
def test_equivalent_rejects_near_misses(answer, gold):
    verdict = equivalent(answer, gold)
    assert not verdict
    assert verdict.reason


def test_no_answer_is_rejected_with_evidence():
    verdict = equivalent(None, "5")
    assert not verdict and verdict.reason == "no answer extracted"
    assert verdict.evidence.gold_normalised == "5"
    assert verdict.to_json()["evidence"]["how"] == "none"


def test_vote_keys_merge_equal_answers():
    assert vote_key("0.5") == vote_key(r"\frac12") == vote_key(r"\dfrac{1}{2}")
    assert vote_key(r"\{2, 1\}") == vote_key("1, 2")
    assert vote_key("(1, 2)") != vote_key("(2, 1)")
    assert vote_key("x + 1") == vote_key("1+x")
    assert vote_key(None) == ""


def test_a_pathological_answer_times_out_and_the_worker_is_replaced():
    worker = answers._default_worker()
    assert equivalent("x+x", "2x")  # the worker is up
    pid, restarts = worker.pid, worker.restarts
    verdict = equivalent("9^{9^{9}}", "9^{9^{9}}+1", timeout_s=0.5)
    assert not verdict
    assert "timed out" in verdict.reason
    assert verdict.evidence.detail == "timeout"
    assert worker.restarts == restarts + 1
    assert equivalent("x+x", "2x")  # a new worker answers
    assert worker.pid is not None and worker.pid != pid


def test_the_worker_runs_in_another_process_and_can_be_closed():
    import os

    worker = answers.SymbolicWorker()
    try:
        assert worker.call("compare", ("2x", "x+x"), 30) == ("ok", ("symbolic", ""))
        assert worker.pid not in (None, os.getpid())
        status, message = worker.call("nope", (), 30)
        assert status == "error" and "KeyError" in message
    finally:
        worker.close()
    assert worker.pid is None


def _judge(pair):
    return bool(equivalent(*pair)), answers._default_worker().pid


def test_forked_jobs_start_workers_of_their_own():
    from palestra.core.jobs import run_jobs

    assert equivalent("x+x", "2x")
    parent_worker = answers._default_worker().pid
    pairs = [("2x", "x+x"), ("(1,2)", "(2,1)")]
    results = sorted((r.key, r.unwrap()) for r in run_jobs(_judge, pairs, workers=2))
    assert [accepted for _, (accepted, _) in results] == [True, False]
    assert all(pid != parent_worker for _, (_, pid) in results)
    assert equivalent("x+x", "2x")  # the parent's worker still answers
    assert answers._default_worker().pid == parent_worker
