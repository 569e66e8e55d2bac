"""The Locust user: one task, one request, measured end to end.

Each request fires Locust's ``request`` event with the full latency (to the last token, not to
the headers), so Locust's own table and CSVs show real latency; TTFT, ITL and token counts go to
rows of their own (``LLM ttft`` …) that never enter the Aggregated line; and the whole record is
fired as the ``llm_request`` event for anyone who wants it.
"""

from __future__ import annotations

import time

import gevent
from locust import User, task
from locust.event import EventHook

from .client import LLMClient
from .measure import Measurement
from .node import Ticket
from .plugin import bench_of
from .records import RequestRecord
from .request import build_request

METRIC_TYPE = "LLM"


class LLMRequestError(Exception):
    """A failed LLM request, as Locust's failure table shows it: ``error_type: message``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


def llm_request_event(environment) -> EventHook:
    """The custom event carrying each finished RequestRecord (created on first use)."""
    hook = getattr(environment.events, "llm_request", None)
    if hook is None:
        hook = EventHook()
        environment.events.llm_request = hook
    return hook


def log_metric(environment, name: str, value: float | None, length: int = 0) -> None:
    """A live statistics row of its own; it does not count toward Aggregated requests/s."""
    if value is None:
        return
    environment.stats.get(name, METRIC_TYPE).log(value, length)


class LLMUser(User):
    """Sends the run's requests in a closed loop, one ticket (one request) at a time."""

    def __init__(self, environment) -> None:
        super().__init__(environment)
        self._client: LLMClient | None = None

    def wait_time(self) -> float:
        # Waiting for the next stage happens here, in Locust's "waiting" state, so a user that is
        # stopped between stages is never in the middle of a request.
        bench = bench_of(self.environment)
        if bench is not None and bench.node is not None:
            bench.node.wait_for_work(1.0)
            return 0
        return 0.2

    def on_stop(self) -> None:
        if self._client is not None:
            self._client.close()

    def _llm_client(self, bench) -> LLMClient:
        config = bench.config
        if self._client is None:
            self._client = LLMClient(config.base_url, config.endpoint, config.timeout, config.api_key, config.headers)
        return self._client

    @task
    def send_one(self) -> None:
        bench = bench_of(self.environment)
        if bench is None or bench.node is None:
            return
        ticket = bench.node.take()
        if ticket is None:
            return
        record = None
        try:
            record = self._request(bench, ticket)
        finally:
            if record is not None:
                bench.record_finished(ticket, record)
            else:
                bench.node.finish(ticket)

    def _request(self, bench, ticket: Ticket) -> RequestRecord:
        config = bench.config
        body = build_request(config, bench.prompts.next())
        request_id = bench.new_request_id()
        start_epoch = time.time()
        measurement, size = self._llm_client(bench).send(body, config.stream, request_id)
        # Let users whose events arrived meanwhile timestamp them before this one's bookkeeping.
        gevent.sleep(0)
        record = _record(measurement, request_id, ticket, bench.node_id, start_epoch, config)
        self._fire(record, measurement, size)
        return record

    def _fire(self, record: RequestRecord, m: Measurement, size: int) -> None:
        env = self.environment
        exception = None if m.ok else LLMRequestError(m.error_type, m.error)
        env.events.request.fire(
            request_type="POST",
            name=self._client.path,
            response_time=m.latency_ms,
            response_length=size,
            exception=exception,
            context={"stage": record.stage, "concurrency": record.concurrency, "request_id": record.request_id},
        )
        if m.ok:
            # Locust shows these rows' values in its "ms" columns: the names say the unit.
            log_metric(env, "ttft (ms)", m.ttft_ms)
            log_metric(env, "itl (ms)", m.itl_ms)
            log_metric(env, "completion tokens (count)", m.completion_tokens)
            if m.completion_tokens and m.generation_ms:
                log_metric(env, "stream tokens/s (rate)", m.completion_tokens / (m.generation_ms / 1000.0))
        llm_request_event(env).fire(record=record)


def _record(m: Measurement, request_id: str, ticket: Ticket, worker: str, start_epoch: float, config) -> RequestRecord:
    return RequestRecord(
        request_id=request_id,
        stage=ticket.stage,
        concurrency=ticket.concurrency,
        worker=worker,
        start_epoch=start_epoch,
        latency_ms=m.latency_ms,
        ttfb_ms=m.ttfb_ms,
        ttft_ms=m.ttft_ms,
        itl_ms=m.itl_ms,
        generation_ms=m.generation_ms,
        prompt_tokens=m.prompt_tokens,
        completion_tokens=m.completion_tokens,
        tokens_source=m.tokens_source,
        http_status=m.http_status,
        ok=m.ok,
        error_type=m.error_type,
        error=m.error,
        endpoint=config.endpoint,
        stream=config.stream,
        output_events=m.output_events,
        end_epoch=start_epoch + m.latency_ms / 1000.0,
        icl_ms=m.icl_ms,
    )
