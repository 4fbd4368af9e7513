from __future__ import annotations

from typing import Any

import pytest

from chat_core import payloads
from chat_core.errors import Invalid


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "x",
        {"chatId": 5, "content": "hi", "clientMessageId": "c"},
        {"chatId": "c", "content": 5, "clientMessageId": "c"},
        {"chatId": "c", "content": "   \n\t", "clientMessageId": "c"},
        {"chatId": "c", "content": "", "clientMessageId": "c"},
        {"chatId": "c", "content": "x" * 4001, "clientMessageId": "c"},
        {"chatId": "c", "content": "hi", "clientMessageId": "c" * 65},
        {"chatId": "c", "content": "hi", "clientMessageId": ""},
        {"chatId": "c", "content": "hi"},
        {"chatId": "bad id!", "content": "hi", "clientMessageId": "c"},
    ],
)
def test_malformed_sends_are_invalid(data: Any) -> None:
    with pytest.raises(Invalid):
        payloads.send_message(data)


def test_content_counts_code_points_and_is_kept_exactly() -> None:
    emoji = "😀" * 4000
    assert payloads.send_message({"chatId": "c", "content": emoji, "clientMessageId": "c"}).content == emoji
    raw = "  <img src=x onerror=alert(1)>  "
    assert payloads.content(raw) == raw


@pytest.mark.parametrize("limit", [0, 101, -1, True, 1.5, "10"])
def test_limits_out_of_range_are_invalid(limit: object) -> None:
    with pytest.raises(Invalid):
        payloads.get_messages({"chatId": "c", "limit": limit})


@pytest.mark.parametrize("seq", [-1, True, 1.0, "3", 2**53])
def test_seqs_must_be_non_negative_integers(seq: object) -> None:
    with pytest.raises(Invalid):
        payloads.get_messages({"chatId": "c", "afterSeq": seq})


def test_join_needs_exactly_one_target() -> None:
    with pytest.raises(Invalid):
        payloads.join_chat({})
    with pytest.raises(Invalid):
        payloads.join_chat({"chatId": "a", "recipientId": "b"})
    assert payloads.join_chat({"recipientId": "bob", "sinceSeq": 3}) == payloads.JoinChat(None, "bob", 3)


def test_typing_needs_a_boolean() -> None:
    with pytest.raises(Invalid):
        payloads.typing({"chatId": "c", "isTyping": 1})


@pytest.mark.parametrize("raw", ["-1", "abc", "١٢", "1e3", " 1"])
def test_query_seqs_must_be_plain_digits(raw: str) -> None:
    with pytest.raises(Invalid):
        payloads.seq_param(raw, "afterSeq")


def test_group_members_are_deduplicated_and_validated() -> None:
    parsed = payloads.create_chat({"type": "group", "title": "T", "members": ["a", "b", "a"]})
    assert parsed.members == ("a", "b")
    with pytest.raises(Invalid):
        payloads.create_chat({"type": "group", "members": ["ok", "not ok"]})
    with pytest.raises(Invalid):
        payloads.create_chat({"type": "channel"})
