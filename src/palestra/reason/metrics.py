"""The estimators of sampled evaluation: pass@k (Chen et al. 2021) and maj@k (Minerva).

**pass@k.** Draw ``n >= k`` samples of a problem, ``c`` of which the verifier accepts. The
probability that at least one of ``k`` samples drawn without replacement from those ``n`` is
accepted is::

    pass@k = 1 - C(n - c, k) / C(n, k)

an unbiased estimate of the model's pass@k on that problem (averaged over problems it is the
benchmark's). :func:`pass_at_k` computes it exactly with integers (``math.comb``), not the
numerically convenient product form, and refuses ``n < k`` instead of silently skipping the
problem (a skipped problem would bias the average upwards: the hard ones time out first).

**maj@k.** Each sample votes for its extracted answer (``Checked.answer``; ``None`` when
nothing was extracted, a vote that never wins). Majority voting over ``k`` samples answers with
the most voted answer; ties are broken uniformly at random. maj@k is the expected accuracy of
that answer over the ``k``-subsets of the ``n`` samples, *not* the vote of the first ``k``
samples (whose value depends on the order the samples happen to have)::

    maj@k = E_{S ⊂ samples, |S| = k} [ mean_{a ∈ argmax_a votes_S(a)} correct(a) ]

where ``correct(a)`` is the share of the samples voting ``a`` that the verifier accepted (1 or
0 when the answer key decides correctness, as it should). :func:`maj_at_k` enumerates every
subset when there are at most ``exact_limit`` of them and otherwise averages over
``subsets`` uniform random ``k``-subsets drawn with a generator seeded from the votes
themselves, so the same samples always give the same figure; :func:`maj_at_k_detail` says
which was done.

**Intervals.** :func:`mean_interval` is the normal-approximation interval of a mean over
problems (each problem's estimate is one observation); :func:`wilson_interval` the Wilson
score interval of a binomial proportion.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from palestra.core.errors import PalestraError

__all__ = [
    "MajResult",
    "maj_at_k",
    "maj_at_k_detail",
    "mean_interval",
    "pass_at_k",
    "wilson_interval",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of a problem with ``c`` of ``n`` samples accepted."""
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise PalestraError(f"pass@k needs integers, got n={n!r}, c={c!r}, k={k!r}")
    if k < 1:
        raise PalestraError(f"pass@k needs k >= 1, got k={k}")
    if not 0 <= c <= n:
        raise PalestraError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if n < k:
        raise PalestraError(
            f"pass@{k} needs at least {k} samples per problem, this one has {n}; "
            f"sample more (--samples {k}) or report a smaller k"
        )
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@dataclass(frozen=True)
class MajResult:
    """maj@k of one problem and how it was computed (``exact``: every subset enumerated;
    otherwise the mean over ``subsets`` random subsets)."""

    value: float
    exact: bool
    subsets: int


def _classes(votes: Sequence[str | None], correct: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's answer class (-1: no answer) and each class's share of accepted samples."""
    keys: dict[str, int] = {}
    cls = np.empty(len(votes), dtype=np.int64)
    for i, v in enumerate(votes):
        cls[i] = -1 if v is None else keys.setdefault(v, len(keys))
    share = np.zeros(len(keys))
    size = np.zeros(len(keys))
    for i, c in enumerate(cls):
        if c >= 0:
            size[c] += 1
            share[c] += bool(correct[i])
    return cls, np.divide(share, size, out=np.zeros_like(share), where=size > 0)


def _subset_accuracy(cls: np.ndarray, share: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    """Majority-vote accuracy of each row of ``subsets [S, k]`` (sample indices)."""
    m = len(share)
    chosen = cls[subsets]  # [S, k]
    counts = np.zeros((len(subsets), m + 1), dtype=np.int64)  # column m: no answer
    rows = np.repeat(np.arange(len(subsets)), subsets.shape[1])
    np.add.at(counts, (rows, np.where(chosen >= 0, chosen, m).ravel()), 1)
    counts = counts[:, :m]  # [S, m]
    top = counts.max(axis=1, initial=0)  # [S]
    winners = (counts == top[:, None]) & (top[:, None] > 0)  # [S, m]
    ties = winners.sum(axis=1)
    acc = (winners * share[None, :]).sum(axis=1)
    return np.divide(acc, ties, out=np.zeros_like(acc), where=ties > 0)


def maj_at_k_detail(
    votes: Sequence[str | None],
    correct: Sequence[bool],
    k: int,
    *,
    exact_limit: int = 20_000,
    subsets: int = 4_000,
) -> MajResult:
    """maj@k of one problem's samples (see the module docstring), with how it was computed."""
    n = len(votes)
    if len(correct) != n:
        raise PalestraError(f"maj@k: {n} votes but {len(correct)} verdicts")
    if k < 1:
        raise PalestraError(f"maj@k needs k >= 1, got k={k}")
    if n < k:
        raise PalestraError(
            f"maj@{k} needs at least {k} samples per problem, this one has {n}; "
            f"sample more (--samples {k}) or report a smaller k"
        )
    cls, share = _classes(votes, correct)
    if len(share) == 0:
        return MajResult(0.0, True, math.comb(n, k))
    total = math.comb(n, k)
    if total <= exact_limit:
        every = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
        return MajResult(float(_subset_accuracy(cls, share, every).mean()), True, total)
    digest = hashlib.sha256(repr((list(votes), [bool(c) for c in correct], k)).encode())
    rng = np.random.default_rng(int.from_bytes(digest.digest()[:8], "little"))
    draws = np.argsort(rng.random((subsets, n)), axis=1)[:, :k]  # uniform k-subsets
    return MajResult(float(_subset_accuracy(cls, share, draws).mean()), False, subsets)


def maj_at_k(votes: Sequence[str | None], correct: Sequence[bool], k: int) -> float:
    """maj@k of one problem: ``votes[i]`` is sample i's answer key, ``correct[i]`` its verdict."""
    return maj_at_k_detail(votes, correct, k).value


def mean_interval(values: Sequence[float], z: float = 1.96) -> tuple[float, float, float]:
    """``(mean, low, high)``: the normal-approximation interval of the mean of ``values``."""
    xs = np.asarray(values, dtype=float)
    if xs.size == 0:
        raise PalestraError("an interval needs at least one value")
    mean = float(xs.mean())
    if xs.size == 1:
        return mean, mean, mean
    half = z * float(xs.std(ddof=1)) / math.sqrt(xs.size)
    return mean, mean - half, mean + half


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of ``successes / trials``."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise PalestraError(f"wilson_interval: need 0 <= {successes} <= {trials}, trials > 0")
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
