"""The rule-chain world and selection-inference: generated problems and their canonical
traces are proofs the prover accepts, the step checker rejects what does not follow, the LM
trainer's checker agrees with the generator, and the selection-inference program (on a
scripted model that slips, with and without the prover checking its steps) answers and
proves as it should, seeded and reproducible."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from palestra.reason import rulechains as rc
from palestra.reason.programs import Budget, run_program
from palestra.reason.programs.scripted import ScriptedBackend
from palestra.reason.programs.selection_inference import selection_inference
from palestra.reason.task import get_task


def test_generated_problems_have_proofs_the_prover_accepts() -> None:
    task = get_task("rulechains")
    problems = task.problems()
    assert len(problems) == 200 and len({p.id for p in problems}) == 200
    assert Counter(p.reference for p in problems) == {"True": 100, "Unknown": 100}
    assert {p.meta["depth"] for p in problems if p.reference == "True"} == {1, 2, 3}
    for p in problems:
        assert p.meta["name"] in rc.HELD_OUT_NAMES
        context, name, goal = rc.parse_prompt(p.prompt)
        assert (context, name, goal) == (p.meta["context"], p.meta["name"], p.meta["goal"])
        assert rc.true_answer(context, name, goal) == p.reference
        assert task.check(p, task.reference_completion(p)).verdict.accepted
        steps, answer, well_formed = rc.parse_steps(p.meta["cot"])
        assert answer == p.reference and well_formed
        why = rc.check_trace(context, name, goal, steps)
        assert (why == "") == (p.reference == "True"), why
    train = get_task("rulechains-train").problems()
    assert not {p.meta["name"] for p in train} & set(rc.HELD_OUT_NAMES)
    assert len({p.meta["name"] for p in train}) > 150  # made up afresh, not a list


def test_the_step_checker_is_the_prover() -> None:
    ok = rc.check_step(
        ("Big, red things are kind.", "Anne is big.", "Anne is red."), "Anne is kind."
    )
    assert ok.accepted
    for selection, inference, why in [
        (("Big, red things are kind.", "Anne is big."), "Anne is kind.", "not entailed"),
        (("Red things are big.", "Bob is red."), "Anne is big.", "not entailed"),
        (("Red things are big.", "Anne is red."), "Anne is kind.", "not entailed"),
        (("Red things are big.", "Anne is red."), "Anne is very big.", "not a fact or a rule"),
        (("Anne is red and big.",), "Anne is big.", "not a fact or a rule"),
    ]:
        verdict = rc.check_step(selection, inference)
        assert not verdict.accepted and why in verdict.reason, (selection, verdict.reason)
    # a trace that uses a sentence nobody stated is not a proof, however valid its logic
    context = ("Anne is red.", "Red things are big.")
    forged = [rc.Step(("Big things are kind.", "Anne is big."), "Anne is kind.")]
    assert "neither in the context" in rc.check_trace(context, "Anne", "kind", forged)


def test_training_examples_check_and_never_use_held_out_names() -> None:
    rng = random.Random(3)
    formats = Counter()
    for _ in range(400):
        prompt, target = rc.training_example(rng)
        formats[prompt.split("\n")[0]] += 1
        assert rc.check_answer(prompt, target), (prompt, target)
        names = set(re.findall(r"([A-Z][a-z]+) is [a-z]+[.?]", prompt + target))
        assert names and not names & set(rc.HELD_OUT_NAMES), names
        if prompt.startswith("Select."):
            assert not rc.check_answer(prompt, " Red things are cold.")
    assert set(formats) == set(rc.INSTRUCTIONS.values())


def _scripted_model(slip: float) -> ScriptedBackend:
    """Selection by the canonical rule; inference applies the selected rule, except that with
    probability ``slip`` it names another attribute (an inference the prover rejects)."""

    def respond(prompt: str, rng: random.Random) -> str:
        if prompt.startswith("Infer."):
            selection = rc.sentences(prompt.split("Selection:", 1)[1].split("\nInference:")[0])
            consequent = re.match(r".* things are ([a-z]+)\.", selection[0]).group(1)
            name = selection[1].split(" is ")[0]
            if rng.random() < slip:
                consequent = rng.choice([a for a in rc.ATTRIBUTES if a != consequent])
            return f" {name} is {consequent}.\n"
        context, name, _ = rc.parse_prompt(prompt)
        known = rc.sentences(prompt.split("\nKnown:", 1)[1].split("\nSelection:")[0])
        trace = rc.forward_chain([*context, *[k for k in known if k != "nothing."]], name)
        return " none.\n" if not trace else " " + " ".join(trace[0].selection) + "\n"

    return ScriptedBackend(respond)


def test_selection_inference_answers_and_proves_with_a_perfect_model() -> None:
    task = get_task("rulechains")
    backend = _scripted_model(0.0)
    for problem in task.problems()[:24]:
        result = run_program(selection_inference, backend, task, problem, seed=1)
        assert task.check(problem, result.text).verdict.accepted, result.text
        steps, _, well_formed = rc.parse_steps(result.text)
        assert well_formed and result.info["rejected"] == []
        if problem.reference == "True":
            meta = problem.meta
            assert rc.check_trace(meta["context"], meta["name"], meta["goal"], steps) == ""
            assert result.info["halted"] == "goal"
        else:
            assert result.info["halted"] == "none"


def test_the_prover_catches_slips_and_redraws() -> None:
    """A model that slips on 40% of its inferences. Unchecked, it still reaches most goals
    (a wrong fact is just one more fact) but its traces are not proofs; checked (redrawn up
    to 4 times), every step is a prover-accepted inference, so its True answers come with
    proofs. Same seeds: reproducible call for call."""
    task = get_task("rulechains")
    problems = [p for p in task.problems()[:60] if p.reference == "True"]
    proofs = {}
    for check in (False, True):
        backend = _scripted_model(0.4)
        results = [
            run_program(selection_inference, backend, task, p, seed=i, check=check)
            for i, p in enumerate(problems)
        ]
        proofs[check] = 0
        for p, r in zip(problems, results, strict=True):
            steps, answer, _ = rc.parse_steps(r.text)
            meta = p.meta
            why = rc.check_trace(meta["context"], meta["name"], meta["goal"], steps)
            proofs[check] += why == ""
            if check:  # every checked step is sound; only the goal may be missing
                assert why in ("", "the steps do not end in the question's fact"), why
                assert (answer == "True") == (why == "")
        if check:
            assert any(r.info["rejected"] for r in results)
            again = run_program(selection_inference, backend, task, problems[0], seed=0)
            assert [c.sampling["seed"] for c in again.trace] == [
                c.sampling["seed"] for c in results[0].trace
            ]
            assert again.text == results[0].text
    assert proofs[True] >= proofs[False] + len(problems) // 4, proofs


def test_selection_inference_stops_within_its_budget() -> None:
    task = get_task("rulechains")
    problem = next(p for p in task.problems() if p.meta["depth"] == 3 and p.reference == "True")
    result = run_program(
        selection_inference, _scripted_model(0.0), task, problem, seed=0, budget=Budget(calls=3)
    )
    assert result.calls == 3 and result.info["halted"] == "budget"
    assert "The answer is Unknown." in result.text  # what it has: no proof yet


def test_selection_inference_needs_a_task_with_its_prompts() -> None:
    with pytest.raises(TypeError, match="selection-inference"):
        run_program(
            selection_inference,
            _scripted_model(0.0),
            get_task("wordproblems"),
            get_task("wordproblems").problems()[0],
            seed=0,
        )


def test_eval_runs_selection_inference_with_records_and_resume(tmp_path) -> None:
    from palestra.reason.evaluate import EvalConfig, evaluate, read_samples

    backend = _scripted_model(0.3)
    cfg = EvalConfig(
        task="rulechains", backend="scripted", program="si", limit=8, k=3, seed=4,
        out=tmp_path / "si", progress=False,
    )  # fmt: skip
    run = evaluate(cfg, backend=backend, model="scripted", echo=False)
    records = read_samples(run / "samples.jsonl")
    assert len(records) == 8 and all(r["program"] == "si" for r in records)
    assert sum(r["accepted"] for r in records) >= 7
    calls = len(backend.calls)
    evaluate(cfg, backend=backend, model="scripted", echo=False)  # resumed: nothing to do
    assert len(backend.calls) == calls


@pytest.fixture(scope="module")
def tiny_rule_model(tmp_path_factory: pytest.TempPathFactory):
    """A one-layer rule-chain model trained a few steps: the plumbing, not the effect."""
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    cfg = LMTrainConfig(
        task="rulechains", n_layer=1, n_head=2, d_model=32, block_size=640, steps=4,
        batch_size=4, lr=3e-3, warmup=2, eval_every=4, checkpoint_every=4, eval_examples=2,
        runs_root=tmp_path_factory.mktemp("runs"), progress=False,
    )  # fmt: skip
    return train(cfg)


def test_selection_inference_runs_unchanged_over_http_and_in_process(tiny_rule_model) -> None:
    from palestra.lm.backends import LocalBackend, OpenAIBackend
    from palestra.lm.serve_config import ServeConfig
    from palestra.lm.server import ModelServer

    task = get_task("rulechains")
    problems = task.problems()[:3]
    options = {"check": True, "tries": 2, "max_steps": 2, "max_step_tokens": 24}
    with LocalBackend(tiny_rule_model) as local:
        here = [run_program(selection_inference, local, task, p, seed=3, **options)
                for p in problems]  # fmt: skip
    with ModelServer(ServeConfig(tiny_rule_model, port=0, max_n=2, model_name="t")) as server:
        remote = OpenAIBackend(server.url, "t")
        there = [run_program(selection_inference, remote, task, p, seed=3, **options)
                 for p in problems]  # fmt: skip
    for a, b in zip(here, there, strict=True):
        assert a.calls >= 1 and a.text == b.text and a.info == b.info
        strip = [{k: v for k, v in c.to_json().items() if k != "seconds"} for c in a.trace]
        assert strip == [{k: v for k, v in c.to_json().items() if k != "seconds"} for c in b.trace]
