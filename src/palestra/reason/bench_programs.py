"""Bench ``lm-programs``: the language-model programs of issue 26 on a reasoning model trained
here, each against its baseline in the same run.

    palestra bench lm-programs -o model=runs/wordproblems/STAMP -o verifier=runs/verifier/STAMP
    palestra bench lm-programs --quick       # 20 problems per split

The model is a ``palestra train lm --task wordproblems`` run (README, results/NOTES.md give the
command); the verifier a ``palestra train verifier`` run on that model (optional: without it
the learned-verifier arm is left out, with a note). Unset, each is the newest run under
``runs/wordproblems`` and ``runs/verifier``.

On each split of the generated word problems (``train``: the training templates, new numbers;
``heldout``: templates never trained on), ``limit`` problems, every sample checked by the
task's checker (exact answers from the generator):

- **Show Your Work / chain of thought**: greedy step-by-step (``wordproblems``) vs greedy
  direct answer (``wordproblems-direct``).
- **Minerva / self-consistency**: ``samples`` solutions per problem at ``temperature``; maj@k
  (the expected majority vote over k-subsets, ``palestra.reason.metrics``) for k = 1..samples
  vs the greedy step-by-step answer; pass@k beside it (the oracle bound of any reranker).
- **Verifiers** (Cobbe et al.; the cascades paper's verifier node): best-of-``k`` reranked by
  the learned verifier and by the hand-written arithmetic verifier, vs maj@``k`` of the same
  number of samples.
- **Tool use**: calculator-style solutions with the calculator's results fed back
  (``--program tool``) vs the same style written by the model alone.

Every arm is a ``palestra eval`` run kept under ``runs`` (default ``runs/lm-programs``): a
killed bench resumes where each arm stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.errors import PalestraError

__all__ = ["ProgramsBenchOptions"]

SPLITS = {"train": "wordproblems-train", "heldout": "wordproblems"}


@dataclass
class ProgramsBenchOptions(Config):
    """Options of ``palestra bench lm-programs``."""

    model: Path | None = arg(None, "The word-problem model (unset: newest runs/wordproblems/*).")
    verifier: Path | None = arg(None, "The learned verifier (unset: newest runs/verifier/*).")
    limit: int = arg(100, "Problems per split (quick: 20).", min=1)
    samples: int = arg(16, "Sampled solutions per problem for maj@k and pass@k.", min=1)
    k: int = arg(8, "Candidates of best-of-k.", min=1)
    temperature: float = arg(0.7, "Sampling temperature.", above=0, max=2)
    splits: tuple[str, ...] = arg(("train", "heldout"), "Splits: train, heldout.")
    runs: Path = arg(Path("runs/lm-programs"), "Where the arms' eval runs are kept (resumed).")
    threads: int = arg(1, "torch threads of the in-process model.", min=1)
    concurrency: int = arg(8, "Requests in flight (continuous batching).", min=1)


def _newest(folder: Path) -> Path | None:
    runs = sorted(p for p in folder.glob("*") if (p / "config.json").is_file())
    return runs[-1] if runs else None


def _task(split: str, style: str) -> str:
    base = SPLITS[split]
    return base if style == "steps" else f"{base}-{style}"


@register_suite("lm-programs", config=ProgramsBenchOptions)
def run(bench: Bench) -> None:
    from palestra.lm.backends import LocalBackend
    from palestra.reason.evaluate import EvalConfig, evaluate

    opts: ProgramsBenchOptions = bench.options or ProgramsBenchOptions()
    unknown = [s for s in opts.splits if s not in SPLITS]
    if unknown:
        raise PalestraError(f"unknown splits {unknown}; known: {', '.join(SPLITS)}")
    model = opts.model or _newest(Path("runs/wordproblems"))
    if model is None:
        raise PalestraError(
            "no word-problem model: train one (`palestra train lm --task wordproblems ...`, "
            "results/NOTES.md) or pass -o model=RUN_DIR"
        )
    verifier = opts.verifier or _newest(Path("runs/verifier"))
    if verifier is not None and not (verifier / "verifier.json").is_file():
        verifier = None
    limit = min(opts.limit, 20) if bench.quick else opts.limit
    bench.data["model"] = str(model)
    bench.data["verifier"] = str(verifier) if verifier else None
    backend = LocalBackend(model, threads=opts.threads)
    name = f"local:{model}"

    def arm(split: str, label: str, task: str, **kw: Any) -> dict[str, Any]:
        cfg = EvalConfig(
            task=task, backend=name, limit=limit, seed=bench.seed, concurrency=opts.concurrency,
            out=opts.runs / split / label, progress=False, **kw,
        )  # fmt: skip
        run_dir = evaluate(cfg, backend=backend, model=name, echo=False)
        return json.loads((run_dir / "summary.json").read_text())

    curves: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for split in opts.splits:
            acc: dict[str, float] = {}
            direct = arm(split, "direct", _task(split, "direct"))
            steps = arm(split, "steps", _task(split, "steps"))
            sampled = arm(split, f"sampled-{opts.samples}", _task(split, "steps"),
                          samples=opts.samples, temperature=opts.temperature)  # fmt: skip
            calc = arm(split, "calc", _task(split, "calc"))
            tool = arm(split, "tool", _task(split, "calc"), program="tool")
            bon = arm(split, f"best-of-{opts.k}-arithmetic", _task(split, "steps"),
                      program="best-of-n", k=opts.k, temperature=opts.temperature,
                      verifier="arithmetic")  # fmt: skip
            acc["direct"] = direct["pass@k"]["1"]
            acc["steps"] = steps["pass@k"]["1"]
            acc["calc"] = calc["pass@k"]["1"]
            acc["tool"] = tool["pass@k"]["1"]
            acc["best_of_k_arithmetic"] = bon["pass@k"]["1"]
            maj, pas = sampled["maj@k"], sampled["pass@k"]
            curves[split] = {"maj": maj, "pass": pas}
            kk = str(opts.k) if str(opts.k) in maj else max(maj, key=int)
            acc["maj_at_k"] = maj[kk]
            acc["sample"] = pas["1"]
            if verifier is not None:
                learned = arm(split, f"best-of-{opts.k}-learned", _task(split, "steps"),
                              program="best-of-n", k=opts.k, temperature=opts.temperature,
                              verifier=f"learned:{verifier}")  # fmt: skip
                acc["best_of_k_learned"] = learned["pass@k"]["1"]
            n = f"{limit} problems, {split} split"
            bench.figure(f"{split}: step by step (greedy)", acc["steps"], "accuracy",
                         peer="direct answer (greedy)", peer_value=acc["direct"],
                         setting=n)  # fmt: skip
            vote = f"{n}; expected vote over {kk}-subsets of {opts.samples}"
            bench.figure(f"{split}: maj@{kk} at T={opts.temperature}", acc["maj_at_k"],
                         "accuracy", peer="greedy step by step", peer_value=acc["steps"],
                         setting=vote)  # fmt: skip
            if "best_of_k_learned" in acc:
                bench.figure(f"{split}: best-of-{opts.k}, learned verifier",
                             acc["best_of_k_learned"], "accuracy", peer=f"maj@{kk}",
                             peer_value=acc["maj_at_k"], setting=n)  # fmt: skip
            bench.figure(f"{split}: best-of-{opts.k}, arithmetic verifier",
                         acc["best_of_k_arithmetic"], "accuracy", peer=f"maj@{kk}",
                         peer_value=acc["maj_at_k"], setting=n)  # fmt: skip
            bench.figure(f"{split}: calculator tool (greedy)", acc["tool"], "accuracy",
                         peer="calculator style without the tool", peer_value=acc["calc"],
                         setting=n)  # fmt: skip
            bench.data[split] = {"accuracy": acc, "maj@k": maj, "pass@k": pas}
    finally:
        backend.close()

    rows = []
    for split in opts.splits:
        a = bench.data[split]["accuracy"]
        rows.append([split, *(round(a.get(key, float("nan")), 3) for key in (
            "direct", "steps", "sample", "maj_at_k", "best_of_k_arithmetic",
            "best_of_k_learned", "calc", "tool"))])  # fmt: skip
    bench.table(
        f"accuracy per arm ({limit} problems per split)",
        ["split", "direct", "step by step", "one sample", f"maj@{opts.k}",
         f"best-of-{opts.k} arithmetic", f"best-of-{opts.k} learned", "calc style", "calc + tool"],
        rows,
    )  # fmt: skip
    with bench.plot("lm_programs_k", "Accuracy by number of samples k", xlabel="k",
                    ylabel="accuracy") as ax:  # fmt: skip
        for split, c in curves.items():
            ks = sorted(int(k) for k in c["maj"])
            ax.plot(ks, [c["maj"][str(k)] for k in ks], marker="o", label=f"{split}: maj@k")
            ax.plot(ks, [c["pass"][str(k)] for k in ks], ls="--", marker=".",
                    label=f"{split}: pass@k")  # fmt: skip
            ax.axhline(bench.data[split]["accuracy"]["steps"], ls=":", color="gray")
        ax.set_xscale("log", base=2)
        ax.legend()
    if verifier is None:
        bench.note("no learned verifier (train one: `palestra train verifier`): arm left out")
    else:
        meta = json.loads((verifier / "verifier.json").read_text())
        bench.note(
            f"learned verifier {verifier}: {meta.get('samples')} samples of {meta.get('task')}"
            f" (right {meta.get('right_share_train', 0):.2f}), held-out AUC "
            f"{meta.get('val_auc') or float('nan'):.3f}, selection {meta.get('val_selection')}"
        )
