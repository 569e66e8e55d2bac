"""The HTML report from synthetic output folders: numbers, partial folders, escaping, CLI, PNGs.

Browser rendering is in test_report_browser.py; this file reads the generated HTML as text.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from llmbench_locust import summary
from llmbench_locust.report import build_report
from llmbench_locust.report.cli import main as report_main
from llmbench_locust.report.synthetic import XSS_MESSAGE, Scenario, build

SPEC_RE = re.compile(r'<script type="application/json" data-chart="chart-([\w-]+)" id="spec-[\w-]+">(.*?)</script>', re.S)

SCENARIOS = {
    "full": Scenario(),
    "killed": Scenario(killed=True),
    "missing_stages": Scenario(run_stages=3),
    "no_streaming": Scenario(stream=False),
    "no_successes": Scenario(fail_all=True, concurrency=[1, 2, 4]),
    "no_locust": Scenario(write_locust=False),
    "no_summaries": Scenario(write_summaries=False),
    "chunks": Scenario(usage=False),
    "client_busy": Scenario(client_busy=True),
}
FULL_CHARTS = ["qps", "latency", "ttft", "itl", "tps", "latency_dist", "ttft_dist", "timeline"]
EXPECTED_CHARTS = {
    "full": FULL_CHARTS,
    "killed": FULL_CHARTS,
    "missing_stages": FULL_CHARTS,
    "no_streaming": ["qps", "latency", "tps", "latency_dist", "timeline"],
    "no_successes": ["qps", "timeline"],
    "no_locust": FULL_CHARTS[:-1],
    "no_summaries": FULL_CHARTS,
    "chunks": FULL_CHARTS,
    "client_busy": FULL_CHARTS,
}


@pytest.fixture(scope="session")
def reports(tmp_path_factory) -> dict[str, Path]:
    """One synthetic output folder and its report per scenario (built once per session)."""
    root = tmp_path_factory.mktemp("report-runs")
    out = {}
    for name, scenario in SCENARIOS.items():
        folder = build(root / name, scenario)
        out[name] = build_report(folder)
    return out


def chart_specs(page: str) -> dict[str, dict]:
    return {key: json.loads(body) for key, body in SPEC_RE.findall(page)}


def datasets(spec) -> list[list[dict]]:
    """Every inline dataset of a Vega-Lite spec, wherever it sits."""
    found = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "datasets":
                found += list(value.values())
            elif key == "values" and isinstance(value, list) and value and isinstance(value[0], dict):
                found.append(value)
            else:
                found += datasets(value)
    elif isinstance(spec, list):
        for item in spec:
            found += datasets(item)
    return found


def rows_with(spec: dict, column: str) -> list[dict]:
    return [row for data in datasets(spec) for row in data if column in row]


def stage_rows(spec: dict, column: str) -> list[dict]:
    """Rows of the per-stage dataset (the annotation datasets carry no 'successes')."""
    return [row for row in rows_with(spec, column) if "successes" in row]


class CellParser(HTMLParser):
    """Collects the data-c/data-v cells of one table, by row concurrency."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.row = table_id, False, None
        self.cells: dict[int, dict[str, str]] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.inside = attrs.get("id") == self.table_id
        if self.inside and tag == "tr" and "data-concurrency" in attrs:
            self.row = int(attrs["data-concurrency"])
            self.cells.setdefault(self.row, {})
        if self.inside and tag == "td" and attrs.get("data-c") and self.row is not None:
            self.cells[self.row][attrs["data-c"]] = attrs["data-v"]

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.text.append(data)


def table_cells(page: str, table_id: str) -> CellParser:
    parser = CellParser(table_id)
    parser.feed(page)
    return parser


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def summary_all(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "summary_all.csv").set_index("concurrency")


# --- numbers -------------------------------------------------------------------------------------


def test_chart_data_equals_summary_files(reports):
    folder = reports["full"].parent
    expected = summary_all(folder)
    specs = chart_specs(read(reports["full"]))
    checks = {
        "qps": ["qps", "error_rate", "latency_p99_ms"],
        "latency": ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"],
        "ttft": ["ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms"],
        "itl": ["itl_p50_ms", "itl_p99_ms"],
        "tps": ["tps", "output_tokens_per_s"],
    }
    for key, columns in checks.items():
        rows = stage_rows(specs[key], columns[0])
        assert sorted(int(r["concurrency"]) for r in rows) == sorted(expected.index), key
        for row in rows:
            for column in columns:
                assert row[column] == expected.at[int(row["concurrency"]), column], (key, column)
    # the same values as each stage's own summary_c{N}.json
    for row in stage_rows(specs["latency"], "latency_p99_ms"):
        stage = json.loads((folder / f"summary_c{int(row['concurrency'])}.json").read_text())
        assert row["latency_p99_ms"] == stage["latency_ms"]["p99"]
        assert row["latency_p50_ms"] == stage["latency_ms"]["p50"]


def test_marked_points_equal_overall_summary(reports):
    overall = json.loads((reports["full"].parent / "overall_summary.json").read_text())
    spec = chart_specs(read(reports["full"]))["qps"]
    best = [r for r in rows_with(spec, "label") if "best" in str(r["label"])]
    assert best == [{"concurrency": overall["best_qps_at_concurrency"], "qps": overall["best_qps"],
                     "label": best[0]["label"]}]
    hints = {r["hint"]: r["concurrency"] for r in rows_with(spec, "hint")}
    assert hints == {"saturation_concurrency": overall["saturation_concurrency"],
                     "error_onset_concurrency": overall["error_onset_concurrency"]}
    assert overall["saturation_concurrency"] == 8 and overall["error_onset_concurrency"] == 32


def test_distribution_rules_equal_summary_percentiles(reports):
    expected = summary_all(reports["full"].parent)
    spec = chart_specs(read(reports["full"]))["latency_dist"]
    rules = [r for r in rows_with(spec, "kind") if r["kind"] in ("p50", "p99")]
    assert len(rules) == 2 * len(expected)
    for rule in rules:
        assert rule["value_ms"] == expected.at[rule["concurrency"], f"latency_{rule['kind']}_ms"]
    bins = [r for r in rows_with(spec, "kind") if r["kind"] == "bin"]
    successes = expected["successes"].sum()
    assert sum(b["count"] for b in bins) == successes


def test_stage_table_equals_summary_all(reports):
    expected = summary_all(reports["full"].parent)
    cells = table_cells(read(reports["full"]), "stage-table").cells
    assert sorted(cells) == sorted(expected.index)
    checked = 0
    for c, row in cells.items():
        for column, value in row.items():
            if column == "concurrency":
                assert float(value) == c
                continue
            want = expected.at[c, column]
            if pd.isna(want):
                assert value == ""
            else:
                assert float(value) == float(want), (c, column)
                checked += 1
    assert checked >= 6 * 15
    full = table_cells(read(reports["full"]), "summary-all")
    assert "latency_min_ms" in "".join(full.text)


def test_displayed_numbers_are_the_exact_values_rounded(reports):
    page = read(reports["full"])
    expected = summary_all(reports["full"].parent)
    p99 = expected.at[16, "latency_p99_ms"]
    assert re.search(rf'data-c="latency_p99_ms" data-v="{re.escape(repr(float(p99)))}">{re.escape(f"{p99:,.3f}")}<', page)


def test_findings_state_their_numbers(reports):
    page = html.unescape(read(reports["full"]))
    overall = json.loads((reports["full"].parent / "overall_summary.json").read_text())
    assert f"QPS peaks at {overall['best_qps']:,.2f} req/s at concurrency 8" in page
    assert "The server saturates around concurrency 8" in page
    assert "TTFT grows while ITL stays flat" in page
    assert "Errors start at concurrency 32" in page
    expected = summary_all(reports["full"].parent)
    assert f"latency p99 rises from {expected.at[8, 'latency_p99_ms']:,.1f} ms to {expected.at[32, 'latency_p99_ms']:,.1f} ms" in page


# --- partial folders -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_expected_charts_per_scenario(reports, name):
    specs = chart_specs(read(reports[name]))
    assert list(specs) == EXPECTED_CHARTS[name]
    assert read(reports[name]).count('class="chart"') == len(EXPECTED_CHARTS[name])


def test_killed_run_marks_partial_stage_and_recomputes_it(reports):
    page = html.unescape(read(reports["killed"]))
    folder = reports["killed"].parent
    assert "Stage c=32 was cut short" in page
    assert "Stage c=32 has no summary file; its numbers were recomputed from requests_c32.csv" in page
    assert '<tr data-concurrency="32" class="partial">' in read(reports["killed"])
    recomputed = summary.flatten_summary(summary.summarize_stage(
        summary.read_requests_csv(folder / "requests_c32.csv"), concurrency=32))
    cells = table_cells(read(reports["killed"]), "stage-table").cells[32]
    assert float(cells["latency_p99_ms"]) == recomputed["latency_p99_ms"]
    assert float(cells["qps"]) == recomputed["qps"]


def test_missing_stages_are_named(reports):
    page = html.unescape(read(reports["missing_stages"]))
    assert "Stages with no data at all: c=8, c=16, c=32" in page


def test_no_streaming_says_why_there_is_no_ttft(reports):
    page = html.unescape(read(reports["no_streaming"]))
    assert "No TTFT chart: this run did not stream" in page
    assert "TTFT grows" not in page


def test_no_successes(reports):
    page = html.unescape(read(reports["no_successes"]))
    assert "No request succeeded: all 120 requests in 3 stage(s) failed" in page
    assert "No latency chart: no request succeeded." in page
    assert "No TPS chart" in page


def test_no_locust_csvs(reports):
    page = html.unescape(read(reports["no_locust"]))
    assert "locust_stats_history.csv is missing, so there is no timeline" in page
    assert "No timeline" in page


def test_no_summary_files_recomputes_everything(reports):
    folder = reports["no_summaries"].parent
    page = html.unescape(read(reports["no_summaries"]))
    assert "overall_summary.json is missing" in page
    frame = summary.load_requests(folder)
    cells = table_cells(read(reports["no_summaries"]), "stage-table").cells
    for c, row in cells.items():
        want = summary.flatten_summary(summary.summarize_stage(frame, concurrency=c))
        assert float(row["latency_p95_ms"]) == want["latency_p95_ms"]
        assert float(row["qps"]) == want["qps"]
    # hints recomputed by summary.py from the recomputed stages
    spec = chart_specs(read(reports["no_summaries"]))["qps"]
    hints = summary.saturation_hints([summary.summarize_stage(frame, concurrency=c) for c in sorted(cells)])
    best = [r for r in rows_with(spec, "label") if "best" in str(r["label"])][0]
    assert best["qps"] == hints["best_qps"]


def test_chunk_token_counts_are_flagged(reports):
    page = html.unescape(read(reports["chunks"]))
    assert "come from counting streamed chunks because the server sent no usage" in page
    assert "1 (40 of 40 successes)" in page


def test_client_cpu_warning_is_a_finding(reports):
    page = html.unescape(read(reports["client_busy"]))
    assert "The load generator's CPU was near its limit" in page
    assert "local peaked at 97.5% CPU" in page and "client-side figures are suspect" in page


def test_empty_folder_still_gives_a_report(tmp_path):
    page = html.unescape(read(build_report(tmp_path)))
    assert "No stage data at all" in page
    assert "overall_summary.json is missing" in page


# --- safety --------------------------------------------------------------------------------------


def test_server_strings_are_escaped(reports):
    page = read(reports["full"])
    assert "<script>window.__xss" not in page
    assert "<img src=x" not in page
    assert html.escape(XSS_MESSAGE, quote=True) in page
    assert "demo-&lt;b&gt;model&lt;/b&gt;" in page and "demo-<b>model" not in page


def test_secrets_never_reach_the_report(tmp_path):
    folder = build(tmp_path / "run", Scenario(concurrency=[1, 2], requests_per_stage=5))
    overall = json.loads((folder / "overall_summary.json").read_text())
    overall["config"].update(api_key="sk-live-SECRET-XYZZY-42", headers=["Authorization: Bearer sk-live-SECRET-XYZZY-42"],
                             token="tok-SECRET-XYZZY-43")
    (folder / "overall_summary.json").write_text(json.dumps(overall))
    page = read(build_report(folder))
    assert "XYZZY" not in page
    assert "Authorization: [redacted]" in page


def test_self_contained_no_external_references(reports):
    page = read(reports["full"])
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert "vegaEmbed" in page and "default-src 'none'" in page


# --- CLI and PNG ---------------------------------------------------------------------------------


def test_cli_writes_report_and_pngs(tmp_path, capsys):
    folder = build(tmp_path / "run", Scenario(concurrency=[1, 4], requests_per_stage=6))
    out = tmp_path / "elsewhere" / "r.html"
    assert report_main(["--indir", str(folder), "--out", str(out), "--png"]) == 0
    assert out.exists()
    pngs = sorted((tmp_path / "elsewhere" / "r_charts").glob("*.png"))
    assert [p.stem for p in pngs] == sorted(chart_specs(read(out)))
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "report:" in capsys.readouterr().out


def test_cli_default_out_and_missing_dir(tmp_path, capsys):
    folder = build(tmp_path / "run", Scenario(concurrency=[2], requests_per_stage=4))
    assert report_main(["--indir", str(folder)]) == 0
    assert (folder / "report.html").exists()
    assert report_main(["--indir", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


# --- SLO gate and baseline (issue 7) -------------------------------------------------------------

SLO = "ttft_p99_ms=200,latency_p99_ms=1500,itl_p50_ms=20,qps=1,output_tokens_per_s=50,error_rate=5%"
# Which chart draws which bound (the y axis that shows the metric).
SLO_CHART_METRICS = {"ttft": ["ttft_p99_ms"], "latency": ["latency_p99_ms"], "itl": ["itl_p50_ms"],
                     "qps": ["qps"], "tps": ["output_tokens_per_s"]}
CONCURRENCY_CHARTS = ["qps", "latency", "ttft", "itl", "tps"]


@pytest.fixture(scope="session")
def gated(tmp_path_factory) -> dict[str, Path]:
    """Reports of gated runs: a baseline, a slower run against it, an all-pass and a none-pass run."""
    root = tmp_path_factory.mktemp("gated-runs")
    base = build(root / "base", Scenario(itl_ms=9.0, slo=SLO))
    return {
        "base": build_report(base),
        "slower": build_report(build(root / "slower", Scenario(slo=SLO, baseline=str(base)))),
        "same": build_report(build(root / "same", Scenario(itl_ms=9.0, baseline=str(base)))),
        "all_pass": build_report(build(root / "all_pass", Scenario(concurrency=[1, 2, 4], slo="latency_p99_ms=100000"))),
        "none_pass": build_report(build(root / "none_pass", Scenario(concurrency=[1, 2, 4], slo="ttft_p99_ms=1"))),
    }


def overall_of(report: Path) -> dict:
    return json.loads((report.parent / "overall_summary.json").read_text())


class RegressionRows(HTMLParser):
    """The rows of #regression-table: data-c/data-v cells plus metric and verdict."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.rows = False, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.inside = attrs.get("id") == "regression-table"
        elif self.inside and tag == "tr" and "data-metric" in attrs:
            self.rows.append({"metric": attrs["data-metric"], "regressed_row": attrs.get("class") == "regressed"})
        elif self.inside and tag == "td" and self.rows:
            if attrs.get("data-c"):
                self.rows[-1][attrs["data-c"]] = attrs["data-v"]
            if "data-status" in attrs:
                self.rows[-1]["status"] = attrs["data-status"]

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False


def as_number(text: str):
    return None if text == "" else float(text)


def test_slo_lines_equal_the_bounds(gated):
    overall = overall_of(gated["slower"])
    bounds = overall["gate"]["settings"]["slo"]
    specs = chart_specs(read(gated["slower"]))
    for key, metrics in SLO_CHART_METRICS.items():
        rules = rows_with(specs[key], "slo_bound")
        assert sorted(r["slo_metric"] for r in rules) == sorted(metrics), key
        for rule in rules:
            assert rule["slo_bound"] == bounds[rule["slo_metric"]]["value"]
            assert rule["slo_op"] == bounds[rule["slo_metric"]]["op"]
            assert rule["slo_metric"] in rule["slo_label"]
    assert "SLO ttft_p99_ms ≤ 200 ms" in [r["slo_label"] for r in rows_with(specs["ttft"], "slo_label")]
    assert "SLO qps ≥ 1 req/s" in [r["slo_label"] for r in rows_with(specs["qps"], "slo_label")]
    # a bound is drawn once, on its own chart only
    drawn = [r["slo_metric"] for key in specs for r in rows_with(specs[key], "slo_bound")]
    assert sorted(drawn) == sorted(m for m in bounds if m != "error_rate")


def test_shaded_region_ends_at_max_concurrency_within_slo(gated):
    for name in ("slower", "all_pass"):
        overall = overall_of(gated[name])
        specs = chart_specs(read(gated[name]))
        first = min(s["concurrency"] for s in overall["stages"])
        for key in CONCURRENCY_CHARTS:
            if key not in specs:
                continue
            regions = rows_with(specs[key], "slo_max_concurrency")
            assert regions, (name, key)
            assert all(r["slo_max_concurrency"] == overall["max_concurrency_within_slo"] for r in regions)
            assert all(r["concurrency"] == first for r in regions)
    assert overall_of(gated["slower"])["max_concurrency_within_slo"] == 8
    assert overall_of(gated["all_pass"])["max_concurrency_within_slo"] == 4


def test_no_shading_when_no_stage_meets_the_slo(gated):
    specs = chart_specs(read(gated["none_pass"]))
    assert overall_of(gated["none_pass"])["max_concurrency_within_slo"] is None
    assert not any(rows_with(spec, "slo_max_concurrency") for spec in specs.values())
    assert [r["slo_bound"] for r in rows_with(specs["ttft"], "slo_bound")] == [1.0]
    page = html.unescape(read(gated["none_pass"]))
    assert "even the first stage missed" in page and "no stage met every SLO" in page


def test_verdict_equals_the_gate(gated):
    for name, verdict, code in (("slower", "fail", 1), ("same", "pass", 0), ("all_pass", "pass", 0),
                                ("none_pass", "fail", 1)):
        page = read(gated[name])
        gate = overall_of(gated[name])["gate"]
        assert (gate["verdict"], gate["exit_code"]) == (verdict, code), name
        assert f'id="verdict" class="verdict {verdict}" data-verdict="{verdict}" data-exit-code="{code}"' in page
        assert page.index('id="verdict"') < page.index('class="cards"') < page.index('id="findings"')
    page = read(gated["slower"])
    slo = overall_of(gated["slower"])["slo"]
    spans = dict(re.findall(r'<span data-k="([\w]+)" data-v="([^"]*)">', page))
    assert int(spans["max_concurrency_within_slo"]) == slo["max_concurrency"] == 8
    assert float(spans["qps"]) == slo["qps"]
    assert float(spans["output_tokens_per_s"]) == slo["output_tokens_per_s"]
    assert int(spans["first_failed_concurrency"]) == slo["first_failed_concurrency"] == 16
    text = html.unescape(page)
    assert "exit code 1: the run worked, but an SLO bound or a regression bound failed" in re.sub("<[^>]+>", "", text)
    detail = slo["first_failed_details"][0]
    assert f"Above it, at concurrency 16: {detail['metric']} {detail['observed']:,.4g} ms (bound ≤ 200 ms)" \
        in re.sub("<[^>]+>", "", text)
    for reason in overall_of(gated["slower"])["gate"]["reasons"]:
        assert f"<li>{html.escape(reason)}</li>" in page


def test_stage_table_goodput_equals_summary_all(gated):
    expected = summary_all(gated["slower"].parent)
    cells = table_cells(read(gated["slower"]), "stage-table").cells
    assert sorted(cells) == sorted(expected.index)
    for c, row in cells.items():
        for column in ("goodput_qps", "goodput_ratio"):
            assert float(row[column]) == expected.at[c, column], (c, column)
        assert row["slo_met"] == str(bool(expected.at[c, "slo_met"])).lower()
    page = read(gated["slower"])
    failed = expected.at[16, "slo_failed"]
    assert f'data-failed="{failed}">✗ missed: {failed.replace(";", ", ")}</td>' in page
    header = re.search(r'<table id="stage-table"><thead><tr>(.*?)</tr>', page).group(1)
    titles = re.findall(r'<th title="(\w+)"', header)
    assert titles.index("slo_met") == titles.index("qps") + 1


def test_regression_table_equals_regression_json(gated):
    regression = json.loads((gated["slower"].parent / "regression.json").read_text())
    parser = RegressionRows()
    parser.feed(read(gated["slower"]))
    assert len(parser.rows) == len(regression["checks"]) == 24
    for row, check in zip(parser.rows, regression["checks"]):
        assert row["metric"] == check["metric"]
        for key in ("stage", "concurrency", "baseline", "current", "change", "allowed"):
            assert as_number(row[key]) == check[key], key
        assert row["status"] == check["status"]
        assert row["regressed_row"] == check["regressed"]
    assert sum(r["regressed_row"] for r in parser.rows) == len(regression["regressions"]) == 20


def test_regression_finding_names_metrics_and_stages(gated):
    regression = json.loads((gated["slower"].parent / "regression.json").read_text())
    page = html.unescape(read(gated["slower"]))
    finding = re.search(r'data-finding="regression">(.*?)</li>', page).group(1)
    assert 'class="bad"' in page[page.index('data-finding="regression"') - 40:page.index('data-finding="regression"')]
    assert f"{len(regression['regressions'])} of {len(regression['checks'])} checks beyond their allowance" in finding
    for metric in regression["regressed_metrics"]:
        assert metric in finding
    assert "stages 1, 2, 3, 4, 5, 6 (concurrency 1, 2, 4, 8, 16, 32)" in finding
    qps1 = next(c for c in regression["regressions"] if c["metric"] == "qps" and c["concurrency"] == 1)
    assert f"c=1 {qps1['baseline']:,.4g} → {qps1['current']:,.4g} ({qps1['change'] * 100:+.1f}%)" in finding
    same = html.unescape(read(gated["same"]))
    assert "No regression against" in same and "all 24 checks within their allowance" in same


def test_without_slo_or_baseline_nothing_changes(reports, gated):
    page = read(reports["full"])
    for marker in ('id="verdict"', 'id="regression"', 'data-c="slo_met"', 'data-c="goodput_qps"', "SLO"):
        assert marker not in page
    specs = chart_specs(page)
    assert not any(rows_with(spec, "slo_bound") or rows_with(spec, "slo_max_concurrency") for spec in specs.values())
    # the baseline alone: a verdict and the comparison, no SLO marks
    same = read(gated["same"])
    assert 'id="verdict"' in same and 'id="regression-table"' in same
    assert not any(rows_with(spec, "slo_bound") for spec in chart_specs(same).values())


def test_gate_strings_are_escaped(tmp_path, gated):
    """Baseline paths, reasons and metric names reach the page as text, never as markup."""
    base = build(tmp_path / 'base<img src=x onerror="window.__x=1">', Scenario(concurrency=[1, 2], requests_per_stage=8))
    folder = build(tmp_path / "run", Scenario(concurrency=[1, 2], requests_per_stage=8, slo="ttft_p99_ms=1",
                                              baseline=str(base)))
    overall = json.loads((folder / "overall_summary.json").read_text())
    overall["gate"]["reasons"].append(XSS_MESSAGE)
    (folder / "overall_summary.json").write_text(json.dumps(overall))
    regression = json.loads((folder / "regression.json").read_text())
    regression["config_differences"] = {"max_tokens": {"baseline": "<b>64</b>", "current": XSS_MESSAGE}}
    regression["checks"][0]["metric"] = "<script>window.__y=1</script>"
    (folder / "regression.json").write_text(json.dumps(regression))
    page = read(build_report(folder))
    assert "<script>window.__" not in page and "<img src=x" not in page and "<b>64</b>" not in page
    assert html.escape(XSS_MESSAGE, quote=True) in page
    assert "base&lt;img src=x onerror=&quot;window.__x=1&quot;&gt;" in page


def test_gated_charts_compile_to_png(gated, tmp_path):
    """vl-convert compiles every SLO-marked spec (the browser test renders them too)."""
    out = build_report(gated["slower"].parent, tmp_path / "r.html", png=True)
    pngs = sorted((tmp_path / "r_charts").glob("*.png"))
    assert [p.stem for p in pngs] == sorted(chart_specs(read(out)))
