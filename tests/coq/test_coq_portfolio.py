"""The tactic portfolio proves real miniF2F statements, and safe verify accepts the proofs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from palestra.coq.idetop import SessionPool
from palestra.coq.portfolio import PortfolioConfig, prove_with_portfolio

from .conftest import COQ_DATA, require_coq


@pytest.fixture(scope="module")
def pool() -> Iterator[SessionPool]:
    require_coq()
    with SessionPool(max_idle=2) as shared:
        yield shared


@pytest.mark.parametrize("name", ["mathd_algebra_109", "mathd_numbertheory_102", "aime_1984_p15"])
def test_portfolio_proves_minif2f(pool: SessionPool, name: str) -> None:
    source = (COQ_DATA / "minif2f" / f"{name}.v").read_text()
    result = prove_with_portfolio(source, pool=pool, config=PortfolioConfig(hammer=False))
    assert result.proved and result.proof is not None and result.tactic is not None
    assert result.verdict is not None and result.verdict.accepted
    assert result.attempts[-1].outcome == "proved"
    assert result.proof.rstrip().endswith(f"{result.tactic}.\nQed.")


def test_portfolio_reuses_the_warm_session(pool: SessionPool) -> None:
    starts = pool.starts
    source = (COQ_DATA / "minif2f" / "mathd_algebra_109.v").read_text()
    config = PortfolioConfig(hammer=False, verify=False)
    assert prove_with_portfolio(source, pool=pool, config=config, tactics=("lra",)).proved
    assert pool.starts == starts  # same preamble as an earlier test: no new session


def test_portfolio_reports_failures(pool: SessionPool, coq_data: Path) -> None:
    source = (coq_data / "statement.v").read_text()
    result = prove_with_portfolio(
        source, pool=pool, config=PortfolioConfig(hammer=False), tactics=("auto", "lra")
    )
    assert not result.proved and result.proof is None
    assert [(a.tactic, a.outcome) for a in result.attempts] == [("auto", "open"), ("lra", "error")]


def test_lia_knows_nat_mod_through_the_support_imports(pool: SessionPool) -> None:
    """ZifyNat is among the support Requires: lia alone proves a fact about nat's mod."""
    source = (
        "Require Import Arith.\n"
        "Theorem m : forall n : nat, n mod 6 = 5 -> (2 * n + 1) mod 3 = 2.\nProof.\nAdmitted.\n"
    )
    result = prove_with_portfolio(
        source, pool=pool, config=PortfolioConfig(hammer=False), tactics=("intros; lia",)
    )
    assert result.proved and result.verdict is not None and result.verdict.accepted
