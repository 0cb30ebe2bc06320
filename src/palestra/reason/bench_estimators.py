"""Are the estimators of ``palestra eval`` right? pass@k and maj@k measured end to end over
HTTP against a model whose answer distribution is known, compared with their closed forms.

The model is :class:`~palestra.reason.scripted.ScriptedServer` on a synthetic answer task
(:class:`SumTask`, additions ``"a+b="``): every sample, independently, is right with
probability ``p`` and otherwise one of ``W`` distinct wrong answers, each with probability
``q = (1 - p) / W``. The whole machinery runs: :func:`palestra.reason.evaluate.evaluate` sends
one request per sample with its derived seed through :class:`OpenAIBackend`, checks each
answer with the task's checker, writes the JSONL and computes the summary.

**pass@k.** A problem is solved by k independent samples unless all k are wrong::

    pass@k = 1 - (1 - p)^k

**maj@k.** Let the k samples fall into the classes right, wrong_1, ..., wrong_W with counts
``(c, w_1, ..., w_W)``, a multinomial with probabilities ``(p, q, ..., q)``. Majority voting
answers right with probability ``1 / (1 + #{i : w_i = c})`` when ``c >= max_i w_i`` and
``c > 0`` (the right answer ties with that many wrong ones, broken uniformly), else 0. So::

    maj@k = sum over (c, w) with c + sum(w) = k, c >= max(w), c > 0 of
            k! / (c! prod w_i!) * p^c * q^(k - c) / (1 + #{i : w_i = c})

a finite sum that :func:`maj_at_k_closed_form` evaluates exactly (no simpler form exists for
general W; for k = 1 and k = 2 it is ``p``: a 1-1 tie is a coin flip).

**The check.** Both estimators are unbiased for these quantities (maj@k of
:mod:`palestra.reason.metrics` averages over k-subsets of i.i.d. samples, which are k i.i.d.
samples). The mean over P problems is compared with the truth through a normal interval over
problems (:func:`palestra.reason.evaluate.estimate_interval`: Wilson's where every problem
scored the same), its z Bonferroni-corrected for the number of (p, k, estimator) checks at a
family-wise level ``alpha``; the suite also checks
that the checker accepted exactly the samples the server meant to be right.

What it does not check: code tasks (the estimator is the same function; the sandbox is
:mod:`palestra.reason.bench_code`'s), nor a real model's calibration.
"""

from __future__ import annotations

import math
import random
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

from palestra.core.verdict import Verdict
from palestra.reason.task import Checked, Problem, Task

__all__ = [
    "SumTask",
    "maj_at_k_closed_form",
    "pass_at_k_truth",
    "run_estimator_checks",
]


class SumTask(Task):
    """Synthetic additions ``"a+b="`` (three-digit operands, seeded); the answer is the first
    integer of the completion. Not registered: it exists for the estimator checks."""

    name = "sum"
    kind = "answer"
    dataset = ""
    stop = ("\n",)
    max_tokens = 8

    def __init__(self, count: int = 200, seed: int = 0) -> None:
        self.count, self.seed = count, seed

    def problems(self, data: str | Path | None = None) -> list[Problem]:
        rng = random.Random(f"sum-task/{self.seed}")
        out = []
        for i in range(self.count):
            a, b = rng.randrange(100, 1000), rng.randrange(100, 1000)
            out.append(Problem("sum", str(i), f"{a}+{b}=", f"What is {a}+{b}?", str(a + b)))
        return out

    def check(self, problem: Problem, completion: str) -> Checked:
        m = re.match(r"\s*(-?\d+)", completion)
        if m is None:
            return Checked(Verdict.reject("no number in the completion"), None)
        answer = str(int(m.group(1)))
        if answer == problem.reference:
            return Checked(Verdict.accept(), answer)
        return Checked(Verdict.reject(f"{answer} is not {problem.reference}"), answer)

    def reference_completion(self, problem: Problem) -> str:
        return problem.reference


def pass_at_k_truth(p: float, k: int) -> float:
    """pass@k of a model right with probability ``p`` on every sample."""
    return 1.0 - (1.0 - p) ** k


def _compositions(total: int, parts: int) -> Any:
    """Every tuple of ``parts`` non-negative integers summing to ``total``."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def maj_at_k_closed_form(p: float, wrong: Sequence[float], k: int) -> float:
    """maj@k when each sample is right with probability ``p`` and wrong with answer ``i``
    with probability ``wrong[i]`` (the rest, if any, votes for nothing and never wins); ties
    broken uniformly. The exact finite sum of the module docstring."""
    none = 1.0 - p - sum(wrong)
    if none < -1e-12:
        raise ValueError("p and the wrong answers' probabilities sum to more than 1")
    none = max(0.0, none)
    total = 0.0
    for counts in _compositions(k, len(wrong) + 2):
        c, ws, blank = counts[0], counts[1:-1], counts[-1]
        if c == 0 or any(w > c for w in ws):
            continue
        ties = 1 + sum(w == c for w in ws)
        coefficient = math.factorial(k) // math.prod(math.factorial(x) for x in counts)
        probability = coefficient * p**c * math.prod(q**w for q, w in zip(wrong, ws, strict=True))
        total += probability * none**blank / ties
    return total


def run_estimator_checks(
    bench: Any,
    *,
    ps: Sequence[float] = (0.1, 0.3, 0.6),
    problems: int = 200,
    samples: int = 10,
    wrong: int = 3,
    alpha: float = 0.05,
    concurrency: int = 4,
    seed: int = 0,
) -> bool:
    """Run the checks of the module docstring for every ``p`` and every reported k; record a
    table, figures and a plot on ``bench``; return whether every estimate lies in its
    interval and the checker agreed with the server on every sample."""
    from palestra.lm.backends import OpenAIBackend
    from palestra.reason.evaluate import (
        EvalConfig,
        estimate_interval,
        evaluate,
        ks_for,
        read_samples,
    )
    from palestra.reason.metrics import maj_at_k, pass_at_k
    from palestra.reason.scripted import ScriptedServer

    task = SumTask(problems, seed)
    ks = ks_for(samples)
    checks = len(ps) * len(ks) * 2
    z = NormalDist().inv_cdf(1 - alpha / (2 * checks))
    rows, curves, all_ok = [], {}, True
    inside_count: dict[float, int] = {}
    with tempfile.TemporaryDirectory(prefix="palestra-bench-estimators-") as tmp:
        for p in ps:
            with ScriptedServer(task, task.problems(), p, wrong=wrong) as server:
                cfg = EvalConfig(
                    task.name,
                    backend=server.url,
                    model="scripted",
                    samples=samples,
                    temperature=1.0,
                    seed=seed,
                    concurrency=concurrency,
                    out=Path(tmp) / f"p{p}",
                    progress=False,
                )
                backend = OpenAIBackend(server.url, "scripted")
                run = evaluate(cfg, task=task, backend=backend, model="scripted", echo=False)
                served = dict(server.served)
            records = read_samples(run / "samples.jsonl")
            accepted = sum(bool(r["accepted"]) for r in records)
            agree = accepted == served.get("right", 0) and len(records) == problems * samples
            all_ok &= agree
            rows.append(
                [
                    f"p={p}",
                    "checker vs server",
                    "-",
                    accepted,
                    "-",
                    "-",
                    served.get("right", 0),
                    "✓" if agree else "✗",
                ]
            )
            by_problem: dict[str, list[dict[str, Any]]] = {}
            for r in sorted(records, key=lambda r: r["sample"]):
                by_problem.setdefault(r["problem"], []).append(r)
            for k in ks:
                estimates = {
                    "pass": [
                        pass_at_k(samples, sum(bool(r["accepted"]) for r in rs), k)
                        for rs in by_problem.values()
                    ],
                    "maj": [
                        maj_at_k([r["answer"] for r in rs], [bool(r["accepted"]) for r in rs], k)
                        for rs in by_problem.values()
                    ],
                }
                truths = {
                    "pass": pass_at_k_truth(p, k),
                    "maj": maj_at_k_closed_form(p, [(1 - p) / wrong] * wrong, k),
                }
                for name in ("pass", "maj"):
                    mean, low, high = estimate_interval(estimates[name], z=z)
                    truth = truths[name]
                    inside = low <= truth <= high
                    all_ok &= inside
                    inside_count[p] = inside_count.get(p, 0) + inside
                    rows.append(
                        [
                            f"p={p}",
                            f"{name}@{k}",
                            round(mean, 4),
                            round(low, 4),
                            round(high, 4),
                            round(truth, 4),
                            "-",
                            "✓" if inside else "✗",
                        ]
                    )
                    curves.setdefault((name, p), []).append((k, mean, low, high, truth))
    for p in ps:
        bench.figure(
            f"estimates within their interval of the closed form at p={p}",
            inside_count.get(p, 0),
            "checks",
            setting=f"of {2 * len(ks)}; {problems} problems x {samples} samples, {wrong} wrong",
        )
    bench.table(
        "estimators vs closed forms (scripted server over HTTP)",
        ["model", "estimator", "estimate", "low", "high", "closed form", "server right", "ok"],
        rows,
    )
    with bench.plot(
        "estimators", "pass@k and maj@k vs closed forms", xlabel="k", ylabel="estimate"
    ) as ax:
        for (name, p), points in sorted(curves.items()):
            xs = [pt[0] for pt in points]
            style = "-" if name == "pass" else "--"
            line = ax.plot(xs, [pt[1] for pt in points], style, marker="o", label=f"{name}@k p={p}")
            ax.fill_between(
                xs,
                [pt[2] for pt in points],
                [pt[3] for pt in points],
                color=line[0].get_color(),
                alpha=0.15,
            )
            ax.plot(xs, [pt[4] for pt in points], "x", color="black")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(ks, [str(k) for k in ks])
    bench.note(
        f"estimators: {problems} synthetic problems x {samples} samples per p, one HTTP request "
        f"per sample; each sample right with probability p, else one of {wrong} wrong answers "
        f"(uniform). Intervals: normal over problems, Bonferroni z={z:.2f} for {checks} checks "
        f"at family-wise alpha={alpha}; black crosses: closed forms. "
        + ("Every estimate lies in its interval." if all_ok else "SOME CHECKS FAILED (✗).")
    )
    return all_ok
