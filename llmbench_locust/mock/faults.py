"""Fault injection: the plan syntax and the deterministic choice of which request gets what.

A fault is given as ``KIND[:every=N|:rate=P][:ms=M]`` (``--fault``, repeatable).

* ``every=N``: requests number N, 2N, 3N, ... get the fault. Requests are numbered from 1 in
  the order the server accepted them on the generation endpoints (``/v1/chat/completions``
  and ``/v1/responses`` together); requests refused before that (bad JSON, wrong model, wrong
  key, full queue) are not numbered. Without ``every`` or ``rate`` every request is hit.
* ``rate=P``: each request is hit with probability P, drawn from ``--seed``, the fault kind
  and the request number only, so a run is repeatable whatever the timing.
* When several faults match one request, the one listed first wins.

Kinds, and what a correct client makes of each:

* ``http_400``, ``http_429``, ``http_500``, ``http_503``: that status with an OpenAI-style
  error JSON body, at once (``http_4xx``, ``http_429``, ``http_5xx``).
* ``disconnect``: streaming: the socket is closed after a few content chunks
  (``min(3, chunks // 2)``), without the final zero-length chunk; non-streaming: the headers
  announce the full Content-Length and the socket closes half-way through the body
  (``truncated_stream`` / ``connection``).
* ``malformed``: streaming: one event (at the same point) whose data is ``{"choices": [``,
  then the stream goes on normally; non-streaming: a 200 whose body is cut JSON (``bad_json``).
* ``error_event``: streaming chat: ``data: {"error": {...}}`` at that point, then the stream
  ends without ``[DONE]``; Responses API: ``event: error`` then ``event: response.failed``;
  non-streaming: a 200 whose body is ``{"error": {...}}`` (``server_error_event``).
* ``no_done``: the stream ends cleanly (final zero-length chunk) without ``data: [DONE]`` /
  ``response.completed`` (``truncated_stream``); no effect on non-streamed requests.
* ``no_usage``: no usage anywhere; not a failure, the client must count chunks.
* ``slow_headers:ms=M``: the response (headers included) starts M ms late (default 1000): the
  engine sees the request M ms after it arrived.
* ``empty``: a well-formed reply with no content: role chunk, a finish chunk with an empty
  delta, usage with ``completion_tokens`` 0 and ``[DONE]`` (``empty_output``).
* ``html_error``: a 500 whose body is an HTML page holding a ``<script>`` tag, to test that
  reports escape server text (``http_5xx``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

KINDS: dict[str, str] = {
    "http_400": "reply 400 with an error JSON",
    "http_429": "reply 429 with an error JSON",
    "http_500": "reply 500 with an error JSON",
    "http_503": "reply 503 with an error JSON",
    "disconnect": "close the socket mid-stream / mid-body",
    "malformed": "one event (or the body) is not valid JSON",
    "error_event": "an error event mid-stream, then the end (non-stream: 200 with an error body)",
    "no_done": "the stream ends cleanly without [DONE] / response.completed",
    "no_usage": "no usage anywhere (not a failure)",
    "slow_headers": "start the response ms=M late (default 1000)",
    "empty": "a well-formed reply without content, completion_tokens 0",
    "html_error": "a 500 whose body is an HTML page with a <script> tag",
}

HTTP_STATUS = {"http_400": 400, "http_429": 429, "http_500": 500, "http_503": 503}

DEFAULT_SLOW_HEADERS_MS = 1000.0


@dataclass(frozen=True)
class FaultSpec:
    """One ``--fault`` item; with neither ``every`` nor ``rate`` it hits every request."""

    kind: str
    every: int | None = None
    rate: float | None = None
    ms: float | None = None

    def hits(self, number: int, seed: int) -> bool:
        """Whether request ``number`` (1-based) gets this fault; pure, so repeatable."""
        if self.every is not None:
            return number % self.every == 0
        if self.rate is not None:
            return random.Random(f"{seed}:{self.kind}:{number}").random() < self.rate
        return True

    @property
    def delay_s(self) -> float:
        return (self.ms if self.ms is not None else DEFAULT_SLOW_HEADERS_MS) / 1000.0


def parse_fault(text: str) -> FaultSpec:
    """Parse ``KIND[:every=N|:rate=P][:ms=M]``; raises ValueError naming the bad part."""
    kind, *params = text.strip().split(":")
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
    fields: dict[str, float | int] = {}
    for param in params:
        name, sep, value = param.partition("=")
        if not sep or name not in ("every", "rate", "ms") or name in fields:
            raise ValueError(f"bad fault parameter {param!r} in {text!r}")
        fields[name] = _number(name, value, text)
    if "every" in fields and "rate" in fields:
        raise ValueError(f"give every= or rate=, not both, in {text!r}")
    return FaultSpec(kind, **fields)  # type: ignore[arg-type]


def _number(name: str, value: str, text: str) -> float | int:
    try:
        number = int(value) if name == "every" else float(value)
    except ValueError:
        raise ValueError(f"{name}= needs a number in {text!r}") from None
    if name == "every" and number < 1:
        raise ValueError(f"every= must be at least 1 in {text!r}")
    if name == "rate" and not 0.0 <= number <= 1.0:
        raise ValueError(f"rate= must be between 0 and 1 in {text!r}")
    if name == "ms" and number < 0:
        raise ValueError(f"ms= must be 0 or more in {text!r}")
    return number


class FaultPlan:
    """The ordered fault list and the seed; ``choose(n)`` is a pure function of ``n``."""

    def __init__(self, specs: list[FaultSpec] | tuple[FaultSpec, ...] = (), seed: int = 0) -> None:
        self.specs = tuple(specs)
        self.seed = seed

    @classmethod
    def parse(cls, texts: list[str] | tuple[str, ...], seed: int = 0) -> "FaultPlan":
        return cls([parse_fault(text) for text in texts], seed)

    def choose(self, number: int) -> FaultSpec | None:
        for spec in self.specs:
            if spec.hits(number, self.seed):
                return spec
        return None


def fault_chunk_index(total_chunks: int) -> int:
    """The content chunk at which mid-stream faults strike: a few chunks in, never past the end."""
    return min(3, total_chunks // 2)


def help_text() -> str:
    """One line per kind, for ``--help``."""
    return "; ".join(f"{kind}: {what}" for kind, what in KINDS.items())
