"""Model backends: the one contract every consumer that asks a language model for text uses.

A backend answers two calls (the :class:`Backend` protocol)::

    backend.complete("12+34=", n=4, temperature=0.8, max_tokens=16, stop=["\\n"], seed=0)
    backend.chat([{"role": "user", "content": "Prove 1+1=2."}], temperature=0.0)

and returns one :class:`Completion` per sample: its ``text``, its ``finish_reason``
(``"stop"``: the model ended it with ``<eos>`` or produced a stop string, which is cut off;
``"length"``: ``max_tokens`` were reached), and the token counts.

- :class:`LocalBackend` runs a model trained by ``palestra train lm`` in this process.
- :class:`OpenAIBackend` speaks the OpenAI HTTP API (``/v1/completions``,
  ``/v1/chat/completions``) with the standard library only, to ``palestra lm serve`` or any
  compatible server; it retries 429/5xx answers and connection failures with capped, jittered
  exponential backoff that honours ``Retry-After``, cuts texts at every stop string (the API
  takes four), sums the tokens it used, and turns a 4xx answer into a :class:`BackendError`
  carrying the server's message.
- :func:`complete_many` runs many :class:`Request` s on any backend with a pool of threads,
  yielding answers as they finish, optionally through a cache (:class:`ResponseStore`).

Both raise :class:`BackendError` (a :class:`~palestra.core.errors.PalestraError`) for a bad
request, with the HTTP status the server gives it (400 for a bad parameter or a prompt longer
than the context), so a consumer handles a local and a remote model alike.

The chat template
-----------------
Our small models have no chat tokens, so a conversation is written as plain text, one line
per message, and ends with the assistant's tag for the model to continue::

    <|system|>You check proofs.
    <|user|>Is 2+2=4?
    <|assistant|>

The reply ends at ``<eos>`` or where the model starts the next tag (``"\\n<|"``, added to the
stop strings of every chat request). :func:`chat_prompt` is the one implementation; the
server and :class:`LocalBackend` both call it, so a chat gets the same text either way.

Sampling is the transformer's: ``temperature=0`` is greedy, otherwise nucleus sampling with
``top_p`` (:func:`palestra.models.transformer.sample_next`). Each request samples its
unfinished samples, in order, from its own ``torch.Generator`` seeded with ``seed``, so the
same seed and parameters give the same texts, in process or over HTTP, alone or batched with
other requests (:mod:`palestra.lm.batching`).
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import http.client
import ipaddress
import json
import math
import queue
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from palestra.core.errors import PalestraError

if TYPE_CHECKING:
    from palestra.lm.batching import Scheduler
    from palestra.lm.tokenizers import Tokenizer
    from palestra.models.transformer import Transformer

__all__ = [
    "CHAT_ROLES",
    "CHAT_STOP",
    "Answer",
    "Backend",
    "BackendError",
    "BaseBackend",
    "Completion",
    "Generation",
    "LocalBackend",
    "OpenAIBackend",
    "Request",
    "ResponseStore",
    "Sampling",
    "TextDelta",
    "Usage",
    "chat_prompt",
    "check_sampling",
    "complete_many",
    "cut_at_stops",
    "model_folder",
    "parse_retry_after",
    "refused_for_context",
    "retry_delay",
]

CHAT_ROLES = ("system", "user", "assistant")
CHAT_STOP = "\n<|"  # where a chat reply ends: the model starts the next message's tag
MAX_STOP_STRINGS = 4  # as the OpenAI API


# ----------------------------------------------------------------------------- the contract
@dataclass(frozen=True)
class Completion:
    """One sampled continuation.

    ``finish_reason`` is ``"stop"`` (``<eos>`` or a stop string; the stop string is not part
    of ``text``) or ``"length"`` (``max_tokens`` reached). ``prompt_tokens`` counts the prompt
    as the model saw it (``<bos>`` and, for chat, the template included);
    ``completion_tokens`` the tokens sampled for this text, a final ``<eos>`` included.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@runtime_checkable
class Backend(Protocol):
    """What a consumer needs of a language model."""

    def complete(
        self,
        prompt: str,
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 64,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> list[Completion]: ...

    def chat(
        self,
        messages: list[dict],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 64,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> list[Completion]: ...


class BackendError(PalestraError):
    """A request the model refused or could not answer.

    ``status`` is the HTTP status (400 bad request, 404 unknown path, 500 generation failed,
    ``None`` when no server answered); ``type``, ``param`` and ``code`` are the fields of an
    OpenAI error body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code

    def to_json(self) -> dict[str, Any]:
        """The OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def chat_prompt(messages: Sequence[Mapping[str, Any]]) -> str:
    """The prompt text of a conversation: ``<|role|>content`` lines, then ``<|assistant|>``.

    ``messages`` are OpenAI chat messages: ``{"role": "system" | "user" | "assistant",
    "content": str}``; ``content`` may also be a list of ``{"type": "text", "text": str}``
    parts, which are joined. Anything else is a :class:`BackendError` (param ``messages``).
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise BackendError("'messages' must be a non-empty list of messages", param="messages")
    lines = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise BackendError(f"{where} must be an object", param="messages")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise BackendError(
                f"{where}.role must be one of {', '.join(CHAT_ROLES)}, got {role!r}",
                param="messages",
            )
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if not (
                    isinstance(part, Mapping)
                    and part.get("type") == "text"
                    and isinstance(part.get("text"), str)
                ):
                    raise BackendError(
                        f"{where}.content: only text parts are supported", param="messages"
                    )
                parts.append(part["text"])
            content = "".join(parts)
        if not isinstance(content, str):
            raise BackendError(f"{where}.content must be a string", param="messages")
        lines.append(f"<|{role}|>{content}\n")
    return "".join(lines) + "<|assistant|>"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_sampling(
    *,
    n: Any,
    temperature: Any,
    top_p: Any,
    max_tokens: Any,
    stop: Any,
    seed: Any,
    max_n: int | None = None,
) -> list[str]:
    """Check the sampling parameters (types and ranges, as the OpenAI API has them); return
    the stop strings as a list. A bad one raises :class:`BackendError` naming it."""
    if not _is_int(n) or n < 1:
        raise BackendError(f"n must be an integer >= 1, got {n!r}", param="n")
    if max_n is not None and n > max_n:
        raise BackendError(f"n must be at most {max_n}, got {n}", param="n")
    if not _is_number(temperature) or not 0 <= temperature <= 2:
        raise BackendError(
            f"temperature must be a number in [0, 2], got {temperature!r}", param="temperature"
        )
    if not _is_number(top_p) or not 0 < top_p <= 1:
        raise BackendError(f"top_p must be a number in (0, 1], got {top_p!r}", param="top_p")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise BackendError(
            f"max_tokens must be an integer >= 1, got {max_tokens!r}", param="max_tokens"
        )
    if seed is not None and not (_is_int(seed) and -(2**63) <= seed < 2**63):
        raise BackendError(f"seed must be a 64-bit integer, got {seed!r}", param="seed")
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if (
        not isinstance(stops, (list, tuple))
        or not all(isinstance(s, str) and s for s in stops)
        or len(stops) > MAX_STOP_STRINGS
    ):
        raise BackendError(
            f"stop must be a non-empty string or a list of at most {MAX_STOP_STRINGS} of them, "
            f"got {stop!r}",
            param="stop",
        )
    return list(stops)


@dataclass(frozen=True)
class Sampling:
    """A request's sampling parameters, named as in the OpenAI API (see :func:`check_sampling`
    for their ranges)."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 64
    stop: str | list[str] | None = None
    seed: int | None = None


class BaseBackend(ABC):
    """The two calls of :class:`Backend`, written once for every backend (local, HTTP,
    scripted): each hands its request and its :class:`Sampling` to the backend's ``_answer``."""

    def complete(
        self,
        prompt: str,
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 64,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> list[Completion]:
        """``n`` continuations of ``prompt`` (see the module docstring)."""
        sampling = Sampling(n, temperature, top_p, max_tokens, stop, seed)
        return self._answer(prompt, sampling, chat=False)

    def chat(
        self,
        messages: list[dict],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 64,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> list[Completion]:
        """``n`` assistant replies to ``messages`` (written with :func:`chat_prompt`)."""
        sampling = Sampling(n, temperature, top_p, max_tokens, stop, seed)
        return self._answer(messages, sampling, chat=True)

    @abstractmethod
    def _answer(
        self, request: str | list[dict], sampling: Sampling, *, chat: bool
    ) -> list[Completion]:
        """The completions of a prompt (``chat=False``) or a conversation (``chat=True``)."""


# ----------------------------------------------------------------------------- local decoding
_END = object()  # the scheduler's last word to a generation's consumer


class TextDelta(NamedTuple):
    """New text of sample ``index``; ``finish_reason`` is set on the sample's last delta."""

    index: int
    text: str
    finish_reason: str | None


class Generation:
    """The decoding of ``n`` continuations of one prompt, a token at a time.

    Iterate to run it: after every decoding step it yields the :class:`TextDelta` s of the
    samples whose text grew or that finished. A delta never holds text that might still turn
    out to be part of a stop string, nor a trailing U+FFFD that may be the first bytes of a
    multi-byte character, so the concatenated deltas are the final text. :meth:`run` decodes
    to the end and returns the :class:`Completion` s.

    A sample ends at ``<eos>`` (not part of its text), at the first occurrence of any stop
    string in its decoded text (cut there), or after ``max_tokens`` tokens. Stop strings are
    matched on the decoded text, not on tokens, so a stop string split across tokens is found.

    Two ways to decode, with the same texts for the same seed:

    - **batched** (the backend's :class:`~palestra.lm.batching.Scheduler`, when it has one and
      the model's attention allows it): iterating hands the generation to the scheduler's
      thread, which decodes it together with every other request in flight, and reads the
      deltas it sends back. :meth:`start` hands it over before iterating (so the prompts of a
      multi-prompt request decode together); closing the iterator early, or :meth:`cancel`,
      frees its rows.
    - **one at a time** (``batching=False``, or a model the scheduler cannot batch): the ``n``
      samples decode as one batch in the iterating thread; samples that ended keep their row
      until all have ended; every model call holds the backend's lock, so requests decoded by
      different threads interleave step by step rather than running at once.

    Either way each step samples the unfinished samples only, in sample order, from one
    ``torch.Generator`` seeded with ``seed`` (:meth:`sample`).
    """

    def __init__(self, backend: LocalBackend, prompt_ids: list[int], sampling: Sampling) -> None:
        """``sampling`` checked (:func:`check_sampling`), its ``stop`` a list."""
        import torch

        n = sampling.n
        self.backend = backend
        self.prompt_ids = prompt_ids
        self.n = n
        self.temperature = float(sampling.temperature)
        self.top_p = float(sampling.top_p)
        self.max_tokens = sampling.max_tokens
        self.stop = list(sampling.stop or [])
        seed = sampling.seed
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**63)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.texts = [""] * n  # final texts, set when a sample finishes
        self.sent = [""] * n  # text already given out as deltas
        self.finish_reasons: list[str | None] = [None] * n
        self.cancelled = False
        self._started = False
        self._batched: bool | None = None  # decided by start()
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()  # from the scheduler
        self._ended = threading.Event()  # set with the outbox's last item

    @property
    def done(self) -> bool:
        return all(r is not None for r in self.finish_reasons)

    def start(self) -> bool:
        """Hand the generation to the backend's scheduler if it batches this model; return
        whether it did (``False``: iterating decodes it one at a time). Idempotent."""
        if self._batched is None:
            scheduler = self.backend.scheduler_for_model()
            self._batched = scheduler is not None
            if scheduler is not None:
                scheduler.submit(self)
        return self._batched

    def cancel(self) -> None:
        """Stop decoding (the consumer went away): the scheduler frees its rows."""
        self.cancelled = True

    def __iter__(self) -> Iterator[list[TextDelta]]:
        if self._started:
            raise RuntimeError("a Generation runs once")
        self._started = True
        if not self.start():
            yield from self._decode_alone()
            return
        try:
            while True:
                item = self._outbox.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not self.done:
                self.cancel()

    # -- what the scheduler calls (from its thread)
    def post(self, item: list[TextDelta] | BaseException) -> None:
        """Give the consumer a step's deltas, or the error that ended the generation."""
        self._outbox.put(item)
        if isinstance(item, BaseException):
            self._outbox.put(_END)
            self._ended.set()

    def post_end(self) -> None:
        """Tell the consumer that nothing more will come."""
        self._outbox.put(_END)
        self._ended.set()

    def sample(self, logits: Any) -> list[int]:
        """The next token of each unfinished sample, in sample order, from their logits
        ``[k, V]`` (greedy at temperature 0, else nucleus sampling with this generation's own
        ``torch.Generator``)."""
        from palestra.models.transformer import sample_next

        return sample_next(logits, self.temperature, self.top_p, self.generator).tolist()

    def _decode_alone(self) -> Iterator[list[TextDelta]]:
        """The one-at-a-time path: the ``n`` samples as one batch, model calls under the lock."""
        import torch

        from palestra.models.transformer import KVCache

        model, lock = self.backend.model, self.backend.lock
        idx = torch.tensor([self.prompt_ids] * self.n, dtype=torch.long)  # [n, T]
        length = min(model.cfg.block_size, idx.shape[1] + self.max_tokens)
        cache = KVCache(model.cfg, self.n, idx.device, length, self.generator)
        with lock, torch.no_grad():
            logits, _ = model(idx, cache=cache)  # [n, T, V]
        nxt = torch.zeros(self.n, dtype=torch.long)  # [n]; finished rows feed a dummy token
        for _ in range(self.max_tokens):
            active = [i for i, r in enumerate(self.finish_reasons) if r is None]
            deltas = []
            for i, token in zip(active, self.sample(logits[active, -1]), strict=True):
                nxt[i] = token
                delta = self.advance(i, token)
                if delta is not None:
                    deltas.append(delta)
            if deltas:
                yield deltas
            if self.done:
                return
            with lock, torch.no_grad():
                logits, _ = model(nxt[:, None], cache=cache)  # [n, 1, V]

    def advance(self, i: int, token: int) -> TextDelta | None:
        """Append ``token`` to sample ``i``; return its new text, or its end."""
        from palestra.lm.tokenizers import EOS

        tokens = self.tokens[i]
        tokens.append(token)
        if token == EOS:
            return self._finish(i, self.backend.tokenizer.decode(tokens[:-1]), "stop")
        text = self.backend.tokenizer.decode(tokens)
        cuts = [at for at in (text.find(s) for s in self.stop) if at >= 0]
        if cuts:
            return self._finish(i, text[: min(cuts)], "stop")
        if len(tokens) == self.max_tokens:
            return self._finish(i, text, "length")
        safe = text.rstrip("\ufffd")  # maybe an incomplete UTF-8 character
        hold = max(
            (k for s in self.stop for k in range(1, len(s)) if safe.endswith(s[:k])), default=0
        )
        return self._emit(i, safe[: len(safe) - hold], None)

    def _finish(self, i: int, text: str, reason: str) -> TextDelta | None:
        self.texts[i] = text
        self.finish_reasons[i] = reason
        return self._emit(i, text, reason)

    def _emit(self, i: int, text: str, reason: str | None) -> TextDelta | None:
        sent = self.sent[i]
        delta = ""
        if len(text) > len(sent) and text.startswith(sent):
            delta = text[len(sent) :]
            self.sent[i] = text
        if not delta and reason is None:
            return None
        return TextDelta(i, delta, reason)

    def completions(self) -> list[Completion]:
        """The finished samples (call after iterating to the end)."""
        if not self.done:
            raise RuntimeError("the generation has not finished")
        return [
            Completion(text, reason or "stop", len(self.prompt_ids), len(tokens))
            for text, reason, tokens in zip(
                self.texts, self.finish_reasons, self.tokens, strict=True
            )
        ]

    def run(self) -> list[Completion]:
        """Decode to the end; the completions. Batched, the caller sleeps until the end
        instead of waking at every step."""
        if self._started or not self.start():
            for _ in self:
                pass
            return self.completions()
        self._started = True
        try:
            self._ended.wait()
        finally:
            if not self.done:
                self.cancel()
        while True:  # the deltas are in the texts already; look for an error
            item = self._outbox.get()
            if isinstance(item, BaseException):
                raise item
            if item is _END:
                return self.completions()


def model_folder(path: str | Path) -> Path:
    """The ``model/`` folder of a run directory, or ``path`` itself if it is one (an error
    naming ``path`` otherwise)."""
    return _model_dir(Path(path))


def _model_dir(path: Path) -> Path:
    """The ``model/`` folder of a run directory, or ``path`` itself if it is one."""
    for candidate in (path / "model", path):
        if (candidate / "config.json").is_file() and (candidate / "tokenizer.json").is_file():
            return candidate
    raise PalestraError(
        f"{path}: not a run directory or model folder (no model/config.json and "
        "model/tokenizer.json); train one with `palestra train lm`"
    )


class LocalBackend(BaseBackend):
    """A model trained by ``palestra train lm``, run in this process.

    ``path`` is the run directory or its ``model/`` folder. ``threads`` sets torch's
    intra-op threads (process-wide; ``None`` leaves them). ``max_n`` bounds ``n``.

    Thread-safe, and built to be called from many threads: with ``batching=True`` (the
    default) a :class:`~palestra.lm.batching.Scheduler` thread decodes every request in flight
    as one batch (continuous batching: up to ``max_batch`` sequences per forward pass, a
    request joining at the next step and each sample leaving when it ends), so ``k`` threads
    get up to ``k`` times the tokens/s of one. A model whose attention cannot take rows of
    different lengths (:meth:`~palestra.models.transformer.SlotCache.supports`: random
    positions, FIRE, Canon layers, token-keyed heads, windowed rotary heads, attention sinks,
    Scalable-Softmax) and ``batching=False`` decode one request at a time, model calls
    serialized by ``self.lock``. Both give the same texts for the same seed. :meth:`close`
    stops the scheduler's thread (a daemon: it never holds the process up).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        max_n: int = 128,
        batching: bool = True,
        max_batch: int = 256,
    ) -> None:
        import torch

        from palestra.lm.tokenizers import load_tokenizer
        from palestra.models.transformer import Transformer

        model_dir = _model_dir(Path(path))
        if threads is not None:
            torch.set_num_threads(threads)
        self.model_dir: Path | None = model_dir
        self._setup(
            Transformer.from_pretrained(model_dir),
            load_tokenizer(model_dir / "tokenizer.json"),
            max_n,
            batching,
            max_batch,
        )

    @classmethod
    def from_model(
        cls,
        model: Transformer,
        tokenizer: Tokenizer,
        *,
        max_n: int = 128,
        batching: bool = True,
        max_batch: int = 256,
    ) -> LocalBackend:
        """A backend over a model already in memory (put in eval mode)."""
        self = cls.__new__(cls)
        self.model_dir = None
        self._setup(model, tokenizer, max_n, batching, max_batch)
        return self

    def _setup(
        self, model: Transformer, tokenizer: Tokenizer, max_n: int, batching: bool, max_batch: int
    ) -> None:
        from palestra.lm.batching import Scheduler

        self.model = model.eval()
        self.tokenizer: Tokenizer = tokenizer
        self.max_n = max_n
        self.lock = threading.Lock()
        self.scheduler: Scheduler | None = Scheduler(self, max_batch) if batching else None

    def scheduler_for_model(self) -> Scheduler | None:
        """The scheduler, if this backend batches and its model can be batched; else
        ``None`` (requests decode one at a time)."""
        from palestra.models.transformer import SlotCache

        if self.scheduler is None or not SlotCache.supports(self.model.cfg):
            return None
        return self.scheduler

    @property
    def batching(self) -> bool:
        """Whether requests to this backend decode in one batch."""
        return self.scheduler_for_model() is not None

    def close(self) -> None:
        """Stop the scheduler's thread; requests still decoding get a :class:`BackendError`."""
        if self.scheduler is not None:
            self.scheduler.close()

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def block_size(self) -> int:
        """The model's context: prompt (with ``<bos>``) and completion together."""
        return self.model.cfg.block_size

    def encode(self, prompt: str, *, param: str = "prompt") -> list[int]:
        """The prompt's token ids as the model was trained on them: ``<bos>`` first."""
        if not isinstance(prompt, str):
            raise BackendError(
                f"{param} must be a string, got {type(prompt).__name__}", param=param
            )
        try:
            return self.tokenizer.encode(prompt, bos=True)
        except ValueError as e:  # a DigitTokenizer refuses characters outside its alphabet
            raise BackendError(f"{param}: {e}", param=param) from None

    def prepare(
        self,
        prompt: str,
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 64,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        chat: bool = False,
    ) -> Generation:
        """Check a request and return its :class:`Generation`, not yet run.

        With ``chat=True``, ``prompt`` is already templated (:func:`chat_prompt`) and
        :data:`CHAT_STOP` is added to the stop strings. A prompt that leaves no room in the
        context for ``max_tokens`` is a :class:`BackendError` (``context_length_exceeded``).
        """
        param, what = ("messages", "chat prompt") if chat else ("prompt", "prompt")
        stops = check_sampling(
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            max_n=self.max_n,
        )
        ids = self.encode(prompt, param=param)
        block = self.block_size
        if len(ids) >= block:
            raise BackendError(
                f"This model's maximum context length is {block} tokens, but the {what} has "
                f"{len(ids)} tokens (with <bos>), leaving no room for a completion. Please "
                f"shorten the {what}.",
                param=param,
                code="context_length_exceeded",
            )
        if len(ids) + max_tokens > block:
            raise BackendError(
                f"This model's maximum context length is {block} tokens. However, you "
                f"requested {len(ids) + max_tokens} tokens ({len(ids)} in the {what}, "
                f"{max_tokens} for the completion). Please reduce the {what} or max_tokens "
                f"(at most {block - len(ids)} here).",
                param="max_tokens",
                code="context_length_exceeded",
            )
        if chat:
            stops = [*stops, CHAT_STOP]
        return Generation(self, ids, Sampling(n, temperature, top_p, max_tokens, stops, seed))

    def _answer(
        self, request: str | list[dict], sampling: Sampling, *, chat: bool
    ) -> list[Completion]:
        prompt = chat_prompt(request) if chat else request  # prepare checks a prompt's type
        return self.prepare(prompt, chat=chat, **asdict(sampling)).run()


# ----------------------------------------------------------------------------- over HTTP
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _StreamBroken(BackendError):
    """The connection failed after part of a streamed answer arrived (not retried)."""


@dataclass
class Usage:
    """Tokens a backend was billed for, summed over its requests (cache hits not counted).

    ``prompt_tokens`` counts each request's prompt once, however many samples it asked for.
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class OpenAIBackend(BaseBackend):
    """A model behind the OpenAI HTTP API, spoken with the standard library.

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:8000/v1`` (a URL with no path gets
    ``/v1``). ``api_key``, if given, is sent as ``Authorization: Bearer``. ``stream=True``
    asks for server-sent events and assembles the texts from the chunks (the result is the
    same; the answer starts arriving sooner). Loopback addresses are never sent through a
    proxy. The backend is thread-safe: :func:`complete_many` runs many requests at once on it.

    Retries: a 429 or 5xx answer, a refused or dropped connection and a timeout are retried up
    to ``retries`` times; a 4xx answer raises :class:`BackendError` with the server's message
    at once, and so does a streamed answer that breaks after its first chunk. The wait before
    retry ``k`` is :func:`retry_delay`: ``backoff * 2**k`` with jitter, capped at ``max_wait``;
    where a 429 or 503 answer carries ``Retry-After`` (seconds or an HTTP date) the wait is at
    least that long, and a ``Retry-After`` beyond ``max_wait`` is an error at once rather than
    a silent wait of minutes.

    Stop strings: the API takes at most :data:`MAX_STOP_STRINGS` of them, so the first four
    are sent and every text is cut here at the first occurrence of any of them (the finish
    reason becomes ``"stop"``; the token count stays the server's, which may then count a few
    tokens past the cut).

    Per-sample ``completion_tokens`` come from the ``completion_tokens`` field our server puts
    in each choice; from another server with ``n > 1`` they are the usage total shared out.
    :attr:`usage` sums the tokens of every answered request.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        stream: bool = False,
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 60.0,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PalestraError(f"{base_url!r}: expected an http(s)://HOST[:PORT][/v1] URL")
        path = parts.path.rstrip("/") or "/v1"
        self.base_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.stream = stream
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.usage = Usage()
        self._lock = threading.Lock()  # guards usage and the jitter's generator
        self._jitter = random.Random()
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(parts.hostname) else []
        self._opener = urllib.request.build_opener(*handlers)

    # -- the contract
    def _answer(
        self, request: str | list[dict], sampling: Sampling, *, chat: bool
    ) -> list[Completion]:
        body: dict[str, Any] = {"model": self.model}
        if chat:
            body["messages"] = list(request)
        else:
            body["prompt"] = request
        body.update(self._sampling(sampling))
        route = "/chat/completions" if chat else "/completions"
        completions = self._generate(route, body, chat=chat)
        stops = [sampling.stop] if isinstance(sampling.stop, str) else list(sampling.stop or [])
        completions = [cut_at_stops(c, stops) for c in completions]
        with self._lock:
            self.usage.requests += 1
            self.usage.prompt_tokens += completions[0].prompt_tokens if completions else 0
            self.usage.completion_tokens += sum(c.completion_tokens for c in completions)
        return completions

    def models(self) -> list[str]:
        """The ids of ``GET /models``."""
        payload = self._call("GET", "/models", None, lambda resp: json.loads(resp.read()))
        try:
            return [m["id"] for m in payload["data"]]
        except (KeyError, TypeError) as e:
            raise BackendError(f"{self.base_url}/models: malformed answer ({e})") from None

    # -- the wire
    def _sampling(self, sampling: Sampling) -> dict[str, Any]:
        body: dict[str, Any] = {
            "n": sampling.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        stop, seed = sampling.stop, sampling.seed
        if stop:
            stops = [stop] if isinstance(stop, str) else list(stop)
            body["stop"] = stops[:MAX_STOP_STRINGS]  # the rest are cut here (_answer)
        if seed is not None:
            body["seed"] = seed
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _generate(self, route: str, body: dict[str, Any], *, chat: bool) -> list[Completion]:
        url = self.base_url + route
        if self.stream:
            return self._call("POST", route, body, lambda resp: _read_stream(resp, url, chat))
        return self._call(
            "POST", route, body, lambda resp: _parse_answer(json.loads(resp.read()), url, chat)
        )

    def _call(self, method: str, route: str, body: dict[str, Any] | None, read: Any) -> Any:
        url = self.base_url + route
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "text/event-stream" if self.stream else "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            retry_after = None
            try:
                with self._opener.open(request, timeout=self.timeout) as resp:
                    return read(resp)
            except urllib.error.HTTPError as e:
                error = _http_error(e, url)
                if e.code not in _RETRY_STATUS or attempt >= self.retries:
                    raise error from None
                if e.code in (429, 503):
                    retry_after = parse_retry_after(e.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.max_wait:
                    raise BackendError(
                        f"{error.message} (the server asks to retry after {retry_after:.0f} s, "
                        f"more than max_wait={self.max_wait:g} s)",
                        status=e.code,
                        type=error.type,
                        code=error.code,
                    ) from None
            except _StreamBroken:
                raise
            except json.JSONDecodeError as e:
                raise BackendError(f"{url}: malformed JSON answer ({e})", status=None) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                if attempt >= self.retries:
                    reason = getattr(e, "reason", None) or e
                    raise BackendError(
                        f"{url}: no answer after {attempt + 1} attempts: {reason}",
                        status=None,
                        type="connection_error",
                    ) from None
            with self._lock:
                u = self._jitter.random()
            time.sleep(
                retry_delay(
                    attempt,
                    backoff=self.backoff,
                    max_wait=self.max_wait,
                    retry_after=retry_after,
                    u=u,
                )
            )
            attempt += 1


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait: ``"120"`` or an HTTP date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, relative to ``now``, default the clock); ``None``
    for a missing or unreadable value. A date in the past is 0."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_delay(
    attempt: int,
    *,
    backoff: float,
    max_wait: float,
    retry_after: float | None = None,
    u: float = 0.5,
) -> float:
    """Seconds to wait before retry ``attempt`` (0-based), given ``u`` uniform in [0, 1).

    Exponential backoff with "equal jitter": the ceiling ``c = min(max_wait, backoff * 2**k)``
    and a wait uniform in ``[c/2, c]``, so that clients refused together do not come back
    together. A server's ``Retry-After`` of ``r`` seconds is a floor: the wait is uniform in
    ``[r, min(max_wait, 1.1 r)]`` when ``r`` exceeds the backoff's ceiling. Never more than
    ``max_wait`` (:class:`OpenAIBackend` refuses a larger ``Retry-After`` instead of waiting).
    """
    ceiling = min(max_wait, backoff * 2.0 ** min(attempt, 60))
    wait = ceiling * (0.5 + 0.5 * u)
    if retry_after is not None and retry_after > wait:
        wait = retry_after + (max(retry_after, min(max_wait, 1.1 * retry_after)) - retry_after) * u
    return min(wait, max(max_wait, retry_after or 0.0))


def cut_at_stops(completion: Completion, stops: Sequence[str]) -> Completion:
    """``completion`` cut at the first occurrence of any of ``stops`` (finish reason
    ``"stop"``); unchanged where none occurs."""
    text = completion.text
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    if cut < 0:
        return completion
    return dataclasses.replace(completion, text=text[:cut], finish_reason="stop")


# ----------------------------------------------------------------------------- many requests
@dataclass(frozen=True)
class Request:
    """One request of :func:`complete_many`: a prompt (``chat=False``) or a conversation,
    its sampling, ``sample`` (the index of its first sample, part of a cache key: two
    requests alike but for it are different samples) and ``tag``, the caller's own label."""

    prompt: str | list[dict]
    sampling: Sampling
    chat: bool = False
    sample: int = 0
    tag: Any = None


@dataclass(frozen=True)
class Answer:
    """What came back for a :class:`Request`: its completions, or the ``error`` that refused
    it (see :func:`complete_many`); the wall ``seconds`` it took; whether it came from the
    cache."""

    request: Request
    completions: list[Completion]
    error: BackendError | None = None
    seconds: float = 0.0
    cached: bool = False


@runtime_checkable
class ResponseStore(Protocol):
    """A cache of answers (:class:`palestra.reason.cache.ResponseCache` is one)."""

    def get(self, request: Request) -> list[Completion] | None: ...

    def put(self, request: Request, completions: list[Completion]) -> None: ...


def refused_for_context(error: BackendError) -> bool:
    """Is ``error`` the model refusing a prompt too long for its context? (A property of the
    request, not of the server: :func:`complete_many` gives it back as the request's answer.)"""
    return error.status == 400 and (
        error.code == "context_length_exceeded" or "maximum context length" in error.message
    )


def complete_many(
    backend: Backend,
    requests: Iterable[Request],
    *,
    concurrency: int = 4,
    cache: ResponseStore | None = None,
) -> Iterator[Answer]:
    """Answer ``requests`` with up to ``concurrency`` of them in flight on a thread pool,
    yielding each :class:`Answer` as it finishes (not in order).

    ``requests`` is read lazily, a few ahead of the answers, so it may be long. With a
    ``cache``, a request found there is answered from it (``cached=True``) without a call,
    and every new answer is stored. A request the model refuses because its prompt is too
    long (:func:`refused_for_context`) comes back as an answer with ``error`` set; any other
    :class:`BackendError` (the server down after retries, a bad parameter, an unknown model)
    is raised, and the requests not yet sent are dropped.
    """
    if concurrency < 1:
        raise PalestraError(f"concurrency must be at least 1, got {concurrency}")

    def ask(request: Request) -> Answer:
        start = time.perf_counter()
        call = backend.chat if request.chat else backend.complete
        try:
            completions = call(request.prompt, **asdict(request.sampling))  # type: ignore[arg-type]
        except BackendError as e:
            if not refused_for_context(e):
                raise
            return Answer(request, [], e, time.perf_counter() - start)
        if cache is not None:
            cache.put(request, completions)
        return Answer(request, completions, None, time.perf_counter() - start)

    pending: set[Future[Answer]] = set()
    source = iter(requests)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="complete-many") as pool:
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * concurrency:
                    request = next(source, None)
                    if request is None:
                        exhausted = True
                        break
                    hit = cache.get(request) if cache is not None else None
                    if hit is not None:
                        yield Answer(request, hit, None, 0.0, cached=True)
                    else:
                        pending.add(pool.submit(ask, request))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def _http_error(e: urllib.error.HTTPError, url: str) -> BackendError:
    """The server's error answer as a :class:`BackendError` with its message."""
    try:
        raw = e.read()
    except OSError:
        raw = b""
    message, type_, param, code = "", "api_error", None, None
    try:
        error = json.loads(raw)["error"]
        if isinstance(error, Mapping):
            message = str(error.get("message") or "")
            type_ = str(error.get("type") or type_)
            param, code = error.get("param"), error.get("code")
        else:
            message = str(error)
    except (ValueError, KeyError, TypeError):
        message = raw.decode("utf-8", "replace").strip()[:300]
    message = message or str(e.reason)
    return BackendError(
        f"{url}: HTTP {e.code}: {message}", status=e.code, type=type_, param=param, code=code
    )


def _parse_answer(payload: Any, url: str, chat: bool) -> list[Completion]:
    """The completions of a non-streamed answer."""
    try:
        usage = payload.get("usage") or {}
        choices = sorted(payload["choices"], key=lambda c: c["index"])
        texts = [(c["message"]["content"] if chat else c["text"]) or "" for c in choices]
        reasons = [c.get("finish_reason") or "stop" for c in choices]
        counts = [c.get("completion_tokens") for c in choices]
    except (AttributeError, KeyError, TypeError) as e:
        raise BackendError(f"{url}: malformed answer (missing {e})", status=None) from None
    return _completions(texts, reasons, counts, usage)


def _completions(
    texts: list[str], reasons: list[str], counts: list[int | None], usage: Mapping[str, Any]
) -> list[Completion]:
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    if any(c is None for c in counts):  # not our server: share the total out
        total = int(usage.get("completion_tokens") or 0)
        k = max(1, len(texts))
        counts = [total // k + (i < total % k) for i in range(len(texts))]
    return [
        Completion(text, reason, prompt_tokens, int(count or 0))
        for text, reason, count in zip(texts, reasons, counts, strict=True)
    ]


def _sse_events(resp: Any) -> Iterator[str]:
    """The ``data`` of each server-sent event (lines ``data: ...`` up to a blank line)."""
    data: list[str] = []
    for raw in resp:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # other fields (event:, id:, retry:) and comments (":") carry nothing we use
    if data:
        yield "\n".join(data)


def _read_stream(resp: Any, url: str, chat: bool) -> list[Completion]:
    """Assemble the completions of a streamed answer from its chunks."""
    texts: dict[int, list[str]] = {}
    reasons: dict[int, str] = {}
    counts: dict[int, int] = {}
    usage: Mapping[str, Any] = {}
    received = False
    try:
        for data in _sse_events(resp):
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            received = True
            if "error" in chunk:
                error = chunk["error"] if isinstance(chunk["error"], Mapping) else {}
                raise _StreamBroken(
                    f"{url}: error in the stream: {error.get('message') or chunk['error']}",
                    status=500,
                    type=str(error.get("type") or "api_error"),
                )
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                i = choice["index"]
                piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                texts.setdefault(i, []).append(piece or "")
                if choice.get("finish_reason"):
                    reasons[i] = choice["finish_reason"]
                if choice.get("completion_tokens") is not None:
                    counts[i] = choice["completion_tokens"]
        else:
            raise _StreamBroken(f"{url}: the stream ended without [DONE]", status=None)
    except (http.client.HTTPException, OSError) as e:
        if not received:
            raise  # nothing arrived: the caller may retry
        raise _StreamBroken(f"{url}: the stream broke: {e}", status=None) from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise _StreamBroken(f"{url}: malformed stream chunk ({e})", status=None) from None
    order = sorted(texts)
    return _completions(
        ["".join(texts[i]) for i in order],
        [reasons.get(i, "stop") for i in order],
        [counts.get(i) for i in order],
        usage,
    )
