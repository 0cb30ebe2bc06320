"""Scratchpad generators: formats, seeding, checkers, and traces against real execution."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from palestra.lm.scratchpad import (
    B_TAGS,
    SUM_TAGS,
    TAGS,
    TASK_NAMES,
    addition,
    check_addition,
    check_long_addition,
    check_polynomial,
    check_program,
    exact_match,
    examples,
    final_answer,
    long_addition,
    make_task,
    polynomial,
    program,
    run_program,
    tagged_sum,
    trace_program,
)
from palestra.lm.tokenizers import ByteTokenizer, DigitTokenizer


def test_addition_formats() -> None:
    rng = random.Random(0)
    prompt, target = addition(rng, digits=3)
    a, b = map(int, prompt[:-1].split("+"))
    assert prompt.endswith("=") and target == str(a + b)
    # a hand-checked scratchpad: least-significant column first, carry then digit
    for seed in range(200):
        prompt, target = addition(random.Random(seed), digits=2, scratchpad=True)
        if prompt == "29+57=":
            assert target == "9+7+0=16\n2+5+1=08\n86"
            break


@pytest.mark.parametrize("seed", range(5))
def test_addition_scratchpad_is_a_true_carry_trace(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        prompt, target = addition(rng, digits=6, scratchpad=True)
        a, b = map(int, prompt[:-1].split("+"))
        *columns, answer = target.split("\n")
        assert answer == str(a + b) == final_answer(target)
        assert len(columns) == max(len(str(a)), len(str(b)))
        carry, digits = 0, []
        for i, line in enumerate(columns):
            x, y, c, s = map(int, re.fullmatch(r"(\d)\+(\d)\+(\d)=(\d\d)", line).groups())
            assert c == carry and x + y + c == s
            assert x == (a // 10**i) % 10 and y == (b // 10**i) % 10
            carry, digits = s // 10, [s % 10, *digits]
        assert int("".join(map(str, [carry, *digits]))) == a + b


def test_polynomial_scratchpad_terms_sum_to_answer() -> None:
    rng = random.Random(1)
    for _ in range(200):
        prompt, target = polynomial(rng, degree=3, scratchpad=True)
        m = re.fullmatch(r"x=(-?\d+);(.+)=", prompt)
        x = int(m.group(1))
        expected = eval(m.group(2).replace("^", "**"), {"__builtins__": {}}, {"x": x})
        *terms, total, answer = target.split("\n")
        assert answer == str(expected)
        values = [int(t.split("=")[1]) for t in terms]
        assert sum(values) == expected and total.endswith(f"={expected}")
        for t in terms:  # every term line is a true equation
            left, right = t.split("=")
            assert eval(left.replace("^", "**"), {"__builtins__": {}}) == int(right)
        assert check_polynomial(prompt, target)
        assert not check_polynomial(prompt, target + "\n" + str(expected + 1))


def test_program_traces_match_real_execution() -> None:
    source = "a = 3\nb = a + 2\nfor i in range(2):\n    b = b + a\nif b > 9:\n    a = 0\n"
    assert trace_program(source) == [
        (1, {"a": 3}),
        (2, {"a": 3, "b": 5}),
        (3, {"a": 3, "b": 5, "i": 0}),
        (4, {"a": 3, "b": 8, "i": 0}),
        (3, {"a": 3, "b": 8, "i": 1}),
        (4, {"a": 3, "b": 11, "i": 1}),
        (3, {"a": 3, "b": 11, "i": 1}),  # the loop header once more, as the loop ends
        (5, {"a": 3, "b": 11, "i": 1}),
        (6, {"a": 0, "b": 11, "i": 1}),
    ]


def test_generated_traces_agree_with_exec_of_each_prefix() -> None:
    """For every generated program: the final state is exec's; for straight-line code every
    trace line is the state after executing the program's first LINE lines."""
    rng = random.Random(3)
    for _ in range(100):
        prompt, target = program(rng, statements=5, trace=True)
        assert prompt.endswith("# trace\n")
        lines = target.split("\n")
        answer = ", ".join(f"{k}={v}" for k, v in run_program(prompt).items())
        assert lines[-1] == answer and check_program(prompt, target)
        source = prompt.splitlines()
        if any(line.startswith(("for", "if", "else")) for line in source):
            continue
        for line in lines[:-1]:
            n, state = line.split(": ", 1)
            prefix = "\n".join(source[: int(n)]) + "\n"
            assert state == ", ".join(f"{k}={v}" for k, v in run_program(prefix).items())


def test_generated_programs_use_loops_and_branches() -> None:
    rng = random.Random(0)
    sources = [program(rng)[0] for _ in range(50)]
    assert any("for i in range" in s for s in sources)
    assert any("else:" in s for s in sources)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_tasks_are_seeded_checked_and_tokenizable(name: str) -> None:
    task = make_task(name, digits=4, degree=2, statements=3)
    first = list(itertools.islice(examples(task, seed=5), 20))
    assert first == list(itertools.islice(examples(task, seed=5), 20))
    assert first != list(itertools.islice(examples(task, seed=6), 20))
    tok = DigitTokenizer() if task.tokenizer == "digit" else ByteTokenizer()
    for prompt, target in first:
        assert task.check(prompt, target), (prompt, target)
        assert exact_match(target, target) and not exact_match(target + "\n1", target)
        assert not task.check(prompt, target + "\n12345")
        assert tok.decode(tok.encode(prompt + target)) == prompt + target


def test_checkers_read_only_the_final_line() -> None:
    assert check_addition("29+57=", "86")
    assert check_addition("29+57=", "wrong work\n86\n")
    assert not check_addition("29+57=", "86\n87")
    assert check_polynomial("x=-2;3*x^2-1*x+5=", "19")
    with pytest.raises(ValueError):
        check_addition("29-57=", "86")
    with pytest.raises(ValueError):
        make_task("subtraction")


def test_long_addition_format() -> None:
    rng = random.Random(3)
    prompt, target = long_addition(rng, digits=8, scratchpad=True)
    direct_prompt, direct = long_addition(random.Random(3), digits=8)
    assert prompt == direct_prompt and target.endswith("\n" + direct)
    # worked example from the module docstring: 29 + 57 with the units column tagged C
    assert tagged_sum(29, 57, units=2) == ("2D9C+5d7c=", "8δ6γ")
    assert tagged_sum(29, 57, 2, scratchpad=True)[1] == "C9c7+0=16γ\nD2d5+1=08δ\n8δ6γ"
    assert tagged_sum(99, 1, 0, scratchpad=True)[1] == "A9a1+0=10α\nB9b0+1=10β\n1γ0β0α"
    with pytest.raises(ValueError, match="does not fit"):
        tagged_sum(999, 1, 13)  # the sum's 4 digits need tags N..Q
    assert check_long_addition("2D9C+5d7c=", "C9c7+0=16γ\nD2d5+1=08δ\n8δ6γ")
    assert check_long_addition("2D9C+5d7c=", "8δ6γ")
    assert not check_long_addition("2D9C+5d7c=", "8γ6β")  # right digits, wrong columns
    assert not check_long_addition("2D9C+5d7c=", "8δ7γ")
    assert not check_long_addition("2D9C+5d7c=", "8D6C")  # the answer's tags are α..π
    assert check_long_addition("9C+5c=", "1δ4γ")  # the carry column gets the next tag
    with pytest.raises(ValueError, match="not consecutive"):
        check_long_addition("2D9B+5d7c=", "8δ6γ")
    with pytest.raises(ValueError, match="differently"):
        check_long_addition("2D9C+5e7d=", "8δ6γ")
    with pytest.raises(ValueError, match="long-addition prompt"):
        check_long_addition("29+57=", "86")
    with pytest.raises(ValueError, match="long-addition prompt"):
        check_long_addition("2D9C+5D7C=", "8δ6γ")  # the second operand's tags are a..p
    with pytest.raises(ValueError, match="long-addition prompt"):
        check_long_addition("D2C9+d5c7=", "8δ6γ")  # tags go after their digits


@pytest.mark.parametrize("seed", range(20))
def test_long_addition_lines_are_true_column_sums(seed: int) -> None:
    rng = random.Random(seed)
    prompt, target = long_addition(rng, digits=8, scratchpad=True, exact=seed % 12 + 1)
    a_text, b_text = prompt[:-1].split("+")
    assert len(a_text) == len(b_text) == 2 * (seed % 12 + 1)  # exact= fixes both lengths
    *lines, answer = target.split("\n")
    carry = 0
    for i, line in enumerate(lines):
        m = re.fullmatch(r"([A-P])(\d)([a-p])(\d)\+(\d)=(\d)(\d)([α-π])", line)
        assert m is not None, line
        tag, x, b_tag, y, c, hi, lo, sum_tag = m.groups()
        col = TAGS.index(tag)
        assert tag == a_text[-1 - 2 * i] and b_tag == b_text[-1 - 2 * i]  # column i
        assert x == a_text[-2 - 2 * i] and y == b_text[-2 - 2 * i]  # its digits
        assert sum_tag == SUM_TAGS[col] and b_tag == B_TAGS[col] and int(c) == carry
        assert int(x) + int(y) + carry == 10 * int(hi) + int(lo)
        carry = int(hi)
    assert check_long_addition(prompt, answer)
    # the answer is the lines' tagged sum digits, last line first, after a final carry
    read_off = "".join(line[-2:] for line in reversed(lines))
    if carry:
        read_off = f"1{SUM_TAGS[SUM_TAGS.index(lines[-1][-1]) + 1]}" + read_off
    assert answer == read_off


def test_shorter_operand_lines_read_zero() -> None:
    assert tagged_sum(129, 57, 0, scratchpad=True) == (
        "1C2B9A+5b7a=",
        "A9a7+0=16α\nB2b5+1=08β\nC1c0+0=01γ\n1γ8β6α",
    )


def test_shuffled_operands_keep_their_value_and_target() -> None:
    """shuffle_digits reorders each operand's (digit, tag) pairs above the units pair; the
    target (scratchpad and answer) is the in-order example's; the checker reads any order."""
    shuffled = long_addition(random.Random(5), digits=8, scratchpad=True, shuffle=True)
    orders = set()
    for seed in range(40):
        prompt, target = long_addition(random.Random(seed), 8, True, exact=6, shuffle=True)
        a_text, b_text = prompt[:-1].split("+")
        pairs = [
            sorted((t.upper(), d) for d, t in re.findall(r"(\d)([A-Pa-p])", x))
            for x in (a_text, b_text)
        ]
        units = TAGS.index(pairs[0][0][0])
        assert a_text[-1] == TAGS[units] and b_text[-1] == B_TAGS[units]  # units pair last
        a, b = (int("".join(d for _, d in reversed(x))) for x in pairs)
        assert target == tagged_sum(a, b, units, scratchpad=True)[1]
        assert check_long_addition(prompt, target.split("\n")[-1])
        orders.add(a_text[1::2])
    assert len(orders) > 30  # different orders, not one fixed permutation
    assert shuffled != long_addition(random.Random(5), digits=8, scratchpad=True)
    assert check_long_addition("9C2D+7c5d=", "8δ6γ")  # any order is read
    assert not check_long_addition("9C2D+7c5d=", "8γ6δ")
    with pytest.raises(ValueError, match="not consecutive"):
        check_long_addition("9C2E+7c5d=", "8δ6γ")


def test_long_addition_tags_cover_the_alphabet_in_training() -> None:
    """The units tag is random, so training on 8 digits still shows every tag that a
    12-digit test sum uses."""
    rng = random.Random(0)
    seen = set()
    for _ in range(500):
        prompt, target = long_addition(rng, digits=8)
        seen |= set(re.findall(r"[A-P]", prompt + target))
        assert max(len(x) for x in prompt[:-1].split("+")) <= 16  # at most 8 digits each
    assert seen == set("ABCDEFGHIJKLMNOP")
    with pytest.raises(ValueError, match="at most 15 digits"):
        long_addition(rng, digits=16)
