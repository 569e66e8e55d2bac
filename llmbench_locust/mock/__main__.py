"""``python -m llmbench_locust.mock``: run the mock engine (see ``--help``)."""

import sys

from .server import main

sys.exit(main())
