"""FLoP: the proof replayed in the world, the curriculum, a tiny training run that resumes
exactly, and checked proofs. The problem is RA-1's 1*1 = 1, written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from palestra.core.errors import PalestraError
from palestra.core.verdict import Verdict
from palestra.prove import flop
from palestra.prove.checker import check
from palestra.prove.flop_config import FlopConfig

ONE_TIMES_ONE = """%theorem: mul(1,1) = 1
fof(zeroSuccessor,axiom, ! [X]: (o != s(X))).
fof(differentSuccessors,axiom, ! [X,Y]: (s(X) != s(Y) | X = Y)).
fof(additionZero,axiom, ! [X]: (plus(X,o) = X)).
fof(additionSuccessor,axiom, ! [X,Y]: (plus(X,s(Y)) = s(plus(X,Y)))).
fof(multiplicationZero,axiom, ! [X]: (mul(X,o) = o)).
fof(multiplicationSuccessor,axiom, ! [X,Y]: (mul(X,s(Y)) = plus(mul(X,Y),X))).
fof(myformula, conjecture, mul(s(o),s(o)) = s(o)).
"""


@pytest.fixture(scope="module")
def problem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flop") / "robinson_1m1__1.p"
    path.write_text(ONE_TIMES_ONE)
    return path


@pytest.fixture(scope="module")
def training(problem: Path) -> list[flop.TrainingProblem]:
    return flop.training_problems(FlopConfig(train=(problem,)))


def _cfg(runs: Path, problem: Path, **kw: object) -> FlopConfig:
    base: dict = dict(
        train=(problem,),
        runs=runs,
        steps=300,
        batch_steps=60,
        minibatch=16,
        epochs=2,
        dim=32,
        hidden=16,
        snapshot_every=120,
        stage_episodes=20,
        progress=False,
        seed=3,
    )
    return FlopConfig(**{**base, **kw})


def test_found_proof_replays_to_a_closed_checked_tableau(
    training: list[flop.TrainingProblem],
) -> None:
    (tp,) = training
    assert tp.proof and tp.proof[0].kind == "ext"
    end = flop.replay(tp.start, tp.proof)
    assert end.is_proved() and end.inferences == len(tp.proof)
    assert not tp.start.is_proved()  # the start state is left as it was
    assert check(tp.start.problem.matrix, end.proof()).accepted
    with pytest.raises(PalestraError, match="not legal"):
        flop.replay(tp.start, tp.proof[1:])


def test_environment_starts_along_the_proof(training: list[flop.TrainingProblem]) -> None:
    cfg = FlopConfig(proof_slack=2)
    env = flop.FlopEnv(training, cfg)
    n = len(training[0].proof or [])
    state, limit = env.start(0)
    assert env.curricula[0].start == n - 1
    assert state.inferences == n - 1 and limit == 1 + 2
    env.curricula[0].start = 0
    state, limit = env.start(0)
    assert state.inferences == 0 and limit == min(cfg.max_steps, n + 2)


def test_curriculum_moves_back_on_success_only() -> None:
    c = flop.Curriculum(start=5, decay=0.6, advance_at=0.9, stage_episodes=1000)
    for _ in range(50):
        assert not c.record(False)
    assert c.start == 5
    moved = [c.record(True) for _ in range(5)]
    assert moved == [False, False, False, False, True]  # 0.4, 0.64, 0.78, 0.87, 0.92
    assert c.start == 4 and c.success == 0.0 and c.episodes == 0
    c = flop.Curriculum(start=1, stage_episodes=3)
    assert [c.record(False) for _ in range(3)] == [False, False, True]  # the stage's end
    assert c.start == 0
    assert not any(c.record(True) for _ in range(10))  # the root: it stays
    assert c.start == 0


def _metrics(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in lines]


def test_training_resumes_with_identical_next_steps(
    tmp_path: Path, problem: Path, training: list[flop.TrainingProblem]
) -> None:
    import torch

    whole = flop.train(_cfg(tmp_path / "a", problem), problems=training)
    first = flop.train(_cfg(tmp_path / "b", problem), problems=training, stop_after=2)
    assert len(_metrics(first)) == 2
    again = flop.train(_cfg(tmp_path / "b", problem, resume=True), problems=training)
    assert again == first
    assert _metrics(whole) == _metrics(again)
    a = torch.load(whole / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(again / "model.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (whole / "models").glob("*.pt")) == [
        "step_000000120.pt",
        "step_000000240.pt",
    ]
    # a finished run continues to more steps
    more = flop.train(_cfg(tmp_path / "b", problem, resume=True, steps=400), problems=training)
    assert more == first and json.loads((more / "summary.json").read_text())["steps"] >= 400


def test_proofs_found_are_checked(
    tmp_path: Path,
    problem: Path,
    training: list[flop.TrainingProblem],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a run long enough for the curriculum to reach the root on this 10-step proof
    cfg = _cfg(
        tmp_path, problem, steps=8000, batch_steps=256, dim=64, hidden=32, stage_episodes=10**6
    )
    run = flop.train(cfg, problems=training)
    records = [json.loads(x) for x in (run / "proofs.jsonl").read_text().splitlines()]
    assert records and all(r["checked"] for r in records)
    result = flop.prove_file(problem, run, time_limit=20)
    assert result.proved and result.checked and flop.proof_length(result) == result.big_steps

    import palestra.prove.checker as checker

    monkeypatch.setattr(checker, "check", lambda m, p: Verdict.reject("tampered"))
    flop._AGENTS.clear()
    refused = flop.prove_file(problem, run, time_limit=20)
    assert not refused.proved and refused.status == "Error" and "tampered" in refused.error


def test_bench_evaluates_the_last_snapshot_before_a_collapse(tmp_path: Path) -> None:
    """Chosen on the run's training success only: the final model while it still succeeds,
    else the last snapshot taken while it did."""
    from palestra.prove.bench_flop import select_agent

    (tmp_path / "models").mkdir()
    snaps = [tmp_path / "models" / f"step_{k:09d}.pt" for k in (100, 200, 300)]
    rows = [(50, 0.2), (120, 0.95), (220, 0.9), (280, 0.0), (310, 0.0)]
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "success": v}) + "\n" for s, v in rows)
    )
    assert select_agent(tmp_path, snaps) == snaps[1]  # step 200: success 0.95 at step 120
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 310, "success": 0.9}) + "\n")
    assert select_agent(tmp_path, snaps) == tmp_path


def test_bench_flop_with_the_no_proof_arm(tmp_path: Path) -> None:
    """``palestra bench flop -o arms=proof,no-proof`` on a tiny Robinson folder: both arms
    train (the second from the root, in its own run folder beside the first), are evaluated,
    and the report compares them; a second call resumes both runs."""
    from palestra.core.bench import Bench, get_suite
    from palestra.prove.bench_flop import FlopBenchOptions

    root = tmp_path / "robinson"
    two = ONE_TIMES_ONE.replace("mul(s(o),s(o)) = s(o)", "plus(s(o),o) = s(o)")
    for sub in ("simple/final", "left_random/final", "random/final2"):
        (root / sub).mkdir(parents=True)
        (root / sub / "robinson_1p0__1.p").write_text(two)
    (root / "simple/final/robinson_1m1__1.p").write_text(ONE_TIMES_ONE)
    opts = FlopBenchOptions(
        problems=root, quick_sample=1, quick_steps=200, snapshot_every=100, time_limit=1.0,
        curve_time=0.5, eprover="no-such-eprover", arms=("proof", "no-proof"),
        runs=tmp_path / "runs",
    )  # fmt: skip
    bench = Bench("flop", quick=True, out_dir=tmp_path / "out", options=opts)
    get_suite("flop").run(bench)
    names = [f.name for f in bench.figures]
    assert "RA-1: solved by FLoP (no-proof) vs FLoP (proof)" in names
    arms = bench.data["arms"]
    assert set(arms) == {"proof", "no-proof"}
    assert Path(arms["no-proof"]["run_dir"]).parent.parent == tmp_path / "runs" / "no-proof"
    assert (
        json.loads((Path(arms["no-proof"]["run_dir"]) / "config.json").read_text())["proof"]
        == "none"
    )
    again = Bench("flop", quick=True, out_dir=tmp_path / "out2", options=opts)
    get_suite("flop").run(again)
    assert again.data["arms"]["no-proof"]["run_dir"] == arms["no-proof"]["run_dir"]
    bad = FlopBenchOptions(problems=root, arms=("x",))
    with pytest.raises(PalestraError, match="unknown FLoP arms"):
        get_suite("flop").run(Bench("flop", quick=True, out_dir=tmp_path / "o3", options=bad))
