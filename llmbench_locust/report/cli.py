"""``llmbench report --indir DIR [--out FILE] [--png]``: argument parsing only."""

from __future__ import annotations

import argparse
import sys
import time


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmbench report",
                                description="Build the self-contained HTML report of a benchmark output folder.")
    p.add_argument("--indir", default="llm_bench_out", help="output folder of a run (default: %(default)s)")
    p.add_argument("--out", default=None, help="report file (default: INDIR/report.html)")
    p.add_argument("--png", action="store_true", help="also write each chart as a PNG beside the report")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .build import build_report

    started = time.perf_counter()
    try:
        path = build_report(args.indir, args.out, png=args.png)
    except FileNotFoundError as exc:
        print(f"llmbench report: {exc}", file=sys.stderr)
        return 2
    print(f"report: {path} ({time.perf_counter() - started:.1f} s)")
    if args.png:
        print(f"charts: {path.with_name(path.stem + '_charts')}/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
