"""CI gating (issue 7): SLO verdicts, the baseline comparison, the exit code and a JUnit file.

A pipeline wants a verdict, not a chart: did every stage keep the latency promise, and did this
build get slower than the last good one? Everything here is pure (summaries in, dicts and
strings out) except ``load_baseline`` and ``write_outputs``, so the same verdict can be computed
at the end of a run, from an output folder later, or in a test from hand-made summaries.

Exit codes: 0 all good; 1 an SLO bound or a regression bound failed; 2 the run itself failed
(bad options, unreachable server, no request succeeded, ladder stopped early while gating).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from . import grammar, summary
from .grammar import SloBound

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_RUN_ERROR",
    "DEFAULT_MAX_REGRESSION",
    "REGRESSION_FILE",
    "Baseline",
    "GateSettings",
    "Gate",
    "parse_slo_option",
    "parse_max_regression_option",
    "baseline_file",
    "load_baseline",
    "baseline_from_overall",
    "gate_settings",
    "settings_from_config",
    "with_slo_verdicts",
    "slo_checks",
    "slo_ceiling",
    "regression_report",
    "run_problem",
    "evaluate",
    "overall_fields",
    "junit_xml",
    "gate_text",
    "write_outputs",
]

EXIT_OK, EXIT_FAILED, EXIT_RUN_ERROR = 0, 1, 2
DEFAULT_MAX_REGRESSION = "10%"
REGRESSION_FILE = "regression.json"
OVERALL_FILE = "overall_summary.json"
# Config keys that change what a number means; a baseline that differs in one is flagged, not failed.
COMPARABLE_CONFIG = (
    "model", "endpoint", "stream", "max_tokens", "requests_per_stage", "stage_duration",
    "system", "user", "prompt_file", "extra_body",
)


# ---------------------------------------------------------------------------------------------
# Options: parsed and validated before any load is sent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """An earlier run's stages (flat rows, as in overall_summary.json) and where they came from."""

    source: str
    stages: tuple[dict, ...]
    generated_at: str | None = None
    config: dict = field(default_factory=dict)

    @property
    def concurrencies(self) -> list[int]:
        return [int(row["concurrency"]) for row in self.stages]


@dataclass(frozen=True)
class GateSettings:
    """The gate as the user asked for it; empty settings gate nothing (exit 0/2 only)."""

    slo: dict[str, SloBound] = field(default_factory=dict)
    baseline: Baseline | None = None
    max_regression: dict[str, float] = field(default_factory=dict)
    junit: str = ""
    slo_min_concurrency: int | None = None


def parse_slo_option(text: str | None) -> dict[str, SloBound]:
    """``--slo`` text → bounds; the error names the option and the bad item."""
    try:
        return grammar.parse_slo(text or "")
    except ValueError as exc:
        raise ValueError(f"--slo: {exc}") from None


def parse_max_regression_option(text: str | None) -> dict[str, float]:
    """``--max-regression`` text → allowed fraction per metric; 10% on all four when not given."""
    try:
        return grammar.parse_regression(text if text and str(text).strip() else DEFAULT_MAX_REGRESSION)
    except ValueError as exc:
        raise ValueError(f"--max-regression: {exc}") from None


def baseline_file(path: str | os.PathLike) -> str:
    """The overall_summary.json a ``--baseline`` value points at (a folder or the file itself)."""
    text = os.fspath(path).strip() if path is not None else ""
    if not text:
        raise ValueError("--baseline: empty path; pass an earlier output folder or its overall_summary.json")
    if os.path.isdir(text):
        candidate = os.path.join(text, OVERALL_FILE)
        if not os.path.isfile(candidate):
            raise ValueError(
                f"--baseline {text!r}: the folder has no {OVERALL_FILE}; pass an earlier llmbench "
                "output folder (one whose run finished) or its overall_summary.json"
            )
        return candidate
    if not os.path.exists(text):
        raise ValueError(f"--baseline {text!r}: no such file or folder")
    return text


def load_baseline(path: str | os.PathLike) -> Baseline:
    """Read and validate a baseline; every error starts with ``--baseline`` and names the file."""
    source = baseline_file(path)
    try:
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--baseline {source!r}: cannot read it ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"--baseline {source!r}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    return baseline_from_overall(data, source)


def baseline_from_overall(data: Any, source: str = "<baseline>") -> Baseline:
    """Validate a parsed overall_summary.json: a ``stages`` list of objects, each with a distinct
    positive integer ``concurrency`` and numeric (or null) compared metrics, at least one set."""
    where = f"--baseline {source!r}"
    if not isinstance(data, Mapping) or not isinstance(data.get("stages"), list):
        raise ValueError(
            f"{where}: not an overall_summary.json written by llmbench (expected a JSON object "
            "with a 'stages' list)"
        )
    rows: list[dict] = []
    seen: set[int] = set()
    for index, row in enumerate(data["stages"]):
        label = f"{where}: stages[{index}]"
        if not isinstance(row, Mapping):
            raise ValueError(f"{label} is not an object")
        conc = row.get("concurrency")
        if not _is_number(conc) or conc != int(conc) or conc < 1:
            raise ValueError(f"{label} has no valid 'concurrency' (got {conc!r})")
        if int(conc) in seen:
            raise ValueError(f"{label}: concurrency {int(conc)} appears twice")
        seen.add(int(conc))
        for metric in grammar.REGRESSION_METRICS:
            value = summary.metric_value(row, metric)
            if value is not None and not _is_number(value):
                raise ValueError(f"{label}: '{metric}' is not a number (got {value!r})")
        rows.append({**row, "concurrency": int(conc)})
    if not rows:
        raise ValueError(f"{where}: has no stages (the baseline run recorded nothing)")
    if all(summary.metric_value(r, m) is None for r in rows for m in grammar.REGRESSION_METRICS):
        raise ValueError(
            f"{where}: no stage has any of {', '.join(grammar.REGRESSION_METRICS)}; nothing to compare"
        )
    config = data.get("config") if isinstance(data.get("config"), Mapping) else {}
    generated = data.get("generated_at")
    return Baseline(source=source, stages=tuple(rows), generated_at=str(generated) if generated else None,
                    config=dict(config))


def gate_settings(
    slo: str | None = "",
    baseline: str | None = "",
    max_regression: str | None = "",
    junit: str | None = "",
    outdir: str | None = None,
    concurrency: Sequence[int] = (),
    slo_min_concurrency: int | None = None,
) -> GateSettings:
    """Parse and cross-check the gate options (raises ValueError naming the option and problem).

    Called before any load so a typo exits 2 at once, not after an hour of benchmarking. The
    baseline must not live in ``outdir`` (the run clears it first) and must share at least one
    concurrency with the ladder (else nothing would be compared and the gate would pass vacuously).
    """
    bounds = parse_slo_option(slo)
    base = load_baseline(baseline) if baseline and str(baseline).strip() else None
    if max_regression and str(max_regression).strip() and base is None:
        raise ValueError("--max-regression needs --baseline (there is nothing to compare with)")
    allowed = parse_max_regression_option(max_regression) if base is not None else {}
    if base is not None and outdir and _inside(base.source, outdir):
        raise ValueError(
            f"--baseline {base.source!r} is inside --outdir {outdir!r}, which this run clears before it "
            "starts; copy the baseline elsewhere first"
        )
    if base is not None and concurrency and not set(concurrency) & set(base.concurrencies):
        raise ValueError(
            f"--baseline {base.source!r} has no stage in common with --concurrency (baseline: "
            f"{_join(base.concurrencies)}; this run: {_join(concurrency)})"
        )
    if junit and os.path.isdir(str(junit)):
        raise ValueError(f"--junit {junit!r} is a folder; give a file name such as junit.xml")
    if slo_min_concurrency is not None:
        if not bounds:
            raise ValueError("--slo-min-concurrency needs --slo")
        if concurrency and slo_min_concurrency not in concurrency:
            raise ValueError(
                f"--slo-min-concurrency {slo_min_concurrency} is not a stage of --concurrency ({_join(concurrency)})"
            )
    return GateSettings(slo=bounds, baseline=base, max_regression=allowed, junit=str(junit or ""),
                        slo_min_concurrency=slo_min_concurrency)


def settings_from_config(config: Any) -> GateSettings:
    """GateSettings from a RunConfig (or any object with its gate fields), for the run itself.

    The options were validated when the config was built; this loads the baseline again, so call
    it before the run clears its output folder.
    """
    return gate_settings(
        slo=getattr(config, "slo", ""),
        baseline=getattr(config, "baseline", ""),
        max_regression=getattr(config, "max_regression", ""),
        junit=getattr(config, "junit", ""),
        slo_min_concurrency=getattr(config, "slo_min_concurrency", None) or None,
    )


# ---------------------------------------------------------------------------------------------
# SLOs
# ---------------------------------------------------------------------------------------------


def with_slo_verdicts(summaries: Sequence[Mapping[str, Any]], slo: Mapping[str, SloBound]) -> list[dict]:
    """Copies of the summaries with ``slo_met``/``slo_failed`` from these bounds (goodput, which
    needs the request rows, is kept as summary.py computed it). No bounds: plain copies."""
    if not slo:
        return [dict(s) for s in summaries]
    out = []
    for s in summaries:
        failed = summary.slo_failures(s, slo)
        out.append({**s, "slo_met": not failed, "slo_failed": failed})
    return out


def slo_checks(
    summaries: Sequence[Mapping[str, Any]],
    slo: Mapping[str, SloBound],
    slo_min_concurrency: int | None = None,
) -> list[dict]:
    """One check per (stage, bound), stages by concurrency then bounds as given.

    Stages above ``slo_min_concurrency`` are "skipped": shown (how far past the promise the
    server still holds) but not gating, since a ladder that explores beyond the promised load is
    expected to break the SLO there.
    """
    checks = []
    for s in sorted(summaries, key=lambda s: summary.metric_value(s, "concurrency") or 0):
        conc = summary.metric_value(s, "concurrency")
        informational = slo_min_concurrency is not None and conc is not None and conc > slo_min_concurrency
        for bound in slo.values():
            observed = summary.metric_value(s, bound.metric)
            held = bound.holds(observed)
            status = "skipped" if informational else ("passed" if held else "failed")
            checks.append({
                "kind": "slo",
                "stage": summary.metric_value(s, "stage"),
                "concurrency": conc,
                "metric": bound.metric,
                "op": bound.op,
                "bound": bound.value,
                "observed": observed,
                "held": held,
                "status": status,
                "duration_s": summary.metric_value(s, "duration_s"),
                "name": f"{bound} at concurrency {conc}",
                "message": _slo_message(bound, observed, conc, held, informational, slo_min_concurrency),
            })
    return checks


def _slo_message(bound: SloBound, observed: Any, conc: Any, held: bool, informational: bool,
                 limit: int | None) -> str:
    shown = "not measured" if observed is None else _num(observed)
    text = f"{bound.metric} at concurrency {conc}: {shown} (bound {bound.op} {_num(bound.value)})"
    if informational:
        return f"{text}; {'met' if held else 'missed'}, above --slo-min-concurrency {limit}, not gating"
    return text if held else f"{text}: violated"


def slo_ceiling(
    summaries: Sequence[Mapping[str, Any]],
    slo: Mapping[str, SloBound],
    slo_min_concurrency: int | None = None,
) -> dict | None:
    """summary.max_concurrency_within_slo on these bounds, plus what failed first above it (with
    observed values) and, when a minimum is required, whether it was reached. None without SLOs."""
    if not slo:
        return None
    judged = with_slo_verdicts(summaries, slo)
    ceiling = summary.max_concurrency_within_slo(judged)
    above = ceiling.get("first_failed_concurrency")
    first = next((s for s in judged if summary.metric_value(s, "concurrency") == above), None)
    ceiling["first_failed_details"] = [
        {"metric": m, "op": slo[m].op, "bound": slo[m].value, "observed": summary.metric_value(first, m)}
        for m in (ceiling.get("first_failed_above") or [])
        if m in slo
    ] if first is not None else []
    ceiling["required_concurrency"] = slo_min_concurrency
    reached = ceiling["max_concurrency"] is not None and (
        slo_min_concurrency is None or ceiling["max_concurrency"] >= slo_min_concurrency
    )
    ceiling["requirement_met"] = reached if slo_min_concurrency is not None else None
    return ceiling


# ---------------------------------------------------------------------------------------------
# Baseline
# ---------------------------------------------------------------------------------------------


def regression_report(
    summaries: Sequence[Mapping[str, Any]],
    baseline: Baseline,
    max_regression: Mapping[str, float],
    config: Mapping[str, Any] | None = None,
) -> dict:
    """The content of ``regression.json``: summary.compare_with_baseline's checks, each with a
    sentence, which metrics and stages regressed, the stages only one side ran, and the config
    keys that differ (flagged, not failed: a changed max_tokens explains a "regression")."""
    allowed = dict(max_regression) or parse_max_regression_option(None)
    result = summary.compare_with_baseline(summaries, baseline.stages, allowed)
    for check in result["checks"]:
        check["name"] = _regression_name(check)
        check["message"] = _regression_message(check)
    current = sorted({int(c) for c in (summary.metric_value(s, "concurrency") for s in summaries) if c is not None})
    compared = result["compared_concurrencies"]
    problem = None
    if not compared:
        problem = (f"no stage in common with the baseline (baseline: {_join(baseline.concurrencies)}; "
                   f"this run: {_join(current) or 'none'})")
    regressions = result["regressions"]
    return summary.to_jsonable({
        "baseline": {"source": baseline.source, "generated_at": baseline.generated_at,
                     "concurrencies": baseline.concurrencies},
        "max_regression": result["max_regression"],
        "compared_concurrencies": compared,
        "only_in_baseline": [c for c in baseline.concurrencies if c not in current],
        "only_in_run": [c for c in current if c not in baseline.concurrencies],
        "config_differences": _config_differences(baseline.config, config or {}),
        "checks": result["checks"],
        "regressions": regressions,
        "regressed_metrics": sorted({c["metric"] for c in regressions}),
        "regressed_concurrencies": sorted({c["concurrency"] for c in regressions}),
        "regressed_stages": sorted({c["stage"] for c in regressions if c.get("stage") is not None}),
        "problem": problem,
        "passed": result["passed"] and problem is None,
    })


def _regression_name(check: Mapping[str, Any]) -> str:
    return f"{check['metric']} at concurrency {check['concurrency']} within {_pct(check['allowed'])} of baseline"


def _regression_message(check: Mapping[str, Any]) -> str:
    metric, conc = check["metric"], check["concurrency"]
    base, cur = check["baseline"], check["current"]
    if check["status"] == "not_judged":
        return f"{metric} at concurrency {conc}: baseline has no usable value ({_num(base)}); not judged"
    if cur is None:
        return f"{metric} at concurrency {conc}: not measured in this run (baseline {_num(base)})"
    worse = check["worse_by"]
    direction = "unchanged" if worse == 0 else (f"{_pct(worse)} worse" if worse > 0 else f"{_pct(-worse)} better")
    text = f"{metric} at concurrency {conc}: {_num(cur)} vs baseline {_num(base)} ({direction}, allowed {_pct(check['allowed'])})"
    return text + (": regressed" if check["regressed"] else "")


def _config_differences(base: Mapping[str, Any], current: Mapping[str, Any]) -> dict:
    if not base or not current:
        return {}
    return {
        key: {"baseline": base.get(key), "current": current.get(key)}
        for key in COMPARABLE_CONFIG
        if key in base and key in current and base.get(key) != current.get(key)
    }


# ---------------------------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """The verdict of one run: what was checked, what failed, and the process exit code."""

    exit_code: int
    verdict: str  # "pass", "fail" or "error"
    reasons: tuple[str, ...]
    problem: str | None
    slo_checks: tuple[dict, ...]
    ceiling: dict | None
    regression: dict | None
    settings: dict = field(default_factory=dict)
    duration_s: float = 0.0


def run_problem(
    summaries: Sequence[Mapping[str, Any]],
    completed: bool = True,
    run_error: str | None = None,
    gating: bool = False,
) -> str | None:
    """Why the run itself cannot be trusted (exit 2), or None.

    An incomplete ladder only counts when gating: without SLOs a stopped run still has useful
    files, but a gate that never saw the higher stages must not turn green.
    """
    if run_error:
        return run_error
    if not summaries:
        return "no stage ran"
    if not sum(summary.metric_value(s, "successes") or 0 for s in summaries):
        return "no request succeeded"
    if gating and not completed:
        return "the run stopped before the ladder finished, so the gate cannot judge it"
    return None


def evaluate(
    summaries: Sequence[Mapping[str, Any]],
    slo: Mapping[str, SloBound] | None = None,
    baseline: Baseline | None = None,
    max_regression: Mapping[str, float] | None = None,
    *,
    slo_min_concurrency: int | None = None,
    completed: bool = True,
    run_error: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Gate:
    """The gate over stage summaries (nested or flat rows). Exit 2 beats 1 beats 0: when the run
    failed, its SLO numbers mean nothing, but they are still listed for the post-mortem."""
    slo = dict(slo or {})
    judged = with_slo_verdicts(summaries, slo)
    checks = slo_checks(judged, slo, slo_min_concurrency)
    ceiling = slo_ceiling(judged, slo, slo_min_concurrency)
    regression = regression_report(judged, baseline, max_regression or {}, config) if baseline else None
    problem = run_problem(summaries, completed, run_error, gating=bool(slo or baseline))

    reasons = [c["message"] for c in checks if c["status"] == "failed"]
    if ceiling is not None and ceiling["requirement_met"] is False:
        reasons.append(_ceiling_message(ceiling))
    if regression is not None:
        reasons += [c["message"] for c in regression["regressions"]]
        if regression["problem"]:
            reasons.append(f"baseline: {regression['problem']}")
    if problem:
        exit_code, verdict = EXIT_RUN_ERROR, "error"
        reasons.insert(0, f"run failed: {problem}")
    else:
        exit_code, verdict = (EXIT_FAILED, "fail") if reasons else (EXIT_OK, "pass")
    settings = {
        "slo": {m: {"op": b.op, "value": b.value} for m, b in slo.items()},
        "slo_min_concurrency": slo_min_concurrency,
        "baseline": baseline.source if baseline else None,
        "max_regression": regression["max_regression"] if regression else None,
    }
    duration = sum(summary.metric_value(s, "duration_s") or 0.0 for s in summaries)
    return Gate(exit_code=exit_code, verdict=verdict, reasons=tuple(reasons), problem=problem,
                slo_checks=tuple(checks), ceiling=ceiling, regression=regression, settings=settings,
                duration_s=float(duration))


def _ceiling_message(ceiling: Mapping[str, Any]) -> str:
    got = ceiling["max_concurrency"]
    text = (f"max_concurrency_within_slo is {got if got is not None else 'none (the first stage missed it)'}, "
            f"required {ceiling['required_concurrency']}")
    failed = ceiling.get("first_failed_details") or []
    if failed and ceiling.get("first_failed_concurrency") is not None:
        parts = ", ".join(f"{d['metric']} {_num(d['observed']) if d['observed'] is not None else 'not measured'} "
                          f"(bound {d['op']} {_num(d['bound'])})" for d in failed)
        text += f"; at concurrency {ceiling['first_failed_concurrency']}: {parts}"
    return text


def overall_fields(gate: Gate) -> dict:
    """Keys to merge into overall_summary.json so the report and later tools read one verdict."""
    fields: dict[str, Any] = {
        "gate": {
            "verdict": gate.verdict,
            "exit_code": gate.exit_code,
            "reasons": list(gate.reasons),
            "settings": gate.settings,
            "slo_checks_failed": sum(c["status"] == "failed" for c in gate.slo_checks),
            "slo_checks": len(gate.slo_checks),
        }
    }
    if gate.ceiling is not None:
        fields["slo"] = gate.ceiling
        fields["max_concurrency_within_slo"] = gate.ceiling["max_concurrency"]
    if gate.regression is not None:
        reg = gate.regression
        fields["baseline"] = {
            "source": reg["baseline"]["source"],
            "file": REGRESSION_FILE,
            "passed": reg["passed"],
            "regressed_metrics": reg["regressed_metrics"],
            "regressed_concurrencies": reg["regressed_concurrencies"],
            "problem": reg["problem"],
        }
    return summary.to_jsonable(fields)


# ---------------------------------------------------------------------------------------------
# JUnit XML and the terminal
# ---------------------------------------------------------------------------------------------

# XML 1.0 forbids most control characters; a server's error text may carry them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def junit_xml(gate: Gate, timestamp: str | None = None, hostname: str = "") -> str:
    """The gate as JUnit XML (well-formed, built with ElementTree).

    Layout: ``<testsuites name="llmbench">`` with three suites: ``llmbench.run`` (one case,
    an ``<error>`` when the run failed), ``llmbench.slo`` (one case per stage × bound, named
    "ttft_p99_ms <= 500 at concurrency 8"; stages above --slo-min-concurrency are ``<skipped>``)
    and ``llmbench.regression`` (one case per stage × compared metric). Failures carry the
    observed value in ``message`` so a CI summary reads without opening any file.
    """
    stamp = timestamp or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    root = ET.Element("testsuites", name="llmbench")
    suites = [
        _run_suite(gate),
        _slo_suite(gate),
        _regression_suite(gate),
    ]
    for name, cases, properties in suites:
        suite = ET.SubElement(root, "testsuite", name=name, timestamp=stamp)
        if hostname:
            suite.set("hostname", _clean(hostname))
        if properties:
            props = ET.SubElement(suite, "properties")
            for key, value in properties:
                ET.SubElement(props, "property", name=_clean(key), value=_clean(value))
        for case in cases:
            suite.append(case)
        _count(suite, cases)
    _count(root, [c for s in root for c in s.findall("testcase")])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case(classname: str, name: str, time_s: Any, outcome: str = "passed", message: str = "",
          kind: str = "", detail: str = "") -> ET.Element:
    case = ET.Element("testcase", classname=classname, name=_clean(name), time=f"{float(time_s or 0.0):.3f}")
    if outcome in ("failure", "error"):
        child = ET.SubElement(case, outcome, message=_clean(message), type=kind)
        child.text = _clean(detail or message)
    elif outcome == "skipped":
        ET.SubElement(case, "skipped", message=_clean(message))
    return case


def _run_suite(gate: Gate) -> tuple[str, list[ET.Element], list[tuple[str, str]]]:
    if gate.problem:
        case = _case("llmbench.run", "run completed with successful requests", gate.duration_s,
                     "error", gate.problem, "RunFailed")
    else:
        case = _case("llmbench.run", "run completed with successful requests", gate.duration_s)
    props = [("verdict", gate.verdict), ("exit_code", str(gate.exit_code))]
    return "llmbench.run", [case], props


def _slo_suite(gate: Gate) -> tuple[str, list[ET.Element], list[tuple[str, str]]]:
    cases = []
    for check in gate.slo_checks:
        outcome = {"failed": "failure", "skipped": "skipped"}.get(check["status"], "passed")
        cases.append(_case("llmbench.slo", check["name"], 0.0, outcome,
                           check["message"], "SloViolation"))
    ceiling = gate.ceiling
    if ceiling is not None and ceiling.get("required_concurrency") is not None:
        name = f"max_concurrency_within_slo >= {ceiling['required_concurrency']}"
        if ceiling["requirement_met"]:
            cases.append(_case("llmbench.slo", name, 0.0))
        else:
            cases.append(_case("llmbench.slo", name, 0.0, "failure", _ceiling_message(ceiling), "SloViolation"))
    props = [(f"slo.{m}", f"{b['op']} {_num(b['value'])}") for m, b in gate.settings.get("slo", {}).items()]
    if ceiling is not None:
        props.append(("max_concurrency_within_slo", str(ceiling["max_concurrency"])))
    return "llmbench.slo", cases, props


def _regression_suite(gate: Gate) -> tuple[str, list[ET.Element], list[tuple[str, str]]]:
    reg = gate.regression
    if reg is None:
        return "llmbench.regression", [], []
    cases = []
    if reg["problem"]:
        cases.append(_case("llmbench.regression", "baseline has stages in common with this run", 0.0,
                           "failure", reg["problem"], "NoComparableStage"))
    for check in reg["checks"]:
        outcome = {"regressed": "failure", "not_judged": "skipped"}.get(check["status"], "passed")
        cases.append(_case("llmbench.regression", check["name"], 0.0, outcome, check["message"], "Regression"))
    props = [("baseline", reg["baseline"]["source"])]
    props += [(f"max_regression.{m}", _pct(v)) for m, v in reg["max_regression"].items()]
    return "llmbench.regression", cases, props


def _count(element: ET.Element, cases: Iterable[ET.Element]) -> None:
    cases = list(cases)
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    element.set("errors", str(sum(c.find("error") is not None for c in cases)))
    element.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    element.set("time", f"{sum(float(c.get('time', 0)) for c in cases):.3f}")


def gate_text(gate: Gate) -> str:
    """The verdict block printed at the end of a run (stdout of the CI job)."""
    lines = [f"llmbench gate: {gate.verdict.upper()} (exit code {gate.exit_code})"]
    if gate.ceiling is not None:
        c = gate.ceiling
        line = f"  max concurrency within SLO: {c['max_concurrency'] if c['max_concurrency'] is not None else 'none'}"
        if c["max_concurrency"] is not None:
            line += f" (qps {_num(c['qps'])}, output tokens/s {_num(c['output_tokens_per_s'])})"
        if c.get("first_failed_concurrency") is not None:
            line += f"; first missed at concurrency {c['first_failed_concurrency']}: {', '.join(c['first_failed_above'])}"
        lines.append(line)
    if gate.regression is not None:
        reg = gate.regression
        lines.append(f"  baseline {reg['baseline']['source']}: "
                     + ("no regression" if reg["passed"] else "regressed") + f" (details in {REGRESSION_FILE})")
        for key, diff in reg["config_differences"].items():
            lines.append(f"  note: {key} differs from the baseline ({diff['baseline']!r} → {diff['current']!r})")
    lines += [f"  - {reason}" for reason in gate.reasons]
    return "\n".join(lines)


def write_outputs(outdir: str, gate: Gate, junit_path: str | None = None) -> list[str]:
    """Write ``regression.json`` (when a baseline was given) and the JUnit file (when asked);
    return the paths written. Each file is written whole then renamed, so CI never reads half."""
    written = []
    if gate.regression is not None:
        path = os.path.join(outdir, REGRESSION_FILE)
        _write_text(path, json.dumps(gate.regression, indent=2, allow_nan=False) + "\n")
        written.append(path)
    if junit_path:
        _write_text(junit_path, junit_xml(gate, hostname=_hostname()))
        written.append(junit_path)
    return written


def _write_text(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies beneath it (after resolving links)."""
    real_path, real_folder = os.path.realpath(path), os.path.realpath(folder)
    return real_path == real_folder or real_path.startswith(real_folder.rstrip(os.sep) + os.sep)


def _join(values: Iterable[Any]) -> str:
    return ",".join(str(v) for v in values)


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 10000 else f"{value:.0f}"
    return str(value)


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _clean(text: Any) -> str:
    return _XML_ILLEGAL.sub("\ufffd", str(text))


def _hostname() -> str:
    try:
        return os.uname().nodename
    except AttributeError:  # Windows
        return os.environ.get("COMPUTERNAME", "")
