"""The report in a real browser with the network cut off: every chart renders, nothing is fetched,
nothing is logged as an error, and a server's ``<script>`` stays text."""

from __future__ import annotations

import pytest

from browser import open_page
from llmbench_locust.report import build_report
from llmbench_locust.report.synthetic import XSS_MESSAGE, Scenario, build

pytestmark = pytest.mark.browser

CASES = {
    "full": (Scenario(), 8),
    "killed": (Scenario(killed=True, concurrency=[1, 4, 16]), 8),
    "missing_stages": (Scenario(run_stages=2), 8),
    "no_streaming": (Scenario(stream=False, concurrency=[1, 8, 32]), 5),
    "no_successes": (Scenario(fail_all=True, concurrency=[1, 2]), 2),
    "no_locust": (Scenario(write_locust=False, concurrency=[2, 8]), 7),
    "no_summaries": (Scenario(write_summaries=False, concurrency=[1, 16]), 8),
}

ALL_RENDERED = ("document.querySelectorAll('.chart').length > 0 && "
                "document.querySelectorAll('.chart[data-rendered]').length == document.querySelectorAll('.chart').length")


@pytest.fixture(scope="module")
def report_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-runs")
    return {name: build_report(build(root / name, scenario)) for name, (scenario, _) in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_every_chart_renders_offline_without_errors(report_paths, name):
    expected = CASES[name][1]
    with open_page(report_paths[name]) as page:
        page.wait_for(ALL_RENDERED, timeout=60)
        counts = page.js("""
            return Array.from(document.querySelectorAll('.chart')).map(
                el => el.querySelectorAll('svg.marks, canvas.marks').length);""")
        marks = page.js("return document.querySelectorAll('.chart svg.marks g.mark-line, .chart svg.marks g.mark-rect,"
                        " .chart svg.marks g.mark-symbol').length")
        errors = page.console_errors()
        fetched = page.non_local_requests()
    assert counts == [1] * expected, counts
    assert marks > 0
    assert errors == []
    assert fetched == []


def test_server_script_is_text_not_markup(report_paths):
    with open_page(report_paths["full"]) as page:
        page.wait_for(ALL_RENDERED, timeout=60)
        texts = page.js("return Array.from(document.querySelectorAll('#error-table td.msg')).map(td => td.textContent)")
        injected = page.js("return [typeof window.__xss, document.querySelectorAll('#error-table script, "
                           "#error-table img, main img').length]")
        title = page.js("return document.querySelector('h1').textContent")
        errors = page.console_errors()
    assert XSS_MESSAGE in texts
    assert injected == ["undefined", 0]
    assert title.endswith("demo-<b>model</b>")
    assert errors == []


def test_tooltip_shows_exact_value(report_paths):
    """Hovering a QPS point shows the stage's qps to 3 decimals, as in summary_all.csv."""
    import pandas as pd
    from selenium.webdriver.common.action_chains import ActionChains

    expected = pd.read_csv(report_paths["full"].parent / "summary_all.csv").set_index("concurrency")
    with open_page(report_paths["full"]) as page:
        page.wait_for(ALL_RENDERED, timeout=60)
        points = page.driver.find_elements("css selector", "#chart-qps g.mark-symbol path")
        assert points
        ActionChains(page.driver).move_to_element(points[3]).perform()
        tip = page.wait_for("document.querySelector('#vg-tooltip-element.visible') && "
                            "document.querySelector('#vg-tooltip-element').textContent", timeout=10)
    values = [f"{q:,.3f}" for q in expected["qps"]]
    assert any(v in tip for v in values), tip


def test_harness_sees_network_attempts_and_console_errors(tmp_path):
    """The checks above mean something: a page that fetches and throws is caught."""
    page_file = tmp_path / "bad.html"
    page_file.write_text('<html><body><img src="http://example.invalid/x.png">'
                         '<script>throw new Error("boom")</script></body></html>')
    with open_page(page_file) as page:
        page.wait_for("document.readyState == 'complete'")
        fetched = page.non_local_requests()
        errors = page.console_errors()
    assert any("example.invalid" in url for url in fetched)
    assert any("boom" in e["message"] for e in errors)


SLO = "ttft_p99_ms=200,latency_p99_ms=1500,itl_p50_ms=20,qps=1,output_tokens_per_s=50,error_rate=5%"


@pytest.fixture(scope="module")
def gated_report(tmp_path_factory):
    """A run with SLOs and a baseline it regressed against (the report's every gate element)."""
    root = tmp_path_factory.mktemp("browser-gated")
    base = build(root / "base", Scenario(itl_ms=9.0, slo=SLO))
    return build_report(build(root / "run", Scenario(slo=SLO, baseline=str(base))))


def test_slo_report_renders_every_chart_without_errors(gated_report):
    """Every chart renders with its SLO rules and shading; verdict and comparison are on the page."""
    import json

    regression = json.loads((gated_report.parent / "regression.json").read_text())
    with open_page(gated_report) as page:
        page.wait_for(ALL_RENDERED, timeout=60)
        counts = page.js("""
            return Array.from(document.querySelectorAll('.chart')).map(
                el => el.querySelectorAll('svg.marks, canvas.marks').length);""")
        dashed = page.js("""
            return Array.from(document.querySelectorAll('.chart')).filter(el => Array.from(
                el.querySelectorAll('g.mark-rule line')).some(l => l.getAttribute('stroke-dasharray') == '8,4')
            ).map(el => el.getAttribute('data-chart-key')).sort();""")
        labels = page.js("return Array.from(document.querySelectorAll('.chart g.mark-text text'))"
                         ".map(t => t.textContent).filter(t => t.startsWith('SLO '))")
        verdict = page.js("var v = document.getElementById('verdict'); "
                          "return [v.dataset.verdict, v.dataset.exitCode, v.getBoundingClientRect().top]")
        first_chart_top = page.js("return document.getElementById('chart-grid').getBoundingClientRect().top")
        regressed = page.js("return document.querySelectorAll('#regression-table tr.regressed').length")
        errors = page.console_errors()
        fetched = page.non_local_requests()
    assert counts == [1] * 8, counts
    assert dashed == ["itl", "latency", "qps", "tps", "ttft"]
    assert sorted(labels) == sorted(["SLO ttft_p99_ms ≤ 200 ms", "SLO latency_p99_ms ≤ 1,500 ms",
                                     "SLO itl_p50_ms ≤ 20 ms", "SLO qps ≥ 1 req/s",
                                     "SLO output_tokens_per_s ≥ 50 tokens/s"])
    assert verdict[:2] == ["fail", "1"] and verdict[2] < first_chart_top
    assert regressed == len(regression["regressions"])
    assert errors == []
    assert fetched == []
