"""rlCoP end to end on a few built-in problems with tiny budgets: models, data, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from palestra.core.search import mcts
from palestra.prove.attempt import ProofAttempt
from palestra.prove.rlcop import (
    GuidedEvaluator,
    SearchSettings,
    load_evaluator,
    proof_line,
    prove_guided,
    read_results,
    train,
    training_rows,
)
from palestra.prove.rlcop_config import RlcopConfig
from palestra.prove.world import connection_world

BUILTIN = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "tptp" / "m2k"
PROBLEMS = ["t12_yellow_0", "t14_relat_1", "t29_xboole_1", "t9_xboole_1"]


@pytest.fixture
def problems(tmp_path: Path) -> Path:
    folder = tmp_path / "problems"
    folder.mkdir()
    for name in PROBLEMS:
        (folder / f"{name}.p").write_text((BUILTIN / f"{name}.p").read_text())
    return folder


def _cfg(problems: Path, runs: Path, **kw: object) -> RlcopConfig:
    base: dict = dict(
        problems=problems,
        iterations=2,
        inference_limit=600,
        playouts_per_step=40,
        rounds=5,
        num_leaves=4,
        runs=runs,
        progress=False,
    )
    return RlcopConfig(**{**base, **kw})


class _Interrupt(Exception):
    pass


def test_iterations_run_save_models_and_resume(problems: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    seen: list[str] = []

    def die_after_two(result: ProofAttempt) -> None:
        seen.append(result.problem)
        if len(seen) == 2:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(_cfg(problems, runs), on_result=die_after_two)
    (run_dir,) = (runs / "rlcop").iterdir()
    assert len(read_results(run_dir / "iter_0" / "results.jsonl")) == 2

    again: list[str] = []
    out = train(_cfg(problems, runs, resume=True), on_result=lambda r: again.append(r.problem))
    assert out == run_dir  # the same run, continued
    assert sorted(again[:2]) == sorted(set(PROBLEMS) - set(seen))  # done ones are skipped
    for i in range(2):
        results = read_results(run_dir / f"iter_{i}" / "results.jsonl")
        assert sorted(r.problem for r in results) == sorted(PROBLEMS)
        for r in results:
            assert r.status in ("Theorem", "InfLimit", "GaveUp")
            assert r.inferences <= 600
            if r.status == "Theorem":
                assert r.checked and r.proof["start"]["rule"] == "extension"
        assert len(list((run_dir / f"iter_{i}" / "data").glob("*.npz"))) == len(PROBLEMS)
        assert (run_dir / f"iter_{i}" / "summary.json").exists()
    meta = json.loads((run_dir / "iter_1" / "model" / "model.json").read_text())
    assert meta["policy"] and meta["policy_rows"] > 0
    assert (run_dir / "iter_1" / "model" / "policy.txt").exists()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [s["iteration"] for s in summary["iterations"]] == [0, 1]
    assert summary["iterations"][0]["proved"] >= 2

    # the guided evaluator: priors are a distribution over the legal actions
    ev = load_evaluator(run_dir / "iter_1" / "model")
    assert isinstance(ev, GuidedEvaluator)
    state = connection_world(path=BUILTIN / "t12_yellow_0.p")
    state.apply(state.legal_actions()[0])
    p = ev.prior(state)
    assert len(p) == len(state.legal_actions()) and sum(p) == pytest.approx(1.0)
    assert 0.0 <= ev.value(state) <= 1.0

    # the same model with its trees gzip-compressed (as shipped) scores the same
    import gzip
    import shutil

    packed = tmp_path / "packed"
    shutil.copytree(run_dir / "iter_1" / "model", packed)
    for part in ("policy", "value"):
        text = (packed / f"{part}.txt").read_bytes()
        (packed / f"{part}.txt.gz").write_bytes(gzip.compress(text))
        (packed / f"{part}.txt").unlink()
    other = load_evaluator(packed)
    assert other is not ev and other.prior(state) == p and other.value(state) == ev.value(state)

    # prove_guided: the plain prover's keys, a checked proof; a run dir finds its model
    result = prove_guided(BUILTIN / "t29_xboole_1.p", run_dir, inference_limit=2000, seed=0)
    for key in ("status", "inferences", "seconds", "proof", "checked", "playouts"):
        assert key in result.to_json()
    assert result.status == "Theorem" and result.checked


def test_parallel_jobs_give_the_same_results(problems: Path, tmp_path: Path) -> None:
    one = train(_cfg(problems, tmp_path / "a", iterations=1))
    two = train(_cfg(problems, tmp_path / "b", iterations=1, jobs=2))

    def key(d: Path) -> list:
        rs = read_results(d / "iter_0" / "results.jsonl")
        return sorted((r.problem, r.status, r.inferences) for r in rs)

    assert key(one) == key(two)


def test_the_shipped_model_proves_and_a_missing_one_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from palestra.core.errors import PalestraError
    from palestra.prove import rlcop

    result = prove_guided(BUILTIN / "t29_xboole_1.p", "default", inference_limit=2000)
    assert result.status == "Theorem" and result.checked and result.guided
    monkeypatch.setattr(rlcop, "DEFAULT_MODEL", tmp_path / "nothing")
    with pytest.raises(PalestraError, match="default"):
        prove_guided(BUILTIN / "t29_xboole_1.p", "default")


def test_training_rows_follow_the_found_proof() -> None:
    start = connection_world(path=BUILTIN / "t107_funct_1.p")
    r = mcts(start, None, playouts_per_step=20, budget=5000, seed=0)
    assert r.solved and r.big_steps > 0
    line = proof_line(start, r.solution)
    assert len(line) == r.solution.inferences  # one state per inference of the proof
    assert start.inferences == 0 and not start.is_proved()  # replayed on clones
    end = line[-1][0].clone()
    end.apply(line[-1][1])
    assert end.is_proved()

    s = SearchSettings(negatives=2, discount=0.9)
    data = training_rows(start, r, s)
    branching = [(st, a) for st, a in line if len(st.legal_actions()) > 1]
    # policy: every action of a branching proof state, 1 for the proof's own action
    assert len(data["policy_y"]) == sum(len(st.legal_actions()) for st, _ in branching)
    assert sum(data["policy_y"]) == len(branching)
    # value: the proof states at discount ** (steps to the end), off-proof children 0
    positives = [y for y in data["value_y"] if y > 0]
    assert sorted(positives) == sorted(0.9 ** (len(line) - k) for k in range(len(line)))
    off = sum(min(len(st.legal_actions()) - 1, 2) for st, _ in branching)
    assert len(data["value_y"]) - len(positives) == off

    # rlCoP's targets instead: each reported node's children at their share of its visits
    visits = training_rows(start, r, SearchSettings(policy_target="visits"))
    nodes = [n for n in r.nodes if sum(n.visits) > 0 and len(n.actions) > 1]
    assert nodes
    assert len(visits["policy_y"]) == sum(len(n.actions) for n in nodes)
    assert sum(visits["policy_y"]) == pytest.approx(len(nodes))
    assert visits["value_y"] == training_rows(start, r, SearchSettings())["value_y"]
    with pytest.raises(ValueError, match="policy_target"):
        RlcopConfig(policy_target="nope")

    # a failed attempt: its committed roots, value 0, no policy rows
    hard = connection_world(path=BUILTIN / "t12_yellow_0.p")
    lost = mcts(hard, None, playouts_per_step=5, budget=30, rollout_depth=0, seed=0)
    assert not lost.solved and lost.big_steps > 0
    data = training_rows(hard, lost, s)
    assert data["policy_y"] == [] and set(data["value_y"]) <= {0.0}
    assert len(data["value_y"]) == lost.big_steps


def test_attempts_on_a_local_ray_cluster_match_local_ones(problems: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        on_ray = train(_cfg(problems, tmp_path / "ray", ray="local"))  # joins the cluster
    finally:
        ray.shutdown()
    local = train(_cfg(problems, tmp_path / "local"))

    def key(d: Path, i: int) -> list:
        rs = read_results(d / f"iter_{i}" / "results.jsonl")
        return sorted((r.problem, r.status, r.inferences, r.checked) for r in rs)

    for i in range(2):  # iteration 1 is guided: the model's files travelled to the workers
        assert key(on_ray, i) == key(local, i)
        assert len(list((on_ray / f"iter_{i}" / "data").glob("*.npz"))) == len(PROBLEMS)
