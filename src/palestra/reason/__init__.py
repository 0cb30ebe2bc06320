"""Reason: language models on tasks whose answers are checked.

``palestra eval TASK --backend URL|local:RUN_DIR`` samples completions from any
OpenAI-compatible endpoint (or a model trained here, in process), checks every one with the
task's verifier (code re-run in :mod:`palestra.core.sandbox`, answers compared by
:mod:`palestra.reason.answers`), and reports pass@k and maj@k (:mod:`palestra.reason.metrics`).

- :mod:`~palestra.reason.task`: the :class:`~palestra.reason.task.Task` contract and the
  registry of tasks; :mod:`~palestra.reason.code_tasks` (humaneval, mbpp, mathqa-python) and
  :mod:`~palestra.reason.math_tasks` (gsm8k, math500, imobench) register the built-in ones.
- :mod:`~palestra.reason.answers`: answer extraction, Minerva's normaliser, symbolic
  equivalence in a worker process with a timeout.
- :mod:`~palestra.reason.evaluate`: the ``palestra eval`` run (resumable JSONL, report);
  :mod:`~palestra.reason.cache`: the response cache.
- :mod:`~palestra.reason.interventions` and :mod:`~palestra.reason.biases`: bias
  interventions on coding problems and the accuracy-drop table (``palestra eval-biases``).
- :mod:`~palestra.reason.proofbench`: IMO-ProofBench's grader (``palestra grade-proofs``).
- :mod:`~palestra.reason.bench_eval` (``palestra bench eval``) and its parts
  (``bench_code``, ``bench_answers``, ``bench_estimators``; ``scripted``: an
  OpenAI-compatible server with a known accuracy).
"""
