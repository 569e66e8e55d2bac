"""Monotonic timestamps and interpreted server messages → the measured fields of one request.

Pure: no clock is read here. The caller reads ``time.perf_counter()`` at each moment (just before
the request bytes go out, when the headers arrive, when each SSE event is complete) and hands it
in, so the definitions of SPEC §2 can be tested with plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocol.events import Interpretation

MESSAGE_LIMIT = 300


def short_message(text: str) -> str:
    """One line, printable, bounded: safe to put in a CSV cell, a log line or (escaped) a page."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 3] + "..."


def http_error_type(status: int) -> str:
    if status == 429:
        return "http_429"
    if 400 <= status < 500:
        return "http_4xx"
    if status >= 500:
        return "http_5xx"
    return "client"


@dataclass
class Measurement:
    """The SPEC §2 fields of one finished request (times in ms, relative to its start)."""

    ok: bool
    latency_ms: float
    ttfb_ms: float | None
    ttft_ms: float | None
    itl_ms: float | None
    generation_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_source: str
    http_status: int | None
    error_type: str
    error: str
    output_events: int
    icl_ms: list[float] = field(default_factory=list)


class RequestMeter:
    """Collects the moments of one request and applies SPEC §2 to them."""

    def __init__(self, start: float, stream: bool, terminal_name: str = "[DONE]") -> None:
        self.start = start
        self.stream = stream
        self.terminal_name = terminal_name
        self.headers_at: float | None = None
        self.status: int | None = None
        self.first_output_at: float | None = None
        self.last_output_at: float | None = None
        self.last_seen_at: float = start
        self.output_events = 0
        self.gaps: list[float] = []
        self.usage_prompt: int | None = None
        self.usage_completion: int | None = None
        self.terminal = False
        self.error_type = ""
        self.error = ""

    def headers(self, t: float, status: int) -> None:
        self.headers_at = t
        self.last_seen_at = t
        self.status = status

    def fail(self, t: float, error_type: str, message: str) -> None:
        """Record a failure; the first one is the cause, later ones are consequences."""
        self.last_seen_at = max(self.last_seen_at, t)
        if not self.error_type:
            self.error_type = error_type
            self.error = short_message(message)

    def message(self, t: float, meaning: Interpretation) -> None:
        """One SSE event (streaming) or the whole body (non-streaming), complete at ``t``."""
        self.last_seen_at = t
        if meaning.error_type:
            self.fail(t, meaning.error_type, meaning.error or meaning.error_type)
        if meaning.output:
            if self.first_output_at is None:
                self.first_output_at = t
            else:
                self.gaps.append((t - self.last_output_at) * 1000.0)
            self.last_output_at = t
            self.output_events += 1
        if meaning.usage is not None:
            if meaning.usage.prompt_tokens is not None:
                self.usage_prompt = meaning.usage.prompt_tokens
            if meaning.usage.completion_tokens is not None:
                self.usage_completion = meaning.usage.completion_tokens
        if meaning.terminal:
            self.terminal = True

    def _ms(self, t: float | None) -> float | None:
        return None if t is None else (t - self.start) * 1000.0

    def result(self) -> Measurement:
        error_type, error = self.error_type, self.error
        if not error_type:
            if self.status is None:
                error_type, error = "connection", "no response"
            elif not 200 <= self.status < 300:
                error_type, error = http_error_type(self.status), f"HTTP {self.status}"
            elif not self.terminal:
                error_type = "truncated_stream"
                error = f"stream ended without {self.terminal_name}"
            elif self.output_events == 0:
                error_type, error = "empty_output", "the response carried no generated output"
        ok = not error_type

        end = self.last_output_at if (ok and self.stream) else self.last_seen_at
        latency_ms = (end - self.start) * 1000.0
        ttft_ms = self._ms(self.first_output_at) if self.stream else None

        if self.usage_completion is not None:
            completion, source = self.usage_completion, "usage"
        elif self.stream and self.output_events:
            completion, source = self.output_events, "chunks"
        else:
            completion, source = None, ""

        itl_ms = None
        if ok and self.stream and ttft_ms is not None and completion is not None and completion >= 2:
            itl_ms = (latency_ms - ttft_ms) / (completion - 1)
        if ok:
            generation_ms = latency_ms - ttft_ms if ttft_ms is not None else latency_ms
        else:
            generation_ms = None

        return Measurement(
            ok=ok,
            latency_ms=latency_ms,
            ttfb_ms=self._ms(self.headers_at),
            ttft_ms=ttft_ms,
            itl_ms=itl_ms,
            generation_ms=generation_ms,
            prompt_tokens=self.usage_prompt,
            completion_tokens=completion,
            tokens_source=source,
            http_status=self.status,
            error_type=error_type,
            error=error,
            output_events=self.output_events,
            icl_ms=self.gaps,
        )
