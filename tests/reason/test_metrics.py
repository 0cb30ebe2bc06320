import itertools
import math
import random

import pytest

from palestra.core.errors import PalestraError
from palestra.reason.metrics import (
    maj_at_k,
    maj_at_k_detail,
    mean_interval,
    pass_at_k,
    wilson_interval,
)


def brute_pass(n, c, k):
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return sum(any(s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_pass_at_k_is_the_share_of_k_subsets_with_a_pass(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass(n, c, k), abs=1e-12)


def test_pass_at_k_is_exact_where_floats_would_cancel():
    # 1 - C(n-c,k)/C(n,k) for a large n: the exact integer ratio, not a product of floats
    n, c, k = 2000, 1, 1000
    assert pass_at_k(n, c, k) == pytest.approx(0.5, abs=1e-12)
    assert pass_at_k(200, 0, 100) == 0.0
    assert pass_at_k(200, 150, 100) == 1.0


def test_pass_at_k_refuses_too_few_samples_and_bad_counts():
    with pytest.raises(PalestraError, match="needs at least 10 samples"):
        pass_at_k(5, 1, 10)
    with pytest.raises(PalestraError, match="0 <= c <= n"):
        pass_at_k(5, 6, 1)
    with pytest.raises(PalestraError, match="k >= 1"):
        pass_at_k(5, 1, 0)


def brute_maj(votes, correct, k):
    """Enumerate k-subsets; among tied top answers, average their correctness."""
    total = 0.0
    subsets = list(itertools.combinations(range(len(votes)), k))
    for s in subsets:
        counts = {}
        for i in s:
            if votes[i] is not None:
                counts[votes[i]] = counts.get(votes[i], 0) + 1
        if not counts:
            continue
        top = max(counts.values())
        winners = [a for a, c in counts.items() if c == top]
        ok = {a: any(correct[i] for i in range(len(votes)) if votes[i] == a) for a in winners}
        total += sum(ok.values()) / len(winners)
    return total / len(subsets)


def test_maj_at_k_matches_enumeration_with_ties_and_no_answers():
    rng = random.Random(0)
    for _ in range(40):
        n = rng.randint(1, 9)
        votes = [rng.choice(["1", "2", "3", None]) for _ in range(n)]
        correct = [v == "2" for v in votes]
        for k in range(1, n + 1):
            assert maj_at_k(votes, correct, k) == pytest.approx(brute_maj(votes, correct, k))


def test_maj_at_k_counts_subsets_not_the_first_k_samples():
    # the right answer is the majority, but the first two samples are wrong
    votes = ["7", "7", "3", "3", "3", "3"]
    correct = [False, False, True, True, True, True]
    first_two = 0.0
    assert maj_at_k(votes, correct, 2) > first_two
    assert maj_at_k(votes, correct, 1) == pytest.approx(4 / 6)
    assert maj_at_k(votes, correct, 6) == 1.0


def test_maj_at_k_samples_subsets_when_there_are_too_many_and_is_reproducible():
    rng = random.Random(1)
    votes = [rng.choice(["a", "b", "c", None]) for _ in range(40)]
    correct = [v == "a" for v in votes]
    exact = maj_at_k_detail(votes, correct, 5, exact_limit=10**7)
    sampled = maj_at_k_detail(votes, correct, 5, exact_limit=10, subsets=20_000)
    assert exact.exact and not sampled.exact
    assert sampled.value == pytest.approx(exact.value, abs=0.02)
    assert maj_at_k_detail(votes, correct, 5, exact_limit=10) == maj_at_k_detail(
        votes, correct, 5, exact_limit=10
    )


def test_maj_at_k_with_no_answers_at_all_is_zero_and_checks_lengths():
    assert maj_at_k([None, None], [False, False], 1) == 0.0
    with pytest.raises(PalestraError, match="2 votes but 1 verdicts"):
        maj_at_k(["1", "2"], [True], 1)
    with pytest.raises(PalestraError, match="needs at least 3 samples"):
        maj_at_k(["1", "2"], [True, False], 3)


def test_intervals():
    mean, low, high = mean_interval([0.0, 1.0, 1.0, 0.0])
    assert mean == 0.5 and low < 0.5 < high
    low, high = wilson_interval(50, 100)
    assert low < 0.5 < high
    assert high - low == pytest.approx(2 * 1.96 * math.sqrt(0.25 / 100), rel=0.05)
    assert wilson_interval(0, 10)[0] == 0.0
    with pytest.raises(PalestraError):
        wilson_interval(11, 10)
