"""The load-generating side of a stage: hands out request tickets and says when its share is done.

Runs wherever users run (the local runner, or each worker). A user takes a ticket before every
request and idles while there is none, so a stage sends exactly its share; when the last ticket's
request has finished, the node ships its records and reports "share done" to the controller.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import gevent.event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ticket:
    position: int
    stage: int
    concurrency: int
    seq: int


@dataclass
class _Share:
    position: int
    stage: int
    concurrency: int
    limit: int | None  # None: unlimited until the deadline
    deadline: float | None  # time.monotonic() after which no ticket is given
    sent: int = 0
    finished: int = 0
    reported: bool = False


class StageNode:
    """Ticket bookkeeping of one node; ``on_share_done(position, sent, finished)`` is called once per stage."""

    def __init__(self, on_share_done: Callable[[int, int, int], None]) -> None:
        self._on_share_done = on_share_done
        self._share: _Share | None = None
        self._work = gevent.event.Event()
        self.in_flight = 0
        self._seq = 0

    def open(self, position: int, stage: int, concurrency: int, share: int | None, duration_s: float | None) -> None:
        """Start this node's part of a stage (``share`` requests, or unlimited for ``duration_s``)."""
        if self._share is not None and self._share.position >= position:
            return  # a repeated or stale message
        deadline = time.monotonic() + duration_s if duration_s else None
        self._share = _Share(position, stage, concurrency, share, deadline)
        self._work.set()
        self._maybe_done()

    def add(self, position: int, extra: int, stage: int, concurrency: int) -> None:
        """More requests for a stage (a lost node's unfinished share), possibly after reporting it done."""
        share = self._share
        if share is None or share.position < position:
            self.open(position, stage, concurrency, extra, None)
            return
        if share.position != position or share.limit is None:
            return
        share.limit += extra
        share.reported = False
        self._work.set()

    def release(self, position: int, fraction: float) -> int:
        """Give back that fraction of the stage's unsent requests (for a worker that joined)."""
        share = self._share
        if share is None or share.position != position or share.limit is None or share.reported:
            return 0
        given = int((share.limit - share.sent) * fraction)
        share.limit -= given
        return given

    def progress(self) -> dict | None:
        share = self._share
        if share is None:
            return None
        return {"position": share.position, "sent": share.sent, "finished": share.finished}

    def close(self) -> None:
        """Give no more tickets: the run is stopping, and its current stage stays unfinished."""
        if self._share is not None:
            self._share.reported = True
        self._work.clear()

    def take(self) -> Ticket | None:
        share = self._share
        if share is None or share.reported:
            self._work.clear()
            return None
        expired = share.deadline is not None and time.monotonic() >= share.deadline
        if expired or (share.limit is not None and share.sent >= share.limit):
            self._work.clear()
            self._maybe_done()
            return None
        share.sent += 1
        self.in_flight += 1
        self._seq += 1
        return Ticket(share.position, share.stage, share.concurrency, self._seq)

    def finish(self, ticket: Ticket) -> None:
        self.in_flight -= 1
        share = self._share
        if share is not None and share.position == ticket.position:
            share.finished += 1
            self._maybe_done()

    def wait_for_work(self, timeout: float) -> None:
        self._work.wait(timeout)

    def _maybe_done(self) -> None:
        share = self._share
        if share is None or share.reported or share.finished < share.sent:
            return
        exhausted = share.limit is not None and share.sent >= share.limit
        expired = share.deadline is not None and time.monotonic() >= share.deadline
        if exhausted or expired:
            share.reported = True
            self._work.clear()
            self._on_share_done(share.position, share.sent, share.finished)

    def poll(self) -> None:
        """Called periodically: a duration-limited share may end with no request in flight."""
        self._maybe_done()
