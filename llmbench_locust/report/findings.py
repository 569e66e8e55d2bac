"""Reading the charts for the user: rules over the stage table that end in sentences with numbers.

Each rule is a pure function of the per-stage table (summary_all.csv columns), the saturation
hints and the run's overall summary, so a finding can always be traced back to figures printed
elsewhere in the report. Rules stay silent when their inputs are undefined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .verdict import regressions_by_metric

# A TTFT rise of at least this factor with ITL within ITL_FLAT reads as queueing/prefill-bound.
TTFT_GROWTH = 2.0
ITL_FLAT = 1.5
CPU_BUSY_PERCENT = 90.0


@dataclass(frozen=True)
class Finding:
    """``level``: 'bad' (act on it), 'warn' (read figures with care) or 'info'."""

    key: str
    level: str
    text: str


def _num(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def ms(value: float) -> str:
    return f"{value:,.1f} ms" if abs(value) >= 10 else f"{value:,.2f} ms"


def rate(value: float, unit: str = "req/s") -> str:
    return f"{value:,.2f} {unit}"


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def change(old: float, new: float) -> str:
    """'+12.3%' style relative change, or '×4.2' when it is large enough to read better that way."""
    if old == 0:
        return "from zero"
    ratio = new / old
    return f"×{ratio:.2f}" if ratio >= 2 else f"{(ratio - 1) * 100:+.1f}%"


def _rows(table: pd.DataFrame) -> list[dict]:
    if table is None or table.empty:
        return []
    return table.sort_values("concurrency", kind="stable").to_dict("records")


def _row(rows: list[dict], concurrency) -> dict | None:
    for row in rows:
        if concurrency is not None and row.get("concurrency") == concurrency:
            return row
    return None


def no_successes(rows: list[dict], errors: dict[str, int]) -> list[Finding]:
    if not rows or any((_num(r.get("successes")) or 0) > 0 for r in rows):
        return []
    total = int(sum(_num(r.get("requests")) or 0 for r in rows))
    kinds = ", ".join(f"{k} {v}" for k, v in errors.items()) or "no error types recorded"
    return [Finding("no_successes", "bad",
                    f"No request succeeded: all {total} requests in {len(rows)} stage(s) failed ({kinds}). "
                    "Latency, TTFT, QPS and token figures are undefined; see the errors table for the "
                    "server's messages.")]


def qps_peak(rows: list[dict], hints: dict) -> list[Finding]:
    """Where QPS peaks, and how much p99 latency rises beyond the peak."""
    rated = [r for r in rows if _num(r.get("qps")) is not None and (_num(r.get("successes")) or 0) > 0]
    if not rated:
        return []
    best_c = hints.get("best_qps_at_concurrency")
    best = _row(rated, best_c) or max(rated, key=lambda r: r["qps"])
    best_q, best_c = float(best["qps"]), best["concurrency"]
    last = rated[-1]
    if len(rated) == 1:
        return [Finding("qps_peak", "info", f"One stage only: {rate(best_q)} at concurrency {best_c}.")]
    if last is best:
        prev = rated[-2]
        return [Finding("qps_peak", "info",
                        f"QPS is highest at the last stage, concurrency {best_c} ({rate(best_q)}, "
                        f"{change(prev['qps'], best_q)} over {rate(prev['qps'])} at concurrency "
                        f"{prev['concurrency']}): the server did not saturate within this ladder; "
                        "extend --concurrency to find the peak.")]
    text = (f"QPS peaks at {rate(best_q)} at concurrency {best_c}. "
            f"At the highest concurrency tested ({last['concurrency']}) QPS is {rate(last['qps'])} "
            f"({change(best_q, last['qps'])})")
    p99_best, p99_last = _num(best.get("latency_p99_ms")), _num(last.get("latency_p99_ms"))
    if p99_best is not None and p99_last is not None:
        text += (f" while latency p99 rises from {ms(p99_best)} to {ms(p99_last)} "
                 f"({change(p99_best, p99_last)}): load beyond concurrency {best_c} only adds waiting.")
    else:
        text += "."
    return [Finding("qps_peak", "info", text)]


def saturation(rows: list[dict], hints: dict) -> list[Finding]:
    """Explain the saturation hint with the two stages that triggered it."""
    sat = hints.get("saturation_concurrency")
    if sat is None:
        if not any((_num(r.get("successes")) or 0) > 0 for r in rows):
            return []
        if len([r for r in rows if _num(r.get("qps")) is not None]) >= 2 and hints:
            return [Finding("saturation", "info",
                            "No saturation point by the rule (QPS gain under 10% with p99 latency up over "
                            "50% between consecutive stages) within this ladder.")]
        return []
    index = next((i for i, r in enumerate(rows) if r.get("concurrency") == sat), None)
    if index is None or index + 1 >= len(rows):
        return [Finding("saturation", "warn", f"Saturation hint: concurrency {sat}.")]
    a, b = rows[index], rows[index + 1]
    qa, qb = _num(a.get("qps")), _num(b.get("qps"))
    pa, pb = _num(a.get("latency_p99_ms")), _num(b.get("latency_p99_ms"))
    text = f"The server saturates around concurrency {sat}: going to {b['concurrency']}"
    if None not in (qa, qb, pa, pb):
        moves = "gains only" if qb >= qa else "falls"
        text += (f", QPS {moves} {change(qa, qb)} ({rate(qa)} → {rate(qb)}) while latency p99 "
                 f"rises {change(pa, pb)} ({ms(pa)} → {ms(pb)}).")
    else:
        text += "."
    return [Finding("saturation", "warn", text + " Run at or below this concurrency for latency-sensitive "
                                                 "traffic.")]


def error_onset(rows: list[dict], hints: dict, errors_by_stage: pd.DataFrame) -> list[Finding]:
    onset = hints.get("error_onset_concurrency")
    if onset is None:
        failed = int(sum(_num(r.get("failures")) or 0 for r in rows))
        if failed and any((_num(r.get("successes")) or 0) > 0 for r in rows):
            total = int(sum(_num(r.get("requests")) or 0 for r in rows))
            return [Finding("errors", "info", f"{failed} of {total} requests failed, no stage reaching the "
                                              "error-rate threshold; see the errors table.")]
        return []
    row = _row(rows, onset)
    text = f"Errors start at concurrency {onset}"
    if row is not None and _num(row.get("error_rate")) is not None:
        text += (f": {pct(row['error_rate'])} of requests failed "
                 f"({int(_num(row.get('failures')) or 0)} of {int(_num(row.get('requests')) or 0)})")
    if errors_by_stage is not None and not errors_by_stage.empty:
        here = errors_by_stage[errors_by_stage["concurrency"] == onset]
        if not here.empty:
            top = here.sort_values("count", ascending=False, kind="stable").iloc[0]
            text += f", mostly {top['error_type']} ({int(top['count'])})"
    return [Finding("errors", "bad", text + ". Errors under load usually mean a queue limit, rate limit "
                                            "or timeout on the server side.")]


def ttft_vs_itl(rows: list[dict]) -> list[Finding]:
    """TTFT rising while ITL stays flat points at queueing/prefill; ITL rising points at decode."""
    both = [r for r in rows if _num(r.get("ttft_p50_ms")) is not None and _num(r.get("itl_p50_ms")) is not None]
    if len(both) < 2:
        return []
    a, b = both[0], both[-1]
    t_ratio = b["ttft_p50_ms"] / a["ttft_p50_ms"] if a["ttft_p50_ms"] > 0 else math.inf
    i_ratio = b["itl_p50_ms"] / a["itl_p50_ms"] if a["itl_p50_ms"] > 0 else math.inf
    span = (f"from concurrency {a['concurrency']} to {b['concurrency']}, TTFT p50 goes "
            f"{ms(a['ttft_p50_ms'])} → {ms(b['ttft_p50_ms'])} ({change(a['ttft_p50_ms'], b['ttft_p50_ms'])}) "
            f"and ITL p50 {ms(a['itl_p50_ms'])} → {ms(b['itl_p50_ms'])} ({change(a['itl_p50_ms'], b['itl_p50_ms'])})")
    share = ""
    if _num(b.get("latency_p50_ms")):
        share = (f" At concurrency {b['concurrency']} the first token takes "
                 f"{pct(b['ttft_p50_ms'] / b['latency_p50_ms'])} of the median request latency.")
    if t_ratio >= TTFT_GROWTH and i_ratio <= ITL_FLAT:
        return [Finding("ttft_itl", "warn",
                        f"TTFT grows while ITL stays flat: {span}. Requests wait before their first token "
                        "while decoding speed is unchanged, so queueing or prefill is the bottleneck "
                        "(scheduler admission, batch slots, prompt processing), not decode." + share)]
    if t_ratio >= TTFT_GROWTH and t_ratio >= 3 * i_ratio:
        return [Finding("ttft_itl", "warn",
                        f"TTFT grows far faster than ITL: {span}. Decode slows somewhat as the batch fills, "
                        "but most of the added latency is waiting for the first token — queueing or prefill "
                        "dominates." + share)]
    if i_ratio > ITL_FLAT:
        return [Finding("ttft_itl", "info",
                        f"Decode slows with load: {span}. Each decode step gets slower as more sequences "
                        "share the batch; per-stream speed is traded for total throughput." + share)]
    return [Finding("ttft_itl", "info", f"TTFT and ITL stay close: {span}." + share)]


def tps_trend(rows: list[dict]) -> list[Finding]:
    both = [r for r in rows if _num(r.get("tps")) is not None and _num(r.get("output_tokens_per_s")) is not None]
    if len(both) < 2:
        return []
    a, b = both[0], both[-1]
    return [Finding("tps", "info",
                    f"Per-stream speed goes {rate(a['tps'], 'tokens/s')} → {rate(b['tps'], 'tokens/s')} "
                    f"({change(a['tps'], b['tps'])}) from concurrency {a['concurrency']} to {b['concurrency']}, "
                    f"while total output goes {rate(a['output_tokens_per_s'], 'tokens/s')} → "
                    f"{rate(b['output_tokens_per_s'], 'tokens/s')} "
                    f"({change(a['output_tokens_per_s'], b['output_tokens_per_s'])}).")]


def tokens_from_chunks(rows: list[dict]) -> list[Finding]:
    """Token counts from counting stream chunks are estimates: one chunk may carry several tokens."""
    stages = [(r["concurrency"], int(_num(r.get("tokens_source_chunks")) or 0), int(_num(r.get("successes")) or 0))
              for r in rows if (_num(r.get("tokens_source_chunks")) or 0) > 0]
    if not stages:
        return []
    where = ", ".join(f"{c} ({n} of {ok} successes)" for c, n, ok in stages)
    return [Finding("tokens_source", "warn",
                    f"Token counts at concurrency {where} come from counting streamed chunks because the "
                    "server sent no usage: per-stream TPS, total output tokens/s and ITL are estimates "
                    "(a chunk may hold more than one token, so TPS reads low and ITL high). Ask the server "
                    "for usage (stream_options.include_usage) for exact figures.")]


def client_health(overall: dict | None) -> list[Finding]:
    """The run's own verdict on the load generator (overall_summary.json → client)."""
    client = (overall or {}).get("client")
    if not isinstance(client, dict):
        return []
    peaks = client.get("max_cpu_percent") if isinstance(client.get("max_cpu_percent"), dict) else {}
    busy = {node: _num(value) for node, value in peaks.items() if (_num(value) or 0) >= CPU_BUSY_PERCENT}
    if not client.get("cpu_warning") and not busy:
        return []
    figures = "; ".join(f"{node} peaked at {value:g}% CPU" for node, value in sorted(busy.items()))
    text = ("The load generator's CPU was near its limit" + (f" ({figures})" if figures else "")
            + ": client-side figures are suspect — measured latency and TTFT may include time the request "
            "waited in the client, and QPS may be capped by the client rather than the server. Spread the "
            "load over more Locust worker processes (--processes) or machines.")
    return [Finding("client_cpu", "bad", text)]


def slo_goodput(rows: list[dict]) -> list[Finding]:
    rated = [r for r in rows if _num(r.get("goodput_qps")) is not None]
    if not rated:
        return []
    best = max(rated, key=lambda r: r["goodput_qps"])
    text = f"Best goodput (requests meeting every SLO): {rate(best['goodput_qps'])} at concurrency {best['concurrency']}"
    if _num(best.get("goodput_ratio")) is not None:
        text += f", {pct(best['goodput_ratio'])} of its requests within SLO"
    return [Finding("slo", "info", text + ".")]


def _signed(value: float) -> str:
    return f"{value * 100:+.1f}%"


def _regressed_metric(metric: str, checks: list[dict]) -> str:
    """'qps (allowed 10%): c=1 6.418 → 4.590 (−28.5%), …' — every regressed stage of one metric."""
    stages = ", ".join(
        f"c={c['concurrency']} {c['baseline']:,.4g} → "
        + ("not measured" if _num(c.get("current")) is None else f"{c['current']:,.4g} ({_signed(c['change'])})")
        for c in checks)
    allowed = sorted({pct(c["allowed"]) for c in checks if _num(c.get("allowed")) is not None})
    return f"{metric} (allowed {'/'.join(allowed)} worse): {stages}"


def baseline_regression(regression: dict | None) -> list[Finding]:
    """Which metrics got worse than the baseline, at which stages, by how much (regression.json)."""
    if not isinstance(regression, dict):
        return []
    source = (regression.get("baseline") or {}).get("source") or "the baseline"
    checks = [c for c in regression.get("checks") or [] if isinstance(c, dict)]
    found = []
    if regression.get("problem"):
        found.append(Finding("regression", "bad", f"Baseline comparison with {source} failed: {regression['problem']}."))
    grouped = regressions_by_metric(regression)
    if grouped:
        stages = sorted({c["stage"] for g in grouped.values() for c in g if c.get("stage") is not None})
        concs = sorted({c["concurrency"] for g in grouped.values() for c in g})
        where = (f"stage{'s' if len(stages) > 1 else ''} {', '.join(str(s) for s in stages)} "
                 f"(concurrency {', '.join(str(c) for c in concs)})")
        n = sum(len(g) for g in grouped.values())
        found.append(Finding("regression", "bad",
                             f"Regressed against {source}: {n} of {len(checks)} checks beyond their allowance, "
                             f"in {', '.join(grouped)} at {where}. "
                             + "; ".join(_regressed_metric(m, g) for m, g in grouped.items()) + "."))
    elif checks and not regression.get("problem"):
        judged = [c for c in checks if _num(c.get("worse_by")) is not None]
        text = f"No regression against {source}: all {len(checks)} checks within their allowance"
        if judged:
            worst = max(judged, key=lambda c: c["worse_by"])
            text += (f" (closest: {worst['metric']} at concurrency {worst['concurrency']}, "
                     f"{_signed(worst['change'])}, allowed {pct(worst['allowed'])} worse)")
        found.append(Finding("regression", "info", text + "."))
    return found


def locust_crosscheck(rows: list[dict], locust_totals: dict | None) -> list[Finding]:
    if not locust_totals or not rows:
        return []
    recorded = int(sum(_num(r.get("requests")) or 0 for r in rows))
    if recorded == locust_totals["requests"]:
        return []
    return [Finding("locust_count", "info",
                    f"Locust counted {locust_totals['requests']} requests ({locust_totals['failures']} failed) "
                    f"while the per-request records hold {recorded}; the difference is requests Locust saw "
                    "outside the recorded stages (or records lost by a killed run).")]


def compute(table: pd.DataFrame, hints: dict, overall: dict | None, errors_by_stage: pd.DataFrame,
            error_totals: dict[str, int], locust_totals: dict | None = None,
            regression: dict | None = None) -> list[Finding]:
    """All findings, most important first."""
    rows = _rows(table)
    found = (no_successes(rows, error_totals) + client_health(overall) + baseline_regression(regression)
             + error_onset(rows, hints, errors_by_stage)
             + saturation(rows, hints) + qps_peak(rows, hints) + ttft_vs_itl(rows) + tokens_from_chunks(rows)
             + tps_trend(rows) + slo_goodput(rows) + locust_crosscheck(rows, locust_totals))
    order = {"bad": 0, "warn": 1, "info": 2}
    return sorted(found, key=lambda f: order.get(f.level, 3))
