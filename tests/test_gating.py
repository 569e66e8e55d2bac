"""CI gating on hand-made runs: SLO verdicts and goodput, the SLO ceiling, baseline regression,
exit codes, option errors, and the JUnit file (issue 7)."""

import json
import math
import os
import xml.etree.ElementTree as ET

import pytest

from llmbench_locust import gating
from llmbench_locust.grammar import parse_slo
from llmbench_locust.summary import overall_summary, requests_frame, summarize_stage, summarize_stages

T0 = 1_700_000_000.0
SLOTS = 4


def stage_records(stage, conc, latency_ms, ttft_ms, per_user=4, tokens=50, fail=0):
    """A closed-loop stage: ``conc`` users, each sending ``per_user`` requests back to back with
    the given timings; the first ``fail`` requests fail (HTTP 500)."""
    rows = []
    for user in range(conc):
        for k in range(per_user):
            start = T0 + stage * 1000 + k * latency_ms / 1000.0
            i = len(rows)
            ok = i >= fail
            rows.append({
                "request_id": f"{stage}-{i}", "stage": stage, "concurrency": conc, "worker": "local",
                "start_epoch": start, "end_epoch": start + latency_ms / 1000.0,
                "latency_ms": latency_ms, "ttft_ms": ttft_ms if ok else None,
                "itl_ms": (latency_ms - ttft_ms) / (tokens - 1) if ok else None,
                "generation_ms": latency_ms - ttft_ms if ok else None,
                "prompt_tokens": 20 if ok else None, "completion_tokens": tokens if ok else None,
                "tokens_source": "usage" if ok else "", "http_status": 200 if ok else 500, "ok": ok,
                "error_type": "" if ok else "http_5xx", "error": "" if ok else "boom",
            })
    return rows


def slot_latency(conc, base_ms=100.0):
    """A server with SLOTS slots: beyond them requests queue, so latency grows in whole waves."""
    return base_ms * math.ceil(conc / SLOTS)


def ladder(concurrencies=(1, 2, 4, 8, 16), slow=1.0, ttft_ms=50.0):
    rows = []
    for stage, conc in enumerate(concurrencies, start=1):
        rows += stage_records(stage, conc, slot_latency(conc) * slow, ttft_ms * slow)
    return requests_frame(rows)


def summaries_of(frame, slo=None):
    return summarize_stages(frame, slo=slo)


def write_run(folder, summaries, config=None):
    """An output folder as a finished run leaves it (only what a baseline needs)."""
    os.makedirs(folder, exist_ok=True)
    overall = overall_summary(summaries, config or {"model": "m", "stream": True})
    with open(os.path.join(folder, "overall_summary.json"), "w", encoding="utf-8") as fh:
        json.dump(overall, fh)
    return overall


# --- SLOs and goodput ------------------------------------------------------------------------------


@pytest.mark.parametrize("bound, ratio, exit_code", [(50.5, 1.0, 0), (49.5, 0.0, 1)])
def test_slo_just_above_and_below_true_ttft(bound, ratio, exit_code):
    slo = parse_slo(f"ttft_p99_ms={bound}")
    s = summarize_stage(requests_frame(stage_records(1, 4, 100.0, 50.0)), slo=slo)
    assert s["goodput_ratio"] == ratio
    assert s["slo_met"] is (ratio == 1.0)
    gate = gating.evaluate([s], slo)
    assert gate.exit_code == exit_code
    assert gate.verdict == ("pass" if exit_code == 0 else "fail")
    if exit_code:
        assert gate.reasons == ("ttft_p99_ms at concurrency 4: 50 (bound <= 49.5): violated",)


def test_gate_recomputes_verdicts_from_its_own_bounds():
    # Summaries written without --slo still gate: the stage verdict needs only stage numbers.
    plain = summaries_of(ladder())
    gate = gating.evaluate(plain, parse_slo("latency_p99_ms=150"))
    assert gate.ceiling["max_concurrency"] == 4
    assert gate.exit_code == 1


def definition_ceiling(summaries, bounds):
    """The issue's definition, written independently: walk stages by concurrency; stop at the first
    that misses any bound."""
    best = None
    for s in sorted(summaries, key=lambda s: s["concurrency"]):
        if not all(b.holds(s[f"{b.family}_ms"]["p99"] if b.per_request else s[b.metric]) for b in bounds.values()):
            break
        best = s["concurrency"]
    return best


@pytest.mark.parametrize("bound_ms, expected", [(150, 4), (250, 8), (50, None), (10_000, 16)])
def test_max_concurrency_within_slo_matches_definition(bound_ms, expected):
    slo = parse_slo(f"latency_p99_ms={bound_ms},error_rate=0")
    summaries = summaries_of(ladder(), slo)
    assert definition_ceiling(summaries, slo) == expected
    gate = gating.evaluate(summaries, slo)
    fields = gating.overall_fields(gate)
    assert fields["max_concurrency_within_slo"] == expected
    if expected == 16:
        assert gate.exit_code == 0 and fields["slo"]["first_failed_above"] is None
    else:
        above = 1 if expected is None else expected * 2
        assert fields["slo"]["first_failed_concurrency"] == above
        assert fields["slo"]["first_failed_above"] == ["latency_p99_ms"]
        detail = fields["slo"]["first_failed_details"][0]
        assert detail["observed"] == slot_latency(above) and detail["bound"] == bound_ms
    if expected is not None:
        at = next(s for s in summaries if s["concurrency"] == expected)
        assert fields["slo"]["qps"] == at["qps"]
        assert fields["slo"]["output_tokens_per_s"] == at["output_tokens_per_s"]


def test_a_passing_stage_above_a_failing_one_does_not_raise_the_ceiling():
    rows = (stage_records(1, 1, 100, 10) + stage_records(2, 2, 900, 10) + stage_records(3, 4, 100, 10))
    slo = parse_slo("latency_p99_ms=500")
    gate = gating.evaluate(summaries_of(requests_frame(rows), slo), slo)
    assert gate.ceiling["max_concurrency"] == 1 and gate.ceiling["first_failed_concurrency"] == 2


def test_slo_min_concurrency_gates_only_up_to_the_promise():
    slo = parse_slo("latency_p99_ms=150")
    summaries = summaries_of(ladder(), slo)
    kept = gating.evaluate(summaries, slo, slo_min_concurrency=4)
    assert kept.exit_code == 0
    statuses = {(c["concurrency"], c["status"]) for c in kept.slo_checks}
    assert statuses == {(1, "passed"), (2, "passed"), (4, "passed"), (8, "skipped"), (16, "skipped")}
    missed = gating.evaluate(summaries, slo, slo_min_concurrency=8)
    assert missed.exit_code == 1
    assert any("max_concurrency_within_slo is 4, required 8" in r for r in missed.reasons)
    suite = ET.fromstring(gating.junit_xml(kept)).find("testsuite[@name='llmbench.slo']")
    assert suite.get("skipped") == "2" and suite.get("failures") == "0"
    assert suite.find("testcase[@name='max_concurrency_within_slo >= 4']") is not None


def test_unmeasured_slo_metric_fails_the_gate():
    # ttft bound on a non-streaming run: the promise cannot be shown to hold.
    rows = stage_records(1, 2, 100, 10)
    for r in rows:
        r["ttft_ms"] = None
    slo = parse_slo("ttft_p99_ms=500")
    gate = gating.evaluate([summarize_stage(requests_frame(rows), slo=slo)], slo)
    assert gate.exit_code == 1 and "not measured" in gate.reasons[0]


# --- baseline regression ---------------------------------------------------------------------------


def test_thirty_percent_slower_exits_1_and_names_metrics_and_stages(tmp_path):
    write_run(tmp_path / "base", summaries_of(ladder()))
    baseline = gating.load_baseline(str(tmp_path / "base"))
    slower = summaries_of(ladder(slow=1.3))
    gate = gating.evaluate(slower, baseline=baseline, max_regression=gating.parse_max_regression_option("10%"))
    assert gate.exit_code == 1 and gate.verdict == "fail"
    reg = gate.regression
    assert reg["passed"] is False
    assert reg["regressed_metrics"] == ["latency_p99_ms", "output_tokens_per_s", "qps", "ttft_p99_ms"]
    assert reg["regressed_concurrencies"] == [1, 2, 4, 8, 16]
    assert reg["regressed_stages"] == [1, 2, 3, 4, 5]
    latency = next(c for c in reg["regressions"] if c["metric"] == "latency_p99_ms" and c["concurrency"] == 8)
    assert latency["worse_by"] == pytest.approx(0.3)
    assert latency["message"] == ("latency_p99_ms at concurrency 8: 260 vs baseline 200 "
                                  "(30% worse, allowed 10%): regressed")
    qps = next(c for c in reg["regressions"] if c["metric"] == "qps" and c["concurrency"] == 1)
    assert qps["worse_by"] == pytest.approx(1 - 1 / 1.3, rel=1e-4)  # epoch-float durations
    written = gating.write_outputs(str(tmp_path / "run"), gate)
    on_disk = json.loads((tmp_path / "run" / "regression.json").read_text())
    assert written == [str(tmp_path / "run" / "regression.json")]
    assert on_disk["regressed_metrics"] == reg["regressed_metrics"]
    assert on_disk["baseline"]["source"] == str(tmp_path / "base" / "overall_summary.json")


def test_same_speed_exits_0(tmp_path):
    write_run(tmp_path / "base", summaries_of(ladder()))
    gate = gating.evaluate(summaries_of(ladder()), baseline=gating.load_baseline(str(tmp_path / "base")),
                           max_regression=gating.parse_max_regression_option(None))
    assert gate.exit_code == 0 and gate.reasons == ()
    assert gate.regression["passed"] is True and gate.regression["regressions"] == []
    assert {c["status"] for c in gate.regression["checks"]} == {"passed"}
    assert gate.regression["checks"][0]["message"].endswith("(unchanged, allowed 10%)")


def test_exactly_at_the_allowance_passes_and_per_metric_limits_apply():
    base = gating.baseline_from_overall({"stages": [{"concurrency": 2, "qps": 10.0, "latency_p99_ms": 100.0}]})
    cur = [{"concurrency": 2, "successes": 5, "qps": 9.0, "latency_ms": {"p99": 110.0}}]
    at_limit = gating.evaluate(cur, baseline=base, max_regression=gating.parse_max_regression_option("10%"))
    assert at_limit.exit_code == 0
    strict = gating.evaluate(cur, baseline=base,
                             max_regression=gating.parse_max_regression_option("qps=5%,latency_p99_ms=20%"))
    assert strict.regression["regressed_metrics"] == ["qps"]


def test_improvement_is_never_a_regression():
    base = gating.baseline_from_overall({"stages": [{"concurrency": 1, "qps": 10.0, "latency_p99_ms": 100.0}]})
    cur = [{"concurrency": 1, "successes": 5, "qps": 20.0, "latency_ms": {"p99": 50.0}}]
    gate = gating.evaluate(cur, baseline=base, max_regression={"qps": 0.0, "latency_p99_ms": 0.0})
    messages = [c["message"] for c in gate.regression["checks"]]
    assert gate.exit_code == 0
    assert messages == ["qps at concurrency 1: 20 vs baseline 10 (100% better, allowed 0%)",
                        "latency_p99_ms at concurrency 1: 50 vs baseline 100 (50% better, allowed 0%)"]


def test_vanished_metric_regresses_and_missing_baseline_value_is_not_judged():
    base = gating.baseline_from_overall(
        {"stages": [{"concurrency": 1, "qps": 10.0, "ttft_p99_ms": 40.0, "latency_p99_ms": None}]})
    cur = [{"concurrency": 1, "successes": 5, "qps": 10.0, "latency_ms": {"p99": 90.0}, "ttft_ms": {"p99": None}}]
    gate = gating.evaluate(cur, baseline=base, max_regression=gating.parse_max_regression_option(None))
    status = {c["metric"]: c["status"] for c in gate.regression["checks"]}
    assert status == {"qps": "passed", "output_tokens_per_s": "not_judged", "latency_p99_ms": "not_judged",
                      "ttft_p99_ms": "regressed"}
    assert gate.exit_code == 1 and "not measured in this run" in gate.reasons[0]


def test_regression_report_lists_unmatched_stages_and_config_differences():
    base = gating.Baseline(source="b", stages=({"concurrency": 1, "qps": 1.0}, {"concurrency": 32, "qps": 1.0}),
                           config={"model": "m", "max_tokens": 64, "stream": True})
    report = gating.regression_report([{"concurrency": 1, "qps": 1.0}, {"concurrency": 2, "qps": 1.0}], base,
                                      {"qps": 0.1}, config={"model": "m", "max_tokens": 128, "stream": True})
    assert report["only_in_baseline"] == [32] and report["only_in_run"] == [2]
    assert report["config_differences"] == {"max_tokens": {"baseline": 64, "current": 128}}
    assert report["passed"] is True


def test_no_common_stage_at_gate_time_fails():
    base = gating.Baseline(source="b", stages=({"concurrency": 64, "qps": 1.0},))
    gate = gating.evaluate([{"concurrency": 1, "successes": 3, "qps": 1.0}], baseline=base,
                           max_regression={"qps": 0.1})
    assert gate.exit_code == 1 and gate.regression["problem"].startswith("no stage in common")


# --- the run itself: exit 2 ------------------------------------------------------------------------


def test_all_requests_failed_is_exit_2_even_with_slo_failures():
    rows = stage_records(1, 2, 100, 10, fail=8)
    slo = parse_slo("latency_p99_ms=10")
    gate = gating.evaluate([summarize_stage(requests_frame(rows), slo=slo)], slo)
    assert gate.exit_code == 2 and gate.verdict == "error"
    assert gate.reasons[0] == "run failed: no request succeeded"
    root = ET.fromstring(gating.junit_xml(gate))
    error = root.find("testsuite[@name='llmbench.run']/testcase/error")
    assert error is not None and error.get("message") == "no request succeeded"
    assert root.get("errors") == "1"


def test_run_error_and_incomplete_ladder():
    summaries = summaries_of(ladder((1, 2)))
    assert gating.evaluate(summaries, run_error="server unreachable").exit_code == 2
    assert gating.evaluate([]).exit_code == 2
    # Stopped early: harmless without a gate, exit 2 with one (it never saw the higher stages).
    assert gating.evaluate(summaries, completed=False).exit_code == 0
    assert gating.evaluate(summaries, parse_slo("error_rate=1%"), completed=False).exit_code == 2
    assert gating.evaluate(summaries).exit_code == 0


# --- options: malformed input is a clear ValueError --------------------------------------------------


@pytest.mark.parametrize("text, needle", [
    ("ttft_p99=500", "unknown metric 'ttft_p99'"),
    ("ttft_p99_ms", "slo item 'ttft_p99_ms': expected metric=value"),
    ("ttft_p99_ms=fast", "'fast' is not a number"),
    ("latency_p99_ms=1,latency_p99_ms=2", "given twice"),
    ("qps=10,,", "slo item ''"),
])
def test_malformed_slo(text, needle):
    with pytest.raises(ValueError) as err:
        gating.gate_settings(slo=text)
    assert str(err.value).startswith("--slo: ") and needle in str(err.value)


def test_malformed_max_regression(tmp_path):
    write_run(tmp_path / "base", summaries_of(ladder((1,))))
    with pytest.raises(ValueError, match=r"--max-regression: regression item 'p50=5%': unknown metric"):
        gating.gate_settings(baseline=str(tmp_path / "base"), max_regression="p50=5%")
    with pytest.raises(ValueError, match="--max-regression needs --baseline"):
        gating.gate_settings(max_regression="10%")


def bad_baseline(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
    ([1, 2], "not an overall_summary.json written by llmbench"),
    ({"concurrency": 4, "qps": 3}, "expected a JSON object with a 'stages' list"),
    ({"stages": []}, "has no stages"),
    ({"stages": ["x"]}, "stages[0] is not an object"),
    ({"stages": [{"qps": 1}]}, "stages[0] has no valid 'concurrency' (got None)"),
    ({"stages": [{"concurrency": 2.5, "qps": 1}]}, "has no valid 'concurrency' (got 2.5)"),
    ({"stages": [{"concurrency": True, "qps": 1}]}, "has no valid 'concurrency' (got True)"),
    ({"stages": [{"concurrency": 1, "qps": 1}, {"concurrency": 1, "qps": 2}]}, "concurrency 1 appears twice"),
    ({"stages": [{"concurrency": 1, "qps": "fast"}]}, "'qps' is not a number (got 'fast')"),
    ({"stages": [{"concurrency": 1, "requests": 5}]}, "no stage has any of qps"),
])
def test_malformed_baseline_file(tmp_path, content, needle):
    path = bad_baseline(tmp_path, content)
    with pytest.raises(ValueError) as err:
        gating.gate_settings(baseline=path)
    assert str(err.value).startswith(f"--baseline {path!r}") and needle in str(err.value)


def test_baseline_paths(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder"):
        gating.load_baseline(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="the folder has no overall_summary.json"):
        gating.load_baseline(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="empty path"):
        gating.load_baseline("  ")
    write_run(tmp_path / "base", summaries_of(ladder((1, 2))))
    by_folder = gating.load_baseline(str(tmp_path / "base"))
    by_file = gating.load_baseline(str(tmp_path / "base" / "overall_summary.json"))
    assert by_folder == by_file and by_folder.concurrencies == [1, 2]


def test_gate_settings_cross_checks(tmp_path):
    write_run(tmp_path / "out", summaries_of(ladder((1, 2))))
    base = str(tmp_path / "out")
    with pytest.raises(ValueError, match="inside --outdir .* which this run clears"):
        gating.gate_settings(baseline=base, outdir=str(tmp_path / "out"))
    with pytest.raises(ValueError, match=r"no stage in common with --concurrency \(baseline: 1,2; this run: 8,16\)"):
        gating.gate_settings(baseline=base, outdir=str(tmp_path / "new"), concurrency=(8, 16))
    with pytest.raises(ValueError, match="--junit .* is a folder"):
        gating.gate_settings(junit=str(tmp_path))
    with pytest.raises(ValueError, match="--slo-min-concurrency needs --slo"):
        gating.gate_settings(slo_min_concurrency=4)
    with pytest.raises(ValueError, match=r"--slo-min-concurrency 3 is not a stage of --concurrency \(1,2,4\)"):
        gating.gate_settings(slo="error_rate=0", concurrency=(1, 2, 4), slo_min_concurrency=3)
    ok = gating.gate_settings(slo="ttft_p99_ms=500", baseline=base, outdir=str(tmp_path / "new"),
                              concurrency=(1, 2, 4), junit=str(tmp_path / "j.xml"))
    assert set(ok.slo) == {"ttft_p99_ms"} and ok.max_regression["qps"] == pytest.approx(0.10)
    assert gating.gate_settings() == gating.GateSettings()


# --- JUnit ------------------------------------------------------------------------------------------


def test_junit_structure_and_failures_match_regression_json(tmp_path):
    write_run(tmp_path / "base", summaries_of(ladder()))
    slo = parse_slo("latency_p99_ms=250,error_rate=1%")
    gate = gating.evaluate(summaries_of(ladder(slow=1.3), slo), slo, gating.load_baseline(str(tmp_path / "base")),
                           gating.parse_max_regression_option("qps=10%,latency_p99_ms=50%"))
    junit = tmp_path / "reports" / "junit.xml"
    gating.write_outputs(str(tmp_path / "run"), gate, str(junit))
    root = ET.parse(junit).getroot()
    regression = json.loads((tmp_path / "run" / "regression.json").read_text())

    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root}
    assert list(suites) == ["llmbench.run", "llmbench.slo", "llmbench.regression"]
    assert all(child.tag == "testsuite" for child in root)
    for element in [root, *root]:
        cases = element.iter("testcase")
        cases = list(cases)
        assert int(element.get("tests")) == len(cases)
        assert int(element.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(element.get("errors")) == sum(c.find("error") is not None for c in cases)
        assert int(element.get("skipped")) == sum(c.find("skipped") is not None for c in cases)
        float(element.get("time"))
    for case in root.iter("testcase"):
        assert case.get("classname").startswith("llmbench.") and case.get("name")
        float(case.get("time"))
        for failure in case.findall("failure"):
            assert failure.get("message") and failure.get("type") and failure.text

    # One case per stage × bound, and per regression check.
    assert len(suites["llmbench.slo"].findall("testcase")) == 5 * 2
    assert len(suites["llmbench.regression"].findall("testcase")) == len(regression["checks"]) == 5 * 2
    failed = {c.get("name"): c.find("failure").get("message")
              for c in suites["llmbench.regression"].findall("testcase") if c.find("failure") is not None}
    assert failed == {c["name"]: c["message"] for c in regression["regressions"]}
    # qps is 23% lower everywhere; latency p99 rose 30% (< 50%) — so only qps regressed.
    assert {c["metric"] for c in regression["regressions"]} == {"qps"} and len(failed) == 5

    slo_failed = sorted(c.get("name") for c in suites["llmbench.slo"].findall("testcase")
                        if c.find("failure") is not None)
    assert slo_failed == ["latency_p99_ms <= 250 at concurrency 16", "latency_p99_ms <= 250 at concurrency 8"]
    props = {p.get("name"): p.get("value") for p in suites["llmbench.slo"].iter("property")}
    assert props["slo.latency_p99_ms"] == "<= 250" and props["max_concurrency_within_slo"] == "4"


def test_junit_is_well_formed_with_hostile_text():
    gate = gating.evaluate([], run_error='bad <tag> & "quotes" \x00\x1b[31m')
    root = ET.fromstring(gating.junit_xml(gate, timestamp="2024-01-01T00:00:00+00:00"))
    message = root.find(".//error").get("message")
    assert "<tag> & \"quotes\"" in message and "\x00" not in message


def test_junit_without_gate_has_only_the_run_case():
    root = ET.fromstring(gating.junit_xml(gating.evaluate(summaries_of(ladder((1,))))))
    assert root.get("tests") == "1" and root.get("failures") == "0"
    assert [s.get("tests") for s in root] == ["1", "0", "0"]


def test_overall_fields_and_text_are_plain(tmp_path):
    write_run(tmp_path / "base", summaries_of(ladder()))
    slo = parse_slo("latency_p99_ms=150")
    gate = gating.evaluate(summaries_of(ladder(), slo), slo, gating.load_baseline(str(tmp_path / "base")),
                           gating.parse_max_regression_option(None),
                           config={"model": "m", "stream": False})
    fields = gating.overall_fields(gate)
    json.dumps(fields, allow_nan=False)
    assert fields["gate"]["verdict"] == "fail" and fields["gate"]["exit_code"] == 1
    assert fields["baseline"]["passed"] is True and fields["baseline"]["file"] == "regression.json"
    text = gating.gate_text(gate)
    assert text.splitlines()[0] == "llmbench gate: FAIL (exit code 1)"
    assert "max concurrency within SLO: 4" in text and "first missed at concurrency 8" in text
    assert "note: stream differs from the baseline (True → False)" in text


def test_settings_from_a_run_config(tmp_path):
    from types import SimpleNamespace

    write_run(tmp_path / "base", summaries_of(ladder((1,))))
    config = SimpleNamespace(slo="error_rate=1%", baseline=str(tmp_path / "base"), max_regression="",
                             junit="", slo_min_concurrency=None)
    settings = gating.settings_from_config(config)
    assert settings.slo["error_rate"].value == 0.01 and settings.baseline.concurrencies == [1]
    assert settings.max_regression == gating.parse_max_regression_option("10%")
    assert gating.settings_from_config(SimpleNamespace()) == gating.GateSettings()
