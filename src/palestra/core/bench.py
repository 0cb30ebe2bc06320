"""Bench suites: figures measured side by side with a peer, written as JSON and Markdown.

A suite is a function ``run(bench: Bench) -> None`` registered under a name. It measures
Palestra and the peer *in the same run* and records each figure with its unit::

    bench.figure("inferences/s", ours, unit="inf/s", peer="leanCoP 2.1", peer_value=theirs)
    bench.table("per problem", ["problem", "ours", "E"], rows)
    with bench.plot("proved_vs_time", "Problems proved vs time") as ax: ax.plot(...)
    bench.note("quick mode: 40-problem seeded sample")

``palestra bench SUITE`` then writes ``results/SUITE.json`` (every figure, its unit, the peer,
the ratio, and the provenance: commit, machine, packages, seed, options) and
``results/SUITE.md`` with the table and the plots (``results/SUITE_<plot>.png``). One format for
every suite. A suite's own options form a config dataclass, given with ``-o key=value`` or
``--config FILE``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from palestra.core.config import config_from_mapping, config_to_dict, read_config_file
from palestra.core.errors import PalestraError
from palestra.core.runs import Run, atomic_write_bytes, provenance

__all__ = [
    "Bench",
    "Figure",
    "Suite",
    "get_suite",
    "register_suite",
    "run_suite",
    "suite_names",
]


@dataclass
class Figure:
    """One measured quantity, and the peer's value of it measured in the same run."""

    name: str
    value: float | None
    unit: str
    peer: str | None = None
    peer_value: float | None = None
    higher_is_better: bool = True
    setting: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / peer; None when either is missing, the peer is zero, or either is negative
        (a ratio of a score of 18.7 to one of -20.4 means nothing: compare them with
        :attr:`better`)."""
        if self.value is None or not self.peer_value:
            return None
        if self.value < 0 or self.peer_value < 0:
            return None
        return self.value / self.peer_value

    @property
    def better(self) -> bool | None:
        """Whether ours is better than or equal to the peer's (None without both values)."""
        if self.value is None or self.peer_value is None:
            return None
        if self.higher_is_better:
            return self.value >= self.peer_value
        return self.value <= self.peer_value

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "better": self.better}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        """The figure of a result's JSON (derived keys such as ``ratio`` are recomputed)."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass
class Suite:
    name: str
    help: str
    run: Callable[[Bench], None]
    config: type | None = None


_SUITES: dict[str, Suite] = {}

# Suites of the built-in pillars: name -> (module that registers it, one-line help).
# Listed here so `palestra bench --list` needs no heavy imports.
_BUILTIN: dict[str, tuple[str, str]] = {
    "eval": (
        "palestra.reason.bench_eval",
        "evaluation harness: code sandbox and answer checkers, pass@k/maj@k vs closed forms over "
        "HTTP, server throughput, every task end to end against palestra lm serve",
    ),
    "lm-programs": (
        "palestra.reason.bench_programs",
        "LM programs on a word-problem model trained here: step by step vs direct, maj@k vs "
        "greedy, best-of-k with learned and arithmetic verifiers vs maj@k, calculator tool",
    ),
    "prover": (
        "palestra.prove.bench",
        "connection prover on M2k: proved at 200k inferences and at 10 s vs E 2.6, inferences/s",
    ),
    "atari": (
        "palestra.play.bench",
        "Atari on CPUs: PPO/BA3C training steps/s vs Stable-Baselines3 PPO; RAM vs screen vs "
        "both scores at a fixed frame budget",
    ),
    "atari-ray": (
        "palestra.play.bench_ray",
        "Atari on CPUs: BA3C training steps/s with 1, 2, 4, ... Ray rollout workers (up to the "
        "cores) vs BA3C in process, same env count",
    ),
    "expert": (
        "palestra.play.bench_expert",
        "expert-augmented actor-critic on Montezuma's Revenge: expert data by Go-Explore "
        "search, BA3C plain vs expert-augmented vs behaviour cloning at the same frames",
    ),
    "simple": (
        "palestra.play.bench_simple",
        "SimPLe on the RAM (world model of the console, PPO inside it) vs model-free PPO and "
        "random at 100k real interactions; world-model error over the horizon, time per part",
    ),
    "mgdt": (
        "palestra.play.bench_mgdt",
        "Multi-Game Decision Transformer: PPO agents -> data at four skill levels -> one model "
        "per size for all games, DT vs behaviour cloning, normalised scores by parameters",
    ),
    "control": (
        "palestra.control.bench",
        "continuous control on MuJoCo: QWR vs AWR vs Palestra SAC vs Stable-Baselines3 SAC, "
        "return curves over seeds and training steps/s, resumable arms",
    ),
    "coq": (
        "palestra.coq.bench",
        "Coq proof search on miniF2F valid: problems proved per search/proposer at a fixed "
        "per-problem budget, every proof safe-verified, vs the plain 20-tactic portfolio",
    ),
    "flop": (
        "palestra.prove.bench_flop",
        "FLoP on Robinson arithmetic RA-1/2/3: PPO from one training proof with a curriculum, "
        "solved and proof lengths vs Palestra's schedule and E at the same time per problem",
    ),
    "rlcop": (
        "palestra.prove.bench_rlcop",
        "rlCoP on M2k: proved per iteration on a 90/10 train/test split, vs unguided MCTS and "
        "leanCoP [cut,comp(7)] at the same inference limit",
    ),
    "sat": (
        "palestra.sat.bench",
        "Neural SAT branching (Jaszczur et al. 2019): DPLL/CDCL vs JW-OS and DLIS, guided CaDiCaL",
    ),
    "scratchpad": (
        "palestra.lm.bench_scratchpad",
        "long addition: exact match by length (trained on 1-8 digits, tested to 12), "
        "scratchpad vs direct answers, same model and budget",
    ),
    "serve": (
        "palestra.lm.bench_serve",
        "tokens/s of the OpenAI-compatible server at concurrency 1/4/8 and n=8: continuous "
        "batching vs one request at a time (--no-batching), and in process",
    ),
    "long-context": (
        "palestra.lm.bench_long",
        "dictionary lookup recall by context length x depth: vanilla (window, RoPE "
        "extrapolated / interpolated / NTK) vs FoT memory with and without cross-batch "
        "negatives, scored up to 16x the training context; tokens/s and peak memory",
    ),
    "splice": (
        "palestra.lm.bench_splice",
        "SPLiCe (BM25 structured packing) vs random packing at the same tokens: held-out bits "
        "per character by position on related and random held-out text",
    ),
    "lm-arch": (
        "palestra.lm.bench_arch",
        "character LM on stdlib sources: held-out bpc of Hourglass and sparse-FF vs vanilla at "
        "equal training FLOPs, training tokens/s; batch-1 decode tokens/s, sparse vs dense FF",
    ),
}


def register_suite(
    name: str, help: str | None = None, config: type | None = None
) -> Callable[[Callable[[Bench], None]], Callable[[Bench], None]]:
    """Decorator: register ``run(bench)`` as the suite ``name``; ``config`` its options.

    A built-in suite's one-line help lives in ``_BUILTIN`` (so listing needs no imports).
    """

    def wrap(fn: Callable[[Bench], None]) -> Callable[[Bench], None]:
        text = help if help is not None else _BUILTIN.get(name, ("", ""))[1]
        _SUITES[name] = Suite(name, text, fn, config)
        return fn

    return wrap


def suite_names() -> dict[str, str]:
    """Every known suite with its one-line help, sorted by name."""
    names = {n: s.help for n, s in _SUITES.items()}
    for n, (_, h) in _BUILTIN.items():
        names.setdefault(n, h)
    return dict(sorted(names.items()))


def get_suite(name: str) -> Suite:
    if name not in _SUITES and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name][0])
    if name not in _SUITES:
        known = ", ".join(suite_names()) or "none yet"
        raise PalestraError(f"unknown bench suite {name!r}; known: {known}")
    return _SUITES[name]


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, int) or (abs(x) >= 100 and float(x).is_integer()):
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


class Bench:
    """What a suite writes into while it runs; :meth:`write` produces the report."""

    def __init__(
        self,
        suite: str,
        *,
        quick: bool = False,
        seed: int = 0,
        out_dir: str | Path = "results",
        options: Any = None,
        title: str | None = None,
    ) -> None:
        self.suite = suite
        self.title = title or f"Bench `{suite}`"
        self.quick = quick
        self.seed = seed
        self.options = options
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.figures: list[Figure] = []
        self.tables: list[dict[str, Any]] = []
        self.plots: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.data: dict[str, Any] = {}
        self._started = time.time()
        # The code that runs is the code at the start: plots written during the run (under
        # results/, often tracked) or later edits must not mark the run "dirty".
        self._provenance = provenance()

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def figure(
        self,
        name: str,
        value: float | None,
        unit: str,
        *,
        peer: str | None = None,
        peer_value: float | None = None,
        higher_is_better: bool = True,
        setting: str = "",
    ) -> Figure:
        """Record a figure (and the peer's, measured in this same run)."""
        fig = Figure(name, value, unit, peer, peer_value, higher_is_better, setting)
        self.figures.append(fig)
        return fig

    def table(self, title: str, headers: list[str], rows: list[list[Any]]) -> None:
        """Record a table (shown in the Markdown, kept in the JSON)."""
        self.tables.append({"title": title, "headers": headers, "rows": rows})

    def note(self, text: str) -> None:
        """A sentence for the report: the setting, a caveat, what a figure means."""
        self.notes.append(text)

    @contextlib.contextmanager
    def plot(self, name: str, title: str, *, xlabel: str = "", ylabel: str = "") -> Iterator[Any]:
        """Draw on the yielded matplotlib axes; saved as ``SUITE_<name>.png`` on exit."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        try:
            yield ax
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
            ax.grid(alpha=0.3)
            fig.tight_layout()
            filename = f"{self.suite}_{name}.png"
            fig.savefig(self.out_dir / filename)
            self.plots.append({"name": name, "title": title, "file": filename})
        finally:
            plt.close(fig)

    # -- output ------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "title": self.title,
            "mode": self.mode,
            "seed": self.seed,
            "options": config_to_dict(self.options) if self.options is not None else None,
            "finished": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "seconds": round(time.time() - self._started, 2),
            "provenance": self._provenance,
            "figures": [f.to_dict() for f in self.figures],
            "tables": self.tables,
            "plots": self.plots,
            "notes": self.notes,
            "data": self.data,
        }

    def write(self) -> tuple[Path, Path]:
        """Write ``SUITE.json`` and ``SUITE.md`` into the output folder."""
        result = self.result()
        json_path = self.out_dir / f"{self.suite}.json"
        md_path = self.out_dir / f"{self.suite}.md"
        atomic_write_bytes(json_path, json.dumps(result, indent=2).encode())
        atomic_write_bytes(md_path, render_markdown(result).encode())
        return json_path, md_path


def render_markdown(result: dict[str, Any]) -> str:
    """The Markdown report of a bench result (as written in ``SUITE.json``)."""
    prov = result["provenance"]
    machine = prov["machine"]
    commit = (prov["commit"] or "unknown")[:10] + (" (dirty)" if prov.get("dirty") else "")
    lines = [
        f"# {result['title']} ({result['mode']} mode)",
        "",
        f"- commit `{commit}`, finished {result['finished']}, took {result['seconds']:.0f} s",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}",
        f"- packages: {', '.join(f'{k} {v}' for k, v in prov['packages'].items())}",
        f"- seed {result['seed']}; options: `{json.dumps(result['options'])}`",
        "",
    ]
    if result["figures"]:
        lines += [
            "| figure | Palestra | peer | peer value | ratio | unit | setting |",
            "|---|---:|---|---:|---:|---|---|",
        ]
        for fig in map(Figure.from_dict, result["figures"]):
            if fig.ratio is not None:
                ratio_s = f"{fig.ratio:.2f}x"
            elif fig.value is not None and fig.peer_value is not None:
                ratio_s = f"{fig.value - fig.peer_value:+.3g} (difference)"
            else:
                ratio_s = "–"
            if fig.better is not None:
                ratio_s += " ✓" if fig.better else " ✗"
            lines.append(
                f"| {fig.name} | {_fmt(fig.value)} | {fig.peer or '–'} | "
                f"{_fmt(fig.peer_value)} | {ratio_s} | {fig.unit} | {fig.setting} |"
            )
        lines.append("")
        lines.append(
            "ratio = Palestra / peer (the difference where a value is negative); "
            "✓ where Palestra is better or equal."
        )
        lines.append("")
    for t in result["tables"]:
        lines += [f"## {t['title']}", ""]
        lines.append("| " + " | ".join(map(str, t["headers"])) + " |")
        lines.append("|" + "---|" * len(t["headers"]))
        for row in t["rows"]:
            cells = [_fmt(c) if isinstance(c, (int, float)) else str(c) for c in row]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for p in result["plots"]:
        lines += [f"## {p['title']}", "", f"![{p['title']}]({p['file']})", ""]
    if result["notes"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in result["notes"]] + [""]
    return "\n".join(lines)


def suite_options(suite: Suite, pairs: list[str], config_file: str | Path | None) -> Any:
    """The suite's options: its config dataclass from a file and ``KEY=VALUE`` pairs."""
    data: dict[str, Any] = {}
    text = None
    source = "-o"
    if config_file is not None:
        data, text = read_config_file(config_file)
        source = str(config_file)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PalestraError(f"-o {pair!r}: expected KEY=VALUE")
        data[key.strip()] = value.strip()
    if suite.config is None:
        if data:
            raise PalestraError(f"bench {suite.name} takes no options (got {', '.join(data)})")
        return None
    return config_from_mapping(suite.config, data, source, text)


def run_suite(
    name: str,
    *,
    quick: bool = False,
    seed: int = 0,
    out_dir: str | Path = "results",
    options: list[str] | None = None,
    config_file: str | Path | None = None,
    runs_root: str | Path = "runs",
) -> tuple[Path, Path]:
    """Run a suite and write its report; also leaves a run record ``runs/bench-NAME/...``."""
    suite = get_suite(name)
    opts = suite_options(suite, options or [], config_file)
    bench = Bench(name, quick=quick, seed=seed, out_dir=out_dir, options=opts)
    record = {"suite": name, "quick": quick, "seed": seed, "options": config_to_dict(opts)}
    with Run.open(f"bench-{name}", record, seed=seed, root=runs_root, tensorboard=False) as run:
        suite.run(bench)
        paths = bench.write()
        run.write_json("result.json", bench.result())
    return paths
