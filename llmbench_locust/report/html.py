"""Assemble the report as one HTML file that renders offline from a file:// URL.

Vega, Vega-Lite and vega-embed are inlined (vl-convert's bundle), chart specs travel as JSON in
``<script type="application/json">`` blocks with ``<``, ``>`` and ``&`` escaped, and every other
string — much of it written by the server under test — goes through ``html.escape``.
"""

from __future__ import annotations

import html
import json
import math
from typing import Iterable

import pandas as pd

from .charts import Chart
from .data import Note
from .findings import Finding
from .tables import token_sources
from .verdict import EXIT_MEANING, GateView, regression_frame, value_text

CSS = """
:root { --fg:#1d2433; --muted:#5b6475; --line:#e3e6ec; --bg:#f6f7f9; --card:#fff;
        --bad:#c0392b; --warn:#b9770e; --info:#2e6da4; --ok:#2e7d32; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font:14px/1.5 -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif; }
main { max-width:1200px; margin:0 auto; padding:24px 28px 48px; }
h1 { font-size:24px; margin:0 0 4px; }
h2 { font-size:18px; margin:32px 0 12px; padding-bottom:6px; border-bottom:1px solid var(--line); }
h3 { font-size:15px; margin:0 0 4px; }
.sub { color:var(--muted); margin:0 0 16px; }
.sub code { background:#eceff3; padding:1px 5px; border-radius:4px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(160px,1fr)); gap:10px; margin:16px 0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
.card .v { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
.card .u { color:var(--muted); font-size:12px; }
.notes, .findings { list-style:none; padding:0; margin:0; }
.notes li, .findings li { background:var(--card); border:1px solid var(--line); border-left:4px solid var(--info);
       border-radius:6px; padding:8px 12px; margin:6px 0; }
.findings li.bad, .notes li.missing { border-left-color:var(--bad); }
.findings li.warn, .notes li.warn { border-left-color:var(--warn); }
.tag { display:inline-block; font-size:11px; font-weight:600; text-transform:uppercase; letter-spacing:.04em;
       color:#fff; background:var(--info); border-radius:3px; padding:0 6px; margin-right:8px; vertical-align:1px; }
li.bad .tag, li.missing .tag { background:var(--bad); } li.warn .tag { background:var(--warn); }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(520px,1fr)); gap:14px; }
figure { margin:0; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px; overflow-x:auto; }
figure.wide { grid-column:1 / -1; }
figcaption { color:var(--muted); font-size:13px; margin-top:6px; }
.absent { color:var(--muted); font-style:italic; }
.chart { min-height:40px; }
table { border-collapse:collapse; background:var(--card); font-size:12.5px; width:100%; }
.tablewrap { overflow-x:auto; border:1px solid var(--line); border-radius:8px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#eef1f5; font-weight:600; white-space:nowrap; position:sticky; top:0; }
th .unit { display:block; font-weight:400; color:var(--muted); font-size:11px; }
td.n { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tbody tr:nth-child(even) { background:#fafbfc; }
tr.partial td:first-child::after { content:" (partial)"; color:var(--warn); font-weight:600; }
td.msg { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12px; word-break:break-word; }
pre { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px; overflow:auto;
      font-size:12px; max-height:520px; }
details { margin:10px 0; } summary { cursor:pointer; color:var(--info); }
.guide li { margin:4px 0; }
footer { color:var(--muted); font-size:12px; margin-top:36px; }
.verdict { background:var(--card); border:1px solid var(--line); border-left:6px solid var(--info); border-radius:8px;
           padding:12px 16px; margin:16px 0; }
.verdict.pass { border-left-color:var(--ok); } .verdict.fail, .verdict.error { border-left-color:var(--bad); }
.verdict-head { font-size:16px; display:flex; align-items:center; gap:12px; flex-wrap:wrap; }
.badge { font-weight:700; letter-spacing:.05em; color:#fff; background:var(--info); border-radius:4px; padding:2px 10px; }
.verdict.pass .badge { background:var(--ok); } .verdict.fail .badge, .verdict.error .badge { background:var(--bad); }
.verdict .cards { margin:12px 0 8px; }
.verdict p { margin:6px 0; }
.verdict ul { margin:4px 0; padding-left:20px; }
td.slo { white-space:nowrap; } td.slo.met { color:var(--ok); font-weight:600; } td.slo.missed { color:var(--bad); font-weight:600; }
tr.regressed td { background:#fdecea; } tr.regressed td.verdict-cell { color:var(--bad); font-weight:700; }
td.verdict-cell { white-space:nowrap; }
"""

EMBED_JS = """
(function () {
  var blocks = document.querySelectorAll('script[type="application/json"][data-chart]');
  blocks.forEach(function (block) {
    var target = document.getElementById(block.getAttribute('data-chart'));
    var spec = JSON.parse(block.textContent);
    vegaEmbed(target, spec, {renderer: 'svg', actions: false}).then(function () {
      target.setAttribute('data-rendered', 'true');
    }).catch(function (err) {
      target.textContent = 'This chart failed to render: ' + err;
      console.error(err);
    });
  });
})();
"""

GUIDE = (
    "QPS vs concurrency: QPS rises to a peak and then flattens or falls; the best concurrency is near the peak.",
    "Latency p99 vs concurrency: if p99 climbs steeply while QPS no longer grows, the server is past saturation.",
    "Check best_qps_at_concurrency in overall_summary.json, and whether error_rate and latency p99 jump there.",
    "QPS below expectations and p99 rising early: look at the server first (GPU/NCCL, batching, KV cache, "
    "request queue, rate limits).",
    "Low TPS: check max_tokens and whether the server returns usage.completion_tokens; look for compression, "
    "flow control or serialization overhead in middleware.",
    "High TTFT but fast generation: look at the first-token path — scheduling, queueing, prompt encoding, "
    "prefill batching.",
)


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def script_json(obj) -> str:
    """JSON that cannot end its ``<script>`` element or open a comment, whatever strings it holds."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def vega_bundle(vl_version: str | None) -> str:
    """vega + vega-lite + vega-embed as one script, safe to inline (vl-convert caches the build)."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=vl_version)
    return bundle.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def fmt_number(column: str, value) -> str:
    """Display form of a table number; counts as integers, everything else to 3 decimals."""
    if _missing(value):
        return "—"
    if isinstance(value, str):
        return value
    if column in ("concurrency", "stage", "requests", "successes", "failures", "goodput_requests",
                  "prompt_tokens_total", "completion_tokens_total", "count", "http_status") \
            or column.startswith(("errors_", "tokens_source_")):
        return f"{int(value):,}"
    if column in ("error_rate", "goodput_ratio"):
        return f"{float(value) * 100:.2f}%"
    if column == "change":
        return f"{float(value) * 100:+.1f}%"
    if column == "allowed":
        return f"{float(value) * 100:.3g}%"
    return f"{float(value):,.3f}"


def num_cell(column: str, value) -> str:
    """A numeric cell carrying its exact value in ``data-v`` (what tests and curious readers check)."""
    if _missing(value):
        return '<td class="n" data-v="">—</td>'
    if isinstance(value, str):
        return f'<td class="n">{esc(value)}</td>'
    return f'<td class="n" data-c="{esc(column)}" data-v="{esc(repr(float(value)))}">{esc(fmt_number(column, value))}</td>'


def stage_table(table: pd.DataFrame, columns: list[tuple[str, str, str]], sources: dict[int, str],
                partial: Iterable[int]) -> str:
    partial = set(partial)
    head = "".join(f'<th title="{esc(key)}">{esc(label)}<span class="unit">{esc(unit)}</span></th>'
                   for key, label, unit in columns) + '<th>source</th>'
    body = []
    for row in table.to_dict("records"):
        c = int(row["concurrency"])
        cells = []
        for key, _, _ in columns:
            if key == "tokens_from":
                cells.append(f"<td>{esc(token_sources(row))}</td>")
            elif key == "slo_met":
                cells.append(slo_cell(row.get("slo_met"), row.get("slo_failed")))
            else:
                cells.append(num_cell(key, row.get(key)))
        cells.append(f"<td>{esc(sources.get(c, ''))}</td>")
        cls = ' class="partial"' if c in partial else ""
        body.append(f'<tr data-concurrency="{c}"{cls}>' + "".join(cells) + "</tr>")
    return (f'<div class="tablewrap"><table id="stage-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def full_table(table: pd.DataFrame, table_id: str) -> str:
    """Every column of a frame, as-is (numbers with data-v); for the complete summary_all view."""
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    body = []
    for row in table.to_dict("records"):
        cells = []
        for column in table.columns:
            value = row[column]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cells.append(num_cell(column, value))
            else:
                cells.append(f"<td>{'—' if _missing(value) else esc(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="tablewrap"><table id="{esc(table_id)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def error_table(errors: pd.DataFrame) -> str:
    if errors.empty:
        return '<p class="absent">No failed requests.</p>'
    rows = []
    for row in errors.to_dict("records"):
        rows.append(f'<tr data-concurrency="{int(row["concurrency"])}"><td class="n">{int(row["concurrency"])}</td>'
                    f'<td>{esc(row["error_type"])}</td>{num_cell("count", row["count"])}'
                    f'{num_cell("http_status", row["http_status"])}'
                    f'<td class="msg">{esc(row["example"]) or "<span class=absent>(no record)</span>"}</td></tr>')
    return ('<div class="tablewrap"><table id="error-table"><thead><tr><th>concurrency</th><th>error type</th>'
            '<th>count</th><th>HTTP status<span class="unit">of the example</span></th>'
            '<th>example message (first failure of this type in the stage, verbatim)</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def locust_failures_table(frame: pd.DataFrame | None) -> str:
    if frame is None or frame.empty:
        return ""
    return ("<details><summary>Locust's own failure list (locust_failures.csv)</summary>"
            + full_table(frame, "locust-failures") + "</details>")


def config_table(rows: list[tuple[str, str]]) -> str:
    if not rows:
        return '<p class="absent">No run configuration recorded (overall_summary.json missing or without config).</p>'
    body = "".join(f"<tr><th>{esc(k)}</th><td class=\"msg\">{esc(v)}</td></tr>" for k, v in rows)
    return f'<div class="tablewrap"><table id="config-table"><tbody>{body}</tbody></table></div>'


def _tagged_item(level: str, tag: str, text: str, attrs: str = "") -> str:
    """One list line of notes or findings: its level as a class, a short tag, the escaped text."""
    return f'<li class="{esc(level)}"{attrs}><span class="tag">{esc(tag)}</span>{esc(text)}</li>'


def notes_list(notes: list[Note]) -> str:
    if not notes:
        return ""
    label = {"missing": "missing", "warn": "caution", "info": "note"}
    items = "".join(_tagged_item(n.level, label.get(n.level, n.level), n.text) for n in notes)
    return f'<h2 id="data-notes">About this data</h2><ul class="notes">{items}</ul>'


def findings_list(findings: list[Finding]) -> str:
    if not findings:
        return '<p class="absent">Not enough data for findings.</p>'
    label = {"bad": "act", "warn": "look", "info": "info"}
    items = "".join(_tagged_item(f.level, label.get(f.level, f.level), f.text, f' data-finding="{esc(f.key)}"')
                    for f in findings)
    return f'<ul class="findings" id="findings">{items}</ul>'


def chart_figure(chart: Chart, index: int, wide: bool) -> str:
    cid = f"chart-{chart.key}"
    caption = f"<figcaption>{esc(chart.caption)}</figcaption>" if chart.caption else ""
    return (f'<figure class="{"wide" if wide else ""}"><div class="chart" id="{cid}" data-chart-key="{esc(chart.key)}">'
            f"</div>{caption}"
            f'<script type="application/json" data-chart="{cid}" id="spec-{esc(chart.key)}">{script_json(chart.spec)}</script>'
            "</figure>")


def absent_figure(title: str, text: str) -> str:
    return f'<figure class="absent-chart"><h3>{esc(title)}</h3><p class="absent">{esc(text)}</p></figure>'


def cards(items: list[tuple[str, str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div><div class="u">{esc(u)}</div></div>'
        for k, v, u in items) + "</div>"


def page(title: str, subtitle_html: str, body_html: str, vl_version: str | None) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline' "
        "'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:\">"
        f"<title>{esc(title)}</title><style>{CSS}</style>"
        f"<script>{vega_bundle(vl_version)}</script></head>"
        f"<body><main><h1>{esc(title)}</h1>{subtitle_html}{body_html}</main>"
        f"<script>{EMBED_JS}</script></body></html>\n"
    )


def guide() -> str:
    items = "".join(f"<li>{esc(g)}</li>" for g in GUIDE)
    return f'<h2 id="guide">How to read the charts</h2><ul class="guide">{items}</ul>'


def truth(value) -> bool | None:
    """A verdict read back from JSON or CSV (bool, numpy bool or 'True'/'False'); None if absent."""
    if _missing(value):
        return None
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return bool(value)


def slo_cell(met, failed) -> str:
    """The stage's SLO verdict, naming the bounds it missed (summary's ``slo_failed``)."""
    verdict = truth(met)
    if verdict is None:
        return '<td class="slo" data-c="slo_met" data-v="">—</td>'
    if verdict:
        return '<td class="slo met" data-c="slo_met" data-v="true">✓ met</td>'
    names = failed if isinstance(failed, str) else ";".join(failed or []) if isinstance(failed, list) else ""
    shown = ", ".join(n for n in names.split(";") if n)
    return (f'<td class="slo missed" data-c="slo_met" data-v="false" data-failed="{esc(names)}">'
            f'✗ missed{": " + esc(shown) if shown else ""}</td>')


def _value_span(key: str, value, text: str) -> str:
    """A figure with its exact value in ``data-v``, keyed for tests (as the table cells are)."""
    exact = "" if _missing(value) else repr(value if isinstance(value, int) else float(value))
    return f'<span data-k="{esc(key)}" data-v="{esc(exact)}">{esc(text)}</span>'


def _verdict_head(view: GateView) -> str:
    if view.verdict is None:
        return ('<div class="verdict-head"><span class="badge">SLO</span><span>overall_summary.json records no gate '
                'verdict or exit code; the SLO ceiling below is the run\'s own.</span></div>')
    meaning = EXIT_MEANING.get(view.exit_code, "")
    return (f'<div class="verdict-head"><span class="badge">{esc(view.verdict.upper())}</span>'
            f'<span>exit code <b>{esc(view.exit_code)}</b>: {esc(meaning)}</span></div>')


def _ceiling_cards(view: GateView) -> str:
    c = view.ceiling
    if c is None:
        return ""
    top = c.get("max_concurrency")
    first = c.get("first_failed_concurrency")
    missed = ", ".join(c.get("first_failed_above") or []) or "—"
    items = [
        ("max concurrency within SLO", _value_span("max_concurrency_within_slo", top, "none" if top is None else f"c={top}"),
         "every stage up to it met every bound" if top is not None else "even the first stage missed"),
        ("QPS there", _value_span("qps", c.get("qps"), "—" if c.get("qps") is None else f"{c['qps']:,.2f}"), "req/s"),
        ("output tokens/s there",
         _value_span("output_tokens_per_s", c.get("output_tokens_per_s"),
                     "—" if c.get("output_tokens_per_s") is None else f"{c['output_tokens_per_s']:,.1f}"),
         "tokens/s, all streams"),
        ("first missed", _value_span("first_failed_concurrency", first, "—" if first is None else f"c={first}"),
         missed if first is not None else "no stage missed"),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{v}</div><div class="u">{esc(u)}</div></div>'
        for k, v, u in items) + "</div>"


def _first_failed_line(view: GateView) -> str:
    c = view.ceiling or {}
    details = c.get("first_failed_details") or []
    if c.get("first_failed_concurrency") is None or not details:
        return ""
    parts = "; ".join(f"<code>{esc(d.get('metric'))}</code> {esc(value_text(d.get('metric', ''), d.get('observed')))} "
                      f"(bound {esc('≤' if d.get('op') == '<=' else '≥')} {esc(value_text(d.get('metric', ''), d.get('bound')))})"
                      for d in details)
    return f'<p id="first-failed">Above it, at concurrency {esc(c["first_failed_concurrency"])}: {parts}.</p>'


def _requirement_line(view: GateView) -> str:
    c = view.ceiling or {}
    need = c.get("required_concurrency")
    if need is None:
        return ""
    held = "reached" if c.get("requirement_met") else "not reached"
    return (f"<p>Promised load (<code>--slo-min-concurrency</code>): c ≥ {esc(need)}, <b>{held}</b>; stages above "
            "it are informational and do not gate.</p>")


def _bounds_line(view: GateView) -> str:
    if not view.bounds:
        return ""
    items = " · ".join(f'<code data-slo="{esc(b.metric)}">{esc(b.text)}</code>' for b in view.bounds)
    return f'<p>SLOs: {items}. Per-stage verdicts and goodput are in the <a href="#stages">stage table</a>.</p>'


def _baseline_line(view: GateView) -> str:
    base, reg = view.baseline or {}, view.regression or {}
    if not base and not reg:
        return ""
    source = base.get("source") or (reg.get("baseline") or {}).get("source")
    checks = reg.get("checks") or []
    regressed = [c for c in checks if c.get("status") == "regressed"]
    passed = base.get("passed", reg.get("passed"))
    text = f"Baseline <code>{esc(source)}</code>: <b>{'no regression' if passed else 'regressed'}</b>"
    if checks:
        text += f" — {len(regressed)} of {len(checks)} checks beyond their allowance"
    metrics = base.get("regressed_metrics") or reg.get("regressed_metrics") or []
    concs = base.get("regressed_concurrencies") or reg.get("regressed_concurrencies") or []
    if metrics:
        text += (f" ({esc(', '.join(metrics))} at concurrency {esc(', '.join(str(c) for c in concs))})")
    problem = base.get("problem") or reg.get("problem")
    if problem:
        text += f"; {esc(problem)}"
    return f'<p id="baseline-line">{text}. See the <a href="#regression">baseline comparison</a>.</p>'


def _reasons(view: GateView) -> str:
    if not view.reasons:
        return ""
    items = "".join(f"<li>{esc(r)}</li>" for r in view.reasons)
    return (f'<details id="gate-reasons"><summary>Every failed check ({len(view.reasons)}), as the run printed '
            f"them</summary><ul>{items}</ul></details>")


def verdict_box(view: GateView | None) -> str:
    """The CI verdict at the top of the page: what a pipeline decided, and why, from the gating files."""
    if view is None:
        return ""
    cls = esc(view.verdict or "unknown")
    code = "" if view.exit_code is None else f' data-exit-code="{esc(view.exit_code)}"'
    parts = [_verdict_head(view), _ceiling_cards(view), _first_failed_line(view), _requirement_line(view),
             _bounds_line(view), _baseline_line(view), _reasons(view)]
    return f'<section id="verdict" class="verdict {cls}" data-verdict="{cls}"{code}>' + "".join(parts) + "</section>"


STATUS_TEXT = {"regressed": "✗ regressed", "passed": "✓ within allowance", "not_judged": "not judged"}


def regression_table(view: GateView | None) -> str:
    """regression.json's checks, one row per stage × metric, regressions highlighted."""
    if view is None or (view.regression is None and view.baseline is None):
        return ""
    frame = regression_frame(view.regression)
    if frame.empty:
        return ('<h2 id="regression">Baseline comparison</h2><p class="absent">No per-stage checks recorded '
                "(regression.json missing or empty).</p>")
    rows = []
    for row in frame.to_dict("records"):
        status = str(row["status"])
        cls = ' class="regressed"' if status == "regressed" else ""
        cells = [num_cell("stage", row["stage"]), num_cell("concurrency", row["concurrency"]),
                 f"<td><code>{esc(row['metric'])}</code></td>",
                 num_cell("baseline", row["baseline"]), num_cell("current", row["current"]),
                 num_cell("change", row["change"]), num_cell("allowed", row["allowed"]),
                 f'<td class="verdict-cell" data-status="{esc(status)}">{esc(STATUS_TEXT.get(status, status))}</td>']
        rows.append(f'<tr data-concurrency="{esc(row["concurrency"])}" data-metric="{esc(row["metric"])}"{cls}>'
                    + "".join(cells) + "</tr>")
    head = ("<th>stage</th><th>concurrency</th><th>metric</th><th>baseline</th><th>current</th>"
            '<th>change<span class="unit">current vs baseline</span></th>'
            '<th>allowed<span class="unit">worse by at most</span></th><th>verdict</th>')
    return ('<h2 id="regression">Baseline comparison</h2>' + _regression_sub(view.regression or {})
            + f'<div class="tablewrap"><table id="regression-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _regression_sub(reg: dict) -> str:
    base = reg.get("baseline") or {}
    parts = [f"From <code>regression.json</code>: this run against <code>{esc(base.get('source'))}</code>"
             + (f" (run finished {esc(base.get('generated_at'))})" if base.get("generated_at") else "")
             + ". qps and output tokens/s regress when they drop, latency and TTFT p99 when they rise."]
    for key, label in (("only_in_baseline", "only in the baseline"), ("only_in_run", "only in this run")):
        if reg.get(key):
            parts.append(f"Concurrency {esc(', '.join(str(c) for c in reg[key]))} {label}: not compared.")
    for key, diff in (reg.get("config_differences") or {}).items():
        parts.append(f"<code>{esc(key)}</code> differs from the baseline ({esc(diff.get('baseline'))} → "
                     f"{esc(diff.get('current'))}): a change here may explain a “regression”.")
    return f'<p class="sub">{" ".join(parts)}</p>'
