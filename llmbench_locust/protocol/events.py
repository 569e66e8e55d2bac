"""What one server message means for the measurement, whatever the API that sent it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class Interpretation:
    """One SSE event (or a whole non-streamed body) as the meter needs it.

    ``output`` is true only when the message carries generated text, reasoning or tool calls:
    role-only chunks, empty deltas and lifecycle events are not output, so they never count as
    the first token.
    """

    output: bool = False
    usage: Usage | None = None
    terminal: bool = False
    error: str | None = None
    error_type: str | None = None


NOTHING = Interpretation()


def bad_json(data: str) -> Interpretation:
    snippet = data if len(data) <= 80 else data[:77] + "..."
    return Interpretation(error=f"event data is not valid JSON: {snippet!r}", error_type="bad_json")


def load_json_object(data: str) -> dict[str, Any] | None:
    """The JSON object in ``data``, or None when it is not one."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def error_message(error: Any) -> str:
    """A readable message from an OpenAI-style ``error`` value (object, string or anything)."""
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or json.dumps(error)[:200]
        kind = error.get("type") or error.get("code")
        return f"{kind}: {message}" if kind and str(kind) not in str(message) else str(message)
    return str(error)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
