"""Small grammars of the command line: the concurrency ladder, headers, extra body, SLOs, regressions.

Pure stdlib so options, the CLI and the web UI form share one parser, and every error names the
exact piece of input that was wrong (the user sees it verbatim).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

__all__ = [
    "SloBound",
    "SLO_METRICS",
    "LOWER_BOUND_METRICS",
    "REGRESSION_METRICS",
    "HIGHER_IS_BETTER",
    "parse_concurrency",
    "parse_header",
    "parse_extra_body",
    "parse_slo",
    "parse_regression",
]

# ---------------------------------------------------------------------------------------------
# --concurrency
# ---------------------------------------------------------------------------------------------

_ITEM = re.compile(r"^([0-9]+)(?:\s*-\s*([0-9]+)(?:\s*:\s*([0-9]+))?)?$")


def parse_concurrency(text: str) -> list[int]:
    """Parse the ladder grammar (SPEC §1) into concurrencies, de-duplicated, in the order given.

    Items: ``N``; ``A-B`` = A, 2A, 4A, … below B, then B itself; ``A-B:S`` = A, A+S, … up to B
    (B only if a step lands on it).
    """
    if text is None or not str(text).strip():
        raise ValueError("concurrency: empty; expected e.g. '1,2,4-32'")
    result: list[int] = []
    for raw in str(text).split(","):
        for value in _parse_concurrency_item(raw.strip()):
            if value not in result:
                result.append(value)
    return result


def _parse_concurrency_item(item: str) -> list[int]:
    """One ladder item → its concurrencies; errors name the item."""
    if not item:
        raise ValueError("concurrency item '': empty item (check for doubled or trailing commas)")
    match = _ITEM.match(item)
    if match is None:
        raise ValueError(
            f"concurrency item '{item}': expected N, A-B (doubling) or A-B:S (step S), "
            "with positive integers"
        )
    start_s, end_s, step_s = match.groups()
    start = int(start_s)
    if start <= 0:
        raise ValueError(f"concurrency item '{item}': concurrency must be at least 1, got {start}")
    if end_s is None:
        return [start]
    end = int(end_s)
    if end < start:
        raise ValueError(f"concurrency item '{item}': range end {end} is below its start {start}")
    if step_s is None:
        values = []
        value = start
        while value < end:
            values.append(value)
            value *= 2
        values.append(end)
        return values
    step = int(step_s)
    if step <= 0:
        raise ValueError(f"concurrency item '{item}': step must be at least 1, got {step}")
    return list(range(start, end + 1, step))


# ---------------------------------------------------------------------------------------------
# --header, --extra-body
# ---------------------------------------------------------------------------------------------

# RFC 9110 token characters for a field name.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` → ``(name, value)``; rejects bad names and CR/LF (header injection)."""
    item = "" if text is None else str(text)
    name, sep, value = item.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise ValueError(f"header '{item}': expected 'Name: value'")
    if not _HEADER_NAME.match(name):
        raise ValueError(f"header '{item}': invalid header name '{name}'")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"header '{name}': value contains a line break or NUL")
    return name, value


def parse_extra_body(text: str) -> dict:
    """``--extra-body`` JSON → dict merged into every request body; must be a JSON object."""
    if text is None or not str(text).strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"--extra-body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"--extra-body must be a JSON object, got {_json_kind(value)}")
    return value


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------
# --slo
# ---------------------------------------------------------------------------------------------

PER_REQUEST_FAMILIES = ("latency", "ttft", "itl")
STATS = ("avg", "p50", "p95", "p99", "min", "max")
LOWER_BOUND_METRICS = ("qps", "output_tokens_per_s", "tps")
SLO_METRICS = (
    tuple(f"{family}_{stat}_ms" for family in PER_REQUEST_FAMILIES for stat in STATS)
    + ("error_rate",)
    + LOWER_BOUND_METRICS
)


@dataclass(frozen=True)
class SloBound:
    """One SLO: ``metric op value``. ``per_request`` bounds (latency/ttft/itl) also define goodput."""

    metric: str
    op: str  # "<=" (upper bound) or ">=" (lower bound)
    value: float
    per_request: bool

    @property
    def family(self) -> str | None:
        """The per-request column family (``latency``, ``ttft``, ``itl``), else None."""
        return self.metric.split("_", 1)[0] if self.per_request else None

    def holds(self, observed: float | None) -> bool:
        """Whether ``observed`` satisfies the bound; an unmeasured value (None/NaN) does not."""
        if observed is None or (isinstance(observed, float) and math.isnan(observed)):
            return False
        return observed >= self.value if self.op == ">=" else observed <= self.value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def parse_slo(text: str) -> dict[str, SloBound]:
    """``ttft_p99_ms=500,error_rate=0.01`` → ``{metric: SloBound}``.

    qps, output_tokens_per_s and tps are lower bounds ("at least"); the rest upper bounds.
    ``error_rate`` also accepts a percentage (``1%`` = 0.01).
    """
    if text is None or not str(text).strip():
        return {}
    bounds: dict[str, SloBound] = {}
    for raw in str(text).split(","):
        item = raw.strip()
        metric, sep, value_s = item.partition("=")
        metric, value_s = metric.strip(), value_s.strip()
        if not item or not sep or not metric or not value_s:
            raise ValueError(f"slo item '{item}': expected metric=value, e.g. ttft_p99_ms=500")
        if metric not in SLO_METRICS:
            raise ValueError(
                f"slo item '{item}': unknown metric '{metric}'; known: {', '.join(SLO_METRICS)}"
            )
        if metric in bounds:
            raise ValueError(f"slo item '{item}': metric '{metric}' given twice")
        value = _parse_number(value_s, item, "slo", allow_percent=metric == "error_rate")
        bounds[metric] = SloBound(
            metric=metric,
            op=">=" if metric in LOWER_BOUND_METRICS else "<=",
            value=value,
            per_request=metric.split("_", 1)[0] in PER_REQUEST_FAMILIES,
        )
    return bounds


def _parse_number(value_s: str, item: str, what: str, allow_percent: bool) -> float:
    """A finite non-negative number; ``N%`` → N/100 when allowed."""
    percent = allow_percent and value_s.endswith("%")
    try:
        value = float(value_s[:-1].strip() if percent else value_s)
    except ValueError:
        raise ValueError(f"{what} item '{item}': '{value_s}' is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} item '{item}': value must be a finite number ≥ 0")
    return value / 100.0 if percent else value


# ---------------------------------------------------------------------------------------------
# --max-regression
# ---------------------------------------------------------------------------------------------

REGRESSION_METRICS = ("qps", "output_tokens_per_s", "latency_p99_ms", "ttft_p99_ms")
# For these a drop is a regression; for the others a rise is.
HIGHER_IS_BETTER = frozenset({"qps", "output_tokens_per_s", "tps", "goodput_qps"})


def parse_regression(text: str) -> dict[str, float]:
    """``10%`` or ``qps=10%,latency_p99_ms=20%`` → ``{metric: allowed fraction}`` (10% → 0.10).

    Values are percentages; the ``%`` sign is optional (``10`` means 10%). A bare value applies to
    all of qps, output_tokens_per_s, latency_p99_ms and ttft_p99_ms.
    """
    if text is None or not str(text).strip():
        return {}
    items = [raw.strip() for raw in str(text).split(",")]
    if len(items) == 1 and "=" not in items[0]:
        value = _parse_percent(items[0], items[0])
        return {metric: value for metric in REGRESSION_METRICS}
    result: dict[str, float] = {}
    for item in items:
        metric, sep, value_s = item.partition("=")
        metric, value_s = metric.strip(), value_s.strip()
        if not sep or not metric or not value_s:
            raise ValueError(f"regression item '{item}': expected metric=N%, e.g. qps=10%")
        if metric not in REGRESSION_METRICS:
            raise ValueError(
                f"regression item '{item}': unknown metric '{metric}'; "
                f"known: {', '.join(REGRESSION_METRICS)}"
            )
        if metric in result:
            raise ValueError(f"regression item '{item}': metric '{metric}' given twice")
        result[metric] = _parse_percent(value_s, item)
    return result


def _parse_percent(value_s: str, item: str) -> float:
    number = value_s[:-1].strip() if value_s.endswith("%") else value_s
    return _parse_number(number, item, "regression", allow_percent=False) / 100.0
