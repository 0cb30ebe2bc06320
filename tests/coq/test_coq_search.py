"""Best-first search over coqidetop states: proves what one tactic cannot, caches, budgets."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest

from palestra.coq.idetop import SessionPool
from palestra.coq.portfolio import PortfolioConfig, prove_with_portfolio
from palestra.coq.proposers import PortfolioProposer, Proposal
from palestra.coq.script import CoqScriptError
from palestra.coq.search import (
    CoqProblem,
    GoalCache,
    SearchBudget,
    best_first_search,
    open_problem,
)
from palestra.coq.verify import safe_verify

from .conftest import COQ_DATA, require_coq


@pytest.fixture(scope="module")
def pool() -> Iterator[SessionPool]:
    require_coq()
    with SessionPool(max_idle=2, timeout=3.0) as shared:
        yield shared


@pytest.fixture(scope="module")
def sum_to() -> CoqProblem:
    return CoqProblem.from_source((COQ_DATA / "sum_to.v").read_text())


class Scripted:
    """Proposes fixed tactics per goal conclusion (the last line of the goal's text)."""

    name = "scripted"

    def __init__(self, table: dict[str, list[str]], default: Sequence[str] = ()) -> None:
        self.table = table
        self.default = list(default)
        self.calls = 0

    def propose(
        self, goal_state: str, history: Sequence[str], feedback: str = ""
    ) -> list[Proposal]:
        self.calls += 1
        conclusion = goal_state.split("\n\n")[0].splitlines()[-1]
        tactics = self.table.get(conclusion, self.default)
        return [Proposal(t, 1.0 / (k + 1)) for k, t in enumerate(tactics)]


def test_problem_candidate_file(sum_to: CoqProblem) -> None:
    assert sum_to.name == "sum_to_closed"
    text = sum_to.candidate(["intros", "induction n. simpl."])
    assert text.endswith("Proof.\n  intros.\n  induction n. simpl.\nQed.\n")
    assert "Hammer" not in text and "Hammer" in sum_to.candidate(["sauto"])


def test_best_first_proves_what_the_portfolio_cannot(pool: SessionPool, sum_to: CoqProblem) -> None:
    plain = prove_with_portfolio(sum_to.source, pool=pool, config=PortfolioConfig(hammer=False))
    assert not plain.proved  # no closing tactic proves it at the top level
    proposer = PortfolioProposer.for_source(sum_to.source)
    with open_problem(sum_to, pool) as (coq, base):
        result = best_first_search(sum_to, proposer, coq, base, budget=SearchBudget(60, 400))
        assert coq.tip == base  # the session is left where the search found it
    assert result.proved and result.reason == "proved", result.log
    assert len(result.tactics) >= 2 and any("induction" in t for t in result.tactics)
    assert result.verdict is not None and result.verdict.accepted
    assert result.proof is not None and safe_verify(sum_to.source, result.proof).accepted
    assert 0 < result.checker_calls <= 400


def test_goal_cache_prevents_re_expansion(pool: SessionPool, sum_to: CoqProblem) -> None:
    # three ways to the same state, one tactic that changes nothing, then nothing works
    proposer = Scripted(
        {"forall n : nat, 2 * sum_to n = n * (n + 1)": ["intros", "intro n", "intros n", "idtac"]},
        default=["exact I"],
    )
    cache = GoalCache()
    with open_problem(sum_to, pool) as (coq, base):
        result = best_first_search(sum_to, proposer, coq, base, cache=cache)
    assert not result.proved and result.reason == "exhausted"
    assert result.expansions == 2 and proposer.calls == 2  # the root and one child
    assert result.cache_hits == 2 and len(cache) == 2
    root = "=" * 8 + "\nforall n : nat, 2 * sum_to n = n * (n + 1)"
    assert cache.failed_at(root) == {"idtac"}  # no progress: remembered, not pushed


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        (SearchBudget(seconds=60, checker_calls=3), "calls"),
        (SearchBudget(seconds=1.5, checker_calls=10_000), "time"),
        (SearchBudget(should_stop=lambda: True), "stopped"),
    ],
)
def test_budgets_stop_the_search(
    pool: SessionPool, sum_to: CoqProblem, budget: SearchBudget, reason: str
) -> None:
    # tactics that never end: each runs into its 1 s timeout
    spins = [f"let rec spin{k} := idtac; spin{k} in spin{k}" for k in range(4)]
    looping = Scripted({}, default=spins)
    with open_problem(sum_to, pool) as (coq, base):
        budget.start = time.perf_counter()
        result = best_first_search(sum_to, looping, coq, base, budget=budget, tactic_timeout=1.0)
    assert not result.proved and result.reason == reason
    if reason == "calls":
        assert result.checker_calls == 3 and result.expansions == 1
    if reason == "stopped":
        assert result.checker_calls == 0 and result.expansions == 0


FUNCTION_EQUATION = """Require Import Reals.
Open Scope R_scope.
Theorem line_through_two_points
  (a b : R)
  (f : R -> R)
  (h0 : forall x, f x = a * x + b)
  (h1 : f 7 = 4)
  (h2 : f 6 = 3) :
  f 3 = 0.
Proof.
Admitted.
"""


def test_best_first_unfolds_a_function_equation_everywhere(pool: SessionPool) -> None:
    """``rewrite !h0 in *`` turns the hypotheses about f into linear facts lra can use."""
    problem = CoqProblem.from_source(FUNCTION_EQUATION)
    proposer = PortfolioProposer.for_source(FUNCTION_EQUATION, hammer=False)
    with open_problem(problem, pool) as (coq, base):
        result = best_first_search(problem, proposer, coq, base, budget=SearchBudget(60, 400))
    assert result.proved, result.log
    assert any(t.startswith("rewrite !h0") for t in result.tactics)
    assert result.proof is not None and safe_verify(FUNCTION_EQUATION, result.proof).accepted


CHEAT = "Axiom cheat : False.\nTheorem t : 1 + 1 = 3.\n"


@pytest.mark.parametrize("allow", [(), ("cheat",)])
def test_search_proves_with_the_statement_files_axiom_only_when_allowed(
    pool: SessionPool, allow: tuple[str, ...]
) -> None:
    """Coq's session closes the proof either way; safe verify decides, with the problem's
    allow-list (#22: the statement file's own axiom is not trusted by default)."""
    problem = CoqProblem.from_source(CHEAT, allow_axioms=allow)
    with open_problem(problem, pool) as (coq, base):
        result = best_first_search(
            problem, Scripted({}, ["destruct cheat."]), coq, base, budget=SearchBudget(60, 50)
        )
    assert result.proved == bool(allow)
    assert result.verdict is not None and result.verdict.accepted == bool(allow)
    if not allow:
        assert result.rejected == 1 and "statement file itself assumes" in result.verdict.reason


def test_a_coq_error_in_the_statement_file_names_its_line_and_column(pool: SessionPool) -> None:
    source = "Require Import Arith.\nDefinition x := 1.\nDefinition y : nat := foo.\n"
    source += "Theorem t : x = 1.\n"
    problem = CoqProblem.from_source(source, file="s.v")
    with pytest.raises(CoqScriptError) as e, open_problem(problem, pool):
        pass
    assert str(e.value).startswith("s.v:3:23: The reference foo was not found")
