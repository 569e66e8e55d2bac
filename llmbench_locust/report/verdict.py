"""The CI gate as the report reads it: SLO bounds, the ceiling, the exit code and the baseline checks.

Nothing is judged here: the run decided once (``gating.evaluate``) and wrote its verdict into
``overall_summary.json`` (``gate``, ``slo``, ``max_concurrency_within_slo``, ``baseline``) and
``regression.json``; the report only shows those numbers, so it can never disagree with the
exit code a pipeline saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

EXIT_MEANING = {
    0: "all good: every SLO bound held and no compared metric regressed beyond its allowance",
    1: "the run worked, but an SLO bound or a regression bound failed",
    2: "the run itself failed, so its numbers are not a verdict on the server",
}
UPPER, LOWER = "<=", ">="
REGRESSION_COLUMNS = ("stage", "concurrency", "metric", "baseline", "current", "change", "allowed", "status")


@dataclass(frozen=True)
class Bound:
    """One SLO bound as recorded by the run (``op`` is '<=' or '>=')."""

    metric: str
    op: str
    value: float

    @property
    def text(self) -> str:
        """'ttft_p99_ms ≤ 200 ms': the bound as a reader says it, with its unit."""
        return f"{self.metric} {'≤' if self.op == UPPER else '≥'} {value_text(self.metric, self.value)}"


@dataclass(frozen=True)
class GateView:
    """What the verdict box, the charts and the regression table need from the gating files."""

    verdict: str | None                 # 'pass', 'fail', 'error'; None when no gate was recorded
    exit_code: int | None
    reasons: tuple[str, ...] = ()
    bounds: tuple[Bound, ...] = ()
    ceiling: dict | None = None         # overall_summary.json → slo (when SLOs were given)
    baseline: dict | None = None        # overall_summary.json → baseline (the short form)
    regression: dict | None = None      # regression.json
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def max_concurrency(self) -> int | None:
        return (self.ceiling or {}).get("max_concurrency")


def value_text(metric: str, value) -> str:
    """A bound or observed value with its unit (error rates as percentages)."""
    if value is None:
        return "not measured"
    value = float(value)
    if metric == "error_rate":
        return f"{value * 100:.3g}%"
    unit = " ms" if metric.endswith("_ms") else (" req/s" if metric == "qps" else " tokens/s")
    return f"{value:,.4g}{unit}" if abs(value) < 10000 else f"{value:,.0f}{unit}"


def bounds(overall: dict | None) -> tuple[Bound, ...]:
    """The run's SLO bounds: from the gate's settings, else parsed from the recorded --slo text."""
    settings = ((overall or {}).get("gate") or {}).get("settings") or {}
    recorded = settings.get("slo")
    if isinstance(recorded, dict) and recorded:
        return tuple(Bound(m, b.get("op", UPPER), float(b["value"])) for m, b in recorded.items()
                     if isinstance(b, dict) and _is_number(b.get("value")))
    text = ((overall or {}).get("config") or {}).get("slo")
    if not text or not isinstance(text, str):
        return ()
    from llmbench_locust.grammar import parse_slo

    try:
        return tuple(Bound(b.metric, b.op, float(b.value)) for b in parse_slo(text).values())
    except ValueError:
        return ()


def gate_view(overall: dict | None, regression: dict | None) -> GateView | None:
    """The gate of a run, or None when it was given neither SLOs nor a baseline (no verdict box)."""
    overall = overall or {}
    gate = overall.get("gate") if isinstance(overall.get("gate"), dict) else {}
    ceiling = overall.get("slo") if isinstance(overall.get("slo"), dict) else None
    if ceiling is not None and not ceiling.get("slo_given"):
        ceiling = None
    baseline = overall.get("baseline") if isinstance(overall.get("baseline"), dict) else None
    slo_bounds = bounds(overall)
    settings = gate.get("settings") if isinstance(gate.get("settings"), dict) else {}
    # Every run records its gate; a run given neither SLOs nor a baseline has nothing to judge.
    gated = bool(settings.get("slo")) or bool(settings.get("baseline"))
    if not gated and ceiling is None and baseline is None and regression is None and not slo_bounds:
        return None
    notes = []
    if baseline is not None and regression is None:
        notes.append(f"{baseline.get('file') or 'regression.json'} is missing: the baseline verdict is shown "
                     "without its per-stage checks.")
    exit_code = gate.get("exit_code")
    return GateView(
        verdict=gate.get("verdict"),
        exit_code=int(exit_code) if _is_number(exit_code) else None,
        reasons=tuple(str(r) for r in gate.get("reasons") or ()),
        bounds=slo_bounds,
        ceiling=ceiling,
        baseline=baseline,
        regression=regression,
        notes=tuple(notes),
    )


def regression_frame(regression: dict | None) -> pd.DataFrame:
    """regression.json's checks in file order, one row per stage × metric."""
    checks = (regression or {}).get("checks") or []
    return pd.DataFrame([{c: check.get(c) for c in REGRESSION_COLUMNS} for check in checks
                         if isinstance(check, dict)], columns=list(REGRESSION_COLUMNS))


def regressions_by_metric(regression: dict | None) -> dict[str, list[dict]]:
    """The regressed checks grouped by metric, metrics in the order they first regressed."""
    grouped: dict[str, list[dict]] = {}
    for check in (regression or {}).get("checks") or []:
        if isinstance(check, dict) and check.get("status") == "regressed":
            grouped.setdefault(str(check.get("metric")), []).append(check)
    return grouped


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
