"""The concurrency ladder end to end: exact stages, every file, saturation, error onset, SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import LOCUSTFILE, read_json, read_rows, run_llmbench, wait_for_rows

pytestmark = pytest.mark.e2e


def floats(rows, key):
    return [float(r[key]) for r in rows if r[key] != ""]


def recompute(rows):
    """SPEC §3 from the rows, written independently of summary.py."""
    ok = [r for r in rows if r["ok"] == "true"]
    start = min(float(r["start_epoch"]) for r in rows)
    end = max(float(r["end_epoch"]) for r in rows)
    duration = end - start
    tokens = sum(int(r["completion_tokens"]) for r in ok)
    generation_s = sum(float(r["generation_ms"]) for r in ok) / 1000
    result = {"requests": len(rows), "successes": len(ok), "duration_s": duration, "qps": len(ok) / duration,
              "tps": tokens / generation_s, "output_tokens_per_s": tokens / duration, "completion_tokens_total": tokens}
    for metric in ("latency_ms", "ttft_ms", "itl_ms"):
        values = floats(ok, metric)
        result[metric] = {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}
        result[metric]["avg"] = sum(values) / len(values)
    return result


def test_ladder_writes_exact_stages_and_true_summaries(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "20", "--chunk-ms", "3", "--tokens-per-chunk", "2")
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--concurrency", "1,2,4-8", "--requests-per-stage",
        "12", "--max-tokens", "16", "--stream", "--warmup-requests", "3", "--outdir", str(out), "--no-report",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.glob("requests_c*.csv")) == [f"requests_c{c}.csv" for c in (1, 2, 4, 8)]
    assert len(read_rows(out / "warmup_requests.csv")) == 3
    stage_rows = []
    for number, concurrency in enumerate((1, 2, 4, 8), start=1):
        rows = read_rows(out / f"requests_c{concurrency}.csv")
        assert len(rows) == 12
        assert {r["stage"] for r in rows} == {str(number)} and {r["concurrency"] for r in rows} == {str(concurrency)}
        summary = read_json(out / f"summary_c{concurrency}.json")
        expected = recompute(rows)
        for key in ("requests", "successes", "completion_tokens_total"):
            assert summary[key] == expected[key]
        for key in ("duration_s", "qps", "tps", "output_tokens_per_s"):
            assert summary[key] == pytest.approx(expected[key], rel=1e-6), key
        for metric in ("latency_ms", "ttft_ms", "itl_ms"):
            for stat, value in expected[metric].items():
                assert summary[metric][stat] == pytest.approx(value, rel=1e-6, abs=1e-3), (metric, stat)
        stage_rows.append(summary)
    table = read_rows(out / "summary_all.csv")
    assert [int(r["concurrency"]) for r in table] == [1, 2, 4, 8]
    assert [float(r["latency_p99_ms"]) for r in table] == pytest.approx([s["latency_ms"]["p99"] for s in stage_rows])
    overall = read_json(out / "overall_summary.json")
    assert overall["best_qps"] == pytest.approx(max(s["qps"] for s in stage_rows))
    assert overall["partial_stages"] == [] and overall["run"]["completed"] is True
    assert "api_key" not in overall["config"]
    # stages ran one after another: no request of a stage started before the previous stage ended
    ends = [max(float(r["end_epoch"]) for r in read_rows(out / f"requests_c{c}.csv")) for c in (1, 2, 4)]
    starts = [min(float(r["start_epoch"]) for r in read_rows(out / f"requests_c{c}.csv")) for c in (2, 4, 8)]
    assert all(s >= e for s, e in zip(starts, ends))
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"):
        assert (out / name).stat().st_size > 0
    assert "best qps" in result.stdout and "[llmbench] stage" in result.stdout


def saturation_by_definition(summaries, gain=0.10, rise=0.50):
    for prev, cur in zip(summaries, summaries[1:]):
        if cur["qps"] < prev["qps"] * (1 + gain) and cur["latency_ms"]["p99"] > prev["latency_ms"]["p99"] * (1 + rise):
            return prev["concurrency"]
    return None


def test_saturation_past_the_slot_count(tmp_path, mock_engine):
    mock = mock_engine("--slots", "2", "--ttft-ms", "30", "--chunk-ms", "4", "--tokens-per-chunk", "4")
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--concurrency", "1,2,4,8", "--requests-per-stage",
        "16", "--max-tokens", "32", "--stream", "--outdir", str(out), "--no-report",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [read_json(out / f"summary_c{c}.json") for c in (1, 2, 4, 8)]
    qps = [s["qps"] for s in summaries]
    p99 = [s["latency_ms"]["p99"] for s in summaries]
    assert qps[1] > 1.6 * qps[0]  # below the slot count, more users → more qps
    assert qps[3] < 1.25 * qps[1] and p99[3] > 2.5 * p99[1]  # past it: flat qps, p99 climbs
    overall = read_json(out / "overall_summary.json")
    assert overall["saturation_concurrency"] == saturation_by_definition(summaries)
    assert overall["saturation_concurrency"] in (2, 4)
    assert overall["thresholds"] == {"qps_gain": 0.1, "p99_rise": 0.5, "error_rate": 0.01}


def test_error_onset_with_a_queue_limit(tmp_path, mock_engine):
    mock = mock_engine("--slots", "2", "--queue-limit", "1", "--ttft-ms", "20", "--chunk-ms", "3")
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--concurrency", "1,2,3,8", "--requests-per-stage",
        "16", "--max-tokens", "16", "--stream", "--outdir", str(out), "--no-report",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [read_json(out / f"summary_c{c}.json") for c in (1, 2, 3, 8)]
    assert summaries[0]["failures"] == summaries[1]["failures"] == summaries[2]["failures"] == 0
    assert summaries[3]["errors_by_type"].get("http_429", 0) > 0
    first = next(s["concurrency"] for s in summaries if s["error_rate"] >= 0.01)
    assert read_json(out / "overall_summary.json")["error_onset_concurrency"] == first == 8


def test_every_request_failing_exits_non_zero_with_summaries(tmp_path, mock_engine):
    mock = mock_engine("--fault", "http_500:every=1")
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--concurrency", "1,2", "--requests-per-stage", "4",
        "--outdir", str(out), "--no-report", "--skip-preflight",
    )
    assert result.returncode == 2 and "no request succeeded" in result.stderr
    for c in (1, 2):
        summary = read_json(out / f"summary_c{c}.json")
        assert summary["requests"] == 4 and summary["successes"] == 0 and summary["error_rate"] == 1.0


def test_sigint_mid_stage_keeps_finished_stages_and_marks_the_current_partial(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "20", "--chunk-ms", "5")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--host", mock.url,
           "--model", "mock-model", "--concurrency", "1,2", "--requests-per-stage", "40", "--max-tokens", "30",
           "--stream", "--outdir", str(out), "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(out / "requests_c2.csv", 2, timeout=60)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(read_rows(out / "requests_c1.csv")) == 40
    assert read_json(out / "summary_c1.json")["requests"] == 40
    rows2 = read_rows(out / "requests_c2.csv")
    assert 2 <= len(rows2) < 40 and all(r["ok"] == "true" for r in rows2)
    overall = read_json(out / "overall_summary.json")
    assert overall["partial_stages"] == [2] and overall["run"]["completed"] is False
    assert read_json(out / "summary_c2.json")["requests"] == len(rows2)


def test_quick_script_against_the_mock(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "10", "--chunk-ms", "1", "--tokens-per-chunk", "4")
    out = tmp_path / "quick"
    env = {**os.environ, "BASE_URL": mock.url, "MODEL": "mock-model", "API_KEY": "", "OUTDIR": str(out)}
    script = LOCUSTFILE.parent.parent / "scripts" / "sglang_bench_quick.sh"
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.glob("summary_c*.json")) == [f"summary_c{c}.json" for c in (1, 2, 4, 8)]
    assert all(len(read_rows(out / f"requests_c{c}.csv")) == 10 for c in (1, 2, 4, 8))
    assert (out / "report.html").exists()


def test_stage_duration_instead_of_a_count(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "10", "--chunk-ms", "2")
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--concurrency", "1,2", "--stage-duration", "1.5",
        "--max-tokens", "8", "--stream", "--outdir", str(out), "--no-report",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for c in (1, 2):
        rows = read_rows(out / f"requests_c{c}.csv")
        starts = [float(r["start_epoch"]) for r in rows]
        assert len(rows) >= 10 and all(r["ok"] == "true" for r in rows)
        assert max(starts) - min(starts) < 1.5 + 0.5  # nothing starts after the stage's time is up
        assert read_json(out / f"summary_c{c}.json")["requests"] == len(rows)
