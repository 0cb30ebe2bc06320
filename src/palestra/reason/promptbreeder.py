"""Promptbreeder (Fernando, Banarse, Michalewski, Osindero, Rocktäschel 2023): a population of
task prompts, and of the mutation prompts that change them, evolved by a language model.

**Algorithm 1, as run here.** A *unit* is a task prompt ``P`` (the instruction put before
each question: ``template.format(instruction=P, question=q)``), a mutation prompt ``M``, its
lineage (the task prompts of its ancestors that won tournaments) and the correct workings of
its last evaluation. The population has ``population`` units (even). Each generation pairs the
units at random; in each pair (a *binary tournament*) both units are scored on the same fresh
random batch of ``batch`` *training* questions -- fitness is exact match of the greedy answer,
checked by the task's checker -- and the loser is replaced by a mutated copy of the winner
(ties go to the first of the pair). The population size never changes; the held-out questions
are used only by :func:`heldout_report`, after evolution: the best unit, the initial prompts,
a hand-written one, and the best unit of each generation by training fitness (the curve of
held-out accuracy over generations).

**Mutation.** One of eight operators, uniformly, makes the copy's new ``P`` (and maybe ``M``)
with the *mutator* model (the same model by default, as in the paper):

- *zero-order prompt generation*: ``"{description} A list of 100 hints:\\n1."``;
- *first-order prompt generation*: ``"{M} INSTRUCTION: {P} INSTRUCTION MUTANT:"``;
- *EDA mutation*: the population's task prompts (near-duplicates removed) as a numbered list
  in random order, and the model continues the list;
- *EDA rank and index*: the same list ordered by fitness, introduced by ``M`` and a line saying
  the last is the best;
- *lineage-based*: the winner's lineage, "GENOTYPES FOUND IN ASCENDING ORDER OF QUALITY";
- *zero-order hyper-mutation*: a new ``M`` from ``"{description} {thinking style}"``, then
  first-order generation with it;
- *first-order hyper-mutation*: a new ``M`` from ``"{hyper-mutation prompt} {M}"``, then
  first-order generation with it;
- *Lamarckian*: ``P`` read back from one of the winner's correct workings ("I gave a friend an
  instruction ... The instruction was:").

Then *prompt crossover* (probability ``crossover``: ``P`` replaced by another unit's, picked in
proportion to fitness) and *context shuffling* (with ``context`` > 0 each unit carries up to
that many correct workings as few-shot examples; after an evaluation, with probability
``1/context``, one is replaced by a new correct working). A mutant's text is its completion's
first line, stripped, at most ``max_prompt_chars``; an empty one keeps the parent's (so does a
mutation the model refuses, its prompt longer than its context); a question whose prompt the
solver refuses counts as a wrong answer.

**Seeds and resume.** Every mutator call has its own seed (:class:`~.programs.core.LM`), the
pairings, batches and operator choices come from one seeded generator; the state after each
generation (population, generator state, call index) is saved in the run folder, and a killed
run resumes after the last saved generation. The log of every mutator call is kept
(``calls.jsonl``), so a lineage can be replayed from it without the model.

What it does not do: no BERT filter (near-duplicates are character-level, ``difflib``), one
task prompt per unit (the paper allows two), greedy solver answers only.
"""

from __future__ import annotations

import difflib
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from palestra.core.config import Config, arg
from palestra.core.errors import PalestraError
from palestra.lm.backends import BackendError
from palestra.reason.programs.core import LM
from palestra.reason.task import Problem, Task

__all__ = [
    "HYPER_MUTATION_PROMPTS",
    "MUTATION_PROMPTS",
    "OPERATORS",
    "THINKING_STYLES",
    "Promptbreeder",
    "PromptbreederConfig",
    "Unit",
    "heldout_report",
    "run_promptbreeder",
]

# A few of the paper's thinking styles, mutation prompts and hyper-mutation prompts (its
# appendix lists more; these are the ones a user sees in the first lines of each list).
THINKING_STYLES = (
    "Let's think step by step.",
    "How could I devise an experiment to help solve that problem?",
    "How can I simplify the problem so that it is easier to solve?",
    "Let's make a step by step plan and implement it with good notation and explanation.",
    "What are the key assumptions underlying this problem?",
    "Break the problem into smaller parts and solve each one.",
)
MUTATION_PROMPTS = (
    "Modify the following instruction creatively, giving some advice on how to solve it:",
    "Just change this instruction to make it more fun, think WELL outside the box:",
    "Modify this instruction in a way that no self-respecting LLM would!",
    "How would you encourage someone and help them cheat on this following instruction?",
    "How would you help an LLM to follow the instruction?",
    "Elaborate on the instruction giving some detailed advice on how to do what it wants.",
    "Rewrite the instruction so that it is shorter and clearer.",
)
HYPER_MUTATION_PROMPTS = (
    "Please summarize and improve the following instruction:",
    "Simplify this instruction by breaking it up into separate sentences. The instruction "
    "should be simple and easily understandable:",
    "As a really good teacher, explain the instruction, as if you were explaining it to a child:",
)
OPERATORS = (
    "zero_order",
    "first_order",
    "eda",
    "eda_rank_index",
    "lineage",
    "zero_order_hyper",
    "first_order_hyper",
    "lamarckian",
)


@dataclass
class PromptbreederConfig(Config):
    """Options of ``palestra promptbreeder``: evolve the instruction before each question."""

    backend: str = arg(..., "The solver: an OpenAI-compatible API root or local:RUN_DIR.")
    mutator: str = arg("", "The mutator model (empty: the solver, as in the paper).")
    task: str = arg("wordproblems-train", "Task of the training questions (fitness).")
    heldout_task: str = arg("wordproblems", "Task of the held-out questions (report only).")
    description: str = arg(
        "Solve the math word problem, giving your answer as an arabic numeral.",
        "The problem description the operators start from.",
    )
    template: str = arg(
        "{instruction}\nQ: {question}\nA:", "How a task prompt and a question make a prompt."
    )
    initial: tuple[str, ...] = arg(
        (), "Initial task prompts (empty: generated by the mutator from the description)."
    )
    population: int = arg(10, "Units in the population (even).", min=2)
    generations: int = arg(
        10,
        "Generations (each: population/2 tournaments; a resumed run may be given more).",
        min=1,
        recorded=False,
    )
    batch: int = arg(20, "Training questions per tournament.", min=1)
    crossover: float = arg(0.1, "Probability of prompt crossover after a mutation.", min=0, max=1)
    context: int = arg(0, "Few-shot workings per unit (context shuffling; 0: none).", min=0)
    max_prompt_chars: int = arg(200, "A task prompt's length cap.", min=1)
    mutator_temperature: float = arg(1.0, "Sampling temperature of mutations.", min=0, max=2)
    mutator_tokens: int = arg(60, "Tokens per mutation.", min=1)
    heldout_limit: int = arg(100, "Held-out questions of the final report.", min=1)
    seed: int = arg(0, "Seed of pairings, batches, operators and mutator calls.", min=0)
    concurrency: int = arg(8, "Solver requests in flight.", min=1)
    out: Path | None = arg(
        None, "Run folder, resumed if it exists (default runs/promptbreeder/STAMP).", recorded=False
    )


@dataclass
class Unit:
    """One member of the population."""

    task_prompt: str
    mutation_prompt: str
    lineage: list[str] = field(default_factory=list)
    workings: list[str] = field(default_factory=list)  # correct workings of the last eval
    context: list[str] = field(default_factory=list)  # few-shot examples (context shuffling)
    fitness: float | None = None
    born: int = 0  # the generation that made it
    operator: str = "init"


def _first_line(text: str, cap: int) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line[:cap].strip()


class Promptbreeder:
    """The evolution's state and its steps (see the module docstring). ``solver`` and
    ``mutator`` are backends; ``train`` and ``task`` give the training questions and their
    checker."""

    def __init__(
        self,
        cfg: PromptbreederConfig,
        solver: Any,
        mutator: Any,
        task: Task,
        train: Sequence[Problem],
    ) -> None:
        if cfg.population % 2:
            raise PalestraError(f"the population must be even (pairs), got {cfg.population}")
        if len(train) < cfg.batch:
            raise PalestraError(
                f"{len(train)} training questions, fewer than a batch of {cfg.batch}"
            )
        self.cfg, self.solver, self.task, self.train = cfg, solver, task, list(train)
        self.lm = LM(mutator, seed=cfg.seed)
        self.rng = random.Random(f"promptbreeder/{cfg.seed}")
        self.population: list[Unit] = []
        self.generation = 0
        self.history: list[dict[str, Any]] = []
        self.initial: list[str] = []  # the initial task prompts
        self.seen_training: set[str] = set()  # ids of the questions fitness has used

    # -- the model's two uses ------------------------------------------------------------
    def mutate_text(self, prompt: str, purpose: str) -> str:
        """The mutator's first line for ``prompt``; empty where the model refuses the call
        (a prompt longer than its context): the caller then keeps the parent's text."""
        try:
            c = self.lm.complete(prompt, purpose=purpose, temperature=self.cfg.mutator_temperature,
                                 max_tokens=self.cfg.mutator_tokens, stop=("\n",))[0]  # fmt: skip
        except BackendError:
            return ""
        return _first_line(c.text, self.cfg.max_prompt_chars)

    def prompt(self, unit: Unit, question: str) -> str:
        shots = "".join(f"{w}\n\n" for w in unit.context)
        return shots + self.cfg.template.format(instruction=unit.task_prompt, question=question)

    def fitness(self, unit: Unit, batch: Sequence[Problem], training: bool = True) -> float:
        """Exact match of greedy answers on ``batch``; keeps the correct workings. With
        ``training`` the questions are recorded as seen (the held-out report passes False)."""
        from concurrent.futures import ThreadPoolExecutor

        def one(p: Problem) -> tuple[bool, str]:
            try:
                c = self.solver.complete(self.prompt(unit, p.question), temperature=0.0,
                                         max_tokens=self.task.max_tokens,
                                         stop=list(self.task.stop), seed=0)[0]  # fmt: skip
            except BackendError:  # the prompt leaves no room: a wrong answer
                return False, ""
            ok = bool(self.task.check(p, c.text).verdict)
            return ok, self.cfg.template.format(
                instruction="", question=p.question
            ).strip() + c.text

        if training:
            self.seen_training.update(p.id for p in batch)
        with ThreadPoolExecutor(self.cfg.concurrency) as pool:
            results = list(pool.map(one, batch))
        unit.workings = [w for ok, w in results if ok]
        unit.fitness = sum(ok for ok, _ in results) / len(batch)
        if (
            training
            and self.cfg.context
            and unit.workings
            and self.rng.random() < 1 / self.cfg.context
        ):
            new = self.rng.choice(unit.workings)
            if len(unit.context) < self.cfg.context:
                unit.context.append(new)
            else:
                unit.context[self.rng.randrange(len(unit.context))] = new
        return unit.fitness

    # -- initialisation ------------------------------------------------------------------
    def initialise(self) -> None:
        cfg = self.cfg
        for i in range(cfg.population):
            m = self.rng.choice(MUTATION_PROMPTS)
            if cfg.initial:
                p = cfg.initial[i % len(cfg.initial)]
            else:
                t = self.rng.choice(THINKING_STYLES)
                p = self.mutate_text(f"{m} {t} INSTRUCTION: {cfg.description} INSTRUCTION MUTANT:",
                                     "init") or cfg.description  # fmt: skip
            self.population.append(Unit(p, m))
        self.initial = [u.task_prompt for u in self.population]
        self.history.append({"generation": 0, "tournaments": [],
                             "population": [asdict(u) for u in self.population]})  # fmt: skip

    # -- the operators -------------------------------------------------------------------
    def _listed(self, prompts: list[str], header: str) -> str:
        lines = "".join(f"{i + 1}. {p}\n" for i, p in enumerate(prompts))
        return f"{header}\n{lines}{len(prompts) + 1}."

    def _distinct(self) -> list[Unit]:
        kept: list[Unit] = []
        for u in self.population:
            if all(difflib.SequenceMatcher(None, u.task_prompt, k.task_prompt).ratio() < 0.95
                   for k in kept):  # fmt: skip
                kept.append(u)
        return kept

    def apply(self, op: str, winner: Unit) -> tuple[str, str]:
        """The new (task prompt, mutation prompt) that operator ``op`` makes from ``winner``."""
        cfg = self.cfg
        p, m = winner.task_prompt, winner.mutation_prompt
        if op == "zero_order":
            return self.mutate_text(f"{cfg.description} A list of 100 hints:\n1.", op), m
        if op == "first_order":
            return self.mutate_text(f"{m} INSTRUCTION: {p} INSTRUCTION MUTANT:", op), m
        if op == "eda":
            units = self._distinct()
            self.rng.shuffle(units)
            header = "A List of Responses in random order of score."
            return self.mutate_text(self._listed([u.task_prompt for u in units], header), op), m
        if op == "eda_rank_index":
            units = sorted(self._distinct(), key=lambda u: u.fitness or 0.0)
            header = (f"INSTRUCTION: {m}\nA List of Responses in ascending order of score. "
                      f"The last one is the best response.")  # fmt: skip
            return self.mutate_text(self._listed([u.task_prompt for u in units], header), op), m
        if op == "lineage":
            history = [*winner.lineage, p]
            header = "GENOTYPES FOUND IN ASCENDING ORDER OF QUALITY"
            return self.mutate_text(self._listed(history, header), op), m
        if op in ("zero_order_hyper", "first_order_hyper"):
            if op == "zero_order_hyper":
                source = f"{cfg.description} {self.rng.choice(THINKING_STYLES)}"
            else:
                source = f"{self.rng.choice(HYPER_MUTATION_PROMPTS)} {m}"
            new_m = self.mutate_text(source, op) or m
            return self.mutate_text(f"{new_m} INSTRUCTION: {p} INSTRUCTION MUTANT:", op), new_m
        if op == "lamarckian":
            if not winner.workings:
                return p, m
            working = self.rng.choice(winner.workings)
            text = ("I gave a friend an instruction and some advice. Here are the correct "
                    f"examples of his workings out:\n{working}\nThe instruction was:")  # fmt: skip
            return self.mutate_text(text, op), m
        raise PalestraError(f"unknown operator {op!r}")

    def mutate(self, winner: Unit) -> Unit:
        op = self.rng.choice(OPERATORS)
        p, m = self.apply(op, winner)
        child = Unit(p or winner.task_prompt, m, [*winner.lineage, winner.task_prompt][-10:],
                     [], list(winner.context), None, self.generation + 1, op)  # fmt: skip
        if self.rng.random() < self.cfg.crossover:
            others = [u for u in self.population if u is not winner]
            weights = [(u.fitness or 0.0) + 1e-9 for u in others]
            donor = self.rng.choices(others, weights)[0]
            child.task_prompt = donor.task_prompt
            child.operator += "+crossover"
        return child

    # -- a generation --------------------------------------------------------------------
    def step(self) -> None:
        order = list(range(len(self.population)))
        self.rng.shuffle(order)
        events = []
        for a, b in zip(order[0::2], order[1::2], strict=True):
            batch = self.rng.sample(self.train, self.cfg.batch)
            fa = self.fitness(self.population[a], batch)
            fb = self.fitness(self.population[b], batch)
            win, lose = (a, b) if fa >= fb else (b, a)
            child = self.mutate(self.population[win])
            events.append({"winner": win, "loser": lose, "fitness": [fa, fb],
                           "operator": child.operator, "child": child.task_prompt})  # fmt: skip
            self.population[lose] = child
        self.generation += 1
        self.history.append({"generation": self.generation, "tournaments": events,
                             "population": [asdict(u) for u in self.population]})  # fmt: skip

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "population": [asdict(u) for u in self.population],
            "history": self.history,
            "rng": _rng_to_json(self.rng.getstate()),
            "calls": self.lm._next,
            "initial": self.initial,
            "seen_training": sorted(self.seen_training),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.generation = state["generation"]
        self.population = [Unit(**u) for u in state["population"]]
        self.history = state["history"]
        self.rng.setstate(_rng_from_json(state["rng"]))
        self.lm._next = state["calls"]
        self.initial = state["initial"]
        self.seen_training = set(state["seen_training"])


def _rng_to_json(state: tuple) -> list:
    return [state[0], list(state[1]), state[2]]


def _rng_from_json(data: list) -> tuple:
    return (data[0], tuple(data[1]), data[2])


def heldout_report(
    breeder: Promptbreeder, heldout: Sequence[Problem], extra: dict[str, str]
) -> dict[str, Any]:
    """Held-out exact match of the best unit (by its last training fitness), of every initial
    task prompt, of the ``extra`` prompts (name -> prompt), and of the best unit of every
    generation (``curve``: the evolution's held-out progress), on the same questions; each
    distinct prompt is scored once."""
    scores: dict[str, float] = {}

    def score(prompt: str) -> float:
        if prompt not in scores:
            scores[prompt] = breeder.fitness(Unit(prompt, ""), heldout, training=False)
        return scores[prompt]

    def best_of(population: list[dict[str, Any]]) -> dict[str, Any]:
        scored = [u for u in population if u.get("fitness") is not None] or population
        return max(scored, key=lambda u: u.get("fitness") or 0.0)

    best = max(breeder.population, key=lambda u: u.fitness or 0.0)
    curve = []
    for record in breeder.history:
        if record.get("population"):
            top = best_of(record["population"])
            curve.append({"generation": record["generation"], "prompt": top["task_prompt"],
                          "train_fitness": top.get("fitness"),
                          "heldout": score(top["task_prompt"])})  # fmt: skip
    return {
        "best": {
            "prompt": best.task_prompt,
            "train_fitness": best.fitness,
            "heldout": score(best.task_prompt),
        },
        "initial": [{"prompt": p, "heldout": score(p)} for p in dict.fromkeys(breeder.initial)],
        "extra": {name: {"prompt": p, "heldout": score(p)} for name, p in extra.items()},
        "curve": curve,
    }


def run_promptbreeder(cfg: PromptbreederConfig) -> Path:
    """Evolve (resuming a saved run), then the held-out report; returns the run folder."""
    import datetime as _dt

    from palestra.core.config import config_to_dict
    from palestra.core.runs import atomic_write_bytes, provenance
    from palestra.reason.evaluate import EvalConfig, _make_backend
    from palestra.reason.task import get_task

    task, heldout_task = get_task(cfg.task), get_task(cfg.heldout_task)
    out = cfg.out or Path("runs/promptbreeder") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(json.dumps(config_to_dict(cfg, recorded_only=True), default=str))
    saved = out / "config.json"
    if saved.is_file() and json.loads(saved.read_text()) != recorded:
        raise PalestraError(f"{out}: a run with another config; pick another --out")
    atomic_write_bytes(saved, json.dumps(recorded, indent=2).encode())
    if not (out / "meta.json").is_file():
        atomic_write_bytes(out / "meta.json", json.dumps(provenance(), default=str).encode())
    solver, _ = _make_backend(EvalConfig(task=cfg.task, backend=cfg.backend))
    mutator = solver
    if cfg.mutator:
        mutator, _ = _make_backend(EvalConfig(task=cfg.task, backend=cfg.mutator))
    try:
        breeder = Promptbreeder(cfg, solver, mutator, task, task.problems())
        state_path = out / "state.json"
        if state_path.is_file():
            breeder.restore(json.loads(state_path.read_text()))
        else:
            breeder.initialise()
        _save(breeder, out)
        report_path = out / "report.json"
        finished = breeder.generation >= cfg.generations and report_path.is_file()
        if finished and "curve" in json.loads(report_path.read_text()):
            return out  # a finished run: its report stands
        while breeder.generation < cfg.generations:
            breeder.step()
            _save(breeder, out)
        (out / "report.json").unlink(missing_ok=True)
        heldout = heldout_task.problems()[: cfg.heldout_limit]
        extra = {"hand-written chain of thought": "Think step by step."}
        report = heldout_report(breeder, heldout, extra)
        atomic_write_bytes(out / "report.json", json.dumps(report, indent=2).encode())
    finally:
        for b in {id(solver): solver, id(mutator): mutator}.values():
            close = getattr(b, "close", None)
            if close:
                close()
    return out


def _save(breeder: Promptbreeder, out: Path) -> None:
    """The mutator calls since the last save appended to ``calls.jsonl``, then the state
    (atomically): a kill between the two replays at most one generation's calls twice."""
    from palestra.core.runs import atomic_write_bytes

    with (out / "calls.jsonl").open("a") as f:
        for call in breeder.lm.trace:
            f.write(json.dumps(call.to_json()) + "\n")
    breeder.lm.trace.clear()
    atomic_write_bytes(out / "state.json", json.dumps(breeder.state()).encode())
