"""CoqHammer's hammer with the ATPs Debian installs (its reconstruction replaces it in the
proof, safe verify checks a file without ATPs, the schedule gives hammer its own budget), and
the agent's workers as Ray tasks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from palestra.coq.agent import prove_problem
from palestra.coq.config import ProveCoqConfig
from palestra.coq.hammer import (
    HammerOptions,
    available_atps,
    hammer_preamble,
    is_hammer,
    reconstruction,
    run_hammer,
)
from palestra.coq.idetop import CoqError, CoqSession
from palestra.coq.verify import safe_verify

from .conftest import require_coq

# needs a lemma about lists and one about addition: no closing tactic of the portfolio
# proves it, CoqHammer's premise selection finds both
LISTS = """Require Import List Arith.
Lemma app_length_comm (l1 l2 : list nat) : length (l1 ++ l2) = length (l2 ++ l1).
Proof.
"""


def require_atp() -> None:
    require_coq()
    if not shutil.which("eprover"):
        pytest.skip("eprover not found (apt-get install eprover)")


def test_reconstruction_is_read_from_hammer_messages() -> None:
    printed = [
        "CVC4 (nbayes-128) succeeded",
        "Replace the hammer tactic with:\n\tscongruence use: app_length, Nat.add_comm.",
    ]
    assert reconstruction(printed) == "scongruence use: app_length, Nat.add_comm"
    assert reconstruction(["Hammer failed: ATPs failed to find a proof."]) is None
    assert is_hammer("hammer.") and is_hammer(" hammer ") and not is_hammer("hammer_hook")
    opts = HammerOptions(budget=12.0, reconstruction_limit=2)
    assert opts.atp_limit == 9 and "Set Hammer ATPLimit 9." in hammer_preamble(opts)
    assert HammerOptions(budget=1.0).atp_limit == 1


def test_debian_atps_are_found() -> None:
    require_atp()
    assert "E" in available_atps()


def test_hammer_is_replaced_by_its_reconstruction(tmp_path: Path) -> None:
    require_atp()
    with CoqSession(timeout=60) as coq:
        coq.exec("Require Import List Arith.")
        coq.exec(hammer_preamble(HammerOptions(budget=12.0)))
        coq.add("Lemma t (l1 l2 : list nat) : length (l1 ++ l2) = length (l2 ++ l1).")
        start = coq.add("Proof.")
        tactic = run_hammer(coq, timeout=60.0, replay_timeout=20.0)
        assert "use:" in tactic and "hammer" not in tactic
        assert coq.proof_state().complete
        assert coq.sentences[-1] == tactic + "."  # the reconstruction, not hammer, is kept
        coq.edit_at(start)
        # a goal hammer cannot prove: an error, and the tip is back where it was
        coq.add("Abort.")
        coq.add("Lemma f (n : nat) : n = S n.")
        tip = coq.add("Proof.")
        with pytest.raises(CoqError):
            run_hammer(coq, timeout=40.0, replay_timeout=10.0)
        assert coq.tip == tip


def test_the_schedule_runs_hammer_after_the_search_and_the_proof_needs_no_atp(
    tmp_path: Path,
) -> None:
    require_atp()
    file = tmp_path / "lists.v"
    file.write_text(LISTS)
    plain = prove_problem(LISTS, ProveCoqConfig(file, budget=6.0, max_calls=200))
    assert not plain.proved  # the portfolio's search alone does not find it
    # generous: hammer takes about 10 s on 2 idle cores (with an ATP limit of 1 s), several
    # times that on busy ones. Run as the command a user runs, in a fresh process. (This
    # failed intermittently until CVC4 got its --tlimit in milliseconds: the cvc4 shim of
    # palestra.coq.coqc)
    args = ["prove-coq", str(file), "--budget", "66", "--max-calls", "200", "--hammer", "60"]
    out = subprocess.run(
        [sys.executable, "-m", "palestra.cli", *args, "--workers", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "proved", out.stdout[-2000:] + out.stderr[-2000:]
    proof = result["proof"]
    assert "hammer." not in proof and "use:" in proof
    # the kept file is plain tactics: coqc checks it without running an ATP
    assert safe_verify(LISTS, proof).accepted


def test_the_agent_workers_run_as_ray_tasks(tmp_path: Path) -> None:
    require_coq()
    pytest.importorskip("ray")
    import ray

    from palestra.coq.agent import prove_coq

    file = tmp_path / "t.v"
    file.write_text("Require Import Arith.\nTheorem t (n : nat) : n + 0 = n.\nProof.\n")
    cfg = ProveCoqConfig(file, workers=2, ray="local", budget=30.0, max_calls=200)
    try:
        out = prove_coq(cfg)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert out["status"] == "proved" and out["checked"]
    assert len(out["workers"]) == 2 and out["winner"] in (0, 1)
    assert safe_verify(file.read_text(), out["proof"]).accepted


def test_the_cvc4_shim_gives_cvc4_milliseconds(tmp_path: Path) -> None:
    """CoqHammer 1.3.2 passes ``--tlimit 57`` meaning seconds; CVC4 1.8 reads milliseconds."""
    from palestra.coq.coqc import coq_env, write_cvc4_shim

    shim = write_cvc4_shim(tmp_path, "/bin/echo")
    args = ["--tlimit", "57", "--dump-unsat-cores-full", "/tmp/a b.p"]
    out = subprocess.run([str(shim), *args], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["--tlimit", "57000", "--dump-unsat-cores-full", "/tmp/a", "b.p"]
    out = subprocess.run([str(shim), "--lang", "tptp"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["--lang", "tptp"]  # nothing else is touched
    if shutil.which("cvc4") and Path("/usr/libexec/coq-hammer").is_dir():
        # Coq processes find the shim first, and it runs the real CVC4
        found = shutil.which("cvc4", path=coq_env()["PATH"])
        assert found is not None and Path(found).read_text().startswith("#!/bin/sh")
        version = subprocess.run([found, "--version"], capture_output=True, text=True)
        assert "CVC4 version" in version.stdout
