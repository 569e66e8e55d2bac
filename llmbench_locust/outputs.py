"""The result files of SPEC §3 from the request records, and their terminal rendering.

Every number comes from summary.py over the request CSVs on disk, so the files, the terminal
table, the report and a later `llmbench report` can never disagree.
"""

from __future__ import annotations

import json
import os
from typing import Any

from . import summary
from .records import stage_file_name

SUMMARY_ALL = "summary_all.csv"
OVERALL = "overall_summary.json"


def summary_file_name(concurrency: int) -> str:
    return f"summary_c{concurrency}.json"


def write_json(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(summary.to_jsonable(data), fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def stage_summary(outdir: str, stage: int, concurrency: int, slo: Any = None) -> dict:
    path = os.path.join(outdir, stage_file_name(concurrency))
    df = summary.read_requests_csv(path) if os.path.exists(path) else summary.requests_frame([])
    return summary.summarize_stage(df, stage=stage, concurrency=concurrency, slo=slo)


def write_stage_summary(outdir: str, stage: int, concurrency: int, slo: Any = None) -> dict:
    result = stage_summary(outdir, stage, concurrency, slo)
    write_json(os.path.join(outdir, summary_file_name(concurrency)), result)
    return result


def write_all(
    outdir: str,
    stages: list[tuple[int, int]],
    config: dict,
    thresholds: dict,
    partial: list[int],
    client: dict | None,
    run_info: dict | None = None,
    slo: Any = None,
) -> dict:
    """Write every stage summary, summary_all.csv and overall_summary.json; return the overall."""
    summaries = []
    for stage, concurrency in stages:
        summaries.append(write_stage_summary(outdir, stage, concurrency, slo))
    table = summary.summary_table(summaries)
    table.to_csv(os.path.join(outdir, SUMMARY_ALL), index=False)
    overall = summary.overall_summary(
        summaries,
        config,
        qps_gain=thresholds["qps_gain"],
        p99_rise=thresholds["p99_rise"],
        error_rate=thresholds["error_rate"],
        partial_stages=partial,
        client=client,
    )
    if run_info:
        overall.update(summary.to_jsonable(run_info))
    write_json(os.path.join(outdir, OVERALL), overall)
    return overall


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def results_table(overall: dict) -> str:
    """The end-of-run block: one line per stage and the headline answers."""
    header = (
        f"{'conc':>5} {'reqs':>5} {'fail':>5} {'qps':>8} {'lat p50':>9} {'lat p99':>9} "
        f"{'ttft p50':>9} {'ttft p99':>9} {'itl p50':>8} {'tps/strm':>9} {'out tok/s':>10}"
    )
    lines = ["=" * len(header), "LLM benchmark result (ms unless noted)".center(len(header)), "=" * len(header), header]
    for row in overall.get("stages", []):
        lines.append(
            f"{_fmt(row.get('concurrency')):>5} {_fmt(row.get('requests')):>5} {_fmt(row.get('failures')):>5} "
            f"{_fmt(row.get('qps'), 2):>8} {_fmt(row.get('latency_p50_ms')):>9} {_fmt(row.get('latency_p99_ms')):>9} "
            f"{_fmt(row.get('ttft_p50_ms')):>9} {_fmt(row.get('ttft_p99_ms')):>9} {_fmt(row.get('itl_p50_ms'), 2):>8} "
            f"{_fmt(row.get('tps')):>9} {_fmt(row.get('output_tokens_per_s')):>10}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"best qps: {_fmt(overall.get('best_qps'), 2)} at concurrency {_fmt(overall.get('best_qps_at_concurrency'))}"
    )
    lines.append(f"saturation concurrency: {_fmt(overall.get('saturation_concurrency'))}")
    lines.append(f"error onset concurrency: {_fmt(overall.get('error_onset_concurrency'))}")
    if overall.get("partial_stages"):
        lines.append(f"partial stages (run stopped): {overall['partial_stages']}")
    lines.append("=" * len(header))
    return "\n".join(lines)
