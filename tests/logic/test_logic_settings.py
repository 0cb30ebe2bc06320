"""leanCoP option lists: one parser for the clausifier and the prover, and ``reo(N)``."""

from __future__ import annotations

import pytest

from palestra.core.errors import PalestraError
from palestra.logic.settings import LeancopSettings, SettingsError, mreorder


def test_parse_reads_every_option() -> None:
    assert LeancopSettings.parse("[cut,comp(7)]") == LeancopSettings(cut=True, comp=7)
    assert LeancopSettings.parse(" [ conj , nodef ] ") == LeancopSettings(
        conj=True, definitional=False
    )
    assert LeancopSettings.parse(["scut", "reo(23)", "def"]) == LeancopSettings(
        scut=True, reo=23, definitional=True
    )
    assert LeancopSettings.parse("[def,nodef]").definitional is False  # as make_matrix decides
    assert LeancopSettings.parse("[]") == LeancopSettings.parse("") == LeancopSettings()


@pytest.mark.parametrize("bad", ["[frobnicate]", "[comp]", "[cut(3)]", "[reo(x)]", "[comp(-1)]"])
def test_parse_refuses_what_leancop_does_not_know(bad: str) -> None:
    with pytest.raises(SettingsError, match="unknown leanCoP setting") as err:
        LeancopSettings.parse(bad)
    # callers catch it as a bad value or as a user error
    assert isinstance(err.value, ValueError) and isinstance(err.value, PalestraError)


def test_mreorder_interleaves_thirds() -> None:
    # thirds A=[0,1], B=[2,3,4], C=[5,6] -> c1 a1 b1 c2 a2 b2, then the rest of B
    assert mreorder(range(7), 1) == [5, 0, 2, 6, 1, 3, 4]
    assert mreorder(range(7), 2) == mreorder(mreorder(range(7), 1), 1)
    assert mreorder("ab", 3) == ["a", "b"]  # fewer than three: nothing moves
    assert mreorder(range(4), 0) == [0, 1, 2, 3]
