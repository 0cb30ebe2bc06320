"""The coqidetop client: add, goals, errors, edit_at, timeouts, crashes, the pool."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from palestra.coq.idetop import CoqCrashed, CoqError, CoqSession, CoqTimeout, SessionPool

from .conftest import require_coq


@pytest.fixture
def coq() -> Iterator[CoqSession]:
    require_coq()
    with CoqSession(timeout=2.0) as session:
        yield session
    assert session.pid is None  # closed: no coqidetop left behind


def test_add_goals_and_qed(coq: CoqSession) -> None:
    coq.add("Require Import Arith.")
    assert not coq.proof_state().in_proof
    coq.add("Goal forall n : nat, n + 0 = n.")
    [goal] = coq.goals()
    assert goal.conclusion == "forall n : nat, n + 0 = n" and goal.hypotheses == ()
    coq.add("intros n.")
    [goal] = coq.goals()
    assert goal.hypotheses == ("n : nat",) and goal.conclusion == "n + 0 = n"
    coq.add("induction n; simpl; auto.")
    assert coq.goals() == [] and coq.proof_state().complete
    coq.add("Qed.")
    assert not coq.proof_state().in_proof


def test_error_keeps_last_good_state(coq: CoqSession) -> None:
    s = coq.add("Goal forall n : nat, n = n.")
    with pytest.raises(CoqError) as info:
        coq.add("intros n; apply foo.")
    assert "foo" in info.value.message and info.value.location == (16, 19)
    assert coq.tip == s
    with pytest.raises(CoqError, match="Syntax error"):
        coq.add("intros n; (")
    coq.add("reflexivity.")
    assert coq.goals() == []


def test_auto_can_succeed_without_closing_the_goal(coq: CoqSession) -> None:
    coq.add("Goal forall a b : nat, a + b = b + a.")
    coq.add("auto.")  # no error...
    assert len(coq.goals()) == 1  # ...but the goal is still there
    with pytest.raises(CoqError, match="incomplete"):
        coq.add("Qed.")


def test_edit_at_rewinds(coq: CoqSession) -> None:
    coq.add("Require Import Arith.")
    s = coq.add("Goal forall a b : nat, a + b = b + a.")
    coq.add("intros a b.")
    coq.add("rewrite Nat.add_comm.")
    coq.edit_at(s)
    assert coq.goals()[0].conclusion == "forall a b : nat, a + b = b + a"
    assert coq.sentences[-1] == "Goal forall a b : nat, a + b = b + a."
    coq.add("intros; apply Nat.add_comm.")
    assert coq.goals() == []
    with pytest.raises(CoqError, match="not on the current path"):
        coq.edit_at(10_000)


def test_exec_reports_script_location(coq: CoqSession) -> None:
    script = "Goal True.\nexact I.\nQed.\nGoal False.\nexact I.\n"
    with pytest.raises(CoqError) as info:
        coq.exec(script)
    start, _ = info.value.location  # type: ignore[misc]
    assert script[start:].startswith("I.") and script.count("\n", 0, start) == 4


def test_hung_tactic_times_out_and_session_recovers(coq_data: Path) -> None:
    require_coq()
    with CoqSession(timeout=1.0) as coq:
        text = (coq_data / "hang.v").read_text()
        *setup, last = [line for line in text.splitlines() if line and not line.startswith("(*")]
        for sentence in setup:
            coq.add(sentence)
        before = coq.tip
        t0 = time.monotonic()
        with pytest.raises(CoqTimeout):
            coq.add(last)
        assert time.monotonic() - t0 < 5.0
        assert coq.tip == before
        coq.add("reflexivity.")
        assert coq.proof_state().complete
        coq.add("Qed.")
        coq.add(["Goal 2 + 2 = 4", "Proof", "reflexivity", "Qed."][0] + ".")
        coq.add("reflexivity.")
        assert coq.goals() == []


def test_killed_coqidetop_is_restarted(coq: CoqSession) -> None:
    coq.add("Definition seven := 7.")
    s = coq.add("Goal seven = 7.")
    old_pid = coq.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    time.sleep(0.05)
    coq.add("reflexivity.")  # the dead process is noticed, replaced and brought back to s
    assert coq.pid != old_pid and coq.starts == 2
    assert coq.goals() == []
    coq.edit_at(s)
    assert coq.goals()[0].conclusion == "seven = 7"


def test_crash_during_a_call_is_a_clear_error(coq: CoqSession) -> None:
    s = coq.add("Goal True.")
    pid = coq.pid
    assert pid is not None
    coq.add("Ltac spin := idtac; spin.")
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(CoqCrashed, match="died"):
        coq.add("spin.", timeout=30.0)
    assert coq.tip != s and coq.sentences[-1] == "Ltac spin := idtac; spin."
    coq.add("exact I.")
    assert coq.goals() == []


def test_query(coq: CoqSession) -> None:
    coq.add("Definition seven := 7.")
    assert "seven" in coq.query("Check seven.") and "nat" in coq.query("Check seven.")
    assert coq.sentences == ["Definition seven := 7."]


def test_pool_reuses_warm_sessions() -> None:
    require_coq()
    preamble = "Require Import Arith.\nRequire Import Lia.\n"
    with SessionPool(max_idle=1, timeout=5.0) as pool:
        for k in range(3):
            with pool.session(preamble) as coq:
                assert coq.sentences == ["Require Import Arith.", "Require Import Lia."]
                coq.add(f"Lemma l{k} : forall n : nat, n + {k} >= n.")
                coq.add("intros; lia.")
                coq.add("Qed.")
        assert pool.starts == 1
        with pool.session("Require Import Bool.") as coq:  # another preamble: a new session
            assert coq.sentences == ["Require Import Bool."]
        assert pool.starts == 2
