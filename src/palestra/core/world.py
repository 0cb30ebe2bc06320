"""The state contract every world speaks, and the registry that names worlds.

A *world* is a single-agent decision problem whose answers can be checked: a partial
connection tableau, a partial SAT assignment, an Atari console, a language-model task.
Search algorithms (MCTS, best-first, sampling) see only this contract::

    state.legal_actions() -> list[Action]   # empty iff the state is terminal
    state.apply(action)   -> None           # in place; use clone() to branch
    state.is_terminal()   -> bool
    state.reward()        -> float          # reward of the last transition (terminal: outcome)
    state.clone()         -> State          # an independent copy, cheap where possible

Worlds register a factory under a name (``@register_world("sat")``) and are made with
``make_world("sat", **kwargs)``; importing a pillar module is what registers its worlds,
so the registry knows the built-in pillars lazily through ``_BUILTIN``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable
from typing import Any, Protocol, runtime_checkable

from palestra.core.errors import PalestraError

__all__ = ["State", "make_world", "register_world", "world_names"]

Action = Hashable


@runtime_checkable
class State(Protocol):
    """A world's state; see the module docstring for the contract."""

    def legal_actions(self) -> list[Any]: ...

    def apply(self, action: Any) -> None: ...

    def is_terminal(self) -> bool: ...

    def reward(self) -> float: ...

    def clone(self) -> State: ...


_REGISTRY: dict[str, Callable[..., State]] = {}

# Worlds of the built-in pillars: name -> module whose import registers it.
_BUILTIN: dict[str, str] = {
    "sat": "palestra.sat.world",
    "connection": "palestra.prove.world",
    "atari": "palestra.play.atari",
}


def register_world(name: str) -> Callable[[Callable[..., State]], Callable[..., State]]:
    """Decorator: register ``factory(**kwargs) -> State`` under ``name``."""

    def wrap(factory: Callable[..., State]) -> Callable[..., State]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"world {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return wrap


def world_names() -> list[str]:
    """Names of all known worlds, built-in and registered."""
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def make_world(name: str, **kwargs: Any) -> State:
    """Make the initial state of the world ``name``."""
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        raise PalestraError(f"unknown world {name!r}; known: {', '.join(world_names())}")
    return _REGISTRY[name](**kwargs)
