"""Continuous batching: the slot cache against one-sequence decoding, a request's texts alone
and amid others, batched against one-at-a-time, the real HTTP server under concurrent load,
``n`` up to the cap, a disconnected stream freeing its rows, errors, closing, and the
fallback for models that cannot batch."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from palestra.lm.backends import BackendError, Completion, LocalBackend, OpenAIBackend
from palestra.lm.serve_config import ServeConfig
from palestra.lm.server import ModelServer
from palestra.lm.tokenizers import EOS, ByteTokenizer
from palestra.models.transformer import KVCache, SlotCache, Transformer, TransformerConfig


def tiny(**flags: Any) -> Transformer:
    """An untrained byte-level model: random but deterministic text, rare <eos>."""
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=260, block_size=48, n_layer=2, n_head=4, d_model=16, **flags)
    return Transformer(cfg).eval()


@pytest.fixture(scope="module")
def model() -> Transformer:
    return tiny()


@pytest.fixture(scope="module")
def model_dir(model: Transformer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("run") / "model"
    model.save_pretrained(directory)
    ByteTokenizer().save(directory / "tokenizer.json")
    return directory


@pytest.fixture(scope="module")
def batched(model: Transformer) -> Iterator[LocalBackend]:
    with LocalBackend.from_model(model, ByteTokenizer()) as backend:
        yield backend


@pytest.fixture(scope="module")
def serial(model: Transformer) -> LocalBackend:
    return LocalBackend.from_model(model, ByteTokenizer(), batching=False)


# The requests of the concurrency tests: prompts of different lengths, n, sampling, stops.
REQUESTS: list[dict[str, Any]] = [
    {"prompt": "hello", "n": 3, "max_tokens": 20, "seed": 5},
    {"prompt": "a", "n": 1, "max_tokens": 30, "seed": 1, "temperature": 0.0},
    {"prompt": "xyz xyz", "n": 2, "max_tokens": 12, "seed": 2, "top_p": 0.7},
    {"prompt": "q", "n": 4, "max_tokens": 25, "seed": 3, "stop": ["e", "ab"]},
    {"prompt": "longer prompt here", "n": 1, "max_tokens": 8, "seed": 4, "temperature": 1.5},
    {"prompt": "12+34=", "n": 2, "max_tokens": 1, "seed": 6},
    {"prompt": "zz", "n": 5, "max_tokens": 16, "seed": 7, "temperature": 0.0},
    {"prompt": "", "n": 1, "max_tokens": 28, "seed": 8},
]


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads released together; their results in order (the first
    exception raised, if any, is raised here)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def one(k: int) -> None:
        barrier.wait()
        try:
            results[k] = calls[k]()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


# ----------------------------------------------------------------------------- the slot cache
@pytest.mark.parametrize(
    "flags", [{}, {"rope": False}, {"n_kv_heads": 1}, {"nope_heads": 2}, {"no_positions": True}]
)
def test_slot_cache_rows_decode_as_if_alone(flags: dict[str, Any]) -> None:
    """Sequences that join at different steps and leave in the middle get, row by row, the
    logits of the same sequence decoded alone with a KVCache."""
    model = tiny(**flags)
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 260, (1, t), generator=g) for t in (3, 9, 5)]
    steps = [torch.randint(0, 260, (12,), generator=g) for _ in prompts]
    joins = [0, 2, 5]  # the step at which each sequence joins
    with torch.no_grad():
        alone = []
        for prompt, tokens in zip(prompts, steps, strict=True):
            cache = KVCache(model.cfg, 1, prompt.device)
            model(prompt, cache=cache)
            alone.append([model(t.view(1, 1), cache=cache)[0][0, 0] for t in tokens])
        slots = SlotCache(model.cfg)
        owner: list[int] = []  # sequence of each row
        done = [0, 0, 0]
        for step in range(12):
            for s, join in enumerate(joins):
                if join == step:
                    prefill = KVCache(model.cfg, 1, prompts[s].device)
                    model(prompts[s], cache=prefill)
                    slots.add(prefill, 1)
                    owner.append(s)
            if step == 8:  # sequence 0 leaves; the last row moves into its place
                row = owner.index(0)
                moved = slots.free(row)
                owner[row] = owner[moved] if moved is not None else owner[row]
                owner.pop()
            idx = torch.stack([steps[s][done[s]] for s in owner])[:, None]  # [B, 1]
            logits, _ = model(idx, cache=slots)  # [B, 1, V]
            for row, s in enumerate(owner):
                torch.testing.assert_close(logits[row, 0], alone[s][done[s]])
                done[s] += 1
    assert done == [8, 10, 7]


def test_slot_cache_refuses_what_it_cannot_batch() -> None:
    for flags in ({"canon": 2}, {"random_positions": 96}, {"attn_log_scale": True}):
        model = tiny(**flags)
        assert not SlotCache.supports(model.cfg)
        cache = SlotCache(model.cfg)
        prefill = KVCache(model.cfg, 1, torch.device("cpu"))
        with torch.no_grad():
            model(torch.tensor([[1, 2]]), cache=prefill)
            cache.add(prefill, 1)
            with pytest.raises(ValueError, match="cannot decode rows"):
                model(torch.tensor([[3]]), cache=cache)


# ----------------------------------------------------------------------------- in process
def test_a_request_gives_the_same_texts_alone_and_amid_others(batched: LocalBackend) -> None:
    alone = [batched.complete(**r) for r in REQUESTS]
    before = dict(batched.scheduler.stats)  # type: ignore[union-attr]
    together = at_once([lambda r=r: batched.complete(**r) for r in REQUESTS])
    assert together == alone
    stats = batched.scheduler.stats  # type: ignore[union-attr]
    assert stats["peak_rows"] > 5  # more than the largest request's n: they did share steps
    assert stats["admitted"] - before["admitted"] == len(REQUESTS)
    assert batched.scheduler.active_rows == 0  # type: ignore[union-attr]


def test_batched_and_one_at_a_time_give_the_same_texts(
    batched: LocalBackend, serial: LocalBackend
) -> None:
    """Greedy and seeded sampling alike, concurrent or not."""
    assert batched.batching and not serial.batching
    expected = [serial.complete(**r) for r in REQUESTS]
    assert at_once([lambda r=r: batched.complete(**r) for r in REQUESTS]) == expected
    assert at_once([lambda r=r: serial.complete(**r) for r in REQUESTS]) == expected


def test_streamed_deltas_of_concurrent_generations(batched: LocalBackend) -> None:
    expected = [batched.complete(**r) for r in REQUESTS]

    def streamed(r: dict[str, Any]) -> list[Completion]:
        generation = batched.prepare(**r)
        pieces: dict[int, list[str]] = {i: [] for i in range(generation.n)}
        for deltas in generation:
            for d in deltas:
                pieces[d.index].append(d.text)
        result = generation.completions()
        assert [c.text for c in result] == ["".join(pieces[i]) for i in range(generation.n)]
        return result

    assert at_once([lambda r=r: streamed(r) for r in REQUESTS]) == expected


def test_n_up_to_the_batch_and_beyond_it(model: Transformer) -> None:
    """A request larger than max_batch runs alone; smaller ones wait for room."""
    with LocalBackend.from_model(model, ByteTokenizer(), max_n=40, max_batch=16) as backend:
        big = backend.complete("n", n=40, max_tokens=3, seed=0)
        assert len(big) == 40 and len({c.text for c in big}) > 1
        assert backend.scheduler.stats["peak_rows"] == 40  # type: ignore[union-attr]
        asks = [lambda s=s: backend.complete("w", n=8, max_tokens=10, seed=s) for s in range(4)]
        results = at_once(asks)
        assert [len(r) for r in results] == [8] * 4
        with pytest.raises(BackendError, match="n must be at most 40"):
            backend.complete("n", n=41)


def test_leaving_the_iterator_early_frees_the_rows(batched: LocalBackend) -> None:
    scheduler = batched.scheduler
    assert scheduler is not None
    cancelled = scheduler.stats["cancelled"]
    generation = batched.prepare("leave", n=4, max_tokens=40, seed=0)
    deltas = iter(generation)
    next(deltas)
    deltas.close()  # type: ignore[attr-defined]
    assert generation.cancelled
    deadline = time.monotonic() + 10
    while scheduler.stats["cancelled"] == cancelled and time.monotonic() < deadline:
        time.sleep(0.002)
    assert scheduler.stats["cancelled"] == cancelled + 1 and scheduler.active_rows == 0
    assert not generation.done  # it stopped before its samples ended


class _FailsWhenBatched:
    """A model whose batched decoding step fails (the prefill works)."""

    def __init__(self, model: Transformer) -> None:
        self.model, self.cfg = model, model.cfg

    def eval(self) -> _FailsWhenBatched:
        return self

    def __call__(self, idx: torch.Tensor, cache: Any = None) -> Any:
        if isinstance(cache, SlotCache):
            raise RuntimeError("the step fell over")
        return self.model(idx, cache=cache)


def test_a_failed_step_fails_its_batch_and_the_thread_goes_on(model: Transformer) -> None:
    with LocalBackend.from_model(model, ByteTokenizer()) as backend:
        backend.model = _FailsWhenBatched(model)  # type: ignore[assignment]
        results = at_once([lambda: _error(lambda: backend.complete("x", max_tokens=5))] * 3)
        assert results == ["the step fell over"] * 3
        backend.model = model
        assert len(backend.complete("x", n=2, max_tokens=5)) == 2


def _error(call: Callable[[], Any]) -> str:
    try:
        call()
    except Exception as e:
        return str(e)
    return "no error"


def test_close_fails_what_is_left_and_refuses_more(model: Transformer) -> None:
    backend = LocalBackend.from_model(model, ByteTokenizer())
    generation = backend.prepare("x", n=2, max_tokens=40, seed=0)
    deltas = iter(generation)
    next(deltas)  # decoding now
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        for _ in deltas:
            pass
    with pytest.raises(BackendError, match="closed") as e:
        backend.complete("x", max_tokens=2)
    assert e.value.status == 503


def test_models_that_cannot_batch_decode_one_at_a_time() -> None:
    model = tiny(canon=3)
    with LocalBackend.from_model(model, ByteTokenizer()) as backend:
        assert backend.scheduler is not None and not backend.batching
        alone = [backend.complete(**r) for r in REQUESTS]
        assert at_once([lambda r=r: backend.complete(**r) for r in REQUESTS]) == alone
        assert backend.scheduler.stats["admitted"] == 0  # never used
        ids = torch.tensor([backend.encode("abc")])
        tokens = model.generate(ids, 10, temperature=0.0, stop_token=EOS)[0, 4:].tolist()
        tokens = tokens[: tokens.index(EOS)] if EOS in tokens else tokens
        [greedy] = backend.complete("abc", temperature=0.0, max_tokens=10)
        assert greedy.text == ByteTokenizer().decode(tokens)


# ----------------------------------------------------------------------------- over HTTP
@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[ModelServer]:
    with ModelServer(ServeConfig(model_dir, port=0, model_name="tiny")) as server:
        yield server


def test_concurrent_http_requests_batch_and_match_one_at_a_time(
    server: ModelServer, model_dir: Path
) -> None:
    """Streamed, plain, chat and multi-prompt requests at once on the batching server give
    the answers a one-at-a-time server gives them in turn."""

    def ask(url: str, k: int) -> list[Completion]:
        r = dict(REQUESTS[k])
        backend = OpenAIBackend(url, "tiny", stream=k % 2 == 1)
        if k == 2:
            messages = [{"role": "user", "content": r.pop("prompt")}]
            return backend.chat(messages, **r)
        return backend.complete(**r)

    config = ServeConfig(model_dir, port=0, model_name="tiny", batching=False)
    with ModelServer(config) as one_at_a_time:
        assert not one_at_a_time.backend.batching
        expected = [ask(one_at_a_time.url, k) for k in range(len(REQUESTS))]
    before = server.backend.scheduler.stats["peak_rows"]  # type: ignore[union-attr]
    assert at_once([lambda k=k: ask(server.url, k) for k in range(len(REQUESTS))]) == expected
    assert server.backend.scheduler.stats["peak_rows"] >= max(before, 6)  # type: ignore[union-attr]


def _post(server: ModelServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    import http.client

    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(
            "POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_n_up_to_the_new_cap_over_http(server: ModelServer) -> None:
    assert server.cfg.max_n == 128
    body = {"model": "tiny", "prompt": ["ab", "c"], "n": 64, "max_tokens": 3, "seed": 1}
    status, answer = _post(server, body)
    assert status == 200 and [c["index"] for c in answer["choices"]] == list(range(128))
    assert answer["usage"]["completion_tokens"] == sum(
        c["completion_tokens"] for c in answer["choices"]
    )
    status, answer = _post(server, {"model": "tiny", "prompt": "x", "n": 129})
    assert status == 400 and answer["error"]["param"] == "n"


class _Slow:
    """A model that takes its time over every forward pass."""

    def __init__(self, model: Transformer) -> None:
        self.model, self.cfg = model, model.cfg

    def eval(self) -> _Slow:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.01)
        return self.model(*args, **kwargs)


def test_a_client_that_leaves_a_stream_frees_its_rows(model: Transformer, model_dir: Path) -> None:
    backend = LocalBackend.from_model(_Slow(model), ByteTokenizer())  # type: ignore[arg-type]
    scheduler = backend.scheduler
    assert scheduler is not None
    config = ServeConfig(model_dir, port=0, model_name="slow")
    with ModelServer(config, backend=backend) as server:
        body = json.dumps(
            {"model": "slow", "prompt": "bye", "n": 4, "max_tokens": 40, "stream": True}
        ).encode()
        host, port = server.httpd.server_address[:2]
        sock = socket.create_connection((host, port), timeout=30)
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"data: " not in received:  # the stream has begun
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        sock.close()
        deadline = time.monotonic() + 10
        while scheduler.stats["cancelled"] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert scheduler.stats["cancelled"] == 1 and scheduler.active_rows == 0
        assert scheduler.stats["steps"] < 39  # it left before its samples could end
        assert scheduler.stats["finished"] == 0
        assert len(OpenAIBackend(server.url, "slow").complete("hi", max_tokens=2)) == 1
    backend.close()
