"""Request records → stage summaries, ``summary_all``, and the overall verdict (SPEC §3, §5).

The one source of numbers: the files, the HTML report and the web UI all call these functions, so
a percentile is computed in exactly one way. Pure pandas/numpy — no Locust, no network — so every
number is tested on small hand-made frames. Undefined numbers are ``None`` (JSON null), never NaN.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import glob
import io
import math
import os
import re
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .grammar import HIGHER_IS_BETTER, parse_slo

__all__ = [
    "REQUEST_COLUMNS",
    "STATS",
    "STAGE_SUMMARY_KEYS",
    "SLO_SUMMARY_KEYS",
    "read_requests_csv",
    "load_requests",
    "requests_frame",
    "summarize_stage",
    "summarize_stages",
    "flatten_summary",
    "summary_table",
    "metric_value",
    "saturation_hints",
    "max_concurrency_within_slo",
    "slo_failures",
    "compare_with_baseline",
    "overall_summary",
    "scrub_config",
    "to_jsonable",
]

# The columns of requests_c{N}.csv (records.COLUMNS; a test keeps the two equal). Repeated here so
# this module never imports records, whose worker shipping may pull in Locust.
REQUEST_COLUMNS = (
    "request_id", "stage", "concurrency", "worker", "start_epoch", "latency_ms", "ttfb_ms",
    "ttft_ms", "itl_ms", "generation_ms", "prompt_tokens", "completion_tokens", "tokens_source",
    "http_status", "ok", "error_type", "error", "endpoint", "stream", "output_events",
    "end_epoch", "icl_ms",
)
_NUMERIC = (
    "stage", "concurrency", "start_epoch", "latency_ms", "ttfb_ms", "ttft_ms", "itl_ms",
    "generation_ms", "prompt_tokens", "completion_tokens", "http_status", "output_events",
    "end_epoch",
)
_BOOLEAN = ("ok", "stream")
_TRUE = frozenset({"true", "1", "yes", "y", "t"})

STATS = ("avg", "p50", "p95", "p99", "min", "max")
_FAMILIES = ("latency", "ttft", "itl")
STAGE_SUMMARY_KEYS = (
    "stage", "concurrency", "requests", "successes", "failures", "error_rate", "duration_s",
    "qps", "latency_ms", "ttft_ms", "itl_ms", "tps", "output_tokens_per_s",
    "prompt_tokens_total", "completion_tokens_total", "errors_by_type", "tokens_source",
)
SLO_SUMMARY_KEYS = ("goodput_requests", "goodput_qps", "goodput_ratio", "slo_met", "slo_failed")

# ---------------------------------------------------------------------------------------------
# Reading records
# ---------------------------------------------------------------------------------------------


def read_requests_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read one ``requests_c{N}.csv`` into a typed frame (numbers float, ``ok``/``stream`` bool).

    A killed run (or a file still being appended to) may end in a partial row: a last line without
    its newline is dropped, as is any row whose field count does not match the header. The number
    of dropped rows is in ``df.attrs["skipped_rows"]``.
    """
    with open(path, "rb") as fh:
        text = fh.read().decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or not text.endswith(("\n", "\r")) and len(rows) == 1:
        frame = requests_frame([])  # empty, or only a partial header
        frame.attrs["skipped_rows"] = 0
        return frame
    header = [name.strip() for name in rows[0]]
    body = rows[1:]
    skipped = 0
    if body and not text.endswith(("\n", "\r")):
        body = body[:-1]
        skipped += 1
    kept = []
    for row in body:
        if not row:
            continue
        if len(row) != len(header):
            skipped += 1
            continue
        kept.append(row)
    frame = _coerce(pd.DataFrame(kept, columns=header, dtype=object))
    frame.attrs["skipped_rows"] = skipped
    return frame


def load_requests(outdir: str | os.PathLike) -> pd.DataFrame:
    """All ``requests_c*.csv`` of an output folder in one typed frame, lowest concurrency file first."""
    def file_concurrency(path: str) -> tuple[int, str]:
        match = re.search(r"requests_c(\d+)\.csv$", path)
        return (int(match.group(1)) if match else 1 << 62, path)

    paths = sorted(glob.glob(os.path.join(os.fspath(outdir), "requests_c*.csv")), key=file_concurrency)
    frames = [read_requests_csv(p) for p in paths]
    skipped = sum(f.attrs.get("skipped_rows", 0) for f in frames)
    frames = [f for f in frames if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else requests_frame([])
    frame.attrs["skipped_rows"] = skipped
    return frame


def requests_frame(rows: Iterable[Any], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Records (dicts, CSV rows of strings, or RequestRecord dataclasses) → the typed frame.

    Lets the web UI summarize live in-memory records with the very same code as the files.
    """
    dicts = [_as_dict(r) for r in rows]
    names = dict.fromkeys(columns or ())
    for d in dicts:
        names.update(dict.fromkeys(d))
    names.update(dict.fromkeys(REQUEST_COLUMNS))
    return _coerce(pd.DataFrame.from_records(dicts, columns=list(names)))


def _as_dict(row: Any) -> dict:
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    return dict(row)


def _coerce(df: pd.DataFrame) -> pd.DataFrame:
    """Give the known columns their types; missing known columns appear empty."""
    if _is_typed(df):
        return df
    df = df.copy()
    for name in REQUEST_COLUMNS:
        if name not in df.columns:
            df[name] = np.nan if name in _NUMERIC else (False if name in _BOOLEAN else "")
    for name in _NUMERIC:
        col = df[name]
        if col.dtype == bool:
            col = col.astype(float)
        elif not pd.api.types.is_float_dtype(col):
            col = pd.to_numeric(col, errors="coerce")
        df[name] = col.astype(float)
    for name in _BOOLEAN:
        col = df[name]
        if col.dtype == bool:
            continue
        if all(isinstance(v, str) for v in col):
            df[name] = col.str.strip().str.lower().isin(_TRUE).astype(bool)
        else:
            df[name] = pd.Series([_as_bool(v) for v in col], index=df.index, dtype=bool)
    for name in REQUEST_COLUMNS:
        if name in _NUMERIC or name in _BOOLEAN:
            continue
        col = df[name]
        if name == "icl_ms" and col.dtype == object:
            col = col.map(lambda v: " ".join(f"{x:.3f}" for x in v) if isinstance(v, (list, tuple)) else v)
        df[name] = col.astype(object).where(col.notna(), "").astype(str)
    return df


def _is_typed(df: pd.DataFrame) -> bool:
    """Already in the shape ``_coerce`` produces (so summarizing stage by stage stays cheap)."""
    if any(name not in df.columns for name in REQUEST_COLUMNS):
        return False
    if any(not pd.api.types.is_float_dtype(df[name]) for name in _NUMERIC):
        return False
    if any(df[name].dtype != bool for name in _BOOLEAN):
        return False
    strings = [n for n in REQUEST_COLUMNS if n not in _NUMERIC and n not in _BOOLEAN]
    return all(pd.api.types.is_string_dtype(df[n]) and not df[n].isna().any() for n in strings)


def _as_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if _missing(value):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return bool(value)
    return str(value).strip().lower() in _TRUE


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


# ---------------------------------------------------------------------------------------------
# One stage
# ---------------------------------------------------------------------------------------------


def summarize_stage(
    df: pd.DataFrame,
    stage: int | None = None,
    concurrency: int | None = None,
    slo: Mapping[str, Any] | Iterable[Any] | None = None,
) -> dict:
    """The SPEC §3 stage summary of the rows matching ``stage``/``concurrency`` (None = all rows).

    Statistics are over successes; ``duration_s`` spans all the stage's requests (failures too):
    the latest end (``end_epoch``, else ``start_epoch + latency_ms``) minus the earliest start.
    Token totals are 0 when there are no successes and None when successes carry no counts.
    ``slo`` is ``grammar.parse_slo``'s result (SloBounds by metric, or a list), or its text.
    """
    if isinstance(slo, str):
        slo = parse_slo(slo)
    df = _coerce(df)
    if stage is not None:
        df = df[df["stage"] == stage]
    if concurrency is not None:
        df = df[df["concurrency"] == concurrency]
    ok = df[df["ok"]]
    requests, successes = len(df), len(ok)

    duration = _duration_s(df)
    completion_total = _token_total(ok["completion_tokens"], successes)
    prompt_total = _token_total(ok["prompt_tokens"], successes)
    paired = ok[ok["completion_tokens"].notna() & ok["generation_ms"].notna()]
    generation_s = float(paired["generation_ms"].sum()) / 1000.0

    summary = {
        "stage": int(stage) if stage is not None else _single_int(df["stage"]),
        "concurrency": int(concurrency) if concurrency is not None else _single_int(df["concurrency"]),
        "requests": requests,
        "successes": successes,
        "failures": requests - successes,
        "error_rate": (requests - successes) / requests if requests else None,
        "duration_s": duration,
        "qps": successes / duration if duration else None,
        "latency_ms": _stats(ok["latency_ms"]),
        "ttft_ms": _stats(ok["ttft_ms"]),
        "itl_ms": _stats(ok["itl_ms"]),
        "tps": float(paired["completion_tokens"].sum()) / generation_s if generation_s > 0 else None,
        "output_tokens_per_s": (
            completion_total / duration if duration and completion_total is not None else None
        ),
        "prompt_tokens_total": prompt_total,
        "completion_tokens_total": completion_total,
        "errors_by_type": _counts(df.loc[~df["ok"], "error_type"], "unknown"),
        "tokens_source": _counts(ok["tokens_source"], "unknown"),
    }
    if slo:
        summary.update(_slo_fields(summary, ok, slo))
    return summary


def summarize_stages(df: pd.DataFrame, slo: Mapping[str, Any] | Iterable[Any] | None = None) -> list[dict]:
    """One summary per (stage, concurrency) found in the records, in stage (ladder) order."""
    df = _coerce(df)
    if df.empty:
        return []
    keys = df[["stage", "concurrency"]].drop_duplicates()
    keys = keys.sort_values(["stage", "concurrency"], na_position="last")
    out = []
    for stage, conc in keys.itertuples(index=False):
        rows = df[_eq_or_both_nan(df["stage"], stage) & _eq_or_both_nan(df["concurrency"], conc)]
        summary = summarize_stage(rows, slo=slo)
        summary["stage"] = None if math.isnan(stage) else int(stage)
        summary["concurrency"] = None if math.isnan(conc) else int(conc)
        out.append(summary)
    return out


def _eq_or_both_nan(col: pd.Series, value: float) -> pd.Series:
    return col.isna() if math.isnan(value) else col == value


def _duration_s(df: pd.DataFrame) -> float | None:
    """Last end − first start over all requests; None when undefined or not positive."""
    start = df["start_epoch"]
    fallback = start + df["latency_ms"].fillna(0.0) / 1000.0
    end = df["end_epoch"].where(df["end_epoch"].notna(), fallback)
    if start.notna().sum() == 0 or end.notna().sum() == 0:
        return None
    duration = float(end.max() - start.min())
    return duration if math.isfinite(duration) and duration > 0 else None


def _stats(col: pd.Series) -> dict[str, float | None]:
    """avg/p50/p95/p99/min/max, exact percentiles with numpy's default linear interpolation."""
    values = col.dropna().to_numpy(dtype=float)
    if values.size == 0:
        return {name: None for name in STATS}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "avg": float(values.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def _token_total(col: pd.Series, successes: int) -> int | None:
    if successes == 0:
        return 0
    values = col.dropna()
    return int(round(float(values.sum()))) if len(values) else None


def _counts(col: pd.Series, blank: str) -> dict[str, int]:
    """Value counts as a plain dict, most frequent first (blank values counted as ``blank``)."""
    labels = col.map(lambda v: v if v else blank)
    counts = labels.value_counts(sort=False)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return {str(k): int(v) for k, v in ordered}


def _single_int(col: pd.Series) -> int | None:
    values = col.dropna().unique()
    return int(values[0]) if len(values) == 1 else None


def _bounds(slo: Mapping[str, Any] | Iterable[Any]) -> list[Any]:
    return list(slo.values()) if isinstance(slo, Mapping) else list(slo)


def _slo_fields(summary: dict, ok: pd.DataFrame, slo: Mapping[str, Any] | Iterable[Any]) -> dict:
    """Goodput and the stage verdict.

    Goodput: a success is good when it meets every per-request bound that applies to it — a
    ttft/itl/latency bound of any statistic (e.g. ``ttft_p99_ms=500``) reads as "this request's
    ttft ≤ 500"; a request without that value (no ttft when not streaming, no itl below two
    tokens) is not judged by it. Verdict: every bound must hold on the stage's own numbers; an
    unmeasured number (None, e.g. ttft without streaming, latency with no successes) fails.
    """
    bounds = _bounds(slo)
    good = pd.Series(True, index=ok.index)
    for bound in bounds:
        if bound.per_request:
            values = ok[f"{bound.family}_ms"]
            good &= values.isna() | (values <= bound.value)
    good_count = int(good.sum())
    duration, requests = summary["duration_s"], summary["requests"]
    failed = slo_failures(summary, bounds)
    return {
        "goodput_requests": good_count,
        "goodput_qps": good_count / duration if duration else None,
        "goodput_ratio": good_count / requests if requests else None,
        "slo_met": not failed,
        "slo_failed": failed,
    }


def slo_failures(summary: Mapping[str, Any], slo: Mapping[str, Any] | Iterable[Any]) -> list[str]:
    """The metrics of ``slo`` that the stage's own numbers (nested or flat) do not meet, in the
    order given; an unmeasured number fails. Shared with gating so a verdict is computed once."""
    return [b.metric for b in _bounds(slo) if not b.holds(_metric(summary, b.metric))]


# ---------------------------------------------------------------------------------------------
# Flat rows: summary_all.csv
# ---------------------------------------------------------------------------------------------


def flatten_summary(summary: Mapping[str, Any]) -> dict:
    """Nested stage summary → one flat row: ``latency_p99_ms``, ``errors_<type>``,
    ``tokens_source_<source>``; ``slo_failed`` joined with ``;`` so it fits one CSV cell."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, Mapping):
            if key.endswith("_ms"):
                family = key[: -len("_ms")]
                for stat, v in value.items():
                    flat[f"{family}_{stat}_ms"] = v
            elif key == "errors_by_type":
                for kind, v in value.items():
                    flat[f"errors_{kind}"] = v
            else:
                for sub, v in value.items():
                    flat[f"{key}_{sub}"] = v
        elif isinstance(value, (list, tuple)):
            flat[key] = ";".join(str(v) for v in value)
        else:
            flat[key] = value
    return flat


def summary_table(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``summary_all.csv``: one flat row per stage in the order given; error and token-source
    count columns come last, sorted, and are 0 where a stage had none."""
    rows = [flatten_summary(s) for s in summaries]
    if not rows:
        return pd.DataFrame(columns=list(flatten_summary(_empty_summary_shape())))
    frame = pd.DataFrame(rows)
    counts = [c for c in frame.columns if c.startswith(("errors_", "tokens_source_"))]
    base = [c for c in frame.columns if c not in counts]
    counts = sorted(c for c in counts if c.startswith("errors_")) + sorted(
        c for c in counts if c.startswith("tokens_source_")
    )
    frame = frame[base + counts]
    for column in counts:
        frame[column] = frame[column].fillna(0).astype(int)
    return frame


def _empty_summary_shape() -> dict:
    shape = {key: None for key in STAGE_SUMMARY_KEYS}
    for family in _FAMILIES:
        shape[f"{family}_ms"] = {s: None for s in STATS}
    shape["errors_by_type"] = {}
    shape["tokens_source"] = {}
    return shape


def metric_value(summary: Mapping[str, Any], name: str) -> Any:
    """A metric by its flat name (``latency_p99_ms``, ``qps``) from a nested summary or a flat
    row, so callers never care which of the two shapes they hold; missing/NaN → None."""
    return _metric(summary, name)


def _metric(summary: Mapping[str, Any], name: str) -> Any:
    """A metric from a nested summary or a flat row (``latency_p99_ms`` either way); NaN → None."""
    if name in summary:
        value = summary[name]
    else:
        match = re.fullmatch(r"(latency|ttft|itl)_(\w+)_ms", name)
        nested = summary.get(f"{match.group(1)}_ms") if match else None
        value = nested.get(match.group(2)) if isinstance(nested, Mapping) else None
    return None if _missing(value) else value


# ---------------------------------------------------------------------------------------------
# Across stages: saturation, SLO ceiling, baseline
# ---------------------------------------------------------------------------------------------


def saturation_hints(
    summaries: Sequence[Mapping[str, Any]],
    qps_gain: float = 0.10,
    p99_rise: float = 0.50,
    error_rate: float = 0.01,
) -> dict:
    """SPEC §5 hints over stages in ladder order (nested summaries or flat rows).

    Saturation is the stage *before* the first stage whose qps gained less than ``qps_gain``
    (qps < prev × (1 + qps_gain)) while its latency p99 rose more than ``p99_rise``
    (p99 > prev × (1 + p99_rise)). A stage without successes counts as qps 0; a missing p99
    (no successes) never satisfies the p99 condition — such a stage shows up through
    ``error_onset_concurrency`` instead. Ties for best qps go to the earliest stage.
    """
    best_qps, best_at = None, None
    for s in summaries:
        qps = _metric(s, "qps")
        if qps is not None and (best_qps is None or qps > best_qps):
            best_qps, best_at = float(qps), _metric(s, "concurrency")

    saturation = None
    for prev, cur in zip(summaries, summaries[1:]):
        prev_qps, cur_qps = _metric(prev, "qps") or 0.0, _metric(cur, "qps") or 0.0
        prev_p99, cur_p99 = _metric(prev, "latency_p99_ms"), _metric(cur, "latency_p99_ms")
        flat_qps = cur_qps < prev_qps * (1.0 + qps_gain)
        p99_jump = prev_p99 is not None and cur_p99 is not None and cur_p99 > prev_p99 * (1.0 + p99_rise)
        if flat_qps and p99_jump:
            saturation = _metric(prev, "concurrency")
            break

    onset = None
    for s in summaries:
        rate = _metric(s, "error_rate")
        if rate is not None and rate >= error_rate:
            onset = _metric(s, "concurrency")
            break

    return {
        "best_qps": best_qps,
        "best_qps_at_concurrency": best_at,
        "saturation_concurrency": saturation,
        "error_onset_concurrency": onset,
        "thresholds": {"qps_gain": qps_gain, "p99_rise": p99_rise, "error_rate": error_rate},
    }


def max_concurrency_within_slo(summaries: Sequence[Mapping[str, Any]]) -> dict:
    """The highest concurrency whose stage, and every lower-concurrency stage, met the SLO.

    ``first_failed_above`` lists the bounds that failed at the next higher stage (with its
    concurrency in ``first_failed_concurrency``). All fields null (``slo_given`` false) when the
    summaries carry no SLO verdict.
    """
    result = {
        "slo_given": False,
        "max_concurrency": None,
        "qps": None,
        "output_tokens_per_s": None,
        "goodput_qps": None,
        "first_failed_above": None,
        "first_failed_concurrency": None,
    }
    judged = [s for s in summaries if "slo_met" in s and _metric(s, "concurrency") is not None]
    if not judged:
        return result
    result["slo_given"] = True
    for s in sorted(judged, key=lambda s: _metric(s, "concurrency")):
        if not _as_bool(s["slo_met"]):
            failed = s.get("slo_failed") or []
            if isinstance(failed, str):
                failed = [f for f in failed.split(";") if f]
            result["first_failed_above"] = list(failed)
            result["first_failed_concurrency"] = _metric(s, "concurrency")
            break
        result.update(
            max_concurrency=_metric(s, "concurrency"),
            qps=_metric(s, "qps"),
            output_tokens_per_s=_metric(s, "output_tokens_per_s"),
            goodput_qps=_metric(s, "goodput_qps"),
        )
    return result


# Float noise: 110/100 − 1 is 0.10000000000000009, which must not break a 10% allowance.
_TOLERANCE = 1e-9


def compare_with_baseline(
    summaries: Sequence[Mapping[str, Any]],
    baseline: Sequence[Mapping[str, Any]],
    max_regression: Mapping[str, float],
) -> dict:
    """Compare stages with a baseline run's stages of the same concurrency.

    ``max_regression`` is ``grammar.parse_regression``'s result (metric → allowed fraction). A drop
    of qps/output tokens/s or a rise of a latency counts as regression (``worse_by`` > 0); it
    fails when it exceeds the allowed fraction. A pair whose baseline value is missing or zero
    cannot be judged (``status`` "not_judged"); a value the baseline had but this run did not
    measure is a regression — a CI gate must not turn green because a number vanished.
    """
    base_by_conc = {_metric(b, "concurrency"): b for b in baseline}
    checks = []
    for s in summaries:
        conc = _metric(s, "concurrency")
        if conc is None or conc not in base_by_conc:
            continue
        for metric, allowed in max_regression.items():
            cur, base = _metric(s, metric), _metric(base_by_conc[conc], metric)
            judged = base not in (None, 0)
            change = (cur - base) / base if judged and cur is not None else None
            worse = None if change is None else (-change if metric in HIGHER_IS_BETTER else change)
            regressed = judged and (cur is None or worse > allowed + _TOLERANCE)
            checks.append({
                "stage": _metric(s, "stage"),
                "concurrency": conc,
                "metric": metric,
                "baseline": base,
                "current": cur,
                "change": change,
                "worse_by": worse,
                "allowed": allowed,
                "regressed": regressed,
                "status": "regressed" if regressed else ("passed" if judged else "not_judged"),
            })
    regressions = [c for c in checks if c["regressed"]]
    return {
        "max_regression": dict(max_regression),
        "compared_concurrencies": sorted({c["concurrency"] for c in checks}),
        "checks": checks,
        "regressions": regressions,
        "passed": not regressions,
    }


# ---------------------------------------------------------------------------------------------
# overall_summary.json
# ---------------------------------------------------------------------------------------------

_SECRET_KEY = re.compile(r"key|token(?!s)|authorization|secret|password|cookie", re.IGNORECASE)
_SECRET_HEADER = re.compile(r"(proxy-)?authorization|cookie|[\w-]*api[-_]?key|[\w-]*token|[\w-]*secret", re.IGNORECASE)


def scrub_config(config: Any) -> Any:
    """Drop secret-looking keys at any depth, and mask the values of secret headers given as
    ``"Name: value"`` strings or ``[name, value]`` pairs. Count keys such as ``max_tokens`` are
    kept (``token`` only matches when not plural)."""
    if isinstance(config, Mapping):
        return {k: scrub_config(v) for k, v in config.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(config, (list, tuple)):
        if len(config) == 2 and all(isinstance(v, str) for v in config) and _SECRET_HEADER.fullmatch(config[0].strip()):
            return [config[0], "***"]
        return [scrub_config(v) for v in config]
    if isinstance(config, str) and ":" in config and _SECRET_HEADER.fullmatch(config.split(":", 1)[0].strip()):
        return config.split(":", 1)[0] + ": ***"
    return config


def overall_summary(
    summaries: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    qps_gain: float = 0.10,
    p99_rise: float = 0.50,
    error_rate: float = 0.01,
    partial_stages: Iterable[int] = (),
    client: Any = None,
    baseline: Mapping[str, Any] | None = None,
    generated_at: str | None = None,
) -> dict:
    """Assemble ``overall_summary.json`` (JSON-ready): config without secrets, the flat stage
    rows, saturation hints, the SLO ceiling (``max_concurrency_within_slo`` at the top level,
    details under ``slo``), partial stages, client health and optional baseline
    comparison (``compare_with_baseline``'s result)."""
    hints = saturation_hints(summaries, qps_gain=qps_gain, p99_rise=p99_rise, error_rate=error_rate)
    ceiling = max_concurrency_within_slo(summaries)
    overall = {
        "generated_at": generated_at or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": scrub_config(dict(config or {})),
        "stages": [flatten_summary(s) for s in summaries],
        **hints,
        "slo": ceiling,
        "max_concurrency_within_slo": ceiling["max_concurrency"],
        "partial_stages": list(partial_stages),
        "client": client,
        "baseline": baseline,
    }
    return to_jsonable(overall)


def to_jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars → Python, NaN/inf/NA → None, tuples/sets → lists,
    dataclasses → dicts, other unknown objects → str."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp, _dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)
