"""SPEC §2 on plain numbers: what counts as the first token, ITL, tokens, and each failure kind."""

from __future__ import annotations

import json

import pytest

from llmbench_locust.measure import RequestMeter, short_message
from llmbench_locust.protocol import chat, responses
from llmbench_locust.protocol.events import Interpretation, Usage


def chunk(content=None, role=None, usage=None, **delta_extra):
    delta = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    delta.update(delta_extra)
    obj = {"choices": [{"index": 0, "delta": delta}] if (delta or not usage) else []}
    if usage:
        obj["usage"] = usage
    return json.dumps(obj)


def test_role_only_and_empty_chunks_are_not_output():
    assert not chat.interpret_event(chunk(role="assistant", content="")).output
    assert not chat.interpret_event(chunk(content="")).output
    assert not chat.interpret_event(json.dumps({"choices": []})).output
    assert chat.interpret_event(chunk(content="hi")).output
    assert chat.interpret_event(chunk(reasoning_content="think")).output
    assert chat.interpret_event(chunk(reasoning="think")).output
    assert chat.interpret_event(chunk(tool_calls=[{"index": 0, "function": {"arguments": "{"}}])).output


def test_chat_usage_done_error_and_bad_json():
    meaning = chat.interpret_event(chunk(usage={"prompt_tokens": 5, "completion_tokens": 30}))
    assert meaning.usage == Usage(5, 30) and not meaning.output
    assert chat.interpret_event("[DONE]").terminal
    err = chat.interpret_event('{"error": {"message": "boom", "type": "server_error"}}')
    assert err.error_type == "server_error_event" and "boom" in err.error
    assert chat.interpret_event('{"choices": [').error_type == "bad_json"
    assert chat.interpret_event("[1, 2]").error_type == "bad_json"


def test_responses_events():
    assert not responses.interpret_event("response.created", '{"type": "response.created"}').output
    assert not responses.interpret_event("response.output_item.added", '{"type": "x"}').output
    delta = responses.interpret_event("response.output_text.delta", '{"type": "response.output_text.delta", "delta": "hi"}')
    assert delta.output
    assert responses.interpret_event("", '{"type": "response.reasoning_text.delta", "delta": "r"}').output
    done = responses.interpret_event(
        "response.completed", '{"type": "response.completed", "response": {"usage": {"input_tokens": 3, "output_tokens": 9}}}'
    )
    assert done.terminal and done.usage == Usage(3, 9)
    cut = responses.interpret_event(
        "response.incomplete",
        '{"response": {"incomplete_details": {"reason": "max_output_tokens"}, "usage": {"input_tokens": 1, "output_tokens": 4}}}',
    )
    assert cut.terminal and cut.usage == Usage(1, 4) and not cut.error_type
    failed = responses.interpret_event("response.failed", '{"response": {"error": {"message": "oom"}}}')
    assert failed.error_type == "server_error_event" and "oom" in failed.error


def run_stream(times_and_meanings, stream=True, status=200, start=10.0, headers_at=10.01):
    meter = RequestMeter(start, stream)
    meter.headers(headers_at, status)
    for t, meaning in times_and_meanings:
        meter.message(t, meaning)
    return meter.result()


OUT = Interpretation(output=True)
DONE = Interpretation(terminal=True)


def test_streaming_timings_follow_spec():
    # role chunk at 6 ms must not be the first token; tokens at 151, 161, 171 ms
    result = run_stream(
        [
            (10.006, Interpretation()),
            (10.151, OUT),
            (10.161, OUT),
            (10.171, OUT),
            (10.172, Interpretation(usage=Usage(12, 9))),
            (10.173, DONE),
        ]
    )
    assert result.ok
    assert result.ttfb_ms == pytest.approx(10.0)
    assert result.ttft_ms == pytest.approx(151.0)
    assert result.latency_ms == pytest.approx(171.0)  # end = last output-bearing event
    assert result.generation_ms == pytest.approx(20.0)
    assert result.completion_tokens == 9 and result.prompt_tokens == 12 and result.tokens_source == "usage"
    assert result.itl_ms == pytest.approx(20.0 / 8)  # several tokens per chunk stay right
    assert result.icl_ms == pytest.approx([10.0, 10.0])
    assert result.output_events == 3


def test_no_usage_counts_chunks_and_says_so():
    result = run_stream([(10.1, OUT), (10.2, OUT), (10.3, DONE)])
    assert result.ok and result.completion_tokens == 2 and result.tokens_source == "chunks"
    assert result.prompt_tokens is None
    assert result.itl_ms == pytest.approx(100.0)


def test_single_token_has_no_itl():
    result = run_stream([(10.1, OUT), (10.1, Interpretation(usage=Usage(1, 1))), (10.2, DONE)])
    assert result.ok and result.itl_ms is None


def test_stream_without_terminal_is_truncated():
    result = run_stream([(10.1, OUT), (10.2, OUT)])
    assert not result.ok and result.error_type == "truncated_stream"
    assert result.latency_ms == pytest.approx(200.0)
    assert result.ttft_ms == pytest.approx(100.0)


def test_empty_output():
    result = run_stream([(10.1, Interpretation(usage=Usage(3, 0))), (10.2, DONE)])
    assert not result.ok and result.error_type == "empty_output"


def test_error_event_wins_over_later_consequences():
    error = Interpretation(error="server_error: boom", error_type="server_error_event")
    result = run_stream([(10.1, OUT), (10.2, error)])
    assert result.error_type == "server_error_event" and "boom" in result.error


def test_bad_json_event_fails_the_request():
    result = run_stream([(10.1, OUT), (10.2, chat.interpret_event("{oops")), (10.3, OUT), (10.4, DONE)])
    assert not result.ok and result.error_type == "bad_json"


@pytest.mark.parametrize("status,kind", [(400, "http_4xx"), (404, "http_4xx"), (429, "http_429"), (500, "http_5xx"), (503, "http_5xx")])
def test_http_status_kinds(status, kind):
    result = run_stream([], status=status)
    assert result.error_type == kind and result.http_status == status


def test_non_streaming_latency_is_the_body():
    meter = RequestMeter(1.0, stream=False)
    meter.headers(1.2, 200)
    meter.message(1.25, chat.interpret_body(json.dumps({"choices": [{"message": {"content": "hello"}}], "usage": {"prompt_tokens": 2, "completion_tokens": 5}})))
    result = meter.result()
    assert result.ok and result.ttft_ms is None and result.itl_ms is None
    assert result.latency_ms == pytest.approx(250.0) and result.generation_ms == pytest.approx(250.0)
    assert result.completion_tokens == 5 and result.tokens_source == "usage"


def test_non_streaming_empty_content_is_empty_output():
    meter = RequestMeter(1.0, stream=False)
    meter.headers(1.2, 200)
    meter.message(1.25, chat.interpret_body('{"choices": [{"message": {"role": "assistant", "content": ""}}]}'))
    assert meter.result().error_type == "empty_output"


def test_no_response_at_all_is_connection():
    meter = RequestMeter(1.0, stream=True)
    meter.fail(1.5, "connection", "ConnectionRefusedError: [Errno 111]")
    result = meter.result()
    assert result.error_type == "connection" and result.http_status is None and result.ttfb_ms is None


def test_short_message_is_one_bounded_line():
    text = "line one\nline\ttwo\x00" + "x" * 1000
    short = short_message(text)
    assert "\n" not in short and "\x00" not in short and len(short) <= 300
