"""The HTTP side of one request against a scripted raw server: what is sent, and when events count."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from llmbench_locust.client import LLMClient, api_path, ENDPOINTS
from llmbench_locust.options import RunConfig
from llmbench_locust.prompts import from_system_user
from llmbench_locust.request import build_request


class ScriptedServer:
    """Accepts one connection per script; records the request and plays (delay_s, bytes) steps."""

    def __init__(self, scripts):
        self.scripts = list(scripts)
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for script in self.scripts:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                for delay, chunk in script:
                    time.sleep(delay)
                    conn.sendall(chunk)


def sse_response(*steps):
    head = (0.0, b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    return [head, *steps]


def config(url, **kw):
    values = dict(base_url=url, model="m", endpoint="chat.completions", concurrency=(1,), requests_per_stage=1,
                  stage_duration=0.0, warmup_requests=0, stream=True, max_tokens=5, system="sys", user="hello",
                  prompt_file="", outdir="o", timeout=5.0, extra_body={"ignore_eos": True},
                  headers=(("X-Custom", "yes"),), api_key="sk-k")
    values.update(kw)
    return RunConfig(**values)


def send(cfg, request_id="r-1"):
    client = LLMClient(cfg.base_url, cfg.endpoint, cfg.timeout, cfg.api_key, cfg.headers)
    try:
        return client.send(build_request(cfg, from_system_user(cfg.system, cfg.user)[0]), cfg.stream, request_id)
    finally:
        client.close()


DONE = b"data: [DONE]\n\n"


def delta(text):
    return b"data: " + json.dumps({"choices": [{"delta": {"content": text}}]}).encode() + b"\n\n"


def test_request_carries_body_headers_and_no_compression():
    server = ScriptedServer([sse_response((0, delta("a") + DONE))])
    measurement, _ = send(config(server.url))
    assert measurement.ok
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    headers = {l.split(b":")[0].lower(): l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")[1:]}
    assert head.startswith(b"POST /v1/chat/completions ")
    assert headers[b"authorization"] == b"Bearer sk-k" and headers[b"accept-encoding"] == b"identity"
    assert headers[b"x-custom"] == b"yes" and headers[b"x-request-id"] == b"r-1"
    assert headers[b"accept"] == b"text/event-stream"
    sent = json.loads(body)
    assert sent == {"model": "m", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}],
                    "stream": True, "max_tokens": 5, "stream_options": {"include_usage": True}, "ignore_eos": True}


def test_responses_body():
    completed = b'event: response.completed\ndata: {"type":"response.completed","response":{"usage":{"input_tokens":2,"output_tokens":1}}}\n\n'
    text = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"x"}\n\n'
    server = ScriptedServer([sse_response((0, text + completed))])
    measurement, _ = send(config(server.url + "/v1", endpoint="responses"))
    assert measurement.ok and measurement.completion_tokens == 1 and measurement.tokens_source == "usage"
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/responses ")  # a base URL ending in /v1 is not doubled
    sent = json.loads(body)
    assert sent["max_output_tokens"] == 5 and "max_tokens" not in sent and "stream_options" not in sent
    assert sent["input"][1] == {"role": "user", "content": "hello"}


def test_events_count_when_they_arrive_not_when_the_stream_ends():
    # role chunk at once, a comment, the first token 150 ms later split across two packets, more after 300 ms
    role = b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    first = delta("hi")
    server = ScriptedServer([sse_response(
        (0.0, role + b": keep-alive\n\n"),
        (0.15, first[:7]),
        (0.01, first[7:]),
        (0.3, delta(" there") + DONE),
    )])
    measurement, _ = send(config(server.url))
    assert measurement.ok and measurement.tokens_source == "chunks" and measurement.completion_tokens == 2
    assert 155 <= measurement.ttft_ms <= 200
    assert 455 <= measurement.latency_ms <= 520
    assert measurement.icl_ms[0] == pytest.approx(300, abs=40)


def test_crlf_stream_and_cut_connection():
    crlf = delta("a").replace(b"\n", b"\r\n")
    server = ScriptedServer([
        sse_response((0, crlf + DONE.replace(b"\n", b"\r\n"))),
        sse_response((0, delta("a"))),  # closes without [DONE]
    ])
    ok, _ = send(config(server.url))
    assert ok.ok
    cut, _ = send(config(server.url))
    assert not cut.ok and cut.error_type == "truncated_stream"


def test_timeout_and_refused_connection():
    server = ScriptedServer([sse_response((0, delta("a")), (3.0, DONE))])
    slow, _ = send(config(server.url, timeout=0.5))
    assert slow.error_type == "timeout" and 480 <= slow.latency_ms <= 800
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused, _ = send(config(f"http://127.0.0.1:{port}"))
    assert refused.error_type == "connection" and refused.http_status is None


def test_api_path():
    chat = ENDPOINTS["chat.completions"]
    assert api_path("http://h:1", chat) == "/v1/chat/completions"
    assert api_path("http://h:1/v1/", chat) == "/v1/chat/completions"
    assert api_path("https://h/proxy", chat) == "/proxy/v1/chat/completions"


def test_kept_alive_connection_closed_by_the_server_is_replaced_once():
    """The server answers with keep-alive, then drops the connection as the next request arrives
    (the race llama.cpp's server shows after a stream); the request goes again on a new connection."""
    chunked = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    payload = delta("a") + DONE
    body = chunked + hex(len(payload))[2:].encode() + b"\r\n" + payload + b"\r\n0\r\n\r\n"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    connections = []

    def serve():
        for _ in range(2):
            conn, _ = listener.accept()
            connections.append(conn)
            conn.recv(65536)
            conn.sendall(body)
            if len(connections) == 1:
                conn.recv(65536)  # the next request arrives on the kept-alive connection ...
                conn.close()  # ... and is dropped unanswered
            else:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    cfg = config(f"http://127.0.0.1:{listener.getsockname()[1]}")
    client = LLMClient(cfg.base_url, cfg.endpoint, cfg.timeout, cfg.api_key, cfg.headers)
    prompt = from_system_user("", "hi")[0]
    try:
        first, _ = client.send(build_request(cfg, prompt), True, "r-1")
        second, _ = client.send(build_request(cfg, prompt), True, "r-2")
    finally:
        client.close()
        listener.close()
    assert first.ok and second.ok, (first.error, second.error)
    assert len(connections) == 2
