"""Atari on CPUs: worlds on ale-py (screen, RAM or both), PPO and batched actor-critic.

Importing this package imports nothing heavy; the modules are
:mod:`palestra.play.atari` (worlds and vector envs), :mod:`palestra.play.config` (the
CLI's configs), :mod:`palestra.play.ppo` and :mod:`palestra.play.ba3c` (one recipe each),
:mod:`palestra.play.train` (picks the recipe), :mod:`palestra.play.common` (GAE, n-step
returns, RNG state, saved policies), :mod:`palestra.play.evaluate`,
:mod:`palestra.play.bench` (``palestra bench atari``) and :mod:`palestra.play.bench_ray`
(``palestra bench atari-ray``, BA3C with Ray rollout workers).
"""

__all__: list[str] = []
