"""``palestra prove`` as a user runs it: SZS lines, JSON, folders, limits, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from palestra.prove.run import prove_paths

BIN = Path(sys.executable).parent / "palestra"
M2K = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "tptp" / "m2k"
BAD = Path(__file__).resolve().parents[1] / "data" / "tptp" / "malformed.p"


def palestra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=300)


def test_json_result_is_a_checked_proof_with_leancops_count() -> None:
    out = palestra("prove", str(M2K / "t12_yellow_0.p"), "--strategy", "[cut,comp(7)]", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "Theorem" and result["checked"] is True
    assert result["inferences"] == 10  # leanCoP 2.1's count (golden data)
    assert result["proof"]["start"]["rule"] == "extension"
    assert isinstance(result["seconds"], float)


def test_szs_output_has_status_and_proof() -> None:
    out = palestra("prove", str(M2K / "t12_yellow_0.p"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "% SZS status Theorem for t12_yellow_0"
    assert "% SZS output start Proof for t12_yellow_0" in lines
    assert lines[-1] == "% SZS output end Proof for t12_yellow_0"


def test_malformed_file_is_an_input_error_with_position() -> None:
    out = palestra("prove", str(BAD), "--json")
    assert out.returncode == 1
    result = json.loads(out.stdout)
    assert result["status"] == "InputError"
    assert result["error"].startswith(f"{BAD}:1:")
    assert "\n" not in result["error"]


def test_bad_strategy_is_a_one_line_error() -> None:
    out = palestra("prove", str(M2K / "t12_yellow_0.p"), "--strategy", "[cut,frobnicate]")
    assert out.returncode == 2
    assert out.stderr.startswith("error: strategy '[cut,frobnicate]'")


def test_time_limit_stops_a_hard_problem() -> None:
    (result,) = prove_paths([M2K / "t93_tmap_1.p"], strategy="[conj,nodef]", time_limit=1.0)
    assert result.status == "Timeout" and result.proof is None
    assert result.checked is False


def test_inference_limit_gives_up() -> None:
    (result,) = prove_paths(
        [M2K / "t93_tmap_1.p"], strategy="[cut,comp(7)]", time_limit=60, inference_limit=2000
    )
    assert result.status == "GaveUp"
    assert result.attempts[0]["inferences"] == 2001


def test_folder_mode_proves_in_parallel_and_keeps_order(tmp_path: Path) -> None:
    folder = tmp_path / "problems"
    folder.mkdir()
    for name in ("t12_yellow_0", "t115_xboole_1", "t29_xboole_1"):
        shutil.copy(M2K / f"{name}.p", folder)
    shutil.copy(BAD, folder)
    out_file = tmp_path / "results.jsonl"
    out = palestra(
        "prove",
        str(folder),
        "--time-limit",
        "5",
        "--jobs",
        "2",
        "--out",
        str(out_file),
        "--no-progress",
    )
    assert out.returncode == 0, out.stderr
    results = {r["problem"]: r for r in map(json.loads, out_file.read_text().splitlines())}
    assert results["malformed"]["status"] == "InputError"
    for name in ("t12_yellow_0", "t115_xboole_1", "t29_xboole_1"):
        assert results[name]["status"] == "Theorem" and results[name]["checked"]
    assert "Theorem" in out.stderr and "InputError" in out.stderr  # the summary table


@pytest.mark.parametrize("missing", ["/nonexistent/problem.p"])
def test_missing_path_is_an_error(missing: str) -> None:
    out = palestra("prove", missing)
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {missing}: no such file or folder"


def test_guided_by_the_shipped_model() -> None:
    # t9_xboole_1 is one of the problems the shipped model never trained on
    args = ("prove", str(M2K / "t9_xboole_1.p"), "--inference-limit", "5000")
    out = palestra(*args, "--guided", "default", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "Theorem" and result["checked"] and result["guided"]
    assert result["inferences"] <= 5000 and result["playouts"] > 0
    out = palestra(*args, "--guided", "none")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "% SZS status InfLimit for t9_xboole_1"
    assert out.stdout.splitlines()[1].startswith("% unguided MCTS: 5,000 inferences")


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(")")[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_prove_leaves_no_attempt_running() -> None:
    """SIGKILL on ``palestra prove`` mid-attempt: the forked attempt dies with it."""
    import time

    proc = subprocess.Popen(
        [str(BIN), "prove", str(M2K / "t93_tmap_1.p"), "--strategy", "[conj,nodef]",
         "--time-limit", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        attempts: list[int] = []
        for _ in range(600):  # the CLI imports, reads the problem, then forks the attempt
            attempts = _children(proc.pid)
            if attempts:
                break
            time.sleep(0.05)
        assert attempts, "no attempt process appeared"
        proc.kill()
        proc.wait()
        for _ in range(100):
            if not any(_alive(pid) for pid in attempts):
                break
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in attempts)
    finally:
        proc.kill()
