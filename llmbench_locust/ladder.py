"""The concurrency ladder as a Locust LoadTestShape.

The shape only says how many users should run; the run's controller decides when a stage is
over (its quota finished), so ``tick`` asks it. Runs on the master or the local runner.
"""

from __future__ import annotations

from locust import LoadTestShape

from .plugin import bench_of


class ConcurrencyLadder(LoadTestShape):
    """Walks --concurrency stage by stage; each stage ends when its requests have all finished."""

    def tick(self):
        bench = bench_of(self.runner.environment)
        if bench is None:
            return None
        run = bench.ensure_run()
        if run is None:
            return None
        return run.tick()
