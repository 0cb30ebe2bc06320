"""An OpenAI-compatible HTTP server over a model trained by ``palestra train lm``.

    palestra lm serve runs/lm/20250101-120000 --port 8000
    curl http://127.0.0.1:8000/v1/completions -H 'Content-Type: application/json' \
        -d '{"model": "...", "prompt": "12+34="}'

Routes:

- ``GET /v1/models``: the one model served, ``{"object": "list", "data": [{"id": ...}]}``.
- ``GET /v1/models/ID``, ``GET /health``; ``HEAD`` of any ``GET`` route.
- ``POST /v1/completions``: ``prompt`` (a string or a list of strings), ``max_tokens``
  (default 16, as OpenAI), ``temperature``, ``top_p``, ``n``, ``stop`` (a string or a list
  of up to 4), ``seed``, ``stream``, ``stream_options.include_usage``.
- ``POST /v1/chat/completions``: ``messages`` written with
  :func:`palestra.lm.backends.chat_prompt` (the same template as :class:`LocalBackend`'s
  ``chat``); ``max_tokens`` / ``max_completion_tokens`` default to the room left in the
  context; the same sampling parameters.

Answers carry ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``) and each
choice also its own ``completion_tokens`` (an extension other clients ignore). With
``"stream": true`` the answer is server-sent events: ``data: {chunk}`` per decoding step, a
last chunk per choice with its ``finish_reason``, an optional usage chunk, ``data: [DONE]``.

Every error, the HTTP layer's own included, is OpenAI's JSON body ``{"error": {"message",
"type", "param", "code"}}`` (never the standard library's HTML page):

- 400: malformed JSON (NaN and Infinity included), JSON nested deeper than
  :data:`MAX_JSON_DEPTH` (refused by a scan of the brackets before parsing, so a deep body
  cannot exhaust the parser's stack), an unknown or ill-typed parameter, a value out of range,
  an unknown model, a prompt plus ``max_tokens`` longer than the context; also a garbage
  request line, a bad ``Content-Length`` or a bad HTTP version (505 for HTTP/2 and later).
- 404 for an unknown path; 405 (with ``Allow``) for a known path asked with another method;
  501 for a method that HTTP does not know.
- 411 for a POST without ``Content-Length`` (chunked bodies are not read); 413 for a body
  larger than ``max_body_bytes``; 415 for a body that is not ``application/json`` (a
  ``charset`` parameter is allowed, if it is UTF-8); 431 for headers longer than
  :data:`MAX_HEADER_BYTES` in all or 64 KiB in one line.
- 500 (the server keeps serving) only when decoding itself fails; 503 while shutting down.

An error answer closes the connection; a body the server did not read is first drained (up to
:data:`LINGER_BYTES` or :data:`LINGER_SECONDS`), so the client reads the error rather than a
reset connection. An error after a stream has begun arrives as a last
``data: {"error": ...}`` event.

Decoding goes through one :class:`~palestra.lm.backends.LocalBackend`. Each connection has
its own thread (:class:`http.server.ThreadingHTTPServer`) that hands its request to the
backend's scheduler (:mod:`palestra.lm.batching`): one decoding thread runs every sample of
every request in flight as one batch, a new request joining at the next step, a finished
sample leaving at once (continuous batching; up to ``max_batch`` sequences, ``n`` up to
``max_n``). The prompts of a multi-prompt request decode together too. A client that
disconnects from a stream has its rows freed at the next event the server fails to send.
With ``batching=False`` (``--no-batching``), or a model whose attention cannot batch rows of
different lengths, requests decode one at a time, every model call under the backend's lock,
so concurrent requests interleave step by step. The texts are the same either way. Shutdown
stops accepting, lets requests in flight finish (up to a grace period), then closes.

What it does not do: authentication (bind it to 127.0.0.1, the default, or put a proxy in
front), TLS, token-id prompts, logprobs; it does not notice a client that leaves a
non-streamed request (its samples decode to the end), nor batch prefills of different
requests (each prompt is run alone when it joins).
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from palestra.core.errors import PalestraError
from palestra.lm.backends import BackendError, Generation, LocalBackend, chat_prompt
from palestra.lm.serve_config import ServeConfig

__all__ = ["ModelServer", "ServeConfig", "serve", "serving_process"]

COMPLETION_KEYS = frozenset(
    {"model", "prompt", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "stream"}
    | {"stream_options", "user"}
)
CHAT_KEYS = (COMPLETION_KEYS - {"prompt"}) | {"messages", "max_completion_tokens"}
# OpenAI parameters accepted only at values that change nothing
NEUTRAL: dict[str, tuple[Any, ...]] = {
    "presence_penalty": (None, 0),
    "frequency_penalty": (None, 0),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "echo": (None, False),
    "best_of": (None, 1),
    "logit_bias": (None, {}),
    "suffix": (None, ""),
}
DEFAULT_MAX_TOKENS = 16  # /v1/completions, as OpenAI's
MAX_JSON_DEPTH = 64  # brackets a request body may nest; a valid request needs about 5
MAX_HEADER_BYTES = 32 * 1024  # all request headers together (one line: 64 KiB, the stdlib's)
LINGER_BYTES = 16 * 1024 * 1024  # most unread body drained before closing on an error
LINGER_SECONDS = 2.0  # longest wait for that body


def default_model_name(run_dir: Path) -> str:
    """``RUN_NAME-STAMP`` of a run directory (of its parent for a ``model/`` folder)."""
    run_dir = Path(run_dir).resolve()
    if run_dir.name == "model" and (run_dir / "config.json").is_file():
        run_dir = run_dir.parent
    return f"{run_dir.parent.name}-{run_dir.name}"


_JSON_SPECIAL = re.compile(rb'["\\\[\]{}]')


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays and objects of the JSON text ``raw`` nest more than ``limit`` deep.

    A scan of the brackets outside strings (a backslash in a string escapes the next byte),
    linear in ``len(raw)``; no parsing, so it is safe on any input. Exact for UTF-8 text,
    where no byte of a multi-byte character is ASCII; on invalid JSON it may answer either
    way, and the parser then refuses it.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, -1
    for match in _JSON_SPECIAL.finditer(raw):
        i = match.start()
        if i == escaped:
            continue
        c = raw[i]
        if in_string:
            if c == 0x5C:  # backslash
                escaped = i + 1
            elif c == 0x22:  # "
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif c in b"]}":
            depth -= 1
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# the ``code`` of each HTTP-level error (fixed here: the reason phrases vary by Python version)
HTTP_CODES = {
    400: "bad_request",
    405: "method_not_allowed",
    411: "length_required",
    413: "request_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "request_header_fields_too_large",
    501: "not_implemented",
    505: "http_version_not_supported",
}


def _code(status: int) -> str:
    return HTTP_CODES.get(status, f"http_{status}")


class _Request:
    """A checked request: the generations to run (one per prompt) and how to answer."""

    def __init__(
        self, chat: bool, generations: list[Generation], stream: bool, usage: bool
    ) -> None:
        self.chat = chat
        self.generations = generations
        self.stream = stream
        self.include_usage = usage
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())


class ModelServer:
    """The server of one model; a context manager that serves in a background thread.

    ::

        with ModelServer(ServeConfig(run_dir, port=0)) as server:
            OpenAIBackend(server.url, server.model_name).complete("12+34=")

    ``port=0`` picks a free port; ``url`` is the API root (``http://HOST:PORT/v1``).
    """

    def __init__(self, cfg: ServeConfig, backend: LocalBackend | None = None) -> None:
        self.cfg = cfg
        self._own_backend = backend is None
        self.backend = backend or LocalBackend(
            cfg.run_dir,
            threads=cfg.threads,
            max_n=cfg.max_n,
            batching=cfg.batching,
            max_batch=cfg.max_batch,
        )
        self.backend.max_n = cfg.max_n
        self.model_name = cfg.model_name or default_model_name(cfg.run_dir)
        self.created = int(time.time())
        self._in_flight = 0
        self._idle = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        handler = type("Handler", (_Handler,), {"server_app": self})
        try:
            self.httpd = ThreadingHTTPServer((cfg.host, cfg.port), handler)
        except OSError as e:
            raise PalestraError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror}") from None
        self.httpd.daemon_threads = True  # idle keep-alive connections must not block exit

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/v1"

    def start(self) -> ModelServer:
        """Serve in a background thread; return at once."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.1,), name="palestra-serve", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self, grace: float = 10.0) -> None:
        """Stop accepting, wait up to ``grace`` seconds for requests in flight, close."""
        self._stopping = True
        if self._thread is not None:
            self.httpd.shutdown()  # returns once serve_forever has left its loop
        deadline = time.monotonic() + grace
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(timeout=max(0.0, deadline - time.monotonic()))
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=grace)
        if self._own_backend:
            self.backend.close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- request bookkeeping (for a graceful shutdown)
    def _enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def _leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    # -- the API
    def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": self.model_name,
                    "object": "model",
                    "created": self.created,
                    "owned_by": "palestra",
                    "max_model_len": self.backend.block_size,
                }
            ],
        }

    def parse(self, body: Any, chat: bool) -> _Request:
        """Check a request body; raise :class:`BackendError` naming the bad parameter."""
        if not isinstance(body, dict):
            raise BackendError("the request body must be a JSON object")
        allowed = CHAT_KEYS if chat else COMPLETION_KEYS
        for key, value in body.items():
            if key in NEUTRAL:
                same = (
                    value == v and isinstance(value, bool) == isinstance(v, bool)
                    for v in NEUTRAL[key]
                )
                if not any(same):
                    raise BackendError(f"{key} is not supported by this server", param=key)
            elif key not in allowed:
                raise BackendError(f"Unrecognized request argument supplied: {key}", param=key)
        model = body.get("model")
        if model is None:
            raise BackendError("you must provide a model parameter", param="model")
        if model != self.model_name:
            raise BackendError(
                f"The model {model!r} does not exist; this server has {self.model_name!r}",
                param="model",
                code="model_not_found",
            )
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BackendError(f"stream must be true or false, got {stream!r}", param="stream")
        options = body.get("stream_options") or {}
        if not isinstance(options, dict) or not isinstance(
            options.get("include_usage", False), bool
        ):
            raise BackendError(
                "stream_options must be {'include_usage': bool}", param="stream_options"
            )
        if chat:
            prompts = [chat_prompt(body.get("messages"))]
            max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        else:
            prompt = body.get("prompt")
            prompts = prompt if isinstance(prompt, list) else [prompt]
            if not prompts or not all(isinstance(p, str) for p in prompts):
                raise BackendError(
                    "prompt must be a string or a non-empty list of strings", param="prompt"
                )
            max_tokens = body.get("max_tokens")
        if len(prompts) > self.cfg.max_n:  # before encoding them all
            raise BackendError(
                f"{len(prompts)} prompts exceed the limit of {self.cfg.max_n} per request",
                param="prompt",
            )
        sampling = {
            "n": body.get("n", 1),
            "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0),
            "stop": body.get("stop"),
            "seed": body.get("seed"),
        }
        generations = []
        for p in prompts:
            tokens = max_tokens
            if tokens is None and chat:  # the room left in the context
                tokens = max(1, self.backend.block_size - len(self.backend.encode(p)))
            elif tokens is None:
                tokens = DEFAULT_MAX_TOKENS  # as OpenAI's /v1/completions
            generations.append(self.backend.prepare(p, max_tokens=tokens, chat=chat, **sampling))
        if sum(g.n for g in generations) > self.cfg.max_n:
            raise BackendError(
                f"{len(prompts)} prompts x n={sampling['n']} completions exceed the limit of "
                f"{self.cfg.max_n} per request",
                param="n",
            )
        return _Request(chat, generations, stream, bool(options.get("include_usage")))

    def answer(self, req: _Request) -> dict[str, Any]:
        """Decode every generation of ``req``; the whole (non-streamed) answer."""
        choices = []
        with _started(req):
            results = [generation.run() for generation in req.generations]
        for g_index, (generation, completions) in enumerate(
            zip(req.generations, results, strict=True)
        ):
            for i, c in enumerate(completions):
                index = g_index * generation.n + i
                choice: dict[str, Any] = {"index": index}
                if req.chat:
                    choice["message"] = {"role": "assistant", "content": c.text}
                else:
                    choice["text"] = c.text
                choice |= {
                    "logprobs": None,
                    "finish_reason": c.finish_reason,
                    "completion_tokens": c.completion_tokens,
                }
                choices.append(choice)
        return {**self._head(req, chunk=False), "choices": choices, "usage": _usage(req)}

    def stream(self, req: _Request) -> Iterator[dict[str, Any]]:
        """The chunks of a streamed answer, one per decoding step with new text."""
        head = self._head(req, chunk=True)
        with _started(req):
            if req.chat:
                yield {
                    **head,
                    "choices": [
                        {"index": g * gen.n + i, "delta": {"role": "assistant", "content": ""}}
                        | {"logprobs": None, "finish_reason": None}
                        for g, gen in enumerate(req.generations)
                        for i in range(gen.n)
                    ],
                }
            yield from self._stream_choices(req, head)
        if req.include_usage:
            yield {**head, "choices": [], "usage": _usage(req)}

    def _stream_choices(self, req: _Request, head: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A chunk per decoding step of each generation in turn (all decode at once when
        batched; a later prompt's deltas wait in its queue until its turn)."""
        for g_index, generation in enumerate(req.generations):
            for deltas in _closing(generation):
                choices = []
                for d in deltas:
                    choice: dict[str, Any] = {"index": g_index * generation.n + d.index}
                    if req.chat:
                        choice["delta"] = {"content": d.text} if d.text else {}
                    else:
                        choice["text"] = d.text
                    choice |= {"logprobs": None, "finish_reason": d.finish_reason}
                    if d.finish_reason is not None:
                        choice["completion_tokens"] = len(generation.tokens[d.index])
                    choices.append(choice)
                yield {**head, "choices": choices}

    def _head(self, req: _Request, chunk: bool) -> dict[str, Any]:
        if req.chat:
            kind = "chat.completion.chunk" if chunk else "chat.completion"
        else:
            kind = "text_completion"
        return {"id": req.id, "object": kind, "created": req.created, "model": self.model_name}


@contextlib.contextmanager
def _started(req: _Request) -> Iterator[None]:
    """Hand every generation of ``req`` to the scheduler at once (so its prompts decode
    together); however the block ends, cancel those that did not finish (frees their rows)."""
    try:
        for generation in req.generations:
            generation.start()
        yield
    finally:
        for generation in req.generations:
            if not generation.done:
                generation.cancel()


def _closing(generation: Generation) -> Iterator[Any]:
    """Iterate ``generation``, closing its iterator however the loop ends."""
    deltas = iter(generation)
    try:
        yield from deltas
    finally:
        deltas.close()  # type: ignore[attr-defined]


def _usage(req: _Request) -> dict[str, int]:
    prompt = sum(len(g.prompt_ids) for g in req.generations)
    completion = sum(len(t) for g in req.generations for t in g.tokens)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _Handler(BaseHTTPRequestHandler):
    """One connection: route, check, decode, answer (keep-alive for JSON answers).

    Every answer, an error of the HTTP layer included, goes through :meth:`_send_json`:
    :meth:`send_error`, which the standard library calls for a garbage request line, a bad
    HTTP version, oversized headers or an unknown method, is overridden to answer JSON.
    """

    server_app: ModelServer
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # so a garbage request line still gets a status line
    server_version = "palestra-serve"
    timeout = 120  # seconds an idle keep-alive connection is kept
    _body_read = False  # whether the current request's body has been read

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request on stderr is noise under load; errors are in the answers

    def parse_request(self) -> bool:
        """The standard library's parsing, plus a cap on the headers' total size."""
        self._body_read = False
        if not super().parse_request():
            return False
        size = sum(len(k) + len(v) + 4 for k, v in self.headers.items())  # "k: v\r\n"
        if size > MAX_HEADER_BYTES:
            self.send_error(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"the request headers have {size} bytes, more than the limit of {MAX_HEADER_BYTES}",
            )
            return False
        return True

    # -- answers
    def _send_json(
        self,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        unread: bool | None = None,
    ) -> None:
        """Answer ``payload``; close the connection after an error or with input unread."""
        data = json.dumps(payload).encode()
        if unread is None:
            unread = self._body_unread()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status >= 400 or unread:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        if unread:
            self._linger()

    def _refuse(
        self,
        error: BackendError,
        headers: dict[str, str] | None = None,
        *,
        unread: bool | None = None,
    ) -> None:
        self._send_json(error.status or 500, error.to_json(), headers, unread=unread)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's error answer (bad request line, bad version, headers too
        large, unknown method) as a JSON error body instead of an HTML page."""
        text = message or self.responses.get(code, ("", "Error"))[1]
        if message and explain:
            text = f"{message}: {explain}"
        kind = "server_error" if code >= 500 and code not in (501, 505) else "invalid_request_error"
        # the rest of the request (a body, the rest of a header line) is unread
        self._refuse(BackendError(text, status=code, type=kind, code=_code(code)), unread=True)

    def _body_unread(self) -> bool:
        """Whether the current request has a body the server has not read."""
        if self._body_read:
            return False
        length = self.headers.get("Content-Length", "0").strip()
        return "Transfer-Encoding" in self.headers or length.lstrip("0") != ""

    def _linger(self) -> None:
        """Read and drop what the client still sends (bounded), after the answer.

        Closing a socket with unread input makes the kernel send a reset, which can destroy
        the answer before the client reads it; so stop sending, then drain until the client
        closes, :data:`LINGER_BYTES` have come or :data:`LINGER_SECONDS` have passed.
        """
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            drained = 0
            while drained < LINGER_BYTES:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.connection.settimeout(left)
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)

    # -- routes
    def _routes(self) -> dict[str, str]:
        """Path -> the one method it answers."""
        app = self.server_app
        return {
            "/v1/models": "GET",
            f"/v1/models/{app.model_name}": "GET",
            "/health": "GET",
            "/v1/health": "GET",
            "/v1/completions": "POST",
            "/v1/chat/completions": "POST",
        }

    def _route(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        method = self._routes().get(path)
        if method is None:
            self._refuse(
                BackendError(
                    f"no route {self.command} {self.path}; this server has GET /v1/models, "
                    "POST /v1/completions and POST /v1/chat/completions",
                    status=404,
                    code="unknown_url",
                )
            )
        elif self.command != method and not (self.command == "HEAD" and method == "GET"):
            allow = "GET, HEAD" if method == "GET" else method
            self._refuse(
                BackendError(
                    f"{self.command} is not allowed on {path}; use {method}",
                    status=405,
                    code=_code(405),
                ),
                headers={"Allow": allow},
            )
        elif method == "GET":
            self._get(path)
        else:
            self._post(path)

    # every method HTTP defines; the standard library answers 501 to any other
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _route
    do_OPTIONS = do_TRACE = do_CONNECT = _route

    def _get(self, path: str) -> None:
        app = self.server_app
        if path == "/v1/models":
            self._send_json(200, app.models())
        elif path in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(200, app.models()["data"][0])

    def _post(self, path: str) -> None:
        app = self.server_app
        if app._stopping:
            self._refuse(
                BackendError("the server is shutting down", status=503, type="server_error")
            )
            return
        app._enter()
        try:
            self._generate(path == "/v1/chat/completions")
        finally:
            app._leave()

    def _read_body(self) -> Any:
        """The request's JSON body, checked before it is read and before it is parsed."""
        headers = self.headers
        lengths = headers.get_all("Content-Length") or []
        if "Transfer-Encoding" in headers:
            if lengths:
                raise BackendError(
                    "a request must not have both Content-Length and Transfer-Encoding"
                )
            raise BackendError(
                "chunked request bodies are not supported; send a Content-Length header",
                status=411,
                code=_code(411),
            )
        if not lengths:
            raise BackendError(
                "a request body with a Content-Length header is required",
                status=411,
                code=_code(411),
            )
        digits = lengths[0].strip()
        if len({v.strip() for v in lengths}) > 1 or not re.fullmatch(r"[0-9]+", digits):
            raise BackendError(f"bad Content-Length header: {', '.join(lengths)!r}")
        digits = digits.lstrip("0") or "0"
        limit = self.server_app.cfg.max_body_bytes
        size = int(digits) if len(digits) <= 18 else limit + 1  # int() refuses 4300 digits
        if size > limit:
            raise BackendError(
                f"the request body of {digits if len(digits) <= 18 else 'over 10**18'} bytes "
                f"exceeds the limit of {limit}",
                status=413,
                code=_code(413),
            )
        ctype = headers.get("Content-Type")
        charset = headers.get_content_charset("utf-8").lower()
        if ctype is None or headers.get_content_type() != "application/json":
            got = "no Content-Type" if ctype is None else f"Content-Type {ctype!r}"
            raise BackendError(
                f"the request body must be JSON, sent as Content-Type: application/json; got {got}",
                status=415,
                code=_code(415),
            )
        if charset not in ("utf-8", "utf8"):
            raise BackendError(
                f"the request body must be UTF-8 JSON, not charset={charset}",
                status=415,
                code=_code(415),
            )
        raw = self.rfile.read(size)
        self._body_read = True
        if len(raw) < size:
            raise BackendError(f"the request body ended after {len(raw)} of {size} bytes")
        if json_too_deep(raw):
            raise BackendError(
                f"We could not parse the JSON body of your request: it nests arrays and "
                f"objects more than {MAX_JSON_DEPTH} deep."
            )
        try:
            return json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
            raise BackendError(
                f"We could not parse the JSON body of your request ({e}). The body must be "
                "a JSON object."
            ) from None

    def _generate(self, chat: bool) -> None:
        app = self.server_app
        try:
            req = app.parse(self._read_body(), chat)
            if not req.stream:
                self._send_json(200, app.answer(req))
                return
        except BackendError as e:
            self._refuse(e)
            return
        except Exception as e:  # a failure in decoding: answer it, keep serving
            self._refuse(
                BackendError(
                    f"generation failed: {type(e).__name__}: {e}", status=500, type="server_error"
                )
            )
            return
        self._stream(req)

    def _stream(self, req: _Request) -> None:
        """Server-sent events, then close the connection (no length known in advance)."""
        app = self.server_app
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunks = app.stream(req)
        try:
            for chunk in chunks:
                self._event(json.dumps(chunk))
        except (BrokenPipeError, ConnectionResetError):
            return  # the client left; closing the chunks (below) frees its rows
        except Exception as e:
            error = BackendError(
                f"generation failed: {type(e).__name__}: {e}", status=500, type="server_error"
            )
            try:
                self._event(json.dumps(error.to_json()))
            except OSError:
                return
        finally:
            chunks.close()
        with contextlib.suppress(OSError):
            self._event("[DONE]")

    def _event(self, data: str) -> None:
        self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.flush()


def serve(cfg: ServeConfig) -> None:
    """Serve ``cfg.run_dir`` until interrupted (Ctrl-C or SIGTERM), then shut down cleanly.

    Prints the API root (``http://HOST:PORT/v1``) and the model id once listening.
    """
    server = ModelServer(cfg)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_signal)
    server.start()
    print(f"serving {server.model_name} at {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("shutting down", file=sys.stderr, flush=True)
        server.shutdown()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def serving_process(
    run_dir: Path, log: Path, *options: str, threads: int = 1, timeout: float = 120.0
) -> Iterator[str]:
    """``palestra lm serve RUN_DIR --host 127.0.0.1 --port 0 OPTIONS...`` in a child process
    (stderr to ``log``); yields its API root once it listens; stops it with SIGTERM (then
    SIGKILL) however the block ends. For benches and tests that need a real server process."""
    import os
    import queue
    import subprocess

    command = [
        *(sys.executable, "-m", "palestra.cli", "lm", "serve", str(run_dir)),
        *("--host", "127.0.0.1", "--port", "0", "--threads", str(threads), *options),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log, "w") as err:
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            lines: queue.Queue[str] = queue.Queue()
            stdout = child.stdout
            assert stdout is not None
            threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                line = ""
            if not line.startswith("serving "):
                raise PalestraError(
                    f"palestra lm serve did not start: {log.read_text()[-500:].strip() or line}"
                )
            yield line.split()[-1]
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
