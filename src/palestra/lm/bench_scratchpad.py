"""Bench ``scratchpad``: does writing the work down make addition generalise to longer numbers?

    palestra bench scratchpad --quick
    palestra bench scratchpad                                  # the full budget
    palestra bench scratchpad -o scratchpad_run=runs/sp/STAMP -o direct_run=runs/dir/STAMP

Two models of the same size are trained with the same budget, seed and data stream on long
addition with 1..``train_digits``-digit operands (:func:`palestra.lm.scratchpad.long_addition`):
one writes a per-column scratchpad before the answer, the other writes the answer directly.
Both are then asked fresh sums of exactly 1..``test_digits`` digits (both operands that long)
and decoded greedily; a sum counts only if its final line is the right tagged number
(:func:`~palestra.lm.scratchpad.check_long_addition`). The headline figure is the exact-match
accuracy on the lengths never seen in training, scratchpad vs direct (the peer), as Nye et al.
(2021) compared them.

Given ``scratchpad_run`` / ``direct_run`` (run directories of ``palestra train lm``), the bench
evaluates those models instead of training new ones; training runs are ordinary runs under
``runs_root``, so a killed bench can be continued with ``palestra train lm ... --resume``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench, register_suite
from palestra.core.config import arg, with_defaults
from palestra.core.errors import PalestraError
from palestra.models.architecture import TransformerFlags, flag_values

__all__ = ["ScratchpadBenchOptions", "accuracy_by_digits"]

PEER = "direct answer (same model, budget, data)"


@dataclass
# block_size 256: 12-digit sums with the scratchpad take about 210 tokens. The other defaults
# are the architecture that generalised: windowed rotary heads, token-keyed heads, sinks and
# Scalable-Softmax.
@with_defaults(block_size=256, rope_window=16, token_heads=2, attn_sinks=True, attn_log_scale=True)
class ScratchpadBenchOptions(TransformerFlags):
    """Options of ``palestra bench scratchpad`` (quick mode: ``quick_steps``, fewer sums).

    The model's options are those of ``palestra train lm``
    (:class:`~palestra.models.architecture.TransformerFlags`), except that here
    ``no_positions`` overrides ``random_positions`` instead of excluding it.
    """

    train_digits: int = arg(8, "Training operands have 1..train_digits digits.", min=1)
    test_digits: int = arg(
        12, "Test every length 1..test_digits (both operands that long).", max=15
    )
    steps: int = arg(3000, "Training steps per model (full mode).", min=1)
    quick_steps: int = arg(600, "Training steps per model (quick mode).", min=1)
    examples: int = arg(100, "Test sums per length (full mode).", min=1)
    quick_examples: int = arg(20, "Test sums per length (quick mode).", min=1)
    batch_size: int = arg(32, "Sequences per step.", min=1)
    lr: float = arg(1e-3, "Peak learning rate.", above=0)
    shuffle_digits: bool = arg(
        False, "Train on operands whose digits above the units come in random order (tests don't)."
    )
    threads: int = arg(1, "torch threads for training and decoding.", min=1)
    runs_root: Path = arg(Path("runs"), "Where the two training runs are written.")
    scratchpad_run: Path | None = arg(None, "Evaluate this trained scratchpad run instead.")
    direct_run: Path | None = arg(None, "Evaluate this trained direct run instead.")

    def __post_init__(self) -> None:
        if self.no_positions:
            self.random_positions = 0
        super().__post_init__()  # the fields' bounds, the model's checks
        if self.train_digits > self.test_digits:
            raise ValueError("need 1 <= train_digits <= test_digits <= 15")


def _train(opts: ScratchpadBenchOptions, scratchpad: bool, steps: int, seed: int) -> Path:
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    variant = "scratchpad" if scratchpad else "direct"
    cfg = LMTrainConfig(
        **flag_values(opts),
        task="long-addition-scratchpad" if scratchpad else "long-addition",
        digits=opts.train_digits,
        shuffle_digits=opts.shuffle_digits,
        steps=steps,
        batch_size=opts.batch_size,
        lr=opts.lr,
        eval_every=max(1, steps // 4),
        checkpoint_every=max(1, steps // 4),
        seed=seed,
        threads=opts.threads,
        run_name=f"bench-scratchpad-{variant}",
        runs_root=opts.runs_root,
    )
    return train(cfg)


def _run_config(run_dir: Path) -> dict[str, Any]:
    """The recorded training config of a ``palestra train lm`` run."""
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PalestraError(f"{path}: cannot read the run's config ({e})") from None


def accuracy_by_digits(
    run_dir: Path,
    scratchpad: bool,
    lengths: range,
    examples: int,
    train_digits: int,
    threads: int = 1,
) -> dict[int, dict[str, Any]]:
    """For each length, the share of ``examples`` fresh sums (both operands exactly that
    long; seeded by the length, so both variants get the same operands) whose answer line
    is right, plus one wrong output to show in the report."""
    import torch

    from palestra.lm.scratchpad import check_long_addition, long_addition
    from palestra.lm.tokenizers import load_tokenizer
    from palestra.lm.train import complete
    from palestra.models.transformer import Transformer

    torch.set_num_threads(threads)
    model_dir = Path(run_dir) / "model"
    if not (model_dir / "config.json").is_file():
        raise PalestraError(f"{run_dir}: no trained model (model/config.json) in this run")
    model = Transformer.from_pretrained(model_dir)
    model.eval()
    tokenizer = load_tokenizer(model_dir / "tokenizer.json")
    out: dict[int, dict[str, Any]] = {}
    for n in lengths:
        rng = random.Random(f"scratchpad-bench/{n}")
        sums = [long_addition(rng, train_digits, scratchpad, exact=n) for _ in range(examples)]
        longest = max(len(tokenizer.encode(t, eos=True)) for _, t in sums)
        outputs = complete(model, tokenizer, [p for p, _ in sums], longest + 8)
        right = [check_long_addition(p, o) for (p, _), o in zip(sums, outputs, strict=True)]
        wrong = next(
            ((p, o) for (p, _), o, r in zip(sums, outputs, right, strict=True) if not r), None
        )
        out[n] = {"accuracy": sum(right) / examples, "wrong_example": wrong}
    return out


@register_suite("scratchpad", config=ScratchpadBenchOptions)
def run(bench: Bench) -> None:
    from palestra.lm.config import LMTrainConfig

    opts: ScratchpadBenchOptions = bench.options or ScratchpadBenchOptions()
    steps = opts.quick_steps if bench.quick else opts.steps
    examples = opts.quick_examples if bench.quick else opts.examples
    runs = {
        "scratchpad": opts.scratchpad_run or _train(opts, True, steps, bench.seed),
        "direct": opts.direct_run or _train(opts, False, steps, bench.seed),
    }
    configs = {name: _run_config(run) for name, run in runs.items()}
    keys = [f.name for f in fields(TransformerFlags)]
    keys += ["steps", "batch_size", "digits", "seed", "shuffle_digits"]
    defaults = LMTrainConfig()  # a run recorded before a field existed had its default

    def value(name: str, key: str) -> Any:
        return configs[name].get(key, getattr(defaults, key))

    if any(value("scratchpad", k) != value("direct", k) for k in keys):
        bench.note(f"The two runs differ in size, budget or data: {configs}.")
    c = configs["scratchpad"]
    train_digits = int(c["digits"])
    lengths = range(1, opts.test_digits + 1)
    acc = {
        name: accuracy_by_digits(
            run, name == "scratchpad", lengths, examples, train_digits, opts.threads
        )
        for name, run in runs.items()
    }
    seen = [n for n in lengths if n <= train_digits]
    unseen = [n for n in lengths if n > train_digits]
    positions = (
        "no positions (NoPE)"
        if c.get("no_positions")
        else f"random positions from 0..{c['random_positions'] - 1}"
        if c.get("random_positions")
        else "positions 0..T-1"
    )
    if c.get("nope_heads"):  # a recorded run passed the config's checks: rope is on
        positions += f", {c['nope_heads']} of {c['n_head']} heads without positions"
    if c.get("fire"):
        positions += ", FIRE relative positions"
    if c.get("rope_window"):
        positions += f", rotary heads see the last {c['rope_window']} tokens"
    if c.get("token_heads"):
        positions += f", {c['token_heads']} of {c['n_head']} heads keyed by token identity"
    if c.get("attn_log_scale"):
        positions += ", Scalable-Softmax"
    if c.get("attn_sinks"):
        positions += ", attention sinks"
    if c.get("canon"):
        positions += f", causal convolution of width {c['canon']} before attention"
    setting = (
        f"{c['n_layer']} layers, d_model {c['d_model']}, {positions}; {c['steps']} steps of "
        f"batch {c['batch_size']} per model; trained on 1..{train_digits} digits"
        f"{' in shuffled digit order' if c.get('shuffle_digits') else ''}; "
        f"{examples} sums per length"
    )

    def figure(name: str, ns: list[int]) -> None:
        """The exact match (%) on the lengths ``ns``, scratchpad against direct."""
        mean = {v: 100 * sum(acc[v][n]["accuracy"] for n in ns) / len(ns) for v in acc}
        peer = mean["direct"]
        bench.figure(name, mean["scratchpad"], "%", peer=PEER, peer_value=peer, setting=setting)

    if unseen:
        figure(f"exact match, {unseen[0]}-{unseen[-1]} digits (never trained on)", unseen)
        for n in unseen:
            figure(f"exact match, {n} digits", [n])
    figure(f"exact match, 1-{train_digits} digits (training lengths)", seen)
    bench.table(
        "exact match by number of digits (%)",
        ["digits", "scratchpad", "direct", "trained on"],
        [
            [
                n,
                f"{100 * acc['scratchpad'][n]['accuracy']:.0f}",
                f"{100 * acc['direct'][n]['accuracy']:.0f}",
                "yes" if n <= train_digits else "no",
            ]
            for n in lengths
        ],
    )
    with bench.plot(
        "accuracy", "Long addition: exact match by length", xlabel="digits", ylabel="%"
    ) as ax:
        ax.axvspan(0.5, train_digits + 0.5, color="0.9", label="training lengths")
        for name, style in (("scratchpad", "o-"), ("direct", "s--")):
            ax.plot(list(lengths), [100 * acc[name][n]["accuracy"] for n in lengths], style)
            ax.lines[-1].set_label(name)
        ax.set_ylim(-3, 103)
        ax.set_xticks(list(lengths))
    for name in ("scratchpad", "direct"):
        examples_wrong = (acc[name][n]["wrong_example"] for n in reversed(lengths))
        wrong = next((w for w in examples_wrong if w is not None), None)  # the longest
        if wrong is not None:
            prompt, output = wrong
            bench.note(f"A wrong {name} answer: `{prompt}` → `{' / '.join(output.splitlines())}`.")
    bench.note(
        "Format (palestra.lm.scratchpad, long addition): every digit carries a position tag "
        "naming its column (index hints), in one alphabet per role: A..P for the first "
        "operand, a..p for the second, α..π for the scratchpad lines and the answer. The "
        "units column's tag is random, so all 16 tags occur in training although no operand "
        "there is longer than the training length. Both variants see the same prompts and "
        "end with the same tagged answer, most-significant digit first; the scratchpad first "
        "writes one line per column: the column's two tagged digits, the carry in, the "
        "two-digit column sum and the column's sum tag (`C9c7+0=16γ`)."
    )
    if c.get("token_heads"):
        bench.note(
            "Architecture: the last token_heads heads of every layer are token-keyed: their "
            "queries and keys are embeddings of the tokens themselves, without positions, "
            "so they can only ask 'where is tag X?' and read what the layers below gathered "
            "there. The other heads see only the last rope_window tokens (local steps: the "
            "digit before a tag, the carry from the line above). So no head can find a column "
            "by its distance, the route that failed beyond the training lengths before "
            "(results/scratchpad-one-alphabet/: 98/60/15/0% on 9/10/11/12 digits). Attention "
            "sinks stop the windowed heads from leaning on <bos>, which only tokens near the "
            "start can see."
        )
    if c.get("random_positions"):
        bench.note(
            f"Positions: randomized positional encodings (Ruoss et al. 2023) over "
            f"0..{c['random_positions'] - 1}: a sequence's position ids are a sorted random "
            "sample, spread with a random density in training and at density one half in "
            "decoding (models/length_generalisation.py, random_positions_for), so long test "
            "sums meet distances and densities that training showed."
        )
    bench.note(f"Models: {runs['scratchpad']} (scratchpad) and {runs['direct']} (direct).")
    bench.data["accuracy"] = {name: {n: acc[name][n]["accuracy"] for n in lengths} for name in acc}
    bench.data["runs"] = {name: str(run) for name, run in runs.items()}
