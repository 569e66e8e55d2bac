"""Server-sent events from raw bytes, as they arrive.

sseclient-py parses the fields; this module feeds it one normalised line at a time, so an event
is dispatched the moment its blank line arrives (no fixed-size buffered read delays it), and
so that CR, LF and CRLF line ends, chunk boundaries anywhere (even inside a CRLF or a UTF-8
character) and invalid UTF-8 can never lose or merge events.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

import sseclient

Event = sseclient.Event

# Only CR and LF end SSE lines. Working on bytes also keeps U+2028 and friends, which
# str.splitlines would split on, inside the JSON strings where they are legal.
_LINE_END = re.compile(b"\r\n|\r|\n")


def _valid_utf8(line: bytes) -> bytes:
    try:
        line.decode("utf-8")
        return line
    except UnicodeDecodeError:
        return line.decode("utf-8", "replace").encode("utf-8")


class LineSplitter:
    """Incrementally splits bytes into complete lines, each ending in a single ``\\n``.

    Line ends are CRLF, LF or CR (the SSE grammar); a CR at the end of a chunk ends its line at
    once, and an LF opening the next chunk is then dropped as the rest of that CRLF. Lines are
    split as bytes, so a multi-byte character cut across reads is whole again in its line; invalid
    UTF-8 is replaced, so what comes out always decodes.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._cr_held = False

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        if self._cr_held:
            self._cr_held = False
            if data.startswith(b"\n"):
                data = data[1:]
                if not data:
                    return []
        self._cr_held = data.endswith(b"\r")
        if not self._pending and data.endswith(b"\n") and data.find(b"\n") == len(data) - 1 and b"\r" not in data:
            return [_valid_utf8(data)]  # the common case: exactly one LF-terminated line
        pieces = _LINE_END.split(self._pending + data)
        self._pending = pieces.pop()  # after the last line end: an incomplete line
        return [_valid_utf8(piece) + b"\n" for piece in pieces]

    def close(self) -> bytes:
        """What is left after the last line end (an unterminated line)."""
        rest, self._pending = self._pending, b""
        return _valid_utf8(rest)


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Complete, normalised lines from an iterable of byte chunks of any size."""
    splitter = LineSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)


class _LineEventClient(sseclient.SSEClient):
    """sseclient-py's field parsing over already-normalised lines.

    Its own chunk stitching is replaced because it dispatches an unterminated event at end of
    stream (the SSE spec discards it, and a cut stream must not look like a complete last event)
    and misses a blank line after mixed line ends.
    """

    def _read(self) -> Iterator[bytes]:
        data = b""
        for line in self._event_source:
            if line == b"\n":
                if data:
                    yield data + b"\n"
                data = b""
            else:
                data += line

    def close(self) -> None:  # the caller owns the connection
        pass


def iter_events(chunks: Iterable[bytes]) -> Iterator[Event]:
    """SSE events from byte chunks, each yielded as soon as its terminating blank line is seen.

    Comments, ``event:``/``id:``/``retry:`` fields and multi-line ``data:`` follow the SSE spec;
    an event cut off by the end of the stream is not dispatched.
    """
    return _LineEventClient(iter_lines(chunks)).events()
