"""The tool inside Locust's web UI: an "LLM" tab with a live row per stage, the HTML report of the
run so far, and the run's output files for download.

Locust 2.47's React UI draws extra tabs from ``template_args`` (``extended_tabs``,
``extended_tables``, ``extended_csv_files``) and fills them from an ``extended_stats`` list in the
``/stats/requests`` JSON it polls, so the rows ride on that response. Every number in a row comes
from ``summary.summarize_stage`` — the run's own ``summary_c{N}.json`` once a stage has finished,
the stage's ``requests_c{N}.csv`` while it runs — so the tab never disagrees with the files.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, after_this_request, current_app, request, send_file, send_from_directory

from locust.runners import STATE_INIT, STATE_SPAWNING

from . import outputs, summary
from .records import stage_file_name

if TYPE_CHECKING:
    from .plugin import Bench
    from .run import Run

logger = logging.getLogger("llmbench")

TAB_KEY = "llm"
ROUTE_PREFIX = "/llmbench"
REPORT_TIMEOUT_S = 180.0
# Locust's UI polls /stats/requests every 2 s; the script below makes its 2 s timers 1 s so the
# LLM tab moves every second (Locust's own numbers stay memoised for 2 s server-side: harmless).
LOCUST_POLL_MS = 2000
LIVE_POLL_MS = 1000

# (row key, column title). Keys have no underscores: the UI camel-cases every JSON key.
COLUMNS = (
    ("stage", "stage"),
    ("state", "state"),
    ("concurrency", "concurrency"),
    ("done", "done/N"),
    ("qps", "qps"),
    ("latp50", "latency p50 ms"),
    ("latp99", "latency p99 ms"),
    ("ttftp50", "TTFT p50 ms"),
    ("ttftp99", "TTFT p99 ms"),
    ("itlp50", "ITL p50 ms"),
    ("tps", "TPS per stream"),
    ("outtps", "output tokens/s"),
    ("errors", "error rate"),
)
# (row key, summary metric, decimals shown)
NUMBERS = (
    ("qps", "qps", 2),
    ("latp50", "latency_p50_ms", 1),
    ("latp99", "latency_p99_ms", 1),
    ("ttftp50", "ttft_p50_ms", 1),
    ("ttftp99", "ttft_p99_ms", 1),
    ("itlp50", "itl_p50_ms", 2),
    ("tps", "tps", 1),
    ("outtps", "output_tokens_per_s", 1),
)
MISSING = "–"
CURRENT_MARK = "▶ "

DOWNLOADS = (
    ("report", "LLM: HTML report of the run so far"),
    ("files", "LLM: output files of the run (list)"),
    ("files.zip", "LLM: all output files of the run (zip)"),
    ("files/summary_all.csv", "LLM: summary_all.csv"),
    ("files/overall_summary.json", "LLM: overall_summary.json"),
)


# ---- where a web-UI run writes ----------------------------------------------------------------


def fresh_run_folder(base: str, now: _dt.datetime | None = None) -> str:
    """``base/run-<UTC time>``, never an existing folder: runs started from the form never mix."""
    stamp = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(base, f"run-{stamp}")
    suffix = 2
    while os.path.exists(path):
        path = os.path.join(base, f"run-{stamp}-{suffix}")
        suffix += 1
    return path


# ---- the rows of the LLM tab ------------------------------------------------------------------


class StageNumbers:
    """Summaries of stage files, recomputed only when a file has changed (the UI asks every second)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], dict]] = {}

    def live(self, outdir: str, stage: int, concurrency: int) -> dict:
        """The summary of a running stage from its requests file as it is now."""
        path = os.path.join(outdir, stage_file_name(concurrency))
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return summary.summarize_stage(summary.requests_frame([]), stage=stage, concurrency=concurrency)
        key = (info.st_size, info.st_mtime_ns)
        cached = self._cache.get(path)
        if cached is None or cached[0] != key:
            frame = summary.read_requests_csv(path)
            cached = (key, summary.summarize_stage(frame, stage=stage, concurrency=concurrency))
            self._cache[path] = cached
        return cached[1]

    def final(self, outdir: str, stage: int, concurrency: int) -> dict:
        """The summary the run wrote for a finished stage; recomputed if that file is missing."""
        path = os.path.join(outdir, outputs.summary_file_name(concurrency))
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return self.live(outdir, stage, concurrency)


def stage_state(stage_run, run: "Run") -> str:
    """What a stage is doing, in words a user reads at a glance."""
    if stage_run.finished:
        return "done"
    if stage_run.opened_epoch is not None:
        return "partial (stopped)" if run.finished else "running"
    if run.finished:
        return "not run"
    return "starting" if run.controller.current is stage_run else "waiting"


def _shown(value: Any, decimals: int) -> Any:
    if value is None:
        return MISSING
    return round(float(value), decimals)


def stage_row(stage_run, run: "Run", numbers: StageNumbers, count: int) -> dict:
    """One row of the tab: a stage's progress and its numbers (rounded for display only)."""
    stage = stage_run.stage
    state = stage_state(stage_run, run)
    label = "warm-up" if stage.is_warmup else f"{stage.number}/{count}"
    marked = state in ("running", "starting")
    row: dict[str, Any] = {
        "name": stage.number,  # Locust sorts extended rows by "name": stage order
        "stage": (CURRENT_MARK if marked else "") + label,
        "state": state,
        "concurrency": stage.concurrency,
    }
    quota = stage.requests if stage.requests is not None else f"{stage.duration_s:g} s"
    stats: dict | None = None
    if stage_run.opened_epoch is not None and not stage.is_warmup:
        if state == "running":
            stats = numbers.live(run.outdir, stage.number, stage.concurrency)
        else:
            stats = numbers.final(run.outdir, stage.number, stage.concurrency)
    done = stats["requests"] if stats else (run.store.live[stage.number].done if run.store and stage.is_warmup else 0)
    row["done"] = f"{done}/{quota}"
    for key, metric, decimals in NUMBERS:
        row[key] = _shown(summary.metric_value(stats, metric) if stats else None, decimals)
    rate = summary.metric_value(stats, "error_rate") if stats else None
    row["errors"] = MISSING if rate is None else f"{100.0 * rate:.1f}%"
    return row


def stage_rows(run: "Run | None", numbers: StageNumbers) -> list[dict]:
    """A row per stage of the run's ladder; none before the first run."""
    if run is None:
        return []
    if run.store is not None and not run.finished:
        run.store.flush()  # the running stage's file holds every record that has arrived
    count = sum(1 for s in run.plan if not s.is_warmup)
    return [stage_row(stage_run, run, numbers, count) for stage_run in run.controller.runs]


# ---- the web UI ----------------------------------------------------------------------------------


class LiveView:
    """The routes and hooks added to one environment's web UI."""

    def __init__(self, environment, bench: "Bench") -> None:
        self.environment = environment
        self.bench = bench
        self.numbers = StageNumbers()

    @property
    def run(self) -> "Run | None":
        """The run in progress, else the last one that ended (so its tab, report and files stay)."""
        return self.bench.run or getattr(self.bench, "last_run", None)

    def rows(self) -> list[dict]:
        try:
            return summary.to_jsonable(stage_rows(self.run, self.numbers))
        except Exception:  # noqa: BLE001 - a broken row must never break Locust's own stats
            logger.exception("llmbench: could not compute the LLM tab")
            return []

    # -- Locust's own responses --------------------------------------------------------------

    def add_rows(self, response: Response) -> Response:
        """Attach the stage rows to Locust's /stats/requests JSON (a copy: that response is cached)."""
        if request.endpoint != "locust.request_stats" or response.status_code != 200:
            return response
        data = response.get_json(silent=True)
        if not isinstance(data, dict):
            return response
        data = {**data, "state": self.state(), "extended_stats": [{"key": TAB_KEY, "data": self.rows()}]}
        return current_app.response_class(json.dumps(data), status=200, mimetype="application/json")

    def state(self) -> str:
        """The runner's state now, not as Locust cached it up to 2 s ago, and "spawning" while the
        ladder's first tick sends its check request: a "ready" then sends the UI back to the start
        form, where it stops polling and never sees the run."""
        runner = self.environment.runner
        if runner.state == STATE_INIT and getattr(runner, "shape_greenlet", None) is not None:
            return STATE_SPAWNING
        return runner.state

    def speed_up_polling(self, response: Response) -> Response:
        """Make the UI poll every second, by a script placed before Locust's module script runs."""
        if request.endpoint != "locust.index" or response.status_code != 200 or response.mimetype != "text/html":
            return response
        page = response.get_data(as_text=True)
        script = (
            "<script>(function(){var s=window.setInterval;window.setInterval=function(f,ms){"
            "var a=Array.prototype.slice.call(arguments);"
            f"if(ms==={LOCUST_POLL_MS})a[1]={LIVE_POLL_MS};return s.apply(window,a);}};}})();</script>"
        )
        if "</body>" in page:
            response.set_data(page.replace("</body>", script + "</body>", 1))
        return response

    # -- our routes -----------------------------------------------------------------------------

    def stages_json(self) -> Response:
        """The tab's rows plus the run's folder, for scripts and tests."""
        run = self.run
        body = {
            "outdir": os.path.abspath(run.outdir) if run else None,
            "finished": bool(run and run.finished),
            "rows": self.rows(),
        }
        return current_app.response_class(json.dumps(body), mimetype="application/json")

    def report(self) -> Response:
        """The HTML report of the run so far: the run's own report once it has ended, else built now."""
        run = self.run
        if run is None or not os.path.isdir(run.outdir):
            return _text("No run yet: start one from the form.", 404)
        existing = os.path.join(run.outdir, "report.html")
        if run.finished and os.path.exists(existing):
            return send_file(os.path.abspath(existing), mimetype="text/html", max_age=0)
        if run.store is not None and not run.finished:
            run.store.flush()
        folder = tempfile.mkdtemp(prefix="llmbench-report-")
        after_this_request(_remove_later(folder))
        out = os.path.join(folder, "report.html")
        problem = build_report_apart(run.outdir, out)
        if problem:
            return _text(f"The report could not be built: {problem}", 500)
        return send_file(out, mimetype="text/html", max_age=0)

    def file_list(self) -> Response:
        run = self.run
        if run is None or not os.path.isdir(run.outdir):
            return _text("No run yet: start one from the form.", 404)
        return current_app.response_class(files_page(run.outdir), mimetype="text/html")

    def one_file(self, name: str) -> Response:
        run = self.run
        if run is None or name not in output_files(run.outdir):
            return _text(f"No file {name!r} in the run's folder (yet).", 404)
        if run.store is not None and not run.finished:
            run.store.flush()
        return send_from_directory(os.path.abspath(run.outdir), name, as_attachment=True, max_age=0)

    def zip_files(self) -> Response:
        run = self.run
        if run is None or not os.path.isdir(run.outdir):
            return _text("No run yet: start one from the form.", 404)
        if run.store is not None and not run.finished:
            run.store.flush()
        spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)
        folder = os.path.basename(os.path.abspath(run.outdir))
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in output_files(run.outdir):
                archive.write(os.path.join(run.outdir, name), f"{folder}/{name}")
        spool.seek(0)
        return send_file(spool, mimetype="application/zip", as_attachment=True, download_name=f"{folder}.zip")


def output_files(outdir: str) -> list[str]:
    """The run's files (top level, regular, no temporaries), sorted."""
    if not os.path.isdir(outdir):
        return []
    return sorted(
        entry.name
        for entry in os.scandir(outdir)
        if entry.is_file() and not entry.name.endswith(".tmp") and not entry.name.startswith(".")
    )


def files_page(outdir: str) -> str:
    """A plain page linking every file of the run's folder (names escaped: they are data)."""
    items = "".join(
        f'<li><a href="files/{html.escape(name)}">{html.escape(name)}</a> '
        f"({os.path.getsize(os.path.join(outdir, name)):,} bytes)</li>"
        for name in output_files(outdir)
    )
    folder = html.escape(os.path.abspath(outdir))
    return (
        "<!doctype html><meta charset='utf-8'><title>llmbench output files</title>"
        f"<h1>Output files</h1><p>Folder <code>{folder}</code></p><ul id='files'>{items}</ul>"
        "<p><a href='files.zip'>all files (zip)</a> · <a href='report'>HTML report</a> · <a href='../'>back</a></p>"
    )


def build_report_apart(indir: str, out: str) -> str | None:
    """Build the report in a child process, so charting never stalls the users of a running test.

    Returns why it failed, or None.
    """
    from gevent import subprocess

    cmd = [sys.executable, "-m", "llmbench_locust.report.cli", "--indir", os.path.abspath(indir), "--out", out]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"timed out after {REPORT_TIMEOUT_S:g} s"
    if done.returncode != 0 or not os.path.exists(out):
        return html.escape((done.stderr or done.stdout).strip()[-2000:] or f"exit code {done.returncode}")
    return None


def _remove_later(folder: str):
    def remove(response: Response) -> Response:
        response.call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
        return response

    return remove


def _text(message: str, status: int) -> Response:
    return current_app.response_class(message, status=status, mimetype="text/plain")


def blueprint(view: LiveView, web_ui, base_path: str) -> Blueprint:
    """Our routes under the UI's base path, behind its login when ``--web-login`` is on."""
    guard = web_ui.auth_required_if_enabled
    bp = Blueprint("llmbench", __name__, url_prefix=(base_path or "").rstrip("/") + ROUTE_PREFIX)
    bp.add_url_rule("/stages", "stages", guard(view.stages_json))
    bp.add_url_rule("/report", "report", guard(view.report))
    bp.add_url_rule("/files", "files", guard(view.file_list))
    bp.add_url_rule("/files.zip", "files_zip", guard(view.zip_files))
    bp.add_url_rule("/files/<path:name>", "file", guard(view.one_file))
    return bp


def template_args() -> dict:
    """The tab, its table's columns and the download links, as Locust's UI reads them."""
    return {
        "extended_tabs": [{"title": "LLM", "key": TAB_KEY}],
        "extended_tables": [
            {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
        ],
        "extended_csv_files": [
            {"href": f".{ROUTE_PREFIX}/{path}", "title": title} for path, title in DOWNLOADS
        ],
    }


def install(environment, bench: "Bench") -> LiveView | None:
    """Add the LLM tab, the report and the file routes to the environment's web UI, if it has one."""
    web_ui = getattr(environment, "web_ui", None)
    if web_ui is None:
        return None
    view = LiveView(environment, bench)
    base_path = getattr(environment.parsed_options, "web_base_path", "") or ""
    web_ui.app.register_blueprint(blueprint(view, web_ui, base_path))
    web_ui.app.after_request(view.add_rows)
    web_ui.app.after_request(view.speed_up_polling)
    web_ui.template_args.update(template_args())
    return view
