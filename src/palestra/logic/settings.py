"""leanCoP 2.1's option lists, such as ``[cut,comp(7)]`` or ``[conj,nodef]``, read once.

One list configures both halves of leanCoP: the clausifier (``nodef``, ``def``, ``conj``,
``reo(N)``) and the search (``cut``, ``scut``, ``comp(N)``, and ``conj`` again, which chooses
the start clauses). :meth:`LeancopSettings.parse` reads a list into one value; the clausifier
(``palestra.logic.clausify.parse_settings``) and the prover (``Options.from_leancop`` in
``palestra.prove.compiled``) each take the fields they need from it.

The options (``leancop21_swi.pl`` and ``def_mm.pl``):

- ``cut``: restricted backtracking; ``scut``: only the first start clause is tried;
  ``comp(N)``: restart with complete search when path limit ``N`` fails;
- ``conj``: conjecture clauses carry the start marker ``#``;
- ``nodef``: plain DNF; ``def``: definitional clausal form of the whole formula; neither:
  leanCoP's default (``nodef`` for the axioms, ``def`` for the conjecture); both: ``nodef``
  (``make_matrix`` tests it first);
- ``reo(N)``: reorder the clauses ``N`` times (:func:`mreorder`).

Anything else, an option without its number or a number where none belongs, is a
:class:`SettingsError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from palestra.core.errors import PalestraError

__all__ = ["LeancopSettings", "SettingsError", "mreorder"]

T = TypeVar("T")

_NUMBERED = re.compile(r"(comp|reo)\((\d+)\)")


class SettingsError(PalestraError, ValueError):
    """An option list that is not leanCoP's: an unknown or malformed option."""


@dataclass(frozen=True, slots=True)
class LeancopSettings:
    """One leanCoP option list; ``None`` for ``comp``/``reo`` when the list has no such option."""

    cut: bool = False
    scut: bool = False
    conj: bool = False
    comp: int | None = None
    reo: int | None = None
    definitional: bool | None = None  # nodef False, def True, neither None

    @classmethod
    def parse(cls, settings: str | Iterable[str]) -> LeancopSettings:
        """Read ``"[cut,comp(7)]"`` (brackets optional) or a list ``["conj", "nodef"]``."""
        if isinstance(settings, str):
            inner = settings.strip().removeprefix("[").removesuffix("]")
            items = [s.strip() for s in inner.split(",")]
        else:
            items = [s.strip() for s in settings]
        flags: set[str] = set()
        numbers: dict[str, int] = {}
        for item in filter(None, items):
            if item in ("cut", "scut", "conj", "def", "nodef"):
                flags.add(item)
            elif m := _NUMBERED.fullmatch(item):
                numbers[m.group(1)] = int(m.group(2))
            else:
                raise SettingsError(f"unknown leanCoP setting {item!r} in {settings!r}")
        definitional = False if "nodef" in flags else (True if "def" in flags else None)
        return cls(
            cut="cut" in flags,
            scut="scut" in flags,
            conj="conj" in flags,
            comp=numbers.get("comp"),
            reo=numbers.get("reo"),
            definitional=definitional,
        )


def mreorder(items: Sequence[T], times: int) -> list[T]:
    """leanCoP's ``reo(N)`` clause reordering (``def_mm.pl``, ``mreorder/3``), ``times`` rounds.

    Each round splits the items into the first third ``A``, the last third ``C`` and the
    middle ``B`` (thirds rounded down) and interleaves them ``c1, a1, b1, c2, a2, b2, ...``,
    followed by the rest of ``B``. The clausifier reorders clauses, the prover clause indices.
    """
    order = list(items)
    for _ in range(times):
        n = len(order)
        k = n // 3
        a, b, c = order[:k], order[k : n - k], order[n - k :]
        order = [x for i in range(k) for x in (c[i], a[i], b[i])] + b[k:]
    return order
