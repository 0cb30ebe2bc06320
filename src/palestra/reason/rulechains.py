"""Generated rule chains: a deductive world for selection-inference (Creswell, Shanahan and
Higgins 2022), every step of which Palestra's connection prover checks.

A problem is a small theory in ProofWriter's English and a question about one entity::

    Context: Anne is red. Red things are big. Bob is green. Big, red things are kind.
    Green things are cold.
    Question: Is Anne kind?

Facts say ``NAME is ATTR.``; rules say ``Attr things are ATTR.`` (one antecedent) or
``Attr, attr things are ATTR.`` (two). The answer is ``True`` when the question's fact
follows from the theory and ``Unknown`` when it does not (open world, no negation).

**The canonical trace.** Forward chaining on the question's entity, one rule application a
step: at each step the *first rule in context order* whose antecedents are all known of the
entity (a fact of the context or an earlier inference) and whose consequent is not yet
known fires. A step is a *selection* (the rule, then the facts that satisfy its antecedents,
in the rule's order) and an *inference* (the new fact)::

    Selection: Red things are big. Anne is red.
    Inference: Anne is big.
    Selection: Big, red things are kind. Anne is big. Anne is red.
    Inference: Anne is kind.
    The answer is True.

The trace stops at the inference of the question's fact (True) or, when no rule fires any
more, with ``Selection: none.`` and ``The answer is Unknown.`` The generator keeps the trace
to at most :data:`MAX_TRACE` steps; the **depth** of a True problem is the number of steps of
its trace (1..3 by default), of an Unknown one the steps before ``none`` (0..3).

**Prompts.** One instruction per format (:data:`INSTRUCTIONS`), so one model learns them all
(``palestra train lm --task rulechains``): ``direct`` (``The answer is True.`` alone),
``cot`` (the whole trace in one completion), ``select`` (the next selection, given on a
``Known:`` line what is known of the entity: its facts in the context, then those inferred
so far) and ``infer`` (the inference from a selection *alone*: the selection-inference split
that makes each inference depend on its selection only).

**Splits.** The split is of *names*. Training data names its entities with made-up names
(:func:`made_up_name`: two or three consonant-vowel syllables, a new draw every problem, so
a model must learn to copy a name rather than memorise a list); the held-out split uses
real first names (:data:`HELD_OUT_NAMES`), which the made-up ones are never equal to, so
copying an entity through a selection and an inference has to generalise.

**Checking a step** (:func:`check_step`): the selection's sentences are translated to
first-order logic (``red(anne)``, ``![X]: ((big(X) & red(X)) => kind(X))``), the inference
becomes the conjecture, and Palestra's leanCoP calculus (:func:`palestra.prove.prove`) must
prove it, its proof then re-checked by the independent checker
(:func:`palestra.prove.check`). So a step is accepted iff its inference is entailed by its
selection alone. Whether the selected sentences are in the context is a separate, syntactic
check (:func:`check_trace` does both, step by step, and that each step's inference is new).

What it does not do: no negation, no relations between entities and no closed-world
answers (ProofWriter's ``False``); the English is the generator's own few forms, and a
sentence the forms do not cover fails the step rather than being understood.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from palestra.core.errors import PalestraError
from palestra.core.verdict import Verdict
from palestra.reason.task import Checked, Problem, Task, register_task

__all__ = [
    "ATTRIBUTES",
    "FORMATS",
    "HELD_OUT_NAMES",
    "INSTRUCTIONS",
    "RuleChain",
    "Step",
    "attributes",
    "check_answer",
    "check_step",
    "check_step_in",
    "check_trace",
    "generate",
    "made_up_name",
    "parse_steps",
    "prompt_for",
    "training_example",
]

_NAMES_TEXT = (
    "Anne Bob Charlie Dave Erin Fiona Gary Harry Iris Jack Kate Liam Mia Noah Olga Paul Quinn "
    "Rosa Sam Tina Uma Victor Wendy Xavier Yara Zack Alice Ben Clara Dan Eva Fred Gina Hugo "
    "Ivy Jon Kim Leo Maya Nick Omar Pia Ray Sara Tom Ursula Vera Walt Yves Zoe Amy Bart Cleo "
    "Dora Eli Faye Glen Hana Ian Jade Karl Lola Max Nina Otto Pete Rita Saul Tara Ugo Vic Will "
    "Xena Yoko Zeno Ada Boris Cora Dean Edna Finn Greta Hans Ines Joel Kira Lars Mona Ned Opal "
    "Penn Rhea Seth Tess Uri Vito Wade"
)
HELD_OUT_NAMES = tuple(_NAMES_TEXT.split())
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def made_up_name(rng: random.Random) -> str:
    """A training name: two or three consonant-vowel syllables (``Kobami``), never one of
    :data:`HELD_OUT_NAMES`."""
    while True:
        k = rng.choice((2, 2, 3))
        name = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(k))
        name = name.capitalize()
        if name not in HELD_OUT_NAMES:
            return name


ATTRIBUTES = ("big", "blue", "cold", "green", "kind", "nice", "red", "round", "smart", "young")
MAX_TRACE = 4
FORMATS = ("direct", "cot", "select", "infer")
INSTRUCTIONS = {
    "direct": "Answer directly.",
    "cot": "Reason step by step.",
    "select": "Select.",
    "infer": "Infer.",
}
Answer = Literal["True", "Unknown"]


# ----------------------------------------------------------------------------- sentences
@dataclass(frozen=True)
class Rule:
    """``antecedents -> consequent`` for every entity."""

    antecedents: tuple[str, ...]
    consequent: str

    @property
    def text(self) -> str:
        head = ", ".join(self.antecedents)
        return f"{head[0].upper()}{head[1:]} things are {self.consequent}."


def fact(name: str, attr: str) -> str:
    return f"{name} is {attr}."


_FACT = re.compile(r"([A-Z][a-z]+) is ([a-z]+)\.")
_RULE = re.compile(r"([A-Z][a-z]*(?:, [a-z]+)*) things are ([a-z]+)\.")
_SENTENCE = re.compile(r"[^.]*\.")


_ANSWER = re.compile(r"The answer is (True|Unknown)\.")


def attributes(context: Sequence[str], name: str) -> list[str]:
    """What the facts of ``context`` say ``name`` is, in their order."""
    return [m.group(2) for s in context if (m := _FACT.fullmatch(s)) and m.group(1) == name]


def sentences(text: str) -> list[str]:
    """``text`` cut into its sentences (each ending in ``.``), stripped."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def to_tptp(sentence: str) -> str:
    """A fact or rule as a TPTP first-order formula; an error for any other sentence."""
    if m := _FACT.fullmatch(sentence):
        return f"{m.group(2)}({m.group(1).lower()})"
    if m := _RULE.fullmatch(sentence):
        body = " & ".join(f"{a.lower()}(X)" for a in m.group(1).split(", "))
        return f"![X]: (({body}) => {m.group(2)}(X))"
    raise PalestraError(f"not a fact or a rule of the rule-chain world: {sentence!r}")


# ----------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Step:
    selection: tuple[str, ...]  # the rule, then the facts that satisfy it
    inference: str


@dataclass(frozen=True)
class RuleChain:
    """A theory, a question about ``name`` and its canonical trace."""

    context: tuple[str, ...]
    name: str
    goal: str  # the attribute asked about
    answer: Answer
    trace: tuple[Step, ...]

    @property
    def question(self) -> str:
        return f"Is {self.name} {self.goal}?"

    @property
    def depth(self) -> int:
        return len(self.trace)

    def cot(self) -> str:
        return " " + render_trace(self.trace, self.answer)


def render_trace(trace: Sequence[Step], answer: Answer) -> str:
    lines = []
    for step in trace:
        lines += [f"Selection: {' '.join(step.selection)}", f"Inference: {step.inference}"]
    if answer == "Unknown":
        lines.append("Selection: none.")
    lines.append(f"The answer is {answer}.")
    return "\n".join(lines)


def forward_chain(context: Sequence[str], name: str, goal: str | None = None) -> list[Step]:
    """The canonical trace of ``name`` in ``context`` (the module doc), stopping once
    ``goal`` is inferred."""
    known = set(attributes(context, name))
    rules = [m for s in context if (m := _RULE.fullmatch(s))]
    trace: list[Step] = []
    while goal not in known:
        for m in rules:
            ante, cons = m.group(1).lower().split(", "), m.group(2)
            if cons not in known and all(a in known for a in ante):
                trace.append(Step((m.group(0), *(fact(name, a) for a in ante)), fact(name, cons)))
                known.add(cons)
                break
        else:
            return trace
    return trace


def generate(
    rng: random.Random,
    *,
    depth: int,
    answer: Answer,
    names: Sequence[str] | None = None,
    max_tries: int = 1000,
) -> RuleChain:
    """A problem whose trace has ``depth`` steps (True: the last infers the goal; Unknown:
    ``depth`` steps, then none), with distractor facts and rules."""
    if not 0 <= depth <= MAX_TRACE or (answer == "True" and depth == 0):
        raise PalestraError(f"depth {depth} is out of range for a {answer} problem")
    for _ in range(max_tries):
        if names is None:  # made-up names (training data)
            name, other = made_up_name(rng), made_up_name(rng)
            if name == other:
                continue
        else:
            name, other = rng.sample(list(names), 2)
        attrs = list(ATTRIBUTES)
        rng.shuffle(attrs)
        # a chain start -> c1 -> ... (each rule may also need a second start attribute)
        start = attrs[:2] if rng.random() < 0.5 else attrs[:1]
        pool = attrs[len(start) :]
        chain, have = [], list(start)
        for i in range(depth):
            cons = pool[i]
            ante = [have[-1]]
            if rng.random() < 0.4 and len(have) > 1:
                ante.append(rng.choice(have[:-1]))
            chain.append(Rule(tuple(sorted(ante)), cons))
            have.append(cons)
        unused = [a for a in pool if a not in have]
        distractors = []
        for _ in range(rng.randint(1, 3)):
            k = rng.choice((1, 1, 2))
            ante = tuple(sorted(rng.sample([*unused, rng.choice(have)], k)))
            distractors.append(Rule(ante, rng.choice(unused + have[:1])))
        facts = [fact(name, a) for a in start]
        facts += [fact(other, a) for a in rng.sample(ATTRIBUTES, rng.randint(1, 2))]
        context = facts + [r.text for r in chain + distractors if r.consequent not in r.antecedents]
        rng.shuffle(context)
        if len(set(context)) != len(context):
            continue
        full = forward_chain(context, name)
        known = set(attributes([*context, *(s.inference for s in full)], name))
        if answer == "True":
            goal = chain[-1].consequent
            trace = forward_chain(context, name, goal)
            if len(trace) != depth or len(full) > MAX_TRACE:
                continue
        else:
            if len(full) != depth:
                continue
            # a hard negative where one exists: a consequent of some rule, or a fact of other
            near = [r.consequent for r in distractors] + attributes(context, other)
            candidates = [a for a in near if a not in known] or [
                a for a in ATTRIBUTES if a not in known
            ]
            goal, trace = rng.choice(candidates), full
        return RuleChain(tuple(context), name, goal, answer, tuple(trace))
    raise PalestraError(f"no {answer} problem of depth {depth} in {max_tries} tries")


# ----------------------------------------------------------------------------- prompts
def prompt_for(
    problem: RuleChain | tuple[Sequence[str], str],
    style: str,
    known: Sequence[str] = (),
    selection: str = "",
) -> str:
    """The prompt of a problem (or ``(context, question)``) in ``style`` (:data:`FORMATS`):
    ``select`` lists the facts inferred so far, ``infer`` shows only ``selection``."""
    if style not in INSTRUCTIONS:
        raise PalestraError(f"unknown style {style!r}; known: {', '.join(FORMATS)}")
    head = INSTRUCTIONS[style]
    if style == "infer":
        return f"{head}\nSelection: {selection}\nInference:"
    context, question = (
        (problem.context, problem.question) if isinstance(problem, RuleChain) else problem
    )
    text = f"{head}\nContext: {' '.join(context)}\nQuestion: {question}\n"
    if style == "select":  # the entity's facts: the context's, then those inferred so far
        name = question.split(" ")[1]
        about = [x for x in context if (m := _FACT.fullmatch(x)) and m.group(1) == name]
        return f"{text}Known: {' '.join([*about, *known])}\nSelection:"
    return f"{text}A:"


def training_example(rng: random.Random, *, max_depth: int = 3) -> tuple[str, str]:
    """One ``(prompt, target)`` of the training mixture (made-up names; True and Unknown
    equally often; formats direct 25%, cot 25%, select 35%, infer 15%)."""
    answer: Answer = rng.choice(("True", "Unknown"))
    depth = rng.randint(1 if answer == "True" else 0, max_depth)
    p = generate(rng, depth=depth, answer=answer)
    style = rng.choices(FORMATS, weights=(25, 25, 35, 15))[0]
    if style == "direct":
        return prompt_for(p, "direct"), f" The answer is {p.answer}."
    if style == "cot":
        return prompt_for(p, "cot"), p.cot()
    # select: any step's selection, and "none" after an Unknown trace; infer: any step's
    last = len(p.trace) - (1 if style == "infer" or answer == "True" else 0)
    if last < 0:  # an Unknown problem with nothing to infer: ask for its selection (none)
        style, last = "select", 0
    i = rng.randint(0, last)
    known = [s.inference for s in p.trace[:i]]
    if style == "select":
        target = " none." if i == len(p.trace) else " " + " ".join(p.trace[i].selection)
        return prompt_for(p, "select", known), target
    step = p.trace[i]
    return prompt_for(p, "infer", selection=" ".join(step.selection)), f" {step.inference}"


# ----------------------------------------------------------------------------- checking
_PROVER_SETTINGS = "[cut,comp(7)]"


def check_step(selection: Sequence[str], inference: str) -> Verdict[None]:
    """Is ``inference`` entailed by the sentences of ``selection``? The prover's answer,
    its proof re-checked (the module doc)."""
    from palestra.logic.clausify import clausify_settings
    from palestra.logic.tptp import parse_problem
    from palestra.prove import Options, check, prove

    try:
        axioms = [to_tptp(s) for s in selection]
        goal = to_tptp(inference)
    except PalestraError as e:
        return Verdict.reject(str(e))
    if not _FACT.fullmatch(inference):
        return Verdict.reject(f"the inference is not a fact: {inference!r}")
    text = "".join(f"fof(s{i}, axiom, {a}).\n" for i, a in enumerate(axioms))
    text += f"fof(goal, conjecture, {goal}).\n"
    matrix = clausify_settings(parse_problem(text), _PROVER_SETTINGS)
    result = prove(matrix, Options.from_leancop(_PROVER_SETTINGS, inference_limit=20_000))
    if result.status != "Theorem" or result.proof is None:
        return Verdict.reject(f"not entailed by the selection ({result.status})")
    verdict = check(matrix, result.proof)
    return Verdict.accept() if verdict.accepted else Verdict.reject(verdict.reason)


def check_step_in(available: set[str], selection: Sequence[str], inference: str) -> Verdict[None]:
    """One step of a trace, given the sentences ``available`` to it (the context and the
    inferences before it): it selects only those, infers something new, and the prover
    proves the inference from the selection (:func:`check_step`)."""
    missing = [x for x in selection if x not in available]
    if missing:
        return Verdict.reject(f"selects {missing[0]!r}, neither in the context nor inferred")
    if inference in available:
        return Verdict.reject(f"infers {inference!r}, already known")
    return check_step(selection, inference)


def parse_steps(text: str) -> tuple[list[Step], str | None, bool]:
    """A written trace: its steps, its answer (``True``/``Unknown`` or None) and whether its
    lines were all of the trace's forms."""
    steps, answer, well_formed, selection = [], None, True, None
    for line in text.strip("\n").split("\n"):
        line = line.strip()
        if line.startswith("Selection:"):
            body = line.removeprefix("Selection:").strip()
            selection = None if body == "none." else tuple(sentences(body))
        elif line.startswith("Inference:") and selection is not None:
            steps.append(Step(selection, line.removeprefix("Inference:").strip()))
            selection = None
        elif m := _ANSWER.fullmatch(line):
            answer = m.group(1)
        else:
            well_formed = False
    return steps, answer, well_formed


def check_trace(context: Sequence[str], name: str, goal: str, steps: Sequence[Step]) -> str:
    """Why a trace of steps is not a proof of ``goal`` about ``name`` from ``context``, or
    ``""`` when every step selects sentences of the context or earlier inferences, the
    prover accepts its inference, each inference is new, and the last one is the goal."""
    available = set(context)
    for i, step in enumerate(steps, 1):
        verdict = check_step_in(available, step.selection, step.inference)
        if not verdict:
            return f"step {i}: {verdict.reason}"
        available.add(step.inference)
    if not steps or steps[-1].inference != fact(name, goal):
        return "the steps do not end in the question's fact"
    return ""


def parse_prompt(prompt: str) -> tuple[list[str], str, str]:
    """``(context sentences, name, goal)`` read back from a direct/cot/select prompt."""
    m = re.search(r"Context: (.*)\nQuestion: Is ([A-Z][a-z]+) ([a-z]+)\?", prompt)
    if m is None:
        raise PalestraError("not a rule-chain prompt (no Context: and Question: lines)")
    return sentences(m.group(1)), m.group(2), m.group(3)


def true_answer(context: Sequence[str], name: str, goal: str) -> Answer:
    """The answer, recomputed from the text by forward chaining."""
    inferred = [s.inference for s in forward_chain(context, name, goal)]
    return "True" if goal in attributes([*context, *inferred], name) else "Unknown"


def check_answer(prompt: str, output: str) -> bool:
    """The LM trainer's checker: for a direct or cot prompt, is the answer line right (the
    answer recomputed from the prompt's text); for select/infer, is the output the canonical
    selection / an inference the prover accepts from the selection."""
    if prompt.startswith(INSTRUCTIONS["infer"]):
        selection = sentences(prompt.split("Selection:", 1)[1].split("\nInference:")[0])
        return bool(check_step(selection, output.strip()))
    context, name, goal = parse_prompt(prompt)
    if prompt.startswith(INSTRUCTIONS["select"]):
        known = sentences(prompt.split("\nKnown:", 1)[1].split("\nSelection:")[0])
        done = forward_chain(context, name)
        inferred = [s.inference for s in done]
        i = len([k for k in known if k in inferred])
        want = "none." if i >= len(done) else " ".join(done[i].selection)
        return output.strip() == want
    last = output.strip("\n").split("\n")[-1].strip()  # the answer is the last line
    m = _ANSWER.fullmatch(last)
    return m is not None and m.group(1) == true_answer(context, name, goal)


# ----------------------------------------------------------------------------- the reason tasks
EVAL_SEED = 2027
EVAL_PROBLEMS = 200


class RuleChainTask(Task):
    """Rule chains asked in one style: 200 problems, True and Unknown alternating, depths
    1..3 (True) and 0..3 (Unknown) in turn, from seed 2027. The answer is the ``The answer
    is ...`` line; a chain-of-thought completion is also judged as a proof (``meta``)."""

    name: ClassVar[str] = "rulechains"
    kind: ClassVar[Literal["code", "answer"]] = "answer"
    dataset: ClassVar[str] = "rulechains (generated)"
    stop = ("\n\n", "\nContext:")
    max_tokens = 256
    style: ClassVar[str] = "cot"
    split: ClassVar[str] = "heldout"

    def problems(
        self,
        data: str | Path | None = None,
        *,
        seed: int | str = EVAL_SEED,
        count: int = EVAL_PROBLEMS,
    ) -> list[Problem]:
        if data is not None:
            raise PalestraError(f"{self.name} is generated; it reads no data set (--data)")
        rng = random.Random(f"{seed}/{self.split}")
        names = HELD_OUT_NAMES if self.split == "heldout" else None
        out = []
        for i in range(count):
            answer: Answer = "True" if i % 2 == 0 else "Unknown"
            depth = (i // 2) % 3 + 1 if answer == "True" else (i // 2) % 4
            p = generate(rng, depth=depth, answer=answer, names=names)
            out.append(
                Problem(
                    task=self.name,
                    id=f"rulechains/{self.split}/{i}",
                    prompt=prompt_for(p, self.style),
                    question=p.question,
                    reference=p.answer,
                    meta={
                        "context": list(p.context),
                        "name": p.name,
                        "goal": p.goal,
                        "depth": p.depth,
                        "cot": p.cot(),
                    },
                )
            )
        return out

    def check(self, problem: Problem, completion: str) -> Checked:
        _, answer, _ = parse_steps(completion)
        if answer is None:
            return Checked(Verdict.reject("no 'The answer is True/Unknown.' line"), None)
        if answer != problem.reference:
            return Checked(Verdict.reject(f"answered {answer}, not {problem.reference}"), answer)
        return Checked(Verdict.accept(), answer)

    # -- selection-inference (palestra.reason.programs.selection_inference.SITask)
    def select_prompt(self, problem: Problem, known: Sequence[str]) -> str:
        return prompt_for((problem.meta["context"], problem.question), "select", known)

    def infer_prompt(self, selection: str) -> str:
        return prompt_for(((), ""), "infer", selection=selection)

    def check_si_step(
        self, problem: Problem, selection: str, inference: str, known: Sequence[str]
    ) -> Verdict[None]:
        """:func:`check_step_in` with the context and the inferences so far."""
        available = set(problem.meta["context"]) | set(known)
        return check_step_in(available, sentences(selection), inference)

    def goal(self, problem: Problem) -> str:
        return fact(problem.meta["name"], problem.meta["goal"])

    def render(self, problem: Problem, steps: Sequence[tuple[str, str]], proved: bool) -> str:
        trace = [Step(tuple(sentences(sel)), inf) for sel, inf in steps]
        return " " + render_trace(trace, "True" if proved else "Unknown")

    def reference_completion(self, problem: Problem) -> str:
        if self.style == "direct":
            return f" The answer is {problem.reference}."
        return str(problem.meta["cot"])


@register_task("rulechains")
class RuleChainsCot(RuleChainTask):
    """Held-out names, the whole trace in one completion (chain of thought)."""

    name = "rulechains"


@register_task("rulechains-direct")
class RuleChainsDirect(RuleChainTask):
    """Held-out names, answered directly."""

    name = "rulechains-direct"
    style = "direct"


@register_task("rulechains-train")
class RuleChainsTrain(RuleChainTask):
    """Made-up names as in training (new theories), chain of thought."""

    name = "rulechains-train"
    split = "train"


@register_task("rulechains-train-direct")
class RuleChainsTrainDirect(RuleChainTask):
    """Made-up names as in training (new theories), answered directly."""

    name = "rulechains-train-direct"
    split = "train"
    style = "direct"
