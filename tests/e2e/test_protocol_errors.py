"""Every error the wire can produce: malformed payloads, unknown chats, outsiders, missing acks,
refused connections; and the server keeps serving after each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import jwt
import pytest
import socketio
import websockets

from tests.support.clients import Recorder, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

UNKNOWN_CHAT = "d_no_such_chat_0000"


def assert_error(ack: Any, code: str) -> None:
    assert isinstance(ack, dict) and set(ack) == {"ok", "error"}, ack
    assert ack["ok"] is False
    assert set(ack["error"]) == {"code", "message"}, ack
    assert ack["error"]["code"] == code, ack
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]


async def round_trip(c: Recorder) -> None:
    """The connection (and the server) still work."""
    ack = await c.call("ping", {"t": 1})
    assert ack["ok"] is True and ack["t"] == 1


async def pair(clients: Any, transport: list[str]) -> tuple[Recorder, Recorder, str]:
    alice, bob = unique("alice"), unique("bob")
    a = await clients(alice, transport)
    b = await clients(bob, transport)
    chat_id = (await a.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
    return a, b, chat_id


NOT_OBJECTS: list[Any] = ["text", 5, 1.5, True, [1, 2]]
CHAT_EVENTS = [
    "join_chat",
    "leave_chat",
    "send_message",
    "mark_messages_read",
    "get_active_users",
    "get_chat_info",
    "get_messages",
    "typing",
]


def invalid_payloads(chat: str, me: str) -> list[tuple[str, Any]]:
    long_ok = "x" * 4000
    cases: list[tuple[str, Any]] = []
    for event in [*CHAT_EVENTS, "ping"]:
        cases += [(event, v) for v in NOT_OBJECTS]
    for event in [
        "leave_chat",
        "get_active_users",
        "get_chat_info",
        "get_messages",
        "send_message",
        "mark_messages_read",
        "typing",
    ]:
        if event != "get_active_users":  # `{}` is the original client's "everyone I share a chat with"
            cases.append((event, {}))
        cases += [
            (event, {"chatId": 5}),
            (event, {"chatId": ""}),
            (event, {"chatId": "x" * 129}),
            (event, {"chatId": ["a"]}),
            (event, {"chatId": "bad id!"}),
        ]
    cases += [
        ("join_chat", {}),
        ("join_chat", {"chatId": chat, "recipientId": "someone"}),
        ("join_chat", {"recipientId": me}),
        ("join_chat", {"recipientId": 7}),
        ("join_chat", {"recipientId": "no spaces"}),
        ("join_chat", {"chatId": chat, "sinceSeq": -1}),
        ("join_chat", {"chatId": chat, "sinceSeq": True}),
        ("join_chat", {"chatId": chat, "sinceSeq": "3"}),
        ("join_chat", {"chatId": chat, "sinceSeq": 1.5}),
        ("join_chat", {"chatId": chat, "sinceSeq": 2**53}),
        ("send_message", {"chatId": chat, "clientMessageId": "c"}),
        ("send_message", {"chatId": chat, "content": 5, "clientMessageId": "c"}),
        ("send_message", {"chatId": chat, "content": None, "clientMessageId": "c"}),
        ("send_message", {"chatId": chat, "content": "", "clientMessageId": "c"}),
        ("send_message", {"chatId": chat, "content": " \n\t ", "clientMessageId": "c"}),
        ("send_message", {"chatId": chat, "content": long_ok + "x", "clientMessageId": "c"}),
        ("send_message", {"chatId": chat, "content": "😀" * 4001, "clientMessageId": "c"}),
        ("send_message", {"chatId": chat, "content": "hi", "clientMessageId": ""}),
        ("send_message", {"chatId": chat, "content": "hi", "clientMessageId": 5}),
        ("send_message", {"chatId": chat, "content": "hi", "clientMessageId": "c" * 65}),
        ("send_message", {"chatId": chat, "content": ["hi"], "clientMessageId": "c"}),
        ("mark_messages_read", {"chatId": chat, "upToSeq": -1}),
        ("mark_messages_read", {"chatId": chat, "upToSeq": "1"}),
        ("mark_messages_read", {"chatId": chat, "upToSeq": True}),
        ("mark_messages_read", {"chatId": chat, "upToSeq": 0.5}),
        ("get_messages", {"chatId": chat, "limit": 0}),
        ("get_messages", {"chatId": chat, "limit": 101}),
        ("get_messages", {"chatId": chat, "limit": -1}),
        ("get_messages", {"chatId": chat, "limit": True}),
        ("get_messages", {"chatId": chat, "limit": "5"}),
        ("get_messages", {"chatId": chat, "limit": 5.0}),
        ("get_messages", {"chatId": chat, "beforeSeq": -1}),
        ("get_messages", {"chatId": chat, "afterSeq": -5}),
        ("get_messages", {"chatId": chat, "afterSeq": False}),
        ("typing", {"chatId": chat}),
        ("typing", {"chatId": chat, "isTyping": "yes"}),
        ("typing", {"chatId": chat, "isTyping": 1}),
        ("typing", {"chatId": chat, "isTyping": None}),
        ("frobnicate", {"chatId": chat}),
        ("frobnicate", None),
        ("new_message", {"chatId": chat}),
        ("connected", None),
    ]
    return cases


async def test_every_malformed_payload_is_invalid(clients: Any, transport: list[str]) -> None:
    a, b, chat_id = await pair(clients, transport)
    me = a.name
    failures = []
    for event, data in invalid_payloads(chat_id, me):
        ack = await a.call(event, data)
        try:
            assert_error(ack, "INVALID")
        except AssertionError:
            failures.append((event, str(data)[:80], ack))
    assert not failures, failures
    # nothing was stored or delivered by any of that
    page = await b.ok("get_messages", {"chatId": chat_id})
    assert page["messages"] == []
    assert b.of("new_message") == []
    await round_trip(a)


async def test_limits_at_the_boundary_are_accepted(clients: Any, transport: list[str]) -> None:
    a, _, chat_id = await pair(clients, transport)
    for content in ("x" * 4000, "😀" * 4000, "👩‍👩‍👧" * 800, " x "):
        ack = await a.ok("send_message", {"chatId": chat_id, "content": content, "clientMessageId": unique("c")})
        assert ack["message"]["content"] == content
    await a.ok("send_message", {"chatId": chat_id, "content": "ok", "clientMessageId": "c" * 64})
    for limit in (1, 100):
        await a.ok("get_messages", {"chatId": chat_id, "limit": limit})
    await a.ok("get_messages", {"chatId": chat_id, "afterSeq": 0, "beforeSeq": 0})
    await a.ok("join_chat", {"chatId": chat_id, "sinceSeq": 0})
    await a.ok("mark_messages_read", {"chatId": chat_id, "upToSeq": 0})


async def test_unknown_chats_and_outsiders_get_not_found(clients: Any, transport: list[str]) -> None:
    a, b, chat_id = await pair(clients, transport)
    await b.ok("join_chat", {"chatId": chat_id})  # viewing: a join or typing of eve's would reach b
    eve = await clients(unique("eve"), transport)
    for chat in (chat_id, UNKNOWN_CHAT):
        requests: list[tuple[str, dict[str, Any]]] = [
            ("join_chat", {"chatId": chat}),
            ("join_chat", {"chatId": chat, "sinceSeq": 0}),
            ("leave_chat", {"chatId": chat}),
            ("send_message", {"chatId": chat, "content": "sneaky", "clientMessageId": unique("c")}),
            ("mark_messages_read", {"chatId": chat}),
            ("get_active_users", {"chatId": chat}),
            ("get_chat_info", {"chatId": chat}),
            ("get_messages", {"chatId": chat}),
            ("typing", {"chatId": chat, "isTyping": True}),
        ]
        for event, data in requests:
            assert_error(await eve.call(event, data), "NOT_FOUND")
            if chat == UNKNOWN_CHAT:
                assert_error(await a.call(event, data), "NOT_FOUND")
    # the outsider learned nothing and nobody heard from them
    assert (await b.ok("get_messages", {"chatId": chat_id}))["messages"] == []
    await a.ok("typing", {"chatId": chat_id, "isTyping": True})  # b's marker, after all of eve's tries
    for event in ("new_message", "user_typing", "user_joined_chat"):
        await b.none_before(event, "user_typing", lambda d: d["userId"] == a.name)
    await eve.barrier()
    assert eve.of("new_message") == [] and eve.of("chat_info") == [] and eve.of("active_users") == []


async def test_chat_error_when_no_ack_callback(clients: Any, transport: list[str]) -> None:
    a, _, chat_id = await pair(clients, transport)
    cases = [
        ("send_message", {"chatId": UNKNOWN_CHAT, "content": "x", "clientMessageId": "c"}, "NOT_FOUND"),
        ("get_chat_info", {"chatId": UNKNOWN_CHAT}, "NOT_FOUND"),
        ("get_messages", {"chatId": chat_id, "limit": 0}, "INVALID"),
        ("join_chat", "not an object", "INVALID"),
        ("frobnicate", {"x": 1}, "INVALID"),
        ("typing", {"chatId": chat_id}, "INVALID"),
    ]
    for i, (event, data, code) in enumerate(cases, start=1):
        await a.emit(event, data)
        got = await a.wait_for("chat_error", count=i)
        assert set(got) == {"event", "code", "message"}, got
        assert got["event"] == event and got["code"] == code and got["message"]
    # a failed request gets no compat event either
    assert a.of("chat_info") == []
    # a successful request without an ack still gets its compat event, and no chat_error
    await a.emit("get_chat_info", {"chatId": chat_id})
    info = await a.wait_for("chat_info")
    assert info["chat"]["id"] == chat_id
    await a.emit("ping", {"t": 9})
    assert (await a.wait_for("pong"))["t"] == 9
    # with an ack callback, a failure is only the ack
    assert_error(await a.call("get_chat_info", {"chatId": UNKNOWN_CHAT}), "NOT_FOUND")
    await a.barrier()
    assert len(a.of("chat_error")) == len(cases)


def _tokens(server: ServerProcess, user: str) -> dict[str, str | None]:
    now = int(time.time())
    none_token = jwt.encode({"sub": user, "exp": now + 600}, key=None, algorithm="none")  # type: ignore[arg-type]
    return {
        "missing": None,
        "empty": "",
        "expired": jwt.encode({"sub": user, "iat": now - 7200, "exp": now - 3600}, server.secret, algorithm="HS256"),
        "forged": jwt.encode({"sub": user, "exp": now + 600}, "not-the-secret-" * 3, algorithm="HS256"),
        "alg-none": none_token,
        "alg-none-unsigned": none_token.rsplit(".", 1)[0] + ".",
        "garbage": "garbage.not.a-token",
        "no-sub": jwt.encode({"exp": now + 600}, server.secret, algorithm="HS256"),
        "no-exp": jwt.encode({"sub": user}, server.secret, algorithm="HS256"),
        "bad-sub": jwt.encode({"sub": "no spaces allowed", "exp": now + 600}, server.secret, algorithm="HS256"),
        "tampered": server.token(user)[:-4] + "AAAA",
    }


KINDS = [
    "missing",
    "empty",
    "expired",
    "forged",
    "alg-none",
    "alg-none-unsigned",
    "garbage",
    "no-sub",
    "no-exp",
    "bad-sub",
    "tampered",
]


async def _refused(server: ServerProcess, clients: Any, transport: list[str], kind: str) -> str:
    user = unique("mallory")
    token = _tokens(server, user)[kind]
    c = await clients(user, transport, connect=False, token=token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect()
    assert c.connect_errors, (kind, c.events)
    # the CONNECT_ERROR packet is {message, data}: the JS client's err.message and err.data
    packet = c.connect_errors[-1]
    assert set(packet) == {"message", "data"}, (kind, packet)
    assert set(packet["data"]) == {"code", "message"}, (kind, packet)
    assert packet["data"]["code"] == "UNAUTHORIZED" and packet["data"]["message"], (kind, packet)
    assert packet["message"] == packet["data"]["message"]
    assert c.of("connected") == [] and not c.sio.connected
    return user


async def test_connect_refused_with_unauthorized(server: ServerProcess, clients: Any, transport: list[str]) -> None:
    """Missing, empty, expired, forged, alg none, garbage, ... tokens (all at once: a refused
    polling client waits out its long-poll before connect() raises)."""
    users = await asyncio.gather(*(_refused(server, clients, transport, kind) for kind in KINDS))
    # nothing of the session was created: nobody sees those users online
    watcher = await clients(unique("watch"), transport)
    for user in users[:3]:
        chat = await watcher.ok("join_chat", {"recipientId": user})
        active = await watcher.ok("get_active_users", {"chatId": chat["chat"]["id"]})
        assert {u["userId"]: u["online"] for u in active["users"]}[user] is False
    await round_trip(watcher)


async def test_auth_object_without_token_is_refused(server: ServerProcess) -> None:
    transport = ["websocket"]
    c = Recorder(server.url, None, transport)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await c.sio.connect(server.url, auth={"token": 12345}, transports=transport, wait_timeout=5)
        assert c.connect_errors and c.connect_errors[-1]["data"]["code"] == "UNAUTHORIZED"
    finally:
        await c.disconnect()


async def test_rate_limited_is_reachable(server_factory: Any) -> None:
    from tests.e2e.conftest import E2E_ENV

    srv = server_factory({**E2E_ENV, "CHAT_SEND_RATE": "0.01", "CHAT_SEND_BURST": "3"}).start()
    alice, bob = unique("alice"), unique("bob")
    a = await Recorder(srv.url, srv.token(alice)).connect()
    try:
        chat_id = (await a.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
        acks = [
            await a.call("send_message", {"chatId": chat_id, "content": "x", "clientMessageId": unique("c")})
            for _ in range(5)
        ]
        assert [x["ok"] for x in acks] == [True, True, True, False, False]
        assert_error(acks[-1], "RATE_LIMITED")
        await round_trip(a)
    finally:
        await a.disconnect()


async def test_oversized_frame_does_not_hurt_the_server(server: ServerProcess, clients: Any) -> None:
    """A WebSocket frame over CHAT_MAX_FRAME_BYTES ends that connection with close code 1009
    (message too big); a socket that was open all along stays open, and new clients are served."""
    a, bystander, chat_id = await pair(clients, ["websocket"])
    big = json.dumps(["send_message", {"chatId": chat_id, "content": "x" * 200_000, "clientMessageId": "big"}])
    async with websockets.connect(
        f"{server.ws_url}/socket.io/?EIO=4&transport=websocket", max_size=None, compression=None
    ) as ws:
        assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0{")
        await ws.send("40" + json.dumps({"token": server.token(a.name)}))
        assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("40{")
        await ws.send("42" + big)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                if await asyncio.wait_for(ws.recv(), 10) == "2":
                    await ws.send("3")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value
    # a stock client that sends one is dropped too
    with contextlib.suppress(Exception):
        await a.sio.emit("send_message", {"chatId": chat_id, "content": "x" * 200_000, "clientMessageId": "big"})
    await a.wait_for("__disconnect", timeout=10)
    assert not a.sio.connected
    # the socket open all along was not touched, and new clients of both transports are served
    await round_trip(bystander)
    assert bystander.sio.connected and bystander.of("__disconnect") == []
    for transport in (["websocket"], ["polling"]):
        await round_trip(await clients(unique("after"), transport))
