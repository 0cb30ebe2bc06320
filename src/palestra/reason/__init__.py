"""Reason: language models on tasks whose answers are checked.

``palestra eval TASK --backend URL|local:RUN_DIR`` samples completions from any
OpenAI-compatible endpoint (or a model trained here, in process), checks every one with the
task's verifier (code re-run in :mod:`palestra.core.sandbox`, answers compared by
:mod:`palestra.reason.answers`), and reports pass@k and maj@k (:mod:`palestra.reason.metrics`).

- :mod:`palestra.reason.task`: the :class:`~palestra.reason.task.Task` contract and the
  registry of tasks.
"""
