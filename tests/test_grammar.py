"""The command-line grammars: ladder, headers, extra body, SLOs, regressions."""

import math

import pytest
from hypothesis import given, strategies as st

from llmbench_locust.grammar import (
    REGRESSION_METRICS,
    SLO_METRICS,
    SloBound,
    parse_concurrency,
    parse_extra_body,
    parse_header,
    parse_regression,
    parse_slo,
)

# --- parse_concurrency --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1", [1]),
        ("1,2,4,8,16,32", [1, 2, 4, 8, 16, 32]),
        ("4-32", [4, 8, 16, 32]),
        ("3-20", [3, 6, 12, 20]),
        ("4-20:4", [4, 8, 12, 16, 20]),
        ("4-18:4", [4, 8, 12, 16]),  # B only when a step lands on it
        ("1,2,4-32", [1, 2, 4, 8, 16, 32]),
        ("8-8", [8]),
        ("5-5:3", [5]),
        (" 1 , 2 ,4-8 ", [1, 2, 4, 8]),
        ("4 - 16", [4, 8, 16]),
        ("8,4,8,2", [8, 4, 2]),  # de-duplicated, order kept
        ("4-16,8-32", [4, 8, 16, 32]),
        ("1-3", [1, 2, 3]),
        ("1-10:3", [1, 4, 7, 10]),
    ],
)
def test_parse_concurrency_valid(text, expected):
    assert parse_concurrency(text) == expected


@pytest.mark.parametrize(
    "text, bad_item, why",
    [
        ("0", "0", "at least 1"),
        ("-3", "-3", "expected N"),
        ("8-4", "8-4", "range end 4 is below its start 8"),
        ("a", "a", "expected N"),
        ("1,,2", "", "empty item"),
        ("1,2,", "", "empty item"),
        ("4-32:0", "4-32:0", "step must be at least 1"),
        ("0-8", "0-8", "at least 1"),
        ("4-", "4-", "expected N"),
        ("4-32:", "4-32:", "expected N"),
        ("2.5", "2.5", "expected N"),
        ("1,x,2", "x", "expected N"),
    ],
)
def test_parse_concurrency_errors_name_the_item(text, bad_item, why):
    with pytest.raises(ValueError) as info:
        parse_concurrency(text)
    message = str(info.value)
    assert f"concurrency item '{bad_item}'" in message
    assert why in message


def test_parse_concurrency_exact_message():
    with pytest.raises(ValueError, match=r"^concurrency item '8-4': range end 4 is below its start 8$"):
        parse_concurrency("8-4")


@pytest.mark.parametrize("text", ["", "   "])
def test_parse_concurrency_empty(text):
    with pytest.raises(ValueError, match="empty"):
        parse_concurrency(text)


@given(st.integers(1, 500), st.integers(0, 2000))
def test_doubling_range_properties(start, extra):
    end = start + extra
    values = parse_concurrency(f"{start}-{end}")
    assert values[0] == start and values[-1] == end
    assert all(v > 0 for v in values)
    assert len(set(values)) == len(values)
    assert values == sorted(values)
    # every value but B is A·2^k
    for v in values[:-1]:
        ratio = v // start
        assert v == start * ratio and ratio & (ratio - 1) == 0


@given(st.integers(1, 200), st.integers(0, 500), st.integers(1, 50))
def test_step_range_properties(start, extra, step):
    end = start + extra
    values = parse_concurrency(f"{start}-{end}:{step}")
    assert values == list(range(start, end + 1, step))
    assert all(start <= v <= end for v in values)


@given(st.lists(st.integers(1, 64), min_size=1, max_size=10))
def test_plain_lists_keep_first_occurrence_order(items):
    values = parse_concurrency(",".join(map(str, items)))
    assert values == list(dict.fromkeys(items))
    assert all(v > 0 for v in values)


# --- parse_header, parse_extra_body --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("X-Trace: abc", ("X-Trace", "abc")),
        ("Authorization: Bearer a:b:c", ("Authorization", "Bearer a:b:c")),
        ("  X-Empty:   ", ("X-Empty", "")),
        ("x-y:z", ("x-y", "z")),
    ],
)
def test_parse_header(text, expected):
    assert parse_header(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("NoColon", "header 'NoColon': expected 'Name: value'"),
        (": value", "header ': value': expected 'Name: value'"),
        ("Bad Name: v", "invalid header name 'Bad Name'"),
        ("X-A: b\r\nX-Evil: 1", "line break"),
    ],
)
def test_parse_header_errors(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_header(text)
    assert fragment in str(info.value)


def test_parse_extra_body():
    assert parse_extra_body('{"ignore_eos": true, "top_k": 5}') == {"ignore_eos": True, "top_k": 5}
    assert parse_extra_body("") == {}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_extra_body("{ignore_eos: true}")
    with pytest.raises(ValueError, match="must be a JSON object, got an array"):
        parse_extra_body("[1, 2]")
    with pytest.raises(ValueError, match="got a string"):
        parse_extra_body('"x"')


# --- parse_slo -----------------------------------------------------------------------------------


def test_parse_slo_example():
    bounds = parse_slo("ttft_p99_ms=500,itl_p50_ms=40,latency_p99_ms=8000,error_rate=0.01")
    assert list(bounds) == ["ttft_p99_ms", "itl_p50_ms", "latency_p99_ms", "error_rate"]
    assert bounds["ttft_p99_ms"] == SloBound("ttft_p99_ms", "<=", 500.0, True)
    assert bounds["ttft_p99_ms"].family == "ttft"
    assert bounds["error_rate"] == SloBound("error_rate", "<=", 0.01, False)
    assert bounds["error_rate"].family is None


def test_parse_slo_lower_bounds_and_percent():
    bounds = parse_slo(" qps=10 , output_tokens_per_s=1e3, tps=20, error_rate=1% ")
    assert {m: b.op for m, b in bounds.items()} == {
        "qps": ">=", "output_tokens_per_s": ">=", "tps": ">=", "error_rate": "<=",
    }
    assert bounds["output_tokens_per_s"].value == 1000.0
    assert bounds["error_rate"].value == pytest.approx(0.01)
    assert not any(b.per_request for b in bounds.values())


def test_every_slo_metric_parses():
    for metric in SLO_METRICS:
        bound = parse_slo(f"{metric}=1")[metric]
        assert bound.per_request == metric.startswith(("latency_", "ttft_", "itl_"))


def test_slo_bound_holds():
    upper = SloBound("latency_p99_ms", "<=", 100.0, True)
    lower = SloBound("qps", ">=", 5.0, False)
    assert upper.holds(100.0) and not upper.holds(100.0001)
    assert lower.holds(5.0) and not lower.holds(4.999)
    assert not upper.holds(None) and not upper.holds(math.nan)
    assert str(upper) == "latency_p99_ms <= 100"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("ttft_p42_ms=5", "slo item 'ttft_p42_ms=5': unknown metric 'ttft_p42_ms'"),
        ("ttft_p99_ms", "slo item 'ttft_p99_ms': expected metric=value"),
        ("ttft_p99_ms=", "slo item 'ttft_p99_ms=': expected metric=value"),
        ("=5", "slo item '=5'"),
        ("ttft_p99_ms=fast", "'fast' is not a number"),
        ("ttft_p99_ms=-1", "finite number ≥ 0"),
        ("ttft_p99_ms=nan", "finite number ≥ 0"),
        ("qps=1,,tps=2", "slo item ''"),
        ("qps=1,qps=2", "given twice"),
        ("qps=5%", "'5%' is not a number"),
    ],
)
def test_parse_slo_errors(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_slo(text)
    assert fragment in str(info.value)


def test_parse_slo_empty_is_no_slo():
    assert parse_slo("") == {}
    assert parse_slo(None) == {}


# --- parse_regression ----------------------------------------------------------------------------


def test_parse_regression_bare_value_applies_to_all():
    assert parse_regression("10%") == {m: pytest.approx(0.10) for m in REGRESSION_METRICS}
    assert parse_regression("10") == parse_regression("10%")


def test_parse_regression_per_metric():
    assert parse_regression("qps=10%, latency_p99_ms=20%") == {
        "qps": pytest.approx(0.10),
        "latency_p99_ms": pytest.approx(0.20),
    }


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("tps=10%", "regression item 'tps=10%': unknown metric 'tps'"),
        ("qps=ten", "'ten' is not a number"),
        ("qps", "regression item 'qps': 'qps' is not a number"),
        ("qps=10%,", "regression item ''"),
        ("qps=-5%", "finite number ≥ 0"),
        ("qps=1%,qps=2%", "given twice"),
    ],
)
def test_parse_regression_errors(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_regression(text)
    assert fragment in str(info.value)
