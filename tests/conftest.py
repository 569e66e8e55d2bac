"""Shared fixtures: the mock engine and real `locust` / `llmbench` processes on 127.0.0.1."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "locustfiles" / "llm.py"


@dataclass
class Mock:
    url: str
    log: Path
    process: subprocess.Popen

    def truth(self) -> dict[str, dict]:
        """The mock's own send times, by X-Request-Id."""
        if not self.log.exists():
            return {}
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return {row["request_id"]: row for row in rows if row.get("request_id")}


def start_mock(tmp_path: Path, *args: str) -> Mock:
    log = tmp_path / f"mock_{len(list(tmp_path.glob('mock_*.jsonl')))}.jsonl"
    cmd = [sys.executable, "-m", "llmbench_locust.mock", "--port", "0", "--log-send-times", str(log), *args]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"mock did not start: {line!r} {process.stderr.read()}")
    return Mock(match.group(1), log, process)


@pytest.fixture
def mock_engine(tmp_path):
    """Factory: ``mock_engine('--ttft-ms', '150', ...)`` → a running Mock, stopped after the test."""
    started: list[Mock] = []

    def factory(*args: str) -> Mock:
        mock = start_mock(tmp_path, *args)
        started.append(mock)
        return mock

    yield factory
    for mock in started:
        stop_process(mock.process, timeout=5)


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """SIGINT, as Ctrl-C would, so the process writes what it must; kill it if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def run_llmbench(*args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "llmbench_locust.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def run_locust(*args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def wait_for_rows(path: Path, count: int, timeout: float = 90) -> int:
    """Poll a stage file (flushed once a second) until it has ``count`` rows; returns what it has."""
    deadline = time.monotonic() + timeout
    rows = 0
    while time.monotonic() < deadline:
        rows = len(read_rows(path)) if path.exists() else 0
        if rows >= count:
            break
        time.sleep(0.05)
    return rows


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
