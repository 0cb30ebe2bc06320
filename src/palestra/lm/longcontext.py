"""Long-context tasks and their recall heat map: dictionary lookup, passkey, needle in a haystack.

Every task makes an :class:`Example` of a given length in characters (one byte token each:
the prompt and the answer together) with its fact at a given depth (0: at the start of the
context, 1: at its end), from a ``random.Random``, so a seed fixes the examples:

- ``dict-lookup`` (the FoT paper's dictionary lookup): a header, then key-value pairs
  ``abc=12; `` (3-letter keys, all different, 2-digit values), then a query ``?abc=`` whose
  answer is the queried key's value. Depth: which pair is queried. Every pair and the query
  start at a multiple of 8 characters, so a pair never straddles a chunk boundary of a memory
  model whose chunk is a multiple of 8 (its local layers cannot see across one).
- ``passkey`` (Mohtashami & Jaggi 2023): repeated filler sentences with
  ``The pass key is 12345. Remember it.`` at the depth, then ``What is the pass key? The pass
  key is `` and the 5-digit answer.
- ``needle`` (the Gemini 1.5 report's needle in a haystack): held-out text of the stdlib
  character corpus (:mod:`palestra.lm.corpus`) from a random line, with the line
  ``# the magic number is 4821`` inserted at the depth (at a line start), then
  ``# what is the magic number? `` and the 4-digit answer.

Training documents (:class:`LongContextData`, the data of ``palestra train lm --task
dict-lookup`` and the others) are ``context + 1`` characters with the loss on the answers only;
a dictionary-lookup document lists ``n`` pairs and then asks queries about random earlier pairs
until it is full, so every document trains several lookups at every depth. ``n`` is drawn
log-uniformly from 1 to the pairs that fill 5/8 of the document: small dictionaries teach the
lookup quickly, where models trained only on full dictionaries sat at chance (loss ln 10)
for thousands of steps. A random number of empty 8-character slots comes before the pairs, so
pairs sit at every position of the first 5/8 (a memory model trained on small dictionaries at
the start of its first chunk only failed on pairs elsewhere in a chunk).

:func:`recall_grid` measures exact-match recall by context length x depth for any predictor
(:func:`window_predictor`: a plain model on the last ``block_size`` tokens, what it can read;
:func:`extended_predictor`: a rotary model reading the whole prompt with its angles
extrapolated or scaled; :func:`memory_predictor`: a memory model reading the whole prompt chunk
by chunk), and
:func:`write_heatmap` writes it as JSON and a PNG heat map.

Not protected against: the answer check is exact string equality of greedy decoding; a
predictor that reads the answer from anywhere else than the context is not detected.
"""

from __future__ import annotations

import functools
import json
import math
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palestra.core.errors import PalestraError
from palestra.core.runs import atomic_write_bytes
from palestra.lm.tokenizers import ByteTokenizer

if TYPE_CHECKING:  # torch is imported where it is used: the CLI reads LONG_TASKS at start-up
    import torch

    from palestra.models.transformer import Transformer

__all__ = [
    "LONG_TASKS",
    "Example",
    "Grid",
    "LongContextData",
    "dict_lookup",
    "draw_heatmap",
    "extended_predictor",
    "make_example",
    "memory_predictor",
    "needle",
    "passkey",
    "recall_grid",
    "training_document",
    "window_predictor",
    "write_heatmap",
]

LONG_TASKS = ("dict-lookup", "passkey", "needle")
PAIR = 8  # characters per dictionary pair "abc=12; " (and per header, per query slot)
HEADER = "#lookup\n"
FILLER_SLOT = "-------\n"  # an empty pair slot of a training document (8 characters)
TOKENIZER = ByteTokenizer()


@dataclass(frozen=True)
class Example:
    """A prompt, the answer a model must continue it with, and where the fact sits."""

    prompt: str
    answer: str
    depth: float  # 0: the fact is at the start of the context, 1: at its end

    @property
    def length(self) -> int:
        return len(self.prompt) + len(self.answer)


# ----------------------------------------------------------------------------- tasks
def _keys(rng: random.Random, n: int) -> list[str]:
    if n > 26**3:
        raise PalestraError(f"dictionary of {n} pairs exceeds the {26**3} three-letter keys")
    chosen = rng.sample(range(26**3), n)
    letters = string.ascii_lowercase
    return [letters[i // 676] + letters[i // 26 % 26] + letters[i % 26] for i in chosen]


def _pairs_for(length: int, queries_chars: int) -> int:
    n = (length - len(HEADER) - queries_chars) // PAIR
    if n < 1:
        raise PalestraError(f"a dictionary-lookup context of {length} characters holds no pair")
    return n


def dict_lookup(rng: random.Random, length: int, depth: float) -> Example:
    """Pairs ``abc=12; `` filling ``length`` characters, then ``?abc=`` for the pair at
    ``depth``; the answer is its two digits. (Up to 7 characters short of ``length``.)"""
    n = _pairs_for(length, len("?abc=12"))
    keys = _keys(rng, n)
    values = [f"{rng.randrange(100):02d}" for _ in range(n)]
    at = min(n - 1, round(depth * (n - 1)))
    pairs = "".join(f"{k}={v}; " for k, v in zip(keys, values, strict=True))
    return Example(HEADER + pairs + f"?{keys[at]}=", values[at], at / max(1, n - 1))


FILLER = (
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
)
PASSKEY_INTRO = "There is a pass key hidden in this text. Find it and remember it.\n"
PASSKEY_QUESTION = "\nWhat is the pass key? The pass key is "


def passkey(rng: random.Random, length: int, depth: float) -> Example:
    """Filler with the pass-key sentence at ``depth``; the answer is the 5-digit key."""
    key = f"{rng.randrange(10000, 100000)}"
    needle_text = f"The pass key is {key}. Remember it. "
    room = length - len(PASSKEY_INTRO) - len(needle_text) - len(PASSKEY_QUESTION) - len(key)
    if room < 0:
        raise PalestraError(f"a passkey context of {length} characters is too short")
    filler = (FILLER * (room // len(FILLER) + 1))[:room]
    cut = round(depth * room)
    cut = filler.rfind(". ", 0, cut) + 2 if cut and ". " in filler[:cut] else 0  # a sentence end
    prompt = PASSKEY_INTRO + filler[:cut] + needle_text + filler[cut:] + PASSKEY_QUESTION
    return Example(prompt, key, cut / max(1, room))


NEEDLE_QUESTION = "\n# what is the magic number? "


@functools.lru_cache(maxsize=2)
def haystack_text(max_chars: int | None = 400_000) -> str:
    """The held-out part of the stdlib character corpus (ASCII only: one byte per character)."""
    from palestra.lm.corpus import build_corpus

    text = build_corpus(max_chars=max_chars).val
    return text.encode("ascii", "replace").decode("ascii")


def needle(rng: random.Random, length: int, depth: float, haystack: str | None = None) -> Example:
    """Corpus text with ``# the magic number is NNNN`` at ``depth``; the answer is NNNN."""
    text = haystack if haystack is not None else haystack_text()
    number = f"{rng.randrange(1000, 10000)}"
    needle_line = f"# the magic number is {number}\n"
    room = length - len(needle_line) - len(NEEDLE_QUESTION) - len(number)
    if room < 0 or room >= len(text):
        raise PalestraError(f"a needle context of {length} characters does not fit")
    start = rng.randrange(len(text) - room)
    hay = text[start : start + room]
    cut = round(depth * room)
    cut = hay.rfind("\n", 0, cut) + 1 if cut else 0  # a line start
    prompt = hay[:cut] + needle_line + hay[cut:] + NEEDLE_QUESTION
    return Example(prompt, number, cut / max(1, room))


def make_example(task: str, rng: random.Random, length: int, depth: float) -> Example:
    """An example of the task called ``task`` (one of :data:`LONG_TASKS`)."""
    if task == "dict-lookup":
        return dict_lookup(rng, length, depth)
    if task == "passkey":
        return passkey(rng, length, depth)
    if task == "needle":
        return needle(rng, length, depth)
    raise PalestraError(f"unknown long-context task {task!r}; known: {', '.join(LONG_TASKS)}")


def training_document(task: str, rng: random.Random, length: int) -> tuple[str, list[int]]:
    """A training document of exactly ``length`` characters and the character offsets of its
    answers (where the loss is). Dictionary lookup: ``n`` pairs (log-uniform from 1 to what
    fills 5/8 of it) after a random number of empty slots ``-------`` (so a small dictionary
    sits anywhere in the first 5/8, and anywhere in a memory model's chunks), then queries
    ``?abc=12; `` about random earlier pairs; the others: one example at a random depth."""
    if task != "dict-lookup":
        ex = make_example(task, rng, length, rng.random())
        text = (ex.prompt + ex.answer).ljust(length)
        return text, list(range(len(ex.prompt), ex.length))
    most = _pairs_for(length * 5 // 8, 0)
    n = min(most, round(math.exp(rng.uniform(0.0, math.log(most)))))  # log-uniform 1..most
    gap = rng.randrange(most - n + 1)  # filler slots first: the pairs may sit anywhere
    keys = _keys(rng, n)
    values = [f"{rng.randrange(100):02d}" for _ in range(n)]
    text = (
        HEADER
        + FILLER_SLOT * gap
        + "".join(f"{k}={v}; " for k, v in zip(keys, values, strict=True))
    )
    answers: list[int] = []
    while len(text) + len("?abc=12") <= length:
        i = rng.randrange(n)
        answers += [len(text) + 5, len(text) + 6]
        text += f"?{keys[i]}={values[i]}; "
    return text[:length].ljust(length), answers


class LongContextData:
    """Batches of training documents for ``palestra train lm --task dict-lookup`` (and
    ``passkey``, ``needle``): inputs ``[B, context]`` and next-token targets with the loss on
    the answers only. Batch ``i`` comes from ``random.Random(f"{seed}/train/{i}")``."""

    def __init__(self, task: str, context: int, batch_size: int, seed: int) -> None:
        if task not in LONG_TASKS:
            raise PalestraError(f"unknown long-context task {task!r}")
        self.task, self.context, self.batch_size, self.seed = task, context, batch_size, seed
        self.eval_examples: list[tuple[str, str]] = []  # recall is measured by recall_grid

    def _batch(self, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        from palestra.models.transformer import IGNORE_INDEX

        xs, ys = [], []
        for _ in range(self.batch_size):
            text, answers = training_document(self.task, rng, self.context + 1)
            ids = TOKENIZER.encode(text)  # [context + 1]
            y = [IGNORE_INDEX] * self.context
            for a in answers:
                y[a - 1] = ids[a]  # the token at a is predicted at position a - 1
            xs.append(ids[:-1])
            ys.append(y)
        return torch.tensor(xs), torch.tensor(ys)  # [B, context] each

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch(random.Random(f"{self.seed}/train/{index}"))

    def eval_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch(random.Random(f"{self.seed}/eval/{index}"))


# ----------------------------------------------------------------------------- predictors
Predictor = Callable[[list[str], int], list[str]]  # equal-length prompts, answer length -> answers


def window_predictor(model: Transformer) -> Predictor:
    """Greedy answers of a plain model that reads only the last ``block_size - n`` tokens of
    each prompt (``n`` the answer length): its trained window, nothing beyond."""

    import torch

    @torch.no_grad()
    def predict(prompts: list[str], n: int) -> list[str]:
        model.eval()
        keep = model.cfg.block_size - n
        idx = torch.tensor([TOKENIZER.encode(p)[-keep:] for p in prompts])  # [b, <= keep]
        out = model.generate(idx, n, temperature=0.0)
        return [TOKENIZER.decode(row) for row in out[:, idx.size(1) :].tolist()]

    return predict


def extended_predictor(model: Transformer, scaling: str = "linear") -> Predictor:
    """Greedy answers of a rotary model that reads each whole prompt beyond its trained
    context: a prompt longer than ``block_size`` is read by :meth:`Transformer.extended
    <palestra.models.transformer.Transformer.extended>` copies with ``scaling`` ("none":
    plain extrapolation, "linear": position interpolation, "ntk": NTK-aware scaling)."""
    import torch

    extended: dict[int, Transformer] = {}

    @torch.no_grad()
    def predict(prompts: list[str], n: int) -> list[str]:
        idx = torch.tensor([TOKENIZER.encode(p) for p in prompts])  # [b, N]
        need = idx.size(1) + n
        reader = model
        if need > model.cfg.block_size:
            if need not in extended:
                extended[need] = model.extended(need, scaling)  # type: ignore[arg-type]
            reader = extended[need]
        reader.eval()
        out = reader.generate(idx, n, temperature=0.0)
        return [TOKENIZER.decode(row) for row in out[:, idx.size(1) :].tolist()]

    return predict


def memory_predictor(model: Transformer) -> Predictor:
    """Greedy answers of a memory model that reads each whole prompt chunk by chunk
    (:func:`~palestra.models.memory.generate_with_memory`)."""
    import torch

    from palestra.models.memory import generate_with_memory

    def predict(prompts: list[str], n: int) -> list[str]:
        idx = torch.tensor([TOKENIZER.encode(p) for p in prompts])  # [b, N]
        out = generate_with_memory(model, idx, n)
        return [TOKENIZER.decode(row) for row in out[:, idx.size(1) :].tolist()]

    return predict


# ----------------------------------------------------------------------------- the heat map
@dataclass
class Grid:
    """Recall (share of exact answers) by context length (rows) and depth (columns)."""

    task: str
    name: str
    lengths: list[int]
    depths: list[float]
    recall: list[list[float]]  # [len(lengths)][len(depths)]
    samples: int

    def mean(self, length: int) -> float:
        row = self.recall[self.lengths.index(length)]
        return sum(row) / len(row)


def recall_grid(
    predict: Predictor,
    task: str,
    lengths: Sequence[int],
    depths: Sequence[float],
    samples: int,
    seed: int,
    name: str = "model",
    batch_size: int = 16,
) -> Grid:
    """Exact-match recall of ``predict`` on ``samples`` examples per (length, depth) cell,
    drawn from ``random.Random(f"{seed}/{task}/{length}/{depth}")``; prompts of one cell
    with the same token length are answered as one batch."""
    recall = []
    for length in lengths:
        row = []
        for depth in depths:
            rng = random.Random(f"{seed}/{task}/{length}/{depth}")
            examples = [make_example(task, rng, length, depth) for _ in range(samples)]
            right = 0
            by_shape: dict[tuple[int, int], list[Example]] = {}
            for ex in examples:
                by_shape.setdefault((len(ex.prompt), len(ex.answer)), []).append(ex)
            for (_, n), group in by_shape.items():
                for start in range(0, len(group), batch_size):
                    part = group[start : start + batch_size]
                    answers = predict([ex.prompt for ex in part], n)
                    right += sum(a == ex.answer for a, ex in zip(answers, part, strict=True))
            row.append(right / samples)
        recall.append(row)
    return Grid(task, name, list(lengths), [float(d) for d in depths], recall, samples)


def draw_heatmap(ax: Any, grid: Grid) -> None:
    """Recall as colour on matplotlib axes: context length up, depth across, values written."""
    image = ax.imshow(grid.recall, vmin=0.0, vmax=1.0, cmap="RdYlGn", aspect="auto", origin="lower")
    ax.set_xticks(range(len(grid.depths)), [f"{d:.0%}" for d in grid.depths])
    ax.set_yticks(range(len(grid.lengths)), [f"{n:,}" for n in grid.lengths])
    ax.set_xlabel("depth of the fact in the context")
    ax.set_ylabel("context length (tokens)")
    for i, row in enumerate(grid.recall):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    ax.figure.colorbar(image, ax=ax, label="recall")


def write_heatmap(grid: Grid, stem: str | Path, title: str | None = None) -> tuple[Path, Path]:
    """Write ``STEM.json`` (the grid) and ``STEM.png`` (the heat map)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
    atomic_write_bytes(json_path, json.dumps(asdict(grid), indent=1).encode())
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    try:
        draw_heatmap(ax, grid)
        ax.set_title(title or f"{grid.task} recall, {grid.name}")
        fig.tight_layout()
        fig.savefig(png_path)
    finally:
        plt.close(fig)
    return json_path, png_path
