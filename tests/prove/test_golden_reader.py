"""Reading the leanCoP golden table and matrices."""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.logic.syntax import START, Fn, Lit, Var
from palestra.prove.golden import (
    GoldenFormatError,
    GoldenRow,
    matrix_path,
    read_golden,
    read_matrix,
    settings_key,
)


def test_read_matrix(tmp_path: Path) -> None:
    f = tmp_path / "m.jsonl"
    f.write_text('[["#"],["-",["p",{"v":0},["^",["1"],["[]"]]]]]\n[["-",["#"]]]\n')
    m = read_matrix(f)
    sk = Fn("^", (Fn("1"), Fn("[]")))
    assert m == [(Lit(True, START), Lit(False, Fn("p", (Var("_0"), sk)))), (Lit(False, START),)]


@pytest.mark.parametrize("line", ['[["p",{"v":"x"}]]', '{"a":1}', '[["p"]', "[[1]]", '[[{"v":0}]]'])
def test_malformed_matrix_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('[["p"]]\n' + line + "\n")
    with pytest.raises(GoldenFormatError, match=r"bad\.jsonl:2: "):
        read_matrix(f)


def test_deep_terms_do_not_recurse(tmp_path: Path) -> None:
    # Robinson numerals nest ~760 deep; a recursive reader would need two frames per level
    depth = 700
    f = tmp_path / "deep.jsonl"
    f.write_text('[["p",' + '["s",' * depth + '["0"]' + "]" * depth + "]]\n")
    [[x]] = read_matrix(f)
    t = x.atom.args[0]
    for _ in range(depth):
        assert isinstance(t, Fn) and t.name == "s"
        t = t.args[0]
    assert t == Fn("0")


def test_read_golden(tmp_path: Path) -> None:
    f = tmp_path / "golden.tsv"
    f.write_text(
        "problem\tsettings\tresult\tinferences\tcpu_s\n"
        "t1\t[cut,comp(7)]\tTheorem\t12\t0.01\n"
        "t2\t[conj,nodef]\tInfLimit\tmany\t0.5\n"
    )
    with pytest.raises(GoldenFormatError, match=r"golden\.tsv:3: "):
        read_golden(f)
    f.write_text(
        f.read_text().splitlines(keepends=True)[0] + "t1\t[cut,comp(7)]\tTheorem\t12\t0.01\n"
    )
    [row] = read_golden(f)
    assert row == GoldenRow("t1", "[cut,comp(7)]", "Theorem", 12, 0.01)
    assert matrix_path(tmp_path, row) == tmp_path / "matrix" / "t1.cut_comp7.jsonl"


def test_settings_key() -> None:
    assert settings_key("[cut,comp(7)]") == "cut_comp7"
    assert settings_key("[conj,nodef]") == "conj_nodef"
