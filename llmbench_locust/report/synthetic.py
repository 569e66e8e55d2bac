"""A deterministic, synthetic output folder shaped like a real run, for report tests and benchmarks.

The numbers follow a continuous-batching server with a fixed number of slots: below the slot
count latency is flat and QPS grows; above it requests queue, so QPS flattens while latency
(and TTFT) climb — the saturation curve the report has to explain. Summary files are written by
``summary.py`` exactly as a run would, so tests can compare the report with them.
"""

from __future__ import annotations

import csv
import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llmbench_locust import gating, summary
from llmbench_locust.records import RequestRecord, StageCsvWriter

T0 = 1_700_000_000.0
LOCUST_PCTS = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%")
XSS_MESSAGE = 'upstream said: <script>window.__xss = 1</script><img src=x onerror="window.__xss=2"> & "quotes"'


@dataclass
class Scenario:
    """What kind of run to fake. Defaults: a healthy streaming run that saturates at 8 slots."""

    concurrency: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    requests_per_stage: int = 40
    stream: bool = True
    usage: bool = True               # False: token counts from chunks (tokens_source=chunks)
    slots: int = 8
    prefill_ms: float = 60.0
    itl_ms: float = 12.0
    max_tokens: int = 64
    error_from: int | None = 32      # concurrency from which some requests fail
    error_rate: float = 0.1
    fail_all: bool = False
    run_stages: int | None = None    # run only the first N stages of the ladder (missing stages)
    killed: bool = False             # last run stage cut short: partial, no summary file of its own
    write_summaries: bool = True
    write_locust: bool = True
    client_busy: bool = False
    seed: int = 7
    slo: str = ""                    # --slo text: stages get goodput, overall_summary.json a gate
    baseline: str | None = None      # --baseline: an earlier synthetic folder → regression.json
    max_regression: str = ""
    slo_min_concurrency: int | None = None


def _stage_records(sc: Scenario, stage: int, c: int, start: float, n: int, rng: np.random.Generator,
                   first_id: int) -> list[RequestRecord]:
    """A closed loop of ``c`` users sending ``n`` requests in total, starting at ``start``."""
    users = [(start + i * 0.001, i) for i in range(c)]
    heapq.heapify(users)
    queue_factor = max(0.0, (c - sc.slots) / sc.slots)
    itl = sc.itl_ms * (1 + 0.04 * min(c, sc.slots))
    records = []
    for k in range(n):
        t, user = heapq.heappop(users)
        tokens = int(sc.max_tokens - rng.integers(0, 8))
        service = sc.prefill_ms + itl * (tokens - 1)
        wait = queue_factor * service * float(rng.uniform(0.7, 1.3))
        ttfb = 5.0 + float(rng.uniform(0, 1))
        ttft = sc.prefill_ms * float(rng.uniform(0.9, 1.1)) + wait + ttfb
        gen = itl * (tokens - 1) * float(rng.uniform(0.95, 1.05))
        latency = ttft + gen
        failing = sc.fail_all or (sc.error_from is not None and c >= sc.error_from and rng.random() < sc.error_rate)
        rid = f"r{first_id + k:07d}"
        if failing:
            kind = ("http_5xx", "http_429", "timeout")[k % 3]
            status = {"http_5xx": 500, "http_429": 429, "timeout": None}[kind]
            message = {"http_5xx": XSS_MESSAGE, "http_429": "rate limited: too many requests (queue full)",
                       "timeout": "no response within 3.0 s"}[kind]
            latency = latency * 0.3 if kind != "timeout" else 3000.0
            record = RequestRecord(rid, stage, c, f"w{user % 2}", t, latency_ms=latency, ttfb_ms=ttfb,
                                   http_status=status, ok=False, error_type=kind, error=message,
                                   endpoint="chat.completions", stream=sc.stream, end_epoch=t + latency / 1000)
        else:
            record = RequestRecord(
                rid, stage, c, f"w{user % 2}", t, latency_ms=latency, ttfb_ms=ttfb,
                ttft_ms=ttft if sc.stream else None,
                itl_ms=gen / (tokens - 1) if sc.stream else None,
                generation_ms=gen if sc.stream else latency,
                prompt_tokens=23 if sc.usage else None, completion_tokens=tokens,
                tokens_source="usage" if sc.usage else "chunks", http_status=200, ok=True,
                endpoint="chat.completions", stream=sc.stream, output_events=tokens if sc.stream else 0,
                end_epoch=t + latency / 1000)
        records.append(record)
        heapq.heappush(users, (t + latency / 1000 + 0.0002, user))
    return records


def _write_locust(outdir: Path, records: list[RequestRecord], stages: list[tuple[int, float, float]]) -> None:
    """Locust-shaped CSVs: a once-a-second Aggregated history, totals, and a failure list."""
    ends = np.array([r.end_epoch for r in records])
    failed = np.array([not r.ok for r in records])
    lat = np.array([r.latency_ms for r in records])
    first, last = int(min(s[1] for s in stages)), int(max(s[2] for s in stages)) + 2
    header = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *LOCUST_PCTS,
              "Total Request Count", "Total Failure Count", "Total Median Response Time",
              "Total Average Response Time", "Total Min Response Time", "Total Max Response Time",
              "Total Average Content Size"]
    with open(outdir / "locust_stats_history.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for ts in range(first, last + 1):
            users = next((c for c, a, b in stages if a <= ts <= b + 0.5), 0)
            window = (ends > ts - 10) & (ends <= ts)
            done = ends <= ts
            rps = window.sum() / 10.0
            fps = (window & failed).sum() / 10.0
            w.writerow([ts, users, "", "Aggregated", f"{rps:.6f}", f"{fps:.6f}", *(["N/A"] * len(LOCUST_PCTS)),
                        int(done.sum()), int((done & failed).sum()), 0, 0.0, 0, 0, 0.0])
    with open(outdir / "locust_stats.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Type", "Name", "Request Count", "Failure Count", "Median Response Time",
                    "Average Response Time", "Min Response Time", "Max Response Time", "Average Content Size",
                    "Requests/s", "Failures/s", *LOCUST_PCTS])
        for name in ("/v1/chat/completions", "Aggregated"):
            w.writerow(["POST" if name != "Aggregated" else "", name, len(records), int(failed.sum()),
                        int(np.median(lat)), float(lat.mean()), int(lat.min()), int(lat.max()), 900.0,
                        1.0, 0.0, *(["N/A"] * len(LOCUST_PCTS))])
    with open(outdir / "locust_failures.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Method", "Name", "Error", "Occurrences"])
        kinds: dict[str, int] = {}
        for r in records:
            if not r.ok:
                kinds[r.error] = kinds.get(r.error, 0) + 1
        for error, n in kinds.items():
            w.writerow(["POST", "/v1/chat/completions", error, n])


def _gate_fields(outdir: Path, sc: Scenario, summaries: list[dict], bounds: dict, config: dict) -> dict:
    """The gate as a run records it (gating.evaluate, regression.json): every run records one,
    with or without SLOs and a baseline."""
    baseline = gating.load_baseline(sc.baseline) if sc.baseline else None
    allowed = gating.parse_max_regression_option(sc.max_regression) if baseline else {}
    gate = gating.evaluate(summaries, bounds, baseline, allowed, slo_min_concurrency=sc.slo_min_concurrency,
                           config=config)
    gating.write_outputs(str(outdir), gate)
    return gating.overall_fields(gate)


def build(outdir: str | Path, sc: Scenario | None = None) -> Path:
    """Write a fake run's output folder; returns its path."""
    sc = sc or Scenario()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sc.seed)
    bounds = gating.parse_slo_option(sc.slo)
    ladder = sc.concurrency[: sc.run_stages] if sc.run_stages else list(sc.concurrency)
    writer = StageCsvWriter(str(outdir))
    all_records, windows, summaries, partial = [], [], [], []
    t = T0
    for i, c in enumerate(ladder, start=1):
        n = sc.requests_per_stage
        killed = sc.killed and i == len(ladder)
        if killed:
            n = max(1, n // 3)
            partial.append(c)
        records = _stage_records(sc, i, c, t, n, rng, len(all_records))
        writer.write_many(records)
        writer.flush()
        all_records += records
        end = max(r.end_epoch for r in records)
        windows.append((c, t, end))
        frame = summary.read_requests_csv(outdir / f"requests_c{c}.csv")
        stage_summary = summary.summarize_stage(frame, stage=i, concurrency=c, slo=bounds or None)
        if sc.write_summaries and not killed:
            (outdir / f"summary_c{c}.json").write_text(json.dumps(summary.to_jsonable(stage_summary), indent=2))
        summaries.append(stage_summary)
        t = end + 0.5
    writer.close()
    if sc.write_summaries:
        complete = [s for s in summaries if s["concurrency"] not in partial]
        summary.summary_table(complete).to_csv(outdir / "summary_all.csv", index=False)
        config = {"base_url": "http://127.0.0.1:8000", "model": "demo-<b>model</b>", "endpoint": "chat.completions",
                  "concurrency": list(sc.concurrency), "requests_per_stage": sc.requests_per_stage,
                  "stream": sc.stream, "max_tokens": sc.max_tokens, "api_key": "sk-should-never-show",
                  "headers": [["X-Trace", "1"]], "extra_body": {"ignore_eos": True},
                  "slo": sc.slo, "slo_min_concurrency": sc.slo_min_concurrency, "baseline": sc.baseline or "",
                  "max_regression": sc.max_regression}
        peak = 97.5 if sc.client_busy else 35.0
        client = {"max_cpu_percent": {"local": peak}, "cpu_warning": sc.client_busy,
                  "cpu_warning_nodes": ["local"] if sc.client_busy else [],
                  "verdict": "suspect: load generator CPU near its limit" if sc.client_busy else "ok"}
        overall = summary.overall_summary(complete, config, partial_stages=partial, client=client,
                                          generated_at="2023-11-14T22:13:20+00:00")
        overall.update(_gate_fields(outdir, sc, complete, bounds, config))
        (outdir / "overall_summary.json").write_text(json.dumps(overall, indent=2))
    if sc.write_locust:
        _write_locust(outdir, all_records, windows)
    return outdir
