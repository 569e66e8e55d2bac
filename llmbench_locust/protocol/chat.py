"""The chat.completions API: request bodies and the meaning of each response message."""

from __future__ import annotations

from typing import Any

from .events import NOTHING, Interpretation, Usage, as_int, bad_json, error_message, load_json_object

PATH = "/chat/completions"
DONE = "[DONE]"


def build_body(
    model: str, messages: list[dict], max_tokens: int | None, stream: bool, extra: dict | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stream:
        body["stream_options"] = {"include_usage": True}
    if extra:
        body.update(extra)
    return body


def _usage(obj: dict) -> Usage | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage(as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens")))


def _has_output(part: Any) -> bool:
    """True when a delta or message carries generated text, reasoning or tool calls."""
    if not isinstance(part, dict):
        return False
    for key in ("content", "reasoning_content", "reasoning"):
        value = part.get(key)
        if isinstance(value, str) and value:
            return True
        if isinstance(value, list) and value:
            return True
    return bool(part.get("tool_calls")) or bool(part.get("function_call"))


def _interpret(text: str, part: str, terminal: bool) -> Interpretation:
    """A chunk (``part`` = "delta") or a whole response (``part`` = "message")."""
    obj = load_json_object(text)
    if obj is None:
        return bad_json(text)
    if obj.get("error") is not None:
        return Interpretation(error=error_message(obj["error"]), error_type="server_error_event")
    choices = obj.get("choices")
    output = isinstance(choices, list) and any(
        isinstance(choice, dict) and _has_output(choice.get(part)) for choice in choices
    )
    usage = _usage(obj)
    if not (output or usage or terminal):
        return NOTHING
    return Interpretation(output=output, usage=usage, terminal=terminal)


def interpret_event(data: str) -> Interpretation:
    """One ``data:`` payload of a chat.completions stream."""
    if data.strip() == DONE:
        return Interpretation(terminal=True)
    return _interpret(data, "delta", terminal=False)


def interpret_body(text: str) -> Interpretation:
    """A whole non-streamed chat.completions response."""
    return _interpret(text, "message", terminal=True)
