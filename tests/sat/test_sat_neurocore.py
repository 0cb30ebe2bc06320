"""Amortised guidance: queries every ``interval`` conflicts, at most ``max_queries``, answers
checked; the core labels; a tiny trained network through ``palestra sat solve --guide``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import palestra
from palestra.models.sat_core import SatCoreConfig, SatCoreGNN
from palestra.sat.bench_guided import par2
from palestra.sat.cnf import Status
from palestra.sat.dimacs import write_dimacs
from palestra.sat.families import colouring, pigeonhole
from palestra.sat.neurocore import (
    NeuroCoreOptions,
    NeuroCoreTrainConfig,
    core_labels,
    solve_neurocore,
    train_neurocore,
)

SRC = Path(palestra.__file__).parents[1]


@pytest.fixture(scope="module")
def net() -> SatCoreGNN:
    torch.manual_seed(0)
    return SatCoreGNN(SatCoreConfig(dim=8, heads=2, rounds=2)).eval()


def test_queries_follow_interval_and_budget(net: SatCoreGNN) -> None:
    php = pigeonhole(8, 7, np.random.default_rng(0)).cnf  # thousands of conflicts
    opts = NeuroCoreOptions(interval=50, max_queries=3, max_focus=5)
    r, st = solve_neurocore(php, net, opts)
    assert r.status is Status.UNSATISFIABLE
    assert st.queries == 3 and len(st.query_seconds) == 3
    assert st.chunks == 5  # CaDiCaL alone, three guided chunks, then unbounded
    assert r.conflicts > 4 * 50
    assert 0 < st.focus_decisions <= 3 * 5 and r.guided == st.focus_decisions
    none, st0 = solve_neurocore(php, net, NeuroCoreOptions(interval=50, max_queries=0))
    assert none.status is Status.UNSATISFIABLE and st0.queries == 0 and st0.focus_decisions == 0


def test_easy_formula_never_pays_for_the_network(net: SatCoreGNN) -> None:
    cnf = colouring(20, 30, 3, np.random.default_rng(1)).cnf
    r, st = solve_neurocore(cnf, net, NeuroCoreOptions(interval=10_000))
    assert r.status is Status.SATISFIABLE and r.checked and st.queries == 0
    assert cnf.check_model(r.model or [])


def test_models_are_checked_on_guided_runs(net: SatCoreGNN) -> None:
    for seed in range(3):
        cnf = colouring(60, 130, 3, np.random.default_rng(seed), planted=True).cnf
        r, _ = solve_neurocore(cnf, net, NeuroCoreOptions(interval=1, max_queries=4, scale=5))
        assert r.status is Status.SATISFIABLE and r.checked and cnf.check_model(r.model or [])


def test_core_labels() -> None:
    rng = np.random.default_rng(0)
    sat, core = core_labels(pigeonhole(4, 3, rng).cnf)
    assert not sat and core.all()  # PHP's only core is all of it
    inst = pigeonhole(5, 4, rng)
    # Pad with a satisfiable part on fresh variables: outside every core.
    padded = type(inst.cnf)(inst.cnf.num_vars + 2, [*inst.cnf.clauses, [21, 22]])
    sat, core = core_labels(padded)
    assert not sat and not core[20] and not core[21]


def test_par2() -> None:
    assert par2([1.0, None], 10.0) == pytest.approx(10.5)


def test_tiny_trained_model_through_the_cli(tmp_path: Path) -> None:
    cfg = NeuroCoreTrainConfig(
        per_family=4,
        satlib_sets=(),
        dim=8,
        heads=2,
        rounds=2,
        steps=5,
        batch_size=4,
        runs_root=tmp_path / "runs",
    )
    folder, metrics = train_neurocore(cfg)
    assert (folder / "model.safetensors").exists() and "planning (held out)" in metrics
    path = tmp_path / "php.cnf"
    write_dimacs(pigeonhole(7, 6, np.random.default_rng(2)).cnf, path)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    args = ["sat", "solve", str(path), "--guide", "network", "--interval", "20"]
    proc = subprocess.run(
        [sys.executable, "-m", "palestra.cli", *args, "--core-model", str(folder), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 20, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "UNSATISFIABLE" and record["queries"] >= 1


def test_the_bench_part_runs_every_solver_on_every_family(tmp_path) -> None:
    """One instance per family through the CaDiCaL-path part: every answer is compared with
    the instance's known status (a wrong one stops the bench), and the report has its table."""
    from palestra.core.bench import Bench
    from palestra.sat.bench_guided import amortised_guidance

    bench = Bench("sat-guided", quick=True, seed=0, out_dir=tmp_path)
    data = amortised_guidance(bench, per_family=1, time_limit=2.0, variants=False)
    assert data and bench.tables and bench.figures
    for table in bench.tables:  # a column per value, a header per column
        assert all(len(row) == len(table["headers"]) for row in table["rows"]), table["title"]
