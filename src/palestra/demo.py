"""``palestra demo``: a tour of every pillar built so far, on small built-in data.

Each section runs one pillar for a minute or so on 2 cores, checks every answer with the
pillar's verifier, and adds figures, tables and plots to one report (the bench report format),
written into the demo's run directory. Sections grow as pillars land.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from palestra.core.bench import Bench
from palestra.core.config import Config, arg
from palestra.core.errors import PalestraError
from palestra.core.progress import progress, progress_bar
from palestra.core.runs import Run, read_metrics

__all__ = ["DemoConfig", "run_demo"]

console = Console(stderr=True)


@dataclass
class DemoConfig(Config):
    """Run the tour: every pillar on small built-in data, one Markdown report."""

    quick: bool = arg(False, "a shorter tour (used by the tests)")
    seed: int = arg(0, "seed for generated data", min=0)
    sections: tuple[str, ...] = arg((), "only these sections (comma-separated; default: all)")
    runs_root: Path = arg(Path("runs"), "where run directories go")


# ------------------------------------------------------------------------------ Prove
def prove_section(bench: Bench, cfg: DemoConfig) -> None:
    """Prove built-in M2k problems with leanCoP's first strategy; compare with leanCoP 2.1."""
    from importlib import resources

    from palestra.prove.attempt import count_proved
    from palestra.prove.run import prove_paths

    data = resources.files("palestra") / "data" / "tptp"
    reference = {}
    for line in (data / "m2k_leancop21_reference.tsv").read_text().splitlines()[1:]:
        problem, _settings, status, inferences, _cpu = line.split("\t")
        reference[problem] = (status, int(inferences))
    files = sorted(Path(str(data / "m2k")).glob("*.p"))
    if cfg.quick:
        files = [f for f in files if reference[f.stem][1] < 1000][:4]
    limit = 200_000
    with progress_bar("Prove: M2k problems, [cut,comp(7)], 200k inferences", len(files)) as tick:
        results = prove_paths(
            files,
            strategy="[cut,comp(7)]",
            time_limit=120.0,
            inference_limit=limit,
            jobs=2,
            on_result=lambda _: tick(),
        )
    count_proved(results, "demo")  # refuses a proof the checker rejected
    proved = [r for r in results if r.proved]
    leancop_proved = sum(reference[r.problem][0] == "Theorem" for r in results)
    same = sum(
        (r.inferences if r.status == "Theorem" else limit + 1) == reference[r.problem][1]
        for r in results
    )
    bench.figure(
        "Prove: M2k problems proved, [cut,comp(7)], 200k inferences",
        len(proved),
        "problems",
        peer="leanCoP 2.1 (reference run)",
        peer_value=leancop_proved,
        setting=f"{len(results)} built-in M2k problems; every proof re-checked",
    )
    bench.note(
        f"Prove: inference counts equal to leanCoP 2.1's on {same} of {len(results)} problems "
        "(same calculus, same search order)."
    )
    rows = [
        [r.problem, r.status, r.inferences, reference[r.problem][1], r.seconds] for r in results
    ]
    bench.table(
        "Prove: per problem", ["problem", "status", "inferences", "leanCoP 2.1", "seconds"], rows
    )
    with bench.plot(
        "prove_inferences",
        "Prove: inferences to a proof",
        xlabel="problem (sorted)",
        ylabel="inferences (log)",
    ) as ax:
        counts = sorted(r.inferences for r in proved)
        ax.bar(range(len(counts)), counts)
        ax.set_yscale("log")


# ------------------------------------------------------------------------------ rlCoP
def rlcop_section(bench: Bench, cfg: DemoConfig) -> None:
    """MCTS guided by the shipped rlCoP model vs the same MCTS unguided, built-in M2k."""
    from importlib import resources

    from palestra.prove.attempt import ProofAttempt, count_proved
    from palestra.prove.rlcop import model_settings, run_attempts

    files = sorted(Path(str(resources.files("palestra") / "data" / "tptp" / "m2k")).glob("*.p"))
    if cfg.quick:
        files = files[:4]
    limit = 20_000
    model, guided, unguided = model_settings("default", limit, cfg.seed)
    results: dict[str, dict[str, ProofAttempt]] = {}
    for name, m, s in (("unguided", None, unguided), ("guided", model, guided)):
        with progress_bar(f"rlCoP: {name} MCTS, {limit:,} inferences", len(files)) as tick:

            def done(r: ProofAttempt, _data: object, name: str = name) -> None:
                count_proved([r], "demo, rlCoP")  # refuses a proof the checker rejected
                results.setdefault(r.problem, {})[name] = r
                tick()

            run_attempts(files, m, s, iteration=1, jobs=2, collect=False, on_done=done)
    trained = set((model / "trained_on.txt").read_text().split())
    held_out = sorted(p for p in results if p not in trained)

    parts = [
        (
            "rlCoP: built-in M2k problems proved, MCTS guided by the shipped model",
            sorted(results),
            f"{len(files)} built-in M2k problems, {limit:,} inferences each; "
            "every proof re-checked",
        ),
        (
            "rlCoP: of those, problems the model never trained on",
            held_out,
            f"{len(held_out)} built-in problems outside the model's training problems",
        ),
    ]
    for title, problems, setting in parts:
        if problems:
            count = {k: sum(results[p][k].proved for p in problems) for k in ("guided", "unguided")}
            bench.figure(
                title,
                count["guided"],
                "problems",
                peer="the same MCTS unguided",
                peer_value=count["unguided"],
                setting=setting,
            )
    rows = [
        [
            p,
            "held out" if p in held_out else "trained on",
            r["unguided"].status,
            r["unguided"].inferences,
            r["guided"].status,
            r["guided"].inferences,
        ]
        for p, r in sorted(results.items())
    ]
    bench.table(
        "rlCoP: per problem",
        ["problem", "model", "unguided", "inferences", "guided", "inferences"],
        rows,
    )


# ------------------------------------------------------------------------------ Coq
def coq_section(bench: Bench, cfg: DemoConfig) -> None:
    """Close miniF2F statements in Coq with a tactic portfolio; safe-verify every proof."""
    import shutil
    from importlib import resources

    if shutil.which("coqc") is None:
        bench.note("Coq: skipped, coqc not found (make demo installs Debian's coq).")
        return
    from palestra.coq.idetop import SessionPool
    from palestra.coq.portfolio import PortfolioConfig, prove_with_portfolio

    folder = Path(str(resources.files("palestra") / "data" / "coq" / "minif2f"))
    files = sorted(folder.glob("*.v"))[: 2 if cfg.quick else None]
    pool = SessionPool(max_idle=2)
    rows = []
    try:
        for path in progress(files, "Coq: tactic portfolio + safe verify on miniF2F"):
            result = prove_with_portfolio(
                path.read_text(), pool=pool, config=PortfolioConfig(tactic_timeout=3.0)
            )
            accepted = bool(result.verdict and result.verdict.accepted)
            if result.proved and not accepted:
                raise PalestraError(f"demo: {path.name}: a proof was reported without safe verify")
            rows.append(
                [
                    path.stem,
                    "proved" if result.proved else "not proved",
                    result.tactic or "",
                    round(result.seconds, 1),
                ]
            )
    finally:
        pool.close()
    proved = sum(r[1] == "proved" for r in rows)
    bench.figure(
        "Coq: miniF2F statements proved (tactic portfolio)",
        proved,
        "problems",
        setting=f"{len(rows)} built-in statements, 3 s per tactic; every proof safe-verified",
    )
    bench.table("Coq: per statement", ["statement", "result", "tactic", "seconds"], rows)


# ------------------------------------------------------------------------------ SAT
def sat_section(bench: Bench, cfg: DemoConfig) -> None:
    """Solve SR(40) formulas with DPLL under classical branching heuristics; check models."""
    import numpy as np

    from palestra.sat.cnf import Status
    from palestra.sat.dpll import solve_dpll
    from palestra.sat.generators import generate_sr_pair
    from palestra.sat.heuristics import DLIS, JeroslowWang

    n_pairs = 4 if cfg.quick else 20
    rng = np.random.default_rng(cfg.seed)
    formulas = []
    for _ in progress(range(n_pairs), "SAT: generating SR(40) pairs (MiniSat labels)"):
        pair = generate_sr_pair(40, rng, "hard")
        formulas += [("sat", pair.sat), ("unsat", pair.unsat)]
    from palestra.sat.neural import Hybrid, load_model

    model = load_model("default")  # the shipped graph network (src/palestra/data/models/)
    heuristics = {"DLIS": DLIS, "JW-OS": JeroslowWang, "hybrid GNN": lambda: Hybrid(model)}
    steps: dict[str, list[int]] = {name: [] for name in heuristics}
    checked = 0
    for kind, cnf in progress(formulas, "SAT: DPLL with DLIS, JW-OS and the hybrid network"):
        for name, make in heuristics.items():
            result = solve_dpll(cnf, make(), max_steps=1000)
            if result.status is Status.SATISFIABLE:
                if kind != "sat" or not cnf.check_model(result.model):
                    raise PalestraError(f"demo: DPLL/{name} returned a wrong model")
                checked += 1
            elif result.status is Status.UNSATISFIABLE and kind != "unsat":
                raise PalestraError(f"demo: DPLL/{name} refuted a satisfiable formula")
            steps[name].append(result.steps)
    med = {name: float(np.median(v)) for name, v in steps.items()}
    for name, peer in (("JW-OS", "DLIS"), ("hybrid GNN", "JW-OS")):
        bench.figure(
            f"SAT: median DPLL steps, SR(40), {name}",
            med[name],
            "steps",
            peer=peer,
            peer_value=med[peer],
            higher_is_better=False,
            setting=f"{len(formulas)} formulas (SAT/UNSAT pairs), 1,000-step cap",
        )
    with bench.plot(
        "sat_steps",
        "SAT: DPLL steps per SR(40) formula",
        xlabel="formula (sorted by JW-OS)",
        ylabel="steps (log)",
    ) as ax:
        order = np.argsort(steps["JW-OS"])
        for name, values in steps.items():
            ax.plot(np.asarray(values)[order], marker=".", lw=0.8, label=name)
        ax.set_yscale("log")
    bench.note(f"SAT: {checked} models returned by DPLL were checked against their formulas.")


# ------------------------------------------------------------------------------ LM
def lm_section(bench: Bench, cfg: DemoConfig) -> None:
    """Train a small transformer on 3-digit addition with a scratchpad; check its answers."""
    import random

    from palestra.lm.config import LMTrainConfig
    from palestra.lm.scratchpad import addition, check_addition
    from palestra.lm.tokenizers import load_tokenizer
    from palestra.lm.train import complete, train
    from palestra.models.transformer import Transformer

    steps = 40 if cfg.quick else 1200
    train_cfg = LMTrainConfig(
        task="addition-scratchpad",
        digits=3,
        n_layer=2,
        d_model=96,
        steps=steps,
        eval_every=steps if cfg.quick else steps // 6,
        checkpoint_every=max(steps // 3, 1),
        seed=cfg.seed,
        threads=1,
        runs_root=bench.out_dir / "runs",
    )
    run_dir = train(train_cfg)
    records = [r for r in read_metrics(run_dir) if "exact_match" in r]
    model = Transformer.from_pretrained(run_dir / "model")
    tokenizer = load_tokenizer(run_dir / "model" / "tokenizer.json")
    rng = random.Random(cfg.seed + 1)
    prompts = [addition(rng, 3, scratchpad=True)[0] for _ in range(64)]
    outputs = complete(model, tokenizer, prompts, max_new_tokens=64)
    verified = [check_addition(p, o) for p, o in zip(prompts, outputs, strict=True)]
    bench.figure(
        "LM: 3-digit addition solved (scratchpad), fresh prompts",
        100.0 * sum(verified) / len(verified),
        "%",
        setting=f"{model.num_params():,} parameters, {steps} steps; answers re-checked",
    )
    rows = [
        [p, o.replace("\n", " ⏎ "), "yes" if ok else "no"]
        for p, o, ok in list(zip(prompts, outputs, verified, strict=True))[:4]
    ]
    bench.table("LM: sample completions (greedy)", ["prompt", "completion", "correct"], rows)
    with bench.plot("lm_curve", "LM: held-out exact match while training", xlabel="step") as ax:
        ax.plot(
            [r["step"] for r in records],
            [r["exact_match"] for r in records],
            marker="o",
            label="exact match",
        )
        ax.plot(
            [r["step"] for r in records],
            [r["val_loss"] for r in records],
            marker=".",
            label="validation loss",
        )
    bench.note(f"LM: the training run is {run_dir} (`palestra report` renders its curves).")


SECTIONS: dict[str, tuple[str, Callable[[Bench, DemoConfig], None]]] = {
    "prove": ("Prove: the leanCoP connection calculus on Mizar problems", prove_section),
    "rlcop": ("rlCoP: MCTS guided by a learned policy and value", rlcop_section),
    "coq": ("Coq: miniF2F with a tactic portfolio and safe verify", coq_section),
    "sat": ("SAT: DPLL branching heuristics", sat_section),
    "lm": ("LM: a transformer learns addition with a scratchpad", lm_section),
}


def run_demo(cfg: DemoConfig) -> Path:
    """Run the selected sections; return the path of the Markdown report."""
    unknown = [s for s in cfg.sections if s not in SECTIONS]
    if unknown:
        raise PalestraError(f"unknown demo section(s) {unknown}; known: {', '.join(SECTIONS)}")
    names = list(cfg.sections) or list(SECTIONS)
    with Run.open("demo", cfg, seed=cfg.seed, root=cfg.runs_root, tensorboard=False) as run:
        bench = Bench(
            "demo",
            quick=cfg.quick,
            seed=cfg.seed,
            out_dir=run.dir,
            options=cfg,
            title="Palestra demo",
        )
        timings = []
        for name in names:
            title, section = SECTIONS[name]
            console.rule(title)
            t0 = time.perf_counter()
            section(bench, cfg)
            timings.append([title, round(time.perf_counter() - t0, 1)])
        bench.table("Sections", ["section", "seconds"], timings)
        _, md = bench.write()
    return md
