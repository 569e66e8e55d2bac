"""The ladder as data: which stages run, and how a stage's request quota is split across nodes.

Pure, so the exact-count arithmetic is tested without Locust.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One step of the ladder. ``number`` 0 is the warm-up, kept out of the stage files."""

    position: int
    number: int
    concurrency: int
    requests: int | None  # None: limited by duration instead
    duration_s: float | None

    @property
    def is_warmup(self) -> bool:
        return self.number == 0

    @property
    def label(self) -> str:
        return "warm-up" if self.is_warmup else f"c={self.concurrency}"


def build_plan(
    concurrency: tuple[int, ...], requests_per_stage: int, stage_duration: float = 0.0, warmup_requests: int = 0
) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    if warmup_requests > 0:
        stages.append(Stage(0, 0, concurrency[0], warmup_requests, None))
    for number, users in enumerate(concurrency, start=1):
        if stage_duration > 0:
            stages.append(Stage(len(stages), number, users, None, stage_duration))
        else:
            stages.append(Stage(len(stages), number, users, requests_per_stage, None))
    return tuple(stages)


def split_quota(total: int, users_by_node: dict[str, int]) -> dict[str, int]:
    """Shares of ``total`` in proportion to each node's users; they always add up to ``total``.

    Largest remainder, ties broken by node id so every run splits the same way. Nodes without
    users get nothing; with no users anywhere the first node gets everything.
    """
    nodes = sorted(users_by_node)
    if not nodes:
        return {}
    users = sum(max(0, users_by_node[n]) for n in nodes)
    if users == 0:
        return {n: (total if i == 0 else 0) for i, n in enumerate(nodes)}
    exact = {n: total * max(0, users_by_node[n]) / users for n in nodes}
    shares = {n: int(exact[n]) for n in nodes}
    left = total - sum(shares.values())
    by_remainder = sorted(nodes, key=lambda n: (-(exact[n] - shares[n]), n))
    for n in by_remainder[:left]:
        shares[n] += 1
    return shares
