"""Server-sent events from raw bytes, as they arrive.

sseclient-py parses the fields; this module feeds it one normalised line at a time, so an event
is dispatched the moment its blank line arrives (no fixed-size buffered read delays it), and
so that CR, LF and CRLF line ends, chunk boundaries anywhere (even inside a CRLF or a UTF-8
character) and invalid UTF-8 can never lose or merge events.
"""

from __future__ import annotations

import codecs
import re
from typing import Iterable, Iterator

import sseclient

Event = sseclient.Event

# Only CR and LF end SSE lines; str.splitlines would also split on U+2028 and friends, which are
# legal inside a JSON string.
_LINE_END = re.compile("\r\n|\r|\n")


class LineSplitter:
    """Incrementally splits bytes into complete lines, each ending in a single ``\\n``.

    Line ends are CRLF, LF or CR (the SSE grammar); a CR at the end of a chunk is held back until
    the next byte shows whether an LF follows. Bytes are decoded as UTF-8 with replacement, so what
    comes out is always valid UTF-8 and a multi-byte character split across reads stays whole.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._cr_held = False

    def feed(self, data: bytes) -> list[bytes]:
        text = self._decoder.decode(data)
        if not text:
            return []
        if self._cr_held:
            # the held CR already ended a line; an LF right after it belongs to that end
            self._cr_held = False
            if text.startswith("\n"):
                text = text[1:]
        if text.endswith("\r"):
            self._cr_held = True
        pieces = _LINE_END.split(self._pending + text)
        self._pending = pieces.pop()  # after the last line end: an incomplete line
        return [piece.encode("utf-8") + b"\n" for piece in pieces]

    def close(self) -> bytes:
        """What is left after the last line end (an unterminated line)."""
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return rest.encode("utf-8")


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
