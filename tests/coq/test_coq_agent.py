"""The agent: episodes with lessons, parallel workers stopped by the first verified proof,
the worker protocol, and the loop driven by a real (tiny) language model over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from palestra.coq.agent import _worker, prove_coq, run_episodes
from palestra.coq.config import ProveCoqConfig
from palestra.coq.idetop import SessionPool
from palestra.coq.proposers import LLMProposer, PortfolioProposer
from palestra.coq.search import CoqProblem, SearchBudget, open_problem
from palestra.coq.verify import safe_verify
from palestra.core.errors import PalestraError
from palestra.core.jobs import JobRunner

from .conftest import COQ_DATA, require_coq

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "coq" / "minif2f"


@pytest.fixture(scope="module")
def pool() -> Iterator[SessionPool]:
    require_coq()
    with SessionPool(max_idle=1, timeout=3.0) as shared:
        yield shared


def _workers_left() -> list[str]:
    """Python processes whose parent is this one (workers still running)."""
    out = subprocess.run(
        ["ps", "-o", "pid=,comm=", "--ppid", str(os.getpid())], capture_output=True, text=True
    )
    return [line for line in out.stdout.splitlines() if "python" in line]


def _orphaned_coqidetop() -> set[str]:
    """``coqidetop`` processes adopted by init: what a worker killed without cleanup leaves."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True)
    rows = [line.split() for line in out.stdout.splitlines()]
    return {r[0] for r in rows if len(r) == 3 and r[1] == "1" and r[2].startswith("coqidetop")}


def test_episodes_write_lessons_and_find_a_verified_proof(pool: SessionPool) -> None:
    source = (COQ_DATA / "sum_to.v").read_text()
    problem = CoqProblem.from_source(source)
    with open_problem(problem, pool) as (coq, base):
        portfolio = PortfolioProposer.for_source(source)
        result = run_episodes(problem, portfolio, coq, base, edits=4, budget=SearchBudget(60))
    assert result.proved and result.proof is not None, result.lessons
    assert safe_verify(source, result.proof).accepted
    assert result.lessons and result.lessons[0].startswith("Episode 1: reached")
    assert "failed" in " ".join(result.log)  # the checker's errors were read


def test_two_workers_first_verified_proof_wins(tmp_path: Path) -> None:
    require_coq()
    cfg = ProveCoqConfig(SHIPPED / "mathd_algebra_123.v", search="episodes", workers=2, budget=60)
    orphans = _orphaned_coqidetop()
    out = prove_coq(cfg)
    assert out["status"] == "proved" and out["checked"] is True
    assert safe_verify((SHIPPED / "mathd_algebra_123.v").read_text(), out["proof"]).accepted
    assert [w["worker"] for w in out["workers"]] == [0, 1]
    assert out["workers"][out["winner"]]["status"] == "proved"
    assert {w["status"] for w in out["workers"]} <= {"proved", "stopped"}
    assert out["checker_calls"] == sum(w["checker_calls"] for w in out["workers"])
    assert _workers_left() == [] and _orphaned_coqidetop() <= orphans  # nothing left behind
    json.dumps(out)


def test_a_worker_stops_when_told(tmp_path: Path) -> None:
    """The runner's stop signal (SIGUSR1) ends a worker's search with status stopped."""
    require_coq()
    hard = tmp_path / "big.v"  # false, and most tactics compute with unary numbers until timeout
    hard.write_text("Require Import Arith.\nTheorem big : 2 ^ 20 * 3 = 3145727.\n")
    cfg = ProveCoqConfig(hard, search="best-first", budget=120)
    orphans = _orphaned_coqidetop()
    with JobRunner(workers=1, grace_s=30.0) as jobs:
        jobs.submit(_worker, 1, cfg, cfg.file.read_text())
        time.sleep(5.0)  # once it searches
        (stopped,) = jobs.stop()
    answer = stopped.value
    assert stopped.status == "stopped" and answer is not None
    assert answer["status"] == "stopped" and answer["reason"] == "stopped"
    assert answer["worker"] == 1 and answer["proof"] is None
    assert _orphaned_coqidetop() <= orphans  # its coqidetop was closed


def test_failures_and_errors_are_clean(tmp_path: Path) -> None:
    require_coq()
    out = prove_coq(ProveCoqConfig(COQ_DATA / "unprovable.v", budget=3, max_calls=40))
    assert out["status"] == "failed" and out["checked"] is False and out["proof"] is None
    assert out["workers"][0]["reason"] in ("time", "calls", "exhausted")
    empty = tmp_path / "empty.v"
    empty.write_text("Require Import Arith.\n")
    with pytest.raises(PalestraError, match=r"empty\.v: no Theorem"):  # a user error, one line
        prove_coq(ProveCoqConfig(empty))


# ------------------------------------------------------------------ a real model over HTTP
@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    pytest.importorskip("torch")
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.serve_config import ServeConfig
    from palestra.lm.server import ModelServer
    from palestra.lm.train import train

    cfg = LMTrainConfig(
        task="addition",
        tokenizer="byte",  # any text is a valid prompt
        digits=2,
        n_layer=1,
        n_head=2,
        d_model=32,
        block_size=64,
        steps=20,
        batch_size=16,
        lr=3e-3,
        warmup=5,
        eval_every=20,
        checkpoint_every=20,
        eval_examples=4,
        runs_root=tmp_path_factory.mktemp("runs"),
        progress=False,
    )
    run_dir = train(cfg)
    with ModelServer(ServeConfig(run_dir, host="127.0.0.1", port=0, model_name="tiny")) as srv:
        yield srv.url, "tiny"


def test_llm_proposer_loop_feeds_errors_back(
    pool: SessionPool, tiny_server: tuple[str, str]
) -> None:
    from palestra.lm.backends import OpenAIBackend

    url, model = tiny_server
    source = (COQ_DATA / "unprovable.v").read_text()
    problem = CoqProblem.from_source(source)
    llm = LLMProposer(
        OpenAIBackend(url, model), mode="proof", n=2, max_tokens=12, max_prompt_chars=40
    )
    llm.set_statement(problem.statement)
    with open_problem(problem, pool) as (coq, base):
        result = run_episodes(
            problem, llm, coq, base, edits=3, max_episodes=2, budget=SearchBudget(60, 100)
        )
    assert not result.proved and result.proof is None
    assert llm.calls >= 2 and not llm.errors  # the server answered every request
    # what Coq said about the model's text came back in the next request's feedback
    assert any("failed" in f for f in llm.feedback[1:]), (llm.feedback, result.log)
    assert len(result.lessons) == 2


def test_prove_coq_with_the_llm_proposer_fails_cleanly(tiny_server: tuple[str, str]) -> None:
    url, model = tiny_server
    cfg = ProveCoqConfig(
        COQ_DATA / "unprovable.v",
        proposer="llm",
        llm_url=url,
        llm_model=model,
        llm_max_tokens=12,
        llm_prompt_chars=40,
        search="episodes",
        edits=2,
        budget=8,
        max_calls=30,
    )
    out = prove_coq(cfg)
    assert out["status"] == "failed" and out["checked"] is False
    assert out["lessons"]
