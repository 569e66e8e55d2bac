"""Prompts: ``--system/--user`` or a JSON/JSONL prompt file → conversations for either endpoint.

Prompt files are validated strictly and up front, with the line (JSONL) or item (JSON) and the
message number in every error, so a bad file fails before the first request rather than as a
stream of HTTP 400s in the middle of a run.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

__all__ = [
    "ROLES",
    "Prompt",
    "PromptFileError",
    "PromptCycle",
    "from_system_user",
    "load_prompt_file",
    "parse_conversation",
]

ROLES = ("system", "user", "assistant", "developer", "tool")


class PromptFileError(ValueError):
    """A prompt file that cannot be used; the message names the file and the place."""


@dataclass(frozen=True)
class Prompt:
    """One conversation: chat ``messages``, or a Responses API ``input`` (string or item list).

    Exactly one of the two is set. The accessors return fresh copies so a request builder can
    never alter the shared prompt.
    """

    messages: tuple[dict, ...] | None = None
    input: str | list | None = None

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.input is None):
            raise ValueError("Prompt needs exactly one of 'messages' or 'input'")

    def as_messages(self) -> list[dict]:
        """Chat Completions ``messages``: a Responses input string becomes one user message."""
        if self.messages is not None:
            return copy.deepcopy(list(self.messages))
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        return [
            {"role": item["role"], "content": _content_for_chat(item["content"])}
            for item in self.input
        ]

    def as_input(self) -> str | list[dict]:
        """Responses API ``input``: messages become ``{"role", "content"}`` items."""
        if self.input is not None:
            return copy.deepcopy(self.input)
        return [
            {"role": m["role"], "content": _content_for_responses(m["role"], m["content"])}
            for m in self.messages
        ]


def _content_for_responses(role: str, content: Any) -> Any:
    """Chat content parts → Responses parts (``text`` → ``input_text``/``output_text``, images)."""
    if isinstance(content, str):
        return content
    text_type = "output_text" if role == "assistant" else "input_text"
    parts = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": text_type, "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append({"type": "input_image", "image_url": url})
        else:
            parts.append(copy.deepcopy(part))
    return parts


def _content_for_chat(content: Any) -> Any:
    """Responses content parts → chat parts (``input_text``/``output_text`` → ``text``, images)."""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image" and "image_url" in part:
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            parts.append(copy.deepcopy(part))
    return parts


def from_system_user(system: str | None, user: str) -> list[Prompt]:
    """``--system/--user`` → one one-turn conversation; an empty system prompt is left out."""
    if not isinstance(user, str) or not user.strip():
        raise ValueError("--user: the user prompt is empty")
    messages = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    return [Prompt(messages=tuple(messages))]


# ---------------------------------------------------------------------------------------------
# Prompt files
# ---------------------------------------------------------------------------------------------


def load_prompt_file(path: str | os.PathLike) -> list[Prompt]:
    """Read a ``.jsonl`` (one conversation per non-empty line) or ``.json`` (one or a list) file.

    Any other extension is detected by content: a single JSON document first, then JSONL.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise PromptFileError(f"{name}: cannot read prompt file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptFileError(
            f"{name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    if not text.strip():
        raise PromptFileError(f"{name}: the file is empty")
    ext = os.path.splitext(name)[1].lower()
    if ext == ".jsonl":
        return _parse_jsonl(text, name)
    if ext == ".json":
        return _parse_json(text, name)
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return _parse_jsonl(text, name)
    return _parse_json(text, name)


def _parse_jsonl(text: str, name: str) -> list[Prompt]:
    prompts = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {lineno}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptFileError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        prompts.append(parse_conversation(value, where, error=PromptFileError))
    if not prompts:
        raise PromptFileError(f"{name}: the file has no prompts")
    return prompts


def _parse_json(text: str, name: str) -> list[Prompt]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptFileError(
            f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if isinstance(value, list):
        if not value:
            raise PromptFileError(f"{name}: the file has no prompts (empty list)")
        if isinstance(value[0], dict) and "role" in value[0]:
            # A bare messages list: one conversation.
            return [parse_conversation(value, name, error=PromptFileError)]
        return [
            parse_conversation(item, f"{name} item {index}", error=PromptFileError)
            for index, item in enumerate(value, start=1)
        ]
    return [parse_conversation(value, name, error=PromptFileError)]


def parse_conversation(value: Any, where: str = "prompt", error: type[ValueError] = ValueError) -> Prompt:
    """One conversation from decoded JSON: a messages list, ``{"messages"}``, ``{"input"}`` or a string.

    ``where`` prefixes every error message (e.g. ``prompts.jsonl line 7``).
    """
    if isinstance(value, str):
        if not value.strip():
            raise error(f"{where}: empty prompt string")
        return Prompt(messages=({"role": "user", "content": value},))
    if isinstance(value, list):
        return Prompt(messages=_validate_messages(value, where, error))
    if isinstance(value, dict):
        has_messages, has_input = "messages" in value, "input" in value
        if has_messages and has_input:
            raise error(f"{where}: has both 'messages' and 'input'; give one")
        if has_messages:
            if not isinstance(value["messages"], list):
                raise error(f"{where}: 'messages' must be a list of messages")
            return Prompt(messages=_validate_messages(value["messages"], where, error))
        if has_input:
            item = value["input"]
            if isinstance(item, str):
                if not item.strip():
                    raise error(f"{where}: 'input' is an empty string")
                return Prompt(input=item)
            if isinstance(item, list):
                return Prompt(input=[dict(m) for m in _validate_messages(item, where, error)])
            raise error(f"{where}: 'input' must be a string or a list of messages")
        if "role" in value:
            raise error(f"{where}: a single message; wrap it in a list or in {{\"messages\": [...]}}")
        raise error(f"{where}: expected a messages list, an object with 'messages' or 'input', or a string")
    raise error(
        f"{where}: expected a messages list, an object with 'messages' or 'input', or a string; "
        f"got {type(value).__name__ if value is not None else 'null'}"
    )


def _validate_messages(messages: list, where: str, error: type[ValueError]) -> tuple[dict, ...]:
    """Check every message strictly; numbering in errors starts at 1."""
    if not messages:
        raise error(f"{where}: the conversation has no messages")
    checked = []
    for index, message in enumerate(messages, start=1):
        label = f"{where}: message {index}"
        if not isinstance(message, dict):
            raise error(f"{label} is not an object")
        if "role" not in message:
            raise error(f"{label} has no 'role'")
        role = message["role"]
        if not isinstance(role, str) or role not in ROLES:
            raise error(f"{label} has role {json.dumps(role)}; expected one of {', '.join(ROLES)}")
        if "content" not in message:
            raise error(f"{label} has no 'content'")
        content = message["content"]
        if isinstance(content, list):
            for part_no, part in enumerate(content, start=1):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise error(f"{label} content part {part_no} is not an object with a string 'type'")
        elif not isinstance(content, str):
            raise error(f"{label} 'content' must be a string or a list of content parts")
        checked.append(copy.deepcopy(message))
    return tuple(checked)


class PromptCycle:
    """Hands out prompts round-robin, deterministically (``start`` offsets the first one)."""

    def __init__(self, prompts: Sequence[Prompt], start: int = 0) -> None:
        self._prompts = tuple(prompts)
        if not self._prompts:
            raise ValueError("PromptCycle needs at least one prompt")
        # itertools.count's next() is atomic under the GIL, so concurrent users never collide.
        self._counter = itertools.count(start)

    def next(self) -> Prompt:
        return self._prompts[next(self._counter) % len(self._prompts)]

    __next__ = next

    def __iter__(self) -> "PromptCycle":
        return self

    def __len__(self) -> int:
        return len(self._prompts)
