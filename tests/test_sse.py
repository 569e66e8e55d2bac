"""SSE parsing: every split point, every line ending, comments, fields, and arbitrary bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench_locust.protocol.sse import LineSplitter, iter_events

STREAM = (
    b": keep-alive\n\n"
    b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    b"event: response.output_text.delta\n"
    b'data: {"a":\n'
    b"data: 1}\n\n"
    b"id: 7\nretry: 100\n"
    b'data: {"b":"\xc3\xa9\xe2\x80\xa8"}\n\n'
    b": comment between events\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ("message", '{"choices":[{"delta":{"role":"assistant","content":""}}]}'),
    ("response.output_text.delta", '{"a":\n1}'),
    ("message", '{"b":"\u00e9\u2028"}'),
    ("message", "[DONE]"),
]


def events_of(chunks):
    return [(e.event, e.data) for e in iter_events(chunks)]


def test_whole_stream():
    assert events_of([STREAM]) == EXPECTED


def test_split_at_every_byte_position():
    for i in range(len(STREAM) + 1):
        assert events_of([STREAM[:i], STREAM[i:]]) == EXPECTED, i


def test_one_byte_at_a_time():
    assert events_of([bytes([b]) for b in STREAM]) == EXPECTED


def test_crlf_and_cr_line_ends_at_every_split():
    for ending in (b"\r\n", b"\r"):
        stream = STREAM.replace(b"\n", ending)
        for i in range(len(stream) + 1):
            assert events_of([stream[:i], stream[i:]]) == EXPECTED, (ending, i)


def test_mixed_line_ends():
    stream = b"data: one\n\r\ndata: two\r\n\ndata: three\r\r"
    assert [d for _, d in events_of([stream])] == ["one", "two", "three"]


def test_comment_does_not_swallow_following_events():
    stream = b'data: {"x":1}\n\n: ping\n\ndata: {"x":2}\n\n:\n\ndata: {"x":3}\n\n'
    assert [d for _, d in events_of([stream])] == ['{"x":1}', '{"x":2}', '{"x":3}']


def test_unterminated_last_event_is_not_dispatched():
    stream = b'data: {"x":1}\n\ndata: {"x":'
    assert [d for _, d in events_of([stream])] == ['{"x":1}']


def test_stream_without_done_yields_its_events():
    assert [d for _, d in events_of([b"data: a\n\ndata: b\n\n"])] == ["a", "b"]


def test_bad_json_is_passed_through_as_data():
    assert events_of([b"data: {not json\n\ndata: [DONE]\n\n"]) == [("message", "{not json"), ("message", "[DONE]")]


def test_event_is_dispatched_when_its_blank_line_arrives():
    """The generator yields an event before the source is asked for more bytes."""
    asked = []

    def source():
        asked.append(1)
        yield b"data: first\n\n"
        asked.append(2)
        yield b"data: second\n\n"

    events = iter_events(source())
    assert next(events).data == "first"
    assert asked == [1]


def test_invalid_utf8_is_replaced_not_fatal():
    assert events_of([b"data: \xff\xfe ok\n\n"]) == [("message", "\ufffd\ufffd ok")]


def test_splitter_holds_partial_line():
    splitter = LineSplitter()
    assert splitter.feed(b"data: ab") == []
    assert splitter.feed(b"c\r") == [b"data: abc\n"]
    assert splitter.feed(b"\ndata: d\n") == [b"data: d\n"]
    assert splitter.close() == b""


def _wire(events):
    return b"".join(b"data: " + d.encode() + b"\n\n" for d in events)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_bytes_never_crash(data, cuts):
    cuts = sorted({c for c in cuts if c <= len(data)})
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    for event in iter_events(pieces):
        assert isinstance(event.data, str)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=80).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), min_size=1, max_size=20), min_size=1, max_size=5),
    st.lists(st.integers(min_value=0, max_value=500), max_size=6),
)
def test_garbage_line_before_well_formed_events_loses_nothing(garbage, datas, cuts):
    """Whatever junk line precedes them (terminated, then a blank line), well-formed events all arrive."""
    datas = [d for d in datas if d.strip()]
    stream = b":" + garbage + b"\n\n" + _wire(datas)
    cuts = sorted({c for c in cuts if c <= len(stream)})
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    got = [e.data for e in iter_events(pieces)]
    assert got == datas
