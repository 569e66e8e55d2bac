"""The Responses API: request bodies and the meaning of each response event."""

from __future__ import annotations

from typing import Any

from .events import NOTHING, Interpretation, Usage, as_int, bad_json, error_message, load_json_object

PATH = "/responses"

OUTPUT_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
        "response.function_call_arguments.delta",
        "response.refusal.delta",
    }
)
FAILED_EVENTS = frozenset({"response.failed", "error"})


def build_body(
    model: str, input: Any, max_tokens: int | None, stream: bool, extra: dict | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": input, "stream": stream}
    if max_tokens is not None:
        body["max_output_tokens"] = max_tokens
    if extra:
        body.update(extra)
    return body


def _usage(response: Any) -> Usage | None:
    if not isinstance(response, dict) or not isinstance(response.get("usage"), dict):
        return None
    usage = response["usage"]
    return Usage(as_int(usage.get("input_tokens")), as_int(usage.get("output_tokens")))


def _incomplete_for_length(response: Any) -> bool:
    """A response cut at max_output_tokens: the normal end of a benchmark request."""
    if not isinstance(response, dict):
        return False
    details = response.get("incomplete_details")
    return isinstance(details, dict) and details.get("reason") == "max_output_tokens"


def _failure(obj: dict) -> str:
    response = obj.get("response")
    if isinstance(response, dict) and response.get("error"):
        return error_message(response["error"])
    if obj.get("error") is not None:
        return error_message(obj["error"])
    if obj.get("message"):
        return error_message(obj)
    return f"{obj.get('type', 'error')} event"


def interpret_event(event: str, data: str) -> Interpretation:
    """One event of a Responses stream; the type is the ``event:`` field or the data's ``type``."""
    obj = load_json_object(data)
    if obj is None:
        return bad_json(data)
    kind = obj.get("type") if event in ("", "message") else event
    if not isinstance(kind, str):
        kind = ""
    if kind in OUTPUT_EVENTS:
        delta = obj.get("delta")
        return Interpretation(output=bool(delta)) if delta else NOTHING
    if kind == "response.completed":
        return Interpretation(usage=_usage(obj.get("response")), terminal=True)
    if kind == "response.incomplete":
        response = obj.get("response")
        if _incomplete_for_length(response):
            return Interpretation(usage=_usage(response), terminal=True)
        return Interpretation(
            error=f"response incomplete: {(response or {}).get('incomplete_details')}",
            error_type="server_error_event",
        )
    if kind in FAILED_EVENTS:
        return Interpretation(error=_failure(obj), error_type="server_error_event")
    return NOTHING


def _output_in(response: dict) -> bool:
    for item in response.get("output") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") in ("function_call", "custom_tool_call"):
            return True
        for part in item.get("content") or ():
            if isinstance(part, dict) and part.get("text"):
                return True
        for part in item.get("summary") or ():
            if isinstance(part, dict) and part.get("text"):
                return True
    return bool(response.get("output_text"))


def interpret_body(text: str) -> Interpretation:
    """A whole non-streamed Responses API response."""
    obj = load_json_object(text)
    if obj is None:
        return bad_json(text)
    if obj.get("error") is not None or obj.get("status") == "failed":
        return Interpretation(error=_failure({"response": obj, **obj}), error_type="server_error_event")
    if obj.get("status") == "incomplete" and not _incomplete_for_length(obj):
        return Interpretation(
            error=f"response incomplete: {obj.get('incomplete_details')}", error_type="server_error_event"
        )
    return Interpretation(output=_output_in(obj), usage=_usage(obj), terminal=True)
