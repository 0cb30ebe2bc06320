"""LM programs: language models as components that search and checking compose (Dohan et al.
2022, "Language Model Cascades"), one readable module each, over the one
:class:`~palestra.lm.backends.Backend` interface (a URL or a model in process):

- :mod:`~palestra.reason.programs.core`: the traced, budgeted, seeded handle ``LM``,
  :func:`run_program`, budgets and traces;
- :mod:`~palestra.reason.programs.cot`: chain of thought (one completion);
- :mod:`~palestra.reason.programs.self_consistency`: maj@k (Minerva), self-consistency;
- :mod:`~palestra.reason.programs.best_of_n`: the verifier hook, best-of-n reranking and the
  rejection sampler with its exact law;
- :mod:`~palestra.reason.programs.tools`: tool use (the calculator, a sandboxed Python);
- :mod:`~palestra.reason.programs.beam`: beam search over solution steps, one line a step,
  partial solutions scored by the verifier hook (``score_partial`` where a verifier has one);
- :mod:`~palestra.reason.programs.selection_inference`: selection-inference (Creswell et al.
  2022), selection and inference as separate calls, each step checked (the rule chains: by
  the connection prover) and redrawn when rejected;
- :mod:`~palestra.reason.programs.scripted`: a scripted in-process backend for tests.

:data:`PROGRAMS` names them for ``palestra eval TASK --program NAME`` (which runs a program
once per sample, with the run directory, resume, per-sample records and report of ``palestra
eval``; :mod:`palestra.reason.evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable

from palestra.reason.programs.beam import step_beam
from palestra.reason.programs.best_of_n import (
    ArithmeticVerifier,
    Verifier,
    best_of_n,
    rejection_distribution,
    rejection_sample,
)
from palestra.reason.programs.core import (
    LM,
    Budget,
    BudgetExhausted,
    Call,
    Outcome,
    Result,
    answer_key,
    call_seed,
    run_program,
)
from palestra.reason.programs.cot import chain_of_thought
from palestra.reason.programs.selection_inference import selection_inference
from palestra.reason.programs.self_consistency import self_consistency
from palestra.reason.programs.tools import calculator, python_tool, tool_use

__all__ = [
    "LM",
    "PROGRAMS",
    "VERIFIERS",
    "ArithmeticVerifier",
    "Budget",
    "BudgetExhausted",
    "Call",
    "Outcome",
    "Result",
    "Verifier",
    "answer_key",
    "best_of_n",
    "calculator",
    "call_seed",
    "chain_of_thought",
    "make_verifier",
    "python_tool",
    "rejection_distribution",
    "rejection_sample",
    "run_program",
    "selection_inference",
    "self_consistency",
    "step_beam",
    "tool_use",
]

PROGRAMS: dict[str, Callable[..., Outcome]] = {
    "cot": chain_of_thought,
    "sc": self_consistency,
    "best-of-n": best_of_n,
    "reject": rejection_sample,
    "tool": tool_use,
    "beam": step_beam,
    "si": selection_inference,
}
VERIFIERS: dict[str, Callable[[], Verifier]] = {"arithmetic": ArithmeticVerifier}


def make_verifier(name: str, check_only: bool = False) -> Verifier | None:
    """The verifier ``name`` names: a key of :data:`VERIFIERS`, or ``learned:DIR`` (a run of
    ``palestra train verifier``, :class:`palestra.reason.verifier.LearnedVerifier`). With
    ``check_only``, only check that it exists (None)."""
    from pathlib import Path

    from palestra.core.errors import PalestraError

    if name.startswith("learned:"):
        path = Path(name.removeprefix("learned:"))
        if not (path / "verifier.json").is_file():
            raise PalestraError(f"{path}: not a verifier folder (no verifier.json)")
        if check_only:
            return None
        from palestra.reason.verifier import LearnedVerifier

        return LearnedVerifier(path)
    if name not in VERIFIERS:
        known = ", ".join([*VERIFIERS, "learned:DIR"])
        raise PalestraError(f"unknown verifier {name!r}; known: {known}")
    return None if check_only else VERIFIERS[name]()
