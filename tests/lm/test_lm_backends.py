"""Model backends: the chat template, parameter checks, local decoding (seeds, stop strings,
streamed deltas) and the HTTP client's retries, errors and stream parsing against stub
servers on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch

from palestra.core.errors import PalestraError
from palestra.lm.backends import (
    CHAT_STOP,
    BackendError,
    Completion,
    LocalBackend,
    OpenAIBackend,
    chat_prompt,
    check_sampling,
)
from palestra.lm.tokenizers import BOS, EOS, ByteTokenizer
from palestra.models.transformer import Transformer, TransformerConfig


# ----------------------------------------------------------------------------- chat template
def test_chat_template() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "2+2"}, {"type": "text", "text": "?"}],
        },
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "3+3?"},
    ]
    assert chat_prompt(messages) == (
        "<|system|>Be brief.\n<|user|>2+2?\n<|assistant|>4\n<|user|>3+3?\n<|assistant|>"
    )
    assert CHAT_STOP == "\n<|"
    for bad in ([], [{"role": "robot", "content": "x"}], [{"role": "user", "content": 3}], "hi"):
        with pytest.raises(BackendError) as e:
            chat_prompt(bad)  # type: ignore[arg-type]
        assert e.value.param == "messages" and e.value.status == 400


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"n": 0}, "n"),
        ({"n": True}, "n"),
        ({"n": 9}, "n"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": "1"}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 2.0}, "max_tokens"),
        ({"seed": 1.5}, "seed"),
        ({"stop": ""}, "stop"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [1]}, "stop"),
    ],
)
def test_check_sampling_names_the_bad_parameter(change: dict[str, Any], param: str) -> None:
    good = dict(n=1, temperature=1.0, top_p=1.0, max_tokens=4, stop=None, seed=None, max_n=8)
    assert check_sampling(**good) == []
    assert check_sampling(**{**good, "stop": "x"}) == ["x"]
    with pytest.raises(BackendError) as e:
        check_sampling(**{**good, **change})
    assert e.value.param == param and param in str(e.value)


# ----------------------------------------------------------------------------- local backend
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained byte-level model: random but deterministic text, rare <eos>."""
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=260, block_size=48, n_layer=1, n_head=2, d_model=16)
    directory = tmp_path_factory.mktemp("run") / "model"
    Transformer(cfg).save_pretrained(directory)
    ByteTokenizer().save(directory / "tokenizer.json")
    return directory


@pytest.fixture(scope="module")
def local(model_dir: Path) -> LocalBackend:
    return LocalBackend(model_dir.parent)  # the run directory holding model/


def test_local_backend_loads_run_or_model_dir(model_dir: Path, tmp_path: Path) -> None:
    assert LocalBackend(model_dir).block_size == 48
    with pytest.raises(PalestraError, match="not a run directory"):
        LocalBackend(tmp_path)


def test_seeded_sampling_is_reproducible(local: LocalBackend) -> None:
    a = local.complete("hello", n=3, max_tokens=10, seed=7)
    b = local.complete("hello", n=3, max_tokens=10, seed=7)
    c = local.complete("hello", n=3, max_tokens=10, seed=8)
    assert a == b and a != c
    assert len(a) == 3 and len({x.text for x in a}) > 1  # the samples differ from each other
    assert all(x.prompt_tokens == 6 for x in a)  # <bos> + 5 bytes
    assert all(1 <= x.completion_tokens <= 10 for x in a)
    assert all(x.finish_reason == "length" for x in a if x.completion_tokens == 10)


def test_greedy_matches_the_models_own_generate(local: LocalBackend) -> None:
    [ours] = local.complete("abc", temperature=0.0, max_tokens=12)
    ids = torch.tensor([[BOS, *ByteTokenizer().encode("abc")]])
    tokens = local.model.generate(ids, 12, temperature=0.0, stop_token=EOS)[0, 4:].tolist()
    tokens = tokens[: tokens.index(EOS)] if EOS in tokens else tokens
    assert ours.text == ByteTokenizer().decode(tokens)
    assert local.complete("abc", temperature=0.0, max_tokens=12, seed=123) == [ours]


def test_stop_strings_cut_the_text(local: LocalBackend) -> None:
    [full] = local.complete("xyz", max_tokens=30, seed=3)
    stop = next(ch for ch in full.text[2:] if ch != "\ufffd")  # a whole character
    cut = full.text[: full.text.find(stop)]
    [stopped] = local.complete("xyz", max_tokens=30, seed=3, stop=[stop, "never"])
    assert stopped.text == cut and stopped.finish_reason == "stop"
    assert stopped.completion_tokens < full.completion_tokens


def test_streamed_deltas_add_up_to_the_text(local: LocalBackend) -> None:
    """Deltas never hold text that a stop string or a later byte might still change."""
    for seed in range(6):
        stops = ["e", "\n\n", "ab"]
        generation = local.prepare("seed", n=2, max_tokens=20, seed=seed, stop=stops)
        pieces: dict[int, list[str]] = {0: [], 1: []}
        ends: dict[int, str | None] = {}
        for deltas in generation:
            for d in deltas:
                assert d.index not in ends, "a delta after the sample's end"
                pieces[d.index].append(d.text)
                if d.finish_reason:
                    ends[d.index] = d.finish_reason
        result = generation.completions()
        assert [c.text for c in result] == ["".join(pieces[i]) for i in (0, 1)]
        assert [c.finish_reason for c in result] == [ends[0], ends[1]]
        assert not any(s in c.text for c in result for s in stops)


def test_context_limits(local: LocalBackend) -> None:
    with pytest.raises(BackendError) as e:
        local.complete("x" * 60, max_tokens=1)
    assert e.value.code == "context_length_exceeded" and e.value.param == "prompt"
    with pytest.raises(BackendError) as e:
        local.complete("x" * 10, max_tokens=40)  # 11 + 40 > 48
    assert e.value.param == "max_tokens" and "at most 37" in str(e.value)
    assert local.complete("x" * 10, max_tokens=37, seed=0)[0].completion_tokens <= 37


def test_local_chat_uses_the_template(local: LocalBackend) -> None:
    messages = [{"role": "user", "content": "hi"}]
    [reply] = local.chat(messages, max_tokens=8, seed=1)
    [same] = local.complete(chat_prompt(messages), max_tokens=8, seed=1, stop=[CHAT_STOP])
    assert reply == same
    assert reply.prompt_tokens == 1 + len(chat_prompt(messages).encode())


# ----------------------------------------------------------------------------- HTTP client
@contextlib.contextmanager
def stub_server(answers: list[tuple[int, str, bytes]]) -> Iterator[tuple[str, list[dict]]]:
    """A loopback server that gives the scripted ``(status, content_type, body)`` answers in
    turn (the last one repeats) and records each request's path, headers and JSON body."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status, kind, data = answers[min(len(seen), len(answers)) - 1]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _json(payload: dict) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(payload).encode()


ANSWER = {
    "choices": [
        {"index": 1, "text": "b", "finish_reason": "length"},
        {"index": 0, "text": "a", "finish_reason": "stop"},
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
}


def test_retries_5xx_then_succeeds() -> None:
    error = (503, "application/json", b'{"error": {"message": "busy"}}')
    with stub_server([error, error, _json(ANSWER)]) as (url, seen):
        backend = OpenAIBackend(url, "m", api_key="k", retries=3, backoff=0.0)
        out = backend.complete("p", n=2, max_tokens=4, stop=["\n"], seed=1)
    # another server's usage total is shared out between the choices (3 + 2)
    assert out == [Completion("a", "stop", 3, 3), Completion("b", "length", 3, 2)]
    assert len(seen) == 3 and seen[0]["path"] == "/v1/completions"  # /v1 added to the root
    assert seen[0]["headers"]["Authorization"] == "Bearer k"
    assert seen[0]["body"] == {
        "model": "m",
        "prompt": "p",
        "n": 2,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_tokens": 4,
        "stop": ["\n"],
        "seed": 1,
    }


def test_4xx_is_an_error_with_the_servers_message_and_no_retry() -> None:
    body = {"error": {"message": "temperature too hot", "type": "x", "param": "temperature"}}
    with stub_server([(400, "application/json", json.dumps(body).encode())]) as (url, seen):
        with pytest.raises(BackendError, match="HTTP 400: temperature too hot") as e:
            OpenAIBackend(url + "/v1", "m", backoff=0.0).chat([{"role": "user", "content": "x"}])
        assert e.value.status == 400 and e.value.param == "temperature"
        assert len(seen) == 1 and seen[0]["path"] == "/v1/chat/completions"
    with stub_server([(500, "text/plain", b"kaput")]) as (url, seen):
        with pytest.raises(BackendError, match="HTTP 500: kaput"):
            OpenAIBackend(url, "m", retries=2, backoff=0.0).complete("p")
        assert len(seen) == 3


def test_connection_refused_after_retries() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", retries=1, backoff=0.0)
    with pytest.raises(BackendError, match="no answer after 2 attempts") as e:
        backend.complete("p")
    assert e.value.status is None
    with pytest.raises(PalestraError, match="expected an http"):
        OpenAIBackend("ftp://x", "m")


def _sse(*events: str) -> tuple[int, str, bytes]:
    return 200, "text/event-stream", "".join(f"{e}\n\n" for e in events).encode()


def test_stream_is_assembled_from_chunks() -> None:
    def chunk(choices: list[dict], **extra: Any) -> str:
        return "data: " + json.dumps({"choices": choices, **extra})

    events = _sse(
        ": a comment",
        chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}]),
        chunk([{"index": 1, "delta": {"content": "x"}}, {"index": 0, "delta": {"content": "he"}}]),
        "event: message\n" + chunk([{"index": 0, "delta": {"content": "llo"}}]),
        chunk([{"index": 0, "delta": {}, "finish_reason": "stop", "completion_tokens": 3}]),
        chunk([{"index": 1, "delta": {}, "finish_reason": "length", "completion_tokens": 1}]),
        chunk([], usage={"prompt_tokens": 4, "completion_tokens": 4}),
        "data: [DONE]",
    )
    with stub_server([events]) as (url, seen):
        out = OpenAIBackend(url, "m", stream=True).chat([{"role": "user", "content": "?"}], n=2)
    assert out == [Completion("hello", "stop", 4, 3), Completion("x", "length", 4, 1)]
    assert seen[0]["body"]["stream"] is True
    assert seen[0]["body"]["stream_options"] == {"include_usage": True}

    cut = _sse('data: {"choices": [{"index": 0, "text": "a"}]}')  # no [DONE]
    with stub_server([cut]) as (url, seen), pytest.raises(BackendError, match="without"):
        OpenAIBackend(url, "m", stream=True, backoff=0.0).complete("p")
    assert len(seen) == 1  # part of the answer arrived: not retried
    error = _sse('data: {"error": {"message": "boom"}}', "data: [DONE]")
    with stub_server([error]) as (url, _), pytest.raises(BackendError, match="boom"):
        OpenAIBackend(url, "m", stream=True).complete("p")


def test_models_lists_ids() -> None:
    with stub_server([_json({"object": "list", "data": [{"id": "a"}, {"id": "b"}]})]) as (
        url,
        seen,
    ):
        assert OpenAIBackend(url, "a").models() == ["a", "b"]
    assert seen[0]["path"] == "/v1/models"
