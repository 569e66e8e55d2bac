"""Locust entry point: `locust -f locustfiles/llm.py --host URL --model M ...`.

Importing the package's user, ladder shape and plugin is all it takes; every option is a Locust
option (see `locust -f locustfiles/llm.py --help`, group "llmbench").
"""

from llmbench_locust.ladder import ConcurrencyLadder  # noqa: F401
from llmbench_locust.user import LLMUser  # noqa: F401
