"""What a distributed run costs the master, and what a second local worker process buys.

Issue 5's benchmark. One run, everything on 127.0.0.1, two parts:

(1) Master cost per shipped record, without HTTP. Four simulated workers each finish 5,000
    requests a second for 10 s (200,000 records). Each record is built as the Locust user builds
    it (``RequestRecord`` with 64 completion tokens, so 63 inter-chunk gaps in ``icl_ms``) and goes
    through the real worker path: ``store.Shipper`` -> message dict -> Locust's rpc encoding
    (``locust.rpc.protocol.Message(...).serialize()``, msgpack). The worker side is done before the
    clock starts. The master side is then replayed in real time (each batch at the moment its
    worker would send it): ``Message.unserialize`` + ``RecordStore.add_batch`` (CSV rows and live
    stats), then ``flush``/``close``. Two batch shapes: 1 batch/s/worker of 5,000 records (the
    Shipper's once-a-second flush), and 10 batches/s/worker of 500. Each shape runs in a fresh
    subprocess so that its memory figures are its own.

    * CPU us/record = process CPU time (``time.process_time``) of the master side / records;
    * records/s on one core = 1e6 / (CPU us/record);
    * core share = master CPU seconds / wall seconds of the replay (1.0 = a whole core busy);
    * RSS: peak growth (VmHWM after resetting it via /proc/self/clear_refs, minus the RSS before
      the replay; the workers' messages are built in another process and loaded as bytes, so
      the heap they leave does not hide the growth), and what is still held at the end;
    * python heap (tracemalloc) on 20,000 records flat out: peak while a batch is in flight, and
      what stays alive after close;
    * baseline: the same rows (read back from our own output, so the bytes written are identical)
      written with a bare ``csv.DictWriter``; the ratio ours/baseline is our overhead over "just
      write the CSV";
    * a breakdown of the master's cost by step (decode, from_dict, to_row, writerow, live stats;
      and inside to_row, ``dataclasses.asdict`` and the icl_ms formatting), flat out.

(2) Events/s of one vs two local worker processes against the mock engine. The same ladder
    (concurrency 64 then 256, 3,000 requests a stage, max_tokens 64, streamed; mock with ttft
    20 ms and 1 ms chunks of 1 token) is run with the plain local runner and with
    ``--processes 2``, alternately, ``--repeats`` (3) times each; medians are compared.
    events/s = sum of ``output_events`` in requests_c{N}.csv / summary_c{N}.json ``duration_s``.
    Also: qps and output tokens/s from summary_c{N}.json; the CPU of the whole Locust process
    tree (master + forked workers), of the mock and of everything else on the machine
    (/proc/stat), sampled every 0.1 s and taken over each stage's window; and the client section
    of overall_summary.json (max CPU% per node, the CPU warning). Stages of 3,000 requests
    (several seconds each) rather than a few hundred, so that start-up and the 1-second CPU
    samples do not dominate.

    NOTE: on a 2-core machine the mock engine, the master and the workers share the two cores
    (and so does anything else running): the script prints the core count and the "others" CPU
    so the reader can judge how far a second process could help.

    python scripts/bench_distributed.py                 # both parts, about 3-4 minutes
    python scripts/bench_distributed.py --part master   # only (1)
    python scripts/bench_distributed.py --part workers  # only (2)
    python scripts/bench_distributed.py --json out.json
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import pickle
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MODEL = "mock-model"
LOCUST_TIMEOUT_S = 240.0
SAMPLE_S = 0.1


# =========================================================================== part 1: master cost

def _rss_kib() -> tuple[int, int]:
    """(current RSS, peak RSS since the last reset) of this process, in KiB."""
    now = peak = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return now, peak


def _malloc_trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _make_record(rng: random.Random, node: str, index: int, start: float, tokens: int):
    """One finished streamed request, as ``user._record`` builds it (full-precision floats)."""
    from llmbench_locust.records import RequestRecord

    ttfb = rng.uniform(10.0, 40.0)
    ttft = ttfb + rng.uniform(5.0, 60.0)
    gaps = [rng.uniform(0.01, 3.0) for _ in range(tokens - 1)]
    generation = sum(gaps)
    latency = ttft + generation + rng.uniform(0.05, 0.5)
    return RequestRecord(
        request_id=f"{node}-{index}",
        stage=1,
        concurrency=64,
        worker=node,
        start_epoch=start,
        latency_ms=latency,
        ttfb_ms=ttfb,
        ttft_ms=ttft,
        itl_ms=generation / (tokens - 1),
        generation_ms=generation,
        prompt_tokens=6,
        completion_tokens=tokens,
        tokens_source="usage",
        http_status=200,
        ok=True,
        error_type="",
        error="",
        endpoint="chat.completions",
        stream=True,
        output_events=tokens,
        end_epoch=start + latency / 1000.0,
        icl_ms=gaps,
    )


def _build_messages(workers: int, rate: int, seconds: float, batch: int, tokens: int, seed: int):
    """The workers' side, done up front: [(due_s, node, encoded message, n_records)], time-ordered.

    Uses the real ``Shipper`` (``record.__dict__.copy()`` into a numbered batch with progress) and
    Locust's ``Message.serialize``. Returns also the worker-side CPU seconds spent.
    """
    from locust.rpc.protocol import Message

    from llmbench_locust.store import Shipper

    rng = random.Random(seed)
    per_worker = int(rate * seconds)
    interval = batch / rate
    out = []
    worker_cpu = 0.0
    t0 = time.time()
    for w in range(workers):
        node = f"vm_{w:032x}"
        sent: list = []
        state = {"sent": 0}
        shipper = Shipper(node, lambda kind, data, _n=node, _s=sent: _s.append((kind, data, _n)),
                          lambda: {"position": 1, "sent": state["sent"], "finished": state["sent"], "cpu": 42.0})
        offset = (w + 0.5) / workers * interval  # workers' flushes are not in step
        done = 0
        k = 0
        while done < per_worker:
            n = min(batch, per_worker - done)
            records = [_make_record(rng, node, done + i + 1, t0 + (done + i) / rate, tokens) for i in range(n)]
            c0 = time.process_time()
            shipper.add(records)
            state["sent"] += n
            shipper.flush()
            kind, data, _ = sent.pop()
            blob = Message(kind, data, node).serialize()
            worker_cpu += time.process_time() - c0
            k += 1
            out.append((offset + k * interval - interval, node, blob, n))
            done += n
    out.sort(key=lambda item: item[0])
    return out, worker_cpu


def _replay(messages, outdir: str, paced: bool) -> dict:
    """The master's side: decode + add_batch for each message, at its due time when ``paced``."""
    from locust.rpc.protocol import Message

    from llmbench_locust.store import RecordStore

    store = RecordStore(outdir)
    cpu_decode = cpu_add = 0.0
    max_lag = 0.0
    records = 0
    wall0 = time.perf_counter()
    for due, _node, blob, n in messages:
        if paced:
            wait = due - (time.perf_counter() - wall0)
            if wait > 0:
                time.sleep(wait)
            else:
                max_lag = max(max_lag, -wait)
        c0 = time.process_time()
        msg = Message.unserialize(blob)
        c1 = time.process_time()
        data = msg.data
        store.add_batch(data["node"], data["seq"], data["records"], data.get("progress"))
        c2 = time.process_time()
        cpu_decode += c1 - c0
        cpu_add += c2 - c1
        records += n
    c0 = time.process_time()
    store.flush()
    store.close()
    cpu_close = time.process_time() - c0
    wall = time.perf_counter() - wall0
    written = store.writer.count
    return {
        "records": records,
        "written": written,
        "cpu_decode_s": cpu_decode,
        "cpu_add_s": cpu_add + cpu_close,
        "cpu_s": cpu_decode + cpu_add + cpu_close,
        "wall_s": wall,
        "max_lag_s": max_lag,
        "_store": store,
    }


def _baseline(rows: list[dict], path: str) -> float:
    """CPU seconds to write ``rows`` (already formatted) with a bare csv.DictWriter."""
    from llmbench_locust.records import COLUMNS

    c0 = time.process_time()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return time.process_time() - c0


def _breakdown(messages, limit: int) -> dict:
    """us/record of each master step, flat out, on the first ``limit`` records of ``messages``."""
    from locust.rpc.protocol import Message

    from llmbench_locust.records import COLUMNS, RequestRecord
    from llmbench_locust.store import StageLive

    blobs = []
    total = 0
    for _due, _node, blob, n in messages:
        if total >= limit:
            break
        blobs.append(blob)
        total += n
    c0 = time.process_time()
    decoded = [Message.unserialize(blob).data["records"] for blob in blobs]
    c1 = time.process_time()
    recs = [RequestRecord.from_dict(row) for rows in decoded for row in rows]
    c2 = time.process_time()
    rows = [record.to_row() for record in recs]
    c3 = time.process_time()
    with tempfile.TemporaryFile("w+", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        for row in rows:
            writer.writerow(row)
        fh.flush()
    c4 = time.process_time()
    live = StageLive()
    for record in recs:
        live.add(record)
    c5 = time.process_time()
    for record in recs:
        dataclasses.asdict(record)
    c6 = time.process_time()
    for record in recs:
        " ".join(f"{gap:.3f}" for gap in record.icl_ms)
    c7 = time.process_time()
    us = 1e6 / total
    return {
        "records": total,
        "decode_us": (c1 - c0) * us,
        "from_dict_us": (c2 - c1) * us,
        "to_row_us": (c3 - c2) * us,
        "writerow_us": (c4 - c3) * us,
        "live_stats_us": (c5 - c4) * us,
        "asdict_us": (c6 - c5) * us,
        "icl_format_us": (c7 - c6) * us,
    }


def _traced(messages, outdir: str, limit: int) -> dict:
    """Python heap of the master side (tracemalloc), flat out on the first ``limit`` records:
    peak while decoding/adding, and what is still alive after close (the store's live stats)."""
    import gc
    import tracemalloc

    subset = []
    total = 0
    for item in messages:
        if total >= limit:
            break
        subset.append(item)
        total += item[3]
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    result = _replay(subset, outdir, paced=False)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return {"records": total, "peak_bytes_per_record": (peak - base) / total,
            "peak_mib": (peak - base) / 2**20, "held_bytes_per_record": (current - base) / total}


def master_case(workers: int, rate: int, seconds: float, batch: int, tokens: int, paced: bool) -> dict:
    """One batch shape, in this (fresh) process."""
    tmp = tempfile.mkdtemp(prefix="llmbench-bench-master-")
    try:
        # The workers' side is built in another process and handed over as one file of encoded
        # messages, so that its freed objects do not leave reusable heap in this process (which
        # would hide the master's memory growth).
        blob_path = os.path.join(tmp, "messages.pickle")
        cmd = [sys.executable, os.path.abspath(__file__), "--_build", str(batch), blob_path,
               "--workers", str(workers), "--rate", str(rate), "--seconds", str(seconds), "--tokens", str(tokens)]
        built = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, check=True)
        worker_cpu = json.loads(built.stdout.strip().splitlines()[-1])["worker_cpu_s"]
        with open(blob_path, "rb") as fh:
            messages = pickle.load(fh)
        os.remove(blob_path)
        n_records = sum(item[3] for item in messages)
        wire_bytes = sum(len(item[2]) for item in messages)
        # everything the replay touches is imported and warmed first (numpy alone is tens of MiB)
        import gc

        from locust.rpc.protocol import Message

        from llmbench_locust.store import RecordStore

        warm = RecordStore(os.path.join(tmp, "warm"))
        first = Message.unserialize(messages[0][2]).data
        warm.add_batch(first["node"], first["seq"], first["records"][:1], first.get("progress"))
        warm.live[1].p99()
        warm.close()
        del warm, first
        gc.collect()
        _malloc_trim()
        peak_reset = _reset_peak_rss()
        rss0, _ = _rss_kib()
        result = _replay(messages, os.path.join(tmp, "ours"), paced)
        rss_end, rss_peak = _rss_kib()
        store = result.pop("_store")
        csv_bytes = os.path.getsize(os.path.join(tmp, "ours", "requests_c64.csv"))
        with open(os.path.join(tmp, "ours", "requests_c64.csv"), encoding="utf-8") as fh:
            rows_on_disk = sum(1 for _ in fh) - 1
        del store
        if not peak_reset:
            rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # high-water of the whole process

        # baseline: the same rows (read back from our own file, so byte-identical once written),
        # written with a bare DictWriter
        with open(os.path.join(tmp, "ours", "requests_c64.csv"), newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        base_cpu = _baseline(rows, os.path.join(tmp, "baseline.csv"))
        base_bytes = os.path.getsize(os.path.join(tmp, "baseline.csv"))
        del rows
        parts = _breakdown(messages, limit=min(n_records, 20_000))
        traced = _traced(messages, os.path.join(tmp, "traced"), limit=min(n_records, 20_000))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    us = 1e6 / n_records
    return {
        "batch": batch,
        "batches": len(messages),
        "records": n_records,
        "rows_on_disk": rows_on_disk,
        "tokens_per_record": tokens,
        "wire_bytes_per_record": wire_bytes / n_records,
        "csv_bytes_per_record": csv_bytes / n_records,
        "baseline_csv_identical_size": base_bytes == csv_bytes,
        "worker_encode_us": worker_cpu * us,
        "master_decode_us": result["cpu_decode_s"] * us,
        "master_add_us": result["cpu_add_s"] * us,
        "master_us": result["cpu_s"] * us,
        "master_records_per_s_one_core": n_records / result["cpu_s"],
        "wall_s": result["wall_s"],
        "nominal_s": seconds,
        "core_share": result["cpu_s"] / result["wall_s"],
        "max_lag_s": result["max_lag_s"],
        "rss_peak_growth_mib": (rss_peak - rss0) / 1024.0,
        "rss_held_growth_mib": (rss_end - rss0) / 1024.0,
        "rss_held_bytes_per_record": (rss_end - rss0) * 1024.0 / n_records,
        "peak_method": "VmHWM after clear_refs" if peak_reset else "ru_maxrss (includes setup)",
        "baseline_us": base_cpu * us,
        "ratio_vs_baseline": result["cpu_s"] / base_cpu,
        "breakdown": parts,
        "traced": traced,
    }


def run_master_part(args) -> list[dict]:
    results = []
    for batch in (args.rate, args.rate // 10):
        cmd = [sys.executable, os.path.abspath(__file__), "--_master-case", str(batch),
               "--workers", str(args.workers), "--rate", str(args.rate), "--seconds", str(args.seconds),
               "--tokens", str(args.tokens)]
        if args.flat_out:
            cmd.append("--flat-out")
        print(f"[part 1] batch {batch}: {args.workers} workers x {args.rate} records/s x {args.seconds:g} s ...",
              file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"master case {batch} failed")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return results


# =========================================================================== part 2: 1 vs 2 processes

def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _start_mock(args, tmp: str):
    log = open(os.path.join(tmp, "mock.log"), "w+")
    cmd = [sys.executable, "-m", "llmbench_locust.mock", "--port", "0", "--model", MODEL,
           "--ttft-ms", str(args.ttft_ms), "--chunk-ms", str(args.chunk_ms), "--tokens-per-chunk", "1",
           "--slots", str(max([64] + [int(c) for c in args.concurrency.split(",")]))]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log.seek(0)
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read())
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    log.seek(0)
    raise SystemExit("mock did not start:\n" + log.read())


def _tree_pids(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return pids


def _tree_cpu_s(pid: int) -> float:
    total = 0.0
    for p in _tree_pids(pid):
        try:
            total += _proc_cpu_s(p)
        except OSError:
            pass
    return total


def _system_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat), to see other load on the box."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICKS


def _cpu_in_window(samples: list[tuple[float, float]], t0: float, t1: float) -> float | None:
    """CPU% over [t0, t1] from (epoch, cumulative CPU s) samples, interpolated at the edges."""
    def at(t):
        for (ta, ca), (tb, cb) in zip(samples, samples[1:]):
            if ta <= t <= tb:
                return ca if tb == ta else ca + (cb - ca) * (t - ta) / (tb - ta)
        return None

    a, b = at(t0), at(t1)
    if a is None or b is None or t1 <= t0:
        return None
    return 100.0 * (b - a) / (t1 - t0)


def _locust_run(args, url: str, outdir: str, processes: int, mock_pid: int) -> list[dict]:
    """One ladder run; one result per stage."""
    ladder = [int(c) for c in args.concurrency.split(",")]
    cmd = [sys.executable, "-m", "locust", "-f", "locustfiles/llm.py", "--headless", "--only-summary",
           "--host", url, "--model", MODEL, "--stream", "--concurrency", args.concurrency,
           "--requests-per-stage", str(args.requests), "--max-tokens", str(args.tokens),
           "--outdir", outdir, "--no-report"]
    if processes > 1:
        cmd += ["--processes", str(processes)]
    os.makedirs(outdir, exist_ok=True)
    log_path = os.path.join(os.path.dirname(outdir), f"locust_p{processes}.log")
    tree0 = _children_cpu_s()
    wall0 = time.perf_counter()
    client_samples: list[tuple[float, float]] = []
    mock_samples: list[tuple[float, float]] = []
    system_samples: list[tuple[float, float]] = []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + LOCUST_TIMEOUT_S
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise SystemExit(f"locust run with {processes} process(es) timed out")
            now = time.time()
            client_samples.append((now, _tree_cpu_s(proc.pid)))
            mock_samples.append((now, _proc_cpu_s(mock_pid)))
            system_samples.append((now, _system_busy_s()))
            time.sleep(SAMPLE_S)
    wall = time.perf_counter() - wall0
    tree = _children_cpu_s() - tree0
    if proc.returncode != 0:
        with open(log_path) as fh:
            sys.stderr.write(fh.read()[-4000:])
        raise SystemExit(f"locust run with {processes} process(es) failed ({proc.returncode})")
    with open(os.path.join(outdir, "overall_summary.json")) as fh:
        overall = json.load(fh)
    client = overall.get("client", {})
    cpu = client.get("max_cpu_percent", {})
    results = []
    for c in ladder:
        with open(os.path.join(outdir, f"summary_c{c}.json")) as fh:
            summary = json.load(fh)
        events = rows = 0
        first_start, last_end = float("inf"), 0.0
        ids: set = set()
        nodes: set = set()
        with open(os.path.join(outdir, f"requests_c{c}.csv"), newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rows += 1
                events += int(row["output_events"] or 0)
                ids.add(row["request_id"])
                nodes.add(row["worker"])
                first_start = min(first_start, float(row["start_epoch"]))
                last_end = max(last_end, float(row["end_epoch"] or row["start_epoch"]))
        duration = float(summary["duration_s"])
        client_pct = _cpu_in_window(client_samples, first_start, last_end)
        mock_pct = _cpu_in_window(mock_samples, first_start, last_end)
        system_pct = _cpu_in_window(system_samples, first_start, last_end)
        others = None
        if None not in (client_pct, mock_pct, system_pct):
            others = max(0.0, system_pct - client_pct - mock_pct)
        results.append({
            "processes": processes,
            "concurrency": c,
            "rows": rows,
            "unique_ids": len(ids),
            "load_nodes": len(nodes),
            "events": events,
            "duration_s": duration,
            "events_per_s": events / duration if duration > 0 else 0.0,
            "qps": float(summary["qps"]),
            "output_tokens_per_s": float(summary["output_tokens_per_s"]),
            "failures": int(summary.get("failures", 0)),
            "client_cpu_percent_stage": client_pct,
            "mock_cpu_percent_stage": mock_pct,
            "others_cpu_percent_stage": others,
            # run-wide (the summary's client section covers the whole run, not one stage)
            "max_cpu_percent": cpu,
            "max_cpu_load_sum": sum(v for k, v in cpu.items() if k != "master"),
            "mean_cpu_percent": client.get("mean_cpu_percent", {}),
            "cpu_warning": client.get("cpu_warning"),
            "tree_cpu_s": tree,
            "run_wall_s": wall,
        })
    return results


def run_workers_part(args) -> list[dict]:
    tmp = tempfile.mkdtemp(prefix="llmbench-bench-procs-")
    mock, url = _start_mock(args, tmp)
    runs = []
    try:
        for rep in range(args.repeats):
            for processes in (1, 2):
                print(f"[part 2] repeat {rep + 1}/{args.repeats}, {processes} process(es) ...",
                      file=sys.stderr, flush=True)
                outdir = os.path.join(tmp, f"r{rep}_p{processes}")
                for result in _locust_run(args, url, outdir, processes, mock.pid):
                    result["repeat"] = rep + 1
                    runs.append(result)
                shutil.rmtree(outdir, ignore_errors=True)
    finally:
        mock.terminate()
        try:
            mock.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mock.kill()
            mock.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return runs


# =========================================================================== output

def _median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def print_master(results: list[dict], args) -> None:
    total = args.workers * args.rate
    print(f"(1) MASTER COST PER SHIPPED RECORD  simulated {args.workers} workers x {args.rate:,} records/s "
          f"= {total:,} records/s for {args.seconds:g} s; records with {args.tokens} tokens "
          f"({args.tokens - 1} icl gaps); {'replayed in real time' if not args.flat_out else 'flat out'}")
    head = (f"{'batch':>6} {'batches':>7} {'records':>8} {'wire B/rec':>10} {'csv B/rec':>9} "
            f"{'decode us':>9} {'add us':>7} {'master us':>9} {'rec/s 1 core':>12} {'core@' + format(total, ',') + '/s':>13} "
            f"{'wall s':>6} {'RSS pk MiB':>10} {'RSS held MiB':>12} {'B/rec held':>10} "
            f"{'csv only us':>11} {'ratio':>6} {'worker enc us':>13}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['batch']:>6} {r['batches']:>7} {r['records']:>8} {r['wire_bytes_per_record']:>10.0f} "
              f"{r['csv_bytes_per_record']:>9.0f} {r['master_decode_us']:>9.2f} {r['master_add_us']:>7.2f} "
              f"{r['master_us']:>9.2f} {r['master_records_per_s_one_core']:>12,.0f} {r['core_share']:>13.2f} "
              f"{r['wall_s']:>6.1f} {r['rss_peak_growth_mib']:>10.1f} {r['rss_held_growth_mib']:>12.1f} "
              f"{r['rss_held_bytes_per_record']:>10.0f} {r['baseline_us']:>11.2f} {r['ratio_vs_baseline']:>6.2f} "
              f"{r['worker_encode_us']:>13.2f}")
    print()
    print("  columns: us = CPU microseconds per record (time.process_time); master us = decode (msgpack "
          "Message.unserialize) + add (RecordStore.add_batch incl. flush/close);")
    print("  rec/s 1 core = 1e6 / master us; core@N/s = master CPU s / wall s of the real-time replay "
          "(1.00 = one core saturated);")
    print(f"  wall s = how long the master took to take in {args.seconds:g} s of shipped records (more than "
          f"{args.seconds:g} = it fell behind; in a real run the unread messages would queue up);")
    print("  RSS pk = peak RSS growth during the replay (" + results[0]["peak_method"] + "); RSS held = growth "
          "still there after close (live stats + freed memory the allocator keeps);")
    print("  csv only = bare csv.DictWriter of the same pre-formatted rows;")
    print("  ratio = master us / csv only us; worker enc = worker side (Shipper + Message.serialize), paid "
          "on the workers, shown for scale.")
    for r in results:
        b = r["breakdown"]
        print(f"  breakdown, batch {r['batch']} (flat out, {b['records']:,} records, us/record): "
              f"decode {b['decode_us']:.2f} | from_dict {b['from_dict_us']:.2f} | to_row {b['to_row_us']:.2f} | "
              f"writerow {b['writerow_us']:.2f} | live stats {b['live_stats_us']:.2f}   "
              f"(inside to_row: dataclasses.asdict {b['asdict_us']:.2f}, icl_ms formatting {b['icl_format_us']:.2f})")
    for r in results:
        t = r["traced"]
        print(f"  python heap (tracemalloc), batch {r['batch']} ({t['records']:,} records flat out): peak "
              f"{t['peak_mib']:.1f} MiB = {t['peak_bytes_per_record']:.0f} B/record of the batch in flight; still "
              f"alive after close {t['held_bytes_per_record']:.0f} B/record (live stats, kept for the whole stage)")
    bad = [r for r in results if r["rows_on_disk"] != r["records"]]
    print("  check: rows on disk == records shipped: " + ("yes" if not bad else f"NO ({bad[0]['rows_on_disk']})")
          + "; baseline file the same size as ours: "
          + ("yes" if all(r["baseline_csv_identical_size"] for r in results) else "NO"))
    print()


def _node_label(node: str) -> str:
    return node if node in ("master", "local") else "w" + node[-4:]


def print_workers(runs: list[dict], args) -> None:
    ladder = [int(c) for c in args.concurrency.split(",")]
    print(f"(2) EVENTS/S, 1 vs 2 LOCAL WORKER PROCESSES  mock: ttft {args.ttft_ms:g} ms, {args.chunk_ms:g} ms "
          f"chunks of 1 token; ladder {args.concurrency}, {args.requests} requests a stage, max_tokens {args.tokens}, "
          f"stream; {args.repeats} runs of each, alternated")
    print(f"  machine: {os.cpu_count()} CPU cores, shared by the mock engine, the load generator (master + workers) "
          f"and anything else running: two worker processes cannot each get a free core here.")
    head = (f"{'run':>3} {'procs':>5} {'conc':>5} {'rows':>5} {'nodes':>5} {'events':>7} {'stage s':>7} {'events/s':>9} "
            f"{'qps':>7} {'out tok/s':>9} {'fail':>4} {'client CPU%':>11} {'mock CPU%':>9} {'others CPU%':>11}")
    print(head)
    print("-" * len(head))

    def pct(v):
        return "-" if v is None else f"{v:.0f}"

    for r in runs:
        print(f"{r['repeat']:>3} {r['processes']:>5} {r['concurrency']:>5} {r['rows']:>5} {r['load_nodes']:>5} "
              f"{r['events']:>7} {r['duration_s']:>7.2f} {r['events_per_s']:>9,.0f} {r['qps']:>7.1f} "
              f"{r['output_tokens_per_s']:>9,.0f} {r['failures']:>4} {pct(r['client_cpu_percent_stage']):>11} "
              f"{pct(r['mock_cpu_percent_stage']):>9} {pct(r['others_cpu_percent_stage']):>11}")
    print()
    print("  overall_summary.json client section (whole run, both stages; max CPU% per node, w.... = worker id's "
          "last 4 chars):")
    seen = set()
    for r in runs:
        key = (r["repeat"], r["processes"])
        if key in seen:
            continue
        seen.add(key)
        mx = ", ".join(f"{_node_label(k)}={v:.0f}" for k, v in r["max_cpu_percent"].items())
        mean = ", ".join(f"{_node_label(k)}={v:.0f}" for k, v in r["mean_cpu_percent"].items())
        print(f"    run {r['repeat']}, {r['processes']} proc: max {{{mx}}}" + (f"  mean {{{mean}}}" if mean else "")
              + f"  cpu_warning={r['cpu_warning']}  (locust tree {r['tree_cpu_s']:.1f} CPU s over "
              f"{r['run_wall_s']:.1f} s wall incl. start-up)")
    print()
    for r in runs:
        cpu = r["client_cpu_percent_stage"]
        r["events_per_client_cpu_s"] = r["events_per_s"] / (cpu / 100.0) if cpu else None
    keys = ("events_per_s", "qps", "output_tokens_per_s", "client_cpu_percent_stage", "mock_cpu_percent_stage",
            "others_cpu_percent_stage", "events_per_client_cpu_s")
    print(f"  {'':<14} {'median':>10} {'best':>10} {'median':>8} {'median':>10} {'median':>11} {'median':>9} "
          f"{'median':>11} {'median events':>14}")
    print(f"  {'':<14} {'events/s':>10} {'events/s':>10} {'qps':>8} {'out tok/s':>10} {'client CPU%':>11} "
          f"{'mock CPU%':>9} {'others CPU%':>11} {'/ client CPU s':>14}")
    for c in ladder:
        med, best = {}, {}
        for p in (1, 2):
            sel = [r for r in runs if r["processes"] == p and r["concurrency"] == c]
            med[p] = {k: _median([r[k] for r in sel if r[k] is not None] or [float("nan")]) for k in keys}
            best[p] = max(r["events_per_s"] for r in sel)
            m = med[p]
            print(f"  {f'c{c}, {p} proc':<14} {m['events_per_s']:>10,.0f} {best[p]:>10,.0f} {m['qps']:>8.1f} "
                  f"{m['output_tokens_per_s']:>10,.0f} {m['client_cpu_percent_stage']:>11.0f} "
                  f"{m['mock_cpu_percent_stage']:>9.0f} {m['others_cpu_percent_stage']:>11.0f} "
                  f"{m['events_per_client_cpu_s']:>14,.0f}")

        def ratio(key):
            return med[2][key] / med[1][key] if med[1][key] else float("nan")

        print(f"  {f'c{c}, 2/1':<14} {ratio('events_per_s'):>10.2f} {best[2] / best[1]:>10.2f} {ratio('qps'):>8.2f} "
              f"{ratio('output_tokens_per_s'):>10.2f} {ratio('client_cpu_percent_stage'):>11.2f} "
              f"{ratio('mock_cpu_percent_stage'):>9.2f} {'':>11} {ratio('events_per_client_cpu_s'):>14.2f}")
    print()
    print("  best = the highest of the runs (other load on the machine only ever slows a run down); events / client "
          "CPU s = events/s per core the client used.")
    print("  events/s = sum(output_events of requests_c{N}.csv) / summary_c{N}.json duration_s; qps, out tok/s "
          "from summary_c{N}.json;")
    print("  client CPU% = the whole locust process tree (master + forked workers), mock CPU% = the mock, others = "
          "the rest of the machine (/proc/stat busy minus both),")
    print("  all sampled every 0.1 s and taken over the stage window (first start .. last end); 100 = one core, "
          f"{100 * (os.cpu_count() or 1)} = the machine.")
    bad = [r for r in runs if r["rows"] != args.requests or r["unique_ids"] != args.requests
           or r["load_nodes"] != r["processes"] or r["failures"]]
    print(f"  check: every stage has {args.requests} rows, unique ids, no failures, and as many load nodes as "
          "processes: " + ("yes" if not bad else f"NO ({len(bad)} stages)"))
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("all", "master", "workers"), default="all")
    ap.add_argument("--workers", type=int, default=4, help="simulated workers (part 1)")
    ap.add_argument("--rate", type=int, default=5000, help="records/s per simulated worker (part 1)")
    ap.add_argument("--seconds", type=float, default=10.0, help="simulated duration (part 1)")
    ap.add_argument("--tokens", type=int, default=64, help="completion tokens per record / max_tokens")
    ap.add_argument("--flat-out", action="store_true", help="part 1: replay as fast as possible, not in real time")
    ap.add_argument("--concurrency", default="64,256", help="part 2 ladder (one stage per level)")
    ap.add_argument("--requests", type=int, default=3000, help="part 2 requests per stage")
    ap.add_argument("--ttft-ms", type=float, default=20.0)
    ap.add_argument("--chunk-ms", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3, help="part 2: runs of each process count (alternated)")
    ap.add_argument("--json", help="also write all figures here")
    ap.add_argument("--_master-case", type=int, dest="master_case", help=argparse.SUPPRESS)
    ap.add_argument("--_build", nargs=2, dest="build", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.build:
        batch, path = int(args.build[0]), args.build[1]
        messages, worker_cpu = _build_messages(args.workers, args.rate, args.seconds, batch, args.tokens, seed=batch)
        with open(path, "wb") as fh:
            pickle.dump(messages, fh, protocol=pickle.HIGHEST_PROTOCOL)
        print(json.dumps({"worker_cpu_s": worker_cpu}))
        return
    if args.master_case:
        result = master_case(args.workers, args.rate, args.seconds, args.master_case, args.tokens,
                             paced=not args.flat_out)
        print(json.dumps(result))
        return

    import locust

    import llmbench_locust

    t0 = time.perf_counter()
    print(f"llmbench-locust {llmbench_locust.__version__}, locust {locust.__version__}, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPU cores, all on 127.0.0.1; "
          f"load average at start {os.getloadavg()[0]:.2f}")
    print()
    out: dict = {"cpu_count": os.cpu_count()}
    if args.part in ("all", "master"):
        out["master"] = run_master_part(args)
        print_master(out["master"], args)
    if args.part in ("all", "workers"):
        out["workers"] = run_workers_part(args)
        print_workers(out["workers"], args)
    print(f"total time {time.perf_counter() - t0:.0f} s; load average at end {os.getloadavg()[0]:.2f} "
          f"(other sessions' processes share this machine)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
