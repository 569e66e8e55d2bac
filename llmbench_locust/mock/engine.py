"""The timing model of the mock engine: slots, a FIFO queue, prefill and decode steps.

Pure and clock-free: every method takes ``now`` (seconds on any monotonic clock) and every
event carries the exact time it is due, so the model is tested with a fake clock and the
server only has to wake up on time. Times computed here never depend on how late the caller
woke up: a chunk's due time is the previous chunk's due time plus one step.

The model, with all costs in milliseconds:

* ``slots`` sequences hold a slot at once; the rest wait in a FIFO queue. When
  ``queue_limit`` requests already wait, a new one is rejected.
* A sequence admitted at time ``a`` has its first chunk due at
  ``a + ttft_ms + prefill_ms_per_token * prompt_tokens``.
* Each later chunk is due one decode step after the previous one. A step lasts
  ``chunk_ms + decode_ms_per_seq * (active - 1)``, where ``active`` is the number of
  sequences holding a slot when the previous chunk is emitted, so a per-sequence cost
  makes a fuller batch slower, as on a real GPU.
* Every chunk carries ``tokens_per_chunk`` tokens; the last one carries what is left, so a
  sequence emits exactly ``max_tokens`` tokens.
* A slot is freed when the last chunk is emitted (or the sequence is cancelled); the head of
  the queue is admitted at that same instant, or at its arrival if that is later.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class EngineConfig:
    """Timing parameters, in milliseconds where they are durations."""

    slots: int = 64
    queue_limit: int | None = None
    ttft_ms: float = 20.0
    prefill_ms_per_token: float = 0.0
    chunk_ms: float = 10.0
    decode_ms_per_seq: float = 0.0
    tokens_per_chunk: int = 1

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError("slots must be at least 1")
        if self.tokens_per_chunk < 1:
            raise ValueError("tokens_per_chunk must be at least 1")
        if self.queue_limit is not None and self.queue_limit < 0:
            raise ValueError("queue_limit must be 0 or more")
        for name in ("ttft_ms", "prefill_ms_per_token", "chunk_ms", "decode_ms_per_seq"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")

    def prefill_s(self, prompt_tokens: int) -> float:
        """Time from admission to the first chunk."""
        return (self.ttft_ms + self.prefill_ms_per_token * prompt_tokens) / 1000.0

    def step_s(self, active: int) -> float:
        """Duration of one decode step with ``active`` sequences holding slots."""
        return (self.chunk_ms + self.decode_ms_per_seq * max(active - 1, 0)) / 1000.0


class Sequence:
    """One request's generation; ``tag`` belongs to the caller (the server's exchange)."""

    __slots__ = ("prompt_tokens", "max_tokens", "tag", "received", "admitted",
                 "emitted", "chunks", "state")

    def __init__(self, prompt_tokens: int, max_tokens: int, tag: Any = None) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.tag = tag
        self.received: float | None = None
        self.admitted: float | None = None
        self.emitted = 0
        self.chunks = 0
        self.state = "new"

    def __repr__(self) -> str:
        return f"Sequence({self.state}, {self.emitted}/{self.max_tokens}, tag={self.tag!r})"


class Chunk(NamedTuple):
    """A chunk of output that became due: ``index`` counts from 0, ``last`` ends the sequence."""

    seq: Sequence
    due: float
    index: int
    tokens: int
    last: bool


class QueueFull(Exception):
    """Raised by ``submit`` when ``queue_limit`` requests already wait."""


class Engine:
    """The continuous-batching model: call ``submit``, then ``pop_due`` at ``next_due()``."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._active: set[Sequence] = set()
        self._queue: deque[Sequence] = deque()
        self._heap: list[tuple[float, int, Sequence]] = []
        self._order = itertools.count()

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def submit(self, seq: Sequence, now: float) -> None:
        """Admit ``seq`` to a free slot or queue it; raises ``QueueFull`` when over the limit."""
        if seq.state != "new":
            raise ValueError("a sequence can be submitted once")
        seq.received = now
        if len(self._active) < self.config.slots and not self._queue:
            self._admit(seq, now)
            return
        limit = self.config.queue_limit
        if limit is not None and len(self._queue) >= limit:
            seq.state = "rejected"
            raise QueueFull(f"{len(self._queue)} requests already waiting")
        seq.state = "queued"
        self._queue.append(seq)

    def cancel(self, seq: Sequence, now: float) -> None:
        """Drop a sequence whose client went away, freeing its slot at ``now``."""
        if seq.state == "queued":
            self._queue.remove(seq)
        elif seq.state == "active":
            self._release(seq, now)
        seq.state = "cancelled"

    def next_due(self) -> float | None:
        """When the next chunk is due, or None when nothing is generating."""
        heap = self._heap
        while heap and heap[0][2].state != "active":
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float, limit: int | None = None) -> list[Chunk]:
        """Emit the chunks due at or before ``now`` in due order, at most ``limit`` of them."""
        out: list[Chunk] = []
        heap = self._heap
        cap = float("inf") if limit is None else limit
        while heap and heap[0][0] <= now and len(out) < cap:
            due, _, seq = heapq.heappop(heap)
            if seq.state == "active":
                out.append(self._emit(seq, due))
        return out

    def _emit(self, seq: Sequence, due: float) -> Chunk:
        tokens = min(self.config.tokens_per_chunk, seq.max_tokens - seq.emitted)
        seq.emitted += tokens
        index = seq.chunks
        seq.chunks += 1
        last = seq.emitted >= seq.max_tokens
        if last:
            self._release(seq, due)
            seq.state = "done"
        else:
            self._push(seq, due + self.config.step_s(len(self._active)))
        return Chunk(seq, due, index, tokens, last)

    def _admit(self, seq: Sequence, at: float) -> None:
        seq.state = "active"
        seq.admitted = at
        self._active.add(seq)
        self._push(seq, at + self.config.prefill_s(seq.prompt_tokens))

    def _release(self, seq: Sequence, at: float) -> None:
        self._active.discard(seq)
        while self._queue and len(self._active) < self.config.slots:
            nxt = self._queue.popleft()
            self._admit(nxt, max(at, nxt.received))

    def _push(self, seq: Sequence, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._order), seq))
