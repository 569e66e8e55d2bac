"""The mock engine's timing model and fault plan, with a fake clock: exact, no I/O."""

from __future__ import annotations

import pytest

from llmbench_locust.mock.engine import Engine, EngineConfig, QueueFull, Sequence
from llmbench_locust.mock.faults import FaultPlan, fault_chunk_index, parse_fault


def run_all(engine: Engine, until: float = 1e9) -> list:
    """Drain the engine the way the server does: jump to each due time in turn."""
    out = []
    while (due := engine.next_due()) is not None and due <= until:
        out += engine.pop_due(due)
    return out


def chunks_of(events: list, tag: str) -> list:
    return [e for e in events if e.seq.tag == tag]


def test_first_chunk_after_ttft_plus_prefill_then_even_steps():
    engine = Engine(EngineConfig(ttft_ms=100, prefill_ms_per_token=2, chunk_ms=10))
    engine.submit(Sequence(prompt_tokens=5, max_tokens=4, tag="a"), now=1.0)
    events = run_all(engine)
    assert [round(e.due, 9) for e in events] == [1.11, 1.12, 1.13, 1.14]
    assert [e.index for e in events] == [0, 1, 2, 3]
    assert [e.last for e in events] == [False, False, False, True]


def test_tokens_per_chunk_gives_exact_token_count():
    engine = Engine(EngineConfig(tokens_per_chunk=3))
    engine.submit(Sequence(1, 10, "a"), 0.0)
    events = run_all(engine)
    assert [e.tokens for e in events] == [3, 3, 3, 1]
    assert sum(e.tokens for e in events) == 10


def test_slots_queue_fifo_and_admission_at_release():
    engine = Engine(EngineConfig(slots=2, ttft_ms=10, chunk_ms=10))
    for tag in "abcd":
        engine.submit(Sequence(1, 2, tag), 0.0)
    assert (engine.active, engine.waiting) == (2, 2)
    events = run_all(engine)
    # a and b finish at 20 ms; c and d are admitted then, so their first chunk is at 30 ms.
    assert [round(e.due, 9) for e in chunks_of(events, "c")] == [0.03, 0.04]
    assert [round(e.due, 9) for e in chunks_of(events, "d")] == [0.03, 0.04]
    firsts = [e.seq.tag for e in events if e.index == 0]
    assert firsts == ["a", "b", "c", "d"]
    assert (engine.active, engine.waiting) == (0, 0)


def test_queue_keeps_arrival_order_with_one_slot():
    engine = Engine(EngineConfig(slots=1, ttft_ms=0, chunk_ms=5))
    for i, tag in enumerate("xyz"):
        engine.submit(Sequence(1, 1, tag), i * 0.001)
    assert [e.seq.tag for e in run_all(engine)] == ["x", "y", "z"]


def test_admission_never_before_arrival():
    engine = Engine(EngineConfig(slots=1, ttft_ms=10, chunk_ms=10))
    engine.submit(Sequence(1, 1, "a"), 0.0)  # done at 10 ms
    late = Sequence(1, 1, "b")
    engine.submit(late, 0.050)  # the caller woke late: slot not yet released
    run_all(engine)
    assert late.admitted == pytest.approx(0.050)


def test_queue_limit_rejects():
    engine = Engine(EngineConfig(slots=1, queue_limit=1))
    engine.submit(Sequence(1, 5, "a"), 0.0)
    engine.submit(Sequence(1, 5, "b"), 0.0)
    with pytest.raises(QueueFull):
        engine.submit(Sequence(1, 5, "c"), 0.0)
    assert (engine.active, engine.waiting) == (1, 1)


def test_queue_limit_zero_rejects_when_slots_full():
    engine = Engine(EngineConfig(slots=1, queue_limit=0))
    engine.submit(Sequence(1, 5, "a"), 0.0)
    with pytest.raises(QueueFull):
        engine.submit(Sequence(1, 5, "b"), 0.0)


def test_step_time_grows_with_active_sequences():
    config = EngineConfig(ttft_ms=0, chunk_ms=10, decode_ms_per_seq=2)
    assert config.step_s(1) == pytest.approx(0.010)
    assert config.step_s(3) == pytest.approx(0.014)
    engine = Engine(config)
    for tag in "abc":
        engine.submit(Sequence(1, 3, tag), 0.0)
    events = chunks_of(run_all(engine), "a")
    gaps = [round(b.due - a.due, 9) for a, b in zip(events, events[1:])]
    # three active while a and b and c decode: every step costs 10 + 2 * 2 ms.
    assert gaps == [0.014, 0.014]


def test_single_sequence_steps_at_base_rate():
    engine = Engine(EngineConfig(ttft_ms=0, chunk_ms=10, decode_ms_per_seq=5))
    engine.submit(Sequence(1, 3, "a"), 0.0)
    assert [round(e.due, 9) for e in run_all(engine)] == [0.0, 0.01, 0.02]


def test_cancel_frees_the_slot_for_the_queue():
    engine = Engine(EngineConfig(slots=1, ttft_ms=10, chunk_ms=10))
    a, b = Sequence(1, 100, "a"), Sequence(1, 1, "b")
    engine.submit(a, 0.0)
    engine.submit(b, 0.0)
    engine.pop_due(0.015)
    engine.cancel(a, 0.015)
    events = run_all(engine)
    assert [(e.seq.tag, round(e.due, 9)) for e in events] == [("b", 0.025)]


def test_pop_due_returns_nothing_early():
    engine = Engine(EngineConfig(ttft_ms=20))
    engine.submit(Sequence(1, 1, "a"), 0.0)
    assert engine.pop_due(0.0199) == []
    assert len(engine.pop_due(0.02)) == 1
    assert engine.next_due() is None


def test_bad_config_and_sequence():
    with pytest.raises(ValueError):
        EngineConfig(slots=0)
    with pytest.raises(ValueError):
        EngineConfig(chunk_ms=-1)
    with pytest.raises(ValueError):
        Sequence(1, 0)


def test_parse_fault_forms():
    assert parse_fault("http_500").every is None
    spec = parse_fault("slow_headers:every=3:ms=250")
    assert (spec.kind, spec.every, spec.ms, spec.delay_s) == ("slow_headers", 3, 250.0, 0.25)
    assert parse_fault("disconnect:rate=0.5").rate == 0.5


@pytest.mark.parametrize("text", ["nope", "http_500:every=0", "http_500:rate=2",
                                  "http_500:every=2:rate=0.1", "http_500:foo=1",
                                  "http_500:every=x", "http_500:every"])
def test_parse_fault_errors(text):
    with pytest.raises(ValueError):
        parse_fault(text)


def test_every_hits_multiples_and_first_listed_wins():
    plan = FaultPlan.parse(["http_500:every=4", "no_usage:every=2"])
    kinds = {n: (plan.choose(n).kind if plan.choose(n) else None) for n in range(1, 9)}
    assert kinds == {1: None, 2: "no_usage", 3: None, 4: "http_500",
                     5: None, 6: "no_usage", 7: None, 8: "http_500"}


def test_rate_is_deterministic_per_seed():
    a = [FaultPlan.parse(["http_500:rate=0.3"], seed=7).choose(n) for n in range(1, 2001)]
    b = [FaultPlan.parse(["http_500:rate=0.3"], seed=7).choose(n) for n in range(1, 2001)]
    c = [FaultPlan.parse(["http_500:rate=0.3"], seed=8).choose(n) for n in range(1, 2001)]
    hits = sum(x is not None for x in a)
    assert a == b and a != c
    assert 500 < hits < 700


def test_fault_chunk_index_stays_inside_the_stream():
    assert [fault_chunk_index(n) for n in (1, 2, 5, 100)] == [0, 1, 2, 3]


def test_pop_due_limit_leaves_the_rest_for_later():
    engine = Engine(EngineConfig(ttft_ms=0, chunk_ms=0))
    engine.submit(Sequence(1, 10, "a"), 0.0)
    assert len(engine.pop_due(0.0, limit=4)) == 4
    assert len(engine.pop_due(0.0)) == 6
