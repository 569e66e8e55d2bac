"""The master's side of the ladder: opens each stage once its users are all running, splits the
quota across nodes, and moves on only when every node has finished its share.

Users are added or removed only between stages, when no request is in flight, so no request is
ever cut off by a stage change.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from .stages import Stage, split_quota

logger = logging.getLogger(__name__)

STAGE_MESSAGE = "llmbench_stage"
DONE_MESSAGE = "llmbench_share_done"


@dataclass
class StageRun:
    """What happened to one stage: when it ran and which node did what."""

    stage: Stage
    opened_epoch: float | None = None
    finished_epoch: float | None = None
    shares: dict[str, int | None] = field(default_factory=dict)
    done: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.finished_epoch is not None

    def as_dict(self) -> dict:
        return {
            "stage": self.stage.number,
            "concurrency": self.stage.concurrency,
            "requests": self.stage.requests,
            "duration_s": self.stage.duration_s,
            "opened_epoch": self.opened_epoch,
            "finished_epoch": self.finished_epoch,
            "shares": dict(self.shares),
            "sent": {node: sent for node, (sent, _) in self.done.items()},
        }


class LadderController:
    """State machine of the ladder. ``send(msg_type, data, node)`` reaches a node's StageNode."""

    def __init__(
        self,
        plan: tuple[Stage, ...],
        users_by_node: Callable[[], dict[str, int]],
        send: Callable[[str, dict, str], None],
        on_stage_finished: Callable[[StageRun], None] = lambda run: None,
    ) -> None:
        self.plan = plan
        self._users_by_node = users_by_node
        self._send = send
        self._on_stage_finished = on_stage_finished
        self.runs = [StageRun(stage) for stage in plan]
        self.position = 0
        self.stopped = False

    @property
    def current(self) -> StageRun | None:
        return self.runs[self.position] if self.position < len(self.runs) else None

    @property
    def finished(self) -> bool:
        return self.position >= len(self.runs)

    def target_users(self) -> int | None:
        """Users the runner should have now; None once the ladder is done."""
        run = self.current
        return None if run is None or self.stopped else run.stage.concurrency

    def users_ready(self, user_count: int) -> None:
        """The runner reports all users running; open the current stage if they are its users."""
        run = self.current
        if run is None or self.stopped or run.opened_epoch is not None:
            return
        if user_count != run.stage.concurrency:
            return
        users = {node: count for node, count in self._users_by_node().items()}
        stage = run.stage
        shares: dict[str, int | None]
        if stage.requests is not None:
            shares = dict(split_quota(stage.requests, users))
        else:
            shares = {node: None for node in users}
        run.shares = shares
        run.opened_epoch = time.time()
        logger.info("stage %s opened: %s", stage.label, shares)
        for node, share in shares.items():
            self._send(
                STAGE_MESSAGE,
                {
                    "position": stage.position,
                    "stage": stage.number,
                    "concurrency": stage.concurrency,
                    "share": share,
                    "duration_s": stage.duration_s,
                },
                node,
            )

    def share_done(self, node: str, position: int, sent: int, finished: int) -> None:
        run = self.current
        if run is None or run.stage.position != position or node not in run.shares:
            return
        run.done[node] = (sent, finished)
        if set(run.done) >= set(run.shares):
            self._finish(run)

    def node_lost(self, node: str) -> None:
        """A node vanished: its share no longer blocks the stage (re-assignment is the caller's)."""
        run = self.current
        if run is not None and node in run.shares and node not in run.done:
            run.done[node] = (0, 0)
            if set(run.done) >= set(run.shares):
                self._finish(run)

    def _finish(self, run: StageRun) -> None:
        run.finished_epoch = time.time()
        logger.info("stage %s finished", run.stage.label)
        self.position += 1
        self._on_stage_finished(run)

    def stop(self) -> None:
        self.stopped = True

    def partial_stages(self) -> list[StageRun]:
        """Stages that started but did not finish (a stopped run)."""
        return [run for run in self.runs if run.opened_epoch is not None and not run.finished]
