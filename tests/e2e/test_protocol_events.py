"""Success paths of every client event and the server events they cause, over both transports."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.support.clients import Recorder, unique

pytestmark = pytest.mark.e2e

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MESSAGE_KEYS = {"id", "chatId", "seq", "senderId", "content", "clientMessageId", "createdAt"}
#: protocol 1.1: every message carries them (a v1 client ignores them)
MESSAGE_CHANGE_KEYS = {"changeSeq", "editedAt", "deleted", "replyTo", "reactions", "attachments"}
CHAT_KEYS = {"id", "type", "title", "members", "createdAt", "lastSeq", "lastMessage", "unreadCount"}
CHAT_EXTRA_KEYS = {"readSeqs", "lastActivityAt"}
#: protocol 1.1, conversations: every chat carries them
CHAT_CONVERSATION_KEYS = {"topic", "admins", "blocked", "version"}


def assert_message(m: Any, **expected: Any) -> None:
    assert isinstance(m, dict) and set(m) == MESSAGE_KEYS | MESSAGE_CHANGE_KEYS, m
    assert m["changeSeq"] >= m["seq"] and m["deleted"] is False and m["editedAt"] is None
    assert isinstance(m["id"], str) and m["id"]
    assert isinstance(m["seq"], int) and not isinstance(m["seq"], bool) and m["seq"] >= 1
    assert ISO.match(m["createdAt"]), m["createdAt"]
    for key, value in expected.items():
        assert m[key] == value, (key, m)


def assert_chat(c: Any, **expected: Any) -> None:
    assert isinstance(c, dict) and CHAT_KEYS <= set(c) <= CHAT_KEYS | CHAT_EXTRA_KEYS | CHAT_CONVERSATION_KEYS, c
    assert c["type"] in ("direct", "group")
    assert ISO.match(c["createdAt"])
    assert isinstance(c["lastSeq"], int) and isinstance(c["unreadCount"], int)
    if c["lastMessage"] is not None:
        assert_message(c["lastMessage"], chatId=c["id"], seq=c["lastSeq"])
    for key, value in expected.items():
        assert c[key] == value, (key, c)


async def open_direct(a: Recorder, b_id: str) -> str:
    ack = await a.ok("join_chat", {"recipientId": b_id})
    return str(ack["chat"]["id"])


async def send(
    c: Recorder, chat_id: str, content: str, cmid: str | None = None, *, ack_within: float = 5.0
) -> dict[str, Any]:
    ack = await c.ok(
        "send_message",
        {"chatId": chat_id, "content": content, "clientMessageId": cmid or unique("m")},
        timeout=ack_within,
    )
    return dict(ack["message"])


#: bursts to one chat on DynamoDB (moto_server) are written one after another (docs/architecture.md,
#: the send path): give their acks time
BURST_ACK_TIMEOUT_S = 60.0


async def test_connected_event(clients: Any, transport: list[str]) -> None:
    alice = unique("alice")
    a = await clients(alice, transport)
    connected = a.of("connected")[0]
    assert set(connected) == {"userId", "connectionId", "serverTime", "protocol"}
    assert connected["userId"] == alice
    assert connected["protocol"] == 1.1
    assert connected["connectionId"] == a.sid
    assert ISO.match(connected["serverTime"])
    assert a.of("connected") == [connected]


async def test_every_event_success_ack_and_compat_events(clients: Any, transport: list[str]) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice, transport)
    b = await clients(bob, transport)

    join = await a.call("join_chat", {"recipientId": bob})
    assert set(join) == {"ok", "chat", "messages", "updates", "hasMore"}
    assert join["ok"] is True and join["messages"] == [] and join["hasMore"] is False
    chat = join["chat"]
    assert_chat(chat, type="direct", title=None, lastSeq=0, lastMessage=None, unreadCount=0)
    assert sorted(chat["members"]) == sorted([alice, bob])
    chat_id = chat["id"]
    # the direct chat has one id whoever opens it
    assert (await b.ok("join_chat", {"recipientId": alice}))["chat"]["id"] == chat_id
    assert (await b.ok("join_chat", {"chatId": chat_id}))["chat"]["id"] == chat_id

    sent = await a.call("send_message", {"chatId": chat_id, "content": "hi bob", "clientMessageId": "c-1"})
    assert set(sent) == {"ok", "message"} and sent["ok"] is True
    assert_message(sent["message"], chatId=chat_id, seq=1, senderId=alice, content="hi bob", clientMessageId="c-1")
    compat = await a.wait_for("message_sent")
    assert compat == {"clientMessageId": "c-1", "message": sent["message"]}
    assert b.of("message_sent") == []

    read = await b.call("mark_messages_read", {"chatId": chat_id})
    assert read == {"ok": True, "chatId": chat_id, "readSeq": 1, "unreadCount": 0}

    users = await a.call("get_active_users", {"chatId": chat_id})
    assert set(users) == {"ok", "chatId", "users"} and users["chatId"] == chat_id
    assert sorted(u["userId"] for u in users["users"]) == sorted([alice, bob])
    for u in users["users"]:
        assert set(u) == {"userId", "online", "lastSeen"}
        assert u["online"] is True
        assert u["lastSeen"] is None or ISO.match(u["lastSeen"])
    assert await a.wait_for("active_users") == {k: v for k, v in users.items() if k != "ok"}

    info = await a.call("get_chat_info", {"chatId": chat_id})
    assert set(info) == {"ok", "chat"}
    assert_chat(info["chat"], id=chat_id, lastSeq=1, unreadCount=0)
    assert info["chat"]["lastMessage"] == sent["message"]
    assert await a.wait_for("chat_info") == {"chat": info["chat"]}

    page = await a.call("get_messages", {"chatId": chat_id})
    assert page == {"ok": True, "messages": [sent["message"]], "updates": [], "hasMore": False}

    typing = await a.call("typing", {"chatId": chat_id, "isTyping": True})
    assert typing == {"ok": True}

    pong = await a.call("ping", {"t": 12345})
    assert set(pong) == {"ok", "serverTime", "t"} and pong["t"] == 12345 and ISO.match(pong["serverTime"])
    assert await a.wait_for("pong") == {"serverTime": pong["serverTime"], "t": 12345}
    bare = await a.call("ping")
    assert bare["ok"] is True and bare["t"] is None

    left = await a.call("leave_chat", {"chatId": chat_id})
    assert left == {"ok": True}
    # a failed request gets no compat event
    before = len(a.of("chat_info"))
    assert (await a.call("get_chat_info", {"chatId": "nope"}))["ok"] is False
    await a.barrier()
    assert len(a.of("chat_info")) == before


async def test_new_message_reaches_every_member_socket_except_sender(clients: Any, transport: list[str]) -> None:
    alice, bob = unique("alice"), unique("bob")
    a1 = await clients(alice, transport)
    a2 = await clients(alice, transport)
    b1 = await clients(bob, transport)
    b2 = await clients(bob, transport)  # never joins the chat
    outsider = await clients(unique("eve"), transport)
    chat_id = await open_direct(a1, bob)
    await b1.ok("join_chat", {"chatId": chat_id})

    msg = await send(a1, chat_id, "to everyone")
    for c in (a2, b1, b2):
        assert await c.wait_for("new_message") == msg
    # each socket's next delivery, sent after msg on the same path: a copy of msg, or msg where it
    # does not belong, would have come before it
    later = await send(a1, chat_id, "and again")
    for c in (a2, b1, b2):
        assert await c.wait_count("new_message", 2) == [msg, later]
    reply = await send(b1, chat_id, "a reply")
    assert await a1.none_before("new_message", "new_message", lambda m: m["id"] == reply["id"]) == reply
    assert a1.of("new_message") == [reply]
    to_eve = await send(a1, await open_direct(a1, outsider.name), "hi eve")
    assert await outsider.wait_for("new_message") == to_eve
    assert outsider.of("new_message") == [to_eve]


async def test_unread_count_and_messages_read(clients: Any, transport: list[str]) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice, transport)
    b = await clients(bob, transport)
    b_idle = await clients(bob, transport)
    chat_id = await open_direct(a, bob)

    await send(a, chat_id, "one")
    m2 = await send(a, chat_id, "two")
    last = await b.wait_for("unread_count", lambda d: d["unreadCount"] == 2)
    assert last == {"chatId": chat_id, "unreadCount": 2, "totalUnread": 2}
    await b_idle.wait_for("unread_count", lambda d: d["unreadCount"] == 2)
    # a sender's own messages are never unread to them
    info = await a.ok("get_chat_info", {"chatId": chat_id})
    assert info["chat"]["unreadCount"] == 0
    assert (await b.ok("get_chat_info", {"chatId": chat_id}))["chat"]["unreadCount"] == 2
    await a.barrier()  # b's count of 2 went out in a flush that held any count of a's too
    for d in a.of("unread_count"):
        assert d["unreadCount"] == 0

    b.clear(), b_idle.clear(), a.clear()
    ack = await b.ok("mark_messages_read", {"chatId": chat_id, "upToSeq": 1})
    assert ack == {"ok": True, "chatId": chat_id, "readSeq": 1, "unreadCount": 1}
    expected = {"chatId": chat_id, "userId": bob, "readSeq": 1}
    for c in (a, b, b_idle):  # every connection of every member
        assert await c.wait_for("messages_read") == expected
    assert await b.wait_for("unread_count") == {"chatId": chat_id, "unreadCount": 1, "totalUnread": 1}
    await b_idle.wait_for("unread_count")

    # upToSeq beyond the last seq is clamped; default is the last seq
    ack = await b.ok("mark_messages_read", {"chatId": chat_id, "upToSeq": 10_000})
    assert ack == {"ok": True, "chatId": chat_id, "readSeq": m2["seq"], "unreadCount": 0}
    await a.wait_for("messages_read", lambda d: d["readSeq"] == m2["seq"])
    # a mark that does not rise emits nothing: the next receipt alice gets is for a later mark
    a.clear()
    ack = await b.ok("mark_messages_read", {"chatId": chat_id, "upToSeq": 1})
    assert ack["readSeq"] == m2["seq"] and ack["unreadCount"] == 0
    m3 = await send(a, chat_id, "three")
    await b.ok("mark_messages_read", {"chatId": chat_id})
    receipt = await a.wait_for("messages_read")
    assert receipt == {"chatId": chat_id, "userId": bob, "readSeq": m3["seq"]}


async def test_total_unread_spans_chats(clients: Any, transport: list[str]) -> None:
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    a = await clients(alice, transport)
    b = await clients(bob, transport)
    c = await clients(carol, transport)
    with_alice = await open_direct(a, bob)
    with_carol = await open_direct(c, bob)
    await send(a, with_alice, "one")
    await send(a, with_alice, "two")
    await send(c, with_carol, "three")
    assert await b.wait_for("unread_count", lambda d: d["chatId"] == with_carol) == {
        "chatId": with_carol,
        "unreadCount": 1,
        "totalUnread": 3,
    }
    joined = (await b.ok("join_chat", {"chatId": with_alice}))["chat"]
    assert joined["unreadCount"] == 2
    b.clear()
    await b.ok("mark_messages_read", {"chatId": with_alice})
    assert await b.wait_for("unread_count") == {"chatId": with_alice, "unreadCount": 0, "totalUnread": 1}
    b.clear()
    # sending moves no read mark: bob's reply leaves carol's message unread
    await send(b, with_carol, "a reply")
    await send(c, with_carol, "four")
    assert await b.wait_for("unread_count") == {"chatId": with_carol, "unreadCount": 2, "totalUnread": 2}


async def test_join_and_leave_announcements(clients: Any, transport: list[str]) -> None:
    alice, bob = unique("alice"), unique("bob")
    b_viewing = await clients(bob, transport)
    b_idle = await clients(bob, transport)
    a1 = await clients(alice, transport)
    a2 = await clients(alice, transport)
    chat_id = await open_direct(b_viewing, alice)

    await a1.ok("join_chat", {"chatId": chat_id})
    joined = await b_viewing.wait_for("user_joined_chat")
    assert joined == {"chatId": chat_id, "userId": alice}
    await a2.ok("join_chat", {"chatId": chat_id})  # not alice's first socket: no second announcement
    # later events each socket is entitled to, sent after that join: an announcement would come first
    await a2.ok("typing", {"chatId": chat_id, "isTyping": True})
    await b_viewing.none_before("user_joined_chat", "user_typing", where=lambda d: d != joined)
    assert b_viewing.of("user_joined_chat") == [joined]
    await b_viewing.ok("typing", {"chatId": chat_id, "isTyping": True})  # a1's marker
    note = await send(a1, chat_id, "marker")
    for c in (b_idle, a2):
        await c.none_before("user_joined_chat", "new_message", lambda m: m["id"] == note["id"])
    await a1.none_before("user_joined_chat", "user_typing")

    await a1.ok("leave_chat", {"chatId": chat_id})  # alice still views it on a2
    still = await send(a2, chat_id, "still here")
    await b_viewing.none_before("user_left_chat", "new_message", lambda m: m["id"] == still["id"])
    await a2.disconnect()  # the last socket leaves by disconnecting
    assert await b_viewing.wait_for("user_left_chat") == {"chatId": chat_id, "userId": alice}
    await b_idle.assert_none("user_left_chat")  # sent with b_viewing's, if at all

    await a1.ok("join_chat", {"chatId": chat_id})
    await b_viewing.wait_for("user_joined_chat", count=2)
    await a1.ok("leave_chat", {"chatId": chat_id})
    await b_viewing.wait_for("user_left_chat", count=2)


async def test_user_typing(clients: Any, transport: list[str]) -> None:
    alice, bob = unique("alice"), unique("bob")
    a_joined = await clients(alice, transport)
    a_typing = await clients(alice, transport)  # never joins: typing needs membership only
    b_joined = await clients(bob, transport)
    b_idle = await clients(bob, transport)
    chat_id = await open_direct(a_joined, bob)
    await b_joined.ok("join_chat", {"chatId": chat_id})

    assert await a_typing.call("typing", {"chatId": chat_id, "isTyping": True}) == {"ok": True}
    got = await b_joined.wait_for("user_typing")
    assert got == {"chatId": chat_id, "userId": alice, "isTyping": True}
    await a_typing.ok("typing", {"chatId": chat_id, "isTyping": False})
    assert await b_joined.wait_for("user_typing", count=2) == {
        "chatId": chat_id,
        "userId": alice,
        "isTyping": False,
    }
    # bob's message is sent after alice's typing; any user_typing for these sockets comes before it
    reply = await send(b_joined, chat_id, "marker")
    for c in (b_idle, a_joined, a_typing):
        await c.none_before("user_typing", "new_message", lambda m: m["id"] == reply["id"])


async def test_presence_online_offline_after_grace_and_no_flap(clients: Any, transport: list[str]) -> None:
    carol, dave = unique("carol"), unique("dave")
    d = await clients(dave, transport)
    await open_direct(d, carol)  # they share a chat now
    c = await clients(carol, transport)
    assert await d.wait_for("user_online", lambda x: x["userId"] == carol) == {"userId": carol}

    # a quick reconnect within the grace period (0.5 s) does not flap
    # (like a page reload: the old connection goes while the new one opens)
    closing = asyncio.create_task(c.disconnect())
    await asyncio.sleep(0.05)
    c2 = await clients(carol, transport)
    await closing
    await asyncio.sleep(0.9)  # past the 0.5 s grace period of the first connection: a real timer
    await d.barrier()
    assert d.of("user_offline") == []
    assert len(d.of("user_online", lambda x: x["userId"] == carol)) == 1
    users = (await d.ok("get_active_users", {"chatId": await open_direct(d, carol)}))["users"]
    assert {u["userId"]: u["online"] for u in users}[carol] is True

    await c2.disconnect()
    t0 = asyncio.get_running_loop().time()
    off = await d.wait_for("user_offline", lambda x: x["userId"] == carol, timeout=5)
    assert asyncio.get_running_loop().time() - t0 >= 0.35  # not before the grace period
    assert set(off) == {"userId", "lastSeen"} and ISO.match(off["lastSeen"])
    users = (await d.ok("get_active_users", {"chatId": await open_direct(d, carol)}))["users"]
    seen = {u["userId"]: u for u in users}[carol]
    assert seen["online"] is False and ISO.match(seen["lastSeen"])


async def test_idempotent_retry(clients: Any, transport: list[str]) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice, transport)
    b = await clients(bob, transport)
    chat_id = await open_direct(a, bob)
    first = await send(a, chat_id, "once", cmid="retry-1")
    again = await send(a, chat_id, "once", cmid="retry-1")
    assert again == first
    # a retry from another socket of the same sender, even concurrently, is the same message
    a2 = await clients(alice, transport)
    acks = await asyncio.gather(*(send(a2, chat_id, "once", cmid="retry-1") for _ in range(5)))
    assert all(x == first for x in acks)
    await b.wait_for("new_message")
    # the next message after the retries: any copy of the first would have come before it
    after = await send(a, chat_id, "after the retries")
    assert await b.wait_count("new_message", 2) == [first, after]
    page = await b.ok("get_messages", {"chatId": chat_id})
    assert page["messages"] == [first, after]
    # the same clientMessageId from another sender is another message
    other = await send(b, chat_id, "mine", cmid="retry-1")
    assert other["id"] != first["id"] and other["seq"] > first["seq"]


async def test_in_order_delivery_of_concurrent_sends(clients: Any, transport: list[str]) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice, transport)
    b = await clients(bob, transport)
    chat_id = await open_direct(a, bob)
    acks = await asyncio.gather(*(send(a, chat_id, f"n{i}", ack_within=BURST_ACK_TIMEOUT_S) for i in range(100)))
    assert len({m["seq"] for m in acks}) == 100
    got = await b.wait_count("new_message", 100, timeout=15)
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 100
    assert {m["id"] for m in got} == {m["id"] for m in acks}


async def test_reconnect_recovery_with_since_seq(clients: Any, transport: list[str]) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice, transport)
    b = await clients(bob, transport)
    chat_id = await open_direct(a, bob)
    seen = await send(a, chat_id, "before")
    await b.wait_for("new_message")
    await b.disconnect()
    missed = [await send(a, chat_id, f"missed {i}") for i in range(3)]
    b2 = await clients(bob, transport)
    ack = await b2.ok("join_chat", {"chatId": chat_id, "sinceSeq": seen["seq"]})
    assert ack["messages"] == missed and ack["hasMore"] is False
    # without sinceSeq: the latest 50
    ack = await b2.ok("join_chat", {"chatId": chat_id})
    assert ack["messages"] == [seen, *missed]


#: recovery of more than 500 needs that many messages in one chat: on DynamoDB about 1,600 writes
#: through moto_server, which does 250-300 a second with a core to itself and a fraction of that on
#: a busy machine (13 s alone, 26 s beside one busy core). Each step has a deadline of its own (a
#: burst of sends, the join, a page), so a run that keeps making progress passes and one that stalls
#: fails naming the step; the test's timeout is the sum of those, not pytest's default 120 s.
RECOVERY_BURSTS, RECOVERY_BURST = 4, 130
RECOVERY_STEP_S = 60.0


@pytest.mark.timeout(int(RECOVERY_BURSTS * BURST_ACK_TIMEOUT_S + 4 * RECOVERY_STEP_S))
async def test_recovery_of_more_than_500_missed(clients: Any) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice, ["websocket"])
    chat_id = await open_direct(a, bob)
    total = RECOVERY_BURSTS * RECOVERY_BURST
    for start in range(0, total, RECOVERY_BURST):
        await asyncio.gather(
            *(
                send(a, chat_id, f"bulk {i}", ack_within=BURST_ACK_TIMEOUT_S)
                for i in range(start, start + RECOVERY_BURST)
            )
        )
    b = await clients(bob, ["polling"])
    ack = await b.ok("join_chat", {"chatId": chat_id, "sinceSeq": 0}, timeout=RECOVERY_STEP_S)
    assert len(ack["messages"]) == 500 and ack["hasMore"] is True
    seqs = [m["seq"] for m in ack["messages"]]
    assert seqs == list(range(1, 501))
    rest: list[dict[str, Any]] = []
    after = seqs[-1]
    while True:
        page = await b.ok("get_messages", {"chatId": chat_id, "afterSeq": after, "limit": 100}, timeout=RECOVERY_STEP_S)
        rest += page["messages"]
        if not page["hasMore"]:
            break
        after = page["messages"][-1]["seq"]
    assert [m["seq"] for m in rest] == list(range(501, total + 1))


async def test_get_messages_paging(clients: Any) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice)
    chat_id = await open_direct(a, bob)
    msgs = [await send(a, chat_id, f"p{i}") for i in range(7)]
    page = await a.ok("get_messages", {"chatId": chat_id, "limit": 3})
    assert page["messages"] == msgs[4:] and page["hasMore"] is True
    page = await a.ok("get_messages", {"chatId": chat_id, "beforeSeq": msgs[4]["seq"], "limit": 3})
    assert page["messages"] == msgs[1:4] and page["hasMore"] is True
    page = await a.ok("get_messages", {"chatId": chat_id, "beforeSeq": msgs[1]["seq"], "limit": 3})
    assert page["messages"] == msgs[:1] and page["hasMore"] is False
    page = await a.ok("get_messages", {"chatId": chat_id, "afterSeq": msgs[1]["seq"], "limit": 2})
    assert page["messages"] == msgs[2:4] and page["hasMore"] is True
    page = await a.ok(
        "get_messages",
        {"chatId": chat_id, "afterSeq": msgs[1]["seq"], "beforeSeq": msgs[4]["seq"], "limit": 100},
    )
    assert page["messages"] == msgs[2:4] and page["hasMore"] is False


async def test_content_is_stored_exactly(clients: Any) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice)
    b = await clients(bob)
    chat_id = await open_direct(a, bob)
    for content in ("  padded  ", "<script>alert(1)</script>", "😀" * 4000, "x" * 4000, "line\nbreak"):
        m = await send(a, chat_id, content)
        assert m["content"] == content
        assert (await b.wait_for("new_message", lambda d, i=m["id"]: d["id"] == i))["content"] == content


async def test_a_client_written_like_the_original_chats(clients: Any, transport: list[str]) -> None:
    """The original Node.js server's front end: no clientMessageId on send_message, no chatId on
    get_active_users (PROTOCOL.md 1.1, compatibility). It only adds a token."""
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    a = await clients(alice, transport)
    b = await clients(bob, transport)
    chat_id = (await a.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
    await a.ok("join_chat", {"recipientId": carol})  # carol never connects
    sent = await a.ok("send_message", {"chatId": chat_id, "content": "hello the old way"})
    message = sent["message"]
    assert_message(message, chatId=chat_id, senderId=alice, content="hello the old way")
    assert message["clientMessageId"].startswith("server-")
    again = await a.ok("send_message", {"chatId": chat_id, "content": "hello the old way"})
    assert again["message"]["id"] != message["id"], "without a clientMessageId every send is a new message"
    assert await b.wait_for("new_message", lambda m: m["id"] == message["id"]) == message
    for payload in ({}, None):
        users = (await a.ok("get_active_users", payload))["users"]
        assert [u["userId"] for u in users] == sorted([bob, carol])
        assert {u["userId"]: u["online"] for u in users} == {bob: True, carol: False}
    info = await a.wait_for("active_users")
    assert "chatId" not in info and len(info["users"]) == 2
