"""Every limit of issue 7 against a real server with tight settings: each is reached, answers
the documented code, changes nothing, and leaves other users alone."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import socketio

from tests.support.clients import Recorder, unique
from tests.support.server import ServerProcess

from .helpers import bearer, db_snapshot, round_trip

SERVER_ENV = {
    "CHAT_SEND_RATE": "0.001",
    "CHAT_SEND_BURST": "5",
    "CHAT_JOIN_RATE": "0.001",
    "CHAT_JOIN_BURST": "4",
    "CHAT_TYPING_RATE": "0.001",
    "CHAT_TYPING_BURST": "3",
    "CHAT_QUERY_RATE": "0.001",
    "CHAT_QUERY_BURST": "6",
    "CHAT_MAX_CONNECTIONS_PER_USER": "3",
    "CHAT_MAX_HTTP_BODY_BYTES": "2048",
    "CHAT_MAX_FRAME_BYTES": "8192",
}


def code(ack: dict[str, object]) -> str | None:
    return None if ack.get("ok") else ack["error"]["code"]  # type: ignore[index]


async def test_send_rate_is_per_user_across_connections(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = unique("alice"), unique("bob")
    a1 = await Recorder(server.url, server.token(alice)).connect()
    a2 = await Recorder(server.url, server.token(alice)).connect()
    b = await Recorder(server.url, server.token(bob)).connect()
    try:
        chat = (await a1.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
        acks = []
        for i in range(8):
            sender = a1 if i % 2 else a2
            acks.append(
                await sender.call(
                    "send_message", {"chatId": chat, "content": f"m{i}", "clientMessageId": f"c{i}"}
                )
            )
        assert [code(x) for x in acks] == [None] * 5 + ["RATE_LIMITED"] * 3
        before = db_snapshot(server.db_path)
        r = await http.post(
            f"/v1/chats/{chat}/messages",
            headers=bearer(server, alice),
            json={"content": "via http", "clientMessageId": "h"},
        )
        assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
        assert db_snapshot(server.db_path) == before, "a rate-limited send wrote"
        # bob is not affected by alice's bucket
        await b.ok("send_message", {"chatId": chat, "content": "fine", "clientMessageId": "b1"})
        await round_trip(a1)  # pings are not rate limited
    finally:
        for c in (a1, a2, b):
            await c.disconnect()


async def test_joins_typing_and_queries_are_throttled(server: ServerProcess, http: httpx.AsyncClient) -> None:
    me = unique("q")
    c = await Recorder(server.url, server.token(me)).connect()
    try:
        joins = [await c.call("join_chat", {"recipientId": unique("p")}) for _ in range(6)]
        assert [code(x) for x in joins] == [None] * 4 + ["RATE_LIMITED"] * 2
        chat = joins[0]["chat"]["id"]
        typing = [await c.call("typing", {"chatId": chat, "isTyping": True}) for _ in range(5)]
        assert [code(x) for x in typing] == [None] * 3 + ["RATE_LIMITED"] * 2
        queries = [
            await c.call("get_messages", {"chatId": chat}),
            await c.call("get_chat_info", {"chatId": chat}),
            await c.call("get_active_users", {"chatId": chat}),
            await c.call("mark_messages_read", {"chatId": chat}),
        ]
        queries += [await c.call("get_messages", {"chatId": chat}) for _ in range(3)]
        codes = [code(x) for x in queries]
        assert codes.count("RATE_LIMITED") >= 1 and codes[:4] == [None] * 4, codes
        r = await http.get(f"/v1/chats/{chat}/messages", headers=bearer(server, me))
        assert r.status_code == 429
        r = await http.post(
            "/v1/chats", headers=bearer(server, me), json={"type": "direct", "recipientId": "zz"}
        )
        assert r.status_code == 429, r.text  # chat creation counts as a join
    finally:
        await c.disconnect()


async def connect_when_a_slot_frees(server: ServerProcess, me: str, within: float = 10.0) -> Recorder:
    """A new connection of `me`, retried while the server still counts the one just closed (the
    close reaches it a moment after the client let go)."""
    deadline = time.monotonic() + within
    while True:
        client = Recorder(server.url, server.token(me))
        try:
            return await client.connect()
        except socketio.exceptions.ConnectionError:
            await client.disconnect()
            assert client.connect_errors and client.connect_errors[-1]["data"]["code"] == "RATE_LIMITED", client.events
            assert time.monotonic() < deadline, f"no connection slot freed up within {within}s"
            await asyncio.sleep(0.05)


async def test_connections_per_user_are_capped(server: ServerProcess) -> None:
    me = unique("cap")
    made = [await Recorder(server.url, server.token(me)).connect() for _ in range(3)]
    extra = Recorder(server.url, server.token(me))
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await extra.sio.connect(
                server.url, auth={"token": extra.token}, transports=["websocket"], wait_timeout=5
            )
        assert extra.connect_errors[-1]["data"]["code"] == "RATE_LIMITED"
        other = await Recorder(server.url, server.token(unique("other"))).connect()  # others unaffected
        await round_trip(other)
        await other.disconnect()
        await made.pop().disconnect()
        made.append(await connect_when_a_slot_frees(server, me))
    finally:
        for c in made:
            await c.disconnect()
        await extra.disconnect()


async def test_content_length_and_http_body_size(server: ServerProcess, http: httpx.AsyncClient) -> None:
    me, peer = unique("len"), unique("peer")
    h = bearer(server, me)
    chat = (await http.post("/v1/chats", headers=h, json={"type": "direct", "recipientId": peer})).json()[
        "id"
    ]
    r = await http.post(
        f"/v1/chats/{chat}/messages", headers=h, json={"content": "x" * 4001, "clientMessageId": "a"}
    )
    assert r.status_code in (400, 413)
    big = b'{"content": "' + b"x" * 4000 + b'", "clientMessageId": "b"}'
    r = await http.post(
        f"/v1/chats/{chat}/messages", headers={**h, "content-type": "application/json"}, content=big
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "TOO_LARGE"

    async def chunks():  # no Content-Length: counted while streaming
        for _ in range(10):
            yield b" " * 512

    r = await http.post(f"/v1/chats/{chat}/messages", headers=h, content=chunks())
    assert r.status_code == 413
    # over the socket: 4000 characters are fine, 4001 are INVALID
    c = await Recorder(server.url, server.token(me)).connect()
    try:
        ok = await c.call("send_message", {"chatId": chat, "content": "x" * 4000, "clientMessageId": "u"})
        assert ok["ok"] is True
        bad = await c.call("send_message", {"chatId": chat, "content": "x" * 4001, "clientMessageId": "v"})
        assert code(bad) == "INVALID"
    finally:
        await c.disconnect()
