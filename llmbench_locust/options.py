"""The tool's options, registered on Locust's parser, and the one typed config built from them.

Registering them on Locust's own parser makes them Locust options: they work on the `locust`
command line, show in the web UI's start form and travel from master to workers with the spawn
message. `llmbench run` translates its seed-compatible flags into the same options.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from . import grammar

ENDPOINTS = ("chat.completions", "responses")
DEFAULT_OUTDIR = "llm_bench_out"
DEFAULT_USER_PROMPT = "Write a one-sentence fact about Oklahoma."


LOCUST_ONLY_KEYWORDS = ("include_in_web_ui", "is_secret", "is_required", "is_multiple")


class _PlainParser:
    """Lets the same option list go onto a plain argparse parser (without Locust's web-UI keywords)."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        for key in LOCUST_ONLY_KEYWORDS:
            kwargs.pop(key, None)
        return self._parser.add_argument(*args, **kwargs)


def add_llm_arguments(parser: Any) -> None:
    """Add the LLM options to a Locust parser (for its command line and web UI) or a plain one."""
    # Locust's web UI form reads its extra fields from the parser's own actions, so no group.
    group = parser if hasattr(parser, "args_included_in_web_ui") else _PlainParser(parser)
    group.add_argument("--model", default="", help="Model name sent in every request", is_required=True)
    group.add_argument(
        "--api-key",
        default="",
        is_secret=True,
        help="Bearer token for the server (default: $OPENAI_API_KEY). Never written anywhere.",
    )
    group.add_argument("--endpoint", choices=ENDPOINTS, default="chat.completions", help="API to call")
    group.add_argument(
        "--concurrency",
        default="1,2,4,8",
        help="Concurrency ladder: comma-separated N, A-B (doubling, B included) or A-B:S (step S)",
    )
    group.add_argument(
        "--requests-per-stage", type=int, default=20, help="Exact number of requests each stage sends"
    )
    group.add_argument(
        "--stage-duration",
        type=float,
        default=0.0,
        help="Seconds each stage issues requests (replaces --requests-per-stage when > 0)",
    )
    group.add_argument(
        "--warmup-requests", type=int, default=0, help="Requests sent before the first stage, not recorded in it"
    )
    group.add_argument("--stream", action="store_true", default=False, help="Stream responses (measures TTFT)")
    group.add_argument("--max-tokens", type=int, default=128, help="max_tokens / max_output_tokens per request")
    group.add_argument("--system", default="", help="System prompt of the one-turn conversation")
    group.add_argument("--user", default=DEFAULT_USER_PROMPT, help="User prompt of the one-turn conversation")
    group.add_argument(
        "--prompt-file", default="", help="JSON or JSONL file of conversations (overrides --system/--user)"
    )
    group.add_argument("--outdir", default=DEFAULT_OUTDIR, help="Output folder")
    group.add_argument("--timeout", type=float, default=300.0, help="Per-request timeout in seconds")
    group.add_argument(
        "--extra-body", default="", help="JSON object merged into every request body (e.g. ignore_eos)"
    )
    group.add_argument(
        "--header",
        action="append",
        default=[],
        include_in_web_ui=False,
        help="Extra request header 'Name: value' (repeatable)",
    )
    group.add_argument(
        "--saturation-qps-gain",
        type=float,
        default=0.10,
        help="Saturation hint: a stage whose qps rose less than this fraction ...",
    )
    group.add_argument(
        "--saturation-p99-rise",
        type=float,
        default=0.50,
        help="... while its latency p99 rose more than this fraction over the previous stage",
    )
    group.add_argument(
        "--error-onset-rate", type=float, default=0.01, help="Error rate that marks the error onset"
    )
    group.add_argument(
        "--slo",
        default="",
        help="SLO bounds, e.g. ttft_p99_ms=500,itl_p50_ms=40,latency_p99_ms=8000,error_rate=1%% "
        "(exit code 1 when a stage misses one; requests meeting every per-request bound count as goodput)",
    )
    group.add_argument(
        "--slo-min-concurrency",
        type=int,
        default=0,
        help="Gate on the SLO only up to this stage's concurrency; stages above are informational (0: all stages)",
    )
    group.add_argument(
        "--baseline", default="", help="Earlier output folder (or its overall_summary.json) to compare against"
    )
    group.add_argument(
        "--max-regression",
        default="",
        help="Allowed regression against --baseline: 10%% (default) or per metric, e.g. qps=5%%,latency_p99_ms=20%%",
    )
    group.add_argument(
        "--junit", default="", include_in_web_ui=False, help="Write the SLO and regression checks to this JUnit XML file"
    )
    group.add_argument("--no-report", action="store_true", default=False, help="Do not write report.html")
    group.add_argument(
        "--skip-preflight",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="Do not send the single check request before the load starts",
    )


@dataclass(frozen=True)
class RunConfig:
    """Everything a request and the ladder need, validated once, free of Locust types."""

    base_url: str
    model: str
    endpoint: str
    concurrency: tuple[int, ...]
    requests_per_stage: int
    stage_duration: float
    warmup_requests: int
    stream: bool
    max_tokens: int | None
    system: str
    user: str
    prompt_file: str
    outdir: str
    timeout: float
    extra_body: dict = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    api_key: str = field(default="", repr=False)
    saturation_qps_gain: float = 0.10
    saturation_p99_rise: float = 0.50
    error_onset_rate: float = 0.01
    report: bool = True
    preflight: bool = True
    slo: str = ""
    slo_min_concurrency: int | None = None
    baseline: str = ""
    max_regression: str = ""
    junit: str = ""

    def public(self) -> dict[str, Any]:
        """The configuration as written to overall_summary.json: no secrets, no auth headers."""
        data = asdict(self)
        data.pop("api_key")
        data["headers"] = [
            [name, "***" if name.lower() in ("authorization", "x-api-key", "api-key") else value]
            for name, value in self.headers
        ]
        data["concurrency"] = list(self.concurrency)
        return data


def config_from_options(options: Any, host: str | None) -> RunConfig:
    """Build and validate the config; raises ValueError naming the bad option."""
    base_url = (host or "").strip()
    if not base_url:
        raise ValueError("no server given: pass --host (locust) or --base-url (llmbench run)")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"--host/--base-url {base_url!r} must start with http:// or https://")
    if not options.model:
        raise ValueError("--model is required")
    try:
        concurrency = tuple(grammar.parse_concurrency(str(options.concurrency)))
    except ValueError as exc:
        raise ValueError(f"--concurrency: {exc}") from None
    stage_duration = float(options.stage_duration or 0)
    requests = int(options.requests_per_stage or 0)
    if stage_duration < 0:
        raise ValueError(f"--stage-duration must be positive, got {stage_duration}")
    if stage_duration == 0 and requests < 1:
        raise ValueError(f"--requests-per-stage must be at least 1, got {requests}")
    if int(options.warmup_requests or 0) < 0:
        raise ValueError("--warmup-requests must not be negative")
    if float(options.timeout) <= 0:
        raise ValueError(f"--timeout must be positive, got {options.timeout}")
    max_tokens = options.max_tokens
    if max_tokens is not None and int(max_tokens) <= 0:
        max_tokens = None
    try:
        extra_body = grammar.parse_extra_body(options.extra_body) if options.extra_body else {}
    except ValueError as exc:
        raise ValueError(f"--extra-body: {exc}") from None
    headers = []
    for item in options.header or ():
        try:
            headers.append(grammar.parse_header(item))
        except ValueError as exc:
            raise ValueError(f"--header: {exc}") from None
    from .gating import gate_settings  # lazy: pulls in pandas, not needed for `llmbench --help`

    outdir = str(options.outdir or DEFAULT_OUTDIR)
    slo_min = int(options.slo_min_concurrency or 0) or None
    gate_settings(  # raises ValueError naming --slo/--baseline/--max-regression/--junit
        slo=options.slo,
        baseline=options.baseline,
        max_regression=options.max_regression,
        junit=options.junit,
        outdir=outdir,
        concurrency=concurrency,
        slo_min_concurrency=slo_min,
    )
    return RunConfig(
        base_url=base_url.rstrip("/"),
        model=str(options.model),
        endpoint=str(options.endpoint),
        concurrency=concurrency,
        requests_per_stage=requests,
        stage_duration=stage_duration,
        warmup_requests=int(options.warmup_requests or 0),
        stream=bool(options.stream),
        max_tokens=int(max_tokens) if max_tokens else None,
        system=str(options.system or ""),
        user=str(options.user or ""),
        prompt_file=str(options.prompt_file or ""),
        outdir=outdir,
        timeout=float(options.timeout),
        extra_body=extra_body,
        headers=tuple(headers),
        api_key=str(options.api_key or os.environ.get("OPENAI_API_KEY", "")),
        saturation_qps_gain=float(options.saturation_qps_gain),
        saturation_p99_rise=float(options.saturation_p99_rise),
        error_onset_rate=float(options.error_onset_rate),
        report=not options.no_report,
        preflight=not options.skip_preflight,
        slo=str(options.slo or "").strip(),
        slo_min_concurrency=slo_min,
        baseline=os.path.abspath(options.baseline) if options.baseline else "",
        max_regression=str(options.max_regression or "").strip(),
        junit=os.path.abspath(options.junit) if options.junit else "",
    )


def config_to_message(config: RunConfig) -> dict[str, Any]:
    """The config as sent from master to workers (the key included: workers need it)."""
    data = asdict(config)
    data["concurrency"] = list(config.concurrency)
    data["headers"] = [list(pair) for pair in config.headers]
    return data


def config_from_message(data: dict[str, Any]) -> RunConfig:
    values = dict(data)
    values["concurrency"] = tuple(values["concurrency"])
    values["headers"] = tuple(tuple(pair) for pair in values["headers"])
    return RunConfig(**values)


def dumps_public(config: RunConfig) -> str:
    return json.dumps(config.public(), indent=2, sort_keys=True)
