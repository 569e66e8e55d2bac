"""Read an output folder into what the report needs, and record plainly what is missing.

Stage numbers come from the run's own summary files when they exist; otherwise they are
recomputed from the request CSVs by ``summary.py``, so the report and the run share one source
of numbers. Every gap (no streaming, a killed stage, no Locust history, …) becomes a ``Note``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from llmbench_locust import summary

from .verdict import GateView, gate_view

REQUESTS_RE = re.compile(r"^requests_c(\d+)\.csv$")
SUMMARY_RE = re.compile(r"^summary_c(\d+)\.json$")


@dataclass(frozen=True)
class Note:
    """Something the reader must know about the data: ``level`` is 'info', 'warn' or 'missing'."""

    level: str
    text: str


@dataclass
class ReportData:
    indir: Path
    table: pd.DataFrame                      # one row per stage, summary_all.csv columns
    sources: dict[int, str]                  # concurrency → where its numbers came from
    requests: pd.DataFrame | None            # every request row, typed; None without CSVs
    overall: dict | None
    hints: dict
    history: pd.DataFrame | None             # Locust's Aggregated timeline rows
    locust_stats: pd.DataFrame | None
    locust_failures: pd.DataFrame | None
    partial: list[int] = field(default_factory=list)
    missing_stages: list[int] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    regression: dict | None = None           # regression.json (a run given --baseline)
    gate: GateView | None = None             # the CI verdict; None without --slo/--baseline

    @property
    def streaming(self) -> bool:
        return _has_values(self.table, "ttft_p50_ms")

    @property
    def has_itl(self) -> bool:
        return _has_values(self.table, "itl_p50_ms")

    @property
    def successes(self) -> int:
        if "successes" not in self.table.columns:
            return 0
        return int(pd.to_numeric(self.table["successes"], errors="coerce").fillna(0).sum())


def _has_values(table: pd.DataFrame, column: str) -> bool:
    return column in table.columns and pd.to_numeric(table[column], errors="coerce").notna().any()


def _read_json(path: Path, notes: list[Note]) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(Note("warn", f"{path.name} could not be read ({exc.__class__.__name__}: {exc}); ignored."))
        return None


def _read_csv(path: Path, notes: list[Note]) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        notes.append(Note("warn", f"{path.name} could not be read ({exc.__class__.__name__}: {exc}); ignored."))
        return None


def _by_concurrency(indir: Path, pattern: re.Pattern) -> dict[int, Path]:
    found = {}
    for path in indir.iterdir():
        match = pattern.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def expected_ladder(overall: dict | None) -> list[int]:
    """The concurrencies the run was asked for, from its recorded configuration."""
    if not overall:
        return []
    config = overall.get("config") or {}
    ladder = config.get("concurrency", config.get("concurrencies"))
    if isinstance(ladder, list):
        return [int(c) for c in ladder if str(c).strip().lstrip("-").isdigit()]
    if isinstance(ladder, (str, int)):
        from llmbench_locust.grammar import parse_concurrency

        try:
            return parse_concurrency(str(ladder))
        except ValueError:
            return []
    return []


def partial_concurrencies(overall: dict | None) -> list[int]:
    """Stages the run marked as cut short; entries may be concurrencies or stage dicts."""
    result = []
    for item in (overall or {}).get("partial_stages") or []:
        value = item.get("concurrency") if isinstance(item, dict) else item
        try:
            result.append(int(value))
        except (TypeError, ValueError):
            continue
    return result


def _overall_rows(overall: dict | None) -> dict[int, dict]:
    """The flat stage rows recorded in overall_summary.json, by concurrency."""
    rows = {}
    for stage in (overall or {}).get("stages") or []:
        if isinstance(stage, dict) and _as_int(stage.get("concurrency")) is not None:
            rows[_as_int(stage["concurrency"])] = stage
    return rows


def _as_int(value) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number == number and number == int(number) else None


def _slo_bounds(overall: dict | None):
    """The run's SLO bounds (parsed by grammar.parse_slo) so recomputed stages get goodput too."""
    text = ((overall or {}).get("config") or {}).get("slo")
    if not text or not isinstance(text, str):
        return None
    from llmbench_locust.grammar import parse_slo

    try:
        return parse_slo(text)
    except ValueError:
        return None


def _load_requests(files: dict[int, Path], notes: list[Note]) -> dict[int, pd.DataFrame]:
    frames = {}
    for concurrency, path in files.items():
        try:
            frame = summary.read_requests_csv(path)
        except (OSError, ValueError, KeyError) as exc:
            notes.append(Note("warn", f"{path.name} could not be read ({exc.__class__.__name__}: {exc}); ignored."))
            continue
        if "concurrency" not in frame.columns or frame["concurrency"].isna().any():
            frame = frame.assign(concurrency=concurrency)
        frames[concurrency] = frame
    return frames


def _history(indir: Path, notes: list[Note]) -> pd.DataFrame | None:
    frame = _read_csv(indir / "locust_stats_history.csv", notes)
    if frame is None:
        notes.append(Note("missing", "locust_stats_history.csv is missing, so there is no timeline of "
                                     "users, requests/s and failures."))
        return None
    needed = ["Timestamp", "User Count", "Name", "Requests/s", "Failures/s", "Total Request Count",
              "Total Failure Count"]
    if any(c not in frame.columns for c in needed):
        notes.append(Note("warn", "locust_stats_history.csv lacks expected columns; no timeline."))
        return None
    frame = frame[frame["Name"] == "Aggregated"].copy()
    for column in needed:
        if column != "Name":
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame = frame.dropna(subset=["Timestamp"]).sort_values("Timestamp", kind="stable")
    if frame.empty:
        notes.append(Note("missing", "locust_stats_history.csv has no 'Aggregated' rows, so there is no timeline."))
        return None
    return frame.reset_index(drop=True)


def load(indir: str | Path) -> ReportData:
    """Load an output folder (SPEC §3), whatever subset of its files exists."""
    indir = Path(indir)
    if not indir.is_dir():
        raise FileNotFoundError(f"not a directory: {indir}")
    notes: list[Note] = []
    overall = _read_json(indir / "overall_summary.json", notes)
    if overall is None:
        notes.append(Note("missing", "overall_summary.json is missing: no run configuration or client-health "
                                     "verdict; saturation hints were recomputed from the stage summaries."))

    request_files = _by_concurrency(indir, REQUESTS_RE)
    summary_files = _by_concurrency(indir, SUMMARY_RE)
    frames = _load_requests(request_files, notes)
    summary_all = _read_csv(indir / "summary_all.csv", notes)
    all_rows = {}
    if summary_all is not None and "concurrency" in summary_all.columns:
        all_rows = {int(r["concurrency"]): r for r in summary_all.to_dict("records")}

    recorded = _overall_rows(overall)
    concurrencies = sorted(set(frames) | set(summary_files) | set(all_rows) | set(recorded))
    partial = partial_concurrencies(overall)
    slo = _slo_bounds(overall)
    rows, sources = [], {}
    for c in concurrencies:
        row, source = None, None
        nested = _read_json(summary_files[c], notes) if c in summary_files else None
        if nested:
            row, source = summary.flatten_summary(nested), summary_files[c].name
        elif c in all_rows:
            row, source = all_rows[c], "summary_all.csv"
        elif c in recorded:
            row, source = recorded[c], "overall_summary.json"
        elif c in frames:
            row = summary.flatten_summary(summary.summarize_stage(frames[c], concurrency=c, slo=slo))
            source = f"recomputed from {request_files[c].name}"
            notes.append(Note("info", f"Stage c={c} has no summary file; its numbers were recomputed "
                                      f"from {request_files[c].name} ({len(frames[c])} rows)."))
        if row is None:
            continue
        rows.append(row)
        sources[c] = source
        if c not in frames and frames:
            notes.append(Note("missing", f"Stage c={c} has numbers in {source} but no requests_c{c}.csv: "
                                         "no distribution or error examples for it."))
        n = _as_int(row.get("requests"))
        if c in frames and n is not None and n != len(frames[c]):
            notes.append(Note("warn", f"Stage c={c}: {source} counts {n} requests but "
                                      f"{request_files[c].name} holds {len(frames[c])} rows."))
        skipped = frames[c].attrs.get("skipped_rows", 0) if c in frames else 0
        if skipped:
            notes.append(Note("warn", f"{request_files[c].name}: {skipped} incomplete row(s) skipped "
                                      "(a run killed mid-write)."))

    table = _table(rows)
    requests = pd.concat(frames.values(), ignore_index=True) if frames else None
    if not frames:
        notes.append(Note("missing", "No requests_c{N}.csv files: no latency/TTFT distributions and no "
                                     "example error messages."))

    ladder = expected_ladder(overall)
    missing = [c for c in ladder if c not in sources]
    if missing:
        notes.append(Note("missing", "Stages with no data at all: "
                                     + ", ".join(f"c={c}" for c in missing)
                                     + " (asked for by the run's --concurrency, never recorded)."))
    for c in partial:
        notes.append(Note("warn", f"Stage c={c} was cut short (the run was stopped during it); its figures "
                                  "cover only the requests that finished."))
    if table.empty:
        notes.append(Note("missing", "No stage data at all (no summaries, no request records)."))

    hints = _hints(overall, table)
    history = _history(indir, notes)
    locust_stats = _read_csv(indir / "locust_stats.csv", notes)
    locust_failures = _read_csv(indir / "locust_failures.csv", notes)
    regression = _read_json(indir / "regression.json", notes)
    gate = gate_view(overall, regression if isinstance(regression, dict) else None)
    notes += [Note("missing", text) for text in (gate.notes if gate else ())]
    return ReportData(indir=indir, table=table, sources=sources, requests=requests,
                      overall=overall, hints=hints, history=history, locust_stats=locust_stats,
                      locust_failures=locust_failures, partial=partial, missing_stages=missing, notes=notes,
                      regression=gate.regression if gate else None, gate=gate)


def _table(rows: list[dict]) -> pd.DataFrame:
    """Flat stage rows → the summary_all.csv frame (summary.py orders and fills the columns)."""
    table = summary.summary_table(rows)
    if table.empty:
        return table
    return table.sort_values("concurrency", kind="stable").reset_index(drop=True)


HINT_KEYS = ("best_qps", "best_qps_at_concurrency", "saturation_concurrency", "error_onset_concurrency")


def _hints(overall: dict | None, table: pd.DataFrame) -> dict:
    """The run's own saturation hints when recorded, else recomputed by summary.py."""
    recorded = _find_hints(overall)
    if recorded is not None:
        return recorded
    if table.empty:
        return {}
    ordered = table.sort_values("stage", kind="stable") if table["stage"].notna().all() else table
    hints = summary.saturation_hints(ordered.to_dict("records"))
    return dict(hints) if hints else {}


def _find_hints(overall: dict | None) -> dict | None:
    if not overall:
        return None
    for candidate in (overall, overall.get("saturation"), overall.get("hints"), overall.get("saturation_hints")):
        if isinstance(candidate, dict) and any(k in candidate for k in HINT_KEYS):
            return {k: candidate[k] for k in (*HINT_KEYS, "thresholds") if k in candidate}
    return None
