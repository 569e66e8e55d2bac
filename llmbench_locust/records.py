"""The per-request record and the CSV files it lives in.

A record is written the moment its request finishes, so a run that is killed keeps every
request that completed. The column list here is the single definition of ``requests_c{N}.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

# error_type values (SPEC §2), in one place so producers and readers agree.
ERROR_TYPES = (
    "http_4xx",
    "http_429",
    "http_5xx",
    "timeout",
    "connection",
    "truncated_stream",
    "bad_json",
    "server_error_event",
    "empty_output",
    "client",
)


@dataclass
class RequestRecord:
    """One finished request, success or failure (SPEC §3 columns, in order)."""

    request_id: str
    stage: int
    concurrency: int
    worker: str
    start_epoch: float
    latency_ms: float | None = None
    ttfb_ms: float | None = None
    ttft_ms: float | None = None
    itl_ms: float | None = None
    generation_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_source: str = ""
    http_status: int | None = None
    ok: bool = False
    error_type: str = ""
    error: str = ""
    endpoint: str = ""
    stream: bool = False
    output_events: int = 0
    end_epoch: float | None = None
    icl_ms: list[float] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        # A shallow read of the fields: dataclasses.asdict would deep-copy the gap list, and this
        # runs once per record on the master.
        row = {name: _cell(value) for name, value in self.__dict__.items()}
        row["icl_ms"] = _gaps_text(self.icl_ms)
        return row

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RequestRecord":
        return cls(**{name: data[name] for name in COLUMNS if name in data})


COLUMNS = tuple(f.name for f in dataclasses.fields(RequestRecord))


def _gaps_text(gaps: list[float]) -> str:
    # one %-format over the whole list: about twice as fast as formatting gap by gap
    return " ".join(["%.3f"] * len(gaps)) % tuple(gaps)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1e9 else f"{value:.6f}"
    return value


WARMUP_FILE = "warmup_requests.csv"


def stage_file_name(concurrency: int) -> str:
    return f"requests_c{concurrency}.csv"


def record_file_name(record: RequestRecord) -> str:
    """Warm-up requests (stage 0) are kept out of the stage files."""
    return WARMUP_FILE if record.stage == 0 else stage_file_name(record.concurrency)


class StageCsvWriter:
    """Appends records to ``requests_c{N}.csv`` files, flushing at most a second after each write.

    Thread- and greenlet-safe; ``flush()`` and ``close()`` make everything durable at once.
    """

    def __init__(self, outdir: str, flush_interval: float = 1.0) -> None:
        self.outdir = outdir
        self.flush_interval = flush_interval
        self._files: dict[str, io.TextIOBase] = {}
        self._writers: dict[str, csv.DictWriter] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.count = 0
        os.makedirs(outdir, exist_ok=True)

    def _writer(self, name: str) -> csv.DictWriter:
        writer = self._writers.get(name)
        if writer is None:
            path = os.path.join(self.outdir, name)
            fresh = not os.path.exists(path) or os.path.getsize(path) == 0
            fh = open(path, "a", newline="", encoding="utf-8")
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            if fresh:
                writer.writeheader()
            self._files[name] = fh
            self._writers[name] = writer
        return writer

    def write(self, record: RequestRecord) -> None:
        self.write_many([record])

    def write_many(self, records: Iterable[RequestRecord]) -> None:
        with self._lock:
            for record in records:
                self._writer(record_file_name(record)).writerow(record.to_row())
                self.count += 1
            if time.monotonic() - self._last_flush >= self.flush_interval:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        for fh in self._files.values():
            fh.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        with self._lock:
            for fh in self._files.values():
                fh.close()
            self._files.clear()
            self._writers.clear()
