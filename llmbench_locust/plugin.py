"""Wires the tool into Locust: options, per-role setup, messages between master and workers, and
the result files at the end of a run.

Importing this module registers listeners on Locust's events, the way Locust plugins work; all
state lives on one ``Bench`` object per Locust environment.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import sys
import time

import gevent
import psutil
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from . import __version__, webui
from .controller import DONE_MESSAGE, MORE_MESSAGE, RELEASE_MESSAGE, RELEASED_MESSAGE, STAGE_MESSAGE
from .node import StageNode, Ticket
from .options import RunConfig, add_llm_arguments, config_from_message, config_from_options, config_to_message
from .prompts import PromptCycle, from_system_user, load_prompt_file, parse_conversation
from .records import RequestRecord
from .run import Run
from .store import RECORDS_MESSAGE, Shipper

logger = logging.getLogger("llmbench")

SETUP_MESSAGE = "llmbench_setup"
HELLO_MESSAGE = "llmbench_hello"
REFUSE_MESSAGE = "llmbench_refuse"
DRAIN_MESSAGE = "llmbench_drain"
DRAINED_MESSAGE = "llmbench_drained"
SHIP_INTERVAL_S = 1.0
DRAIN_POLL_S = 0.05


def load_prompts(config: RunConfig) -> list:
    if config.prompt_file:
        return load_prompt_file(config.prompt_file)
    return from_system_user(config.system, config.user)


def prompt_to_message(prompt) -> dict:
    return {"messages": list(prompt.messages)} if prompt.messages is not None else {"input": prompt.input}


class Bench:
    """The tool's state in one Locust process, whatever its role."""

    def __init__(self, environment) -> None:
        self.environment = environment
        runner = environment.runner
        self.role = (
            "master" if isinstance(runner, MasterRunner) else "worker" if isinstance(runner, WorkerRunner) else "local"
        )
        self.node_id = runner.client_id if self.role == "worker" else "local"
        self.config: RunConfig | None = None
        self.prompts: PromptCycle | None = None
        self.node: StageNode | None = None
        self.shipper: Shipper | None = None
        self.run: Run | None = None
        self.last_run: Run | None = None  # the web UI shows a stopped run's rows, report and files
        self._request_ids = itertools.count(1)
        self._configured_nodes: set[str] = set()
        if self.role in ("local", "worker"):
            runner.register_message(SETUP_MESSAGE, self._on_setup)
            runner.register_message(STAGE_MESSAGE, self._on_stage)
            runner.register_message(MORE_MESSAGE, self._on_more)
            runner.register_message(RELEASE_MESSAGE, self._on_release)
        if self.role in ("local", "master"):
            runner.register_message(DONE_MESSAGE, self._on_share_done)
            runner.register_message(RECORDS_MESSAGE, self._on_records)
        if self.role == "master":
            runner.register_message(HELLO_MESSAGE, self._on_hello)
            runner.register_message(DRAINED_MESSAGE, self._on_drained)
            runner.register_message(RELEASED_MESSAGE, self._on_released)
            self._drained: set[str] = set()
        if self.role == "worker":
            runner.register_message(REFUSE_MESSAGE, self._on_refused)
            runner.register_message(DRAIN_MESSAGE, self._on_drain, concurrent=True)
            self._cpu = psutil.Process()
            self._cpu.cpu_percent(None)
            self.shipper = Shipper(self.node_id, runner.send_message, self._progress)
            gevent.spawn(self._ship_forever)
            runner.send_message(HELLO_MESSAGE, {"version": __version__, "node": self.node_id})

    # ---- the run (master or local) -------------------------------------------------------

    def ensure_run(self) -> Run | None:
        """The current run, created on first use; None when it cannot start (the error is logged)."""
        if self.run is not None:
            return self.run
        if self.role == "worker":
            return None
        options = self.environment.parsed_options
        try:
            config = config_from_options(options, self.environment.host)
            prompts = load_prompts(config)
        except ValueError as exc:
            self._fail_to_start(str(exc))
            return None
        if getattr(self.environment, "web_ui", None) is not None:  # each run from the form: a fresh folder
            config = dataclasses.replace(config, outdir=webui.fresh_run_folder(config.outdir))
        self._configured_nodes.clear()
        self.run = Run(self, config, prompts)
        if not self.run.start():
            self._fail_to_start(self.run.start_error or "the run could not start")
            self.run = None
            return None
        return self.run

    def _fail_to_start(self, message: str) -> None:
        logger.error("llmbench: error: %s", message)
        self.environment.process_exit_code = 2

    def send_to_node(self, msg_type: str, data: dict, node: str) -> None:
        run = self.run
        if run is not None and node not in self._configured_nodes:
            self._configured_nodes.add(node)
            setup = {
                "config": config_to_message(run.config),
                "prompts": [prompt_to_message(p) for p in run.prompts],
            }
            self.environment.runner.send_message(SETUP_MESSAGE, setup, client_id=node)
        self.environment.runner.send_message(msg_type, data, client_id=node)

    def users_by_node(self) -> dict[str, int]:
        runner = self.environment.runner
        if self.role == "master":
            return {worker.id: worker.user_count for worker in runner.clients.values()}
        return {"local": runner.user_count}

    def _on_share_done(self, environment, msg, **_kw) -> None:
        run = self.run
        if run is not None:
            data = msg.data
            run.controller.share_done(data["node"], data["position"], data["sent"], data["finished"])

    def _on_records(self, environment, msg, **_kw) -> None:
        data = msg.data
        store = self.run.store if self.run is not None else None
        if store is None:  # between runs, or before the check request let the run start
            if data["records"]:
                logger.warning("%d records from %s arrived outside a run", len(data["records"]), data["node"])
            return
        store.add_batch(data["node"], data["seq"], data["records"], data.get("progress"))

    def _on_hello(self, environment, msg, **_kw) -> None:
        version = msg.data.get("version")
        if version != __version__:
            logger.error(
                "refusing worker %s: it runs llmbench-locust %s, the master runs %s",
                msg.node_id,
                version,
                __version__,
            )
            environment.runner.send_message(
                REFUSE_MESSAGE,
                {"reason": f"llmbench-locust version {version} differs from the master's {__version__}"},
                client_id=msg.node_id,
            )

    # ---- the load-generating side (local or worker) ---------------------------------------

    def _on_setup(self, environment, msg, **_kw) -> None:
        data = msg.data
        self.config = config_from_message(data["config"])
        self.prompts = PromptCycle([parse_conversation(item) for item in data["prompts"]])
        self.node = StageNode(self._share_done)

    def _on_stage(self, environment, msg, **_kw) -> None:
        if self.node is None:
            logger.error("stage message before setup; ignored")
            return
        data = msg.data
        self.node.open(data["position"], data["stage"], data["concurrency"], data["share"], data["duration_s"])

    def _on_more(self, environment, msg, **_kw) -> None:
        if self.node is not None:
            data = msg.data
            self.node.add(data["position"], data["extra"], data["stage"], data["concurrency"])

    def _on_release(self, environment, msg, **_kw) -> None:
        """Give back part of this stage's unsent requests; answer before a possible "done"."""
        data = msg.data
        given = self.node.release(data["position"], data["fraction"]) if self.node is not None else 0
        environment.runner.send_message(
            RELEASED_MESSAGE, {"node": self.node_id, "position": data["position"], "given": given}
        )
        if self.node is not None:
            self.node.poll()

    def _on_released(self, environment, msg, **_kw) -> None:
        if self.run is not None:
            data = msg.data
            self.run.controller.released(data["node"], data["position"], data["given"])

    def _progress(self) -> dict:
        progress = (self.node.progress() if self.node is not None else None) or {}
        progress["cpu"] = self._cpu.cpu_percent(None)
        return progress

    def _on_drain(self, environment, msg, **_kw) -> None:
        """The master is stopping: no new requests; ship every record, in-flight ones included."""
        if self.node is not None:
            self.node.close()
            deadline = time.monotonic() + float(msg.data.get("timeout", 30))
            while self.node.in_flight > 0 and time.monotonic() < deadline:
                gevent.sleep(DRAIN_POLL_S)
        self.shipper.flush(always=True)
        environment.runner.send_message(DRAINED_MESSAGE, {"node": self.node_id})

    def _on_drained(self, environment, msg, **_kw) -> None:
        self._drained.add(msg.data["node"])

    def drain_workers(self, timeout: float) -> None:
        """Ask every live worker to stop issuing and ship its last records; wait for all (bounded)."""
        runner = self.environment.runner
        alive = {w.id for w in runner.clients.values() if w.state != "missing"}
        self._drained = set()
        for node in alive:
            runner.send_message(DRAIN_MESSAGE, {"timeout": timeout}, client_id=node)
        deadline = time.monotonic() + timeout + 2
        while not alive <= self._drained and time.monotonic() < deadline:
            gevent.sleep(DRAIN_POLL_S)
        missing = alive - self._drained
        if missing:
            logger.warning("workers did not confirm their last records: %s", sorted(missing))

    def _on_refused(self, environment, msg, **_kw) -> None:
        logger.error("the master refused this worker: %s", msg.data.get("reason"))
        print(f"llmbench: error: the master refused this worker: {msg.data.get('reason')}", file=sys.stderr)
        environment.process_exit_code = 2
        gevent.spawn_later(0.1, environment.runner.quit)

    def _share_done(self, position: int, sent: int, finished: int) -> None:
        if self.shipper is not None:
            self.shipper.flush()
        self.environment.runner.send_message(
            DONE_MESSAGE, {"node": self.node_id, "position": position, "sent": sent, "finished": finished}
        )

    def _ship_forever(self) -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL_S)
            if self.shipper is not None:
                self.shipper.flush(always=True)  # with progress and CPU, even without records
            if self.node is not None:
                self.node.poll()

    def new_request_id(self) -> str:
        return f"{self.node_id}-{next(self._request_ids)}"

    def record_finished(self, ticket: Ticket, record: RequestRecord) -> None:
        """Store the record first, then free the ticket: a stage is never done before its records."""
        if self.shipper is not None:
            self.shipper.add([record])
        elif self.run is not None:
            self.run.store.add([record])
        if self.node is not None:
            self.node.finish(ticket)

    # ---- lifecycle ------------------------------------------------------------------------

    def on_spawning_complete(self) -> None:
        if self.run is not None:
            self.run.controller.users_ready()

    def on_test_stopping(self) -> None:
        if self.node is not None:
            self.node.close()

    def on_test_stop(self) -> None:
        if self.shipper is not None:
            self.shipper.flush()
        run, self.run = self.run, None
        if run is not None:
            self.last_run = run
            if self.role == "master" and not run.controller.finished:
                self.drain_workers(run.drain_timeout)
            run.finish()
            if not self._headless():
                print(run.closing_text, flush=True)
            if self.role == "local":
                self.node = None

    def _headless(self) -> bool:
        return bool(getattr(self.environment.parsed_options, "headless", False))

    def on_quit(self) -> None:
        """Headless: the result table goes last, after Locust's own statistics."""
        if self._headless() and self.last_run is not None and self.last_run.closing_text:
            print(self.last_run.closing_text, flush=True)

    def on_quitting(self) -> None:
        if self.shipper is not None:
            self.shipper.flush()


def bench_of(environment) -> Bench | None:
    return getattr(environment, "llmbench", None)


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kw) -> None:
    add_llm_arguments(parser)


@events.init.add_listener
def _on_init(environment, **_kw) -> None:
    if environment.runner is None:
        return
    bench = Bench(environment)
    environment.llmbench = bench
    events_ = environment.events
    events_.spawning_complete.add_listener(lambda **kw: bench.on_spawning_complete())
    events_.test_stopping.add_listener(lambda **kw: bench.on_test_stopping())
    events_.test_stop.add_listener(lambda **kw: bench.on_test_stop())
    events_.quitting.add_listener(lambda **kw: bench.on_quitting())
    events_.quit.add_listener(lambda **kw: bench.on_quit())
    webui.install(environment, bench)
