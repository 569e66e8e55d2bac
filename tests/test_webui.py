"""The web UI's pieces without a browser: the LLM tab's rows agree with the stage files, the routes
serve only the run's own files, and every run from the form gets its own folder."""

from __future__ import annotations

import datetime as dt
import json
import sys
from types import SimpleNamespace

import pytest
from locust import User, task
from locust.env import Environment

from llmbench_locust import outputs, webui
from llmbench_locust.controller import LadderController
from llmbench_locust.records import RequestRecord, StageCsvWriter
from llmbench_locust.stages import build_plan


class _Idle(User):
    @task
    def nothing(self):
        pass


def _record(i: int, stage: int, concurrency: int, ok: bool = True) -> RequestRecord:
    start = 1_000.0 + i * 0.1
    return RequestRecord(
        request_id=f"r{stage}-{i}", stage=stage, concurrency=concurrency, worker="local", start_epoch=start,
        end_epoch=start + 0.2 + i * 0.001, latency_ms=200.0 + i, ttfb_ms=5.0, ttft_ms=20.0 + i % 3,
        itl_ms=3.0, generation_ms=180.0 + i, prompt_tokens=10, completion_tokens=60, tokens_source="usage",
        http_status=200 if ok else 500, ok=ok, error_type="" if ok else "http_5xx", error="" if ok else "boom",
        endpoint="chat.completions", stream=True, output_events=60,
    )


def _fake_run(outdir, finished=False, opened=(1, 2), done=(1,)):
    """A run of the ladder 1,2,4 whose stages are opened/finished as asked, with files on disk."""
    plan = build_plan((1, 2, 4), 10)
    controller = LadderController(plan, lambda: {}, lambda *a: None)
    writer = StageCsvWriter(str(outdir))
    for stage_run in controller.runs:
        number, concurrency = stage_run.stage.number, stage_run.stage.concurrency
        if number in opened:
            stage_run.opened_epoch = 1.0
            count = 10 if number in done else 4
            writer.write_many([_record(i, number, concurrency, ok=i != 2) for i in range(count)])
        if number in done:
            stage_run.finished_epoch = 2.0
    writer.close()
    for stage_run in controller.runs:
        if stage_run.stage.number in done or (finished and stage_run.opened_epoch):
            outputs.write_stage_summary(str(outdir), stage_run.stage.number, stage_run.stage.concurrency)
    controller.position = len(done)
    store = SimpleNamespace(flush=lambda: None, live={})
    return SimpleNamespace(plan=plan, controller=controller, outdir=str(outdir), store=store, finished=finished)


def test_rows_show_the_stage_files_numbers_and_mark_the_running_stage(tmp_path):
    run = _fake_run(tmp_path)
    rows = webui.stage_rows(run, webui.StageNumbers())
    assert [(r["stage"], r["state"], r["done"]) for r in rows] == [
        ("1/3", "done", "10/10"), ("▶ 2/3", "running", "4/10"), ("3/3", "waiting", "0/10"),
    ]
    final = json.loads((tmp_path / "summary_c1.json").read_text())
    assert rows[0]["latp99"] == round(final["latency_ms"]["p99"], 1)
    assert rows[0]["qps"] == round(final["qps"], 2)
    assert rows[0]["errors"] == "10.0%"
    live = outputs.stage_summary(str(tmp_path), 2, 2)
    assert rows[1]["ttftp50"] == round(live["ttft_ms"]["p50"], 1)
    assert rows[1]["outtps"] == round(live["output_tokens_per_s"], 1)
    assert rows[2]["qps"] == webui.MISSING


def test_a_stopped_run_shows_its_current_stage_as_partial(tmp_path):
    run = _fake_run(tmp_path, finished=True)
    rows = webui.stage_rows(run, webui.StageNumbers())
    assert [r["state"] for r in rows] == ["done", "partial (stopped)", "not run"]
    assert not any(r["stage"].startswith(webui.CURRENT_MARK) for r in rows)
    partial = json.loads((tmp_path / "summary_c2.json").read_text())
    assert rows[1]["done"] == f"{partial['requests']}/10"


def test_row_keys_survive_the_ui_camel_casing():
    """The UI camel-cases JSON keys; keys without underscores reach the table unchanged."""
    keys = [key for key, _ in webui.COLUMNS]
    assert all("_" not in key for key in keys)
    structure = webui.template_args()["extended_tables"][0]["structure"]
    assert [column["key"] for column in structure] == keys


def test_each_run_from_the_form_gets_a_fresh_folder(tmp_path):
    now = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    first = webui.fresh_run_folder(str(tmp_path), now)
    assert first.endswith("run-20300102T030405Z")
    (tmp_path / "run-20300102T030405Z").mkdir()
    second = webui.fresh_run_folder(str(tmp_path), now)
    assert second != first and second.endswith("run-20300102T030405Z-2")


@pytest.fixture
def client(tmp_path, monkeypatch):
    """Locust's real web UI app (not started) with the tool's routes, over a fake stopped run."""
    monkeypatch.setattr(sys, "argv", ["locust"])  # Locust's UI reads its extra options from argv
    environment = Environment(user_classes=[_Idle])
    environment.create_local_runner()
    web_ui = environment.create_web_ui("127.0.0.1", 0, delayed_start=True)
    environment.parsed_options = SimpleNamespace(web_base_path="", num_users=1, spawn_rate=1,
                                                 stats_history_enabled=False, run_time=None)
    run = _fake_run(tmp_path / "run", finished=True)
    (tmp_path / "secret.txt").write_text("not yours")
    bench = SimpleNamespace(run=None, last_run=run)
    webui.install(environment, bench)
    yield web_ui.app.test_client(), tmp_path
    environment.runner.quit()


def test_routes_serve_the_runs_files_and_nothing_else(client):
    http, root = client
    listing = http.get("/llmbench/files").get_data(as_text=True)
    assert "requests_c1.csv" in listing and "summary_c2.json" in listing
    one = http.get("/llmbench/files/summary_c1.json")
    assert one.status_code == 200 and one.data == (root / "run" / "summary_c1.json").read_bytes()
    assert http.get("/llmbench/files/../secret.txt").status_code == 404
    assert http.get("/llmbench/files/%2E%2E%2Fsecret.txt").status_code == 404
    assert http.get("/llmbench/files.zip").data[:2] == b"PK"
    stages = http.get("/llmbench/stages").get_json()
    assert stages["finished"] is True and len(stages["rows"]) == 3


def test_locusts_stats_carry_the_rows_and_the_page_polls_every_second(client):
    http, _ = client
    stats = http.get("/stats/requests").get_json()
    [tab] = stats["extended_stats"]
    assert tab["key"] == webui.TAB_KEY and [r["state"] for r in tab["data"]][0] == "done"
    page = http.get("/").get_data(as_text=True)
    assert '"extended_tabs"' in page and f"a[1]={webui.LIVE_POLL_MS}" in page
