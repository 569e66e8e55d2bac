"""The measuring core end to end: real locust processes against the mock engine with known timings."""

from __future__ import annotations

import statistics

import pytest

from conftest import read_json, read_rows, run_llmbench, run_locust

pytestmark = pytest.mark.e2e

TIMED = ("--ttft-ms", "150", "--chunk-ms", "10", "--tokens-per-chunk", "3")


@pytest.mark.parametrize("endpoint", ["chat.completions", "responses"])
@pytest.mark.parametrize("stream", [True, False])
def test_measurements_match_the_engine_truth(tmp_path, mock_engine, endpoint, stream):
    mock = mock_engine(*TIMED)
    out = tmp_path / "out"
    args = ["run", "--base-url", mock.url, "--model", "mock-model", "--endpoint", endpoint, "--concurrency", "4",
            "--requests-per-stage", "12", "--max-tokens", "30", "--outdir", str(out), "--no-report"]
    if stream:
        args.append("--stream")
    result = run_llmbench(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_rows(out / "requests_c4.csv")
    assert len(rows) == 12 and all(r["ok"] == "true" for r in rows)
    truth = mock.truth()
    latency_err, ttft_err, itl_err = [], [], []
    for row in rows:
        true = truth[row["request_id"]]
        assert int(row["completion_tokens"]) == 30 and row["tokens_source"] == "usage"
        if stream:
            true_ttft = (true["first_output"] - true["received"]) * 1000
            ttft_err.append(float(row["ttft_ms"]) - true_ttft)
            chunks = true["chunks"]
            true_itl = (chunks[-1] - chunks[0]) * 1000 / 29
            itl_err.append(float(row["itl_ms"]) - true_itl)
            true_latency = (chunks[-1] - true["received"]) * 1000
        else:
            assert row["ttft_ms"] == "" and row["itl_ms"] == ""
            true_latency = (true["done"] - true["received"]) * 1000
        latency_err.append(float(row["latency_ms"]) - true_latency)
    assert 0 <= statistics.median(latency_err) <= 3, latency_err
    if stream:
        assert 0 <= statistics.median(ttft_err) <= 3, ttft_err
        assert abs(statistics.median(itl_err)) <= 0.5, itl_err
        assert 148 <= statistics.median(float(r["ttft_ms"]) for r in rows) <= 155


FAULTS = [
    ("http_400", "http_4xx"),
    ("http_429", "http_429"),
    ("http_500", "http_5xx"),
    ("http_503", "http_5xx"),
    ("html_error", "http_5xx"),
    ("disconnect", "truncated_stream"),
    ("malformed", "bad_json"),
    ("error_event", "server_error_event"),
    ("no_done", "truncated_stream"),
    ("empty", "empty_output"),
    ("slow_headers:ms=3000", "timeout"),
]


@pytest.mark.parametrize("fault,error_type", FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_kind_gives_exactly_its_failures(tmp_path, mock_engine, fault, error_type):
    kind, _, extra = fault.partition(":")
    spec = f"{kind}:every=4" + (f":{extra}" if extra else "")
    mock = mock_engine("--ttft-ms", "5", "--chunk-ms", "2", "--fault", spec)
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--concurrency", "4", "--requests-per-stage", "20",
        "--max-tokens", "8", "--stream", "--timeout", "1", "--outdir", str(out), "--no-report", "--skip-preflight",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_rows(out / "requests_c4.csv")
    assert len(rows) == 20
    failed = [r for r in rows if r["ok"] != "true"]
    assert len(failed) == 5, [(r["error_type"], r["error"]) for r in failed]
    assert {r["error_type"] for r in failed} == {error_type}, [r["error"] for r in failed]
    assert all(r["error"] for r in failed)
    summary = read_json(out / "summary_c4.json")
    assert summary["failures"] == 5 and summary["errors_by_type"] == {error_type: 5}


def test_missing_usage_counts_chunks(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "5", "--chunk-ms", "2", "--fault", "no_usage:every=4")
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--concurrency", "2", "--requests-per-stage", "8",
        "--max-tokens", "6", "--stream", "--outdir", str(out), "--no-report", "--skip-preflight",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_rows(out / "requests_c2.csv")
    assert all(r["ok"] == "true" for r in rows)
    sources = sorted(r["tokens_source"] for r in rows)
    assert sources == ["chunks"] * 2 + ["usage"] * 6
    assert all(r["completion_tokens"] == "6" for r in rows)


def test_api_key_is_never_written(tmp_path, mock_engine):
    key = "sk-test-SECRET-4242"
    mock = mock_engine("--ttft-ms", "5", "--chunk-ms", "2", "--api-key", key)
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--api-key", key, "--concurrency", "1,2",
        "--requests-per-stage", "4", "--max-tokens", "4", "--stream", "--outdir", str(out), "--loglevel", "DEBUG",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert key not in result.stdout and key not in result.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files)
    for path in files:
        assert key not in path.read_text(errors="replace"), path
    # a wrong key is refused by the server, and the check request says so before any load
    bad = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--api-key", "sk-wrong", "--concurrency", "1",
        "--requests-per-stage", "2", "--outdir", str(tmp_path / "bad"),
    )
    assert bad.returncode == 2 and "401" in bad.stderr and "sk-wrong" not in bad.stderr + bad.stdout


def test_unknown_model_and_unreachable_server_fail_fast(tmp_path, mock_engine):
    mock = mock_engine()
    wrong = run_llmbench("run", "--base-url", mock.url, "--model", "nope", "--outdir", str(tmp_path / "a"))
    assert wrong.returncode == 2 and "does not exist" in wrong.stderr
    down = run_llmbench("run", "--base-url", "http://127.0.0.1:9", "--model", "m", "--outdir", str(tmp_path / "b"))
    assert down.returncode == 2 and "connection" in down.stderr


def test_locust_and_llmbench_run_agree(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "40", "--chunk-ms", "5", "--tokens-per-chunk", "2")
    common = ["--model", "mock-model", "--concurrency", "1,3", "--requests-per-stage", "9", "--max-tokens", "20",
              "--stream", "--no-report"]
    a, b = tmp_path / "a", tmp_path / "b"
    ra = run_llmbench("run", "--base-url", mock.url, *common, "--outdir", str(a))
    rb = run_locust("--host", mock.url, *common, "--outdir", str(b))
    assert ra.returncode == 0 and rb.returncode == 0, (ra.stderr[-2000:], rb.stderr[-2000:])
    for name in ("requests_c1.csv", "requests_c3.csv"):
        rows_a, rows_b = read_rows(a / name), read_rows(b / name)
        assert list(rows_a[0]) == list(rows_b[0])
        assert len(rows_a) == len(rows_b) == 9
        assert [r["completion_tokens"] for r in rows_a] == [r["completion_tokens"] for r in rows_b]
    sa, sb = read_json(a / "summary_c3.json"), read_json(b / "summary_c3.json")
    assert set(sa) == set(sb)
    assert sa["requests"] == sb["requests"] == 9
    assert sa["ttft_ms"]["p50"] == pytest.approx(sb["ttft_ms"]["p50"], abs=5)
    assert sa["latency_ms"]["p50"] == pytest.approx(sb["latency_ms"]["p50"], abs=5)
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "overall_summary.json", "summary_all.csv"):
        assert (a / name).exists() and (b / name).exists()


def test_keepalive_comments_and_role_chunk_do_not_count_as_tokens(tmp_path, mock_engine):
    """Peers fail every request on an SSE comment, or take the role-only chunk as the first token."""
    mock = mock_engine("--ttft-ms", "150", "--chunk-ms", "5", "--keepalive-comment-ms", "20")
    out = tmp_path / "out"
    result = run_llmbench(
        "run", "--base-url", mock.url, "--model", "mock-model", "--concurrency", "2", "--requests-per-stage", "6",
        "--max-tokens", "10", "--stream", "--outdir", str(out), "--no-report",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_rows(out / "requests_c2.csv")
    assert len(rows) == 6 and all(r["ok"] == "true" for r in rows)
    ttfts = [float(r["ttft_ms"]) for r in rows]
    assert min(ttfts) >= 150 and statistics.median(ttfts) <= 155  # the first token, not a comment
    assert statistics.median(float(r["ttfb_ms"]) for r in rows) < 50  # headers and role chunk came at once
