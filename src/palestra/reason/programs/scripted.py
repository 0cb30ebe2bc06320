"""A scripted in-process backend: a "model" that is a Python function of the prompt, for the
programs' tests and benches.

    backend = ScriptedBackend(lambda prompt, rng: " The answer is 4.")
    backend = ScriptedBackend.categorical({" A": 0.5, " B": 0.3, " C": 0.2})

It is a :class:`~palestra.lm.backends.BaseBackend` (the ``complete`` and ``chat`` of every
backend): sample ``j`` of a call with
``seed`` gets a ``random.Random`` seeded by SHA-256(seed, j) and the text ``respond(prompt,
rng)``, cut at the first stop string (finish ``"stop"``) or at ``max_tokens`` bytes (finish
``"length"``); tokens are UTF-8 bytes. ``chat`` templates the messages with
:func:`~palestra.lm.backends.chat_prompt`. Sampling parameters are checked as a real backend
checks them; ``temperature`` and ``top_p`` are otherwise ignored (the function decides).
:attr:`ScriptedBackend.calls` records every ``(prompt, seed, n)`` asked for.

What it does not do: serve HTTP (the reason.scripted server does that for task prompts), or
model anything about a language model but the law its function gives.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict

from palestra.lm.backends import BaseBackend, Completion, Sampling, chat_prompt, check_sampling

__all__ = ["ScriptedBackend"]


class ScriptedBackend(BaseBackend):
    """A backend whose samples are ``respond(prompt, rng)``."""

    def __init__(self, respond: Callable[[str, random.Random], str]) -> None:
        self.respond = respond
        self.calls: list[tuple[str, int | None, int]] = []
        self._lock = threading.Lock()

    @classmethod
    def categorical(cls, law: Mapping[str, float]) -> ScriptedBackend:
        """Whatever the prompt, text ``y`` with probability ``law[y]``."""
        texts, weights = list(law), list(law.values())
        return cls(lambda prompt, rng: rng.choices(texts, weights)[0])

    def _answer(
        self, request: str | list[dict], sampling: Sampling, *, chat: bool
    ) -> list[Completion]:
        prompt = chat_prompt(request) if chat else request
        assert isinstance(prompt, str)
        n, max_tokens, seed = sampling.n, sampling.max_tokens, sampling.seed
        stops = check_sampling(**asdict(sampling))
        with self._lock:
            self.calls.append((prompt, seed, n))
        out = []
        for j in range(n):
            if seed is None:
                rng = random.Random()
            else:
                digest = hashlib.sha256(f"scripted-backend/{seed}/{j}".encode()).digest()
                rng = random.Random(int.from_bytes(digest[:8], "big"))
            text = self.respond(prompt, rng)
            reason = "stop"
            cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
            if cuts:
                text = text[: min(cuts)]
            raw = text.encode()
            if len(raw) > max_tokens:
                text, reason = raw[:max_tokens].decode(errors="ignore"), "length"
            out.append(Completion(text, reason, len(prompt.encode()), len(text.encode())))
        return out
