"""The locustfile `llmbench run` uses; `locustfiles/llm.py` is the same for plain `locust -f`."""

from llmbench_locust.ladder import ConcurrencyLadder  # noqa: F401
from llmbench_locust.user import LLMUser  # noqa: F401
