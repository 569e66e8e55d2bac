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
MORE_MESSAGE = "llmbench_more"
RELEASE_MESSAGE = "llmbench_release"
RELEASED_MESSAGE = "llmbench_released"
DONE_MESSAGE = "llmbench_share_done"


@dataclass
class StageRun:
    """What happened to one stage: when it ran and which node did what."""

    stage: Stage
    opened_epoch: float | None = None
    finished_epoch: float | None = None
    shares: dict[str, int | None] = field(default_factory=dict)
    done: dict[str, tuple[int, int]] = field(default_factory=dict)
    lost: dict[str, dict] = field(default_factory=dict)
    joined: list[str] = field(default_factory=list)
    users: dict[str, int] = field(default_factory=dict)  # the settled user count per node
    recipients: dict[str, int] = field(default_factory=dict)  # nodes that gained users: their gain
    releasing: set[str] = field(default_factory=set)  # nodes asked to give requests back, no answer yet

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
            "lost_workers": dict(self.lost),
            "joined_workers": list(self.joined),
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

    def users_ready(self) -> None:
        """Open the current stage once every node has reported its users and they add up.

        Counts are taken per node, not from the runner's total: a master may declare spawning
        complete before every worker's report has arrived, and a stale split would leave users idle.
        """
        run = self.current
        if run is None or self.stopped or run.opened_epoch is not None:
            return
        users = {node: count for node, count in self._users_by_node().items() if count > 0}
        if sum(users.values()) != run.stage.concurrency:
            return
        stage = run.stage
        shares: dict[str, int | None]
        if stage.requests is not None:
            shares = {node: share for node, share in split_quota(stage.requests, users).items() if share > 0}
        else:
            shares = {node: None for node in users}
        run.shares = shares
        run.users = users
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
        share = run.shares[node]
        if share is not None and sent < share:
            return  # sent before it was given more: a stale report
        run.done[node] = (sent, finished)
        self._finish_if_complete(run)

    def node_lost(self, node: str, recorded: int, reported_sent: int) -> None:
        """A node died mid-stage: what it did not record is handed to the surviving nodes.

        ``recorded`` is how many of its requests of this stage reached the master and
        ``reported_sent`` how many it had last said it sent; the difference is lost in flight.
        The stage still ends with exactly its quota of records.
        """
        run = self.current
        if run is not None and node in run.joined and node not in run.shares and node not in run.lost:
            # joined and died before any requests reached it: what is being moved goes elsewhere
            run.lost[node] = {"share": 0, "recorded": recorded, "lost_in_flight": 0}
            run.recipients.pop(node, None)
            return
        if run is None or node not in run.shares or node in run.done or node in run.lost:
            return
        share = run.shares[node]
        run.lost[node] = {
            "share": share,
            "recorded": recorded,
            "lost_in_flight": max(0, reported_sent - recorded),
        }
        run.done[node] = (recorded, recorded)
        survivors = {
            n: count for n, count in self._users_by_node().items() if count > 0 and n not in run.lost and n != node
        }
        unfinished = 0 if share is None else max(0, share - recorded)
        if unfinished and survivors:
            for other, extra in split_quota(unfinished, survivors).items():
                if extra <= 0:
                    continue
                run.shares[other] = (run.shares.get(other) or 0) + extra
                run.done.pop(other, None)
                self._send(MORE_MESSAGE, {"position": run.stage.position, "extra": extra, "stage": run.stage.number,
                                          "concurrency": run.stage.concurrency}, other)
            logger.warning("worker %s lost in stage %s: %d requests re-assigned", node, run.stage.label, unfinished)
        run.releasing.discard(node)  # it will never answer
        run.recipients.pop(node, None)
        self._finish_if_complete(run)

    def users_moved(self) -> None:
        """Follow Locust when it moves users between workers mid-stage (it does when a worker joins).

        Once the per-node counts settle on the stage's concurrency again, every node that lost
        users gives back that fraction of its unsent requests, and what comes back goes to the
        nodes that gained users, in proportion: no node is left with requests and no users, and
        the stage keeps exactly its count.
        """
        run = self.current
        if run is None or run.opened_epoch is None or run.stage.requests is None:
            return
        now = {n: c for n, c in self._users_by_node().items() if c > 0 and n not in run.lost}
        if sum(now.values()) != run.stage.concurrency or now == run.users:
            return
        gains = {n: c - run.users.get(n, 0) for n, c in now.items() if c > run.users.get(n, 0)}
        losses = {n: 1 - now.get(n, 0) / c for n, c in run.users.items() if now.get(n, 0) < c}
        run.users = now
        for node in gains:
            if node not in run.shares and node not in run.joined:
                run.joined.append(node)
                logger.info("worker %s joined during stage %s", node, run.stage.label)
        run.recipients = gains
        for node, fraction in losses.items():
            if node in run.shares and node not in run.done and node not in run.lost:
                run.releasing.add(node)
                self._send(RELEASE_MESSAGE, {"position": run.stage.position, "fraction": fraction}, node)

    def released(self, node: str, position: int, given: int) -> None:
        """A node gave back ``given`` unsent requests (maybe none): to the nodes that gained users."""
        run = self.current
        if run is None or run.stage.position != position:
            return
        run.releasing.discard(node)
        if given > 0 and node in run.shares:
            run.shares[node] -= given
            targets = split_quota(given, run.recipients) if run.recipients else {node: given}
            for target, extra in targets.items():
                if extra <= 0:
                    continue
                run.shares[target] = (run.shares.get(target) or 0) + extra
                run.done.pop(target, None)
                self._send(MORE_MESSAGE, {"position": position, "extra": extra, "stage": run.stage.number,
                                          "concurrency": run.stage.concurrency}, target)
        self._finish_if_complete(run)

    def _finish_if_complete(self, run: StageRun) -> None:
        """Every node with a share has finished it, and no share is still being moved."""
        if set(run.done) >= set(run.shares) and not run.releasing:
            self._finish(run)

    def _finish(self, run: StageRun) -> None:
        run.finished_epoch = time.time()
        logger.info("stage %s finished", run.stage.label)
        self.position += 1
        self._on_stage_finished(run)
        self.users_ready()  # the next stage may need no change of users

    def stop(self) -> None:
        self.stopped = True

    def partial_stages(self) -> list[StageRun]:
        """Stages that started but did not finish (a stopped run)."""
        return [run for run in self.runs if run.opened_epoch is not None and not run.finished]
