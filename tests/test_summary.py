"""Stage summaries, summary_all, saturation hints, SLO goodput and overall_summary — by hand."""

import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from llmbench_locust import records
from llmbench_locust.grammar import parse_regression, parse_slo
from llmbench_locust.records import RequestRecord, StageCsvWriter
from llmbench_locust.summary import (
    REQUEST_COLUMNS,
    SLO_SUMMARY_KEYS,
    STAGE_SUMMARY_KEYS,
    compare_with_baseline,
    flatten_summary,
    load_requests,
    max_concurrency_within_slo,
    overall_summary,
    read_requests_csv,
    requests_frame,
    saturation_hints,
    scrub_config,
    summarize_stage,
    summarize_stages,
    summary_table,
    to_jsonable,
)

T0 = 1_700_000_000.0


def rec(i, start, latency, ok=True, ttft=None, itl=None, gen=None, completion=None, prompt=None,
        stage=1, concurrency=4, error_type="", source="usage", end=None):
    """One record with sensible defaults (non-streaming: generation = latency)."""
    return RequestRecord(
        request_id=f"r{i}", stage=stage, concurrency=concurrency, worker="w0",
        start_epoch=T0 + start, latency_ms=latency, ttft_ms=ttft, itl_ms=itl,
        generation_ms=gen if gen is not None else (latency if ok else None),
        prompt_tokens=prompt, completion_tokens=completion,
        tokens_source=source if ok else "", http_status=200 if ok else 500, ok=ok,
        error_type="" if ok else (error_type or "http_5xx"), error="" if ok else "boom",
        stream=ttft is not None, end_epoch=end,
    )


def frame(recs):
    return requests_frame(recs)


def pct(values, q):
    """Linear-interpolation percentile, written independently of numpy."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


STREAMING = [
    # i, start s, latency ms, ttft ms, completion tokens, prompt tokens
    rec(0, 0.0, 1000.0, ttft=100.0, itl=9.0, gen=900.0, completion=101, prompt=10),
    rec(1, 0.5, 1200.0, ttft=150.0, itl=10.5, gen=1050.0, completion=101, prompt=12),
    rec(2, 1.0, 800.0, ttft=120.0, itl=6.8, gen=680.0, completion=101, prompt=11),
    rec(3, 1.2, 2000.0, ttft=400.0, itl=16.0, gen=1600.0, completion=101, prompt=10),
    rec(4, 1.5, 300.0, ok=False, error_type="http_5xx"),
    rec(5, 2.0, 5000.0, ok=False, error_type="timeout"),
    rec(6, 2.1, 900.0, ttft=90.0, itl=None, gen=810.0, completion=1, prompt=10),
]


# --- stage summary -------------------------------------------------------------------------------


def test_stage_summary_by_hand():
    s = summarize_stage(frame(STREAMING), stage=1, concurrency=4)
    assert tuple(s) == STAGE_SUMMARY_KEYS
    ok = [r for r in STREAMING if r.ok]
    assert (s["stage"], s["concurrency"]) == (1, 4)
    assert (s["requests"], s["successes"], s["failures"]) == (7, 5, 2)
    assert s["error_rate"] == pytest.approx(2 / 7)
    # last end is the timeout: start 2.0 + 5.0 s; first start 0.0
    assert s["duration_s"] == pytest.approx(7.0)
    assert s["qps"] == pytest.approx(5 / 7.0)
    lat = [r.latency_ms for r in ok]
    assert s["latency_ms"]["avg"] == pytest.approx(statistics.fmean(lat))
    assert s["latency_ms"]["p50"] == pytest.approx(statistics.median(lat))
    quantiles = statistics.quantiles(lat, n=100, method="inclusive")
    assert s["latency_ms"]["p95"] == pytest.approx(quantiles[94])
    assert s["latency_ms"]["p99"] == pytest.approx(quantiles[98])
    assert (s["latency_ms"]["min"], s["latency_ms"]["max"]) == (800.0, 2000.0)
    ttft = [r.ttft_ms for r in ok]
    assert s["ttft_ms"]["p95"] == pytest.approx(pct(ttft, 95))
    itl = [r.itl_ms for r in ok if r.itl_ms is not None]
    assert s["itl_ms"]["avg"] == pytest.approx(sum(itl) / 4)
    assert s["itl_ms"]["p99"] == pytest.approx(pct(itl, 99))
    completion = 4 * 101 + 1
    assert s["completion_tokens_total"] == completion
    assert s["prompt_tokens_total"] == 53
    assert s["tps"] == pytest.approx(completion / ((900 + 1050 + 680 + 1600 + 810) / 1000))
    assert s["output_tokens_per_s"] == pytest.approx(completion / 7.0)
    assert s["errors_by_type"] == {"http_5xx": 1, "timeout": 1}
    assert s["tokens_source"] == {"usage": 5}
    json.dumps(s, allow_nan=False)


def test_stage_and_concurrency_filter_and_inference():
    recs = STREAMING + [rec(9, 0.0, 50.0, stage=2, concurrency=8, completion=3)]
    df = frame(recs)
    assert summarize_stage(df, stage=2)["requests"] == 1
    assert summarize_stage(df, stage=2)["concurrency"] == 8  # inferred
    assert summarize_stage(df, concurrency=4)["stage"] == 1
    mixed = summarize_stage(df)
    assert mixed["requests"] == 8 and mixed["stage"] is None and mixed["concurrency"] is None


def test_end_epoch_column_wins_over_start_plus_latency():
    recs = [rec(0, 0.0, 1000.0, end=T0 + 1.5), rec(1, 1.0, 1000.0, end=T0 + 4.0)]
    assert summarize_stage(frame(recs))["duration_s"] == pytest.approx(4.0)
    recs[1].end_epoch = None  # falls back to start + latency for that row
    assert summarize_stage(frame(recs))["duration_s"] == pytest.approx(2.0)


def test_no_success_stage_is_full_and_null_safe():
    recs = [rec(i, i * 0.5, 100.0, ok=False, error_type=t) for i, t in
            enumerate(["http_429", "http_429", "connection"])]
    s = summarize_stage(frame(recs), stage=1, concurrency=4)
    assert tuple(s) == STAGE_SUMMARY_KEYS
    assert (s["requests"], s["successes"], s["failures"], s["error_rate"]) == (3, 0, 3, 1.0)
    assert s["duration_s"] == pytest.approx(1.1)
    assert s["qps"] == 0.0
    assert s["latency_ms"] == dict.fromkeys(["avg", "p50", "p95", "p99", "min", "max"])
    assert s["ttft_ms"]["p99"] is None and s["itl_ms"]["avg"] is None
    assert s["tps"] is None
    assert s["completion_tokens_total"] == 0 and s["output_tokens_per_s"] == 0.0
    assert s["errors_by_type"] == {"http_429": 2, "connection": 1}
    assert s["tokens_source"] == {}
    json.dumps(s, allow_nan=False)


def test_single_request_stage():
    s = summarize_stage(frame([rec(0, 0.0, 250.0, completion=10, prompt=5)]))
    assert s["duration_s"] == pytest.approx(0.25)
    assert s["qps"] == pytest.approx(4.0)
    assert all(v == 250.0 for v in s["latency_ms"].values())
    assert s["tps"] == pytest.approx(40.0)


def test_non_streaming_stage_has_no_ttft():
    recs = [rec(i, i * 0.1, 100.0 + i, completion=20) for i in range(5)]
    s = summarize_stage(frame(recs))
    assert all(v is None for v in s["ttft_ms"].values())
    assert all(v is None for v in s["itl_ms"].values())
    # generation = latency for non-streaming
    assert s["tps"] == pytest.approx(100 / (sum(100.0 + i for i in range(5)) / 1000))


def test_empty_frame_and_zero_duration():
    empty = summarize_stage(requests_frame([]))
    assert empty["requests"] == 0 and empty["error_rate"] is None and empty["duration_s"] is None
    assert empty["qps"] is None
    zero = summarize_stage(frame([rec(0, 0.0, 0.0, completion=1)]))
    assert zero["duration_s"] is None and zero["qps"] is None and zero["output_tokens_per_s"] is None
    json.dumps([empty, zero], allow_nan=False)


def test_missing_usage_gives_none_token_totals():
    recs = [rec(0, 0.0, 100.0), rec(1, 0.1, 100.0)]
    s = summarize_stage(frame(recs))
    assert s["completion_tokens_total"] is None and s["prompt_tokens_total"] is None
    assert s["tps"] is None and s["output_tokens_per_s"] is None


def test_tokens_source_counts_keep_sources_apart():
    recs = [rec(0, 0, 10.0, completion=5), rec(1, 0, 10.0, completion=5, source="chunks"),
            rec(2, 0, 10.0, completion=5, source="chunks")]
    assert summarize_stage(frame(recs))["tokens_source"] == {"chunks": 2, "usage": 1}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1.0, 1e5, allow_nan=False), min_size=1, max_size=40))
def test_percentiles_match_inclusive_quantiles(latencies):
    recs = [rec(i, i * 0.01, lat) for i, lat in enumerate(latencies)]
    s = summarize_stage(frame(recs))["latency_ms"]
    assert s["p50"] == pytest.approx(pct(latencies, 50))
    assert s["p95"] == pytest.approx(pct(latencies, 95))
    assert s["p99"] == pytest.approx(pct(latencies, 99))
    assert s["min"] <= s["p50"] <= s["p95"] <= s["p99"] <= s["max"]
    if len(latencies) >= 2:
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        assert s["p99"] == pytest.approx(q[98])


def test_summarize_stages_in_ladder_order():
    recs = ([rec(i, i, 100.0, stage=2, concurrency=2) for i in range(3)]
            + [rec(i, i, 100.0, stage=1, concurrency=8) for i in range(2)])
    out = summarize_stages(frame(recs))
    assert [(s["stage"], s["concurrency"], s["requests"]) for s in out] == [(1, 8, 2), (2, 2, 3)]
    assert summarize_stages(requests_frame([])) == []


# --- SLO goodput ---------------------------------------------------------------------------------


def test_goodput_just_above_and_below_bounds():
    slo = parse_slo("ttft_p99_ms=200,latency_p99_ms=1000")
    recs = [
        rec(0, 0.0, 1000.0, ttft=200.0, completion=5),     # exactly on both bounds: good
        rec(1, 0.0, 999.0, ttft=200.001, completion=5),   # ttft just above: bad
        rec(2, 0.0, 1000.001, ttft=10.0, completion=5),   # latency just above: bad
        rec(3, 0.0, 500.0, ttft=199.999, completion=5),   # good
        rec(4, 0.0, 100.0, ok=False),                     # failure: never good
    ]
    s = summarize_stage(frame(recs), slo=slo)
    assert tuple(s) == STAGE_SUMMARY_KEYS + SLO_SUMMARY_KEYS
    assert s["goodput_requests"] == 2
    assert s["goodput_ratio"] == pytest.approx(2 / 5)
    assert s["goodput_qps"] == pytest.approx(2 / s["duration_s"])
    assert s["slo_met"] is False
    assert s["slo_failed"] == ["ttft_p99_ms", "latency_p99_ms"]


def test_slo_stage_verdict_and_lower_bounds():
    recs = [rec(i, i * 0.5, 100.0, completion=10) for i in range(4)]  # duration 1.6 s
    met = summarize_stage(frame(recs), slo=parse_slo("latency_p99_ms=100,qps=2.5,error_rate=0"))
    assert met["slo_met"] is True and met["slo_failed"] == []
    assert met["goodput_ratio"] == 1.0
    missed = summarize_stage(frame(recs), slo=parse_slo("qps=2.51,output_tokens_per_s=10"))
    assert missed["slo_failed"] == ["qps"]


def test_unmeasured_slo_metric_fails_but_does_not_judge_requests():
    recs = [rec(i, i * 0.1, 100.0, completion=3) for i in range(3)]  # not streaming
    s = summarize_stage(frame(recs), slo=parse_slo("ttft_p99_ms=50"))
    assert s["goodput_requests"] == 3  # ttft bound does not apply per request
    assert s["slo_met"] is False and s["slo_failed"] == ["ttft_p99_ms"]


def test_slo_on_all_failed_stage():
    recs = [rec(0, 0.0, 100.0, ok=False), rec(1, 0.5, 100.0, ok=False)]
    s = summarize_stage(frame(recs), slo=parse_slo("latency_p99_ms=1000"))
    assert s["goodput_requests"] == 0 and s["goodput_qps"] == 0.0 and s["goodput_ratio"] == 0.0
    assert s["slo_met"] is False


# --- reading CSV files ---------------------------------------------------------------------------


def write_stage(tmp_path, recs):
    writer = StageCsvWriter(str(tmp_path))
    writer.write_many(recs)
    writer.close()


def test_columns_match_records_module():
    assert REQUEST_COLUMNS == records.COLUMNS


def test_roundtrip_through_csv(tmp_path):
    write_stage(tmp_path, STREAMING)
    df = read_requests_csv(tmp_path / "requests_c4.csv")
    assert len(df) == len(STREAMING) and df.attrs["skipped_rows"] == 0
    assert df["ok"].dtype == bool and df["latency_ms"].dtype == float
    assert df["ttft_ms"].isna().sum() == 2
    direct = summarize_stage(frame(STREAMING))
    via_csv = summarize_stage(df)
    assert via_csv["latency_ms"] == pytest.approx(direct["latency_ms"])
    assert via_csv["tps"] == pytest.approx(direct["tps"])
    assert via_csv["errors_by_type"] == direct["errors_by_type"]


def test_truncated_last_line_is_skipped(tmp_path):
    write_stage(tmp_path, STREAMING[:3])
    path = tmp_path / "requests_c4.csv"
    full = path.read_bytes()
    row = ",".join(str(v) for v in STREAMING[3].to_row().values()).encode()
    for cut in (1, 5, 40, len(row) - 1, len(row)):  # len(row): complete but no newline yet
        path.write_bytes(full + row[:cut])
        df = read_requests_csv(path)
        assert len(df) == 3, cut
        assert df.attrs["skipped_rows"] == 1
        assert summarize_stage(df)["requests"] == 3
    path.write_bytes(full + row + b"\r\n")
    assert len(read_requests_csv(path)) == 4


def test_truncated_inside_quoted_error_and_bad_middle_row(tmp_path):
    path = tmp_path / "requests_c2.csv"
    header = ",".join(records.COLUMNS)
    good = rec(0, 0.0, 10.0, concurrency=2, completion=1).to_row()
    line = ",".join(str(v) for v in good.values())
    path.write_text(header + "\n" + line + "\n" + "x,1,2\n" + line + "\n" + 'r9,1,2,w,1,2,,,,,,,,500,false,http_5xx,"half\nof a mess')
    df = read_requests_csv(path)
    assert len(df) == 2 and df.attrs["skipped_rows"] == 2


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "requests_c1.csv").write_text("")
    (tmp_path / "requests_c2.csv").write_text(",".join(records.COLUMNS) + "\r\n")
    (tmp_path / "requests_c3.csv").write_text("request_id,sta")
    for n in (1, 2, 3):
        df = read_requests_csv(tmp_path / f"requests_c{n}.csv")
        assert len(df) == 0 and set(REQUEST_COLUMNS) <= set(df.columns)
    assert len(load_requests(tmp_path)) == 0


def test_load_requests_orders_files_numerically(tmp_path):
    write_stage(tmp_path, [rec(0, 0, 10.0, stage=2, concurrency=16)]
                + [rec(1, 0, 10.0, stage=1, concurrency=2)])
    (tmp_path / "requests_c4.csv").write_text("garbage")  # only a partial header
    df = load_requests(tmp_path)
    assert df["concurrency"].tolist() == [2.0, 16.0]
    assert len(load_requests(tmp_path / "nowhere")) == 0


def test_requests_frame_accepts_csv_strings():
    row = rec(0, 0.0, 10.0, completion=2).to_row()
    df = requests_frame([row])
    assert df["ok"].tolist() == [True] and df["completion_tokens"].tolist() == [2.0]


# --- flatten / summary_table ---------------------------------------------------------------------


def test_flatten_and_table():
    slo = parse_slo("latency_p99_ms=1500")
    a = summarize_stage(frame(STREAMING), slo=slo)
    b = summarize_stage(frame([rec(0, 0, 10.0, completion=1, concurrency=8, stage=2),
                               rec(1, 0, 10.0, ok=False, error_type="http_429", concurrency=8, stage=2)]),
                        slo=slo)
    flat = flatten_summary(a)
    assert flat["latency_p99_ms"] == a["latency_ms"]["p99"]
    assert flat["ttft_p50_ms"] == a["ttft_ms"]["p50"]
    assert flat["itl_avg_ms"] == a["itl_ms"]["avg"]
    assert flat["errors_timeout"] == 1 and flat["tokens_source_usage"] == 5
    assert flat["slo_failed"] == "latency_p99_ms"
    assert not any(isinstance(v, (dict, list)) for v in flat.values())
    table = summary_table([a, b])
    assert table["concurrency"].tolist() == [4, 8]
    assert table.columns[-4:].tolist() == ["errors_http_429", "errors_http_5xx", "errors_timeout",
                                           "tokens_source_usage"]
    assert table["errors_http_429"].tolist() == [0, 1]
    assert table["errors_timeout"].tolist() == [1, 0]
    empty = summary_table([])
    assert "latency_p99_ms" in empty.columns and len(empty) == 0


# --- saturation, SLO ceiling, baseline -----------------------------------------------------------


def stage(c, qps, p99, err=0.0, slo_met=None, failed=()):
    s = {"concurrency": c, "qps": qps, "latency_ms": {"p99": p99}, "error_rate": err,
         "output_tokens_per_s": None if qps is None else qps * 100}
    if slo_met is not None:
        s.update(slo_met=slo_met, slo_failed=list(failed), goodput_qps=qps)
    return s


def test_saturation_hit():
    ladder = [stage(1, 10, 100), stage(2, 19, 110), stage(4, 30, 140),
              stage(8, 32, 300), stage(16, 31, 900, err=0.02)]
    hints = saturation_hints(ladder)
    assert hints["best_qps"] == 32 and hints["best_qps_at_concurrency"] == 8
    assert hints["saturation_concurrency"] == 4  # 4→8: +6.7% qps, +114% p99
    assert hints["error_onset_concurrency"] == 16
    assert hints["thresholds"] == {"qps_gain": 0.10, "p99_rise": 0.50, "error_rate": 0.01}


def test_saturation_boundaries_are_strict():
    # qps +10% exactly is not "less than 10%"; p99 +50% exactly is not "more than 50%"
    assert saturation_hints([stage(1, 10, 100), stage(2, 11, 200)])["saturation_concurrency"] is None
    assert saturation_hints([stage(1, 10, 100), stage(2, 10.5, 150)])["saturation_concurrency"] is None
    assert saturation_hints([stage(1, 10, 100), stage(2, 10.5, 150.1)])["saturation_concurrency"] == 1


def test_saturation_never_hit_and_no_errors():
    ladder = [stage(1, 10, 100), stage(2, 20, 180), stage(4, 40, 400)]
    hints = saturation_hints(ladder)
    assert hints["saturation_concurrency"] is None and hints["error_onset_concurrency"] is None
    assert hints["best_qps_at_concurrency"] == 4


def test_saturation_custom_thresholds_and_error_onset_boundary():
    ladder = [stage(1, 10, 100, err=0.0049), stage(2, 12, 140, err=0.005)]
    hints = saturation_hints(ladder, qps_gain=0.25, p99_rise=0.3, error_rate=0.005)
    assert hints["saturation_concurrency"] == 1
    assert hints["error_onset_concurrency"] == 2
    assert hints["thresholds"] == {"qps_gain": 0.25, "p99_rise": 0.3, "error_rate": 0.005}


def test_saturation_with_missing_values():
    ladder = [stage(1, 10, 100), stage(2, None, None, err=1.0), stage(4, 5, 900)]
    hints = saturation_hints(ladder)
    # stage 2 has no p99 so never triggers; 2→4: qps 0→5 is growth
    assert hints["saturation_concurrency"] is None
    assert hints["best_qps"] == 10 and hints["error_onset_concurrency"] == 2
    assert saturation_hints([])["best_qps"] is None


def test_saturation_accepts_flat_rows():
    rows = summary_table([summarize_stage(frame([rec(0, 0, 100.0, concurrency=c, stage=i, completion=1),
                                                 rec(1, 0, 100.0 * c, concurrency=c, stage=i, completion=1)]))
                          for i, c in enumerate([1, 2, 4], start=1)]).to_dict("records")
    assert saturation_hints(rows)["best_qps_at_concurrency"] == 1
    assert saturation_hints(rows)["saturation_concurrency"] == 1


def test_max_concurrency_within_slo():
    ladder = [stage(4, 30, 140, slo_met=True), stage(1, 10, 100, slo_met=True),
              stage(2, 19, 110, slo_met=True), stage(8, 32, 300, slo_met=False, failed=["latency_p99_ms"]),
              stage(16, 31, 100, slo_met=True)]
    result = max_concurrency_within_slo(ladder)
    assert result == {"slo_given": True, "max_concurrency": 4, "qps": 30, "output_tokens_per_s": 3000,
                      "goodput_qps": 30, "first_failed_above": ["latency_p99_ms"],
                      "first_failed_concurrency": 8}
    first_fails = max_concurrency_within_slo([stage(1, 1, 1, slo_met=False, failed=["qps"])])
    assert first_fails["max_concurrency"] is None and first_fails["first_failed_above"] == ["qps"]
    all_met = max_concurrency_within_slo([stage(1, 1, 1, slo_met=True), stage(2, 2, 1, slo_met=True)])
    assert all_met["max_concurrency"] == 2 and all_met["first_failed_above"] is None
    none = max_concurrency_within_slo([stage(1, 1, 1)])
    assert none["slo_given"] is False and none["max_concurrency"] is None


def test_max_concurrency_within_slo_from_flat_rows():
    rows = [flatten_summary(stage(1, 1, 1, slo_met=True)),
            flatten_summary(stage(2, 2, 9, slo_met=False, failed=["qps", "error_rate"]))]
    result = max_concurrency_within_slo(rows)
    assert result["max_concurrency"] == 1 and result["first_failed_above"] == ["qps", "error_rate"]


def test_compare_with_baseline():
    base = [stage(1, 10, 100), stage(2, 20, 200)]
    cur = [stage(1, 9.5, 109), stage(2, 17.9, 200), stage(4, 30, 300)]
    result = compare_with_baseline(cur, base, parse_regression("qps=10%,latency_p99_ms=10%"))
    assert result["compared_concurrencies"] == [1, 2]
    assert [(c["concurrency"], c["metric"]) for c in result["regressions"]] == [(2, "qps")]
    assert result["passed"] is False
    ok = compare_with_baseline(cur[:1], base, parse_regression("10%"))
    assert ok["passed"] is True
    assert any(c["metric"] == "ttft_p99_ms" and c["change"] is None for c in ok["checks"])


# --- overall -------------------------------------------------------------------------------------


def test_overall_summary_is_plain_json_without_secrets():
    slo = parse_slo("latency_p99_ms=1500")
    summaries = [summarize_stage(frame([r for r in STREAMING]), slo=slo)]
    config = {
        "base_url": "http://x", "api_key": "sk-secret", "max_tokens": 128, "model": "m",
        "headers": ["Authorization: Bearer sk-secret", "X-Trace: 1"],
        "extra_body": {"ignore_eos": True, "hf_token": "t"}, "Authorization": "Bearer z",
    }
    overall = overall_summary(summaries, config, partial_stages=[3], client={"cpu_warning": True},
                              generated_at="2024-01-01T00:00:00+00:00")
    text = json.dumps(overall, allow_nan=False)
    assert "sk-secret" not in text and "Bearer z" not in text and '"t"' not in text
    assert overall["config"] == {
        "base_url": "http://x", "max_tokens": 128, "model": "m",
        "headers": ["Authorization: ***", "X-Trace: 1"], "extra_body": {"ignore_eos": True},
    }
    assert set(overall) == {
        "generated_at", "config", "stages", "best_qps", "best_qps_at_concurrency",
        "saturation_concurrency", "error_onset_concurrency", "thresholds", "slo",
        "max_concurrency_within_slo", "partial_stages", "client", "baseline",
    }
    assert overall["stages"][0]["latency_p99_ms"] == summaries[0]["latency_ms"]["p99"]
    assert overall["best_qps_at_concurrency"] == 4
    assert overall["slo"]["slo_given"] is True
    assert overall["partial_stages"] == [3] and overall["client"] == {"cpu_warning": True}
    assert overall["generated_at"] == "2024-01-01T00:00:00+00:00"
    assert overall_summary([], {})["best_qps"] is None


def test_scrub_config_masks_header_pairs():
    headers = [["Authorization", "Bearer x"], ["X-Trace", "1"], ("x-api-key", "k"), "Cookie: a=b", "Note: hi"]
    assert scrub_config({"headers": headers}) == {"headers": [
        ["Authorization", "***"], ["X-Trace", "1"], ["x-api-key", "***"], "Cookie: ***", "Note: hi",
    ]}


def test_scrub_config_keeps_token_counts():
    assert scrub_config({"max_tokens": 5, "token": "x", "apiKey": "y", "prompt_tokens": 1}) == {
        "max_tokens": 5, "prompt_tokens": 1,
    }


def test_to_jsonable():
    value = {"a": np.float64("nan"), "b": np.int64(3), "c": (np.bool_(True), float("inf")),
             "d": np.array([1.5, np.nan]), 4: pd.NA, "e": {1, 2}}
    assert to_jsonable(value) == {"a": None, "b": 3, "c": [True, None], "d": [1.5, None],
                                  "4": None, "e": [1, 2]}
    assert type(to_jsonable(np.float32(1.5))) is float
    assert to_jsonable(parse_slo("qps=1")) == {"qps": {"metric": "qps", "op": ">=", "value": 1.0,
                                                       "per_request": False}}


def test_slo_given_as_text():
    recs = [rec(0, 0.0, 100.0, completion=2)]
    assert summarize_stage(frame(recs), slo="latency_p99_ms=99")["slo_failed"] == ["latency_p99_ms"]
