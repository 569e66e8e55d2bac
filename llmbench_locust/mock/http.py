"""Just enough HTTP/1.1 for the mock engine: request parsing and response framing.

Requests need a Content-Length body (what every OpenAI client sends); keep-alive is the
default for HTTP/1.1 and pipelined requests wait in the buffer until the current response is
done. Streamed responses use ``Transfer-Encoding: chunked`` with one HTTP chunk per SSE event,
as uvicorn does for vLLM; other responses carry a Content-Length.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
    429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable",
}


class HttpError(Exception):
    """A request the parser cannot accept; the connection is answered and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    received: float = 0.0

    @property
    def keep_alive(self) -> bool:
        token = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in token
        return "close" not in token


class RequestParser:
    """Incremental parser: ``feed`` bytes, then take complete requests with ``next``."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: Request | None = None
        self._need = 0
        self.wants_continue = False

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next(self) -> Request | None:
        """The next complete request, or None until more bytes arrive; raises HttpError."""
        if self._head is None and not self._parse_head():
            return None
        if len(self._buf) < self._need:
            return None
        request, self._head = self._head, None
        assert request is not None
        request.body = bytes(self._buf[: self._need])
        request.received = time.perf_counter()
        del self._buf[: self._need]
        self.wants_continue = False
        return request

    def _parse_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD_BYTES:
                raise HttpError(431, "request head too large")
            return False
        lines = self._buf[:end].decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        self._head = _request_head(lines)
        self._need = _body_length(self._head.headers)
        self.wants_continue = self._head.headers.get("expect", "").lower() == "100-continue"
        return True


def _request_head(lines: list[str]) -> Request:
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "bad header line")
        headers[name.lower()] = value.strip()
    path = parts[1].split("?", 1)[0]
    return Request(parts[0].upper(), path, parts[2], headers)


def _body_length(headers: dict[str, str]) -> int:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    raw = headers.get("content-length", "0")
    if not raw.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(raw)
    if length > MAX_BODY_BYTES:
        raise HttpError(413, "request body too large")
    return length


class DateCache:
    """The Date header value, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = email.utils.formatdate(second, usegmt=True)
        return self._value


def response_head(status: int, headers: list[tuple[str, str]], date: str) -> bytes:
    """Status line and headers, ending with the blank line."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", f"date: {date}",
             "server: llmbench-mock"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)
