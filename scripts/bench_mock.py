"""How many SSE events per second the mock engine sustains, and what CPU it takes.

Starts ``python -m llmbench_locust.mock`` in a subprocess, drives it with N concurrent
keep-alive streaming chat requests from a raw-socket asyncio client, and prints, per case,
the events/s received, the ideal events/s (N streams x 1000 / chunk_ms), and the server's and
the client's CPU% over the measurement window (100% = one core), and the server's CPU time per
event (what bounds it on one free core: 1e6 / us_per_event events/s).

    python scripts/bench_mock.py                       # 64 and 256 streams, chunk 1/2/5/10 ms
    python scripts/bench_mock.py --streams 256 --chunk-ms 1 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_mock(chunk_ms: float, extra: list[str]) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, "-m", "llmbench_locust.mock", "--port", "0", "--ttft-ms", "5",
           "--chunk-ms", str(chunk_ms), "--slots", "100000", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"mock did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


class Counter:
    def __init__(self) -> None:
        self.events = 0
        self.requests = 0


async def one_stream(port: int, body: bytes, counter: Counter, stop_at: float) -> None:
    """Keep one connection busy with back-to-back streaming requests, counting events."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    try:
        while time.perf_counter() < stop_at:
            writer.write(head + body)
            tail = b""
            while True:
                data = await reader.read(262144)
                if not data:
                    return
                window = tail + data
                counter.events += window.count(b"data: ") - tail.count(b"data: ")
                if window.endswith(b"\r\n0\r\n\r\n"):
                    break
                tail = window[-8:]
            counter.requests += 1
    finally:
        writer.close()


async def drive(port: int, streams: int, seconds: float, tokens: int) -> Counter:
    body = json.dumps({"model": "mock-model", "stream": True, "max_tokens": tokens,
                       "messages": [{"role": "user", "content": "hello"}]}).encode()
    counter = Counter()
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(one_stream(port, body, counter, stop_at) for _ in range(streams)))
    return counter


def run_case(streams: int, chunk_ms: float, seconds: float, tokens: int,
             extra: list[str]) -> dict:
    proc, port = start_mock(chunk_ms, extra)
    try:
        server0, client0, t0 = cpu_seconds(proc.pid), time.process_time(), time.perf_counter()
        counter = asyncio.run(drive(port, streams, seconds, tokens))
        elapsed = time.perf_counter() - t0
        server_cpu = (cpu_seconds(proc.pid) - server0) / elapsed * 100
        client_cpu = (time.process_time() - client0) / elapsed * 100
    finally:
        proc.terminate()
        proc.wait(10)
    return {"streams": streams, "chunk_ms": chunk_ms, "events_per_s": counter.events / elapsed,
            "ideal_per_s": streams * 1000.0 / chunk_ms, "requests": counter.requests,
            "server_cpu": server_cpu, "client_cpu": client_cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--chunk-ms", type=float, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--mock-arg", action="append", default=[],
                        help="extra option passed to the mock (repeatable)")
    args = parser.parse_args(argv)
    print(f"{'streams':>7} {'chunk_ms':>8} {'events/s':>10} {'ideal/s':>10} "
          f"{'server CPU%':>11} {'client CPU%':>11} {'server us/event':>15}")
    for streams in args.streams:
        for chunk_ms in args.chunk_ms:
            r = run_case(streams, chunk_ms, args.seconds, args.max_tokens, args.mock_arg)
            print(f"{r['streams']:>7} {r['chunk_ms']:>8g} {r['events_per_s']:>10.0f} "
                  f"{r['ideal_per_s']:>10.0f} {r['server_cpu']:>11.0f} {r['client_cpu']:>11.0f} "
                  f"{r['server_cpu'] * 1e4 / max(r['events_per_s'], 1):>15.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
