"""The fast paths of ``palestra sat``: CaDiCaL as the default solver with checked answers, the
compiled DRUP checker against the Python reference, and the compiled CDCL core against the
Python CDCL, count for count and learnt clause for learnt clause."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import palestra
from palestra.sat import ccdcl
from palestra.sat.cdcl import CDCLConfig, solve_cdcl
from palestra.sat.cnf import CNF, SolveResult, Status
from palestra.sat.config import SatSolveConfig
from palestra.sat.dimacs import read_dimacs, write_dimacs
from palestra.sat.drup import binary_to_text, check_drup
from palestra.sat.heuristics import DLIS, VSIDS, JeroslowWang, RandomHeuristic
from palestra.sat.plain import solve_plain
from palestra.sat.solve import check_answer, solve

from .test_sat_golden import GOLDEN, SATLIB

needs_c = pytest.mark.skipif(not ccdcl.available(), reason="C extensions not built")
SRC = Path(palestra.__file__).parents[1]


def _encode(lines: list[str]) -> bytes:
    """Text DRUP lines as binary DRAT (the format CaDiCaL writes)."""
    out = bytearray()
    for line in lines:
        words = line.split()
        out += b"d" if words[0] == "d" else b"a"
        for w in words[1:] if words[0] == "d" else words:
            lit = int(w)
            u = 0 if lit == 0 else 2 * abs(lit) + (lit < 0)
            while u > 0x7F:
                out.append((u & 0x7F) | 0x80)
                u >>= 7
            out.append(u)
    return bytes(out)


# --- the default solver ---------------------------------------------------------------------


def test_default_solver_answers_with_checks(satlib: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = SatSolveConfig(file=satlib / "uf50/uf50-01.cnf")
    assert (cfg.solver, cfg.branching) == ("cadical", "cadical")
    r = solve(cfg)
    assert r.solver == "cadical" and r.status is Status.SATISFIABLE and r.checked
    assert read_dimacs(cfg.file).check_model(r.model or [])
    assert "s SATISFIABLE" in capsys.readouterr().out

    r = solve(SatSolveConfig(file=satlib / "uuf50/uuf50-01.cnf"))
    assert r.status is Status.UNSATISFIABLE and r.checked and isinstance(r.proof, bytes)
    assert "checked true" in capsys.readouterr().out

    r = solve(SatSolveConfig(file=satlib / "uuf50/uuf50-01.cnf", check_proof=False))
    assert r.status is Status.UNSATISFIABLE and not r.checked and r.proof is None
    assert "c UNSAT unchecked" in capsys.readouterr().out

    with pytest.raises(ValueError, match="branches on its own"):
        SatSolveConfig(file=satlib / "uf50/uf50-01.cnf", heuristic="jw")


def test_plain_solver_edge_formulas() -> None:
    empty = solve_plain(CNF(3, [[1, 2], []]))
    assert empty.status is Status.UNSATISFIABLE and check_answer(CNF(3, [[1], []]), empty).checked
    r = check_answer(CNF(4, [[1, -2]]), solve_plain(CNF(4, [[1, -2]])))
    assert r.status is Status.SATISFIABLE and r.checked and len(r.model or []) == 4
    r = solve_plain(CNF(1, [[1], [-1]]))
    assert check_answer(CNF(1, [[1], [-1]]), r).checked


def test_a_tampered_proof_is_rejected(satlib: Path) -> None:
    cnf = read_dimacs(satlib / "uuf50/uuf50-01.cnf")
    r = solve_plain(cnf, proof_format="drat")
    assert isinstance(r.proof, bytes)
    lines = binary_to_text(r.proof)
    assert _encode(lines) == r.proof  # the decoder reads what CaDiCaL wrote
    for backward in (False, True):
        assert check_drup(cnf, r.proof, backward=backward)
    lemmas = [k for k, line in enumerate(lines) if not line.startswith("d")]
    cut = lemmas[: len(lemmas) // 2]
    tampered = [line for k, line in enumerate(lines) if k not in set(cut)]
    for proof in (_encode(tampered), tampered):
        for backward in (False, True):
            verdict = check_drup(cnf, proof, backward=backward)
            assert not verdict.accepted and "is not RUP" in verdict.reason
    bad = SolveResult("cadical", Status.UNSATISFIABLE, None, 0, 0, 0.0, proof=_encode(tampered))
    with pytest.raises(RuntimeError, match="failed DRUP checking"):
        check_answer(cnf, bad)
    for junk in (b"x\x02\x00", b"a\x02", b"a\xff\x7f\x00"):  # bad tag, no end, beyond vars
        assert not check_drup(cnf, junk).accepted


@needs_c
def test_compiled_checker_agrees_with_the_reference(satlib: Path) -> None:
    """Same verdict, reason and evidence on proofs with a line dropped, a deletion of a
    reason, a comment, a malformed line, and the binary form of each."""
    rng = np.random.default_rng(3)
    for name in ("uuf50/uuf50-01.cnf", "uuf75/uuf75-01.cnf"):
        cnf = read_dimacs(satlib / name)
        cadical = solve_plain(cnf, proof_format="drat").proof
        assert isinstance(cadical, bytes)
        for lines in (binary_to_text(cadical), solve_cdcl(cnf).proof or []):
            _agree(cnf, lines, rng)


def _agree(cnf: CNF, lines: list[str], rng: np.random.Generator) -> None:
    cases = [lines, ["c hello", *lines], [*lines[:3], "1 x 0", *lines[3:]], lines[:-1]]
    for _ in range(8):
        k = int(rng.integers(len(lines)))
        cases.append(lines[:k] + lines[k + 1 :])
        deletion = "d " + " ".join(map(str, cnf.clauses[k % len(cnf.clauses)])) + " 0"
        cases.append([*lines[:k], deletion, *lines[k:]])
    for case in cases:
        ref = check_drup(cnf, case, engine="python")
        assert check_drup(cnf, case, engine="c") == ref
        if all(x.strip() and x[0] != "c" and "x" not in x for x in case):
            binary = check_drup(cnf, _encode(case), engine="c")
            assert (binary.accepted, binary.evidence) == (ref.accepted, ref.evidence)
        if ref.accepted:
            assert check_drup(cnf, case, engine="c", backward=True).accepted


# --- the compiled CDCL ----------------------------------------------------------------------

RUNS = {
    "jw": (JeroslowWang, CDCLConfig()),
    "dlis": (DLIS, CDCLConfig()),
    "vsids+luby8": (lambda: None, CDCLConfig(vsids=True, restarts=True, luby_unit=8)),
    "vsids0.8-nomin": (lambda: VSIDS(0.8), CDCLConfig(minimize=False)),
    "random7": (lambda: RandomHeuristic(7), CDCLConfig()),
    "jw-budget": (JeroslowWang, CDCLConfig(max_conflicts=5, restarts=True, luby_unit=2)),
    "dlis-nodes": (DLIS, CDCLConfig(max_decisions=7, proof=False)),
}


def _same(cnf: CNF, run: str) -> SolveResult:
    make, config = RUNS[run]
    ref = solve_cdcl(cnf, make(), config, engine="python")
    fast = solve_cdcl(cnf, make(), config, engine="c")
    for field in ("status", "model", "decisions", "conflicts", "propagations", "learned"):
        assert getattr(fast, field) == getattr(ref, field), (run, field)
    assert (fast.restarts, fast.proof) == (ref.restarts, ref.proof), run  # the learnt clauses
    return fast


@needs_c
@pytest.mark.parametrize("name", list(GOLDEN))
def test_compiled_cdcl_matches_the_reference_on_golden_cases(name: str) -> None:
    if not (SATLIB / name).exists():
        pytest.skip(f"{SATLIB / name} not found (palestra data list)")
    cnf = read_dimacs(SATLIB / name)
    for run in RUNS:
        _same(cnf, run)


def _random_formula(rng: np.random.Generator) -> CNF:
    """Random k-SAT near the threshold, with units, duplicate literals and tautologies."""
    n = int(rng.integers(5, 51))
    clauses = []
    for _ in range(int(n * rng.uniform(3.5, 5.0))):
        k = int(rng.choice([1, 2, 3, 3, 3, 4], p=[0.02, 0.1, 0.5, 0.2, 0.1, 0.08]))
        vs = rng.integers(1, n + 1, size=k)
        clauses.append([int(v) if rng.random() < 0.5 else -int(v) for v in vs])
    return CNF(n, clauses)


@needs_c
def test_compiled_cdcl_matches_the_reference_on_random_formulas() -> None:
    rng = np.random.default_rng(2024)
    seen = set()
    for _ in range(150):
        cnf = _random_formula(rng)
        for run in RUNS:
            seen.add(_same(cnf, run).status)
    assert seen == {Status.SATISFIABLE, Status.UNSATISFIABLE, Status.UNKNOWN}
    for cnf in (CNF(0, []), CNF(2, [[1], [-1]]), CNF(3, [[]]), CNF(2, [[1, -1], [2]])):
        _same(cnf, "jw")


@needs_c
def test_engines() -> None:
    cnf = CNF(3, [[1, 2], [-1, 3]])
    with pytest.raises(ValueError, match="cannot run"):
        solve_cdcl(cnf, lambda view: view.unassigned()[0], engine="c")
    r = solve_cdcl(cnf, lambda view: view.unassigned()[0])  # auto: the Python loop
    assert r.status is Status.SATISFIABLE
    used = VSIDS()
    used.score = [0.0] * 7
    assert not ccdcl.supports(used) and ccdcl.supports(VSIDS())
    with pytest.raises(ValueError, match="unknown engine"):
        solve_cdcl(cnf, engine="java")  # type: ignore[arg-type]


# --- the CLI --------------------------------------------------------------------------------


def test_cli_exit_statuses(satlib: Path, tmp_path: Path) -> None:
    write_dimacs(CNF(3, [[1, 2, 3], [-1, -2], [2, -3]]), tmp_path / "tiny.cnf")
    env = {**os.environ, "PYTHONPATH": str(SRC), "PALESTRA_TRACEBACK": ""}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "palestra.cli", "sat", "solve", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)

    assert run(str(tmp_path / "tiny.cnf")).returncode == 10
    proc = run(str(satlib / "uuf50/uuf50-01.cnf"))
    assert proc.returncode == 20 and "checked true" in proc.stdout
    proc = run(str(satlib / "uuf100/uuf100-01.cnf"), "--max-steps", "1")
    assert proc.returncode == 0 and "s UNKNOWN" in proc.stdout
    proc = run(str(satlib / "uuf50/uuf50-01.cnf"), "--solver", "cdcl", "--heuristic", "vsids")
    assert proc.returncode == 20 and "palestra cdcl / vsids" in proc.stdout
    proc = run(str(tmp_path / "missing.cnf"))
    assert proc.returncode == 2 and proc.stderr.startswith("error:")


def test_fast_dimacs_path_reads_what_the_loop_reads(
    satlib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from palestra.sat import dimacs

    texts = [
        (satlib / name).read_text()
        for name in ("uf50/uf50-01.cnf", "uuf50/uuf50-01.cnf", "flat30-60/flat30-2.cnf")
    ]
    texts += ["p cnf 3 2\n1 -3 0 2\n3 0\n", "c x\np cnf 7 3\n+1 007 0 0 -2 0\n%\n0\n"]
    unterminated = "p cnf 2 1\n1 2"
    fast = [dimacs._parse_plain(t, True) for t in texts]
    assert all(cnf is not None for cnf in fast)
    assert dimacs._parse_plain(unterminated, True) is None  # the loop reports it
    assert dimacs._parse_plain("p cnf 2 1\n-0 1 0\n", True) is None
    assert dimacs._parse_plain("p cnf 2 1\nc late\n1 0\n", True) is None
    monkeypatch.setattr(dimacs, "_parse_plain", lambda text, strict: None)
    assert fast == [dimacs.parse_dimacs(t) for t in texts]
    assert dimacs.parse_dimacs(unterminated, strict=False).clauses == [[1, 2]]
