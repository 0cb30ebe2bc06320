"""``palestra prove`` as a user runs it: SZS lines, JSON, folders, limits, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from palestra.prove.attempt import ProofAttempt, json_dumps, nesting, room_to_pickle
from palestra.prove.proof import ConnectionProof, ProofStep, format_lit
from palestra.prove.run import prove_paths

from ..conftest import alive, live_processes

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
            attempts = live_processes(ppid=proc.pid)
            if attempts:
                break
            time.sleep(0.05)
        assert attempts, "no attempt process appeared"
        proc.kill()
        proc.wait()
        for _ in range(100):
            if not any(alive(pid) for pid in attempts):
                break
            time.sleep(0.05)
        assert not any(alive(pid) for pid in attempts)
    finally:
        proc.kill()


# ---------------------------------------------------------------- hostile input (issue 22)

ADVERSARIAL = Path(__file__).resolve().parents[1] / "data" / "adversarial" / "tptp"
# what `palestra prove` makes of each committed hostile file (its README says why)
ADVERSARIAL_STATUS = {
    "include_absolute": "InputError",
    "include_dotdot": "InputError",
    "include_proc": "InputError",
    "include_self": "InputError",
    "include_missing": "InputError",
    "include_long_name": "InputError",
    "include_control_chars": "InputError",
    "empty": "InputError",
    "comments_only": "InputError",
    "nul_byte": "InputError",
    "invalid_utf8": "InputError",
    "line_separator": "InputError",
    "unterminated_comment": "InputError",
    "unterminated_quote": "InputError",
    "truncated": "InputError",
    "tff": "InputError",
    "huge_number": "Theorem",
    "deep_negation": "Theorem",
    "deep_parentheses": "Theorem",
    "deep_quantifiers": "Theorem",
}
LEAKS = ("root:", "PATH=", "HOME=")  # what /etc/passwd or /proc/self/environ would show


def assert_clean(out: subprocess.CompletedProcess[str]) -> None:
    """No traceback and nothing of a system file anywhere in what the command wrote."""
    text = out.stdout + out.stderr
    assert "Traceback" not in text and "RecursionError" not in text, text[-2000:]
    assert not any(leak in text for leak in LEAKS)


def test_the_adversarial_folder_lists_every_file() -> None:
    assert {p.stem for p in ADVERSARIAL.glob("*.p")} == set(ADVERSARIAL_STATUS)


@pytest.mark.parametrize("name", sorted(n for n, s in ADVERSARIAL_STATUS.items()))
def test_each_hostile_file_is_one_line_input_error_or_proved(name: str) -> None:
    path = ADVERSARIAL / f"{name}.p"
    out = palestra("prove", str(path), "--json", "--time-limit", "20")
    assert_clean(out)
    result = json.loads(out.stdout)
    assert result["status"] == ADVERSARIAL_STATUS[name], result.get("error")
    if result["status"] == "InputError":
        assert out.returncode == 1
        assert result["error"].startswith(f"{path}:" if name not in NO_POSITION else f"{path}: ")
        assert len(result["error"].splitlines()) == 1
    else:
        assert out.returncode == 0 and result["checked"]


NO_POSITION = {"empty", "comments_only"}  # "FILE: no formulas ..."


def test_empty_file_says_no_formulas_in_szs_output() -> None:
    out = palestra("prove", str(ADVERSARIAL / "empty.p"))
    assert_clean(out)
    assert out.returncode == 1
    assert out.stdout.splitlines()[:2] == [
        "% SZS status InputError for empty",
        f"% {ADVERSARIAL / 'empty.p'}: no formulas (no fof or cnf line to prove)",
    ]


def write_hostile(folder: Path) -> dict[str, str]:
    """Big hostile inputs, generated: file stem -> the start of its one-line error."""
    folder.mkdir(exist_ok=True)
    n = 20_000
    (folder / "deep_parens.p").write_text("fof(a, conjecture, " + "(" * n + "p" + ")" * n + ").\n")
    (folder / "deep_term.p").write_text(
        "fof(a, axiom, p(" + "s(" * n + "o" + ")" * n + ")).\nfof(c, conjecture, p(o)).\n"
    )
    (folder / "open_comment.p").write_text("fof(a, axiom, p).\n/*" + "x /* '\\" * 150_000)
    (folder / "quotes.p").write_text("fof(a, axiom, p).\n" + "'\\" * 80_000)
    for i in range(30):  # 2^30 formulas from 30 small files
        (folder / f"b{i}.ax").write_text(f"include('b{i + 1}.ax').\ninclude('b{i + 1}.ax').\n")
    (folder / "b30.ax").write_text("fof(a, axiom, p).\n")
    (folder / "bomb.p").write_text("include('b0.ax').\nfof(c, conjecture, p).\n")
    return {
        "deep_parens": "formula nested deeper than 10000 levels",
        "deep_term": "formula nested deeper than 10000 levels",
        "open_comment": "unterminated comment '/*'",
        "quotes": "unterminated quoted atom",
        "bomb": "include 'b",
    }


def test_generated_hostile_files_are_one_line_errors(tmp_path: Path) -> None:
    expected = write_hostile(tmp_path / "hostile")
    for stem, start in expected.items():
        path = tmp_path / "hostile" / f"{stem}.p"
        out = palestra("prove", str(path), "--json")
        assert_clean(out)
        assert out.returncode == 1
        result = json.loads(out.stdout)
        assert result["status"] == "InputError"
        error = result["error"]
        assert len(error.splitlines()) == 1 and len(error) < 300
        assert error.split(": ", 1)[1].startswith(start), error
        if stem == "bomb":
            assert "more than 1000000 formulas (max_formulas)" in error


def test_folder_mode_goes_through_every_hostile_file(tmp_path: Path) -> None:
    """One folder: the committed hostile files, the generated ones and a real problem; every
    file gets its status line and the good problem is still proved."""
    folder = tmp_path / "problems"
    shutil.copytree(ADVERSARIAL, folder)
    generated = write_hostile(folder / "generated")
    shutil.copy(M2K / "t12_yellow_0.p", folder)
    out_file = tmp_path / "results.jsonl"
    args = ("--time-limit", "10", "--jobs", "2", "--out", str(out_file), "--no-progress")
    out = palestra("prove", str(folder), *args)
    assert_clean(out)
    assert out.returncode == 0, out.stderr
    results = {r["problem"]: r for r in map(json.loads, out_file.read_text().splitlines())}
    expected = {**ADVERSARIAL_STATUS, **dict.fromkeys(generated, "InputError")}
    expected["t12_yellow_0"] = "Theorem"
    assert {k: r["status"] for k, r in results.items()} == expected
    for r in results.values():
        assert r["status"] != "InputError" or len(r["error"].splitlines()) == 1


def test_a_proof_with_a_5000_deep_term_is_written_as_json(tmp_path: Path) -> None:
    """``--json`` wrote a proof with ``json.dumps``, which recursed once per level."""
    n = 5000
    problem = tmp_path / "deep.p"
    numeral = "s(" * n + "o" + ")" * n
    problem.write_text(f"fof(a, axiom, p({numeral})).\nfof(c, conjecture, ? [X] : p(X)).\n")
    out = palestra("prove", str(problem), "--json", "--strategy", "[cut,comp(7)]")
    assert_clean(out)
    assert out.returncode == 0
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(4 * n)  # json.loads recurses once per level too
    try:
        result = json.loads(out.stdout)
    finally:
        sys.setrecursionlimit(limit)
    assert result["status"] == "Theorem" and result["checked"]
    (term,) = result["proof"]["substitution"].values()
    depth = 0
    while isinstance(term, list) and len(term) == 2:
        term, depth = term[1], depth + 1
    assert depth == n and term == ["o"]
    out = palestra("prove", str(problem), "--strategy", "[cut,comp(7)]")
    assert_clean(out)
    assert out.stdout.splitlines()[0] == "% SZS status Theorem for deep"


# ---------------------------------------------------------------- deep proofs, serialised


def deep_proof(n: int) -> ConnectionProof:
    """A chain of ``n`` extension steps, each goal ``p(s^k(o))``, closed by a reduction."""
    from palestra.logic.syntax import Fn, Lit

    term = Fn("o")
    for _ in range(n):
        term = Fn("s", (term,))
    step = ProofStep(n + 1, "reduction", Lit(True, Fn("p", (term,))), ancestor=0)
    for k in range(n, -1, -1):
        goal = Lit(False, Fn("#")) if k == 0 else Lit(True, Fn("q", (Fn("c"),)))
        instance = (Lit(True, Fn("q", (Fn("c"),))), step.goal)
        step = ProofStep(k, "extension", goal, 0, 0, instance, children=(step,))
    return ConnectionProof(step, {"X": term})


def test_deep_proofs_convert_without_recursion() -> None:
    proof = deep_proof(5000)  # dicts nest 10,000 deep: far past the recursion limit
    d = proof.to_dict()
    again = ConnectionProof.from_dict(d)
    assert [s.id for s in again.steps()] == [s.id for s in proof.steps()]
    assert format_lit(again.steps()[-1].goal) == format_lit(proof.steps()[-1].goal)
    assert str(proof).splitlines()[0] == "connection proof, 5002 steps"
    line = ProofAttempt("deep", "deep.p", "Theorem", proof=d).to_json_line()
    assert line.startswith('{"problem": "deep", "file": "deep.p", "status": "Theorem"')
    assert nesting(d) == 1 + 2 * 5001 + 2 + 5001  # start, steps, instance and literal, term
    assert room_to_pickle(d)
    too_deep: list = []
    for _ in range(30_000):
        too_deep = [too_deep]
    assert not room_to_pickle(too_deep)  # pickling it would take the C stack with it


@pytest.mark.parametrize(
    "obj",
    [
        {"a": [1, 2.5, None, True, False, 'é\n"x\\'], "b": {}, "c": [], "d": {"e": (1, [{}])}},
        {1: 2, None: 3, 2.5: float("nan"), False: float("inf"), "f": -float("inf"), "g": 10**30},
        [],
        "s",
        ["\u2028", "\ud800"],
    ],
)
def test_json_dumps_writes_what_json_dumps_writes(obj: object) -> None:
    assert json_dumps(obj) == json.dumps(obj)


def test_json_dumps_takes_any_depth_and_refuses_cycles() -> None:
    deep: list = []
    for _ in range(100_000):
        deep = ["s", deep]
    assert json_dumps(deep) == '["s", ' * 100_000 + "[]" + "]" * 100_000
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        json_dumps(loop)
    shared = [1]
    assert json_dumps([shared, shared]) == "[[1], [1]]"


def test_conj_strategy_on_a_problem_whose_matrix_has_no_start_marker(tmp_path: Path) -> None:
    """``fof(c, conjecture, p)`` clausifies without ``[-#]``: ``conj`` then searches from any
    clause (it used to end the whole schedule as Error); ``p`` is not valid."""
    problem = tmp_path / "lonely.p"
    problem.write_text("fof(c, conjecture, p).\n")
    (result,) = prove_paths([problem], strategy="[conj,nodef]", time_limit=30)
    assert result.status == "CounterSatisfiable" and result.error is None
    (result,) = prove_paths([problem], time_limit=30)
    assert result.status == "CounterSatisfiable"


def test_guided_proving_of_an_empty_file_is_an_input_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.p"
    empty.write_text("% nothing to prove\n")
    out = palestra("prove", str(empty), "--guided", "default", "--json")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "InputError" and "no formulas" in result["error"]
