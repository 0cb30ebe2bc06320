"""Verifiers over sampled solutions: best-of-n reranking and the rejection sampler (Dohan et
al. 2022, "Language Model Cascades", the verifier of section 3; Cobbe et al. 2021's
reranking).

**The hook.** A verifier is any object with ``score(problem, solution) -> float`` in [0, 1]
(:class:`Verifier`): the probability, as the verifier sees it, that ``solution`` is right. It
sees the problem and the text, never the gold answer. A learned verifier (trained on the
model's own right and wrong samples) plugs in here; :class:`ArithmeticVerifier` is the
hand-written one of the word problems (:func:`palestra.reason.wordproblems.arithmetic_score`).

**Best-of-n.** Sample ``n`` solutions, answer with the one the verifier scores highest (the
first of those tied).

**Rejection.** Draw solutions ``y_1, y_2, ...`` from the model (the proposal ``p``) and accept
``y_i`` with probability ``a(y_i) = score(problem, y_i)``, with ``u_i`` uniform from the run's
generator ``lm.random("rejection")``: accepted iff ``u_i < a(y_i)``; stop at the first
acceptance or after ``max_tries`` proposals (then the answer is the empty text: no answer).
Each try accepts with probability ``Z = sum_y p(y) a(y)``, independently, so (exactly)::

    P(output = y)   = p(y) a(y) / Z * (1 - (1 - Z)^m)       m = max_tries
    P(no output)    = (1 - Z)^m
    P(tries = t)    = (1 - Z)^(t-1) Z  for t < m,   (1 - Z)^(m-1)  for t = m

so as ``m`` grows the output tends to the posterior ``p(y) a(y) / Z`` -- the cascades paper's
``p(y | verified)``. :func:`rejection_distribution` computes this law for a finite proposal;
the tests check the sampler against it on a scripted backend.

What it does not do: a score outside [0, 1] is an error, not clipped; no verifier is trained
here (a later session's work); best-of-n's ``n`` samples are all drawn even when the first is
already scored 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from palestra.core.errors import PalestraError
from palestra.reason.programs.core import LM, Outcome, answer_key
from palestra.reason.task import Problem, Task

__all__ = [
    "ArithmeticVerifier",
    "Verifier",
    "best_of_n",
    "rejection_distribution",
    "rejection_sample",
]


@runtime_checkable
class Verifier(Protocol):
    """Scores a candidate solution: the probability that it is right, in [0, 1]."""

    def score(self, problem: Problem, solution: str) -> float: ...


class ArithmeticVerifier:
    """Word problems: the share of a solution's steps that are true arithmetic on numbers of
    the question or of earlier steps, halved when the answer is not the last step's result
    (:func:`palestra.reason.wordproblems.arithmetic_score`). Never reads the gold answer."""

    def score(self, problem: Problem, solution: str) -> float:
        from palestra.reason.wordproblems import arithmetic_score

        return arithmetic_score(problem.question, solution)

    def score_partial(self, problem: Problem, partial: str) -> float:
        """A solution not yet finished (its step lines so far, no answer line): the share of
        its lines that are true arithmetic on numbers of the question or of earlier steps --
        what :meth:`score` gives it once it ends with the answer its last step computed; 1 for
        no lines yet (nothing is wrong so far). A text whose last line is the answer line is
        scored by :meth:`score`. (Used by :mod:`~palestra.reason.programs.beam`, which scores
        partial solutions through a verifier's ``score_partial`` where it has one.)"""
        from palestra.reason.wordproblems import arithmetic_score

        last = partial.strip().split("\n")[-1].strip()
        if re.fullmatch(r"The answer is -?\d+(?:\.\d+)?\.?\s*", last):
            return self.score(problem, partial)
        # An answer of 0.5 equals no step's (integer) result, so arithmetic_score halves the
        # share of true steps exactly once (or gives 0.5 for no steps, or 0 when no step
        # parses): twice its score is the share, with no answer to check yet.
        return 2 * arithmetic_score(problem.question, f"{partial}\nThe answer is 0.5.")


def _score(verifier: Verifier, problem: Problem, text: str) -> float:
    s = float(verifier.score(problem, text))
    if not (0.0 <= s <= 1.0) or math.isnan(s):
        raise PalestraError(f"a verifier's score must be in [0, 1], got {s}")
    return s


def best_of_n(
    lm: LM,
    task: Task,
    problem: Problem,
    *,
    verifier: Verifier,
    n: int = 8,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_tokens: int | None = None,
) -> Outcome:
    """``n`` sampled solutions; the one the verifier scores highest."""
    completions = lm.complete_each(
        [task.prompt(problem)] * n,
        purpose="best-of-n sample",
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens or task.max_tokens,
        stop=list(task.stop),
    )
    scores = [_score(verifier, problem, c.text) for c in completions]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    text = completions[best].text
    return Outcome(text, answer_key(task, problem, text), {"scores": scores, "chosen": best})


def rejection_sample(
    lm: LM,
    task: Task,
    problem: Problem,
    *,
    verifier: Verifier,
    max_tries: int = 16,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_tokens: int | None = None,
) -> Outcome:
    """Propose, accept with probability ``score``; the first accepted (the module doc)."""
    if max_tries < 1:
        raise PalestraError(f"max_tries must be at least 1, got {max_tries}")
    rng = lm.random("rejection")
    scores = []
    for i in range(max_tries):
        [c] = lm.complete(
            task.prompt(problem),
            purpose=f"rejection proposal {i + 1}",
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens or task.max_tokens,
            stop=list(task.stop),
        )
        s = _score(verifier, problem, c.text)
        scores.append(s)
        if rng.random() < s:
            info = {"tries": i + 1, "accepted": True, "scores": scores}
            return Outcome(c.text, answer_key(task, problem, c.text), info)
    return Outcome("", None, {"tries": max_tries, "accepted": False, "scores": scores})


def rejection_distribution(
    proposal: Mapping[str, float], acceptance: Mapping[str, float], max_tries: int
) -> dict[str | None, float]:
    """The exact law of :func:`rejection_sample`'s output for a proposal over finitely many
    texts (``proposal[y] = p(y)``, summing to 1) and acceptance ``a(y)``; key ``None`` is "no
    output" (every try rejected)."""
    if abs(sum(proposal.values()) - 1) > 1e-9:
        raise PalestraError("the proposal's probabilities must sum to 1")
    z = sum(p * acceptance[y] for y, p in proposal.items())
    none = (1 - z) ** max_tries
    law: dict[str | None, float] = {
        y: (p * acceptance[y] / z * (1 - none) if z > 0 else 0.0) for y, p in proposal.items()
    }
    law[None] = none
    return law
