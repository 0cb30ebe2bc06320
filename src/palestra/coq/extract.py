"""(goal, tactic) pairs from Coq's libraries, by stepping their proofs through ``coqidetop``.

The training data of a learned tactic proposer (Tactician, Blaauwbroek et al. 2020; the
Coq agent's issue): for every tactic sentence of every proof in a library's ``.v`` sources,
the goal Coq printed just before it ran. One file is stepped sentence by sentence in a fresh
:class:`~palestra.coq.idetop.CoqSession`::

    for sentence in split_sentences(file):
        state = the session's proof state at the tip
        if state.in_proof and sentence is a tactic (not Proof/Qed/a bullet/a brace/a command):
            write {lemma, step, goals, hyps, goal, tactic} for the first focused goal
        add(sentence)        # an error or a timeout ends the file (what was written stays)

The libraries are the sources Debian installs beside the compiled ones: the standard library
(``theories/``, without ``Init``, which runs before the prelude exists), Coquelicot and
CoqHammer's own. A file is stepped as a top-level module, so its ``Require`` lines load the
installed compiled libraries it depends on.

Output: ``OUT/<library>/<path>.jsonl`` (one pair per line) and ``OUT/<library>/<path>.done``
(sentences, pairs, seconds, the error that ended the file if any), both written atomically
once the file is done; a file with its ``.done`` is skipped, so a killed run resumes. Files
run in parallel as jobs of :mod:`palestra.core.jobs`, each with its own deadline. At the end
(``--index``) the pairs are indexed for the learned proposer (:mod:`palestra.coq.tactic_model`,
``OUT/index.npz``) and its top-k accuracy on held-out files is written to ``OUT/summary.json``.

What it does not do: it records the goal *as printed* (notations on), not Coq's terms, and
the first focused goal only (a tactic under ``all:`` or after ``;`` acts on more).
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from palestra.coq.config import ExtractConfig
from palestra.coq.coqc import LoadPath, coq_binary
from palestra.coq.idetop import CoqError, CoqSession
from palestra.coq.script import normalize, read_script, split_sentences, theorem_name
from palestra.core.jobs import run_jobs
from palestra.core.runs import atomic_write_bytes

__all__ = ["extract_file", "extract_tactics", "is_tactic", "library_files"]

# sentences inside a proof that are not tactics: proof commands, bullets and braces, and any
# vernacular command (capitalised: Show, Check, Opaque, Hint, Ltac, ...)
_NOT_TACTIC = re.compile(r"^(?:[-+*]+|[{}]|\d+\s*:\s*\{|[A-Z]\w*\b)")


def library_files(coqlib: Path, libraries: tuple[str, ...]) -> list[tuple[str, Path, Path]]:
    """``(library, root, file)`` for the ``.v`` sources of each named library, sorted."""
    roots = {
        "stdlib": coqlib / "theories",
        "coquelicot": coqlib / "user-contrib" / "Coquelicot",
        "hammer": coqlib / "user-contrib" / "Hammer",
    }
    out = []
    for lib in libraries:
        if lib not in roots:
            raise ValueError(f"unknown library {lib!r}; known: {', '.join(roots)}")
        root = roots[lib]
        files = sorted(root.rglob("*.v")) if root.is_dir() else []
        out += [(lib, root, f) for f in files if not (lib == "stdlib" and f.parts[-2] == "Init")]
    return out


def is_tactic(sentence: str) -> bool:
    """Is this sentence (inside a proof) a tactic to learn?"""
    text = normalize(sentence)
    return bool(text) and not _NOT_TACTIC.match(text)


def extract_file(
    path: Path,
    *,
    sentence_timeout: float = 30.0,
    file_timeout: float = 600.0,
    load_paths: Sequence[LoadPath] = (),
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Step one file; its pairs and a summary (sentences run, pairs, seconds, error).

    ``load_paths``: the file's own library bound with ``-R`` (Coquelicot's files require
    each other by short name, ``Require Import Rcomplements``)."""
    start = time.perf_counter()
    text = read_script(path)
    pairs: list[dict[str, Any]] = []
    lemma, step, ran, error = "", 0, 0, ""
    with CoqSession(timeout=sentence_timeout, start_timeout=60.0, load_paths=load_paths) as coq:
        for s in split_sentences(text):
            if time.perf_counter() - start > file_timeout:
                error = f"file timeout ({file_timeout:g} s)"
                break
            state = coq.proof_state()
            name = theorem_name(s.text)
            if name is not None:
                lemma, step = name, 0
            elif state.in_proof and state.goals and is_tactic(s.text):
                goal = state.goals[0]
                pairs.append(
                    {
                        "lemma": lemma,
                        "step": step,
                        "goals": len(state.goals),
                        "hyps": list(goal.hypotheses),
                        "goal": " ".join(goal.conclusion.split()),
                        "tactic": normalize(s.text),
                    }
                )
                step += 1
            try:
                coq.add(s.text)
            except CoqError as e:
                error = f"line {s.line}: {' '.join(e.message.split())}"
                break
            ran += 1
    summary = {
        "sentences": ran,
        "pairs": len(pairs),
        "seconds": round(time.perf_counter() - start, 2),
        "error": error[:300],
    }
    return pairs, summary


def _target(out: Path, lib: str, root: Path, file: Path) -> Path:
    """``OUT/<library>/<path>.v``; its ``.jsonl`` and ``.done`` are written (with_suffix)."""
    return out / lib / file.relative_to(root)


def _job(
    item: tuple[str, str, str], out: str, sentence_timeout: float, file_timeout: float
) -> dict[str, Any]:
    lib, root, file = item
    rel = Path(file).relative_to(root)
    own = [] if lib == "stdlib" else [LoadPath(Path(root), Path(root).name, recursive=True)]
    pairs, summary = extract_file(
        Path(file),
        sentence_timeout=sentence_timeout,
        file_timeout=file_timeout,
        load_paths=own,
    )
    for p in pairs:
        p["file"] = f"{lib}/{rel}"
    target = _target(Path(out), lib, Path(root), Path(file))
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)
    atomic_write_bytes(target.with_suffix(".jsonl"), lines.encode())
    atomic_write_bytes(target.with_suffix(".done"), json.dumps(summary).encode())
    return summary


def extract_tactics(cfg: ExtractConfig) -> dict[str, Any]:
    """Every library file not yet done; returns totals over all done files."""
    where = cfg.coqlib or Path(
        subprocess.run(
            [coq_binary("coqc"), "-where"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    files = library_files(where, cfg.libraries)
    todo = [
        (lib, str(root), str(f))
        for lib, root, f in files
        if not _target(cfg.out, lib, root, f).with_suffix(".done").exists()
    ]
    if cfg.limit:
        todo = todo[: cfg.limit]
    job = functools.partial(
        _job,
        out=str(cfg.out),
        sentence_timeout=cfg.sentence_timeout,
        file_timeout=cfg.file_timeout,
    )
    failed = 0
    for r in run_jobs(
        job,
        todo,
        workers=cfg.workers,
        deadline_s=cfg.file_timeout + 120.0,
        progress="stepping library proofs",
    ):
        failed += r.status != "ok"
    done = sorted(cfg.out.rglob("*.done"))
    summaries = [json.loads(p.read_text()) for p in done]
    out: dict[str, Any] = {
        "files": len(files),
        "done": len(done),
        "crashed_this_run": failed,
        "pairs": sum(s["pairs"] for s in summaries),
        "files_with_error": sum(bool(s["error"]) for s in summaries),
        "out": str(cfg.out),
    }
    if cfg.index and out["pairs"]:
        from palestra.coq.tactic_model import build_index, evaluate, load_pairs

        pairs = load_pairs(cfg.out)
        out["held_out"] = evaluate(pairs, cfg.out / "held-out-index")
        out["index"] = build_index(pairs, cfg.out)
        atomic_write_bytes(cfg.out / "summary.json", json.dumps(out, indent=1).encode())
    return out
