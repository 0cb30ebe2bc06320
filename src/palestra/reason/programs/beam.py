"""Beam search over solution steps: grow solutions one line at a time and keep the ``beam``
partial solutions a verifier scores highest (step-level search with a value, as in Yao et al.
2023's breadth-first Tree of Thoughts and Xie et al. 2023's self-evaluation guided beam
search; a verifier of prefixes, as Cobbe et al. 2021's token-level one and the process
reward models of Uesato et al. 2022 and Lightman et al. 2023).

**A step** is one line. A partial solution ``s`` (its lines so far, joined by newlines; the
root is the empty solution) is continued by completing ``task.prompt(problem) + s + "\\n"``
(the prompt alone at the root) with the stop strings ``"\\n"`` and the task's and at most
``max_step_tokens`` tokens: the completion is the next line.

**The search.** At depth ``d = 1, 2, ..., max_steps``, each partial of the beam (best first)
gets ``expand`` continuations, one call each (:meth:`~palestra.reason.programs.core.LM.
complete_each`: the calls are numbered, hence seeded, in that order before they are sent, so
a run is reproduced call for call by its seed whatever the concurrency). Candidate ``i`` of
the depth is continuation ``i mod expand`` of partial ``i div expand``:

- a continuation that is empty (whitespace only) or cut at ``max_step_tokens`` (finish
  ``"length"``) is *dead*: it makes no candidate, and a partial all of whose ``expand``
  continuations die leaves the search;
- a candidate whose text was already made (by this run, at any depth) is kept once, the first;
- a candidate whose new line says "The answer is X" (the chain-of-thought convention that
  every task's answer extraction reads, :func:`palestra.reason.answers.extract_the_answer_is`)
  is *finished*: scored by ``verifier.score`` and set aside;
- the others are scored as partials (below); the ``beam`` highest, ties to the earlier
  candidate, are the next depth's beam.

The search stops when the beam is empty or after ``max_steps`` depths. At most
``expand * (1 + beam * (max_steps - 1))`` calls.

**Scoring partials.** With the verifier's ``score_partial(problem, partial)`` where it has one
(:meth:`ArithmeticVerifier.score_partial <palestra.reason.programs.best_of_n.
ArithmeticVerifier.score_partial>`: the share of the lines so far that are true arithmetic;
:func:`~palestra.reason.wordproblems.arithmetic_score` itself gives 0 to a text without an
answer line), else with its ``score`` (a learned verifier, trained token by token, scores any
prefix). Every score must be in [0, 1].

**The answer.** The finished candidate scored highest (ties: the first finished); if none
finished, the best partial of the deepest beam that held one (its text, and the answer the
task's extraction reads from it). A call the budget has no room for ends the search with
what it has (:class:`~palestra.reason.programs.core.BudgetExhausted` caught, as
self-consistency does); so does a prompt the model refuses as too long for its context (a
partial outgrew it). At the first depth, where there is nothing to answer with, both end the
run (``stopped="budget"`` or ``"context"``, an empty text).

``info``: ``scores`` (per depth, the scores of its live candidates, in order), ``kept`` (per
depth, the indices in ``scores`` of those kept in the beam, best first), ``finished`` (the
scores of the finished candidates, in the order they finished), ``chosen`` (the index of the
answer in ``finished``, or in its beam when ``chosen_from`` is ``"beam"``; None with no
candidate), ``score``, ``expansions`` (continuations received), ``dead``, ``duplicates``,
``depth`` (depths searched) and ``ended``: ``"done"`` (the beam emptied), ``"max_steps"``,
``"budget"`` or ``"context"``.

What it does not do: no lookahead or rollouts to value a partial (the verifier's score is the
value), no length normalisation, no backtracking beyond the beam; a step is a line (a model
that writes two steps on one line takes them as one); a partial's ``expand`` continuations are
separate calls (``n = 1``), not one ``n``-sample request; it does not stop early when a
finished candidate scores 1; finished candidates never compete with partials.
"""

from __future__ import annotations

from typing import Any

from palestra.core.errors import PalestraError
from palestra.lm.backends import BackendError, refused_for_context
from palestra.reason.answers import extract_the_answer_is
from palestra.reason.programs.best_of_n import Verifier, _score
from palestra.reason.programs.core import LM, BudgetExhausted, Outcome, answer_key
from palestra.reason.task import Problem, Task

__all__ = ["score_partial", "step_beam"]


def score_partial(verifier: Verifier, problem: Problem, partial: str) -> float:
    """The verifier's score of a partial solution: its ``score_partial`` where it has one,
    else its ``score``; an error unless in [0, 1]."""
    scorer = getattr(verifier, "score_partial", None)
    if scorer is None:
        return _score(verifier, problem, partial)
    s = float(scorer(problem, partial))
    if not 0.0 <= s <= 1.0:  # NaN fails too
        raise PalestraError(f"a verifier's score must be in [0, 1], got {s}")
    return s


def step_beam(
    lm: LM,
    task: Task,
    problem: Problem,
    *,
    verifier: Verifier,
    beam: int = 4,
    expand: int = 4,
    max_steps: int = 8,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_step_tokens: int = 64,
) -> Outcome:
    """Beam search over lines, scored by ``verifier`` (the module doc)."""
    for name, value in (
        ("beam", beam),
        ("expand", expand),
        ("max_steps", max_steps),
        ("max_step_tokens", max_step_tokens),
    ):
        if value < 1:
            raise PalestraError(f"{name} must be at least 1, got {value}")
    prompt = task.prompt(problem)
    stop = list(dict.fromkeys(["\n", *task.stop]))
    frontier: list[tuple[str, float]] = [("", 1.0)]  # the root: the empty solution
    deepest: list[tuple[str, float]] = []  # the deepest beam that held a partial
    finished: list[tuple[str, float]] = []
    seen: set[str] = set()
    scores: list[list[float]] = []
    kept: list[list[int]] = []
    expansions = dead = duplicates = 0
    ended = "max_steps"
    for depth in range(1, max_steps + 1):
        if not frontier:
            ended = "done"
            break
        prompts = [prompt + (text + "\n" if text else "") for text, _ in frontier]
        try:
            completions = lm.complete_each(
                [p for p in prompts for _ in range(expand)],
                purpose=f"beam step {depth}",
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_step_tokens,
                stop=stop,
            )
        except BudgetExhausted:
            if depth == 1:
                raise
            ended = "budget"
            break
        except BackendError as e:
            if depth == 1 or not refused_for_context(e):
                raise
            ended = "context"
            break
        if len(completions) < len(prompts) * expand:
            ended = "budget"  # the budget admitted a prefix of the depth's calls
        expansions += len(completions)
        depth_scores: list[float] = []  # of the depth's live candidates, in order
        partials: list[int] = []  # the indices of those not finished
        texts: list[str] = []
        for i, c in enumerate(completions):
            if c.finish_reason == "length" or not c.text.strip():
                dead += 1
                continue
            parent = frontier[i // expand][0]
            text = f"{parent}\n{c.text}" if parent else c.text
            if text in seen:
                duplicates += 1
                continue
            seen.add(text)
            texts.append(text)
            if extract_the_answer_is(c.text) is not None:
                finished.append((text, _score(verifier, problem, text)))
                depth_scores.append(finished[-1][1])
            else:
                partials.append(len(depth_scores))
                depth_scores.append(score_partial(verifier, problem, text))
        order = sorted(partials, key=lambda j: (-depth_scores[j], j))[:beam]
        frontier = [(texts[j], depth_scores[j]) for j in order]
        scores.append(depth_scores)
        kept.append(order)
        if frontier:
            deepest = frontier
        if ended == "budget":
            break
    else:
        ended = "max_steps" if frontier else "done"
    info: dict[str, Any] = {
        "scores": scores,
        "kept": kept,
        "finished": [s for _, s in finished],
        "expansions": expansions,
        "dead": dead,
        "duplicates": duplicates,
        "depth": len(scores),
        "ended": ended,
    }
    if finished:
        best = max(range(len(finished)), key=lambda j: (finished[j][1], -j))
        text, score, source = *finished[best], "finished"
    elif deepest:
        best, (text, score), source = 0, deepest[0], "beam"
    else:
        return Outcome("", None, {**info, "chosen": None, "chosen_from": None, "score": None})
    info.update(chosen=best, chosen_from=source, score=score)
    return Outcome(text, answer_key(task, problem, text), info)
