"""Self-consistency (Wang et al. 2022), Minerva's maj@k (Lewkowycz et al. 2022): sample ``k``
chains of thought at a temperature above zero and answer with the most frequent final answer.

    votes(a) = |{i <= k : answer(sample_i) = a}|,    answer = argmax_a votes(a)

Answers are compared by the task's vote key (:func:`~palestra.reason.programs.core.answer_key`:
``12``, ``12.0`` and ``$12`` are one vote); a sample with no answer votes for nothing. A tie is
broken uniformly at random with the run's seeded generator (``lm.random("vote")``), so a run
is reproducible; the text returned is the first sample voting for the winner. Where the
budget admits fewer than ``k`` calls the vote is over the samples that were drawn
(``info["samples"]`` says how many).

The per-problem figure a single run gives is a draw of maj@k; the estimator that averages
over every ``k``-subset of ``n`` samples is :func:`palestra.reason.metrics.maj_at_k` (what
``palestra eval --samples n`` reports).

What it does not do: it does not weight votes by likelihood or by a verifier (that is
:mod:`~palestra.reason.programs.best_of_n`).
"""

from __future__ import annotations

from collections import Counter

from palestra.reason.programs.core import LM, Outcome, answer_key
from palestra.reason.task import Problem, Task

__all__ = ["majority", "self_consistency"]


def majority(keys: list[str | None], lm: LM) -> str | None:
    """The most voted key (``None`` votes for nothing); ties broken by ``lm.random("vote")``."""
    votes = Counter(k for k in keys if k is not None)
    if not votes:
        return None
    top = max(votes.values())
    tied = sorted(k for k, v in votes.items() if v == top)
    return tied[0] if len(tied) == 1 else lm.random("vote").choice(tied)


def self_consistency(
    lm: LM,
    task: Task,
    problem: Problem,
    *,
    k: int = 8,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_tokens: int | None = None,
) -> Outcome:
    """``k`` sampled chains of thought (one call each, in parallel up to the run's
    concurrency), then the majority answer."""
    completions = lm.complete_each(
        [task.prompt(problem)] * k,
        purpose="self-consistency sample",
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens or task.max_tokens,
        stop=list(task.stop),
    )
    keys = [answer_key(task, problem, c.text) for c in completions]
    winner = majority(keys, lm)
    text = next((c.text for c, key in zip(completions, keys, strict=True) if key == winner), "")
    if winner is None and completions:
        text = completions[0].text
    votes = Counter(key for key in keys if key is not None)
    return Outcome(text, winner, {"samples": len(completions), "votes": dict(votes)})
