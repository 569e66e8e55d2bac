"""The embedded mock LLM engine: an OpenAI-compatible server with a continuous-batching model.

It shares no code with the client side, so the two cannot agree by accident.
"""

from .server import MockHandle, build_parser, main, run_mock_in_thread

__all__ = ["MockHandle", "build_parser", "main", "run_mock_in_thread"]
