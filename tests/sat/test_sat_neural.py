"""The literal-clause graph network, its heuristics in DPLL / CDCL / CaDiCaL, training, solve."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pysat")

from palestra.models.sat_gnn import SatGNN, SatGNNConfig, build_graph  # noqa: E402
from palestra.sat.cadical import solve_cadical  # noqa: E402
from palestra.sat.cdcl import solve_cdcl  # noqa: E402
from palestra.sat.cnf import CNF, Status  # noqa: E402
from palestra.sat.config import SatGenConfig, SatSolveConfig, SatTrainConfig  # noqa: E402
from palestra.sat.dimacs import read_dimacs, write_dimacs  # noqa: E402
from palestra.sat.dpll import solve_dpll  # noqa: E402
from palestra.sat.drup import check_drup  # noqa: E402
from palestra.sat.generators import generate_sr_pair, label  # noqa: E402
from palestra.sat.heuristics import DLIS, BranchingView, JeroslowWang  # noqa: E402
from palestra.sat.neural import DEFAULT_MODEL, Hybrid, NeuralHeuristic, load_model  # noqa: E402
from palestra.sat.solve import gen, make_heuristic, solve  # noqa: E402

torch.set_num_threads(1)


def tiny_model(seed: int = 0) -> SatGNN:
    torch.manual_seed(seed)
    return SatGNN(SatGNNConfig(dim=16, heads=2, rounds=3)).eval()


def sr_pairs(k: int, n: int, seed: int = 0, variant: str = "hard") -> list:
    rng = np.random.default_rng(seed)
    return [generate_sr_pair(n, rng, variant) for _ in range(k)]  # type: ignore[arg-type]


def minisat(cnf: CNF) -> bool:
    return label(cnf).satisfiable


# -- the network ---------------------------------------------------------------------------


def test_shapes_and_batching_match_single_formulas() -> None:
    model = tiny_model()
    formulas = [(3, [[1, -2], [2, 3], [-1, -3]]), (2, [[1], [-1, 2], [-2, -1]]), (4, [[4, -1]])]
    with torch.no_grad():
        policy, sat = model(build_graph(formulas))
        all_p, all_s = model(build_graph(formulas), all_rounds=True)
    assert policy.shape == (2 * (3 + 2 + 4),) and sat.shape == (3,)
    assert all_p.shape == (3, 18) and all_s.shape == (3, 3)
    assert torch.allclose(all_p[-1], policy) and torch.allclose(all_s[-1], sat)
    start = 0
    for b, f in enumerate(formulas):
        with torch.no_grad():
            p1, s1 = model(build_graph([f]))
        assert torch.allclose(policy[start : start + 2 * f[0]], p1, atol=1e-5)
        assert torch.allclose(sat[b], s1[0], atol=1e-5)
        start += 2 * f[0]


def test_renaming_variables_permutes_literal_outputs() -> None:
    model = tiny_model(1)
    cnf = sr_pairs(1, 10, seed=3)[0].sat
    n = cnf.num_vars
    rng = np.random.default_rng(0)
    perm = rng.permutation(n) + 1  # variable v -> perm[v - 1]
    sign = np.where(rng.random(n) < 0.5, -1, 1)  # and maybe its polarity flipped

    def rename(lit: int) -> int:
        v = abs(lit)
        return int(perm[v - 1] * sign[v - 1] * (1 if lit > 0 else -1))

    renamed = [[rename(x) for x in c] for c in cnf.clauses]
    renamed = [renamed[i] for i in rng.permutation(len(renamed))]  # clause order too
    with torch.no_grad():
        p, s = model(build_graph([(n, cnf.clauses)]))
        q, t = model(build_graph([(n, renamed)]))

    def node(lit: int) -> int:
        return abs(lit) - 1 + (n if lit < 0 else 0)

    for v in range(1, n + 1):
        for lit in (v, -v):
            assert abs(float(p[node(lit)]) - float(q[node(rename(lit))])) < 1e-4
    assert abs(float(s[0]) - float(t[0])) < 1e-4


def test_a_few_training_steps_reduce_the_loss() -> None:
    from palestra.sat.train import generate_dataset

    data = generate_dataset(6, 6, 10, "hard", 0)
    torch.manual_seed(0)
    model = SatGNN(SatGNNConfig(dim=16, heads=2, rounds=3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g, sat, lab = data.batch(np.arange(len(data)))
    with torch.no_grad():
        _, first = model.loss(g, sat, lab)
    for _ in range(40):
        loss, metrics = model.loss(g, sat, lab)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        _, last = model.loss(g, sat, lab)
    assert last["loss"] < first["loss"] - 0.1
    assert last["policy_loss"] < 0.9 * first["policy_loss"]
    assert set(metrics) >= {"loss", "sat_acc", "policy_acc"}


def test_top1_terms_match_a_direct_computation() -> None:
    from palestra.models.sat_gnn import _jw_choice, _top1_loss

    model = tiny_model(3)
    pairs = sr_pairs(3, 9, seed=8)
    cnfs = [c for p in pairs for c in (p.sat, p.unsat)]
    labels = [label(c) for c in cnfs]
    g = build_graph([(c.num_vars, c.clauses) for c in cnfs])
    lab = torch.from_numpy(np.concatenate([x.literal_sat.reshape(-1) for x in labels]))
    sat = torch.tensor([x.satisfiable for x in labels])
    policy, _ = model(g, all_rounds=True)  # [R, Lit]
    jw = _jw_choice(g)
    got_rank = _top1_loss(policy, g, sat[g.lit_formula], lab)[-1]
    got_refute = _top1_loss(policy, g, ~sat[g.lit_formula], jw & ~sat[g.lit_formula])[-1]
    rank, refute = [], []
    for b, cnf in enumerate(cnfs):
        sel = g.lit_formula == b
        p = policy[-1][sel]
        # JW-OS's own pick is among the literals _jw_choice marks
        marked = torch.nonzero(jw[sel]).squeeze(1).tolist()
        n = cnf.num_vars
        lits = [i + 1 if i < n else -(i - n + 1) for i in marked]
        view = BranchingView(n, [0] * (2 * n + 1), [], lambda c=cnf: c.clauses)
        assert JeroslowWang().pick(view) in lits
        good = lab[sel] if labels[b].satisfiable else jw[sel]
        term = -(torch.logsumexp(p[good], 0) - torch.logsumexp(p, 0))
        (rank if labels[b].satisfiable else refute).append(term)
    assert torch.allclose(got_rank, torch.stack(rank).mean(), atol=1e-5)
    assert torch.allclose(got_refute, torch.stack(refute).mean(), atol=1e-5)


def test_path_states_are_satisfiable_with_refuted_siblings() -> None:
    from palestra.sat.train import _path_states

    rng = np.random.default_rng(0)
    for pair in sr_pairs(3, 20, seed=9):
        states = _path_states(pair.sat, 4, rng)
        on_path = [cnf for cnf, lab in states if lab is not None]
        siblings = [cnf for cnf, lab in states if lab is None]
        assert 1 <= len(on_path) <= 4 and len(siblings) <= len(on_path)
        for cnf, lab in states:
            cnf.validate()
            used = {abs(x) for c in cnf.clauses for x in c}
            assert used == set(range(1, cnf.num_vars + 1))  # renumbered 1..m
            if lab is not None:
                assert (
                    lab.satisfiable and label(cnf).literal_sat.tolist() == lab.literal_sat.tolist()
                )
        assert not any(minisat(c) for c in siblings)
        assert _path_states(pair.unsat, 4, rng) == []


def test_dataset_is_the_same_for_any_number_of_workers() -> None:
    from palestra.sat.train import generate_dataset

    one = generate_dataset(30, 6, 9, "mixed", 1, paths=2, workers=1)
    two = generate_dataset(30, 6, 9, "mixed", 1, paths=2, workers=2)
    for k in one.__dataclass_fields__:
        assert np.array_equal(getattr(one, k), getattr(two, k)), k
    assert len(one) > 60 and set(one.source.tolist()) == set(range(30))
    assert one.sat[:60].tolist() == [True, False] * 30  # members first, pair by pair


def test_load_model_can_run_other_rounds(tmp_path: Path) -> None:
    model = tiny_model(3)
    model.save_pretrained(tmp_path / "m")
    g = build_graph([(3, [[1, -2], [2, 3], [-1, -3]])])
    more = load_model(tmp_path / "m", rounds=5)
    assert more.cfg.rounds == 5 and load_model(tmp_path / "m").cfg.rounds == 3
    with torch.no_grad():
        assert torch.equal(more(g)[0], model(g, rounds=5)[0])
        assert not torch.equal(more(g)[0], model(g)[0])
    with pytest.raises(ValueError, match="rounds"):
        load_model(tmp_path / "m", rounds=-1)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = tiny_model(2)
    model.save_pretrained(tmp_path / "m")
    again = load_model(tmp_path / "m")
    g = build_graph([(3, [[1, -2], [2, 3]])])
    with torch.no_grad():
        assert torch.equal(model(g)[0], again(g)[0])
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg == {"dim": 16, "heads": 2, "rounds": 3}


# -- heuristics inside the solvers -------------------------------------------------------


@pytest.mark.parametrize("kind", ["neural", "hybrid"])
def test_neural_heuristics_in_dpll_and_cdcl_agree_with_minisat(kind: str) -> None:
    model = tiny_model()
    for pair in sr_pairs(3, 12, seed=5):
        for cnf in (pair.sat, pair.unsat):
            expected = minisat(cnf)
            h = NeuralHeuristic(model) if kind == "neural" else Hybrid(model)
            d = solve_dpll(cnf, h, max_steps=10_000)
            assert d.status is (Status.SATISFIABLE if expected else Status.UNSATISFIABLE)
            if expected:
                assert cnf.check_model(d.model)
            h = NeuralHeuristic(model) if kind == "neural" else Hybrid(model)
            c = solve_cdcl(cnf, h)
            assert c.status is d.status
            if expected:
                assert cnf.check_model(c.model)
            else:
                assert check_drup(cnf, c.proof).accepted


def test_hybrid_falls_back_below_the_threshold() -> None:
    model = tiny_model()
    cnf = sr_pairs(1, 10, seed=1)[0].sat
    always = Hybrid(model, threshold=0.0)
    never = Hybrid(model, threshold=1.01)
    solve_dpll(cnf, always)
    r = solve_dpll(cnf, never)
    assert always.fallback_picks == 0 and always.network_picks > 0
    assert never.network_picks == 0 and never.fallback_picks > 0
    assert r.steps == solve_dpll(cnf, JeroslowWang()).steps  # then it is JW-OS exactly


class _Recording:
    """Wraps a heuristic; keeps (the current formula, the pick) of every decision."""

    def __init__(self, h: object) -> None:
        self.h, self.log = h, []

    def pick(self, view: BranchingView) -> int:
        lit = self.h.pick(view)  # type: ignore[attr-defined]
        self.log.append(([list(c) for c in view.clauses()], lit))
        return lit


def _children_p_sat(model: SatGNN, clauses: list, k: int) -> tuple[list[int], list[float]]:
    """JW-OS's ``k`` best literals of ``clauses`` and the network's P(sat) of each child,
    recomputed independently of ``Hybrid`` (refuted child 0, emptied child 1)."""
    from palestra.sat.dpll import assume
    from palestra.sat.heuristics import top_literals
    from palestra.sat.neural import score_formula

    view = BranchingView(1, [0, 0, 0], [], lambda: clauses)
    top = top_literals(JeroslowWang().scores(view), k)
    p = []
    for x in top:
        child, refuted = assume(clauses, x)
        p.append(0.0 if refuted else score_formula(model, child)[2] if child else 1.0)
    return top, p


def test_hybrid_lookahead_takes_the_likeliest_satisfiable_child_of_jw_os_top_k() -> None:
    model = tiny_model(3)
    overruled = 0
    for pair in sr_pairs(2, 14, seed=6):
        for cnf in (pair.sat, pair.unsat):
            # One candidate: exactly JW-OS, in DPLL and in CDCL.
            one = Hybrid(model, threshold=0.0, lookahead=1)
            assert solve_cdcl(cnf, one).decisions == solve_cdcl(cnf, JeroslowWang()).decisions
            assert one.network_picks > 0 and one.fallback_picks == 0
            assert solve_dpll(cnf, Hybrid(model, threshold=0.0, lookahead=1)).steps == (
                solve_dpll(cnf, JeroslowWang()).steps
            )
            # Three: recompute every pick from the formula it was made on.
            rec = _Recording(Hybrid(model, threshold=0.0, lookahead=3))
            r = solve_cdcl(cnf, rec)
            assert r.status is (Status.SATISFIABLE if minisat(cnf) else Status.UNSATISFIABLE)
            assert len(rec.log) == r.decisions
            for clauses, lit in rec.log:
                if not clauses:
                    continue
                top, p = _children_p_sat(model, clauses, 3)
                assert lit == top[int(np.argmax(p))]
                overruled += lit != top[0]
    assert overruled > 0  # the lookahead did overrule JW-OS somewhere


def test_fail_first_takes_the_least_likely_satisfiable_child_where_p_sat_is_low() -> None:
    model = tiny_model(3)
    for pair in sr_pairs(2, 14, seed=6):
        for cnf in (pair.sat, pair.unsat):
            # threshold above 1: the network is never trusted, every pick fails first
            h = Hybrid(model, threshold=1.01, lookahead=3, fail_first=True)
            rec = _Recording(h)
            r = solve_cdcl(cnf, rec)
            assert r.status is (Status.SATISFIABLE if minisat(cnf) else Status.UNSATISFIABLE)
            if r.status is Status.UNSATISFIABLE:
                assert check_drup(cnf, r.proof).accepted
            for clauses, lit in rec.log:
                if not clauses:
                    continue
                top, p = _children_p_sat(model, clauses, 3)
                assert lit == top[int(np.argmin(p))]
            assert h.network_picks == sum(1 for c, _ in rec.log if c) > 0
    with pytest.raises(ValueError, match="fail_first"):
        Hybrid(model, fail_first=True)


def test_hybrid_lookahead_needs_a_scoring_fallback() -> None:
    from palestra.sat.heuristics import VSIDS

    model = tiny_model()
    with pytest.raises(TypeError, match="scores"):
        Hybrid(model, VSIDS(), lookahead=2)
    with pytest.raises(ValueError, match="lookahead"):
        Hybrid(model, lookahead=-1)
    Hybrid(model, DLIS(), lookahead=2)  # DLIS scores literals too


def test_guided_cadical_gives_checked_answers(satlib: Path) -> None:
    model = tiny_model()
    cases = [c for p in sr_pairs(2, 15, seed=2) for c in (p.sat, p.unsat)]
    cases += [read_dimacs(satlib / "uf50" / "uf50-01.cnf")]
    cases += [read_dimacs(satlib / "uuf50" / "uuf50-01.cnf")]
    for cnf in cases:
        expected = minisat(cnf)
        for h in (None, Hybrid(model), NeuralHeuristic(model), JeroslowWang()):
            r = solve_cadical(cnf, h, max_guided=20)
            assert r.status is (Status.SATISFIABLE if expected else Status.UNSATISFIABLE)
            assert r.checked == expected
            if expected:
                assert cnf.check_model(r.model) and len(r.model) == cnf.num_vars
            if h is not None and not isinstance(h, JeroslowWang):
                assert 0 < r.guided <= 20 or r.decisions == 0


def test_guided_cadical_reraises_the_heuristics_error() -> None:
    def broken(view: object) -> int:
        raise KeyError("boom")

    cnf = sr_pairs(1, 15, seed=4)[0].unsat
    with pytest.raises(KeyError, match="boom"):
        solve_cadical(cnf, broken)


# -- training, resume ----------------------------------------------------------------------


def _tiny_train_cfg(root: Path, **kw: object) -> SatTrainConfig:
    base = dict(
        n_min=5, n_max=8, pairs=6, dim=8, heads=2, rounds=2, steps=4, batch_size=4,
        checkpoint_every=2, log_every=1, run_name="t", runs_root=root,
    )  # fmt: skip
    base.update(kw)
    return SatTrainConfig(**base)  # type: ignore[arg-type]


def test_train_writes_a_model_and_resume_continues_exactly(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from palestra.sat.train import train

    whole = train(_tiny_train_cfg(tmp_path / "a"))
    assert (whole / "model.safetensors").exists() and (whole / "config.json").exists()
    run_dir = whole.parent
    assert (run_dir / "data.npz").exists()
    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "sat_acc", "policy_acc"} <= set(metrics[0])

    # A run "killed" after its step-2 checkpoint: drop what came later, then resume.
    shutil.copytree(run_dir, tmp_path / "b" / "t" / run_dir.name)
    cut = tmp_path / "b" / "t" / run_dir.name
    (cut / "checkpoints" / "step_000000004.pt").unlink()
    shutil.rmtree(cut / "model")
    resumed = train(_tiny_train_cfg(tmp_path / "b", resume=True))
    assert resumed.parent == cut
    a, b = (
        load_file(str(whole / "model.safetensors")),
        load_file(str(resumed / "model.safetensors")),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(x)["step"] for x in (cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == [
        json.loads(x)["step"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]


def test_a_second_stage_may_run_other_rounds_but_not_another_width(tmp_path: Path) -> None:
    from palestra.sat.train import train

    first = train(_tiny_train_cfg(tmp_path / "a", steps=2))
    second = train(_tiny_train_cfg(tmp_path / "b", steps=2, rounds=4, init=str(first)))
    assert json.loads((second / "config.json").read_text())["rounds"] == 4
    with pytest.raises(ValueError, match="differs"):
        train(_tiny_train_cfg(tmp_path / "c", steps=2, dim=12, init=str(first)))


def test_config_module_does_not_import_torch() -> None:
    code = "import sys, palestra.sat.config; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- solve and gen -------------------------------------------------------------------------


def test_solve_prints_competition_output_and_json(tmp_path: Path, capsys) -> None:
    model_dir = tiny_model().save_pretrained(tmp_path / "m")
    pair = sr_pairs(1, 12, seed=6)[0]
    write_dimacs(pair.sat, tmp_path / "sat.cnf")
    write_dimacs(pair.unsat, tmp_path / "unsat.cnf")

    r = solve(SatSolveConfig(file=tmp_path / "sat.cnf", solver="dpll", heuristic="jw"))
    out = capsys.readouterr().out.splitlines()
    assert "s SATISFIABLE" in out
    v_lines = [x for x in out if x.startswith("v ")]
    lits = [int(t) for x in v_lines for t in x.split()[1:]]
    assert lits[-1] == 0 and pair.sat.check_model(lits[:-1]) and r.checked
    assert all(len(x) <= 80 for x in out if x.startswith("v"))

    for solver in ("dpll", "cdcl", "cadical-guided"):
        for heuristic in ("hybrid", "dlis"):
            cfg = SatSolveConfig(
                file=tmp_path / "unsat.cnf", solver=solver, heuristic=heuristic,
                model=str(model_dir), json=True,
            )  # fmt: skip
            r = solve(cfg)
            printed = json.loads(capsys.readouterr().out)
            assert printed == {"file": str(cfg.file), "heuristic": heuristic, **r.to_json()}
            assert printed["status"] == "UNSATISFIABLE" and printed["model"] is None
            assert set(printed) >= {"status", "model", "decisions", "steps", "seconds", "checked"}
            assert printed["solver"] == solver and printed["decisions"] == r.decisions
            assert (printed["steps"] is None) == (solver != "dpll")  # DPLL's branching calls
            assert printed["checked"] == (solver == "cdcl")  # a verified DRUP proof

    r = solve(SatSolveConfig(file=tmp_path / "sat.cnf", solver="cadical", json=True))
    assert r.status is Status.SATISFIABLE and pair.sat.check_model(r.model) and r.checked
    capsys.readouterr()

    h = make_heuristic("hybrid", str(model_dir), rounds=6)
    assert isinstance(h, Hybrid) and h.neural.model.cfg.rounds == 6 and h.lookahead == 0
    cfg = SatSolveConfig(
        file=tmp_path / "sat.cnf", solver="cdcl", heuristic="hybrid", model=str(model_dir),
        lookahead=2, threshold=0.0, json=True,
    )  # fmt: skip
    r = solve(cfg)
    assert r.status is Status.SATISFIABLE and pair.sat.check_model(r.model) and r.checked
    assert make_heuristic("hybrid", str(model_dir), lookahead=2).lookahead == 2
    with pytest.raises(ValueError, match="hybrid heuristic only"):
        make_heuristic("neural", str(model_dir), lookahead=2)
    with pytest.raises(ValueError, match="hybrid only"):
        SatSolveConfig(file=tmp_path / "sat.cnf", heuristic="jw", lookahead=2)
    with pytest.raises(ValueError, match="fail_first"):
        SatSolveConfig(file=tmp_path / "sat.cnf", heuristic="hybrid", fail_first=True)
    h = make_heuristic("hybrid", str(model_dir), lookahead=2, fail_first=True)
    assert isinstance(h, Hybrid) and h.fail_first
    cfg = SatSolveConfig(
        file=tmp_path / "sat.cnf", solver="dpll", heuristic="neural", model=str(model_dir),
        rounds=6, json=True,
    )  # fmt: skip
    r = solve(cfg)
    assert r.status is Status.SATISFIABLE and pair.sat.check_model(r.model) and r.checked
    capsys.readouterr()


def test_gen_writes_dimacs_pairs(tmp_path: Path) -> None:
    paths = gen(SatGenConfig(n=8, count=2, seed=1, out=tmp_path / "sr"))
    assert [p.name for p in paths] == [
        "sr8-0000-sat.cnf", "sr8-0000-unsat.cnf", "sr8-0001-sat.cnf", "sr8-0001-unsat.cnf",
    ]  # fmt: skip
    assert [minisat(read_dimacs(p)) for p in paths] == [True, False, True, False]


# -- the shipped model -----------------------------------------------------------------------


def test_shipped_model_hybrid_beats_dlis_on_small_sr() -> None:
    """Does it learn: on seeded satisfiable SR(30) formulas (hard variant), DPLL with the
    shipped model's hybrid needs fewer steps in total than DLIS."""
    assert (DEFAULT_MODEL / "model.safetensors").exists(), "the shipped model is missing"
    assert (DEFAULT_MODEL / "model.safetensors").stat().st_size < 2_000_000
    model = load_model("default")
    hybrid_steps = dlis_steps = 0
    for pair in sr_pairs(6, 30, seed=123):
        h = solve_dpll(pair.sat, Hybrid(model), max_steps=1000)
        d = solve_dpll(pair.sat, DLIS(), max_steps=1000)
        assert h.status is Status.SATISFIABLE and pair.sat.check_model(h.model)
        hybrid_steps += h.steps
        dlis_steps += d.steps
    assert hybrid_steps < 0.8 * dlis_steps, (hybrid_steps, dlis_steps)


def test_bench_suite_runs_on_a_tiny_setting(tmp_path: Path, satlib: Path) -> None:
    from palestra.core.bench import Bench
    from palestra.sat.bench import SatBenchOptions, run

    model_dir = tiny_model().save_pretrained(tmp_path / "m")
    opt = SatBenchOptions(
        model=str(model_dir), dpll_sizes=(12,), dpll_per_size=2, max_steps=200, cdcl_n=10,
        cdcl_pairs=1, cadical_sizes=(20,), cadical_per_set=1, guided=5, satlib=str(satlib),
        speed_max_conflicts=200,
    )  # fmt: skip
    bench = Bench("sat", out_dir=tmp_path / "out", options=opt)
    run(bench)
    json_path, md_path = bench.write()
    names = [f["name"] for f in json.loads(json_path.read_text())["figures"]]
    assert "DPLL solved SR(12), hybrid" in names and "CDCL propagations/s" in names
    assert "hybrid win rate vs JW-OS, CDCL decisions" in names
    assert "hybrid lookahead-2 win rate vs JW-OS, CDCL decisions" in names
    md = md_path.read_text()
    assert "Experiment 3" in md and "dec. hybrid lookahead-2-guided" in md
    data = json.loads(json_path.read_text())["data"]["cdcl_decisions"]
    assert data["member"] == ["SAT", "UNSAT"] and len(data["hybrid lookahead-2"]) == 2


def test_bench_dpll_experiment_is_the_same_with_worker_processes(tmp_path: Path) -> None:
    from palestra.core.bench import Bench
    from palestra.sat.bench import SatBenchOptions, run

    model_dir = tiny_model().save_pretrained(tmp_path / "m")
    figures = []
    for workers in (1, 2):
        opt = SatBenchOptions(
            model=str(model_dir), dpll_sizes=(10, 14), dpll_per_size=3, max_steps=100,
            cdcl_n=8, cdcl_pairs=1, cadical_sizes=(12,), cadical_per_set=1, guided=3,
            satlib=str(tmp_path / "none"), speed_max_conflicts=50, workers=workers,
            dpll_lookahead=True, fail_first=True,
        )  # fmt: skip
        bench = Bench("sat", out_dir=tmp_path / f"out{workers}", options=opt)
        run(bench)
        json_path, _ = bench.write()
        figures.append(
            {
                f["name"]: f["value"]
                for f in json.loads(json_path.read_text())["figures"]
                if f["name"].startswith(("DPLL", "hybrid win rate", "hybrid lookahead-2"))
                and "CDCL" not in f["name"]
            }
        )
    assert "DPLL solved SR(14), hybrid lookahead-2 fail-first" in figures[0]
    assert len(figures[0]) == 10 and figures[0] == figures[1]
