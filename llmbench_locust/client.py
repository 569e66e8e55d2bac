"""Send one OpenAI-compatible request over geventhttpclient and measure it exactly.

geventhttpclient is the library under Locust's FastHttpUser. It is used directly here because the
session layer of FastHttpUser times a streamed request only to its headers and returns a socket
whose response was abandoned mid-stream to its pool; this client times the whole stream, reads it
line by line as bytes arrive, and throws away any connection whose response was not read to the
end, so a failed request can never corrupt the next one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed

from .measure import Measurement, RequestMeter, http_error_type
from .protocol import chat, responses
from .protocol.events import Interpretation, error_message, load_json_object
from .protocol.sse import iter_events

ERROR_BODY_LIMIT = 64 * 1024
# What sending on a kept-alive connection that the server has meanwhile closed raises.
STALE_CONNECTION = (HTTPConnectionClosed, ConnectionResetError, BrokenPipeError)


class _Deadline(Exception):
    """The per-request timeout, raised inside whatever read is blocking."""


@dataclass(frozen=True)
class Endpoint:
    """How one API is spoken: its path, its terminal marker and how its messages are read."""

    name: str
    path: str
    terminal_name: str
    interpret_body: Callable[[str], Interpretation]

    def interpret_event(self, event: str, data: str) -> Interpretation:
        if self.name == "responses":
            return responses.interpret_event(event, data)
        return chat.interpret_event(data)


ENDPOINTS = {
    "chat.completions": Endpoint("chat.completions", chat.PATH, "[DONE]", chat.interpret_body),
    "responses": Endpoint("responses", responses.PATH, "response.completed", responses.interpret_body),
}


def api_path(base_url: str, endpoint: Endpoint) -> str:
    """The request path: ``/v1`` is added unless the base URL already ends with it."""
    prefix = urlsplit(base_url).path.rstrip("/")
    if not prefix.endswith("/v1"):
        prefix += "/v1"
    return prefix + endpoint.path


class _BodyLines:
    """The body as it arrives, one line per read: an event is never held back by a buffer."""

    def __init__(self, response) -> None:
        self._response = response
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self._response.readline(b"\n")
            if not line:
                line = self._response.read()  # an unterminated last line, if any
                if not line:
                    return
            self.size += len(line)
            yield line


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    obj = load_json_object(text)
    if obj is not None:
        if obj.get("error") is not None:
            return error_message(obj["error"])
        if obj.get("detail") or obj.get("message"):
            return str(obj.get("detail") or obj.get("message"))
    return text.strip() or "(empty body)"


class LLMClient:
    """One connection's worth of HTTP client for one simulated user (closed loop: one at a time)."""

    def __init__(
        self,
        base_url: str,
        endpoint: str,
        timeout: float,
        api_key: str = "",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = parts.scheme == "https"
        self.endpoint = ENDPOINTS[endpoint]
        self.path = api_path(base_url, self.endpoint)
        self.timeout = timeout
        self._headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": "llmbench-locust",
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._headers.update(dict(headers))
        self._http: HTTPClient | None = None
        self._completed_on_connection = 0

    def _client(self) -> HTTPClient:
        if self._http is None:
            self._http = HTTPClient(
                self._host,
                port=self._port,
                ssl=self._ssl,
                insecure=True,
                concurrency=1,
                connection_timeout=min(self.timeout, 60.0),
                network_timeout=self.timeout,
            )
        return self._http

    def close(self) -> None:
        """Drop the connection, e.g. after a response that was not read to its end."""
        if self._http is not None:
            self._http.close()
            self._http = None
        self._completed_on_connection = 0

    def _post(self, payload: bytes, headers: dict, meter: RequestMeter):
        """POST and wait for the headers; a reused connection found closed is replaced once.

        Servers may close an idle kept-alive connection between two requests (llama.cpp does after
        a stream) without saying so; the request then never reached them, so it is sent again on a
        fresh connection and timed from that send.
        """
        reused = self._http is not None and self._completed_on_connection > 0
        try:
            meter.start = time.perf_counter()
            return self._client().request("POST", self.path, body=payload, headers=headers)
        except STALE_CONNECTION:
            if not reused:
                raise
            self.close()
            meter.start = time.perf_counter()
            return self._client().request("POST", self.path, body=payload, headers=headers)

    def send(self, body: dict, stream: bool, request_id: str = "") -> tuple[Measurement, int]:
        """Send one request and read the whole response; returns the measurement and bytes read."""
        payload = json.dumps(body).encode("utf-8")
        headers = dict(self._headers)
        headers["Accept"] = "text/event-stream" if stream else "application/json"
        if request_id:
            headers["X-Request-Id"] = request_id
        received = 0
        meter = RequestMeter(time.perf_counter(), stream, self.endpoint.terminal_name)
        try:
            with gevent.Timeout(self.timeout, _Deadline):
                response = self._post(payload, headers, meter)
                meter.headers(time.perf_counter(), response.status_code)
                if not 200 <= response.status_code < 300:
                    raw = response.read()[:ERROR_BODY_LIMIT]
                    received += len(raw)
                    status = response.status_code
                    meter.fail(time.perf_counter(), http_error_type(status), f"HTTP {status}: {_error_text(raw)}")
                elif stream:
                    body_lines = _BodyLines(response)
                    try:
                        for event in iter_events(body_lines):
                            arrived = time.perf_counter()
                            meter.message(arrived, self.endpoint.interpret_event(event.event, event.data))
                    finally:
                        received += body_lines.size
                else:
                    raw = response.read()
                    arrived = time.perf_counter()
                    received += len(raw)
                    meter.message(arrived, self.endpoint.interpret_body(raw.decode("utf-8", "replace")))
            self._completed_on_connection += 1
        except _Deadline:
            meter.fail(time.perf_counter(), "timeout", f"no complete response within {self.timeout:g} s")
            self.close()
        except gevent.GreenletExit:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - every network fault becomes a failed record
            after_headers = meter.headers_at is not None
            meter.fail(
                time.perf_counter(),
                "truncated_stream" if after_headers else "connection",
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            )
            self.close()
        return meter.result(), received
