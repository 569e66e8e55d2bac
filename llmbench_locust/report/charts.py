"""Altair charts of a benchmark run, built from the per-stage summary table and raw records.

Every number a chart shows comes from ``summary.py`` (the per-stage table) or is a plain count
(histogram bins, Locust's own timeline); nothing here computes a percentile. Chart data keeps
the ``summary_all.csv`` column names so a reader can match a tooltip to the CSV.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import altair as alt
import numpy as np
import pandas as pd

from .tables import token_sources
from .verdict import Bound, GateView

CHART_WIDTH = 380
CHART_HEIGHT = 260
FULL_WIDTH = 1000
HIST_BINS = 30

PERCENTILE_COLORS = {"p50": "#4c78a8", "p95": "#f58518", "p99": "#e45756"}
SLO_COLOR = "#333333"
PASS_COLOR = "#2e7d32"
AXIS_PADDING = 12


@dataclass(frozen=True)
class Chart:
    """One chart of the report: a stable id, a heading, and its Vega-Lite spec."""

    key: str
    title: str
    spec: dict
    caption: str = ""


def _spec(chart: alt.TopLevelMixin) -> dict:
    # Schema validation of large inline datasets costs seconds; specs are compiled by
    # vl-convert in the tests and by the browser, which catch the same mistakes.
    return chart.to_dict(validate=False)


TOOLTIP_POINTS = 1500


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain JSON values (NaN → null)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _with_datasets(chart: alt.TopLevelMixin, named: dict[str, pd.DataFrame]) -> dict:
    """Spec with large data attached afterwards as top-level named datasets.

    Altair validates inline rows one by one (seconds for a long run) and caps DataFrames at 5000
    rows; a named dataset referenced by ``alt.Data(name=…)`` skips both and is stored once.
    """
    spec = _spec(chart)
    spec.setdefault("datasets", {}).update({name: records(frame) for name, frame in named.items()})
    return spec


def _concurrency_axis(concurrencies: list[int]) -> alt.X:
    """x = concurrency; a log2 scale when the ladder doubles, so every stage gets room."""
    values = sorted({int(c) for c in concurrencies if c and c > 0})
    log = len(values) >= 3 and values[0] > 0 and values[-1] / values[0] >= 8
    scale = (alt.Scale(type="log", base=2, nice=False, padding=AXIS_PADDING) if log
             else alt.Scale(zero=False, nice=False, padding=AXIS_PADDING))
    title = "concurrency (concurrent users" + (", log₂ scale)" if log else ")")
    return alt.X("concurrency:Q", scale=scale, axis=alt.Axis(values=values, format="d", title=title, grid=False))


def _stage_tooltip() -> list[alt.Tooltip]:
    return [
        alt.Tooltip("concurrency:Q", title="concurrency", format="d"),
        alt.Tooltip("requests:Q", title="requests", format="d"),
        alt.Tooltip("successes:Q", title="successes", format="d"),
    ]

def _bound_color(bound: Bound, colors: dict[str, str] | None = None) -> str:
    """A bound on p99 is drawn in the p99 line's colour, so the eye compares the right pair."""
    stat = bound.metric.split("_")[1] if bound.metric.count("_") >= 2 else ""
    return (colors or {}).get(stat, SLO_COLOR)


def slo_rules(bounds: list[Bound], y_title: str, colors: dict[str, str] | None = None) -> list:
    """One dashed horizontal rule per SLO bound, labelled at the left end, where the low stages
    usually sit far from the bound (a label at the right end sat on the rising curve).

    The rule's y field differs from the data's, so it carries the same axis title (Vega-Lite
    would otherwise merge the two titles into one axis label)."""
    layers = []
    for bound in bounds:
        rule = pd.DataFrame([{"slo_metric": bound.metric, "slo_op": bound.op, "slo_bound": bound.value,
                              "slo_label": f"SLO {bound.text}"}])
        color = _bound_color(bound, colors)
        base = alt.Chart(rule).encode(
            y=alt.Y("slo_bound:Q", title=y_title),
            tooltip=[alt.Tooltip("slo_label:N", title="SLO"), alt.Tooltip("slo_metric:N", title="metric"),
                     alt.Tooltip("slo_bound:Q", title="bound", format=",.4~g")])
        layers += [base.mark_rule(strokeDash=[8, 4], strokeWidth=1.5, color=color),
                   base.mark_text(align="left", baseline="bottom", x=4, dy=-3, color=color,
                                  fontWeight="bold", fontSize=11).encode(text="slo_label:N")]
    return layers


def slo_region(view: GateView | None, x: alt.X, concurrencies: list) -> list:
    """The passing region, shaded from the left edge to ``max_concurrency_within_slo``.

    The rect starts at the first stage, pulled left over the axis padding by ``xOffset``, so a
    ceiling at the first stage still shows as a thin band instead of nothing. Its meaning is in
    the chart's subtitle: an in-plot label collides with data at the top or bottom."""
    ceiling = view.max_concurrency if view else None
    values = sorted(int(c) for c in concurrencies if pd.notna(c))
    if ceiling is None or not values:
        return []
    region = pd.DataFrame([{"concurrency": values[0], "slo_max_concurrency": ceiling,
                            "slo_region": f"every SLO met up to concurrency {ceiling}"}])
    tooltip = [alt.Tooltip("slo_region:N", title="SLO"),
               alt.Tooltip("slo_max_concurrency:Q", title="max_concurrency_within_slo", format="d")]
    return [alt.Chart(region).mark_rect(color=PASS_COLOR, opacity=0.10, xOffset=-AXIS_PADDING).encode(
        x=x, x2=alt.X2("slo_max_concurrency:Q"), tooltip=tooltip)]


def slo_subtitle(view: GateView | None, bounds: list[Bound]) -> str:
    """What the SLO marks on this chart mean, with the ceiling's number."""
    if view is None:
        return ""
    ceiling = view.max_concurrency
    text = (f"green: every SLO met up to c={ceiling}" if ceiling is not None
            else "no stage met every SLO" if view.ceiling else "")
    if bounds:
        text += ("; " if text else "") + "dashed: the SLO bound"
    return text


def with_slo(main: list, view: GateView | None, bounds: list[Bound], x: alt.X, y_title: str,
             concurrencies: list, colors: dict[str, str] | None = None) -> list:
    """Layers in drawing order: passing region under the data, SLO rules over it."""
    if view is None:
        return main
    return [*slo_region(view, x, concurrencies), *main, *slo_rules(bounds, y_title, colors)]


def _percentile_chart(table: pd.DataFrame, metric: str, label: str, stats: tuple[str, ...],
                      subtitle: str, view: GateView | None = None) -> alt.LayerChart | alt.Chart:
    """Lines of p50/p95/p99 of one metric against concurrency, data kept wide (CSV columns);
    with a gate, the SLO bounds on ``metric`` and the passing region are drawn too."""
    columns = [f"{metric}_{s}_ms" for s in stats]
    data = table[["concurrency", "requests", "successes", *columns]]
    bounds = [b for b in (view.bounds if view else ()) if b.metric.startswith(f"{metric}_")]
    color = alt.Color(
        "percentile:N",
        scale=alt.Scale(domain=list(stats), range=[PERCENTILE_COLORS[s] for s in stats]),
        # SLO labels sit at the top left, so with bounds the legend moves above the plot.
        legend=alt.Legend(title=None, orient="top" if bounds else "top-left"),
    )
    which = " : ".join(f"datum.column === '{c}' ? '{s}'" for c, s in zip(columns, stats)) + " : null"
    x = _concurrency_axis(table["concurrency"].tolist())
    y_title = f"{label} (ms)"
    base = (
        alt.Chart(data)
        .transform_fold(columns, as_=["column", "value_ms"])
        .transform_calculate(percentile=which)
        .transform_filter("isValid(datum.value_ms)")
        .encode(
            x=x,
            y=alt.Y("value_ms:Q", title=y_title, scale=alt.Scale(zero=True)),
            color=color,
            tooltip=[*_stage_tooltip(), alt.Tooltip("percentile:N"),
                     alt.Tooltip("column:N", title="summary_all.csv column"),
                     alt.Tooltip("value_ms:Q", title=y_title, format=",.3f")],
        )
    )
    line = base.mark_line(point=alt.OverlayMarkDef(size=50, filled=True), strokeWidth=2)
    if view is None:
        return line.properties(width=CHART_WIDTH, height=CHART_HEIGHT,
                               title=alt.Title(f"{label} vs concurrency", subtitle=subtitle))
    layers = with_slo([line], view, bounds, x, y_title, table["concurrency"].tolist(), colors=PERCENTILE_COLORS)
    return alt.layer(*layers).properties(
        width=CHART_WIDTH, height=CHART_HEIGHT,
        title=alt.Title(f"{label} vs concurrency", subtitle=_subtitle(subtitle, view, bounds)))


def _subtitle(text: str, view: GateView | None, bounds: list[Bound]) -> str | list[str]:
    extra = slo_subtitle(view, bounds)
    return [text, extra] if extra else text


def latency_chart(table: pd.DataFrame, view: GateView | None = None) -> Chart:
    chart = _percentile_chart(table, "latency", "Latency", ("p50", "p95", "p99"),
                              "End-to-end request latency of successful requests, exact percentiles", view)
    return Chart("latency", "Latency p50 / p95 / p99 vs concurrency", _spec(chart))


def ttft_chart(table: pd.DataFrame, view: GateView | None = None) -> Chart:
    chart = _percentile_chart(table, "ttft", "TTFT", ("p50", "p95", "p99"),
                              "Time to first output token (streaming), successful requests", view)
    return Chart("ttft", "TTFT p50 / p95 / p99 vs concurrency", _spec(chart))


def itl_chart(table: pd.DataFrame, view: GateView | None = None) -> Chart:
    chart = _percentile_chart(table, "itl", "Inter-token latency", ("p50", "p99"),
                              "Per request: (end − first token) / (completion tokens − 1)", view)
    return Chart("itl", "Inter-token latency p50 / p99 vs concurrency", _spec(chart),
                 "If TTFT climbs while this stays flat, requests wait before decoding starts "
                 "(queueing or prefill), not during it.")


def qps_chart(table: pd.DataFrame, hints: dict, view: GateView | None = None) -> Chart:
    """QPS per stage, with the best stage and the saturation point marked from the run's hints
    (and, with a gate, a qps SLO bound and the passing region)."""
    data = table[["concurrency", "requests", "successes", "qps", "error_rate", "latency_p99_ms"]]
    x = _concurrency_axis(table["concurrency"].tolist())
    peak = pd.to_numeric(table["qps"], errors="coerce").max()
    headroom = {"domainMax": float(peak) * 1.18} if pd.notna(peak) and peak > 0 else {}
    y_title = "QPS (successful requests / s)"
    y = alt.Y("qps:Q", title=y_title, scale=alt.Scale(zero=True, **headroom))
    tooltip = [*_stage_tooltip(),
               alt.Tooltip("qps:Q", title="QPS (req/s)", format=",.3f"),
               alt.Tooltip("error_rate:Q", title="error rate", format=".2%"),
               alt.Tooltip("latency_p99_ms:Q", title="latency p99 (ms)", format=",.3f")]
    base = alt.Chart(data).encode(x=x, y=y, tooltip=tooltip)
    layers = [base.mark_line(color="#4c78a8", strokeWidth=2),
              base.mark_point(color="#4c78a8", filled=True, size=50)]

    best_c, best_q = hints.get("best_qps_at_concurrency"), hints.get("best_qps")
    if best_c is not None and best_q:
        best = pd.DataFrame([{"concurrency": best_c, "qps": best_q,
                              "label": f"best {best_q:,.2f} req/s @ c={best_c}"}])
        best_base = alt.Chart(best).encode(
            x=x, y=y,
            tooltip=[alt.Tooltip("label:N", title="best QPS"),
                     alt.Tooltip("qps:Q", title="best_qps", format=",.3f"),
                     alt.Tooltip("concurrency:Q", title="best_qps_at_concurrency", format="d")])
        layers += [best_base.mark_point(shape="diamond", size=220, filled=True, color="#f2b701",
                                        stroke="#333", strokeWidth=1),
                   best_base.mark_text(dy=-16, fontWeight="bold", color="#333").encode(text="label:N")]

    error_threshold = (hints.get("thresholds") or {}).get("error_rate")
    onset_text = f"errors ≥ {error_threshold:.0%} from c={{c}}" if error_threshold else "errors from c={c}"
    marks = [("saturation_concurrency", "saturation ≈ c={c}", "#e45756"),
             ("error_onset_concurrency", onset_text, "#9d755d")]
    highest = max(table["concurrency"].tolist(), default=None)
    for i, (key, text, color) in enumerate(marks):
        c = hints.get(key)
        if c is None:
            continue
        rule = pd.DataFrame([{"concurrency": c, "label": text.format(c=c), "hint": key}])
        rule_base = alt.Chart(rule).encode(x=x, tooltip=[alt.Tooltip("hint:N", title="hint"),
                                                         alt.Tooltip("concurrency:Q", format="d")])
        right = c == highest
        layers += [rule_base.mark_rule(strokeDash=[6, 4], color=color, strokeWidth=2),
                   rule_base.mark_text(align="right" if right else "left", dx=-4 if right else 4,
                                       y=CHART_HEIGHT - 10 - 16 * i, color=color,
                                       fontWeight="bold").encode(text="label:N")]
    bounds = [b for b in (view.bounds if view else ()) if b.metric == "qps"]
    layers = with_slo(layers, view, bounds, x, y_title, table["concurrency"].tolist())
    chart = alt.layer(*layers).properties(
        width=CHART_WIDTH, height=CHART_HEIGHT,
        title=alt.Title("QPS vs concurrency",
                        subtitle=_subtitle("Successful requests / stage duration; ◆ best stage, dashed line: "
                                           "saturation hint", view, bounds)))
    return Chart("qps", "QPS vs concurrency", _spec(chart))


def tps_chart(table: pd.DataFrame, view: GateView | None = None) -> Chart:
    """Two panels, two different quantities: what one stream sees vs what the server delivers."""
    data = table[["concurrency", "requests", "successes", "tps", "output_tokens_per_s"]].assign(
        tokens_source=[token_sources(r) for r in table.to_dict("records")])
    x = _concurrency_axis(table["concurrency"].tolist())
    src = alt.Tooltip("tokens_source:N", title="token counts from")

    def panel(column: str, color: str, ytitle: str, title: str, subtitle: str) -> alt.LayerChart:
        base = alt.Chart(data).transform_filter(f"isValid(datum.{column})").encode(
            x=x, y=alt.Y(f"{column}:Q", title=ytitle, scale=alt.Scale(zero=True)),
            tooltip=[*_stage_tooltip(), alt.Tooltip(f"{column}:Q", title=f"{column} ({ytitle.split('(')[-1].rstrip(')')})",
                                                    format=",.3f"), src])
        bounds = [b for b in (view.bounds if view else ()) if b.metric == column]
        layers = with_slo([base.mark_line(color=color, strokeWidth=2),
                           base.mark_point(color=color, filled=True, size=50)],
                          view, bounds, x, ytitle, table["concurrency"].tolist())
        extra = slo_subtitle(view, bounds)
        return alt.layer(*layers).properties(width=FULL_WIDTH // 2 - 110, height=CHART_HEIGHT - 20,
                                             title=alt.Title(title, subtitle=[*subtitle, extra] if extra else subtitle))

    chart = alt.hconcat(
        panel("tps", "#54a24b", "tokens/s per stream",
              "Per-stream decode speed (tps)",
              ["Σ completion tokens / Σ generation time of successes:", "the speed one request sees"]),
        panel("output_tokens_per_s", "#b279a2", "tokens/s, all streams",
              "Total output throughput (output_tokens_per_s)",
              ["Σ completion tokens / stage duration:", "what the server delivers in total"]),
    ).resolve_scale(y="independent")
    return Chart("tps", "Per-stream TPS and total output tokens/s vs concurrency", _spec(chart),
                 "Left: tokens per second one stream receives while it is generating. Right: tokens "
                 "per second summed over all concurrent streams. They differ by roughly the concurrency.")


def histogram_rows(requests: pd.DataFrame, column: str, table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per-stage histogram of a per-request column (successes only), with the stage's p50/p99."""
    rows = []
    ok = requests[requests["ok"].astype(bool)]
    p50, p99 = f"{metric}_p50_ms", f"{metric}_p99_ms"
    marks = table.set_index("concurrency")
    for c, group in ok.groupby("concurrency", sort=True):
        values = group[column].dropna().to_numpy(dtype=float)
        if values.size == 0:
            continue
        bins = int(min(HIST_BINS, max(8, math.ceil(2 * math.sqrt(values.size))))) if values.min() < values.max() else 1
        counts, edges = np.histogram(values, bins=bins)
        rows += [{"concurrency": int(c), "kind": "bin", "bin_start": float(lo), "bin_end": float(hi),
                  "count": int(n), "zero": 0} for lo, hi, n in zip(edges[:-1], edges[1:], counts)]
        for stat, col in (("p50", p50), ("p99", p99)):
            if c in marks.index and col in marks.columns and pd.notna(marks.at[c, col]):
                rows.append({"concurrency": int(c), "kind": stat, "value_ms": float(marks.at[c, col]),
                             "column": col})
    return pd.DataFrame(rows)


def distribution_chart(requests: pd.DataFrame, table: pd.DataFrame, column: str, metric: str,
                       label: str) -> Chart | None:
    """Small multiples: one histogram per stage, each on its own x range, p50/p99 drawn as rules."""
    rows = histogram_rows(requests, column, table, metric)
    if rows.empty or not (rows["kind"] == "bin").any():
        return None
    for col in ("bin_start", "bin_end", "count", "zero", "value_ms", "column"):
        if col not in rows.columns:
            rows[col] = None
    n_stages = rows["concurrency"].nunique()
    columns = min(4, n_stages)
    width = max(150, int(FULL_WIDTH / columns) - 80)
    base = alt.Chart()
    bars = base.transform_filter(alt.datum.kind == "bin").mark_rect(color="#9ecae9", stroke="#4c78a8",
                                                                     strokeWidth=0.5).encode(
        x=alt.X("bin_start:Q", title=f"{label} (ms)", scale=alt.Scale(zero=False, nice=False),
                axis=alt.Axis(tickCount=4, format=",~r")),
        x2="bin_end:Q",
        y=alt.Y("count:Q", title="requests", scale=alt.Scale(zero=True)),
        y2="zero:Q",
        tooltip=[alt.Tooltip("concurrency:Q", format="d"),
                 alt.Tooltip("bin_start:Q", title="from (ms)", format=",.3f"),
                 alt.Tooltip("bin_end:Q", title="to (ms)", format=",.3f"),
                 alt.Tooltip("count:Q", title="requests", format="d")])
    rules = base.transform_filter(alt.datum.kind != "bin").mark_rule(strokeWidth=2).encode(
        x="value_ms:Q",
        color=alt.Color("kind:N", title=None,
                        scale=alt.Scale(domain=["p50", "p99"], range=[PERCENTILE_COLORS["p50"], PERCENTILE_COLORS["p99"]]),
                        legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("concurrency:Q", format="d"), alt.Tooltip("kind:N", title="percentile"),
                 alt.Tooltip("column:N", title="summary_all.csv column"),
                 alt.Tooltip("value_ms:Q", title=f"{label} (ms)", format=",.3f")])
    chart = (alt.layer(bars, rules, data=rows)
             .properties(width=width, height=120)
             .facet(facet=alt.Facet("concurrency:O", title=None, header=alt.Header(labelExpr="'concurrency ' + datum.value",
                                                                                    labelFontWeight="bold")),
                    columns=columns)
             .resolve_scale(x="independent", y="independent")
             .properties(title=alt.Title(f"{label} distribution per stage",
                                         subtitle="Successful requests; bins span each stage's own min–max (up to "
                                                  f"{HIST_BINS}); lines: the stage's p50 and p99")))
    return Chart(f"{metric}_dist", f"{label} distribution per stage", _spec(chart))


def stage_windows(requests: pd.DataFrame) -> pd.DataFrame:
    """When each stage ran on the wall clock: first start to last end of its requests."""
    if requests is None or requests.empty or "start_epoch" not in requests.columns:
        return pd.DataFrame(columns=["concurrency", "start", "end"])
    end = requests["end_epoch"] if "end_epoch" in requests.columns else pd.Series(np.nan, index=requests.index)
    end = end.fillna(requests["start_epoch"] + requests["latency_ms"].fillna(0) / 1000.0)
    frame = pd.DataFrame({"concurrency": requests["concurrency"], "start": requests["start_epoch"], "end": end})
    return frame.groupby("concurrency", as_index=False).agg(start=("start", "min"), end=("end", "max"))


def timeline_chart(history: pd.DataFrame, windows: pd.DataFrame) -> Chart:
    """Locust's own once-a-second view of the run: users, requests/s and failures/s over time."""
    t0 = float(history["Timestamp"].min())
    data = pd.DataFrame({
        "t_s": history["Timestamp"].astype(float) - t0,
        "timestamp": history["Timestamp"],
        "users": history["User Count"],
        "rps": history["Requests/s"],
        "failures_per_s": history["Failures/s"],
        "total_requests": history["Total Request Count"],
        "total_failures": history["Total Failure Count"],
    })
    x = alt.X("t_s:Q", title="time since start (s)", scale=alt.Scale(nice=False))
    tooltip = [alt.Tooltip("t_s:Q", title="time since start (s)", format=",.0f"),
               alt.Tooltip("users:Q", title="active users", format="d"),
               alt.Tooltip("rps:Q", title="requests/s", format=",.3f"),
               alt.Tooltip("failures_per_s:Q", title="failures/s", format=",.3f"),
               alt.Tooltip("total_requests:Q", title="total requests", format="d"),
               alt.Tooltip("total_failures:Q", title="total failures", format="d")]
    width = FULL_WIDTH

    stride = max(1, math.ceil(len(data) / TOOLTIP_POINTS))
    points = data.iloc[::stride]

    def panel(field: str, title: str, color: str, bands: bool = False) -> alt.LayerChart:
        line = alt.Chart(alt.Data(name="timeline")).mark_line(
            color=color, interpolate="step-after", strokeWidth=1.5).encode(x=x, y=alt.Y(f"{field}:Q", title=title))
        dots = alt.Chart(alt.Data(name="timeline_points")).mark_point(opacity=0, size=60).encode(
            x=x, y=f"{field}:Q", tooltip=tooltip)
        layers = [line, dots]
        if bands and not windows.empty:
            band = alt.Chart(alt.Data(name="stage_windows")).mark_rect(opacity=0.12, color="#4c78a8").encode(
                x="start_s:Q", x2="end_s:Q",
                tooltip=[alt.Tooltip("concurrency:Q", format="d"),
                         alt.Tooltip("start_s:Q", title="stage start (s)", format=",.1f"),
                         alt.Tooltip("end_s:Q", title="stage end (s)", format=",.1f")])
            label = alt.Chart(alt.Data(name="stage_windows")).mark_text(
                align="left", dx=3, y=8, color="#335", fontSize=10).encode(x="start_s:Q", text="label:N")
            layers = [band, label, *layers]
        return alt.layer(*layers).properties(width=width, height=110)

    sampled = "" if stride == 1 else f"; tooltips on every {stride}th of {len(data):,} samples"
    chart = alt.vconcat(
        panel("users", "active users", "#4c78a8", bands=True),
        panel("rps", "requests/s", "#54a24b"),
        panel("failures_per_s", "failures/s", "#e45756"),
        spacing=8,
    ).resolve_scale(x="shared").properties(
        title=alt.Title("Timeline (Locust stats history)",
                        subtitle=["Locust's Aggregated row, one sample per interval; requests/s is Locust's "
                                  "recent-window rate" + sampled,
                                  "Shaded: stage windows (first start to last end of each stage's requests)"]))
    win = windows.assign(start_s=windows["start"] - t0, end_s=windows["end"] - t0,
                         label="c=" + windows["concurrency"].astype(int).astype(str))
    spec = _with_datasets(chart, {"timeline": data, "timeline_points": points,
                                  "stage_windows": win[["concurrency", "start_s", "end_s", "label"]]})
    return Chart("timeline", "Timeline: active users, requests/s and failures", spec)
