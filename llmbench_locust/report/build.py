"""Output folder → report.html (and optionally one PNG per chart): the report's one entry point."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import altair as alt
import pandas as pd

from llmbench_locust import summary

from . import charts as ch
from . import findings as fd
from . import html as hx
from . import tables as tb
from .data import Note, ReportData, load


def vegalite_version() -> str | None:
    """The Vega-Lite minor version Altair writes specs for, if vl-convert ships it."""
    import vl_convert

    minor = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]
    return minor if minor in vl_convert.get_vegalite_versions() else None


def _values(table: pd.DataFrame, column: str) -> bool:
    return column in table.columns and pd.to_numeric(table[column], errors="coerce").notna().any()


def _any_streamed(data: ReportData) -> bool:
    return data.requests is not None and "stream" in data.requests.columns and bool(data.requests["stream"].any())


def make_charts(data: ReportData) -> tuple[list[tuple[ch.Chart, bool]], list[tuple[str, str]]]:
    """The charts this data supports (with a wide-layout flag), and a sentence for each one it cannot."""
    table = data.table
    made: list[tuple[ch.Chart, bool]] = []
    absent: list[tuple[str, str]] = []
    no_success = data.successes == 0 and not table.empty
    if _values(table, "qps"):
        made.append((ch.qps_chart(table, data.hints, data.gate), False))
    else:
        absent.append(("QPS vs concurrency", "No stage has a QPS (no stage duration could be measured)."))
    if _values(table, "latency_p50_ms"):
        made.append((ch.latency_chart(table, data.gate), False))
    else:
        absent.append(("Latency vs concurrency", "No latency chart: no request succeeded." if no_success
                       else "No latency chart: no stage has latency figures."))
    if data.streaming:
        made.append((ch.ttft_chart(table, data.gate), False))
        if data.has_itl:
            made.append((ch.itl_chart(table, data.gate), False))
    elif no_success and _any_streamed(data):
        absent.append(("TTFT vs concurrency", "No TTFT chart: the run streamed, but no request succeeded, "
                                              "so there is no time to first token to show."))
    else:
        absent.append(("TTFT vs concurrency", "No TTFT chart: this run did not stream, and TTFT (and ITL) "
                                              "can only be measured on streamed responses. Run with --stream."))
    if not no_success and (_values(table, "tps") or _values(table, "output_tokens_per_s")):
        made.append((ch.tps_chart(table, data.gate), True))
    else:
        absent.append(("Tokens per second", "No TPS chart: no successful request carried token counts."))
    if data.requests is not None and not data.requests.empty:
        for column, metric, label in (("latency_ms", "latency", "Latency"), ("ttft_ms", "ttft", "TTFT")):
            chart = ch.distribution_chart(data.requests, table, column, metric, label)
            if chart is not None:
                made.append((chart, True))
            elif metric == "latency" or data.streaming:
                absent.append((f"{label} distribution", f"No {label} distribution chart: no successful request has a value."))
    else:
        absent.append(("Distributions per stage", "No latency/TTFT distributions: the per-request files "
                                                  "(requests_c{N}.csv) are missing."))
    if data.history is not None:
        made.append((ch.timeline_chart(data.history, ch.stage_windows(data.requests)), True))
    else:
        absent.append(("Timeline", "No timeline: locust_stats_history.csv is missing or empty."))
    return made, absent


def derived_notes(data: ReportData) -> list[Note]:
    """Gaps that show only once the stage table exists: no streaming, no successes."""
    notes = []
    if data.table.empty:
        return notes
    if data.successes == 0:
        notes.append(Note("missing", "No request succeeded in any stage: latency, TTFT, ITL and token "
                                     "figures are undefined; QPS is 0. The errors table shows why."))
    elif not data.streaming:
        notes.append(Note("missing", "This run did not stream, so there are no TTFT or ITL figures "
                                     "(they need streamed responses; run with --stream)."))
    return notes


def _subtitle(data: ReportData) -> str:
    config = tb.redact((data.overall or {}).get("config") or {})
    parts = []
    for key, label in (("model", "model"), ("base_url", "server"), ("endpoint", "endpoint"),
                       ("stream", "stream"), ("requests_per_stage", "requests/stage"), ("max_tokens", "max_tokens")):
        if config.get(key) not in (None, ""):
            parts.append(f"{hx.esc(label)} <code>{hx.esc(config[key])}</code>")
    generated = (data.overall or {}).get("generated_at")
    parts.append(f"run folder <code>{hx.esc(data.indir.resolve())}</code>")
    if generated:
        parts.append(f"run finished <code>{hx.esc(generated)}</code>")
    parts.append(f"report made {hx.esc(dt.datetime.now().astimezone().isoformat(timespec='seconds'))}")
    return f'<p class="sub">{" · ".join(parts)}</p>'


def _cards(data: ReportData) -> str:
    h, table = data.hints, data.table

    def c(value) -> str:
        return "—" if value is None else f"c={value}"

    peak_out = pd.to_numeric(table.get("output_tokens_per_s"), errors="coerce").max() if not table.empty else None
    total = int(pd.to_numeric(table.get("requests"), errors="coerce").fillna(0).sum()) if not table.empty else 0
    failed = int(pd.to_numeric(table.get("failures"), errors="coerce").fillna(0).sum()) if not table.empty else 0
    best = h.get("best_qps") or None
    if data.successes == 0:
        peak_out = None
    return hx.cards([
        ("best QPS", "—" if best is None else f"{best:,.2f}",
         f"req/s at {c(h.get('best_qps_at_concurrency'))}" if best else "no successful request"),
        ("saturation hint", c(h.get("saturation_concurrency")), "concurrency (SPEC §5 rule)"),
        ("error onset", c(h.get("error_onset_concurrency")), "first stage with error rate ≥ threshold"),
        ("peak total output", "—" if peak_out is None or pd.isna(peak_out) else f"{peak_out:,.1f}",
         "tokens/s, all streams"),
        ("stages", str(len(table)), f"{total:,} requests, {failed:,} failed"),
    ])


def render(data: ReportData) -> tuple[str, list[ch.Chart]]:
    """The report page for loaded data, and the charts in it."""
    errors = tb.error_table(data.requests, data.table)
    totals = tb.error_totals(errors)
    found = fd.compute(data.table, data.hints, data.overall, errors, totals,
                       tb.locust_aggregated(data.locust_stats), data.regression)
    made, absent = make_charts(data)
    figures = "".join(hx.chart_figure(chart, i, wide) for i, (chart, wide) in enumerate(made))
    figures += "".join(hx.absent_figure(title, text) for title, text in absent)
    overall_json = json.dumps(summary.to_jsonable(tb.redact(data.overall)), indent=2, ensure_ascii=False) \
        if data.overall is not None else None
    body = [
        hx.verdict_box(data.gate),
        _cards(data),
        hx.notes_list(data.notes + derived_notes(data)),
        '<h2 id="findings-h">Findings</h2>', hx.findings_list(found),
        f'<h2 id="charts">Charts</h2><div class="grid" id="chart-grid">{figures}</div>',
        '<h2 id="stages">Per-stage summary</h2>',
        '<p class="sub">The same numbers as <code>summary_all.csv</code> (exact values in each cell\'s '
        '<code>data-v</code>); statistics over successful requests, exact percentiles. Hover a header for its '
        'column name.</p>',
        hx.stage_table(data.table, tb.stage_columns(data.table), data.sources, data.partial)
        if not data.table.empty else '<p class="absent">No stage data.</p>',
        "<details><summary>All columns of summary_all.csv</summary>"
        + hx.full_table(data.table, "summary-all") + "</details>" if not data.table.empty else "",
        hx.regression_table(data.gate),
        '<h2 id="errors">Errors by stage and type</h2>', hx.error_table(errors),
        hx.locust_failures_table(data.locust_failures),
        '<h2 id="config">Run configuration</h2>', hx.config_table(tb.config_rows(data.overall)),
        '<h2 id="overall">overall_summary.json</h2>',
        f'<pre id="overall-json">{hx.esc(overall_json)}</pre>' if overall_json is not None
        else '<p class="absent">overall_summary.json is missing.</p>',
        hx.guide(),
        '<footer>Generated by llmbench-locust. Self-contained: opens offline; charts use an inlined copy '
        'of Vega, Vega-Lite and vega-embed.</footer>',
    ]
    model = ((data.overall or {}).get("config") or {}).get("model")
    title = "LLM benchmark report" + (f" — {model}" if model else "")
    return hx.page(title, _subtitle(data), "".join(body), vegalite_version()), [c for c, _ in made]


def write_pngs(charts: list[ch.Chart], folder: Path, scale: float = 2.0) -> list[Path]:
    """One PNG per chart, rendered by vl-convert (no browser, no network)."""
    import vl_convert

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for chart in charts:
        path = folder / f"{chart.key}.png"
        path.write_bytes(vl_convert.vegalite_to_png(chart.spec, vl_version=vegalite_version(), scale=scale))
        paths.append(path)
    return paths


def build_report(indir: str | os.PathLike, out: str | os.PathLike | None = None, png: bool = False) -> Path:
    """Write ``report.html`` for an output folder (default ``INDIR/report.html``); returns its path.

    With ``png``, each chart is also written to ``<report stem>_charts/<chart>.png`` beside it.
    """
    data = load(indir)
    page, charts = render(data)
    out_path = Path(out) if out is not None else Path(indir) / "report.html"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out_path)
    if png:
        write_pngs(charts, out_path.with_name(f"{out_path.stem}_charts"))
    return out_path
