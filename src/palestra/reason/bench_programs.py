"""Bench ``lm-programs``: the language-model programs of issue 26 on a reasoning model trained
here, each against its baseline in the same run.

    palestra bench lm-programs -o model=runs/wordproblems/STAMP -o verifier=runs/verifier/STAMP
    palestra bench lm-programs --quick       # 20 problems per split

The model is a ``palestra train lm --task wordproblems`` run (README, results/NOTES.md give the
command); the verifier a ``palestra train verifier`` run on that model (optional: without it
the learned-verifier arm is left out, with a note). Unset, each is the newest run under
``runs/wordproblems`` (else the model shipped in ``palestra/data/models/wordproblems``, with
its README) and ``runs/verifier``.

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
- **Beam over steps**: 2 partial solutions kept, 4 continuations each, per line, scored by the
  arithmetic verifier (:mod:`palestra.reason.programs.beam`), vs best-of-``k`` with the same
  verifier; completion tokens per problem beside it.
- **Tool use**: calculator-style solutions with the calculator's results fed back
  (``--program tool``) vs the same style written by the model alone, on the usual quantities
  and on quantities of up to 3 digits (the model trained on 2).

Part ``star`` (:mod:`palestra.reason.star`): STaR from the same model on held-out-template
questions with answers only, ``star_iterations`` iterations, against its two controls run with
the same fine-tuning (replay batches only; as many ground-truth solutions as STaR kept);
greedy held-out and training-template accuracy after each iteration, plotted.

Part ``promptbreeder`` (:mod:`palestra.reason.promptbreeder`): the model as solver and
mutator, from initial prompts it generates itself (the paper's start) and from the paper's
thinking styles, ``pb_seeds`` seeds each; the best evolved prompt's held-out accuracy against
the initial population's and the hand-written "Think step by step.".

Part ``si`` (:mod:`palestra.reason.programs.selection_inference`): on the rule chains of
:mod:`palestra.reason.rulechains` (held-out names), with the model ``si_model`` (a
``palestra train lm --task rulechains`` run; unset, the newest under ``runs/rulechains``, else
the shipped one): greedy direct answer vs greedy chain of thought vs selection-inference
without and with the prover checking each step, on rule chains whose entities have made-up
names (as in training) and real first names (never trained on). Answer accuracy, and the
share of True problems answered with a *proof* (every step's selection stated or inferred,
its inference proved from the selection by the connection prover, the last step the goal),
by answer and depth.

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
# the models trained for this bench, shipped with their READMEs (used when runs/ has none)
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "data" / "models" / "wordproblems"
SHIPPED_SI_MODEL = SHIPPED_MODEL.parent / "rulechains"
PARTS = ("programs", "star", "promptbreeder", "si")


@dataclass
class ProgramsBenchOptions(Config):
    """Options of ``palestra bench lm-programs``."""

    model: Path | None = arg(None, "The word-problem model (unset: newest runs/wordproblems/*).")
    verifier: Path | None = arg(None, "The learned verifier (unset: newest runs/verifier/*).")
    limit: int = arg(100, "Problems per split (quick: 20).", min=1)
    parts: tuple[str, ...] = arg(
        ("programs", "star", "promptbreeder", "si"), "Parts: programs, star, promptbreeder, si."
    )
    si_model: Path | None = arg(
        None, "Part si: the rule-chain model (unset: newest runs/rulechains/*, else shipped)."
    )
    si_tries: int = arg(4, "Part si: draws of a step before the prover-checked SI gives up.", min=1)
    samples: int = arg(32, "Sampled solutions per problem for maj@k and pass@k.", min=1)
    k: int = arg(8, "Candidates of best-of-k.", min=1)
    temperature: float = arg(0.7, "Sampling temperature.", above=0, max=2)
    splits: tuple[str, ...] = arg(("train", "heldout"), "Splits: train, heldout.")
    runs: Path = arg(Path("runs/lm-programs"), "Where the arms' eval runs are kept (resumed).")
    threads: int = arg(1, "torch threads of the in-process model.", min=1)
    concurrency: int = arg(8, "Requests in flight (continuous batching).", min=1)
    star_iterations: int = arg(3, "STaR: iterations of each arm.", min=1)
    star_problems: int = arg(500, "STaR: questions (answers only) per iteration.", min=1)
    star_steps: int = arg(200, "STaR: fine-tuning steps of the first iteration.", min=1)
    pb_seeds: int = arg(2, "Promptbreeder: seeds of each start.", min=1)
    pb_population: int = arg(10, "Promptbreeder: population.", min=2)
    pb_generations: int = arg(10, "Promptbreeder: generations.", min=1)
    pb_batch: int = arg(20, "Promptbreeder: training questions per tournament.", min=1)


def _newest(folder: Path) -> Path | None:
    runs = sorted(p for p in folder.glob("*") if (p / "config.json").is_file())
    return runs[-1] if runs else None


def _interval(p: float, n: int) -> str:
    """A 95% Wilson interval of an accuracy ``p`` over ``n`` problems, as text."""
    from palestra.reason.metrics import wilson_interval

    low, high = wilson_interval(round(p * n), n)
    return f"95% CI [{low:.2f}, {high:.2f}]"


def _curves(run_dir: Path, task: str, ks: list[int]) -> tuple[dict[str, float], dict[str, float]]:
    """maj@k and pass@k for every k in ``ks`` of an eval run's samples
    (:func:`palestra.reason.evaluate.summarize`, which reports only its own k otherwise)."""
    from palestra.reason.evaluate import read_samples, summarize
    from palestra.reason.task import get_task

    summary = json.loads((run_dir / "summary.json").read_text())
    records = read_samples(run_dir / "samples.jsonl")
    problems = list(dict.fromkeys(r["problem"] for r in records))
    again = summarize(records, task=get_task(task), problems=problems,
                      samples=summary["samples"], ks=ks)  # fmt: skip
    return again["maj@k"], again["pass@k"]


def _task(split: str, style: str) -> str:
    base = SPLITS[split]
    return base if style == "steps" else f"{base}-{style}"


@register_suite("lm-programs", config=ProgramsBenchOptions)
def run(bench: Bench) -> None:
    opts: ProgramsBenchOptions = bench.options or ProgramsBenchOptions()
    unknown = [s for s in opts.splits if s not in SPLITS]
    unknown += [p for p in opts.parts if p not in PARTS]
    if unknown:
        raise PalestraError(f"unknown splits or parts {unknown}")
    if "si" in opts.parts:  # its own model: first, so a word-problem part's error spares it
        _selection_inference(bench, opts)
    if not set(opts.parts) - {"si"}:
        return
    model = opts.model or _newest(Path("runs/wordproblems")) or SHIPPED_MODEL
    bench.data["model"] = str(model)
    if "programs" in opts.parts:
        _programs(bench, opts, model)
    if "star" in opts.parts:
        _star(bench, opts, model)
    if "promptbreeder" in opts.parts:
        _promptbreeder(bench, opts, model)


def _promptbreeder(bench: Bench, opts: ProgramsBenchOptions, model: Path) -> None:
    """Promptbreeder with the model as solver and mutator, from two starts (initial prompts
    generated by the model, as in the paper; the paper's thinking styles as the initial
    prompts), ``pb_seeds`` seeds each; held-out accuracy of the best evolved prompt vs the
    initial ones and the hand-written "Think step by step."."""
    from palestra.reason.promptbreeder import (
        THINKING_STYLES,
        PromptbreederConfig,
        run_promptbreeder,
    )

    quick = bench.quick
    rows = []
    by_start: dict[str, dict[str, list[float]]] = {}
    curves: dict[str, list[dict[str, Any]]] = {}
    for start, initial in (("generated", ()), ("thinking styles", THINKING_STYLES)):
        got = by_start.setdefault(start, {"best": [], "mean": [], "cot": []})
        for seed in range(opts.pb_seeds):
            cfg = PromptbreederConfig(
                backend=f"local:{model}", initial=tuple(initial), seed=bench.seed + seed,
                population=min(4, opts.pb_population) if quick else opts.pb_population,
                generations=min(2, opts.pb_generations) if quick else opts.pb_generations,
                batch=min(5, opts.pb_batch) if quick else opts.pb_batch,
                heldout_limit=min(20, opts.limit) if quick else opts.limit,
                concurrency=opts.concurrency,
                out=opts.runs / "promptbreeder" / f"{start.replace(' ', '-')}-{seed}",
            )  # fmt: skip
            out = run_promptbreeder(cfg)
            r = json.loads((out / "report.json").read_text())
            initial_scores = [x["heldout"] for x in r["initial"]]
            cot_score = r["extra"]["hand-written chain of thought"]["heldout"]
            mean_initial = sum(initial_scores) / len(initial_scores)
            rows.append([start, seed, r["best"]["prompt"][:60], r["best"]["heldout"],
                         mean_initial, max(initial_scores), cot_score])  # fmt: skip
            curves[f"{start}, seed {seed}"] = r.get("curve", [])
            got["best"].append(r["best"]["heldout"])
            got["mean"].append(mean_initial)
            got["cot"].append(cot_score)
    bench.table(
        "Promptbreeder: held-out accuracy of the best evolved prompt vs its start",
        ["start", "seed", "best evolved prompt", "best, held-out", "initial mean",
         "initial best", "'Think step by step.'"],
        rows,
    )  # fmt: skip

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    with bench.plot("lm_programs_promptbreeder",
                    "Promptbreeder: held-out accuracy of each generation's best prompt",
                    xlabel="generation", ylabel="held-out accuracy") as ax:  # fmt: skip
        for label, points in curves.items():
            ax.plot([p["generation"] for p in points], [p["heldout"] for p in points],
                    marker="o", label=label)  # fmt: skip
        cot = [c for got in by_start.values() for c in got["cot"]]
        ax.axhline(mean(cot), ls=":", color="gray", label="'Think step by step.'")
        ax.legend()

    for start, got in by_start.items():
        n = f"{opts.pb_seeds} seeds, mean; start: {start}; held-out templates"
        bench.figure(f"Promptbreeder ({start} start): best evolved prompt, held-out",
                     mean(got["best"]), "accuracy", peer="its initial population (mean)",
                     peer_value=mean(got["mean"]), setting=n)  # fmt: skip
        bench.figure(f"Promptbreeder ({start} start): best evolved vs hand-written CoT",
                     mean(got["best"]), "accuracy", peer="'Think step by step.'",
                     peer_value=mean(got["cot"]), setting=n)  # fmt: skip


def _star(bench: Bench, opts: ProgramsBenchOptions, model: Path) -> None:
    """STaR from the model on the held-out templates' questions, with its two controls; each
    arm a resumable run under ``runs/star/ARM``."""
    from palestra.reason.star import StarConfig, train_star

    quick = bench.quick
    base = dict(
        generator=model, task="wordproblems", seed=bench.seed, threads=opts.threads,
        concurrency=opts.concurrency, iterations=1 if quick else opts.star_iterations,
        problems=min(50, opts.star_problems) if quick else opts.star_problems,
        steps=min(20, opts.star_steps) if quick else opts.star_steps,
        eval_limit=min(20, opts.limit) if quick else opts.limit, resume=True,
    )  # fmt: skip
    star = train_star(StarConfig(root=opts.runs / "star" / "star", **base))
    arms = {"STaR": star}
    arms["replay control"] = train_star(
        StarConfig(root=opts.runs / "star" / "replay", control="replay", **base)
    )
    arms["gold rationales"] = train_star(
        StarConfig(root=opts.runs / "star" / "gold", control="gold", match=star, **base)
    )
    histories = {a: json.loads((d / "history.json").read_text()) for a, d in arms.items()}
    rows = []
    for arm, history in histories.items():
        for h in history:
            rows.append([arm, h["iteration"], h.get("rationales", "–"), h.get("steps", "–"),
                         h["accuracy"]["heldout"], h["accuracy"]["train"]])  # fmt: skip
    headers = ["arm", "iteration", "rationales", "steps", "held-out", "training"]
    bench.table("STaR: greedy accuracy after each iteration (held-out / training templates)",
                headers, rows)  # fmt: skip
    last = {a: h[-1]["accuracy"]["heldout"] for a, h in histories.items()}
    n = base["eval_limit"]
    bench.figure("STaR held-out accuracy, last iteration", last["STaR"], "accuracy",
                 peer="start model", peer_value=histories["STaR"][0]["accuracy"]["heldout"],
                 setting=f"{n} held-out problems, greedy")  # fmt: skip
    bench.figure("STaR vs the replay-only control, held-out", last["STaR"], "accuracy",
                 peer="same fine-tuning, no rationales", peer_value=last["replay control"],
                 setting=f"{n} held-out problems")  # fmt: skip
    bench.figure("STaR vs as many ground-truth rationales, held-out", last["STaR"], "accuracy",
                 peer="gold solutions, same count", peer_value=last["gold rationales"],
                 setting=f"{n} held-out problems")  # fmt: skip
    with bench.plot("lm_programs_star", "STaR: held-out accuracy by iteration",
                    xlabel="iteration", ylabel="greedy accuracy") as ax:  # fmt: skip
        for arm, history in histories.items():
            ax.plot([h["iteration"] for h in history],
                    [h["accuracy"]["heldout"] for h in history], marker="o", label=arm)  # fmt: skip
        ax.legend()
    bench.data["star"] = {a: str(d) for a, d in arms.items()}


def _programs(bench: Bench, opts: ProgramsBenchOptions, model: Path) -> None:
    from palestra.lm.backends import LocalBackend
    from palestra.reason.evaluate import EvalConfig, evaluate

    verifier = opts.verifier or _newest(Path("runs/verifier"))
    if verifier is not None and not (verifier / "verifier.json").is_file():
        verifier = None
    limit = min(opts.limit, 20) if bench.quick else opts.limit
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
            arm(split, f"sampled-{opts.samples}", _task(split, "steps"),
                          samples=opts.samples, temperature=opts.temperature)  # fmt: skip
            calc = arm(split, "calc", _task(split, "calc"))
            tool = arm(split, "tool", _task(split, "calc"), program="tool")
            calc_large = arm(split, "calc-large", _task(split, "calc-large"))
            tool_large = arm(split, "tool-large", _task(split, "calc-large"), program="tool")
            bon = arm(split, f"best-of-{opts.k}-arithmetic", _task(split, "steps"),
                      program="best-of-n", k=opts.k, temperature=opts.temperature,
                      verifier="arithmetic")  # fmt: skip
            beam = arm(split, "beam-2x4-arithmetic", _task(split, "steps"), program="beam",
                       beam=2, k=4, temperature=opts.temperature,
                       verifier="arithmetic")  # fmt: skip
            acc["beam_arithmetic"] = beam["pass@k"]["1"]
            tokens = {"beam": beam["tokens"]["completion_per_sample"],
                      "best-of-n": bon["tokens"]["completion_per_sample"]}  # fmt: skip
            acc["direct"] = direct["pass@k"]["1"]
            acc["steps"] = steps["pass@k"]["1"]
            acc["calc"] = calc["pass@k"]["1"]
            acc["tool"] = tool["pass@k"]["1"]
            acc["calc_large"] = calc_large["pass@k"]["1"]
            acc["tool_large"] = tool_large["pass@k"]["1"]
            acc["best_of_k_arithmetic"] = bon["pass@k"]["1"]
            ks = sorted(
                {1, opts.k, opts.samples} | {2**i for i in range(8) if 2**i <= opts.samples}
            )
            ks = [k for k in ks if k <= opts.samples]
            run_dir = opts.runs / split / f"sampled-{opts.samples}"
            maj, pas = _curves(run_dir, _task(split, "steps"), ks)
            curves[split] = {"maj": maj, "pass": pas}
            kk = str(min(opts.k, opts.samples))
            acc["maj_at_k"] = maj[kk]
            acc["maj_at_all"] = maj[str(opts.samples)]
            acc["sample"] = pas["1"]
            if verifier is not None:
                learned = arm(split, f"best-of-{opts.k}-learned", _task(split, "steps"),
                              program="best-of-n", k=opts.k, temperature=opts.temperature,
                              verifier=f"learned:{verifier}")  # fmt: skip
                acc["best_of_k_learned"] = learned["pass@k"]["1"]
            n = f"{limit} problems, {split} split"
            bench.figure(f"{split}: step by step (greedy)", acc["steps"], "accuracy",
                         peer="direct answer (greedy)", peer_value=acc["direct"],
                         setting=f"{n}; {_interval(acc['steps'], limit)} vs "
                         f"{_interval(acc['direct'], limit)}")  # fmt: skip
            vote = f"{n}; majority of {opts.samples} samples at T={opts.temperature}"
            bench.figure(f"{split}: maj@{opts.samples}", acc["maj_at_all"],
                         "accuracy", peer="greedy step by step", peer_value=acc["steps"],
                         setting=vote)  # fmt: skip
            if "best_of_k_learned" in acc:
                bench.figure(f"{split}: best-of-{opts.k}, learned verifier",
                             acc["best_of_k_learned"], "accuracy", peer=f"maj@{kk}",
                             peer_value=acc["maj_at_k"],
                             setting=f"{n}; same number of samples; "
                             f"{_interval(acc['best_of_k_learned'], limit)}")  # fmt: skip
            bench.figure(f"{split}: best-of-{opts.k}, arithmetic verifier",
                         acc["best_of_k_arithmetic"], "accuracy", peer=f"maj@{kk}",
                         peer_value=acc["maj_at_k"],
                         setting=f"{n}; same number of samples; "
                         f"{_interval(acc['best_of_k_arithmetic'], limit)}")  # fmt: skip
            bench.figure(f"{split}: beam over steps (2 kept x 4 continuations), arithmetic "
                         "verifier", acc["beam_arithmetic"], "accuracy",
                         peer=f"best-of-{opts.k}, same verifier",
                         peer_value=acc["best_of_k_arithmetic"],
                         setting=f"{n}; completion tokens per problem {tokens['beam']:.0f} vs "
                         f"{tokens['best-of-n']:.0f}; "
                         f"{_interval(acc['beam_arithmetic'], limit)}")  # fmt: skip
            bench.figure(f"{split}: calculator tool (greedy)", acc["tool"], "accuracy",
                         peer="calculator style without the tool", peer_value=acc["calc"],
                         setting=f"{n}; {_interval(acc['tool'], limit)} vs "
                         f"{_interval(acc['calc'], limit)}")  # fmt: skip
            bench.figure(f"{split}: calculator tool, 3-digit quantities", acc["tool_large"],
                         "accuracy", peer="calculator style without the tool",
                         peer_value=acc["calc_large"],
                         setting=f"{n}; quantities up to 3 digits, trained on 2; "
                         f"{_interval(acc['tool_large'], limit)} vs "
                         f"{_interval(acc['calc_large'], limit)}")  # fmt: skip
            bench.data[split] = {"accuracy": acc, "maj@k": maj, "pass@k": pas}
        try:  # the real GSM8K slice, however low (the data set may be missing)
            gsm = arm("gsm8k", "zeroshot", "gsm8k-zeroshot")
        except PalestraError as e:
            bench.note(f"GSM8K slice not run: {e}")
        else:
            bench.data["gsm8k"] = {"accuracy": gsm["pass@k"]["1"], "errors": gsm.get("errors")}
            bench.figure("GSM8K test, zero-shot step by step (greedy)", gsm["pass@k"]["1"],
                         "accuracy", setting=f"first {limit} problems; prompts longer than "
                         f"the model's context ({gsm.get('errors')}) count as wrong")  # fmt: skip
    finally:
        backend.close()

    rows = []
    for split in opts.splits:
        a = bench.data[split]["accuracy"]
        rows.append([split, *(round(a.get(key, float("nan")), 3) for key in (
            "direct", "steps", "sample", "maj_at_k", "maj_at_all", "best_of_k_arithmetic",
            "best_of_k_learned", "beam_arithmetic", "calc", "tool", "calc_large",
            "tool_large"))])  # fmt: skip
    bench.table(
        f"accuracy per arm ({limit} problems per split)",
        ["split", "direct", "step by step", "one sample", f"maj@{opts.k}", f"maj@{opts.samples}",
         f"best-of-{opts.k} arithmetic", f"best-of-{opts.k} learned", "beam 2x4 arithmetic",
         "calc style", "calc + tool",
         "calc, 3 digits", "calc + tool, 3 digits"],
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


def _selection_inference(bench: Bench, opts: ProgramsBenchOptions) -> None:
    """Direct vs chain of thought vs selection-inference, unchecked and prover-checked, on
    rule chains with made-up names (as in training) and with held-out real names; accuracy
    and proofs by answer and depth (the module doc)."""
    from palestra.lm.backends import LocalBackend

    model = opts.si_model or _newest(Path("runs/rulechains")) or SHIPPED_SI_MODEL
    bench.data["si_model"] = str(model)
    limit = min(opts.limit, 20) if bench.quick else opts.limit
    arms: dict[str, dict[str, Any]] = {
        "direct": {"style": "-direct"},
        "chain of thought": {"style": ""},
        "SI": {"style": "", "program": "si", "check_steps": False},
        "SI + prover": {"style": "", "program": "si", "k": opts.si_tries},
    }
    splits = {"made-up names": "rulechains-train", "held-out names": "rulechains"}
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with LocalBackend(model, threads=opts.threads) as backend:
        for split, task in splits.items():
            for label, kw in arms.items():
                results.setdefault(split, {})[label] = _si_arm(
                    bench, opts, backend, str(model), limit, split, label,
                    task + kw["style"], {k: v for k, v in kw.items() if k != "style"},
                )  # fmt: skip
    bench.data["si"] = results
    rows = []
    for split, by_arm in results.items():
        for label, got in by_arm.items():
            rows.append([split, label, round(got["right"] / got["n"], 3),
                         round(got["proved"] / max(1, got["true"]), 3)] + [
                round(d["right"] / d["n"], 2) for _, d in sorted(got["by_depth"].items())
            ])  # fmt: skip
    depths = sorted(results["held-out names"]["direct"]["by_depth"])
    bench.table(
        f"rule chains ({limit} problems per split): accuracy, True problems proved, and "
        "accuracy by answer and depth",
        ["names", "arm", "accuracy", "True proved", *depths],
        rows,
    )

    for split, by_arm in results.items():
        n = f"{limit} rule chains, {split}, greedy"

        def acc(label: str, by_arm: dict[str, Any] = by_arm) -> float:
            return by_arm[label]["right"] / by_arm[label]["n"]

        def proofs(label: str, by_arm: dict[str, Any] = by_arm) -> float:
            return by_arm[label]["proved"] / max(1, by_arm[label]["true"])

        bench.figure(f"rule chains, {split}: chain of thought", acc("chain of thought"),
                     "accuracy", peer="direct answer", peer_value=acc("direct"),
                     setting=f"{n}; {_interval(acc('chain of thought'), limit)}")  # fmt: skip
        bench.figure(f"rule chains, {split}: selection-inference + prover", acc("SI + prover"),
                     "accuracy", peer="chain of thought", peer_value=acc("chain of thought"),
                     setting=f"{n}; {_interval(acc('SI + prover'), limit)}")  # fmt: skip
        bench.figure(f"rule chains, {split}: True problems answered with a checked proof",
                     proofs("SI + prover"), "share", peer="chain of thought",
                     peer_value=proofs("chain of thought"),
                     setting=f"{n}; every step re-proved by the connection prover")  # fmt: skip
        bench.figure(f"rule chains, {split}: SI proofs, prover-checked vs unchecked",
                     proofs("SI + prover"), "share", peer="SI unchecked",
                     peer_value=proofs("SI"), setting=n)  # fmt: skip
    with bench.plot("lm_programs_si", "Rule chains: accuracy by answer and depth",
                    xlabel="answer, depth", ylabel="accuracy") as ax:  # fmt: skip
        for split, by_arm in results.items():
            for label, got in by_arm.items():
                ax.plot(depths, [got["by_depth"][d]["right"] / got["by_depth"][d]["n"]
                                 for d in depths], marker="o", label=f"{label} ({split})",
                        ls="-" if split == "held-out names" else ":")  # fmt: skip
        ax.legend(fontsize=7)


def _si_arm(
    bench: Bench,
    opts: ProgramsBenchOptions,
    backend: Any,
    model: str,
    limit: int,
    split: str,
    label: str,
    task: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    """One arm of part si: an eval run (kept, resumed), then its accuracy and its proofs
    (each True problem's steps re-checked by :func:`palestra.reason.rulechains.check_trace`),
    overall and by answer and depth."""
    from palestra.reason import rulechains as rc
    from palestra.reason.evaluate import EvalConfig, evaluate, read_samples
    from palestra.reason.task import get_task

    out = opts.runs / "si" / split.replace(" ", "-") / label.replace(" ", "-")
    cfg = EvalConfig(task=task, backend=f"local:{model}", limit=limit, seed=bench.seed,
                     progress=False, concurrency=opts.concurrency, out=out,
                     **options)  # fmt: skip
    run_dir = evaluate(cfg, backend=backend, model=model, echo=False)
    problems = {p.id: p for p in get_task(task).problems()}
    got: dict[str, Any] = {"right": 0, "proved": 0, "true": 0, "by_depth": {}}
    records = read_samples(run_dir / "samples.jsonl")
    for r in records:
        p = problems[r["problem"]]
        d = got["by_depth"].setdefault(f"{p.reference} {p.meta['depth']}",
                                       {"n": 0, "right": 0, "proved": 0})  # fmt: skip
        d["n"] += 1
        d["right"] += bool(r["accepted"])
        got["right"] += bool(r["accepted"])
        if p.reference == "True":
            got["true"] += 1
            steps, answer, _ = rc.parse_steps(r["completion"])
            meta = p.meta
            proved = answer == "True" and not rc.check_trace(
                meta["context"], meta["name"], meta["goal"], steps
            )
            got["proved"] += proved
            d["proved"] += proved
    got["n"] = len(records)
    return got
