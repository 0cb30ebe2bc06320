"""NeuroCore inside the compiled CDCL: the guide hook (``cdcl.GuideHook``) keeps the C core
and the Python reference identical, respects its interval and query budget, reaches the
decisions, changes nothing when it never fires; guided answers are checked (models, DRUP);
``palestra sat solve --solver cdcl --guide network`` takes this path."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import palestra
from palestra.models.sat_core import SatCoreConfig, SatCoreGNN
from palestra.sat.cdcl import CDCLConfig, GuideHook, solve_cdcl
from palestra.sat.cnf import CNF, Status
from palestra.sat.dimacs import write_dimacs
from palestra.sat.drup import check_drup
from palestra.sat.families import colouring, pigeonhole, random_3sat
from palestra.sat.neurocore import CoreGuideOptions, solve_cdcl_guided

SRC = Path(palestra.__file__).parents[1]


def _counts(r: object) -> tuple:
    return (r.status, r.decisions, r.conflicts, r.propagations, r.learned, r.restarts)  # type: ignore[attr-defined]


class Recorder:
    """A deterministic callback that records its arguments."""

    def __init__(self, seed: int, phases: bool = False) -> None:
        self.calls: list[tuple[bytes, bytes | None]] = []
        self.seed, self.phases = seed, phases

    def __call__(self, root: bytes, learnt: bytes | None) -> tuple:
        self.calls.append((root, learnt))
        n = len(root) - 1
        rng = np.random.default_rng([self.seed, len(self.calls)])
        ph = rng.choice(np.array([-1, 0, 1], dtype=np.int8), n + 1) if self.phases else None
        return rng.random(n + 1) * 3, ph


@pytest.mark.parametrize("restart", [False, True])
def test_c_core_and_reference_agree_under_guidance(restart: bool) -> None:
    rng = np.random.default_rng(5)
    for k in range(4):
        cnf = random_3sat(50 + 5 * k, rng).cnf
        runs = []
        for engine in ("python", "c"):
            rec = Recorder(k, phases=k % 2 == 1)
            hook = GuideHook(
                rec, interval=9, first=k, max_queries=5, scale=1.5, learnt=7, restart=restart
            )
            cfg = CDCLConfig(vsids=True, restarts=True, luby_unit=10, guide=hook)
            r = solve_cdcl(cnf, None, cfg, engine=engine)  # type: ignore[arg-type]
            runs.append((_counts(r), r.proof, r.model, rec.calls))
        assert runs[0] == runs[1]
        assert runs[0][3], "the hook never fired"


def test_interval_and_query_budget() -> None:
    php = pigeonhole(8, 7, np.random.default_rng(0)).cnf  # thousands of conflicts
    rec = Recorder(0)
    hook = GuideHook(rec, interval=40, first=25, max_queries=6, learnt=10**9)
    r = solve_cdcl(php, None, CDCLConfig(vsids=True, restarts=True, guide=hook), engine="c")
    assert r.status is Status.UNSATISFIABLE and r.conflicts > 25 + 6 * 40
    assert len(rec.calls) == 6
    # Each conflict learns one clause: a non-unit one in `learnt`, or a unit, fixed at the
    # root. So between queries `interval` conflicts show as (new learnt + new root values).
    seen = []
    for root, learnt in rec.calls:
        assert learnt is not None
        nonunit = int((np.frombuffer(learnt, dtype=np.int32) == 0).sum())
        seen.append(nonunit + int(np.count_nonzero(np.frombuffer(root, dtype=np.int8))))
    assert seen[0] >= 25
    assert all(b - a >= 40 for a, b in itertools.pairwise(seen))
    # A callback that answers None skips: nothing counted against the budget, no refocus.
    calls = []
    skip = GuideHook(lambda root, learnt: calls.append(1), interval=40, max_queries=2)
    s = solve_cdcl(php, None, CDCLConfig(vsids=True, restarts=True, guide=skip), engine="c")
    plain = solve_cdcl(php, None, CDCLConfig(vsids=True, restarts=True), engine="c")
    assert _counts(s) == _counts(plain) and len(calls) > 2


def test_without_queries_the_counts_are_unchanged() -> None:
    rng = np.random.default_rng(3)
    for _ in range(3):
        cnf = random_3sat(60, rng).cnf
        plain = solve_cdcl(cnf, None, CDCLConfig(vsids=True, restarts=True), engine="c")
        for hook in (
            GuideHook(Recorder(0), max_queries=0),
            GuideHook(Recorder(0), first=10**9),
        ):
            cfg = CDCLConfig(vsids=True, restarts=True, guide=hook)
            assert _counts(solve_cdcl(cnf, None, cfg, engine="c")) == _counts(plain)
            assert _counts(solve_cdcl(cnf, None, cfg, engine="python")) == _counts(plain)


def test_scores_and_phases_reach_the_decisions() -> None:
    # (x1 | x2) & (x3 | x4): no conflict, so the decisions alone make the model.
    cnf = CNF(4, [[1, 2], [3, 4]])
    plain = solve_cdcl(cnf, None, CDCLConfig(vsids=True), engine="c")
    assert plain.model == [1, 2, 3, 4]  # positive literals occur, negative ones do not

    def guide(weights: list[float]) -> GuideHook:
        w = np.array(weights, dtype=np.float64)
        return GuideHook(lambda r, l: (w, np.full(5, -1, dtype=np.int8)), first=0)

    for engine in ("c", "python"):
        # x2 first, negative: x1 is implied; x4 before x3 likewise.
        r = solve_cdcl(
            cnf, None, CDCLConfig(vsids=True, guide=guide([0, 1, 2, 3, 4])), engine=engine
        )  # type: ignore[arg-type]
        assert r.model == [1, -2, 3, -4]
        r = solve_cdcl(
            cnf, None, CDCLConfig(vsids=True, guide=guide([0, 4, 3, 2, 1])), engine=engine
        )  # type: ignore[arg-type]
        assert r.model == [-1, 2, -3, 4]


def test_bad_callback_answers_are_errors() -> None:
    cnf = CNF(3, [[1, 2], [-1, 3]])
    for answer in (
        (np.zeros(3), None),  # one short
        (np.zeros(4, dtype=np.float32), None),
        (np.array([0, 1, -1, 0.0]), None),
        (np.zeros(4), np.zeros(4, dtype=np.int64)),
    ):
        for engine in ("c", "python"):
            hook = GuideHook(lambda r, l, a=answer: a, first=0)
            with pytest.raises(ValueError, match="guide"):
                solve_cdcl(cnf, None, CDCLConfig(vsids=True, guide=hook), engine=engine)  # type: ignore[arg-type]

    def boom(root: bytes, learnt: bytes | None) -> None:
        raise KeyError("from the callback")

    for engine in ("c", "python"):
        with pytest.raises(KeyError, match="from the callback"):
            cfg = CDCLConfig(vsids=True, guide=GuideHook(boom, first=0))
            solve_cdcl(cnf, None, cfg, engine=engine)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="VSIDS"):
        solve_cdcl(cnf, None, CDCLConfig(guide=GuideHook(Recorder(0))))


@pytest.fixture(scope="module")
def net() -> SatCoreGNN:
    torch.manual_seed(0)
    return SatCoreGNN(SatCoreConfig(dim=8, heads=2, rounds=2)).eval()


def test_network_guided_answers_are_checked(net: SatCoreGNN) -> None:
    opts = CoreGuideOptions(
        interval=30, first=0, max_queries=5, learnt=50, phases=True, max_share=1.0
    )
    php = pigeonhole(7, 6, np.random.default_rng(1)).cnf
    r, st = solve_cdcl_guided(php, net, opts)
    assert r.status is Status.UNSATISFIABLE and 1 <= st.queries <= 5
    assert check_drup(php, r.proof or [])
    for seed in range(3):
        cnf = colouring(40, 80, 3, np.random.default_rng(seed), planted=True).cnf
        r, st = solve_cdcl_guided(cnf, net, opts)
        assert r.status is Status.SATISFIABLE and r.checked and cnf.check_model(r.model or [])
        assert st.queries >= 1
    plain, st0 = solve_cdcl_guided(php, None, opts)
    assert st0.queries == 0 and plain.status is Status.UNSATISFIABLE
    control, st1 = solve_cdcl_guided(php, net, replace(opts, shuffle=True))
    assert control.status is Status.UNSATISFIABLE and st1.queries >= 1
    assert check_drup(php, control.proof or [])
    # No focus where the predicted core is nearly everything: the plain search, exactly.
    none, st2 = solve_cdcl_guided(php, net, replace(opts, max_core_share=0.0))
    assert st2.queries >= 1 and none.conflicts == plain.conflicts


def test_cli_solver_cdcl_guide_network(tmp_path: Path, net: SatCoreGNN) -> None:
    folder = net.save_pretrained(tmp_path / "core")
    path = tmp_path / "php.cnf"
    write_dimacs(pigeonhole(7, 6, np.random.default_rng(2)).cnf, path)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "palestra.cli", "sat", "solve", str(path), "--guide", "network"]
    proc = subprocess.run(
        [*base, "--solver", "cdcl", "--interval", "20", "--core-model", str(folder), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 20, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "UNSATISFIABLE" and record["checked"] is True
    assert record["solver"] == "cdcl-neurocore" and record["queries"] >= 1
    bad = subprocess.run(
        [*base, "--solver", "dpll"], capture_output=True, text=True, timeout=60, env=env
    )
    assert bad.returncode == 2 and "error" in bad.stderr
