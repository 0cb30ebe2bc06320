"""An OpenAI-compatible HTTP server over a model trained by ``palestra train lm``.

    palestra lm serve runs/lm/20250101-120000 --port 8000
    curl http://127.0.0.1:8000/v1/completions -d '{"model": "...", "prompt": "12+34="}'

Routes:

- ``GET /v1/models``: the one model served, ``{"object": "list", "data": [{"id": ...}]}``.
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

Errors are OpenAI's body ``{"error": {"message", "type", "param", "code"}}``: 400 for
malformed JSON, an unknown or ill-typed parameter, a value out of range, an unknown model, or
a prompt plus ``max_tokens`` longer than the context; 404 for an unknown path; 413 for a body
larger than ``max_body_bytes``; 500 (the server keeps serving) when decoding itself fails. An
error after a stream has begun arrives as a last ``data: {"error": ...}`` event.

Decoding goes through one :class:`~palestra.lm.backends.LocalBackend`: its lock serializes
every model call, so concurrent requests interleave step by step on the one model. Each
connection has its own thread (:class:`http.server.ThreadingHTTPServer`). Shutdown stops
accepting, lets requests in flight finish (up to a grace period), then closes.

What it does not do: authentication (bind it to 127.0.0.1, the default, or put a proxy in
front), TLS, batching of concurrent requests into one forward pass, token-id prompts, logprobs.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from palestra.core.errors import PalestraError
from palestra.lm.backends import BackendError, Generation, LocalBackend, chat_prompt
from palestra.lm.serve_config import ServeConfig

__all__ = ["ModelServer", "ServeConfig", "serve"]

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


def default_model_name(run_dir: Path) -> str:
    """``RUN_NAME-STAMP`` of a run directory (of its parent for a ``model/`` folder)."""
    run_dir = Path(run_dir).resolve()
    if run_dir.name == "model" and (run_dir / "config.json").is_file():
        run_dir = run_dir.parent
    return f"{run_dir.parent.name}-{run_dir.name}"


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
        self.backend = backend or LocalBackend(cfg.run_dir, threads=cfg.threads, max_n=cfg.max_n)
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
        for g_index, generation in enumerate(req.generations):
            for i, c in enumerate(generation.run()):
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
        for g_index, generation in enumerate(req.generations):
            for deltas in generation:
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
        if req.include_usage:
            yield {**head, "choices": [], "usage": _usage(req)}

    def _head(self, req: _Request, chunk: bool) -> dict[str, Any]:
        if req.chat:
            kind = "chat.completion.chunk" if chunk else "chat.completion"
        else:
            kind = "text_completion"
        return {"id": req.id, "object": kind, "created": req.created, "model": self.model_name}


def _usage(req: _Request) -> dict[str, int]:
    prompt = sum(len(g.prompt_ids) for g in req.generations)
    completion = sum(len(t) for g in req.generations for t in g.tokens)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _Handler(BaseHTTPRequestHandler):
    """One connection: route, check, decode, answer (keep-alive for JSON answers)."""

    server_app: ModelServer
    protocol_version = "HTTP/1.1"
    server_version = "palestra-serve"
    timeout = 120  # seconds an idle keep-alive connection is kept

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request on stderr is noise under load; errors are in the answers

    # -- answers
    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status >= 400:
            self.close_connection = True  # the body may not have been read
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: BackendError) -> None:
        self._send_json(error.status or 500, error.to_json())

    # -- routes
    def do_GET(self) -> None:
        app = self.server_app
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            self._send_json(200, app.models())
        elif path == f"/v1/models/{app.model_name}":
            self._send_json(200, app.models()["data"][0])
        elif path in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._not_found()

    def do_POST(self) -> None:
        app = self.server_app
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/completions", "/v1/chat/completions"):
            self._not_found()
            return
        if app._stopping:
            self._send_error(
                BackendError("the server is shutting down", status=503, type="server_error")
            )
            return
        app._enter()
        try:
            self._generate(path == "/v1/chat/completions")
        finally:
            app._leave()

    def _not_found(self) -> None:
        self._send_error(
            BackendError(
                f"no route {self.command} {self.path}; this server has GET /v1/models, "
                "POST /v1/completions and POST /v1/chat/completions",
                status=404,
                code="unknown_url",
            )
        )

    def _read_body(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            raise BackendError("a request body with a Content-Length header is required")
        size = int(length)
        if size > self.server_app.cfg.max_body_bytes:
            raise BackendError(
                f"the request body of {size} bytes exceeds the limit of "
                f"{self.server_app.cfg.max_body_bytes}",
                status=413,
            )
        raw = self.rfile.read(size)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
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
            self._send_error(e)
            return
        except Exception as e:  # a failure in decoding: answer it, keep serving
            self._send_error(
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
        try:
            for chunk in app.stream(req):
                self._event(json.dumps(chunk))
        except (BrokenPipeError, ConnectionResetError):
            return  # the client left; its generation stops with the iterator
        except Exception as e:
            error = BackendError(
                f"generation failed: {type(e).__name__}: {e}", status=500, type="server_error"
            )
            try:
                self._event(json.dumps(error.to_json()))
            except OSError:
                return
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
