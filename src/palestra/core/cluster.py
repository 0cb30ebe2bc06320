"""Joining a Ray cluster, shared by everything that can run its work on one (BA3C's rollout
actors, rlCoP's proof attempts).

``address`` ``None`` or ``"local"`` starts a Ray cluster inside this process; anything else
(``"auto"``, ``"ray://head:10001"``, ``"10.0.0.1:6379"``) joins a running one, whose nodes
need ``palestra`` installed. Ray already initialised in this process (by a test, a bench, a
user script) is used as it is, and left running.
"""

from __future__ import annotations

import logging
import os

__all__ = ["ray_connect"]


def ray_connect(address: str | None, num_cpus: int) -> bool:
    """Join or start a Ray cluster (a local one gets at least ``num_cpus`` CPUs, and at
    least the machine's); True if this call initialised Ray (the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    if address in (None, "local"):
        ray.init(
            address="local",
            num_cpus=max(num_cpus, os.cpu_count() or 1),
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    else:
        ray.init(address=address, logging_level=logging.WARNING)
    return True
