"""How exactly, and up to what event rate, the client measures: ours against a vLLM-style one.

Issue 2's client benchmark. In one run, against the embedded mock engine with fixed timings and
its ``--log-send-times`` truth log (``time.perf_counter()`` right after each write, comparable
with a client's perf_counter on the same machine), it drives two clients, each in its own process:

* ``ours``: N gevent greenlets (closed loop) each calling ``llmbench_locust.client.LLMClient.send``,
  in a subprocess that calls ``gevent.monkey.patch_all()`` first thing (as Locust does);
* ``vllm-style``: N asyncio tasks on one aiohttp session, measuring as vLLM's benchmark request
  function (``vllm/benchmarks/lib/endpoint_request_func.py``, chat completions) does: it strips
  each read, splits on blank lines, drops ``data: ``, and takes the first chunk with ``choices`` as
  the first token (even a role-only one); end = the last such chunk; ITL as vLLM's TPOT,
  ``(latency - ttft) / (output_tokens - 1)``.

Each request carries an ``X-Request-Id``; every client record is joined with the mock's line:

* TTFT err = client's first-token time - mock's send time of the first content chunk
  (= measured ttft - true ttft, both taken from the client's own start);
* END err  = client's end (last token) time - mock's send time of the last content chunk;
* ITL err  = measured itl - true itl, true itl = (last chunk - first chunk) / (tokens - 1) from
  the mock's send times (SPEC section 2's formula).

Three parts: (A) accuracy at concurrency 1..256 with ttft 100 ms, 10 ms/chunk, 1 token/chunk,
64 tokens, mock sending its default role-only first chunk; (B) the same without the role chunk;
(C) the ingest limit: with 2 ms chunks (ttft 20 ms, no role chunk, so both clients time the same
event) the concurrency rises until the p99 TTFT error passes 2 ms; the events/s of the last level
under it is the limit. events/s = all SSE events (role, content, usage, [DONE]) the client process
took in, per second of the level. CPU% = the client process's CPU time / wall time of the level
(100 = one core); us/ev = its CPU microseconds per SSE event; mockCPU% = the mock's CPU%.

    python scripts/bench_client.py              # the whole benchmark, about 2-3 minutes
    python scripts/bench_client.py --json out.json
"""

import sys

if __name__ == "__main__" and sys.argv[1:3] == ["--worker", "ours"]:
    # Locust's way: gevent patches the standard library before anything else is imported.
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

MODEL = "mock-model"
MESSAGES = [{"role": "user", "content": "Tell me a story about a benchmark."}]
TICKS = os.sysconf("SC_CLK_TCK")
THRESHOLD_MS = 2.0
CLIENTS = ("ours", "vllm-style")
WORKER_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 60.0


# --------------------------------------------------------------------------- workers (child side)

def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker_ours(url: str, concurrency: int, requests: int, max_tokens: int, tag: str) -> dict:
    """Closed loop of ``concurrency`` greenlets, each with its own LLMClient (one connection)."""
    import gevent

    from llmbench_locust import client as client_module
    from llmbench_locust.measure import RequestMeter
    from llmbench_locust.protocol import chat

    meters: dict = {}

    class RecordingMeter(RequestMeter):
        """The client's own meter, remembered so its absolute start can be read afterwards."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            meters[gevent.getcurrent()] = self

    client_module.RequestMeter = RecordingMeter  # instrumentation only: the measuring is unchanged
    body = chat.build_body(MODEL, MESSAGES, max_tokens, True)
    numbers = itertools.count()
    records: list = []

    def user() -> None:
        client = client_module.LLMClient(url, "chat.completions", REQUEST_TIMEOUT_S)
        try:
            while (n := next(numbers)) < requests:
                rid = f"{tag}-{n}"
                m, _ = client.send(body, True, rid)
                start = meters.pop(gevent.getcurrent()).start  # the meter's final start
                records.append({
                    "rid": rid, "ok": m.ok, "error": m.error_type,
                    "first": None if m.ttft_ms is None else start + m.ttft_ms / 1000.0,
                    "end": start + m.latency_ms / 1000.0,
                    "itl_ms": m.itl_ms, "tokens": m.completion_tokens,
                })
        finally:
            client.close()

    cpu0, t0 = _cpu_now(), time.perf_counter()
    gevent.joinall([gevent.spawn(user) for _ in range(concurrency)], timeout=WORKER_TIMEOUT_S)
    wall, cpu = time.perf_counter() - t0, _cpu_now() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "records": records}


class _VllmStyleSplitter:
    """vLLM's StreamedResponseHandler, in short: stripped reads, split on blank lines, and a
    leftover ``data: `` buffer that already parses as JSON (or is [DONE]) counts as a message."""

    def __init__(self) -> None:
        import codecs

        self.buffer = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")()

    def add(self, data: bytes) -> list[str]:
        self.buffer += self.decoder.decode(data)
        out = []
        while "\n\n" in self.buffer:
            message, self.buffer = self.buffer.split("\n\n", 1)
            if message.strip():
                out.append(message.strip())
        if self.buffer.startswith("data: "):
            content = self.buffer.removeprefix("data: ").strip()
            if content == "[DONE]":
                out.append(self.buffer.strip())
                self.buffer = ""
            elif content:
                try:
                    json.loads(content)
                except json.JSONDecodeError:
                    pass  # incomplete: wait for more bytes
                else:
                    out.append(self.buffer.strip())
                    self.buffer = ""
        return out


async def _vllm_style_request(session, url: str, max_tokens: int, rid: str) -> dict:
    payload = {"model": MODEL, "messages": MESSAGES, "max_completion_tokens": max_tokens,
               "stream": True, "stream_options": {"include_usage": True}}
    headers = {"Content-Type": "application/json", "x-request-id": rid}
    st = time.perf_counter()
    most_recent = st
    ttft = None
    tokens = 0
    error = ""
    try:
        async with session.post(url=url, json=payload, headers=headers) as response:
            if response.status != 200:
                error = f"http_{response.status}"
            else:
                splitter = _VllmStyleSplitter()
                async for raw in response.content.iter_any():
                    raw = raw.strip()
                    if not raw:
                        continue
                    for message in splitter.add(raw):
                        if message.startswith(":"):
                            continue
                        data = message.removeprefix("data: ")
                        if data == "[DONE]":
                            continue
                        timestamp = time.perf_counter()
                        obj = json.loads(data)
                        if obj.get("choices"):
                            if ttft is None:
                                ttft = timestamp - st
                            most_recent = timestamp
                        elif obj.get("usage"):
                            tokens = obj["usage"].get("completion_tokens") or 0
                if ttft is None:
                    error = "no_chunk"
    except Exception as exc:  # noqa: BLE001 - a failed request is a record, as in vLLM
        error = type(exc).__name__
    ok = not error
    latency = most_recent - st
    itl_ms = None
    if ok and tokens >= 2:
        itl_ms = (latency - ttft) / (tokens - 1) * 1000.0  # vLLM's TPOT for this request
    return {"rid": rid, "ok": ok, "error": error,
            "first": None if ttft is None else st + ttft, "end": most_recent,
            "itl_ms": itl_ms, "tokens": tokens}


def worker_vllm_style(url: str, concurrency: int, requests: int, max_tokens: int,
                      tag: str) -> dict:
    import asyncio

    import aiohttp

    async def run() -> dict:
        connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60,
                                         force_close=False)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        numbers = itertools.count()
        records: list = []
        full_url = url.rstrip("/") + "/v1/chat/completions"
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            async def user() -> None:
                while (n := next(numbers)) < requests:
                    records.append(await _vllm_style_request(session, full_url, max_tokens,
                                                             f"{tag}-{n}"))

            cpu0, t0 = _cpu_now(), time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(user() for _ in range(concurrency))),
                                   WORKER_TIMEOUT_S)
            wall, cpu = time.perf_counter() - t0, _cpu_now() - cpu0
        return {"wall_s": wall, "cpu_s": cpu, "records": records}

    return asyncio.run(run())


def worker_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=CLIENTS, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--max-tokens", type=int, required=True)
    parser.add_argument("--tag", required=True)
    a = parser.parse_args(argv)
    run = worker_ours if a.worker == "ours" else worker_vllm_style
    result = run(a.url, a.concurrency, a.requests, a.max_tokens, a.tag)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------- parent side

def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


class Mock:
    """The embedded mock in a subprocess, with its truth log read incrementally."""

    def __init__(self, workdir: str, name: str, args: list[str]) -> None:
        self.log_path = os.path.join(workdir, f"{name}.jsonl")
        self.role_chunk = "--no-role-chunk" not in args
        cmd = [sys.executable, "-m", "llmbench_locust.mock", "--port", "0", "--any-model",
               "--slots", "4096", "--log-send-times", self.log_path, *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"the mock did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1]
        self.offset = 0
        self.truth: dict[str, dict] = {}

    def read_log(self) -> None:
        with open(self.log_path, encoding="utf-8") as fh:
            fh.seek(self.offset)
            for line in fh:
                if line.endswith("\n"):
                    rec = json.loads(line)
                    if rec.get("request_id"):
                        self.truth[rec["request_id"]] = rec
            self.offset = fh.tell()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def run_level(mock: Mock, client: str, concurrency: int, requests: int, max_tokens: int,
              tag: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", client, "--url", mock.url,
           "--concurrency", str(concurrency), "--requests", str(requests),
           "--max-tokens", str(max_tokens), "--tag", tag]
    mock_cpu0 = cpu_seconds(mock.proc.pid)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S + 30)
    mock_cpu = cpu_seconds(mock.proc.pid) - mock_cpu0
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{client} worker failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    mock.read_log()

    ttft_err, end_err, itl_err = [], [], []
    events = failures = 0
    for rec in result["records"]:
        truth = mock.truth.get(rec["rid"])
        if truth is None or not rec["ok"] or not truth.get("chunks"):
            failures += 1
            continue
        chunks = truth["chunks"]
        events += len(chunks) + (1 if mock.role_chunk else 0) + 2  # + usage + [DONE]
        ttft_err.append((rec["first"] - truth["first_output"]) * 1000.0)
        end_err.append((rec["end"] - chunks[-1]) * 1000.0)
        tokens = truth["completion_tokens"]
        if rec["itl_ms"] is not None and tokens >= 2:
            true_itl = (chunks[-1] - truth["first_output"]) * 1000.0 / (tokens - 1)
            itl_err.append(rec["itl_ms"] - true_itl)
    wall = result["wall_s"]
    return {
        "client": client, "concurrency": concurrency, "requests": len(result["records"]),
        "failures": failures, "wall_s": wall, "events_per_s": events / wall,
        "ttft_p50": percentile(ttft_err, 50), "ttft_p99": percentile(ttft_err, 99),
        "end_p50": percentile(end_err, 50), "end_p99": percentile(end_err, 99),
        "itl_p50": percentile(itl_err, 50), "itl_p99": percentile(itl_err, 99),
        "cpu_pct": result["cpu_s"] / wall * 100.0, "mock_cpu_pct": mock_cpu / wall * 100.0,
        "cpu_us_per_event": result["cpu_s"] / events * 1e6 if events else None,
    }


HEADER = (f"{'client':<11}{'conc':>5}{'reqs':>6}{'fail':>5}{'events/s':>10}"
          f"{'TTFT err p50/p99 ms':>22}{'END err p50/p99 ms':>21}{'ITL err p50/p99 ms':>21}"
          f"{'CPU%':>6}{'us/ev':>6}{'mockCPU%':>9}")


def _pair(a: float | None, b: float | None, digits: int) -> str:
    if a is None:
        return "-"
    return f"{a:+.{digits}f} / {b:+.{digits}f}"


def fmt_row(r: dict) -> str:
    return (f"{r['client']:<11}{r['concurrency']:>5}{r['requests']:>6}{r['failures']:>5}"
            f"{r['events_per_s']:>10.0f}{_pair(r['ttft_p50'], r['ttft_p99'], 2):>22}"
            f"{_pair(r['end_p50'], r['end_p99'], 2):>21}{_pair(r['itl_p50'], r['itl_p99'], 3):>21}"
            f"{r['cpu_pct']:>6.0f}{_num(r['cpu_us_per_event']):>6}{r['mock_cpu_pct']:>9.0f}")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def accuracy_requests(concurrency: int) -> int:
    if concurrency == 1:
        return 12
    return 4 * concurrency if concurrency < 64 else 2 * concurrency


def ingest_requests(concurrency: int) -> int:
    return max(100, 4 * concurrency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16, 64, 256],
                        help="concurrency levels of the accuracy parts")
    parser.add_argument("--ingest-levels", type=int, nargs="+",
                        default=[2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256],
                        help="rising concurrency levels of the ingest-limit sweep")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--budget-s", type=float, default=330.0,
                        help="skip the remaining levels once this much time has passed")
    parser.add_argument("--json", help="also write every row here")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    print(f"load average at the start {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs", flush=True)
    rows: dict[str, list] = {}
    limits: dict[str, dict] = {}

    def under(r: dict) -> bool:
        return (r["failures"] == 0 and r["ttft_p99"] is not None
                and r["ttft_p99"] <= THRESHOLD_MS)

    def out_of_time() -> bool:
        return time.perf_counter() - began > args.budget_s

    accuracy = [
        ("A", "accuracy, mock default (role-only first chunk): ttft 100 ms, 10 ms/chunk, "
              "1 token/chunk, 64 tokens", ["--ttft-ms", "100", "--chunk-ms", "10"]),
        ("B", "accuracy, --no-role-chunk: ttft 100 ms, 10 ms/chunk, 1 token/chunk, 64 tokens",
         ["--ttft-ms", "100", "--chunk-ms", "10", "--no-role-chunk"]),
    ]
    with tempfile.TemporaryDirectory(prefix="bench_client_") as workdir:
        for part, title, mock_args in accuracy:
            mock = Mock(workdir, part, mock_args + ["--tokens-per-chunk", "1"])
            try:
                print(f"\n[{part}] {title}", flush=True)
                print(HEADER, flush=True)
                for client in CLIENTS:
                    for c in args.levels:
                        if out_of_time():
                            print(f"{client:<11}{c:>5}  skipped: time budget spent", flush=True)
                            continue
                        r = run_level(mock, client, c, accuracy_requests(c), args.max_tokens,
                                      f"{part}-{client}-c{c}")
                        rows.setdefault(part, []).append(r)
                        print(fmt_row(r), flush=True)
            finally:
                mock.stop()

        part = "C"
        mock = Mock(workdir, part, ["--ttft-ms", "20", "--chunk-ms", "2", "--tokens-per-chunk",
                                    "1", "--no-role-chunk"])
        try:
            print(f"\n[{part}] ingest limit, --no-role-chunk: ttft 20 ms, 2 ms/chunk, "
                  f"1 token/chunk, {args.max_tokens} tokens; rising concurrency until "
                  f"p99 TTFT err > {THRESHOLD_MS:g} ms", flush=True)
            print(HEADER, flush=True)
            for client in CLIENTS:
                best = None
                first_fail = None
                for c in args.ingest_levels:
                    if out_of_time():
                        print(f"{client:<11}{c:>5}  skipped: time budget spent", flush=True)
                        break
                    # a level over the threshold is run once more, so that one stall of this
                    # shared machine does not end the sweep; both runs are printed
                    for attempt in ("", "-retry"):
                        r = run_level(mock, client, c, ingest_requests(c), args.max_tokens,
                                      f"{part}-{client}-c{c}{attempt}")
                        rows.setdefault(part, []).append(r)
                        passed = under(r)
                        print(fmt_row(r) + ("" if passed else "   <- over")
                              + ("  (re-run)" if attempt else ""), flush=True)
                        if passed or out_of_time():
                            break
                    if not passed:
                        first_fail = r
                        break
                    best = r
                # one bisection step between the last level under and the first one over
                if best and first_fail and first_fail["concurrency"] - best["concurrency"] > 2 \
                        and not out_of_time():
                    c = (best["concurrency"] + first_fail["concurrency"]) // 2
                    r = run_level(mock, client, c, ingest_requests(c), args.max_tokens,
                                  f"{part}-{client}-c{c}-b")
                    rows[part].append(r)
                    passed = under(r)
                    print(fmt_row(r) + ("" if passed else "   <- over"), flush=True)
                    if passed:
                        best = r
                limits[client] = {"best": best, "first_fail": first_fail}
        finally:
            mock.stop()

    print(f"\nIngest limit (most SSE events/s with p99 TTFT delivery error <= {THRESHOLD_MS:g} ms,"
          f" one process):")
    for client in CLIENTS:
        best = limits.get(client, {}).get("best")
        fail = limits.get(client, {}).get("first_fail")
        if best is None:
            print(f"  {client:<11} none: over the threshold at the lowest level")
            continue
        note = (f"over at conc {fail['concurrency']} ({fail['events_per_s']:.0f} events/s, "
                f"p99 {fail['ttft_p99']:+.2f} ms)" if fail
                else "never over: the sweep (or the mock) ran out first")
        print(f"  {client:<11} {best['events_per_s']:>7.0f} events/s at conc "
              f"{best['concurrency']} (client CPU {best['cpu_pct']:.0f}%, mock CPU "
              f"{best['mock_cpu_pct']:.0f}%); {note}")
    print(f"\ntotal {time.perf_counter() - began:.0f} s; load average at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "limits": limits}, fh, indent=1)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(worker_main(sys.argv[1:]))
    sys.exit(main())
