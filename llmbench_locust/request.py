"""The body of one request, from the run's config and a prompt."""

from __future__ import annotations

from .options import RunConfig
from .prompts import Prompt
from .protocol import chat, responses


def build_request(config: RunConfig, prompt: Prompt, max_tokens: int | None = None) -> dict:
    limit = config.max_tokens if max_tokens is None else max_tokens
    if config.endpoint == "responses":
        return responses.build_body(config.model, prompt.as_input(), limit, config.stream, config.extra_body)
    return chat.build_body(config.model, prompt.as_messages(), limit, config.stream, config.extra_body)
