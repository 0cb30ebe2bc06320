"""Continuous control on gymnasium environments: SAC, AWR and QWR with a shared replay
buffer and training loop.

Modules: :mod:`~palestra.control.envs` (vector envs with checkpointable simulator state),
:mod:`~palestra.control.replay` (the replay buffer), :mod:`~palestra.control.common` (the
agent interface, TD(lambda) targets, advantage weights), one file per algorithm
(:mod:`~palestra.control.sac`, :mod:`~palestra.control.awr`, :mod:`~palestra.control.qwr`),
:mod:`~palestra.control.train` (the loop, evaluation, saved policies) and
:mod:`~palestra.control.bench` (``palestra bench control``). Networks live in
:mod:`palestra.models.control_nets`.
"""

__all__: list[str] = []
