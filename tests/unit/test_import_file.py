"""Parsing and checking of `chat import` files (chat_core/import_file.py): no store, no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat_core.ids import direct_chat_id
from chat_core.import_file import ImportPlan, client_message_id, group_chat_id, parse

NOW = 1_790_000_000_000


def chat(id: Any = "c1", kind: str = "direct", members: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "chat",
        "id": id,
        "kind": kind,
        "members": members if members is not None else ["alice", "bob"],
        "createdAt": "2021-03-04T09:00:00Z",
        **extra,
    }


def message(
    id: Any, chat: Any = "c1", sender: str = "alice", at: Any = "2021-03-04T09:00:01Z", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "message",
        "chat": chat,
        "id": id,
        "sender": sender,
        "content": f"text {id}",
        "createdAt": at,
        **extra,
    }


def plan_of(*records: dict[str, Any] | str) -> ImportPlan:
    return parse([r if isinstance(r, str) else json.dumps(r) for r in records], NOW)


def errors(plan: ImportPlan) -> list[tuple[int, str]]:
    return [(e.line, e.message) for e in plan.errors]


def test_a_direct_chat_maps_to_the_pair_id_and_messages_sort_by_time_then_line() -> None:
    plan = plan_of(
        chat(),
        message("m3", at="2021-03-04T09:00:03Z"),
        message("m1", sender="bob", at="2021-03-04T10:00:01+01:00"),  # the same instant as m2
        message("m2", at="2021-03-04T09:00:01.000Z"),
    )
    assert errors(plan) == [] and not plan.fatal
    [only] = plan.valid_chats
    assert only.chat_id == direct_chat_id("bob", "alice") and only.members == ("alice", "bob")
    assert [m.client_message_id for m in only.messages] == ["import-m1", "import-m2", "import-m3"]
    assert [m.created_at_ms for m in only.messages] == [1614848401000, 1614848401000, 1614848403000]


def test_a_group_gets_a_stable_id_of_its_old_id_and_keeps_title_and_member_order() -> None:
    plan = plan_of(chat(7, "group", ["carol", "alice", "bob", "alice"], title="Team"), message(1, chat=7))
    [group] = plan.valid_chats
    assert group.chat_id == group_chat_id("7") == plan_of(chat(7, "group", ["carol", "alice"])).chats[0].chat_id
    assert group.members == ("carol", "alice", "bob") and group.title == "Team"
    assert group.messages[0].client_message_id == "import-1"


def test_a_long_old_message_id_still_gives_a_valid_client_message_id() -> None:
    long_id = "x" * 200
    assert len(client_message_id(long_id)) <= 64
    assert client_message_id(long_id) != client_message_id("x" * 199)


def test_blank_lines_are_skipped_and_line_numbers_count_them() -> None:
    plan = plan_of(chat(), "", "   ", message("m1", sender="zed"))
    assert errors(plan) == [(4, "sender 'zed' is not a member of chat 'c1'")]


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (message("m1", content=None), "content must be a string"),
        (message("m1", content="   "), "content must not be blank"),
        (message("m1", content="x" * 4001), "content must be at most 4000 characters"),
        (message("m1", sender="bob smith"), "sender must be 1-128 characters"),
        (message("m1", sender="carol"), "sender 'carol' is not a member"),
        (message("m1", at="2021-03-04 09:00:01"), "has no time zone"),
        (message("m1", at="yesterday"), "is not an ISO-8601 time"),
        (message("m1", at=1614848401000), "must be an ISO-8601 time string"),
        (message("m1", at="2999-01-01T00:00:00Z"), "in the future"),
        (message(None), "id must be a string"),
        (message(True), "id must be a string"),
        ({**message("m1"), "type": "reaction"}, "unknown record type 'reaction'"),
    ],
)
def test_a_bad_message_names_its_line_and_skips_its_chat_only(bad: dict[str, Any], says: str) -> None:
    plan = plan_of(chat(), chat("c2", members=["alice", "carol"]), message("m0"), bad, message("m9", chat="c2"))
    [(line, text)] = errors(plan)
    assert line == 4 and says in text, text
    assert not plan.fatal
    assert [c.source_ids for c in plan.skipped_chats] == [["c1"]]
    assert [(c.source_ids, len(c.messages)) for c in plan.valid_chats] == [(["c2"], 1)]


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (chat(kind="channel"), "kind must be 'direct' or 'group'"),
        (chat(members=["alice"]), "exactly two different members"),
        (chat(members=["alice", "alice"]), "exactly two different members"),
        (chat(members=["alice", "bob"], title="x"), "a direct chat has no title"),
        (chat(kind="group", members=["alice"]), "a group has 2 to 1000 different members"),
        (chat(kind="group", title=" "), "title must be null or a non-blank string"),
        (chat(createdAt=None), "createdAt must be an ISO-8601 time string"),
        (chat(readAt={"carol": "2021-03-04T09:00:00Z"}), "readAt names 'carol', who is not a member"),
        (chat(members="alice,bob"), "members must be a list"),
    ],
)
def test_a_bad_chat_record_skips_the_chat_and_its_messages(bad: dict[str, Any], says: str) -> None:
    plan = plan_of(message("m1"), bad, chat("c2"), message("m2", chat="c2"))
    [(line, text)] = errors(plan)
    assert line == 2 and "chat 'c1'" in text and says in text, text
    assert not plan.fatal
    assert [c.source_ids for c in plan.valid_chats] == [["c2"]]


def test_a_message_of_an_unknown_chat_is_an_error_that_skips_nothing_else() -> None:
    plan = plan_of(chat(), message("m1"), message("m2", chat="nope"))
    assert errors(plan) == [(3, "message of unknown chat 'nope' (no chat record has that id)")]
    assert len(plan.valid_chats) == 1


def test_duplicates_are_errors_naming_the_first_line() -> None:
    plan = plan_of(chat(), message("m1"), message("m1"), chat("c2", members=["a", "b"]), chat("c2", members=["a", "b"]))
    assert errors(plan) == [
        (3, "message 'm1' again in this chat (first on line 2)"),
        (5, "chat 'c2' again (first on line 4)"),
    ]
    assert plan.valid_chats == []


@pytest.mark.parametrize(
    "line",
    [
        '{"type":"message","chat":"c1"',
        "[1, 2]",
        '{"type":"message","id":"m1"}',
        '{"type":"chat","kind":"group"}',
        b"\xff\xfe",
    ],
)
def test_a_line_no_chat_can_be_blamed_for_stops_everything(line: str | bytes) -> None:
    lines: list[str | bytes] = [json.dumps(chat()), json.dumps(message("m1")), line]
    plan = parse(lines, NOW)
    assert plan.fatal and [e.line for e in plan.errors] == [3]
    assert plan.valid_chats == []


def test_two_old_direct_chats_of_one_pair_become_one_history() -> None:
    plan = plan_of(
        chat("a"),
        chat("b", members=["bob", "alice"], createdAt="2020-01-01T00:00:00Z"),
        message("m1", chat="a", at="2021-03-04T09:00:03Z"),
        message("m2", chat="b", sender="bob", at="2021-03-04T09:00:02Z"),
    )
    [merged] = plan.valid_chats
    assert merged.source_ids == ["a", "b"]
    assert [m.client_message_id for m in merged.messages] == ["import-m2", "import-m1"]
    assert merged.created_at_ms == 1577836800000


def test_read_at_per_member() -> None:
    plan = plan_of(chat(readAt={"bob": "2021-03-04T09:00:02Z"}))
    assert plan.valid_chats[0].read_at_ms == {"bob": 1614848402000}


def test_the_documented_example_is_valid() -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "import-example.jsonl"
    with example.open("rb") as lines:
        plan = parse(lines, NOW)
    assert plan.errors == []
    assert sorted((c.type, len(c.messages)) for c in plan.valid_chats) == [("direct", 1), ("direct", 3), ("group", 3)]
