"""Prompts from --system/--user and from JSON/JSONL files, with line-numbered errors."""

import json

import pytest
from hypothesis import given, strategies as st

from llmbench_locust.prompts import (
    Prompt,
    PromptCycle,
    PromptFileError,
    from_system_user,
    load_prompt_file,
    parse_conversation,
)

USER = {"role": "user", "content": "hi"}
SYSTEM = {"role": "system", "content": "be brief"}


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


# --- Prompt --------------------------------------------------------------------------------------


def test_from_system_user():
    (prompt,) = from_system_user("be brief", "hi")
    assert prompt.as_messages() == [SYSTEM, USER]
    assert prompt.as_input() == [SYSTEM, USER]
    assert from_system_user("", "hi")[0].as_messages() == [USER]
    assert from_system_user(None, "hi")[0].as_messages() == [USER]
    with pytest.raises(ValueError, match="user prompt is empty"):
        from_system_user("x", "  ")


def test_input_string_works_for_chat():
    prompt = Prompt(input="tell me")
    assert prompt.as_input() == "tell me"
    assert prompt.as_messages() == [{"role": "user", "content": "tell me"}]


def test_content_parts_convert_between_endpoints():
    chat = Prompt(messages=(
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
        ]},
        {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
    ))
    assert chat.as_input() == [
        {"role": "user", "content": [
            {"type": "input_text", "text": "what is this?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAA"},
        ]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "a cat"}]},
    ]
    back = Prompt(input=chat.as_input()).as_messages()
    assert back == list(chat.messages)


def test_accessors_return_copies():
    prompt = from_system_user(None, "hi")[0]
    prompt.as_messages()[0]["content"] = "changed"
    prompt.as_input()[0]["content"] = "changed"
    assert prompt.as_messages() == [USER]


def test_prompt_needs_exactly_one_form():
    with pytest.raises(ValueError):
        Prompt()
    with pytest.raises(ValueError):
        Prompt(messages=(USER,), input="x")


# --- files ---------------------------------------------------------------------------------------


def test_jsonl_all_forms(tmp_path):
    lines = [
        json.dumps([SYSTEM, USER]),
        "",
        json.dumps({"messages": [USER], "id": 7}),
        "   ",
        json.dumps({"input": "respond"}),
        json.dumps({"input": [USER]}),
        json.dumps("plain string"),
    ]
    prompts = load_prompt_file(write(tmp_path, "p.jsonl", "\n".join(lines) + "\n"))
    assert [p.as_messages() for p in prompts] == [
        [SYSTEM, USER],
        [USER],
        [{"role": "user", "content": "respond"}],
        [USER],
        [{"role": "user", "content": "plain string"}],
    ]
    assert prompts[2].as_input() == "respond"


def test_json_single_conversation_forms(tmp_path):
    assert load_prompt_file(write(tmp_path, "a.json", json.dumps([SYSTEM, USER])))[0].as_messages() == [SYSTEM, USER]
    assert load_prompt_file(write(tmp_path, "b.json", json.dumps({"messages": [USER]})))[0].as_messages() == [USER]
    assert load_prompt_file(write(tmp_path, "c.json", json.dumps({"input": "x"})))[0].as_input() == "x"
    assert load_prompt_file(write(tmp_path, "d.json", json.dumps("hello")))[0].as_messages() == [
        {"role": "user", "content": "hello"}
    ]


def test_json_list_of_conversations(tmp_path):
    data = [[USER], {"messages": [SYSTEM, USER]}, "hey", {"input": "x"}]
    prompts = load_prompt_file(write(tmp_path, "many.json", json.dumps(data, indent=2)))
    assert len(prompts) == 4
    assert prompts[1].as_messages() == [SYSTEM, USER]


def test_utf8_bom_and_unicode(tmp_path):
    path = write(tmp_path, "u.jsonl", "\ufeff" + json.dumps({"messages": [{"role": "user", "content": "俄克拉荷马"}]}, ensure_ascii=False))
    assert load_prompt_file(path)[0].as_messages()[0]["content"] == "俄克拉荷马"


@pytest.mark.parametrize(
    "lines, message",
    [
        ([[USER]] * 6 + [[USER, {"role": "user"}]], "p.jsonl line 7: message 2 has no 'content'"),
        ([[{"content": "x"}]], "p.jsonl line 1: message 1 has no 'role'"),
        ([[{"role": "robot", "content": "x"}]], 'p.jsonl line 1: message 1 has role "robot"'),
        ([[{"role": 3, "content": "x"}]], "p.jsonl line 1: message 1 has role 3"),
        ([[{"role": "user", "content": None}]], "p.jsonl line 1: message 1 'content' must be a string or a list"),
        ([[{"role": "user", "content": [{"text": "x"}]}]], "message 1 content part 1 is not an object with a string 'type'"),
        ([[USER, "oops"]], "p.jsonl line 1: message 2 is not an object"),
        ([[]], "p.jsonl line 1: the conversation has no messages"),
        ([{"messages": "hi"}], "p.jsonl line 1: 'messages' must be a list"),
        ([{"input": 5}], "p.jsonl line 1: 'input' must be a string or a list"),
        ([{"input": [{"role": "user"}]}], "p.jsonl line 1: message 1 has no 'content'"),
        ([{"messages": [USER], "input": "x"}], "has both 'messages' and 'input'"),
        ([USER], "p.jsonl line 1: a single message; wrap it"),
        ([{"prompt": "x"}], "p.jsonl line 1: expected a messages list"),
        ([42], "p.jsonl line 1: expected a messages list, an object with 'messages' or 'input', or a string; got int"),
        ([""], "p.jsonl line 1: empty prompt string"),
    ],
)
def test_jsonl_errors(tmp_path, lines, message):
    path = write(tmp_path, "p.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(PromptFileError) as info:
        load_prompt_file(path)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_jsonl_line_numbers_count_blank_lines(tmp_path):
    path = write(tmp_path, "p.jsonl", json.dumps([USER]) + "\n\n\n{not json}\n")
    with pytest.raises(PromptFileError, match=r"p\.jsonl line 4: not valid JSON"):
        load_prompt_file(path)


def test_json_item_numbers(tmp_path):
    data = [[USER], [USER], {"messages": [USER, {"role": "assistant"}]}]
    path = write(tmp_path, "p.json", json.dumps(data))
    with pytest.raises(PromptFileError, match=r"p\.json item 3: message 2 has no 'content'"):
        load_prompt_file(path)


def test_json_single_conversation_error_names_message(tmp_path):
    path = write(tmp_path, "one.json", json.dumps([USER, {"role": "user", "content": 1}]))
    with pytest.raises(PromptFileError, match=r"one\.json: message 2 'content' must be"):
        load_prompt_file(path)


def test_json_syntax_error_gives_position(tmp_path):
    path = write(tmp_path, "bad.json", '[\n  {"role": "user",\n}')
    with pytest.raises(PromptFileError, match=r"bad\.json: not valid JSON \(.* at line 3 column 1\)"):
        load_prompt_file(path)


@pytest.mark.parametrize("name, text", [("e.jsonl", ""), ("e.json", "  \n"), ("e.txt", "")])
def test_empty_file(tmp_path, name, text):
    with pytest.raises(PromptFileError, match="empty"):
        load_prompt_file(write(tmp_path, name, text))


def test_empty_json_list(tmp_path):
    with pytest.raises(PromptFileError, match="no prompts"):
        load_prompt_file(write(tmp_path, "e.json", "[]"))


def test_not_utf8(tmp_path):
    path = write(tmp_path, "latin.jsonl", json.dumps("café", ensure_ascii=False), encoding="latin-1")
    with pytest.raises(PromptFileError, match=r"latin\.jsonl: not UTF-8"):
        load_prompt_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(PromptFileError, match="nope.json: cannot read"):
        load_prompt_file(tmp_path / "nope.json")


def test_unknown_extension_detected_by_content(tmp_path):
    as_json = write(tmp_path, "prompts.txt", json.dumps([[USER], "two"], indent=1))
    assert len(load_prompt_file(as_json)) == 2
    as_jsonl = write(tmp_path, "prompts.data", json.dumps([USER]) + "\n" + json.dumps("two") + "\n")
    assert len(load_prompt_file(as_jsonl)) == 2
    broken = write(tmp_path, "prompts.in", json.dumps([USER]) + "\n" + "{oops\n")
    with pytest.raises(PromptFileError, match=r"prompts\.in line 2: not valid JSON"):
        load_prompt_file(broken)


def test_parse_conversation_default_error_type():
    with pytest.raises(ValueError, match="^prompt: the conversation has no messages$"):
        parse_conversation([])


# --- PromptCycle ---------------------------------------------------------------------------------


def test_prompt_cycle_round_robin():
    prompts = [Prompt(input=str(i)) for i in range(3)]
    cycle = PromptCycle(prompts)
    assert [cycle.next().input for _ in range(7)] == ["0", "1", "2", "0", "1", "2", "0"]
    assert len(cycle) == 3
    assert next(PromptCycle(prompts, start=2)).input == "2"
    with pytest.raises(ValueError, match="at least one prompt"):
        PromptCycle([])


@given(st.integers(1, 10), st.integers(0, 50))
def test_prompt_cycle_is_fair(n, rounds):
    prompts = [Prompt(input=str(i)) for i in range(n)]
    cycle = PromptCycle(prompts)
    seen = [cycle.next().input for _ in range(n * rounds)]
    assert all(seen.count(str(i)) == rounds for i in range(n))
