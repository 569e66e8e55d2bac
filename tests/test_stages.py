"""The ladder's bookkeeping without Locust: plans, quota splits, tickets, the controller."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmbench_locust.controller import STAGE_MESSAGE, LadderController
from llmbench_locust.node import StageNode
from llmbench_locust.stages import build_plan, split_quota


def test_plan_with_warmup_and_counts():
    plan = build_plan((1, 2, 4), 12, warmup_requests=3)
    assert [(s.number, s.concurrency, s.requests) for s in plan] == [(0, 1, 3), (1, 1, 12), (2, 2, 12), (3, 4, 12)]
    assert plan[0].is_warmup and [s.position for s in plan] == [0, 1, 2, 3]


def test_plan_by_duration():
    plan = build_plan((2, 4), 12, stage_duration=5.0)
    assert all(s.requests is None and s.duration_s == 5.0 for s in plan)


def test_split_is_proportional_and_exact():
    assert split_quota(16, {"a": 2, "b": 2}) == {"a": 8, "b": 8}
    assert split_quota(10, {"a": 1, "b": 2}) == {"a": 3, "b": 7}
    assert split_quota(5, {"a": 0, "b": 3}) == {"a": 0, "b": 5}
    assert split_quota(7, {"a": 0, "b": 0}) == {"a": 7, "b": 0}


@given(st.integers(0, 10_000), st.dictionaries(st.text(min_size=1, max_size=4), st.integers(0, 300), min_size=1, max_size=8))
def test_split_always_adds_up(total, users):
    shares = split_quota(total, users)
    assert sum(shares.values()) == total and set(shares) == set(users)
    if sum(users.values()):
        assert all(shares[n] == 0 for n, u in users.items() if u == 0)


def test_node_hands_out_exactly_its_share_and_reports_once():
    reports = []
    node = StageNode(lambda *args: reports.append(args))
    assert node.take() is None
    node.open(position=1, stage=1, concurrency=2, share=3, duration_s=None)
    tickets = [node.take() for _ in range(5)]
    assert [t.stage for t in tickets if t] == [1, 1, 1] and tickets[3] is None and tickets[4] is None
    node.finish(tickets[0])
    node.finish(tickets[1])
    assert reports == []  # one request still in flight
    node.finish(tickets[2])
    assert reports == [(1, 3, 3)]
    node.poll()
    assert reports == [(1, 3, 3)]


def test_node_with_zero_share_reports_at_once_and_ignores_stale_messages():
    reports = []
    node = StageNode(lambda *args: reports.append(args))
    node.open(position=2, stage=2, concurrency=1, share=0, duration_s=None)
    assert reports == [(2, 0, 0)]
    node.open(position=1, stage=1, concurrency=1, share=5, duration_s=None)  # late duplicate of an older stage
    assert node.take() is None


def test_node_close_stops_tickets_and_never_calls_the_stage_done():
    reports = []
    node = StageNode(lambda *args: reports.append(args))
    node.open(position=0, stage=1, concurrency=1, share=10, duration_s=None)
    ticket = node.take()
    node.close()
    assert node.take() is None
    node.finish(ticket)
    assert reports == [] and node.in_flight == 0


def test_controller_walks_the_ladder_only_when_every_node_is_done():
    sent = []
    finished = []
    users = {"w1": 2, "w2": 2}
    plan = build_plan((2, 4), 16)
    ctl = LadderController(plan, lambda: dict(users), lambda t, d, n: sent.append((t, d, n)), finished.append)
    assert ctl.target_users() == 2
    ctl.users_ready()  # the nodes report 4 users, not the stage's 2: nothing opens
    assert sent == []
    users.update(w1=1, w2=1)
    ctl.users_ready()
    assert [(d["share"], n) for _, d, n in sent] == [(8, "w1"), (8, "w2")]
    assert all(t == STAGE_MESSAGE for t, _, _ in sent)
    ctl.share_done("w1", 0, 8, 8)
    assert ctl.target_users() == 2 and not finished
    ctl.share_done("w1", 0, 8, 8)  # repeated
    ctl.share_done("w2", 0, 8, 8)
    assert [run.stage.concurrency for run in finished] == [2] and ctl.target_users() == 4
    users.update(w1=2, w2=2)
    sent.clear()
    ctl.users_ready()
    assert [(d["share"], n) for _, d, n in sent] == [(8, "w1"), (8, "w2")]
    # w2 dies after 3 of its 8 requests reached the master (5 reported sent): w1 gets its other 5
    users.update(w2=0)
    ctl.node_lost("w2", recorded=3, reported_sent=5)
    assert sent[-1][0] == "llmbench_more" and sent[-1][1]["extra"] == 5 and sent[-1][2] == "w1"
    assert ctl.current.lost["w2"] == {"share": 8, "recorded": 3, "lost_in_flight": 2}
    ctl.share_done("w1", 1, 8, 8)
    assert not ctl.finished  # its first 8 are done, the 5 re-assigned are not
    ctl.share_done("w1", 1, 13, 13)
    assert ctl.finished and ctl.target_users() is None
    assert finished[-1].shares == {"w1": 13, "w2": 8}


def test_unsent_requests_follow_users_that_locust_moves_to_a_joining_worker():
    sent = []
    finished = []
    users = {"w1": 2, "w2": 2}
    ctl = LadderController(build_plan((4,), 40), lambda: dict(users), lambda t, d, n: sent.append((t, d, n)),
                           finished.append)
    ctl.users_ready()
    assert ctl.current.shares == {"w1": 20, "w2": 20}
    users.update(w3=1)  # Locust spawns on the joiner first ...
    ctl.users_moved()
    assert not [t for t, _, _ in sent if t == "llmbench_release"]  # ... 5 users: not settled yet
    users.update(w2=1)  # ... then stops one user elsewhere
    ctl.users_moved()
    releases = [(d["fraction"], n) for t, d, n in sent if t == "llmbench_release"]
    assert releases == [(0.5, "w2")] and ctl.current.joined == ["w3"]
    # w2 had 16 unsent of 20 and gives half of them back
    node = StageNode(lambda *args: None)
    node.open(0, 1, 4, 20, None)
    for _ in range(4):
        node.take()
    assert node.release(0, 0.5) == 8
    ctl.share_done("w1", 0, 20, 20)
    ctl.released("w2", 0, 8)
    assert ctl.current.shares == {"w1": 20, "w2": 12, "w3": 8}
    assert sent[-1][0] == "llmbench_more" and sent[-1][1]["extra"] == 8 and sent[-1][2] == "w3"
    ctl.share_done("w2", 0, 12, 12)
    assert not ctl.finished
    ctl.share_done("w3", 0, 8, 8)
    assert ctl.finished and sum(finished[0].shares.values()) == 40 and finished[0].joined == ["w3"]


def test_a_worker_left_without_users_gives_back_everything_unsent():
    sent = []
    users = {"w1": 1, "w2": 1}
    ctl = LadderController(build_plan((2,), 30), lambda: dict(users), lambda t, d, n: sent.append((t, d, n)))
    ctl.users_ready()
    users.update(w2=0, w3=1)  # its only user moved to the joiner
    ctl.users_moved()
    assert [(d["fraction"], n) for t, d, n in sent if t == "llmbench_release"] == [(1.0, "w2")]
    ctl.released("w2", 0, 10)
    assert ctl.current.shares == {"w1": 15, "w2": 5, "w3": 10}


def test_a_release_answered_after_the_joiner_died_goes_back():
    sent = []
    users = {"w1": 2, "w2": 1}
    ctl = LadderController(build_plan((3,), 30), lambda: dict(users), lambda t, d, n: sent.append((t, d, n)))
    ctl.users_ready()
    users.update(w1=1, w3=1)
    ctl.users_moved()
    ctl.node_lost("w3", recorded=0, reported_sent=0)
    ctl.released("w1", 0, 3)
    assert ctl.current.shares["w1"] == 20 and "w3" not in ctl.current.shares
    assert sent[-1][2] == "w1" and sent[-1][1]["extra"] == 3
