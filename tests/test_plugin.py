"""Master/worker handshake and the per-run config, without a network."""

from __future__ import annotations

from types import SimpleNamespace


from llmbench_locust import __version__
from llmbench_locust.options import config_from_message, config_to_message
from llmbench_locust.plugin import REFUSE_MESSAGE, Bench, prompt_to_message
from llmbench_locust.prompts import parse_conversation


class FakeRunner:
    def __init__(self):
        self.sent = []
        self.quit_called = False

    def send_message(self, msg_type, data=None, client_id=None):
        self.sent.append((msg_type, data, client_id))

    def quit(self):
        self.quit_called = True


def test_master_refuses_a_worker_of_another_version(caplog):
    env = SimpleNamespace(runner=FakeRunner())
    Bench._on_hello(None, env, SimpleNamespace(data={"version": "0.0.1"}, node_id="w1"))
    assert env.runner.sent == [(REFUSE_MESSAGE, {"reason": f"llmbench-locust version 0.0.1 differs from the master's {__version__}"}, "w1")]
    assert "refusing worker w1" in caplog.text
    env.runner.sent.clear()
    Bench._on_hello(None, env, SimpleNamespace(data={"version": __version__}, node_id="w2"))
    assert env.runner.sent == []


def test_refused_worker_quits_with_exit_code_2(capsys):
    import gevent

    env = SimpleNamespace(runner=FakeRunner(), process_exit_code=None)
    Bench._on_refused(None, env, SimpleNamespace(data={"reason": "version 9 differs"}))
    gevent.sleep(0.3)
    assert env.process_exit_code == 2 and env.runner.quit_called
    assert "refused this worker: version 9 differs" in capsys.readouterr().err


def test_config_and_prompts_survive_the_trip_to_workers():
    from llmbench_locust.options import RunConfig

    config = RunConfig(
        base_url="http://127.0.0.1:1", model="m", endpoint="responses", concurrency=(1, 4), requests_per_stage=3,
        stage_duration=0.0, warmup_requests=1, stream=True, max_tokens=7, system="s", user="u", prompt_file="",
        outdir="o", timeout=5.0, extra_body={"ignore_eos": True}, headers=(("X-A", "b"),), api_key="k",
    )
    assert config_from_message(config_to_message(config)) == config
    assert "api_key" not in config.public()
    for raw in ({"messages": [{"role": "user", "content": "hi"}]}, {"input": "hello"}):
        prompt = parse_conversation(raw)
        assert parse_conversation(prompt_to_message(prompt)) == prompt
