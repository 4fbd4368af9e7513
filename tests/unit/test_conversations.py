"""Conversations in the service: topics, group membership over time, blocking, what every node
keeps of a chat, and the platform hooks. Real SQLite store; nodes are services sharing it, their
notices linked as pub/sub links them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest

from chat_core import payloads
from chat_core.errors import Blocked, Forbidden, Invalid, NotFound
from chat_core.ids import direct_chat_id
from chat_core.models import MemberNotice
from chat_core.service import ChatService
from chat_core.stores.sqlite import SqliteStore
from tests.support.clock import Clock

from .fakes import RecordingFanout


def send(chat_id: str, content: str, cmid: str) -> payloads.SendMessage:
    return payloads.SendMessage(chat_id, content, cmid)


def node(store: SqliteStore, fanout: RecordingFanout, clock: Clock, name: str, **options: Any) -> ChatService:
    return ChatService(store, fanout, node_id=name, presence_grace_s=0.05, presence_ttl_s=60, clock=clock, **options)


@pytest.fixture
def fanout_b(fanout: RecordingFanout) -> RecordingFanout:
    other = RecordingFanout(peers=[fanout])
    fanout.peers.append(other)
    return other


@pytest.fixture
def service_b(store: SqliteStore, fanout_b: RecordingFanout, clock: Clock) -> ChatService:
    return node(store, fanout_b, clock, "node-b")


async def group(service: ChatService, creator: str = "alice", *others: str) -> str:
    view, _ = await service.create_chat(creator, payloads.CreateChat("group", "Team", tuple(others) or ("bob",), None))
    return view.chat.id


def users_of(fanout: RecordingFanout, event: str) -> set[str]:
    return {u for d in fanout.events(event) for u in d.users}


# --- topics -------------------------------------------------------------------------------------


async def test_two_buyers_get_a_thread_per_listing_with_one_seller(service: ChatService) -> None:
    first, created = await service.open_direct("buyer1", "seller", "listing-1")
    second, _ = await service.open_direct("buyer2", "seller", "listing-2")
    other_listing, _ = await service.open_direct("buyer1", "seller", "listing-2")
    plain, _ = await service.open_direct("buyer1", "seller")
    again, created_again = await service.open_direct("seller", "buyer1", "listing-1")
    assert created and not created_again and again.id == first.id
    assert len({first.id, second.id, other_listing.id, plain.id}) == 4
    assert (first.topic, plain.topic) == ("listing-1", None)
    assert plain.id == direct_chat_id("buyer1", "seller")
    page = await service.list_chats("seller", 10, None)
    assert {v.chat.id for v in page.chats} == {first.id, second.id, other_listing.id, plain.id}


async def test_join_chat_with_a_topic_opens_that_thread(service: ChatService) -> None:
    joined = await service.join_chat("buyer1", payloads.join_chat({"recipientId": "seller", "topic": "order-7"}), None)
    assert joined.view.chat.topic == "order-7"
    assert joined.view.chat.id == direct_chat_id("seller", "buyer1", "order-7")
    with pytest.raises(Invalid):
        payloads.join_chat({"chatId": joined.view.chat.id, "topic": "order-7"})


# --- membership -----------------------------------------------------------------------------------


async def test_a_new_member_sees_history_from_joining(service: ChatService) -> None:
    chat_id = await group(service, "alice", "bob")
    first = await service.send_message("alice", send(chat_id, "before", "m1"), None)
    chat = await service.add_members("alice", payloads.AddMembers(chat_id, ("carol",)))
    assert chat.members == ("alice", "bob", "carol") and chat.version == 1
    view = await service.get_chat("carol", chat_id)
    assert view.unread_count == 0
    assert service.chat_json(view, "carol")["lastMessage"] is None
    assert service.chat_json(await service.get_chat("bob", chat_id), "bob")["lastMessage"]["content"] == "before"
    page = await service.get_messages("carol", payloads.GetMessages(chat_id, None, None, 50))
    assert page.messages == () and not page.has_more
    recovered = await service.get_messages("carol", payloads.GetMessages(chat_id, None, 0, 50))
    assert recovered.messages == ()
    with pytest.raises(NotFound):
        await service.send_message("carol", payloads.SendMessage(chat_id, "re", "c0", reply_to=first.message.id), None)
    with pytest.raises(NotFound):
        await service.react("carol", payloads.React(chat_id, first.message.id, "👍", True))
    after = await service.send_message("bob", send(chat_id, "after", "m2"), None)
    page = await service.get_messages("carol", payloads.GetMessages(chat_id, None, None, 50))
    assert [m.content for m in page.messages] == ["after"]
    assert (await service.get_chat("carol", chat_id)).unread_count == 1
    await service.react("carol", payloads.React(chat_id, after.message.id, "👍", True))


async def test_with_full_history_a_new_member_sees_everything_and_nothing_unread(
    store: SqliteStore, fanout: RecordingFanout, clock: Clock
) -> None:
    service = node(store, fanout, clock, "node-a", group_history="all")
    chat_id = await group(service, "alice", "bob")
    await service.send_message("alice", send(chat_id, "before", "m1"), None)
    await service.add_members("alice", payloads.AddMembers(chat_id, ("carol",)))
    page = await service.get_messages("carol", payloads.GetMessages(chat_id, None, None, 50))
    assert [m.content for m in page.messages] == ["before"]
    assert (await service.get_chat("carol", chat_id)).unread_count == 0


async def test_only_admins_change_a_group_and_direct_chats_do_not_change(service: ChatService) -> None:
    chat_id = await group(service, "alice", "bob", "carol")
    for attempt in (
        service.add_members("bob", payloads.AddMembers(chat_id, ("dave",))),
        service.remove_member("bob", payloads.MemberRef(chat_id, "carol")),
        service.update_chat("bob", payloads.UpdateChat(chat_id, "Mine", True, None)),
    ):
        with pytest.raises(Forbidden):
            await attempt
    direct, _ = await service.open_direct("alice", "bob")
    with pytest.raises(Invalid):
        await service.add_members("alice", payloads.AddMembers(direct.id, ("dave",)))
    with pytest.raises(Invalid):
        await service.leave_group("alice", direct.id)
    with pytest.raises(NotFound):
        await service.add_members("mallory", payloads.AddMembers(chat_id, ("dave",)))
    chat = await service.get_chat("alice", chat_id)
    assert chat.chat.members == ("alice", "bob", "carol") and chat.chat.version == 0


async def test_admins_promote_rename_and_must_stay_members(service: ChatService) -> None:
    chat_id = await group(service, "alice", "bob", "carol")
    promoted = await service.update_chat("alice", payloads.UpdateChat(chat_id, None, False, ("alice", "bob")))
    assert promoted.admins == ("alice", "bob")
    renamed = await service.update_chat("bob", payloads.UpdateChat(chat_id, "Renamed", True, None))
    assert renamed.title == "Renamed" and renamed.version == 2
    with pytest.raises(Invalid):
        await service.update_chat("alice", payloads.UpdateChat(chat_id, None, False, ("alice", "zed")))
    unchanged = await service.update_chat("alice", payloads.UpdateChat(chat_id, "Renamed", True, None))
    assert unchanged.version == 2


async def test_the_last_admin_leaving_hands_the_group_to_its_oldest_member(
    service: ChatService, fanout: RecordingFanout
) -> None:
    chat_id = await group(service, "alice", "bob", "carol")
    fanout.clear()
    after = await service.leave_group("alice", chat_id)
    assert after.members == ("bob", "carol") and after.admins == ("bob",)
    (updated,) = fanout.events("chat_updated")
    assert updated.data["change"] == {"type": "member_left", "by": "alice"}
    with pytest.raises(NotFound):
        await service.get_chat("alice", chat_id)


async def test_two_admins_adding_at_once_both_land(service: ChatService) -> None:
    chat_id = await group(service, "alice", "bob")
    await service.update_chat("alice", payloads.UpdateChat(chat_id, None, False, ("alice", "bob")))
    await asyncio.gather(
        service.add_members("alice", payloads.AddMembers(chat_id, ("carol",))),
        service.add_members("bob", payloads.AddMembers(chat_id, ("dave",))),
    )
    chat = (await service.get_chat("alice", chat_id)).chat
    assert set(chat.members) == {"alice", "bob", "carol", "dave"} and chat.version == 3


# --- every node at once -----------------------------------------------------------------------------


@pytest.fixture
async def carol_on_b(service: ChatService, service_b: ChatService) -> AsyncIterator[str]:
    chat_id = await group(service, "alice", "bob", "carol")
    await service_b.connect("carol", "sid-carol")
    await service_b.join_chat("carol", payloads.JoinChat(chat_id, None, None), "sid-carol")
    await service_b.send_message("bob", send(chat_id, "warm the cache of node b", "w1"), None)
    yield chat_id


async def test_a_removed_member_stops_receiving_on_every_node(
    service: ChatService, service_b: ChatService, fanout_b: RecordingFanout, carol_on_b: str
) -> None:
    chat_id = carol_on_b
    assert "carol" in users_of(fanout_b, "new_message")
    assert fanout_b.rooms[chat_id] == {"sid-carol"}
    await service.remove_member("alice", payloads.MemberRef(chat_id, "carol"))
    await service_b.wait_background()
    assert users_of(fanout_b, "removed_from_chat") == {"carol"}
    assert fanout_b.rooms[chat_id] == set()
    assert not service_b.viewers.is_viewing(chat_id, "sid-carol")
    fanout_b.clear()
    # node b's own sends know the new members
    await service_b.send_message("bob", send(chat_id, "after", "a1"), None)
    assert "carol" not in users_of(fanout_b, "new_message") and "alice" in users_of(fanout_b, "new_message")
    # a notice from a node that still had the old members: node b knows better
    stale = MemberNotice("new_message", {"chatId": chat_id, "seq": 99, "senderId": "bob"}, ("alice", "bob", "carol"))
    fanout_b.clear()
    service_b.on_member_notice(stale)
    (delivered,) = fanout_b.events("new_message")
    assert delivered.users == ("alice", "bob")
    with pytest.raises(NotFound):
        await service_b.send_message("carol", send(chat_id, "still here?", "c1"), None)
    with pytest.raises(NotFound):
        await service_b.get_messages("carol", payloads.GetMessages(chat_id, None, None, 50))


async def test_a_removed_members_unread_count_goes(
    service: ChatService, service_b: ChatService, fanout_b: RecordingFanout, carol_on_b: str
) -> None:
    chat_id = carol_on_b
    counts = await service_b.unread.counts_of("carol", 2.0)
    assert counts is not None and counts.total == 1
    await service.remove_member("alice", payloads.MemberRef(chat_id, "carol"))
    await service_b.wait_background()
    assert service_b.unread.count("carol", chat_id) == 0
    assert fanout_b.events("unread_count")[-1].data == {"chatId": chat_id, "unreadCount": 0, "totalUnread": 0}


async def test_a_new_member_is_reached_on_every_node(
    service: ChatService, service_b: ChatService, fanout_b: RecordingFanout
) -> None:
    chat_id = await group(service, "alice", "bob")
    await service_b.send_message("bob", send(chat_id, "cache it on b", "w1"), None)
    await service.add_members("alice", payloads.AddMembers(chat_id, ("carol",)))
    assert "carol" in users_of(fanout_b, "chat_updated")
    fanout_b.clear()
    await service_b.send_message("bob", send(chat_id, "hello carol", "h1"), None)
    assert "carol" in users_of(fanout_b, "new_message")
    await service_b.send_message("carol", send(chat_id, "hi all", "c1"), None)


async def test_a_process_without_notices_reads_the_chat_every_time(
    store: SqliteStore, fanout: RecordingFanout, clock: Clock, service: ChatService
) -> None:
    lambda_like = node(store, RecordingFanout(), clock, "fn", cache_chats=False)
    chat_id = await group(service, "alice", "bob", "carol")
    await lambda_like.send_message("carol", send(chat_id, "first", "c1"), None)
    await service.remove_member("alice", payloads.MemberRef(chat_id, "carol"))
    with pytest.raises(NotFound):
        await lambda_like.send_message("carol", send(chat_id, "second", "c2"), None)


# --- blocking -----------------------------------------------------------------------------------------


async def test_a_blocked_pair_cannot_reach_each_other(service: ChatService, service_b: ChatService) -> None:
    chat, _ = await service.open_direct("buyer", "seller", "listing-1")
    await service_b.send_message("buyer", send(chat.id, "cache it on b", "w1"), None)
    await service.block_user("seller", "buyer")
    assert await service.blocked_users("seller") == ["buyer"]
    assert await service.blocked_users("buyer") == []
    for sender, node_ in (("buyer", service_b), ("seller", service_b), ("buyer", service)):
        with pytest.raises(Blocked):
            await node_.send_message(sender, send(chat.id, "hello?", f"{sender}-x"), None)
    with pytest.raises(Blocked):
        await service.open_direct("buyer", "seller", "listing-2")
    first = (await service_b.get_messages("buyer", payloads.GetMessages(chat.id, None, None, 50))).messages[0]
    with pytest.raises(Blocked):
        await service_b.react("seller", payloads.React(chat.id, first.id, "👍", True))
    with pytest.raises(Blocked):
        await service_b.edit_message("buyer", payloads.EditMessage(chat.id, first.id, "edited"))
    await service_b.delete_message("buyer", payloads.MessageRef(chat.id, first.id))
    view = await service_b.get_chat("buyer", chat.id)
    assert service_b.chat_json(view, "buyer")["blocked"] is True
    await service.block_user("seller", "buyer", blocking=False)
    await service_b.send_message("buyer", send(chat.id, "hello again", "w2"), None)
    await service.open_direct("buyer", "seller", "listing-2")


async def test_blocking_hides_presence_both_ways(service: ChatService, fanout: RecordingFanout) -> None:
    await service.open_direct("buyer", "seller")
    await service.open_direct("buyer", "friend")
    await service.block_user("buyer", "seller")
    await service.connect("seller", "sid-s")
    fanout.clear()
    await service.connect("buyer", "sid-b")
    assert users_of(fanout, "user_online") == {"friend"}
    seen = {p.user_id: p for p in await service.contacts_presence("buyer")}
    assert not seen["seller"].online and seen["seller"].last_seen_ms is None
    seen_by_seller = {p.user_id: p for p in await service.contacts_presence("seller")}
    assert not seen_by_seller["buyer"].online


async def test_a_send_reads_nothing_but_the_append_once_the_chat_is_known(
    store: SqliteStore, service: ChatService
) -> None:
    chat, _ = await service.open_direct("buyer", "seller")
    await service.block_user("buyer", "mallory")
    await service.send_message("buyer", send(chat.id, "warm", "w1"), None)
    called: list[str] = []
    for name in ("get_chat", "blocks", "get_message", "presence", "contacts"):
        original = getattr(store, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            called.append(_name)
            return _original(*args, **kwargs)

        setattr(store, name, spy)
    await service.send_message("buyer", send(chat.id, "no reads", "w2"), None)
    assert called == []


# --- platform hooks -------------------------------------------------------------------------------------


class Policy:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, list[str], str | None]] = []

    async def allow(self, kind: Literal["direct", "group"], user_id: str, others: list[str], topic: str | None) -> bool:
        self.asked.append((kind, user_id, others, topic))
        return self.answer


class OfflineHook:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], dict[str, Any], list[str]]] = []

    def notify(self, message: dict[str, Any], chat: dict[str, Any], recipients: list[str]) -> None:
        self.calls.append((message, chat, recipients))


async def test_the_policy_decides_new_chats_only(store: SqliteStore, fanout: RecordingFanout, clock: Clock) -> None:
    policy = Policy(False)
    service = node(store, fanout, clock, "node-a", policy=policy)
    with pytest.raises(Forbidden):
        await service.open_direct("buyer", "seller", "listing-1")
    with pytest.raises(Forbidden):
        await group(service, "alice", "bob")
    assert policy.asked == [("direct", "buyer", ["seller"], "listing-1"), ("group", "alice", ["bob"], None)]
    assert (await service.list_chats("buyer", 10, None)).chats == ()
    policy.answer = True
    chat, _ = await service.open_direct("buyer", "seller", "listing-1")
    policy.answer = False
    again, created = await service.open_direct("seller", "buyer", "listing-1")
    assert again.id == chat.id and not created
    await service.send_message("buyer", send(chat.id, "existing chats are not asked again", "m1"), None)
    assert len(policy.asked) == 3


async def test_the_offline_hook_hears_of_new_messages_once(
    store: SqliteStore, fanout: RecordingFanout, clock: Clock
) -> None:
    hook = OfflineHook()
    service = node(store, fanout, clock, "node-a", offline_hook=hook)
    chat_id = await group(service, "alice", "bob", "carol")
    sent = await service.send_message("alice", send(chat_id, "hello", "m1"), None)
    await service.send_message("alice", send(chat_id, "hello", "m1"), None)  # a retry
    ((message, chat, recipients),) = hook.calls
    assert message["id"] == sent.message.id and chat["id"] == chat_id
    assert recipients == ["bob", "carol"]


async def test_after_missed_notices_a_node_reads_chats_again(
    store: SqliteStore, service: ChatService, clock: Clock
) -> None:
    cut_off = node(store, RecordingFanout(), clock, "node-c")  # not linked: it misses every notice
    chat_id = await group(service, "alice", "bob", "carol")
    await cut_off.send_message("carol", send(chat_id, "cached", "c1"), None)
    await service.remove_member("alice", payloads.MemberRef(chat_id, "carol"))
    await cut_off.send_message("carol", send(chat_id, "a stale cache lets this through", "c2"), None)
    cut_off.forget_notices()  # what the node does when its pub/sub link comes back (resync)
    with pytest.raises(NotFound):
        await cut_off.send_message("carol", send(chat_id, "refused", "c3"), None)
