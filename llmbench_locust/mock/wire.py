"""The OpenAI wire formats the mock speaks: reading request bodies and rendering replies.

Hot paths (one SSE event per decode step) splice the text into JSON pre-rendered once per
request, so a chunk costs a few byte joins rather than a ``json.dumps``.

Token accounting is deliberately simple and documented: the prompt token count is the number
of whitespace-separated words in every text the request carries (chat message contents,
Responses ``input`` and ``instructions``), at least 1; every generated token is the text
``"tok "``.
"""

from __future__ import annotations

import json
import time
from typing import Any

TOKEN_TEXT = "tok "
_HOLE = "\x00hole\x00"
_INT_HOLE = "\x00int\x00"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class Template:
    """JSON with holes, rendered by splicing already-escaped bytes between fixed parts.

    A ``_HOLE`` string value takes JSON-escaped text (the quotes stay); an ``_INT_HOLE``
    value takes a bare number.
    """

    def __init__(self, obj: Any) -> None:
        text = json.dumps(obj, separators=(",", ":"))
        text = text.replace(json.dumps(_INT_HOLE), json.dumps(_HOLE)[1:-1])
        self.parts = text.encode().split(json.dumps(_HOLE)[1:-1].encode())

    def fill(self, *values: bytes) -> bytes:
        out = [self.parts[0]]
        for value, part in zip(values, self.parts[1:]):
            out.append(value)
            out.append(part)
        return b"".join(out)


def error_body(status: int, message: str, kind: str) -> bytes:
    return dumps({"error": {"message": message, "type": kind, "param": None, "code": status}})


def text_of(tokens: int) -> str:
    return TOKEN_TEXT * tokens


def _count_words(value: Any) -> int:
    """Words in a content value: a string, or a list of parts carrying ``text``."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_words(part.get("text", "") if isinstance(part, dict) else part)
                   for part in value)
    return 0


def prompt_tokens(body: dict[str, Any], endpoint: str) -> int:
    """The documented prompt token count: words across all input texts, at least 1."""
    if endpoint == "chat":
        messages = body.get("messages") or []
        words = sum(_count_words(m.get("content")) for m in messages if isinstance(m, dict))
    else:
        raw = body.get("input")
        items = raw if isinstance(raw, list) else [raw]
        words = sum(_count_words(i.get("content", i.get("text")) if isinstance(i, dict) else i)
                    for i in items)
        words += _count_words(body.get("instructions"))
    return max(words, 1)


def validate(body: Any, endpoint: str) -> str | None:
    """Why the body is not a usable request, or None."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if endpoint == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty list"
    elif not isinstance(body.get("input"), (str, list)) or not body.get("input"):
        return "'input' must be a non-empty string or list"
    return None


def max_tokens(body: dict[str, Any], endpoint: str, default: int) -> int:
    """Requested output length; raises ValueError when it is not a positive integer."""
    names = ("max_completion_tokens", "max_tokens") if endpoint == "chat" else ("max_output_tokens",)
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"'{name}' must be a positive integer")
        return value
    return default


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


class ChatWire:
    """``/v1/chat/completions``: chunks, usage chunk, ``[DONE]``, and the plain completion."""

    repeats = True  # a mid-stream chunk's bytes depend only on its token count

    def __init__(self, rid: str, model: str, prompt: int) -> None:
        self.rid = f"chatcmpl-{rid}"
        self.model = model
        self.prompt = prompt
        self.created = int(time.time())
        self._delta = Template(self._chunk({"content": _HOLE}, None))
        self._last = Template(self._chunk({"content": _HOLE}, "length"))

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {"id": self.rid, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}]}

    def opening(self, role_chunk: bool) -> list[bytes]:
        if not role_chunk:
            return []
        return [sse(dumps(self._chunk({"role": "assistant", "content": ""}, None)))]

    def delta(self, text: bytes, last: bool) -> bytes:
        return sse((self._last if last else self._delta).fill(text))

    def closing(self, completion: int, usage: bool, done: bool, text: str) -> list[bytes]:
        events = []
        if usage:
            events.append(sse(dumps({"id": self.rid, "object": "chat.completion.chunk",
                                     "created": self.created, "model": self.model,
                                     "choices": [], "usage": self._usage(completion)})))
        if done:
            events.append(b"data: [DONE]\n\n")
        return events

    def empty_finish(self) -> list[bytes]:
        return [sse(dumps(self._chunk({}, "stop")))]

    def error_events(self, message: str) -> list[bytes]:
        return [sse(dumps({"error": {"message": message, "type": "server_error",
                                     "param": None, "code": 500}}))]

    def body(self, text: str, completion: int, usage: bool) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "id": self.rid, "object": "chat.completion", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None,
                         "finish_reason": "length" if completion else "stop"}],
        }
        if usage:
            reply["usage"] = self._usage(completion)
        return reply

    def _usage(self, completion: int) -> dict[str, int]:
        return {"prompt_tokens": self.prompt, "completion_tokens": completion,
                "total_tokens": self.prompt + completion}


class ResponsesWire:
    """``/v1/responses``: the typed event sequence ending with ``response.completed``."""

    repeats = False  # every event carries its own sequence_number

    def __init__(self, rid: str, model: str, prompt: int) -> None:
        self.rid = f"resp_{rid}"
        self.item = f"msg_{rid}"
        self.model = model
        self.prompt = prompt
        self.created = int(time.time())
        self._seq = 0
        self._delta = Template({"type": "response.output_text.delta", "sequence_number": _INT_HOLE,
                                **self._where(), "delta": _HOLE, "logprobs": []})

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.item, "output_index": 0, "content_index": 0}

    def _emit(self, name: str, **fields: Any) -> bytes:
        payload = dumps({"type": name, "sequence_number": self._next(), **fields})
        return named_sse(name, payload)

    def _next(self) -> int:
        self._seq += 1
        return self._seq - 1

    def response(self, status: str, text: str | None, completion: int,
                 usage: bool, error: dict[str, Any] | None = None) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": self.rid, "object": "response", "created_at": self.created, "status": status,
            "error": error, "incomplete_details": None, "model": self.model,
            "output": [] if text is None else [self._item("completed", text)],
            "usage": None,
        }
        if usage and text is not None:
            obj["usage"] = {"input_tokens": self.prompt, "output_tokens": completion,
                            "total_tokens": self.prompt + completion,
                            "input_tokens_details": {"cached_tokens": 0},
                            "output_tokens_details": {"reasoning_tokens": 0}}
        elif not usage:
            del obj["usage"]
        return obj

    def _item(self, status: str, text: str | None) -> dict[str, Any]:
        content = [] if text is None else [_part(text)]
        return {"id": self.item, "type": "message", "status": status, "role": "assistant",
                "content": content}

    def opening(self, role_chunk: bool) -> list[bytes]:
        initial = self.response("in_progress", None, 0, True)
        return [
            self._emit("response.created", response=initial),
            self._emit("response.in_progress", response=initial),
            self._emit("response.output_item.added", output_index=0,
                       item=self._item("in_progress", None)),
            self._emit("response.content_part.added", **self._where(), part=_part("")),
        ]

    def delta(self, text: bytes, last: bool) -> bytes:
        number = str(self._next()).encode()
        return named_sse("response.output_text.delta", self._delta.fill(number, text))

    def closing(self, completion: int, usage: bool, done: bool, text: str) -> list[bytes]:
        events = [
            self._emit("response.output_text.done", **self._where(), text=text, logprobs=[]),
            self._emit("response.content_part.done", **self._where(), part=_part(text)),
            self._emit("response.output_item.done", output_index=0,
                       item=self._item("completed", text)),
        ]
        if done:
            events.append(self._emit("response.completed",
                                     response=self.response("completed", text, completion, usage)))
        return events

    def empty_finish(self) -> list[bytes]:
        return []

    def error_events(self, message: str) -> list[bytes]:
        error = {"code": "server_error", "message": message}
        return [
            self._emit("error", code="server_error", message=message, param=None),
            self._emit("response.failed",
                       response=self.response("failed", None, 0, False, error=error)),
        ]

    def body(self, text: str, completion: int, usage: bool) -> dict[str, Any]:
        return self.response("completed", text, completion, usage)


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def sse(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def named_sse(name: str, payload: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


MALFORMED_EVENT = b'data: {"choices": [\n\n'
KEEPALIVE_COMMENT = b": keep-alive\n\n"
