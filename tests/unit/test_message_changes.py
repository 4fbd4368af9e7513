"""The service's message changes: edit, delete, react, reply, what members are told, and the
recovery answers (the store side is tests/contract/test_message_changes_contract.py)."""

from __future__ import annotations

import pytest

from chat_core import payloads
from chat_core.errors import Forbidden, Invalid, NotFound, RateLimited
from chat_core.limits import Rate, RateLimiter
from chat_core.service import ChatService
from chat_core.stores.sqlite import SqliteStore
from tests.support.clock import Clock

from .fakes import RecordingFanout


async def chat_with_message(service: ChatService) -> tuple[str, str]:
    chat, _ = await service.create_chat("alice", payloads.CreateChat("group", "team", ("alice", "bob", "carol"), None))
    sent = await service.send_message("alice", payloads.SendMessage(chat.chat.id, "helo", "k1"), "sid-a")
    return chat.chat.id, sent.message.id


async def test_an_edit_reaches_every_member_with_its_seq(service: ChatService, fanout: RecordingFanout) -> None:
    chat_id, message_id = await chat_with_message(service)
    fanout.clear()
    result = await service.edit_message("alice", payloads.EditMessage(chat_id, message_id, "hello"))
    assert result.changed and result.message.content == "hello"
    (event,) = fanout.events("message_updated")
    assert set(event.users) == {"alice", "bob", "carol"}
    assert event.skip == ()  # the acting socket too
    assert event.data["seq"] == result.message.change_seq == event.data["message"]["changeSeq"]
    assert event.data["message"]["content"] == "hello" and event.data["message"]["editedAt"] is not None
    assert event.data["change"] == {"type": "edit", "userId": "alice"}
    # no unread count moves for a change
    assert fanout.events("unread_count") == []


async def test_a_change_that_changes_nothing_tells_nobody(service: ChatService, fanout: RecordingFanout) -> None:
    chat_id, message_id = await chat_with_message(service)
    fanout.clear()
    same = await service.edit_message("alice", payloads.EditMessage(chat_id, message_id, "helo"))
    assert not same.changed
    await service.react("bob", payloads.React(chat_id, message_id, "👍", add=False))
    assert fanout.events("message_updated") == []


async def test_reactions_say_who_changed_what(service: ChatService, fanout: RecordingFanout) -> None:
    chat_id, message_id = await chat_with_message(service)
    fanout.clear()
    await service.react("bob", payloads.React(chat_id, message_id, "👍", add=True))
    removed = await service.react("bob", payloads.React(chat_id, message_id, "👍", add=False))
    first, second = fanout.events("message_updated")
    assert first.data["change"] == {"type": "react", "userId": "bob", "emoji": "👍", "add": True}
    assert first.data["message"]["reactions"] == [{"emoji": "👍", "count": 1, "userIds": ["bob"]}]
    assert second.data["change"] == {"type": "react", "userId": "bob", "emoji": "👍", "add": False}
    assert second.data["message"]["reactions"] == []
    assert removed.message.reactions == ()


async def test_mine_is_shown_only_in_answers_to_one_user(service: ChatService) -> None:
    chat_id, message_id = await chat_with_message(service)
    result = await service.react("bob", payloads.React(chat_id, message_id, "🎉", add=True))
    assert service.message_json(result.message, "bob")["reactions"] == [
        {"emoji": "🎉", "count": 1, "userIds": ["bob"], "mine": True}
    ]
    assert service.message_json(result.message, "carol")["reactions"][0]["mine"] is False
    assert "mine" not in service.message_json(result.message)["reactions"][0]


async def test_reaction_user_lists_are_cut_at_twenty(service: ChatService) -> None:
    members = tuple(f"u{i:02d}" for i in range(25))
    view, _ = await service.create_chat("u00", payloads.CreateChat("group", "big", members, None))
    sent = await service.send_message("u00", payloads.SendMessage(view.chat.id, "vote", "k1"), None)
    for user in members:
        result = await service.react(user, payloads.React(view.chat.id, sent.message.id, "👍", add=True))
    shown = service.message_json(result.message, "u24")["reactions"][0]
    assert shown["count"] == 25 and len(shown["userIds"]) == 20 and shown["mine"] is True


async def test_only_members_change_messages(service: ChatService) -> None:
    chat_id, message_id = await chat_with_message(service)
    with pytest.raises(NotFound):
        await service.react("mallory", payloads.React(chat_id, message_id, "👍", add=True))
    with pytest.raises(NotFound):
        await service.delete_message("mallory", payloads.MessageRef(chat_id, message_id))
    with pytest.raises(Forbidden):
        await service.delete_message("bob", payloads.MessageRef(chat_id, message_id))


async def test_the_edit_window(store: SqliteStore, fanout: RecordingFanout, clock: Clock) -> None:
    service = ChatService(store, fanout, node_id="n", clock=clock, edit_window_s=60)
    chat_id, message_id = await chat_with_message(service)
    clock.advance(59_000)
    assert (await service.edit_message("alice", payloads.EditMessage(chat_id, message_id, "in time"))).changed
    clock.advance(2_000)
    with pytest.raises(Forbidden, match="edit window"):
        await service.edit_message("alice", payloads.EditMessage(chat_id, message_id, "too late"))
    # deleting has no window
    assert (await service.delete_message("alice", payloads.MessageRef(chat_id, message_id))).changed


async def test_a_reply_quotes_a_snippet_of_a_message_of_the_same_chat(service: ChatService) -> None:
    chat_id, message_id = await chat_with_message(service)
    long_text = "x" * 150
    quoted = await service.send_message("bob", payloads.SendMessage(chat_id, long_text, "k2"), None)
    reply = await service.send_message(
        "carol", payloads.SendMessage(chat_id, "agreed", "k3", reply_to=quoted.message.id), None
    )
    assert reply.message.reply_to is not None
    assert (reply.message.reply_to.id, reply.message.reply_to.sender_id) == (quoted.message.id, "bob")
    assert reply.message.reply_to.snippet == "x" * 100
    assert service.message_json(reply.message)["replyTo"] == {
        "id": quoted.message.id,
        "senderId": "bob",
        "snippet": "x" * 100,
    }
    other, _ = await service.open_direct("alice", "bob")
    with pytest.raises(NotFound):
        await service.send_message("alice", payloads.SendMessage(other.id, "hm", "k4", reply_to=message_id), None)
    await service.delete_message("alice", payloads.MessageRef(chat_id, message_id))
    with pytest.raises(Invalid):
        await service.send_message("bob", payloads.SendMessage(chat_id, "re", "k5", reply_to=message_id), None)


async def test_attachments_need_uploads(service: ChatService) -> None:
    chat_id, _ = await chat_with_message(service)
    with pytest.raises(Invalid, match="not enabled"):
        await service.send_message("alice", payloads.SendMessage(chat_id, "", "k9", attachment_ids=("a_1",)), None)


async def test_join_since_a_seq_brings_the_changes_of_older_messages(service: ChatService) -> None:
    chat_id, message_id = await chat_with_message(service)
    joined = await service.join_chat("bob", payloads.JoinChat(chat_id, None, None), None)
    synced = max(m.seq for m in joined.messages)
    await service.edit_message("alice", payloads.EditMessage(chat_id, message_id, "hello"))
    newer = await service.send_message("alice", payloads.SendMessage(chat_id, "more", "k2"), None)
    again = await service.join_chat("bob", payloads.JoinChat(chat_id, None, synced), None)
    assert [m.id for m in again.messages] == [newer.message.id]
    assert [(m.id, m.content) for m in again.updates] == [(message_id, "hello")]
    page = await service.get_messages("bob", payloads.GetMessages(chat_id, None, synced, 50))
    assert page.updates == again.updates


async def test_changes_take_the_change_bucket(store: SqliteStore, fanout: RecordingFanout) -> None:
    limiter = RateLimiter({"send": Rate(100, 100), "change": Rate(0.001, 2)})
    service = ChatService(store, fanout, node_id="n", limiter=limiter)
    chat_id, message_id = await chat_with_message(service)
    await service.react("bob", payloads.React(chat_id, message_id, "👍", add=True))
    await service.react("bob", payloads.React(chat_id, message_id, "👍", add=False))
    with pytest.raises(RateLimited):
        await service.react("bob", payloads.React(chat_id, message_id, "👍", add=True))
