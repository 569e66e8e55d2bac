"""`llmbench run` builds the same locust command a user would type, and keeps secrets off it."""

from __future__ import annotations

from llmbench_locust import cli


def command(*argv: str) -> list[str]:
    return cli.locust_command(cli._run_parser().parse_args(["--base-url", "http://h:1", "--model", "m", *argv]))


def test_headless_by_default_with_the_seed_flags_forwarded():
    cmd = command("--concurrency", "1,2,4-8", "--requests-per-stage", "9", "--stream", "--max-tokens", "7",
                  "--header", "X-A: b", "--api-key", "sk-secret")
    assert "--headless" in cmd and "--only-summary" in cmd
    assert cmd[cmd.index("--host") + 1] == "http://h:1"
    assert cmd[cmd.index("--concurrency") + 1] == "1,2,4-8" and cmd[cmd.index("--max-tokens") + 1] == "7"
    assert "--stream" in cmd and cmd[cmd.index("--header") + 1] == "X-A: b"
    assert not any("sk-secret" in part for part in cmd)  # the key travels in the environment


def test_web_ui_binds_to_loopback_unless_told_otherwise():
    cmd = command("--web")
    assert "--headless" not in cmd
    assert cmd[cmd.index("--web-host") + 1] == "127.0.0.1" and cmd[cmd.index("--web-port") + 1] == "8089"
    shared = command("--web", "--web-host", "0.0.0.0", "--web-login")
    assert shared[shared.index("--web-host") + 1] == "0.0.0.0" and "--web-login" in shared


def test_processes_are_forwarded():
    assert command("--processes", "4")[-2:] == ["--processes", "4"]
    assert "--processes" not in command()


def test_bad_options_exit_2_before_locust_starts(capsys):
    assert cli.main(["run", "--base-url", "http://h:1", "--model", "m", "--concurrency", "0"]) == 2
    assert "concurrency item '0'" in capsys.readouterr().err
    assert cli.main(["nope"]) == 2
