"""Time and peak memory of `llmbench report` on 100,000 request rows in 8 stages.

Each measurement runs in a fresh subprocess so peak RSS (ru_maxrss) belongs to that step alone.
The baseline is the cost of merely reading the same request CSVs with pandas, measured in the
same run, so the report's own overhead is visible beside it.

    python scripts/bench_report.py [--rows 100000] [--stages 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, glob
mode, folder = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if mode == "read_csv":
    import pandas as pd
    rows = sum(len(pd.read_csv(p)) for p in glob.glob(folder + "/requests_c*.csv"))
elif mode == "import":
    import llmbench_locust.report.build  # noqa: F401
    rows = 0
else:
    from llmbench_locust.report import build_report
    import llmbench_locust.report.build  # noqa: F401
    t0 = time.perf_counter()
    build_report(folder, png=(mode == "report_png"))
    rows = 0
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": rows}))
"""


def run(mode: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(folder)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--stages", type=int, default=8)
    p.add_argument("--keep", help="build the folder here and keep it")
    p.add_argument("--png", action="store_true", help="also time report generation with --png")
    args = p.parse_args(argv)

    from llmbench_locust.report.synthetic import Scenario, build

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-report-"))
    ladder = [2 ** i for i in range(args.stages)]
    started = time.perf_counter()
    build(folder, Scenario(concurrency=ladder, requests_per_stage=args.rows // args.stages, slots=16))
    size = sum(f.stat().st_size for f in folder.glob("requests_c*.csv"))
    print(f"synthetic folder: {folder} — {args.rows:,} request rows in {args.stages} stages "
          f"({size / 2**20:.1f} MiB of CSV), built in {time.perf_counter() - started:.1f} s")

    modes = ["read_csv", "import", "report"] + (["report_png"] if args.png else [])
    results = {m: run(m, folder) for m in modes}
    report = folder / "report.html"
    print(f"{'step':<38}{'seconds':>10}{'peak RSS MiB':>15}")
    labels = {"read_csv": "baseline: pd.read_csv of the same rows", "import": "baseline: import report modules",
              "report": "build_report (full report)", "report_png": "build_report --png"}
    for m in modes:
        r = results[m]
        print(f"{labels[m]:<38}{r['seconds']:>10.2f}{r['peak_rss_mib']:>15.0f}")
    print(f"report.html: {report.stat().st_size / 2**20:.2f} MiB")
    ok = results["report"]["seconds"] < 10 and results["report"]["peak_rss_mib"] < 1024
    print("target (< 10 s, < 1 GiB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
