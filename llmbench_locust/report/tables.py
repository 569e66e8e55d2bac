"""Tabular views for the report: errors by stage and type, and the run configuration without secrets.

Pure pandas on already-loaded data; the HTML layer only formats and escapes what is built here.
"""

from __future__ import annotations

import json
import re

import pandas as pd

SECRET_KEY_RE = re.compile(r"(api[_-]?key|secret|passw|authorization|bearer|cookie|credential|"
                           r"(^|[_-])auth($|[_-])|(^|[_-])(access|refresh|id)?[_-]?token$)", re.IGNORECASE)
SECRET_HEADER_RE = re.compile(r"^\s*(authorization|proxy-authorization|x-api-key|api-key|cookie|"
                              r"[\w-]*(token|secret|key))\s*:", re.IGNORECASE)
REDACTED = "[redacted]"

# The per-stage columns shown by default, with the unit shown in the header.
STAGE_COLUMNS = (
    ("concurrency", "concurrency", "users"),
    ("requests", "requests", ""),
    ("successes", "successes", ""),
    ("failures", "failures", ""),
    ("error_rate", "error rate", "fraction"),
    ("duration_s", "duration", "s"),
    ("qps", "QPS", "req/s"),
    # SLO columns sit beside QPS, in view without scrolling; they exist only when --slo was given.
    ("slo_met", "SLO", "every bound met"),
    ("goodput_qps", "goodput", "req/s within SLO"),
    ("goodput_ratio", "goodput ratio", "fraction"),
    ("latency_avg_ms", "latency avg", "ms"),
    ("latency_p50_ms", "latency p50", "ms"),
    ("latency_p95_ms", "latency p95", "ms"),
    ("latency_p99_ms", "latency p99", "ms"),
    ("latency_max_ms", "latency max", "ms"),
    ("ttft_p50_ms", "TTFT p50", "ms"),
    ("ttft_p95_ms", "TTFT p95", "ms"),
    ("ttft_p99_ms", "TTFT p99", "ms"),
    ("itl_p50_ms", "ITL p50", "ms"),
    ("itl_p99_ms", "ITL p99", "ms"),
    ("tps", "per-stream TPS", "tokens/s per stream"),
    ("output_tokens_per_s", "total output", "tokens/s, all streams"),
    ("tokens_from", "tokens from", ""),
)


def stage_columns(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The default columns that exist in this table (SLO columns only when SLOs were given)."""
    return [c for c in STAGE_COLUMNS if c[0] in table.columns or c[0] == "tokens_from"]


def error_table(requests: pd.DataFrame | None, table: pd.DataFrame) -> pd.DataFrame:
    """Failures by stage and error type, each with its first message and HTTP status as an example.

    Stages without request records contribute their ``errors_<type>`` counts from the stage table
    (no example message).
    """
    columns = ["concurrency", "error_type", "count", "http_status", "example"]
    parts = []
    recorded = set()
    if requests is not None and not requests.empty:
        recorded = set(requests["concurrency"].dropna().astype(int))
        failed = requests[~requests["ok"].astype(bool)]
        if not failed.empty:
            failed = failed.assign(error_type=failed["error_type"].replace("", "unknown"),
                                   concurrency=failed["concurrency"].astype(int))
            grouped = failed.groupby(["concurrency", "error_type"], sort=True)
            first = grouped.head(1).set_index(["concurrency", "error_type"])
            out = grouped.size().rename("count").to_frame().join(first[["http_status", "error"]])
            parts.append(out.reset_index().rename(columns={"error": "example"}))
    count_columns = [c for c in table.columns if c.startswith("errors_")]
    rows = []
    for row in table.to_dict("records"):
        if int(row["concurrency"]) in recorded:
            continue
        for column in count_columns:
            if pd.notna(row[column]) and row[column] > 0:
                rows.append({"concurrency": int(row["concurrency"]), "error_type": column[len("errors_"):],
                             "count": int(row[column]), "http_status": None, "example": ""})
    if rows:
        parts.append(pd.DataFrame(rows))
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)[columns]
    out["example"] = out["example"].fillna("")
    return out.sort_values(["concurrency", "count"], ascending=[True, False], kind="stable").reset_index(drop=True)


def token_sources(row: dict) -> str:
    """'usage', 'chunks', or 'usage 40, chunks 10' from a stage row's ``tokens_source_*`` counts."""
    counts = {k[len("tokens_source_"):]: int(v) for k, v in row.items()
              if k.startswith("tokens_source_") and pd.notna(v) and v > 0}
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def error_totals(errors: pd.DataFrame) -> dict[str, int]:
    """Failures per error type over the whole run, most frequent first."""
    if errors.empty:
        return {}
    totals = errors.groupby("error_type")["count"].sum().sort_values(ascending=False, kind="stable")
    return {str(k): int(v) for k, v in totals.items()}


def redact(value, key: str = ""):
    """A copy of a configuration value with anything that looks like a credential replaced."""
    if key and SECRET_KEY_RE.search(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and SECRET_HEADER_RE.match(value):
        return value.split(":", 1)[0] + ": " + REDACTED
    if isinstance(value, str) and re.match(r"^\s*(Bearer\s+|sk-)\S{8,}", value):
        return REDACTED
    return value


def config_rows(overall: dict | None) -> list[tuple[str, str]]:
    """The run configuration as (option, value) pairs, secrets redacted, nested values as JSON."""
    config = redact((overall or {}).get("config") or {})
    rows = []
    for key, value in config.items():
        if isinstance(value, (dict, list)):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        elif value is None:
            text = ""
        else:
            text = str(value)
        rows.append((str(key), text))
    return rows


def locust_aggregated(locust_stats: pd.DataFrame | None) -> dict | None:
    """Locust's own totals (its 'Aggregated' row), for cross-checking the record count."""
    if locust_stats is None or "Name" not in locust_stats.columns:
        return None
    rows = locust_stats[locust_stats["Name"] == "Aggregated"]
    if rows.empty:
        return None
    row = rows.iloc[0]
    try:
        return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"])}
    except (KeyError, ValueError, TypeError):
        return None
