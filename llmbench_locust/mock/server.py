"""The mock engine's HTTP + SSE face, its command line, and an in-thread runner for tests.

One asyncio loop serves every connection. A single ``Ticker`` owns the only timer: it sleeps
until the engine's next due chunk (the event loop's timer is millisecond-grained, so it wakes
up to ``--timer-early-ms`` early and finishes the wait with a precise sleep), then hands every
due chunk to its exchange, which writes it with one ``transport.write``. Chunk times come from the engine's
absolute schedule, so a late wake-up never shifts later chunks.

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/responses``, ``GET /v1/models`` and
``GET /health``. Fault kinds are described in ``llmbench_locust.mock.faults``.

``--log-send-times FILE`` appends one JSON line per generation request when it ends:
``request_id`` (the ``X-Request-Id`` header or null), ``endpoint`` (``chat.completions`` or
``responses``), ``stream``, ``received``, ``first_output``, ``chunks`` (one time per content
chunk), ``done``, ``prompt_tokens``, ``completion_tokens`` (tokens actually sent), ``fault``,
``status`` (HTTP status, null when the socket was cut) and ``aborted`` (the client went away).
Every time is ``time.perf_counter()`` read right after the bytes went to the transport (for
``received``: right after the request's last byte was read).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable, Sequence as Seq

from . import wire
from .engine import Chunk, Engine, EngineConfig, QueueFull, Sequence
from .faults import HTTP_STATUS, FaultPlan, fault_chunk_index, help_text
from .http import (CONTINUE, LAST_CHUNK, DateCache, HttpError, Request, RequestParser, chunk,
                   response_head)

clock = time.perf_counter
EARLY_OK_S = 0.00005
SPIN_S = 0.00004
PR_SET_TIMERSLACK = 29
BATCH_LIMIT = 256
ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/responses": "responses"}
ENDPOINT_NAMES = {"chat": "chat.completions", "responses": "responses"}
STREAM_TYPE = "text/event-stream; charset=utf-8"
JSON_TYPE = "application/json"
HTML_ERROR = (b"<html><head><title>500 Internal Server Error</title></head><body>"
              b"<script>alert(1)</script><h1>Internal Server Error</h1>"
              b"<p>upstream & \"friends\" <b>failed</b></p></body></html>")


def build_parser() -> argparse.ArgumentParser:
    """Every mock option; reusable as ``llmbench mock``."""
    p = argparse.ArgumentParser(
        prog="llmbench mock",
        description="An OpenAI-compatible mock LLM engine with a continuous-batching timing model.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    p.add_argument("--model", default="mock-model", help="the served model name")
    p.add_argument("--any-model", action="store_true", help="accept any model name")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    g = p.add_argument_group("timing model (durations in ms)")
    g.add_argument("--slots", type=int, default=64, help="sequences decoding at once (default 64)")
    g.add_argument("--queue-limit", type=int, default=None,
                   help="reject with 429 when this many already wait (default unlimited)")
    g.add_argument("--ttft-ms", type=float, default=20.0, help="base time to first token (20)")
    g.add_argument("--prefill-ms-per-token", type=float, default=0.0,
                   help="added to the first-token time per prompt token (0)")
    g.add_argument("--chunk-ms", type=float, default=10.0, help="base decode step (10)")
    g.add_argument("--decode-ms-per-seq", type=float, default=0.0,
                   help="added to each step per other active sequence (0)")
    g.add_argument("--tokens-per-chunk", type=int, default=1, help="tokens per step (1)")
    g.add_argument("--default-max-tokens", type=int, default=128,
                   help="output length when the request sets none (128)")
    g.add_argument("--timer-early-ms", type=float, default=1.0,
                   help="wake this early from the event loop's millisecond-grained timer and "
                        "finish the wait with a precise sleep; 0 relies on the event loop "
                        "alone, up to ~1 ms late (1)")
    s = p.add_argument_group("stream shape and logging")
    s.add_argument("--no-role-chunk", action="store_true",
                   help="do not send the role-only chunk before the first token")
    s.add_argument("--keepalive-comment-ms", type=float, default=None,
                   help="send ': keep-alive' SSE comments this often until the first token")
    s.add_argument("--log-send-times", default=None, metavar="FILE",
                   help="append one JSON line of true send times per request")
    f = p.add_argument_group("faults")
    f.add_argument("--fault", action="append", default=[], metavar="KIND[:every=N|:rate=P][:ms=M]",
                   help="inject a fault (repeatable; the first matching one wins). "
                        "every=N hits requests N, 2N, ...; rate=P draws from --seed. "
                        "Kinds: " + help_text().replace("%", "%%"))
    f.add_argument("--seed", type=int, default=0, help="seed for rate= faults (0)")
    return p


def engine_config(options: argparse.Namespace) -> EngineConfig:
    return EngineConfig(
        slots=options.slots, queue_limit=options.queue_limit, ttft_ms=options.ttft_ms,
        prefill_ms_per_token=options.prefill_ms_per_token, chunk_ms=options.chunk_ms,
        decode_ms_per_seq=options.decode_ms_per_seq, tokens_per_chunk=options.tokens_per_chunk)


class SendLog:
    """The truth log: one flushed JSON line per request."""

    def __init__(self, path: str | None) -> None:
        self._fh = open(path, "a", encoding="utf-8") if path else None

    @property
    def enabled(self) -> bool:
        return self._fh is not None

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(record) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def tighten_timer_slack() -> None:
    """Ask Linux to wake this thread's sleeps within ~1 us instead of the default 50 us."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Ticker:
    """The single timer driving the engine: wakes at the next due chunk and delivers it.

    The loop's timers are millisecond-grained (epoll), so it wakes up to ``early_ms`` early,
    sleeps with ``time.sleep`` (a high-resolution nanosleep that yields the CPU and the GIL)
    until ``SPIN_S`` before the due time and busy-waits the rest, which survives a loaded
    machine better than a full sleep. Chunks due within ``EARLY_OK_S`` are sent together
    rather than paying a wake-up each, so a busy server does not spend its time waiting.
    An overloaded server delivers at most ``BATCH_LIMIT`` chunks per turn of the loop, so it
    keeps reading requests while it catches up.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, engine: Engine, early_ms: float) -> None:
        self.loop = loop
        self.engine = engine
        self.early = max(early_ms, 0.0) / 1000.0
        self._handle: asyncio.TimerHandle | None = None
        self._when = float("inf")

    def poke(self) -> None:
        """Re-arm for the engine's next due time if it is earlier than the armed one."""
        due = self.engine.next_due()
        if due is None or due >= self._when:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._when = due
        self._handle = self.loop.call_later(max(due - clock() - self.early, 0.0), self._fire)

    def _fire(self) -> None:
        self._handle, self._when = None, float("inf")
        due = self.engine.next_due()
        if due is None:
            return
        wait = due - clock()
        if wait > self.early:
            self.poke()
            return
        if wait > SPIN_S:
            time.sleep(wait - SPIN_S)
        while clock() < due - EARLY_OK_S:
            pass
        try:
            for item in self.engine.pop_due(clock() + EARLY_OK_S, BATCH_LIMIT):
                item.seq.tag.on_chunk(item)
        finally:
            self.poke()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


class Connection(asyncio.Protocol):
    """One client connection: parses requests and serves them one at a time (keep-alive)."""

    def __init__(self, server: "MockServer") -> None:
        self.server = server
        self.parser = RequestParser()
        self.transport: asyncio.Transport | None = None
        self.current: Any = None
        self.keep_alive = True
        self.closed = False
        self._pumping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        self.pump()

    def eof_received(self) -> bool:
        self.keep_alive = False
        return self.current is not None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if isinstance(self.current, Exchange):
            self.current.abort()
        self.current = None

    def pump(self) -> None:
        """Serve buffered requests while no response is in progress."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self.current is None and not self.closed:
                if not self._serve_next():
                    break
        finally:
            self._pumping = False

    def _serve_next(self) -> bool:
        try:
            request = self.parser.next()
        except HttpError as err:
            self.keep_alive = False
            self.current = True
            self.send(err.status, wire.error_body(err.status, str(err), "BadRequestError"))
            return False
        if request is None:
            if self.parser.wants_continue:
                self.parser.wants_continue = False
                self.write(CONTINUE)
            return False
        self.keep_alive = self.keep_alive and request.keep_alive
        self.current = True
        self.server.handle(self, request)
        return True

    def write(self, data: bytes) -> float:
        """Hand bytes to the transport; returns the time right after."""
        if not self.closed and self.transport is not None:
            self.transport.write(data)
        return clock()

    def head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        if not self.keep_alive:
            headers = headers + [("connection", "close")]
        return response_head(status, headers, self.server.dates.now())

    def send(self, status: int, body: bytes, content_type: str = JSON_TYPE,
             extra: Seq[tuple[str, str]] = ()) -> float:
        """A complete Content-Length response, then the connection moves on."""
        headers = [("content-type", content_type), ("content-length", str(len(body))), *extra]
        sent = self.write(self.head(status, headers) + body)
        self.finish()
        return sent

    def finish(self) -> None:
        """The current response is complete: serve the next request or close."""
        self.current = None
        if not self.keep_alive:
            self.cut()
        elif not self._pumping:
            self.server.loop.call_soon(self.pump)

    def cut(self) -> None:
        """Close after whatever was written is flushed; nothing more is read or written."""
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()


class Exchange:
    """One generation request from acceptance to its last byte, with its truth-log record."""

    def __init__(self, server: "MockServer", conn: Connection, request: Request, endpoint: str,
                 body: dict[str, Any], fault: Any, max_tokens: int) -> None:
        self.server = server
        self.conn = conn
        self.request = request
        self.endpoint = endpoint
        self.fault = fault
        self.kind = fault.kind if fault else None
        self.stream = bool(body.get("stream"))
        self.prompt = wire.prompt_tokens(body, endpoint)
        self.max_tokens = max_tokens
        model = body.get("model") or server.options.model
        rid = f"{next(server.ids):x}"
        wire_type = wire.ChatWire if endpoint == "chat" else wire.ResponsesWire
        self.wire = wire_type(rid, str(model), self.prompt)
        wants_usage = endpoint == "responses" or not self.stream or wire.include_usage(body)
        self.usage = wants_usage and self.kind != "no_usage"
        self.fault_at = fault_chunk_index(-(-max_tokens // server.engine.config.tokens_per_chunk))
        self.seq: Sequence | None = None
        self.sent_tokens = 0
        self.first_output: float | None = None
        self.chunks: list[float] = []
        self.status: int | None = None
        self.ended = False
        self._keepalive: asyncio.TimerHandle | None = None
        self._steady: tuple[int, bytes] | None = None

    @property
    def _extra(self) -> list[tuple[str, str]]:
        rid = self.request.headers.get("x-request-id")
        return [("x-request-id", rid)] if rid else []

    def start(self) -> None:
        if self.kind in HTTP_STATUS:
            status = HTTP_STATUS[self.kind]
            self._reply(status, wire.error_body(status, f"injected fault: {self.kind}",
                                                _error_type(status)))
        elif self.kind == "html_error":
            self._reply(500, HTML_ERROR, "text/html; charset=utf-8")
        elif self.kind == "slow_headers":
            self.server.loop.call_later(self.fault.delay_s, self._begin)
        else:
            self._begin()

    def _begin(self) -> None:
        if self.ended:
            return
        tokens = 1 if self.kind == "empty" else self.max_tokens
        self.seq = Sequence(self.prompt, tokens, tag=self)
        try:
            self.server.engine.submit(self.seq, clock())
        except QueueFull as err:
            self._reply(429, wire.error_body(429, f"the server is overloaded: {err}",
                                             "RateLimitError"))
            return
        if self.stream:
            self._open_stream()
        self.server.ticker.poke()

    def _open_stream(self) -> None:
        self.status = 200
        headers = [("content-type", STREAM_TYPE), ("transfer-encoding", "chunked"),
                   ("cache-control", "no-cache"), *self._extra]
        events = self.wire.opening(not self.server.options.no_role_chunk)
        self.conn.write(self.conn.head(200, headers) + b"".join(chunk(e) for e in events))
        period = self.server.options.keepalive_comment_ms
        if period:
            self._arm_keepalive(period / 1000.0)

    def _arm_keepalive(self, period: float) -> None:
        def beat() -> None:
            if not self.ended and self.first_output is None:
                self.conn.write(chunk(wire.KEEPALIVE_COMMENT))
                self._keepalive = self.server.loop.call_later(period, beat)
        self._keepalive = self.server.loop.call_later(period, beat)

    def on_chunk(self, item: Chunk) -> None:
        """A chunk became due in the engine."""
        if self.ended:
            return
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if not self.stream:
            if item.last:
                self._body_reply()
            return
        if self.kind == "empty":
            self._end_stream(b"".join(chunk(e) for e in self.wire.empty_finish()), completion=0)
        elif item.index == self.fault_at and self.kind in ("disconnect", "error_event"):
            self._mid_stream_fault()
        else:
            self._stream_chunk(item)

    def _stream_chunk(self, item: Chunk) -> None:
        if self._steady is not None and not item.last and item.tokens == self._steady[0]:
            data = self._steady[1]
        else:
            data = chunk(self.wire.delta(wire.text_of(item.tokens).encode(), item.last))
            if self.wire.repeats and not item.last:
                self._steady = (item.tokens, data)
        if item.index == self.fault_at and self.kind == "malformed":
            data = chunk(wire.MALFORMED_EVENT) + data
        self.sent_tokens += item.tokens
        if item.last:
            self._end_stream(data, completion=self.sent_tokens, content=True)
            return
        self._record_chunk(self.conn.write(data))

    def _end_stream(self, data: bytes, completion: int, content: bool = False) -> None:
        done = self.kind != "no_done"
        text = wire.text_of(completion)
        events = self.wire.closing(completion, self.usage, done, text)
        sent = self.conn.write(data + b"".join(chunk(e) for e in events) + LAST_CHUNK)
        if content:
            self._record_chunk(sent)
        self._end(sent)
        self.conn.finish()

    def _mid_stream_fault(self) -> None:
        self.server.engine.cancel(self.seq, clock())
        if self.kind == "disconnect":
            self.status = None
            self.conn.keep_alive = False
            self._end(clock())
            self.conn.cut()
            return
        events = self.wire.error_events(f"injected fault: {self.kind}")
        sent = self.conn.write(b"".join(chunk(e) for e in events) + LAST_CHUNK)
        self._end(sent)
        self.conn.finish()

    def _body_reply(self) -> None:
        completion = 0 if self.kind == "empty" else self.max_tokens
        if self.kind == "error_event":
            body = wire.error_body(500, "injected fault: error_event", "server_error")
        else:
            body = wire.dumps(self.wire.body(wire.text_of(completion), completion, self.usage))
        self.sent_tokens = completion
        headers = [("content-type", JSON_TYPE), ("content-length", str(len(body))), *self._extra]
        if self.kind == "disconnect":
            self.conn.keep_alive = False
            sent = self.conn.write(self.conn.head(200, headers) + body[: len(body) // 2])
            self._record_chunk(sent)
            self._end(sent)
            self.conn.cut()
            return
        if self.kind == "malformed":
            body = body[: len(body) // 2]
        self.status = 200
        sent = self.conn.send(200, body, extra=self._extra)
        self._record_chunk(sent)
        self._end(sent)

    def _reply(self, status: int, body: bytes, content_type: str = JSON_TYPE) -> None:
        self.status = status
        self._end(self.conn.send(status, body, content_type, self._extra))

    def _record_chunk(self, sent: float) -> None:
        if self.first_output is None:
            self.first_output = sent
        if self.server.log.enabled:
            self.chunks.append(sent)

    def abort(self) -> None:
        """The client went away before the response ended."""
        if self.ended:
            return
        if self.seq is not None:
            self.server.engine.cancel(self.seq, clock())
        self._end(None, aborted=True)

    def _end(self, done: float | None, aborted: bool = False) -> None:
        if self.ended:
            return
        self.ended = True
        if self._keepalive is not None:
            self._keepalive.cancel()
        self.server.log.write({
            "request_id": self.request.headers.get("x-request-id"),
            "endpoint": ENDPOINT_NAMES[self.endpoint], "stream": self.stream,
            "received": self.request.received, "first_output": self.first_output,
            "chunks": self.chunks, "done": done, "prompt_tokens": self.prompt,
            "completion_tokens": self.sent_tokens, "fault": self.kind,
            "status": self.status, "aborted": aborted,
        })


def _error_type(status: int) -> str:
    return {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError",
            429: "RateLimitError", 503: "ServiceUnavailableError"}.get(status, "InternalServerError")


class MockServer:
    """Routing and shared state for one listening socket; all of it lives on one loop."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.engine = Engine(engine_config(options))
        self.faults = FaultPlan.parse(options.fault or [], options.seed)
        if options.default_max_tokens < 1:
            raise ValueError("--default-max-tokens must be at least 1")
        self.log = SendLog(options.log_send_times)
        self.dates = DateCache()
        self.ids = itertools.count(1)
        self.accepted = 0
        self.connections: set[Connection] = set()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.ticker: Ticker = None  # type: ignore[assignment]
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> int:
        self.loop = asyncio.get_running_loop()
        tighten_timer_slack()
        self.ticker = Ticker(self.loop, self.engine, self.options.timer_early_ms)
        self._server = await self.loop.create_server(
            lambda: Connection(self), self.options.host, self.options.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)  # let connection_lost log the requests cut short
        if self._server is not None:
            await self._server.wait_closed()
        self.ticker.close()
        self.log.close()

    def handle(self, conn: Connection, request: Request) -> None:
        endpoint = ENDPOINTS.get(request.path)
        known = endpoint is not None or request.path in ("/v1/models", "/health")
        if not known:
            return self._error(conn, 404, f"no route for {request.path}")
        if request.path == "/health":
            return self._simple(conn, request, "GET", lambda: b"{}")
        if not self._authorized(request):
            return self._error(conn, 401, "invalid or missing API key")
        if request.path == "/v1/models":
            return self._simple(conn, request, "GET", self._models)
        if request.method != "POST":
            return self._error(conn, 405, f"use POST for {request.path}")
        self._generate(conn, request, endpoint)

    def _simple(self, conn: Connection, request: Request, method: str,
                body: Callable[[], bytes]) -> None:
        if request.method != method:
            return self._error(conn, 405, f"use {method} for {request.path}")
        conn.send(200, body())

    def _error(self, conn: Connection, status: int, message: str) -> None:
        conn.send(status, wire.error_body(status, message, _error_type(status)))

    def _authorized(self, request: Request) -> bool:
        key = self.options.api_key
        return not key or request.headers.get("authorization", "") == f"Bearer {key}"

    def _models(self) -> bytes:
        return wire.dumps({"object": "list", "data": [
            {"id": self.options.model, "object": "model", "created": int(time.time()),
             "owned_by": "llmbench-mock"}]})

    def _generate(self, conn: Connection, request: Request, endpoint: str) -> None:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as err:
            return self._error(conn, 400, f"invalid JSON body: {err}")
        problem = wire.validate(body, endpoint)
        if problem is None and not self.options.any_model:
            model = body.get("model")
            if model is not None and model != self.options.model:
                return self._error(conn, 404, f"The model `{model}` does not exist.")
        if problem is None:
            try:
                max_tokens = wire.max_tokens(body, endpoint, self.options.default_max_tokens)
            except ValueError as err:
                problem = str(err)
        if problem is not None:
            return self._error(conn, 400, problem)
        self.accepted += 1
        fault = self.faults.choose(self.accepted)
        exchange = Exchange(self, conn, request, endpoint, body, fault, max_tokens)
        conn.current = exchange
        exchange.start()


def parse_options(argv: Seq[str] | None = None) -> argparse.Namespace:
    """Parse and check options, so bad fault specs fail before binding."""
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        FaultPlan.parse(options.fault, options.seed)
        engine_config(options)
    except ValueError as err:
        parser.error(str(err))
    return options


async def serve(options: argparse.Namespace, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM), printing the listening line once ready."""
    server = MockServer(options)
    port = await server.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():  # run_mock_in_thread has its own stop
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    print(f"llmbench-mock listening on http://{options.host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: Seq[str] | None = None) -> int:
    """``llmbench mock`` / ``python -m llmbench_locust.mock``."""
    options = parse_options(argv)
    try:
        asyncio.run(serve(options))
    except KeyboardInterrupt:
        pass
    return 0


class MockHandle:
    """A mock engine running on its own loop in a background thread."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="llmbench-mock", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # reported to the starting thread
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        server = MockServer(self.options)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.port = await server.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()

    def start(self, timeout: float = 10.0) -> "MockHandle":
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"mock engine did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> "MockHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def options_from(**overrides: Any) -> argparse.Namespace:
    """Defaults of ``build_parser`` with keyword overrides (``ttft_ms=150``, ``fault=[...]``)."""
    options = build_parser().parse_args(["--port", "0"])
    for name, value in overrides.items():
        if not hasattr(options, name):
            raise TypeError(f"unknown mock option {name!r}")
        setattr(options, name, value)
    if isinstance(options.fault, str):
        options.fault = [options.fault]
    return options


def run_mock_in_thread(**options: Any) -> MockHandle:
    """Start a mock engine in a thread (port 0 unless given); use as a context manager."""
    return MockHandle(options_from(**options)).start()


if __name__ == "__main__":
    sys.exit(main())
