"""locustfiles/llm_login.py: the web UI and the tool's routes sit behind Locust's --web-login."""

from __future__ import annotations

import importlib.util
import sys
from types import SimpleNamespace

import pytest
from locust import User, task
from locust.env import Environment

from conftest import ROOT
from llmbench_locust import webui


class _Idle(User):
    @task
    def nothing(self):
        pass


def _load_login_locustfile():
    spec = importlib.util.spec_from_file_location("llm_login", ROOT / "locustfiles" / "llm_login.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["locust"])
    monkeypatch.setenv("LLMBENCH_UI_USER", "bench")
    monkeypatch.setenv("LLMBENCH_UI_PASSWORD", "long-random-secret")
    module = _load_login_locustfile()
    environment = Environment(user_classes=[_Idle])
    environment.create_local_runner()
    web_ui = environment.create_web_ui("127.0.0.1", 0, web_login=True, delayed_start=True)
    environment.parsed_options = SimpleNamespace(web_base_path="", web_login=True, num_users=1, spawn_rate=1,
                                                 stats_history_enabled=False, run_time=None)
    webui.install(environment, SimpleNamespace(run=None, last_run=None))
    module._login(environment)
    yield web_ui.app.test_client(), module
    environment.runner.quit()


def test_pages_need_a_login_and_only_the_configured_user_gets_in(app):
    http, _ = app
    assert http.get("/").status_code in (302, 401)
    assert http.get("/llmbench/files").status_code in (302, 401)
    wrong = http.post("/login_submit", data={"username": "bench", "password": "guess"})
    assert wrong.status_code == 302 and "/login" in wrong.headers["Location"]
    assert http.get("/llmbench/files").status_code in (302, 401)
    right = http.post("/login_submit", data={"username": "bench", "password": "long-random-secret"})
    assert right.status_code == 302 and "/login" not in right.headers["Location"]
    assert http.get("/").status_code == 200


def test_no_configured_credentials_lets_nobody_in(app, monkeypatch):
    _, module = app
    monkeypatch.delenv("LLMBENCH_UI_PASSWORD")
    assert not module.credentials_match("bench", "")
