"""One benchmark run on the master (or local runner): its folder, its ladder, its live progress,
and the result files when it ends, however it ends.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import gevent
import psutil
from locust import stats as locust_stats

from . import __version__, gating, outputs
from .client import LLMClient
from .controller import LadderController, StageRun
from .health import CpuWatch
from .options import RunConfig
from .request import build_request
from .stages import build_plan
from .store import RecordStore

if TYPE_CHECKING:
    from .plugin import Bench

logger = logging.getLogger("llmbench")

GRACEFUL_STOP_S = 30.0
STALE_PATTERNS = (
    "requests_c*.csv",
    "summary_c*.json",
    "warmup_requests.csv",
    outputs.SUMMARY_ALL,
    outputs.OVERALL,
    "report.html",
    "locust_*.csv",
    "regression.json",
)


def clear_results(outdir: str) -> None:
    """Remove the result files of an earlier run, so a new run never appends to them."""
    for pattern in STALE_PATTERNS:
        for path in glob.glob(os.path.join(outdir, pattern)):
            os.remove(path)


def preflight_error(config: RunConfig, prompt) -> str | None:
    """Send one small request; the reason the run cannot work, or None."""
    client = LLMClient(config.base_url, config.endpoint, min(config.timeout, 60.0), config.api_key, config.headers)
    body = build_request(config, prompt, max_tokens=min(config.max_tokens or 8, 8))
    try:
        measurement, _ = client.send(body, config.stream, "llmbench-preflight")
    finally:
        client.close()
    if measurement.ok:
        return None
    reason = f"{measurement.error_type}: {measurement.error}"
    if measurement.error_type in ("connection", "timeout", "http_4xx"):
        return f"the check request to {config.base_url} failed ({reason})"
    logger.warning("the check request failed (%s); starting anyway", reason)
    return None


class Run:
    def __init__(self, bench: "Bench", config: RunConfig, prompts: list) -> None:
        self.bench = bench
        self.environment = bench.environment
        self.config = config
        self.prompts = prompts
        self.plan = build_plan(config.concurrency, config.requests_per_stage, config.stage_duration, config.warmup_requests)
        self.outdir = config.outdir
        self.store: RecordStore | None = None
        self.controller = LadderController(self.plan, bench.users_by_node, bench.send_to_node, self._stage_finished)
        self.start_error: str | None = None
        self.started_epoch = time.time()
        self.cpu = CpuWatch()
        self._process = psutil.Process()
        self._greenlets: list[gevent.Greenlet] = []
        self._csv_writer: Any = None
        self.finished = False
        # Loaded now: the baseline must be read before start() clears the output folder.
        self.gate = gating.settings_from_config(config)
        self.drain_timeout = min(config.timeout, GRACEFUL_STOP_S)
        self.lost_workers: dict[str, dict] = {}
        self.closing_text = ""  # the result table and where the files are, printed at the end

    def start(self) -> bool:
        if self.config.preflight:
            error = preflight_error(self.config, self.prompts[0])
            if error:
                self.start_error = error
                return False
        if not self.environment.stop_timeout:
            # Users stopped while a request is in flight finish it first (its record is kept);
            # idle users between stages stop at once.
            self.environment.stop_timeout = self.drain_timeout
        os.makedirs(self.outdir, exist_ok=True)
        clear_results(self.outdir)
        self.store = RecordStore(self.outdir)
        self._csv_writer = locust_stats.StatsCSVFileWriter(
            self.environment, locust_stats.PERCENTILES_TO_REPORT, os.path.join(self.outdir, "locust"), full_history=True
        )
        self._greenlets.append(gevent.spawn(self._csv_writer.stats_writer))
        self._greenlets.append(gevent.spawn(self._monitor))
        logger.info("llmbench: writing to %s", os.path.abspath(self.outdir))
        return True

    # ---- during the run ------------------------------------------------------------------------

    def tick(self) -> tuple[int, float] | None:
        users = self.controller.target_users()
        if users is None:
            return None
        self.controller.users_ready()
        return users, float(max(1, min(users, 100)))

    def _stage_finished(self, run: StageRun) -> None:
        self.store.flush()
        if not run.stage.is_warmup:
            outputs.write_stage_summary(self.outdir, run.stage.number, run.stage.concurrency, self.gate.slo)

    def _monitor(self) -> None:
        """Once a second: the client CPU, and a progress line in headless runs."""
        headless = bool(getattr(self.environment.parsed_options, "headless", False))
        self._process.cpu_percent(None)
        while True:
            gevent.sleep(1.0)
            self.store.flush()
            self._sample_cpu()
            if self.bench.role == "master":
                self._watch_workers()
            if headless:
                line = self.progress_line()
                if line:
                    print(line, flush=True)

    def _watch_workers(self) -> None:
        """Workers that died mid-stage hand their unfinished share to the others; when Locust moves
        users between workers (a worker joined), the unsent requests follow the users."""
        current = self.controller.current
        if current is None or current.opened_epoch is None:
            return
        clients = self.environment.runner.clients
        for node in list(current.shares):
            worker = clients.get(node)
            if worker is not None and worker.state != "missing":
                continue
            if node in current.done or node in current.lost:
                continue
            recorded = self.store.live[current.stage.number].by_worker.get(node, 0)
            progress = self.store.progress.get(node) or {}
            sent = progress.get("sent", recorded) if progress.get("position") == current.stage.position else recorded
            self.controller.node_lost(node, recorded, sent)
            self.lost_workers[node] = {"stage": current.stage.number, **current.lost.get(node, {})}
        self.controller.users_moved()

    def _sample_cpu(self) -> None:
        """This process's CPU, and each worker's as it reported it with its last records."""
        samples = {"master" if self.bench.role == "master" else "local": self._process.cpu_percent(None)}
        if self.bench.role == "master":
            for node, progress in self.store.progress.items():
                if progress.get("cpu") is not None:
                    samples[node] = float(progress["cpu"])
        current = self.controller.current
        if current is not None and current.opened_epoch is not None:
            for node, value in samples.items():
                self.cpu.add(node, value)

    def progress_line(self) -> str | None:
        current = self.controller.current
        if current is None or current.opened_epoch is None:
            return None
        stage = current.stage
        live = self.store.live[stage.number]
        stages = [s for s in self.plan if not s.is_warmup]
        index = f"{stage.number}/{len(stages)}" if not stage.is_warmup else "warm-up"
        quota = stage.requests if stage.requests is not None else "-"
        p99 = live.p99()
        return (
            f"[llmbench] stage {index} concurrency {stage.concurrency}: {live.done}/{quota} done, "
            f"{live.failures} failed, qps {live.qps():.2f}, p99 {'-' if p99 is None else f'{p99:.1f} ms'}"
        )

    # ---- the end ------------------------------------------------------------------------------

    def client_health(self) -> dict:
        return self.cpu.verdict()

    def finish(self) -> dict | None:
        if self.finished:
            return None
        self.finished = True
        self.controller.stop()
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        self._final_locust_csv()
        self.store.flush()
        self.store.close()
        partial = [run.stage.concurrency for run in self.controller.partial_stages() if not run.stage.is_warmup]
        started = [
            (run.stage.number, run.stage.concurrency)
            for run in self.controller.runs
            if run.opened_epoch is not None and not run.stage.is_warmup
        ]
        run_info = {
            "version": __version__,
            "run": {
                "started_epoch": self.started_epoch,
                "finished_epoch": time.time(),
                "completed": self.controller.finished,
                "stages": [run.as_dict() for run in self.controller.runs],
                "records_by_worker": self.store.records_by_worker(),
                "lost_workers": self.lost_workers,
            },
        }
        thresholds = {
            "qps_gain": self.config.saturation_qps_gain,
            "p99_rise": self.config.saturation_p99_rise,
            "error_rate": self.config.error_onset_rate,
        }
        overall = outputs.write_all(
            self.outdir, started, self.config.public(), thresholds, partial, self.client_health(), run_info,
            slo=self.gate.slo,
        )
        gate = gating.evaluate(
            overall.get("stages", []),
            self.gate.slo,
            self.gate.baseline,
            self.gate.max_regression,
            slo_min_concurrency=self.gate.slo_min_concurrency,
            completed=bool(self.controller.finished),
            config=self.config.public(),
        )
        overall.update(gating.overall_fields(gate))
        outputs.write_json(os.path.join(self.outdir, outputs.OVERALL), overall)
        gating.write_outputs(self.outdir, gate, self.gate.junit or None)
        self.environment.process_exit_code = gate.exit_code
        if gate.problem:
            print(f"llmbench: error: {gate.problem}", file=sys.stderr, flush=True)
        lines = [outputs.results_table(overall)]
        if self.gate.slo or self.gate.baseline:
            lines.append(gating.gate_text(gate))
        if self.config.report:
            report = self._write_report()
            if report:
                lines.append(f"llmbench: report {report}")
        lines.append(f"llmbench: results in {os.path.abspath(self.outdir)}")
        self.closing_text = "\n".join(lines)
        return overall

    def _final_locust_csv(self) -> None:
        writer = self._csv_writer
        if writer is None:
            return
        try:
            writer.requests_csv_filehandle.seek(0)
            writer.requests_csv_writer.writerow(writer.requests_csv_columns)
            writer._requests_data_rows(writer.requests_csv_writer)
            writer.requests_csv_filehandle.truncate()
            writer._stats_history_data_rows(writer.stats_history_csv_writer, time.time())
            writer.failures_csv_filehandle.seek(0)
            writer.failures_csv_writer.writerow(writer.failures_columns)
            writer._failures_data_rows(writer.failures_csv_writer)
            writer.failures_csv_filehandle.truncate()
            writer.close_files()
        except (OSError, ValueError) as exc:
            logger.warning("could not finish Locust's CSV files: %s", exc)

    def _write_report(self) -> str | None:
        """The report's path, or None when it could not be written (the data files are there)."""
        from .report import build_report

        try:
            return os.path.abspath(build_report(self.outdir))
        except Exception as exc:  # noqa: BLE001 - the data files are written; the report is extra
            logger.exception("report not written: %s", exc)
            return None
