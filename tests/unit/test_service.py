"""The service's rules, driven with the real SQLite store and a recording fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from chat_core import payloads
from chat_core.errors import Invalid, NotFound, Unavailable
from chat_core.ids import direct_chat_id
from chat_core.models import AppendResult, ConnectionRef
from chat_core.service import ChatService
from chat_core.stores.sqlite import SqliteStore
from tests.support.clock import Clock

from .fakes import RecordingFanout


def send(chat_id: str, content: str, cmid: str) -> payloads.SendMessage:
    return payloads.SendMessage(chat_id, content, cmid)


async def direct(service: ChatService, a: str = "alice", b: str = "bob") -> str:
    chat, _ = await service.open_direct(a, b)
    return chat.id


async def test_direct_chat_has_one_id_whoever_opens_it(service: ChatService) -> None:
    first, created = await service.open_direct("alice", "bob")
    second, created_again = await service.open_direct("bob", "alice")
    assert first.id == second.id == direct_chat_id("bob", "alice")
    assert (created, created_again) == (True, False)
    assert first.members == ("alice", "bob")


async def test_direct_chat_with_oneself_is_invalid(service: ChatService) -> None:
    with pytest.raises(Invalid):
        await service.open_direct("alice", "alice")


async def test_group_puts_creator_first_and_needs_another_member(service: ChatService) -> None:
    group, created = await service.create_chat("carol", payloads.CreateChat("group", "Team", ("alice", "carol"), None))
    assert created and group.chat.members == ("carol", "alice") and group.chat.title == "Team"
    assert group.unread_count == 0
    with pytest.raises(Invalid):
        await service.create_chat("carol", payloads.CreateChat("group", None, ("carol",), None))


async def test_outsiders_get_not_found_everywhere(service: ChatService) -> None:
    chat_id = await direct(service)
    attempts = [
        service.get_chat("mallory", chat_id),
        service.send_message("mallory", send(chat_id, "hi", "m1"), None),
        service.mark_read("mallory", payloads.MarkRead(chat_id, None)),
        service.get_messages("mallory", payloads.GetMessages(chat_id, None, None, 50)),
        service.set_typing("mallory", payloads.Typing(chat_id, True)),
        service.active_users("mallory", chat_id),
        service.join_chat("mallory", payloads.JoinChat(chat_id, None, None), None),
        service.get_chat("alice", "d_unknown"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt


async def test_send_assigns_increasing_seqs_and_delivers_to_members_except_the_sender_socket(
    service: ChatService, fanout: RecordingFanout
) -> None:
    chat_id = await direct(service)
    first = await service.send_message("alice", send(chat_id, "one", "c1"), "sid-a")
    second = await service.send_message("bob", send(chat_id, "two", "c2"), None)
    assert (first.message.seq, second.message.seq) == (1, 2)
    delivered = fanout.events("new_message")
    assert [d.data["seq"] for d in delivered] == [1, 2]
    assert set(delivered[0].users) == {"alice", "bob"} and delivered[0].skip == ("sid-a",)


async def test_a_retry_returns_the_first_message_and_delivers_nothing(
    service: ChatService, fanout: RecordingFanout
) -> None:
    chat_id = await direct(service)
    first = await service.send_message("alice", send(chat_id, "hello", "same"), None)
    retry = await service.send_message("alice", send(chat_id, "hello again", "same"), None)
    assert retry.created is False
    assert retry.message == first.message
    assert len(fanout.events("new_message")) == 1


class AnswerLostOnce:
    """The store writes the first send, then its answer is lost (Unavailable after the seq was
    handed out), as when DynamoDB applied a put whose response never came back."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.lost = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def append_message(
        self, *args: Any, on_seq: Callable[[int], None] | None = None, **extra: Any
    ) -> AppendResult:
        result = await self._store.append_message(*args, on_seq=on_seq, **extra)
        if not self.lost:
            self.lost = True
            if on_seq is not None:
                on_seq(result.message.seq)
            raise Unavailable("answer lost")
        return result


async def test_the_retry_of_a_send_whose_answer_was_lost_delivers_it_once(
    store: SqliteStore, fanout: RecordingFanout
) -> None:
    service = ChatService(AnswerLostOnce(store), fanout, node_id="node-a")  # type: ignore[arg-type]
    chat_id = await direct(service)
    with pytest.raises(Unavailable):
        await service.send_message("alice", send(chat_id, "hello", "k1"), None)
    assert fanout.events("new_message") == []
    retry = await service.send_message("alice", send(chat_id, "hello", "k1"), None)
    assert not retry.created
    again = await service.send_message("alice", send(chat_id, "hello", "k1"), None)
    assert again.message == retry.message
    assert [d.data["id"] for d in fanout.events("new_message")] == [retry.message.id]


async def test_concurrent_retries_store_one_message(service: ChatService, store: SqliteStore) -> None:
    chat_id = await direct(service)
    results = await asyncio.gather(*(service.send_message("alice", send(chat_id, "x", "dup"), None) for _ in range(20)))
    assert len({r.message.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    page = await store.list_messages(chat_id, before_seq=None, after_seq=None, limit=100)
    assert len(page.messages) == 1


async def test_unread_counts_follow_sends_and_reads(service: ChatService, fanout: RecordingFanout) -> None:
    """Counts come from the node's book of a connected user, loaded once: no store read per send."""
    await service.connect("bob", "sb")
    chat_id = await direct(service)
    other = (await service.open_direct("carol", "bob"))[0].id
    for i in range(3):
        await service.send_message("alice", send(chat_id, f"m{i}", f"a{i}"), None)
    await service.send_message("carol", send(other, "hey", "c0"), None)
    await service.wait_background()
    to_bob = [d.data for d in fanout.events("unread_count") if d.users == ("bob",)]
    assert to_bob[-1] == {"chatId": other, "unreadCount": 1, "totalUnread": 4}
    fanout.clear()
    result = await service.mark_read("bob", payloads.MarkRead(chat_id, 2))
    assert (result.read_seq, result.unread_count) == (2, 1)
    assert fanout.events("messages_read")[0].data == {"chatId": chat_id, "userId": "bob", "readSeq": 2}
    await service.wait_background()
    assert fanout.events("unread_count")[-1].data == {"chatId": chat_id, "unreadCount": 1, "totalUnread": 2}
    fanout.clear()
    await service.mark_read("bob", payloads.MarkRead(chat_id, None))
    await service.wait_background()
    assert fanout.events("unread_count")[-1].data == {"chatId": chat_id, "unreadCount": 0, "totalUnread": 1}


async def test_read_marks_never_go_backwards_and_clamp_to_last_seq(
    service: ChatService, fanout: RecordingFanout
) -> None:
    chat_id = await direct(service)
    for i in range(3):
        await service.send_message("alice", send(chat_id, "m", f"k{i}"), None)
    assert (await service.mark_read("bob", payloads.MarkRead(chat_id, 99))).read_seq == 3
    fanout.clear()
    again = await service.mark_read("bob", payloads.MarkRead(chat_id, 1))
    assert again.read_seq == 3 and again.unread_count == 0
    assert fanout.events("messages_read") == []


async def test_sending_never_moves_a_read_mark(service: ChatService) -> None:
    """A send writes no read mark (that write is what the DynamoDB send path saves); a user's
    own messages are never unread to them."""
    await service.connect("bob", "sb")
    chat_id = await direct(service)
    await service.send_message("alice", send(chat_id, "1", "a"), None)
    await service.send_message("bob", send(chat_id, "2", "b"), "sb")
    await service.wait_background()
    view = await service.get_chat("bob", chat_id)
    assert view.chat.read_seqs == {"alice": 0, "bob": 0}
    assert view.unread_count == 1
    assert (await service.get_chat("alice", chat_id)).unread_count == 1


async def test_join_returns_latest_or_what_was_missed(service: ChatService) -> None:
    chat_id = await direct(service)
    for i in range(60):
        await service.send_message("alice", send(chat_id, f"m{i}", f"c{i}"), None)
    latest = await service.join_chat("bob", payloads.JoinChat(chat_id, None, None), None)
    assert [m.seq for m in latest.messages] == list(range(11, 61)) and latest.has_more
    missed = await service.join_chat("bob", payloads.JoinChat(chat_id, None, 55), None)
    assert [m.seq for m in missed.messages] == [56, 57, 58, 59, 60] and not missed.has_more


async def test_join_by_recipient_creates_the_direct_chat(service: ChatService) -> None:
    result = await service.join_chat("alice", payloads.JoinChat(None, "dave", None), None)
    assert result.view.chat.id == direct_chat_id("alice", "dave") and result.messages == ()


async def test_joined_left_and_typing_reach_other_viewers(service: ChatService, fanout: RecordingFanout) -> None:
    chat_id = await direct(service)
    await service.connect("alice", "sa")
    await service.connect("bob", "sb")
    await service.join_chat("bob", payloads.JoinChat(chat_id, None, None), "sb")
    fanout.clear()
    await service.join_chat("alice", payloads.JoinChat(chat_id, None, None), "sa")
    joined = fanout.events("user_joined_chat")
    assert joined[0].data == {"chatId": chat_id, "userId": "alice"} and joined[0].skip == ("sa",)
    await service.set_typing("alice", payloads.Typing(chat_id, True))
    await service.set_typing("alice", payloads.Typing(chat_id, True))  # refresh: no second event
    assert len(fanout.events("user_typing")) == 1
    fanout.clear()
    await service.leave_chat("alice", chat_id, "sa")
    assert [d.event for d in fanout.deliveries] == ["user_typing", "user_left_chat"]
    assert fanout.deliveries[0].data["isTyping"] is False


async def test_a_join_whose_socket_closed_in_flight_answers_and_views_nothing(
    service: ChatService, fanout: RecordingFanout
) -> None:
    chat_id = await direct(service)
    await service.connect("bob", "sb")
    await service.join_chat("bob", payloads.JoinChat(chat_id, None, None), "sb")
    await service.connect("alice", "sa")
    await service.disconnect("alice", "sa")  # the socket is gone before its join is handled
    fanout.clear()
    result = await service.join_chat("alice", payloads.JoinChat(chat_id, None, None), "sa")
    assert result.view.chat.id == chat_id
    assert fanout.events("user_joined_chat") == []
    assert not service.viewers.is_viewing(chat_id, "sa")


async def test_typing_expires_in_cleanup(service: ChatService, fanout: RecordingFanout, clock: Clock) -> None:
    chat_id = await direct(service)
    await service.set_typing("alice", payloads.Typing(chat_id, True))
    fanout.clear()
    clock.advance(9_000)
    report = await service.cleanup()
    assert report.typing_expired == 1
    assert fanout.events("user_typing")[0].data == {"chatId": chat_id, "userId": "alice", "isTyping": False}


async def test_presence_announces_once_and_waits_out_the_grace_period(
    service: ChatService, fanout: RecordingFanout
) -> None:
    await direct(service)
    await service.connect("alice", "s1")
    await service.connect("alice", "s2")
    assert [d.data for d in fanout.events("user_online")] == [{"userId": "alice"}]
    assert fanout.events("user_online")[0].users == ("bob",)
    await service.disconnect("alice", "s1")
    await service.disconnect("alice", "s2")
    assert fanout.events("user_offline") == []
    assert (await service.active_users("bob", await direct(service)))[0].online  # still in grace
    await service.wait_offline_checks()
    offline = fanout.events("user_offline")
    assert len(offline) == 1 and offline[0].data["userId"] == "alice" and offline[0].data["lastSeen"]


async def test_reconnect_within_grace_does_not_flap(service: ChatService, fanout: RecordingFanout) -> None:
    await direct(service)
    await service.connect("alice", "s1")
    await service.disconnect("alice", "s1")
    await service.connect("alice", "s2")
    await service.wait_offline_checks()  # any offline check still alive has run to its end
    await service.wait_background()
    assert fanout.events("user_offline") == [] and len(fanout.events("user_online")) == 1


async def test_cleanup_reaps_a_dead_nodes_connections_and_announces_offline(
    service: ChatService, store: SqliteStore, fanout: RecordingFanout, clock: Clock
) -> None:
    await direct(service)
    await store.touch_node("node-dead", clock.now)
    await store.open_connection(ConnectionRef("bob", "ghost", "node-dead"), clock.now)
    clock.advance(61_000)
    report = await service.cleanup()
    assert (report.nodes_reaped, report.connections_reaped, report.users_offline) == (1, 1, 1)
    assert fanout.events("user_offline")[0].data["userId"] == "bob"
    assert (await service.cleanup()).users_offline == 0  # idempotent


async def test_a_restart_with_the_same_node_id_closes_what_the_killed_process_left(
    service: ChatService, store: SqliteStore, fanout: RecordingFanout
) -> None:
    await direct(service)
    await store.open_connection(ConnectionRef("bob", "before-the-kill", service.node_id), 0)
    leftovers = await service.take_over_node_id()
    assert [r.connection_id for r in leftovers] == ["before-the-kill"]
    assert await store.stale_nodes(10**15) == [service.node_id]  # its heartbeat runs again
    await service.connect("bob", "after-the-restart")  # serving before the leftovers are closed
    report = await service.close_leftovers(leftovers)
    assert (report.connections_reaped, report.users_offline) == (1, 0)
    assert (await store.presence(["bob"]))["bob"].online is True
    assert [r.connection_id for r in await store.node_connections(service.node_id, 10)] == ["after-the-restart"]
    await service.disconnect("bob", "after-the-restart")
    await service.wait_offline_checks()
    assert (await store.presence(["bob"]))["bob"].online is False
    assert [e.data["userId"] for e in fanout.events("user_offline")] == ["bob"]


async def test_a_node_declared_dead_while_alive_registers_its_connections_again(
    service: ChatService, store: SqliteStore, fanout: RecordingFanout, clock: Clock
) -> None:
    await direct(service)
    assert await service.heartbeat() == 0  # first beat: nothing to restore
    await service.connect("alice", "sa")
    await service.connect("alice", "sa2")
    # another node's reaper saw this node's heartbeat go stale (a long pause) and closed its records
    for sid in ("sa", "sa2"):
        await store.close_connection(ConnectionRef("alice", sid, service.node_id), clock.now)
    await store.settle_offline("alice", clock.now)
    await store.forget_node(service.node_id)
    fanout.clear()
    assert await service.heartbeat() == 2
    assert (await store.presence(["alice"]))["alice"].online is True
    assert [e.data["userId"] for e in fanout.events("user_online")] == ["alice"]
    assert await service.heartbeat() == 0  # known again
    await service.disconnect("alice", "sa")
    await service.disconnect("alice", "sa2")
    assert await store.node_connections(service.node_id, 10) == []


async def test_registering_again_that_fails_halfway_is_finished_by_the_next_beat(
    service: ChatService, store: SqliteStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.heartbeat()
    await service.connect("alice", "sa")
    await store.close_connection(ConnectionRef("alice", "sa", service.node_id), clock.now)
    await store.forget_node(service.node_id)
    real_open = store.open_connection

    async def unavailable(ref: ConnectionRef, now_ms: int) -> bool:
        raise Unavailable("store throttled")

    monkeypatch.setattr(store, "open_connection", unavailable)
    with pytest.raises(Unavailable):
        await service.heartbeat()
    monkeypatch.setattr(store, "open_connection", real_open)
    assert await service.heartbeat() == 1  # the record is back, but the connection was not yet
    assert [r.connection_id for r in await store.node_connections(service.node_id, 10)] == ["sa"]


async def test_cleanup_stops_at_its_deadline(service: ChatService, store: SqliteStore, clock: Clock) -> None:
    await store.touch_node("node-dead", clock.now)
    await store.open_connection(ConnectionRef("bob", "ghost", "node-dead"), clock.now)
    clock.advance(61_000)
    report = await service.cleanup(deadline_ms=clock.now - 1, local=False)
    assert report.complete is False and report.connections_reaped == 0
    assert (await service.cleanup(local=False)).connections_reaped == 1


async def test_disconnect_announces_left_for_the_chats_the_socket_viewed(
    service: ChatService, fanout: RecordingFanout
) -> None:
    chat_id = await direct(service)
    await service.connect("alice", "sa")
    await service.join_chat("alice", payloads.JoinChat(chat_id, None, None), "sa")
    fanout.clear()
    await service.disconnect("alice", "sa")
    assert fanout.events("user_left_chat")[0].data == {"chatId": chat_id, "userId": "alice"}
    assert service.viewers.viewers == {} and service.viewers.user_by_sid == {}


async def test_unread_count_reaches_only_members_whose_count_changed(
    service: ChatService, fanout: RecordingFanout
) -> None:
    await service.connect("alice", "sa")
    await service.connect("bob", "sb")
    chat_id = await direct(service)
    await service.send_message("alice", send(chat_id, "1", "a1"), None)
    await service.wait_background()
    assert [d.users for d in fanout.events("unread_count")] == [("bob",)]
    fanout.clear()
    await service.send_message("bob", send(chat_id, "2", "b1"), "sb")
    await service.wait_background()
    sent = {d.users[0]: d.data for d in fanout.events("unread_count")}
    assert sent == {"alice": {"chatId": chat_id, "unreadCount": 1, "totalUnread": 1}}


class OpenAnswerLost:
    """open_connection is applied, then its answer is lost (Unavailable), as when DynamoDB
    applied the presence update whose response never came back (the soak found it)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def open_connection(self, ref: ConnectionRef, now_ms: int) -> bool:
        await self._store.open_connection(ref, now_ms)
        raise Unavailable("answer lost")


async def test_a_connection_whose_opening_failed_leaves_no_record_behind(
    store: SqliteStore, fanout: RecordingFanout
) -> None:
    service = ChatService(OpenAnswerLost(store), fanout, node_id="node-a", presence_grace_s=0.05)  # type: ignore[arg-type]
    chat_id = await direct(service)
    with pytest.raises(Unavailable):
        await service.connect("alice", "s1")
    await service.wait_background()
    await service.wait_offline_checks()
    assert await store.node_connections("node-a", 10) == []
    assert not (await service.active_users("bob", chat_id))[0].online


class CloseFailsOnce:
    """close_connection is unavailable once (throttled past its retries), then works."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def close_connection(self, ref: ConnectionRef, now_ms: int) -> int:
        if not self.failed:
            self.failed = True
            raise Unavailable("throttled")
        return await self._store.close_connection(ref, now_ms)


async def test_a_disconnect_whose_bookkeeping_failed_still_ends_in_offline(
    store: SqliteStore, fanout: RecordingFanout
) -> None:
    flaky = CloseFailsOnce(store)
    service = ChatService(flaky, fanout, node_id="node-a", presence_grace_s=0.05)  # type: ignore[arg-type]
    chat_id = await direct(service)
    await service.connect("alice", "s1")
    with pytest.raises(Unavailable):
        await service.disconnect("alice", "s1")
    await service.wait_background()
    await service.wait_offline_checks()
    assert flaky.failed and await store.node_connections("node-a", 10) == []
    assert not (await service.active_users("bob", chat_id))[0].online
    assert [d.data["userId"] for d in fanout.events("user_offline")] == ["alice"]


class ContactsFailOnce:
    """contacts() is unavailable once (throttled past its retries), then works."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def contacts(self, user_id: str) -> set[str]:
        if not self.failed:
            self.failed = True
            raise Unavailable("throttled")
        return await self._store.contacts(user_id)


async def test_a_connect_whose_announcement_failed_stays_connected_and_announces_later(
    store: SqliteStore, fanout: RecordingFanout
) -> None:
    """Before: the announcement's failure refused the connection after its record was written,
    and the user stayed online for good (found by CI's short soak)."""
    flaky = ContactsFailOnce(store)
    service = ChatService(flaky, fanout, node_id="node-a", presence_grace_s=0.05)  # type: ignore[arg-type]
    chat_id = await direct(service)
    await service.connect("alice", "s1")
    assert flaky.failed and "alice" in service.viewers.sids_by_user
    await service.wait_background()
    (online,) = fanout.events("user_online")
    assert online.users == ("bob",)
    await service.disconnect("alice", "s1")
    await service.wait_offline_checks()
    await service.wait_background()
    assert not (await service.active_users("bob", chat_id))[0].online
