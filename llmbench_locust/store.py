"""Where finished records go: the writer on the master (or local runner), the shipper on workers.

Only the master writes the output folder. Workers send their records in batches, at least once a
second and always before they report a share done or stop, each batch numbered so the master
writes every record exactly once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Callable

import numpy as np

from .records import RequestRecord, StageCsvWriter

logger = logging.getLogger(__name__)

RECORDS_MESSAGE = "llmbench_records"


class StageLive:
    """Running numbers of one stage for the progress line and the web UI (not the report)."""

    def __init__(self) -> None:
        self.done = 0
        self.failures = 0
        self.first_start: float | None = None
        self.last_end: float | None = None
        self.latencies: list[float] = []
        self.by_worker: dict[str, int] = defaultdict(int)

    def add(self, record: RequestRecord) -> None:
        self.done += 1
        self.by_worker[record.worker] += 1
        if not record.ok:
            self.failures += 1
        else:
            self.latencies.append(record.latency_ms or 0.0)
        end = record.end_epoch or record.start_epoch
        self.first_start = record.start_epoch if self.first_start is None else min(self.first_start, record.start_epoch)
        self.last_end = end if self.last_end is None else max(self.last_end, end)

    def qps(self) -> float:
        if self.first_start is None or self.last_end is None or self.last_end <= self.first_start:
            return 0.0
        return (self.done - self.failures) / (self.last_end - self.first_start)

    def p99(self) -> float | None:
        return float(np.percentile(self.latencies, 99)) if self.latencies else None


class RecordStore:
    """The master's (or local runner's) sink: appends to the stage files, keeps live numbers."""

    def __init__(self, outdir: str) -> None:
        self.writer = StageCsvWriter(outdir)
        self.live: dict[int, StageLive] = defaultdict(StageLive)
        self._batches_seen: set[tuple[str, int]] = set()
        self.progress: dict[str, dict] = {}

    def add(self, records: list[RequestRecord]) -> None:
        self.writer.write_many(records)
        for record in records:
            self.live[record.stage].add(record)

    def records_by_worker(self) -> dict[str, int]:
        """Records written per worker over the whole run (warm-up included)."""
        totals: dict[str, int] = defaultdict(int)
        for stage in self.live.values():
            for worker, count in stage.by_worker.items():
                totals[worker] += count
        return dict(totals)

    def add_batch(self, node: str, seq: int, rows: list[dict], progress: dict | None = None) -> None:
        """A batch shipped by a worker; a batch seen before is ignored."""
        if (node, seq) in self._batches_seen:
            return
        self._batches_seen.add((node, seq))
        if progress is not None:
            self.progress[node] = progress
        self.add([RequestRecord.from_dict(row) for row in rows])

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Shipper:
    """A worker's sink: buffers records and sends them to the master in numbered batches."""

    def __init__(self, node: str, send: Callable[[str, dict], None], progress: Callable[[], dict | None]) -> None:
        self.node = node
        self._send = send
        self._progress = progress
        self._buffer: list[dict] = []
        self._seq = 0
        self.shipped = 0

    def add(self, records: list[RequestRecord]) -> None:
        self._buffer.extend(record.__dict__.copy() for record in records)

    def flush(self, always: bool = False) -> None:
        """Send what is buffered; with ``always``, also an empty batch carrying the node's progress."""
        if not self._buffer and not always:
            return
        batch, self._buffer = self._buffer, []
        self._seq += 1
        message = {"node": self.node, "seq": self._seq, "records": batch, "progress": self._progress()}
        self._send(RECORDS_MESSAGE, message)
        self.shipped += len(batch)

    def close(self) -> None:
        self.flush()
