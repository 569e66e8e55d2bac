"""`llmbench run | demo | report | mock`.

`run` validates the seed's flags, then runs Locust headless in a child process with the package's
locustfile — the very path `locust -f locustfiles/llm.py --headless` takes, so both give the same
files. The API key travels in the child's environment, never on its command line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
from typing import Iterator, Sequence

from . import __version__
from .options import DEFAULT_OUTDIR, add_llm_arguments, config_from_options

LOCUSTFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locustfile.py")

# Options of `llmbench run` that are passed to the locust child under the same name.
FORWARDED = (
    "model",
    "endpoint",
    "concurrency",
    "requests_per_stage",
    "stage_duration",
    "warmup_requests",
    "max_tokens",
    "system",
    "user",
    "prompt_file",
    "outdir",
    "timeout",
    "extra_body",
    "saturation_qps_gain",
    "saturation_p99_rise",
    "error_onset_rate",
    "slo",
    "slo_min_concurrency",
    "baseline",
    "max_regression",
    "junit",
)
FLAGS = ("stream", "no_report", "skip_preflight")


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmbench run",
        description="Walk a concurrency ladder against an OpenAI-compatible server and write the results.",
    )
    parser.add_argument("--base-url", required=True, help="Server base URL, e.g. http://localhost:8000")
    add_llm_arguments(parser)
    parser.add_argument(
        "--processes", type=int, default=0, help="Fork N local Locust workers (use more than one core)"
    )
    parser.add_argument("--loglevel", default="WARNING", help="Locust log level (default WARNING)")
    parser.add_argument(
        "--web",
        action="store_true",
        help="Open Locust's web UI instead of running headless: start, watch, stop and re-run from the browser",
    )
    parser.add_argument(
        "--web-host", default="127.0.0.1", help="Interface the web UI listens on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--web-port", type=int, default=8089, help="Web UI port (default 8089)")
    parser.add_argument(
        "--web-login", action="store_true", help="Require a login for the web UI (README: Sharing the web UI)"
    )
    return parser


def locust_command(ns: argparse.Namespace) -> list[str]:
    """The `locust` command line equivalent to a `llmbench run` invocation (no secrets)."""
    if ns.web:
        mode = ["--web-host", ns.web_host, "--web-port", str(ns.web_port)] + (["--web-login"] if ns.web_login else [])
    else:
        mode = ["--headless", "--only-summary"]
    cmd = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, *mode, "--host", ns.base_url, "--loglevel", ns.loglevel]
    for name in FORWARDED:
        value = getattr(ns, name)
        if value is None or value == "":
            continue
        cmd += ["--" + name.replace("_", "-"), str(value)]
    for name in FLAGS:
        if getattr(ns, name):
            cmd.append("--" + name.replace("_", "-"))
    for header in ns.header or ():
        cmd += ["--header", header]
    if ns.processes and ns.processes > 1:
        cmd += ["--processes", str(ns.processes)]
    return cmd


def _validated(ns: argparse.Namespace) -> str | None:
    """The reason these options cannot run, or None; checked before any load is sent."""
    try:
        config = config_from_options(ns, ns.base_url)
    except ValueError as exc:
        return str(exc)
    if config.prompt_file:
        from .prompts import load_prompt_file

        try:
            load_prompt_file(config.prompt_file)
        except (OSError, ValueError) as exc:
            return str(exc)
    return None


def run_locust(cmd: list[str], api_key: str) -> int:
    """Run the locust child; Ctrl-C reaches it too (same process group) and we wait for its files."""
    env = dict(os.environ)
    if api_key:
        env["OPENAI_API_KEY"] = api_key
    child = subprocess.Popen(cmd, env=env)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue


def cmd_run(argv: Sequence[str]) -> int:
    ns = _run_parser().parse_args(argv)
    problem = _validated(ns)
    if problem:
        print(f"llmbench run: error: {problem}", file=sys.stderr)
        return 2
    return run_locust(locust_command(ns), ns.api_key or os.environ.get("OPENAI_API_KEY", ""))


@contextlib.contextmanager
def mock_server(args: Sequence[str]) -> Iterator[str]:
    """The embedded mock engine in a child process on a free 127.0.0.1 port; yields its base URL."""
    cmd = [sys.executable, "-m", "llmbench_locust.mock", "--port", "0", *args]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline() if child.stdout else ""
        match = re.search(r"(http://\S+)", line)
        if not match:
            raise RuntimeError(f"the mock engine did not start: {line!r}")
        yield match.group(1)
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


DEMO_ENGINE = ["--slots", "8", "--ttft-ms", "60", "--prefill-ms-per-token", "0.5", "--chunk-ms", "8",
               "--decode-ms-per-seq", "0.6", "--tokens-per-chunk", "2"]


def cmd_demo(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="llmbench demo", description="Run a short ladder against the embedded mock engine and write the report."
    )
    parser.add_argument("--outdir", default=DEFAULT_OUTDIR)
    parser.add_argument("--concurrency", default="1,2,4,8,16,32")
    parser.add_argument("--requests-per-stage", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    ns = parser.parse_args(argv)
    print("llmbench demo: starting the embedded mock engine (8 slots) on 127.0.0.1", flush=True)
    with mock_server(DEMO_ENGINE) as url:
        run_argv = [
            "--base-url", url, "--model", "mock-model", "--stream",
            "--concurrency", ns.concurrency, "--requests-per-stage", str(ns.requests_per_stage),
            "--max-tokens", str(ns.max_tokens), "--outdir", ns.outdir,
        ]
        return cmd_run(run_argv)


def cmd_mock(argv: Sequence[str]) -> int:
    from .mock.server import main

    return main(list(argv))


def cmd_report(argv: Sequence[str]) -> int:
    from .report.cli import main

    return main(list(argv))


COMMANDS = {"run": cmd_run, "demo": cmd_demo, "report": cmd_report, "mock": cmd_mock}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(f"llmbench {__version__}: load tests for OpenAI-compatible LLM servers\n")
        print("usage: llmbench {run,demo,report,mock} [options]   (llmbench COMMAND --help for each)")
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        print(__version__)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"llmbench: error: unknown command {args[0]!r} (choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
