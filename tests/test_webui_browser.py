"""The Locust web UI in a real browser: a ladder started from the form, watched in the LLM tab,
checked against the files it wrote; a stop in the middle of a stage; a second run from the form.

Everything runs on 127.0.0.1: the mock engine, a real `locust` process with its web UI, and
headless Chromium driven through chromedriver.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from browser import Page, open_url
from conftest import LOCUSTFILE, read_json, read_rows, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

MOCK_ARGS = ("--ttft-ms", "20", "--chunk-ms", "3")
# The tab's display precision per column (webui.NUMBERS), to compare with the exact file values.
SHOWN = {
    "qps": ("qps", 2),
    "latency p50 ms": ("latency_p50_ms", 1),
    "latency p99 ms": ("latency_p99_ms", 1),
    "TTFT p50 ms": ("ttft_p50_ms", 1),
    "TTFT p99 ms": ("ttft_p99_ms", 1),
    "ITL p50 ms": ("itl_p50_ms", 2),
    "TPS per stream": ("tps", 1),
    "output tokens/s": ("output_tokens_per_s", 1),
}
ALL_CHARTS_RENDERED = (
    "document.querySelectorAll('.chart').length > 0 && "
    "document.querySelectorAll('.chart[data-rendered]').length == document.querySelectorAll('.chart').length"
)


@dataclass
class WebLocust:
    url: str
    outdir: Path
    process: subprocess.Popen
    log: Path

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=120) as response:
            return response.read()

    def stages(self) -> dict:
        return json.loads(self.get("/llmbench/stages"))

    def run_folders(self) -> list[Path]:
        return sorted(self.outdir.glob("run-*"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(web: WebLocust, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if web.process.poll() is not None:
            raise RuntimeError(f"locust exited: {web.log.read_text()[-3000:]}")
        try:
            web.get("/")
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the web UI did not come up: {web.log.read_text()[-3000:]}")


@pytest.fixture
def web_locust(mock_engine, tmp_path):
    """Factory: a `locust` web-UI process against a fresh mock engine, stopped after the test."""
    started: list[WebLocust] = []

    def factory(*args: str) -> WebLocust:
        mock = mock_engine(*MOCK_ARGS)
        port = free_port()
        outdir = tmp_path / "out"
        log = tmp_path / f"locust_{port}.log"
        cmd = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--web-host", "127.0.0.1",
            "--web-port", str(port), "--host", mock.url, "--model", "mock-model",
            "--outdir", str(outdir), *args,
        ]
        with open(log, "w") as fh:
            process = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
        web = WebLocust(f"http://127.0.0.1:{port}", outdir, process, log)
        started.append(web)
        wait_until_serving(web)
        return web

    yield factory
    for web in started:
        stop_process(web.process, timeout=30)


# ---- driving the page -------------------------------------------------------------------------


def set_field(page: Page, name: str, value: str) -> None:
    """Type into a form field the way a user does (React ignores values set from outside)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = page.driver.find_element(By.CSS_SELECTOR, f"input[name='{name}']")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(value)


def open_custom_parameters(page: Page) -> None:
    """Our options sit in the form's collapsed "Custom parameters" section."""
    page.wait_for("document.querySelector(\"input[name='concurrency']\")")
    page.js("""
        for (const el of document.querySelectorAll('[role=dialog] *, form *'))
            if (el.childElementCount === 0 && el.textContent.trim() === 'Custom parameters') { el.click(); }
    """)
    page.wait_for("document.querySelector(\"input[name='concurrency']\").offsetParent !== null")


def submit_form(page: Page) -> None:
    page.js("""
        const forms = document.querySelectorAll('form');
        forms[forms.length - 1].querySelector('button[type=submit]').click();
    """)


def click_text(page: Page, selector: str, text: str, timeout: float = 30.0) -> None:
    """Click the first element matching ``selector`` whose text is ``text`` (case-insensitive)."""
    page.wait_for(
        f"Array.from(document.querySelectorAll({selector!r})).some("
        f"e => e.textContent.trim().toUpperCase() === {text.upper()!r})",
        timeout=timeout,
    )
    page.js(
        "Array.from(document.querySelectorAll(arguments[0])).find("
        "e => e.textContent.trim().toUpperCase() === arguments[1]).click()",
        selector,
        text.upper(),
    )


def llm_rows(page: Page) -> list[dict]:
    """The LLM tab's table as dicts keyed by column title."""
    return page.js("""
        const table = document.querySelector('table');
        if (!table) return [];
        const heads = Array.from(table.querySelectorAll('thead th')).map(th => th.textContent.trim());
        return Array.from(table.querySelectorAll('tbody tr')).map(tr => {
            const cells = Array.from(tr.children).map(td => td.textContent.trim());
            return Object.fromEntries(heads.map((h, i) => [h, cells[i]]));
        });
    """)


def wait_for_rows(page: Page, condition: str, timeout: float) -> list[dict]:
    """Wait until a JS condition over ``rows`` (the tab's rows as column→text) holds."""
    page.wait_for(
        f"""(() => {{
            const table = document.querySelector('table');
            if (!table) return false;
            const heads = Array.from(table.querySelectorAll('thead th')).map(th => th.textContent.trim());
            const rows = Array.from(table.querySelectorAll('tbody tr')).map(tr => Object.fromEntries(
                Array.from(tr.children).map((td, i) => [heads[i], td.textContent.trim()])));
            return {condition};
        }})()""",
        timeout=timeout,
    )
    return llm_rows(page)


def poll_gaps_ms(page: Page) -> list[float]:
    """Gaps between the UI's fetches of /stats/requests, from the page's own resource timing."""
    return page.js("""
        const t = performance.getEntriesByType('resource')
            .filter(e => e.name.includes('/stats/requests')).map(e => e.startTime).sort((a, b) => a - b);
        return t.slice(1).map((v, i) => v - t[i]);
    """)


# ---- checking numbers ---------------------------------------------------------------------------


def assert_row_matches(row: dict, stage: dict, quota: int) -> None:
    """A tab row shows its stage file's numbers, rounded only for display."""
    assert int(row["concurrency"]) == stage["concurrency"]
    assert row["done/N"] == f"{stage['requests']}/{quota}"
    for title, (metric, decimals) in SHOWN.items():
        value = stage_metric(stage, metric)
        shown = row[title]
        if value is None:
            assert shown == "–", (title, shown)
            continue
        assert abs(float(shown) - value) <= 0.5 * 10 ** -decimals + 1e-9, (title, shown, value)
    assert row["error rate"] == f"{100 * stage['error_rate']:.1f}%"


def stage_metric(stage: dict, metric: str):
    family, _, rest = metric.partition("_")
    if metric.endswith("_ms") and f"{family}_ms" in stage:
        return stage[f"{family}_ms"][rest[: -len("_ms")]]
    return stage[metric]


def request_count(folder: Path, concurrency: int) -> int:
    return len(read_rows(folder / f"requests_c{concurrency}.csv"))


# ---- the tests ------------------------------------------------------------------------------------


def test_ladder_from_the_form_matches_the_files_and_the_report_renders(web_locust, tmp_path):
    # The command line says one thing; the form changes it: the run must follow the form.
    web = web_locust("--concurrency", "8", "--requests-per-stage", "3", "--max-tokens", "64")
    quota = 16
    with open_url(web.url + "/") as page:
        open_custom_parameters(page)
        set_field(page, "concurrency", "1,2,4")
        set_field(page, "requestsPerStage", str(quota))
        page.js("document.querySelector(\"input[name='stream']\").click()")
        submit_form(page)
        click_text(page, "[role=tab]", "LLM")
        running = wait_for_rows(page, "rows.some(r => r.stage.startsWith('▶') && r.state === 'running')", 60)
        assert [r["concurrency"] for r in running] == ["1", "2", "4"]
        assert sum(r["stage"].startswith("▶") for r in running) == 1
        rows = wait_for_rows(page, "rows.length === 3 && rows.every(r => r.state === 'done')", 120)
        gaps = poll_gaps_ms(page)
        page.driver.save_screenshot(str(tmp_path / "llm_tab.png"))

        folders = web.run_folders()
        assert len(folders) == 1, folders
        folder = folders[0]
        deadline = time.monotonic() + 30
        while not (folder / "overall_summary.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for row, concurrency in zip(rows, (1, 2, 4)):
            stage = read_json(folder / f"summary_c{concurrency}.json")
            assert stage["requests"] == quota == request_count(folder, concurrency)
            assert stage["ttft_ms"]["p50"] is not None  # the form's stream box took effect
            assert_row_matches(row, stage, quota)
        assert not any(r["stage"].startswith("▶") for r in rows)

        # Polled about every second, not Locust's usual two.
        assert len(gaps) >= 3 and sorted(gaps)[len(gaps) // 2] < 1500, gaps

        click_text(page, "[role=tab]", "DOWNLOAD DATA")
        hrefs = page.wait_for(
            "Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))"
            ".filter(h => h && h.includes('llmbench'))"
        )
        assert "./llmbench/report" in hrefs and "./llmbench/files.zip" in hrefs
        assert web.get("/llmbench/files/summary_all.csv") == (folder / "summary_all.csv").read_bytes()

        page.driver.get(web.url + "/llmbench/report")
        page.wait_for(ALL_CHARTS_RENDERED, timeout=60)
        marks = page.js("return document.querySelectorAll('.chart svg.marks, .chart canvas.marks').length")
        charts = page.js("return document.querySelectorAll('.chart').length")
        errors = page.console_errors()
    assert charts >= 5 and marks == charts
    assert errors == []


def test_stop_mid_stage_keeps_finished_stages_and_marks_the_current_one_partial(web_locust, tmp_path):
    # Stage 1 at 4 users is quick; stage 2 at 1 user takes several seconds: stop it half-way.
    quota = 60
    web = web_locust("--concurrency", "4,1", "--requests-per-stage", str(quota), "--stream",
                     "--max-tokens", "64")
    with open_url(web.url + "/") as page:
        open_custom_parameters(page)
        submit_form(page)
        click_text(page, "[role=tab]", "LLM")
        wait_for_rows(page, "rows.length === 2 && rows[0].state === 'done' && rows[1].state === 'running' "
                            "&& parseInt(rows[1]['done/N']) >= 5", 60)
        page.driver.save_screenshot(str(tmp_path / "llm_tab_running.png"))

        midway = web.get("/llmbench/report").decode()
        assert 'class="chart' in midway and "report" in midway.lower()

        click_text(page, "button", "Stop")
        rows = wait_for_rows(page, "rows.length === 2 && rows[1].state === 'partial (stopped)'", 60)
        page.driver.save_screenshot(str(tmp_path / "llm_tab_stopped.png"))
        assert not any(r["stage"].startswith("▶") for r in rows)

        [folder] = web.run_folders()
        overall = read_json(folder / "overall_summary.json")
        first, second = read_json(folder / "summary_c4.json"), read_json(folder / "summary_c1.json")
        assert first["requests"] == quota == request_count(folder, 4)
        assert 5 <= second["requests"] < quota
        assert second["requests"] == request_count(folder, 1)
        assert overall["partial_stages"] == [1]  # by concurrency: the second stage, at 1 user
        assert overall["run"]["completed"] is False
        assert [s["concurrency"] for s in overall["stages"]] == [4, 1]
        assert_row_matches(rows[0], first, quota)
        assert_row_matches(rows[1], second, quota)
        assert web.stages()["finished"] is True

        # A new run from the form goes to a fresh folder and leaves the stopped one alone.
        before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        click_text(page, "button", "New")
        open_custom_parameters(page)
        set_field(page, "concurrency", "2")
        set_field(page, "requestsPerStage", "6")
        submit_form(page)
        wait_for_rows(page, "rows.length === 1 && rows[0].state === 'done'", 60)
    folders = web.run_folders()
    assert len(folders) == 2 and folder in folders
    newer = next(f for f in folders if f != folder)
    deadline = time.monotonic() + 30
    while not (newer / "overall_summary.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read_json(newer / "summary_c2.json")["requests"] == 6
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    assert os.path.exists(newer / "report.html")
