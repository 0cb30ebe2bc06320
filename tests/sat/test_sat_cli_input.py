"""``palestra sat solve`` and ``sat gen`` on bad input, through the real CLI: one line
``error: ...`` on stderr, exit status 2, no traceback; valid input keeps the SAT-competition
statuses (10, 20). Then ``cli.main``'s boundary in-process: the last safety net for
``RecursionError``/``MemoryError``, and a genuine bug keeping its traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import palestra
from palestra import cli
from palestra.sat import dimacs

BIN = Path(sys.executable).parent / "palestra"
SRC = Path(palestra.__file__).parents[1]  # the code under test, whatever the subprocess's cwd
DATA = Path(__file__).parents[1] / "data"
ADVERSARIAL = DATA / "adversarial" / "dimacs"


def palestra_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "PALESTRA_TRACEBACK": ""}
    return subprocess.run(
        [str(BIN), *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        env=env,
        cwd=cwd,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    """Exit status 2, nothing on stdout, one line on stderr that starts with ``expected``."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(expected), proc.stderr
    assert (proc.returncode, proc.stdout) == (2, "")


# Every file of tests/data/adversarial/dimacs and the position and message it must give.
ADVERSARIAL_ERRORS = {
    "bad-token.cnf": "4:3: bad token 'x2'",
    "float-token.cnf": "2:3: bad token '2.5'",
    "comment-after-clause.cnf": "2:7: bad token 'c'",
    "beyond-declared.cnf": "3:4: literal -4 beyond the 3 declared variables",
    "header-undercounts.cnf": "1: header declares 1 clauses, found 3",
    "header-overcounts.cnf": "1: header declares 5 clauses, found 2",
    "header-beyond-file.cnf": "1: header declares 1000000 clauses, more than the rest of the file",
    "vars-beyond-limit.cnf": "1: header declares 1000000000000 variables, more than the limit",
    "clauses-beyond-limit.cnf": "1: header declares 1000000000000 clauses, more than the limit",
    "nul-byte.cnf": "2:3: NUL byte",
    "invalid-utf8.cnf": "1:14: invalid UTF-8 (byte 0xe9)",
    "gzipped.cnf": "1:2: invalid UTF-8 (byte 0x8b)",
    "no-header.cnf": "1: missing header 'p cnf VARS CLAUSES' before clauses",
    "empty.cnf": "1: missing header 'p cnf VARS CLAUSES' (the file is empty)",
    "blank.cnf": "3: missing header 'p cnf VARS CLAUSES' (the file is empty)",
    "only-comments.cnf": "2: missing header 'p cnf VARS CLAUSES'",
    "unterminated.cnf": "3: last clause is not terminated by 0",
    "duplicate-header.cnf": "2: duplicate header (first on line 1)",
    "bad-header.cnf": "1: bad header 'p cnf three 1'",
    "negative-header.cnf": "1: bad header 'p cnf -3 1'",
    "dnf-header.cnf": "1: bad header 'p dnf 3 1'",
    "unicode-digit.cnf": "2:3: bad token '\\u0661'",
    "underscore-number.cnf": "2:1: bad token '1_0'",
    "control-character.cnf": "2:3: bad token '2\\x1c3'",
    "leading-zeros.cnf": "2:3: number too long (42 characters)",
}


def test_every_adversarial_file_has_its_expected_error() -> None:
    files = {p.name for p in ADVERSARIAL.iterdir() if p.suffix == ".cnf"}
    assert files == set(ADVERSARIAL_ERRORS)


@pytest.mark.parametrize("name", sorted(ADVERSARIAL_ERRORS))
def test_adversarial_file(name: str) -> None:
    path = ADVERSARIAL / name
    with pytest.raises(dimacs.DimacsError) as err:
        dimacs.read_dimacs(path)
    assert str(err.value).startswith(f"{path}:{ADVERSARIAL_ERRORS[name]}")
    proc = palestra_cli("sat", "solve", str(path))
    assert_one_line_error(proc, f"error: {path}:{ADVERSARIAL_ERRORS[name]}")
    assert proc.stderr == f"error: {err.value}\n"  # the reader's message, as it is


BIG = {
    "5000-digit literal": (b"p cnf 3 1\n1 " + b"7" * 5000 + b" 0\n", "2:3: number too long"),
    "5000-digit header": (b"p cnf 3 " + b"1" * 5000 + b"\n", "1:9: number of clauses too long"),
    "NUL bytes": (b"\0" * (3 << 20), "1:1: NUL byte"),
    "all bytes but NUL": (bytes(range(1, 256)) * 8192, "2:118: invalid UTF-8 (byte 0x80)"),
    "one long line": (b"p cnf 9 1\n" + b"1 " * 500_000 + b"x 0\n", "2:1000001: bad token 'x'"),
}


@pytest.mark.parametrize("case", sorted(BIG))
def test_big_malformed_files(case: str, tmp_path: Path) -> None:
    data, expected = BIG[case]
    path = tmp_path / "big.cnf"
    path.write_bytes(data)
    assert_one_line_error(palestra_cli("sat", "solve", str(path)), f"error: {path}:{expected}")


def test_dev_zero_is_refused_at_once() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    assert_one_line_error(palestra_cli("sat", "solve", "/dev/zero"), "error: /dev/zero:1:1: NUL")


def test_paths_that_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "file.cnf").write_text("p cnf 1 1\n1 0\n")
    cases = {
        "missing.cnf": "No such file or directory",
        ".": "Is a directory",
        "file.cnf/x.cnf": "Not a directory",
        "x" * 300 + ".cnf": "File name too long",
    }
    for name, reason in cases.items():
        path = tmp_path / name
        assert_one_line_error(palestra_cli("sat", "solve", str(path)), f"error: {path}: {reason}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_unreadable_file(tmp_path: Path) -> None:
    """typer's own check of a Path argument refuses an unreadable FILE before the command
    runs (its usage message, status 2); without that check, ``open``'s PermissionError
    reaches ``cli.main`` (``error: FILE: Permission denied``, see the in-process test)."""
    path = tmp_path / "secret.cnf"
    path.write_text("p cnf 1 1\n1 0\n")
    path.chmod(0)
    proc = palestra_cli("sat", "solve", str(path))
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "Traceback" not in proc.stderr
    assert f"{path}: Permission denied" in proc.stderr or "is not readable" in proc.stderr


def test_a_file_name_with_a_newline_stays_one_line(tmp_path: Path) -> None:
    path = tmp_path / "two\nlines.cnf"
    path.write_text("p cnf 1 1\n2 0\n")
    proc = palestra_cli("sat", "solve", str(path))
    assert_one_line_error(proc, f"error: {tmp_path}/two\\nlines.cnf:2:1: literal 2 beyond")


def test_sat_gen_bad_output_folder_and_size(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "sr"
    proc = palestra_cli("sat", "gen", "--count", "1", "--out", str(out))
    assert_one_line_error(proc, f"error: {out}: Not a directory")
    proc = palestra_cli("sat", "gen", "--n", "1000000000", "--out", str(tmp_path))
    assert_one_line_error(proc, "error: n = 1000000000 is above the DIMACS limit")
    proc = palestra_cli("sat", "gen", "--n", "99999999999999999999", "--out", str(tmp_path))
    assert_one_line_error(proc, "error: command line: n must fit in 64 bits")


def test_valid_input_keeps_the_competition_statuses(tmp_path: Path) -> None:
    """10 SATISFIABLE, 20 UNSATISFIABLE; SATLIB's trailer, CRLF and a byte order mark read."""
    proc = palestra_cli("sat", "solve", str(DATA / "sat" / "uf20-01.cnf"))
    assert (proc.returncode, proc.stderr) == (10, "")
    assert "s SATISFIABLE" in proc.stdout
    path = tmp_path / "unsat.cnf"
    path.write_bytes(b"\xef\xbb\xbfc caf\xc3\xa9\r\np cnf 2 4\r\n1 2 0\r\n-1 2 0\r\n1 -2 0\r\n")
    with path.open("ab") as f:
        f.write(b"-1 -2 0\r\n%\r\n0\r\n")
    proc = palestra_cli("sat", "solve", str(path))
    assert (proc.returncode, proc.stderr) == (20, "")
    assert "s UNSATISFIABLE" in proc.stdout


# ----------------------------------------------------------------- cli.main in-process


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["palestra", *args])
    monkeypatch.delenv("PALESTRA_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    code = exit_.value.code
    return code if isinstance(code, int) else 1


def test_unreadable_file_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """PermissionError as ``open`` raises it (the subprocess test needs a user but root)."""
    path = tmp_path / "secret.cnf"

    def denied(file: object, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(dimacs, "open", denied, raising=False)
    assert run_main(monkeypatch, "sat", "solve", str(path)) == 2
    assert capsys.readouterr().err == f"error: {path}: Permission denied\n"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RecursionError("maximum recursion depth exceeded"), "RecursionError: maximum recursion"),
        (MemoryError(), "MemoryError: out of memory"),
    ],
)
def test_main_safety_net(
    error: BaseException,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    def solve(cfg: object) -> None:
        raise error

    monkeypatch.setattr("palestra.sat.solve.solve", solve)
    assert run_main(monkeypatch, "sat", "solve", str(tmp_path / "x.cnf")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: input too deep/large: {expected}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "error", [RuntimeError("a solver bug"), OSError(111, "Connection refused"), KeyError("x")]
)
def test_main_lets_bugs_keep_their_traceback(
    error: BaseException, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not a user's error (an OSError naming no path among them): the exception escapes."""

    def solve(cfg: object) -> None:
        raise error

    monkeypatch.setattr("palestra.sat.solve.solve", solve)
    monkeypatch.setattr(sys, "argv", ["palestra", "sat", "solve", str(tmp_path / "x.cnf")])
    with pytest.raises(type(error)):
        cli.main()


def test_palestra_traceback_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PALESTRA_TRACEBACK", "1")
    monkeypatch.setattr(sys, "argv", ["palestra", "sat", "solve", str(tmp_path / "x.cnf")])
    with pytest.raises(FileNotFoundError):
        cli.main()
