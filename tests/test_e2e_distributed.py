"""Master and workers on 127.0.0.1: the same exact files as a local run, and no record lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import LOCUSTFILE, read_json, read_rows, wait_for_rows
from test_e2e_ladder import recompute

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def locust_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def start_workers(port: int, count: int, tmp_path: Path, name: str = "worker") -> list[subprocess.Popen]:
    workers = []
    for i in range(count):
        log = open(tmp_path / f"{name}{i}.log", "w")
        workers.append(subprocess.Popen(
            locust_cmd("--worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
            stdout=log, stderr=subprocess.STDOUT,
        ))
    return workers


def stop_all(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def master_cmd(port: int, url: str, out: Path, *extra: str) -> list[str]:
    return locust_cmd(
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--expect-workers", "2",
        "--headless", "--only-summary", "--host", url, "--model", "mock-model", "--stream", "--outdir", str(out),
        "--no-report", *extra,
    )


def start_master(port: int, url: str, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(master_cmd(port, url, out, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_with_two_workers(tmp_path: Path, url: str, out: Path, during, *args: str) -> None:
    """A master and two workers; ``during(port, workers)`` acts on the live run (it may add
    workers to the list); the master must then finish by itself and exit 0."""
    port = free_port()
    workers = start_workers(port, 2, tmp_path)
    master = start_master(port, url, out, *args)
    try:
        during(port, workers)
        _, stderr = master.communicate(timeout=120)
        assert master.returncode == 0, stderr[-3000:]
    finally:
        stop_all([master, *workers])


def check_exact(out: Path, ladder: tuple[int, ...], per_stage: int) -> dict[int, list[dict]]:
    by_stage = {}
    all_ids = []
    for c in ladder:
        rows = read_rows(out / f"requests_c{c}.csv")
        assert len(rows) == per_stage, (c, len(rows))
        summary = read_json(out / f"summary_c{c}.json")
        expected = recompute(rows)
        assert summary["requests"] == per_stage and summary["qps"] == pytest.approx(expected["qps"], rel=1e-6)
        assert summary["latency_ms"]["p99"] == pytest.approx(expected["latency_ms"]["p99"], rel=1e-6)
        assert summary["ttft_ms"]["p50"] == pytest.approx(expected["ttft_ms"]["p50"], rel=1e-6)
        all_ids += [r["request_id"] for r in rows]
        by_stage[c] = rows
    assert len(all_ids) == len(set(all_ids)), [i for i, n in Counter(all_ids).items() if n > 1]
    return by_stage


def test_master_and_two_workers_write_exact_stages(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "20", "--chunk-ms", "3")
    port = free_port()
    out = tmp_path / "out"
    # the prompt file exists only where the master runs: workers get the prompts from the master
    master_dir = tmp_path / "master"
    master_dir.mkdir()
    (master_dir / "prompts.jsonl").write_text('"one two three"\n"one two three four five six seven"\n')
    workers = start_workers(port, 2, tmp_path)
    try:
        master = subprocess.run(
            master_cmd(port, mock.url, out, "--concurrency", "2,4", "--requests-per-stage", "16", "--max-tokens", "8",
                       "--prompt-file", "prompts.jsonl"),
            capture_output=True, text=True, timeout=120, cwd=master_dir,
        )
        assert master.returncode == 0, master.stderr[-3000:]
        for worker in workers:
            worker.wait(timeout=30)
    finally:
        stop_all(workers)
    by_stage = check_exact(out, (2, 4), 16)
    for c, rows in by_stage.items():
        assert len({r["worker"] for r in rows}) == 2, c  # both workers did part of every stage
        assert {r["prompt_tokens"] for r in rows} == {"3", "7"}  # the master's prompts, on every worker
        assert {r["completion_tokens"] for r in rows} == {"8"}
        assert all(r["worker"] != "local" and r["request_id"].startswith(r["worker"] + "-") for r in rows)
    overall = read_json(out / "overall_summary.json")
    assert overall["run"]["completed"] is True and overall["partial_stages"] == []
    assert sum(overall["run"]["records_by_worker"].values()) == 32


def test_processes_flag_gives_the_same_files(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "20", "--chunk-ms", "3")
    out = tmp_path / "out"
    result = subprocess.run(
        locust_cmd("--headless", "--only-summary", "--processes", "2", "--host", mock.url, "--model", "mock-model",
                   "--stream", "--concurrency", "2,4", "--requests-per-stage", "16", "--max-tokens", "8",
                   "--outdir", str(out), "--no-report"),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    by_stage = check_exact(out, (2, 4), 16)
    assert len({r["worker"] for r in by_stage[4]}) == 2


def test_killed_worker_is_reported_and_nothing_of_the_survivor_is_lost(tmp_path, mock_engine):
    mock = mock_engine("--ttft-ms", "40", "--chunk-ms", "10")
    out = tmp_path / "out"

    def kill_a_worker(port, workers):
        wait_for_rows(out / "requests_c4.csv", 3)
        os.kill(workers[0].pid, signal.SIGKILL)

    run_with_two_workers(tmp_path, mock.url, out, kill_a_worker,
                         "--concurrency", "2,4", "--requests-per-stage", "40", "--max-tokens", "30")
    rows = read_rows(out / "requests_c4.csv")
    assert len(rows) == 40
    overall = read_json(out / "overall_summary.json")
    lost = overall["run"]["lost_workers"]
    assert len(lost) == 1
    (lost_id, info), = lost.items()
    assert info["stage"] == 2 and info["lost_in_flight"] >= 0
    survivor = {r["worker"] for r in rows} - {lost_id}
    assert len(survivor) == 1
    survivor_id = survivor.pop()
    ids = sorted(int(r["request_id"].rsplit("-", 1)[1]) for stage in (2, 4)
                 for r in read_rows(out / f"requests_c{stage}.csv") if r["worker"] == survivor_id)
    assert ids == list(range(1, len(ids) + 1))  # every request the survivor made has its record


def test_worker_joining_mid_stage_takes_over_part_of_the_stage(tmp_path, mock_engine):
    """Locust moves users to a worker that joins; the unsent requests follow them."""
    mock = mock_engine("--ttft-ms", "40", "--chunk-ms", "10")
    out = tmp_path / "out"

    def add_a_worker(port, workers):
        # the first stage has begun; it lasts about 8 s, longer than a worker takes to start and join
        wait_for_rows(out / "requests_c4.csv", 1)
        workers += start_workers(port, 1, tmp_path, name="late")

    run_with_two_workers(tmp_path, mock.url, out, add_a_worker,
                         "--concurrency", "4,6", "--requests-per-stage", "96", "--max-tokens", "30")
    by_stage = check_exact(out, (4, 6), 96)
    stages = read_json(out / "overall_summary.json")["run"]["stages"]
    assert len(stages[0]["joined_workers"]) == 1 and stages[1]["joined_workers"] == []
    late = stages[0]["joined_workers"][0]
    # it took over part of the others' unsent requests in the stage it joined, exactly as recorded
    assert stages[0]["shares"].get(late, 0) >= 1 and sum(stages[0]["shares"].values()) == 96
    assert {w: sum(r["worker"] == w for r in by_stage[4]) for w in stages[0]["shares"]} == stages[0]["shares"]
    assert len({r["worker"] for r in by_stage[6]}) == 3
