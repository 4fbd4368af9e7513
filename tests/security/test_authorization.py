"""A user reaches only chats they are a member of (NOT_FOUND otherwise, the same answer as for a
chat that does not exist), cannot send as someone else, cannot page another chat with a cursor."""

from __future__ import annotations

import base64
import json

import httpx

from tests.support.clients import Recorder, unique
from tests.support.server import ServerProcess

from .helpers import bearer, db_snapshot

EVENTS = {
    "join_chat": lambda c: {"chatId": c},
    "leave_chat": lambda c: {"chatId": c},
    "send_message": lambda c: {"chatId": c, "content": "let me in", "clientMessageId": "x1"},
    "mark_messages_read": lambda c: {"chatId": c, "upToSeq": 1},
    "get_active_users": lambda c: {"chatId": c},
    "get_chat_info": lambda c: {"chatId": c},
    "get_messages": lambda c: {"chatId": c, "afterSeq": 0},
    "typing": lambda c: {"chatId": c, "isTyping": True},
}


def cursor(activity_ms: int, chat_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([activity_ms, chat_id]).encode()).decode().rstrip("=")


async def test_outsiders_get_not_found_everywhere(server: ServerProcess, http: httpx.AsyncClient) -> None:
    alice, bob, eve = unique("alice"), unique("bob"), unique("eve")
    a = await Recorder(server.url, server.token(alice)).connect()
    e = await Recorder(server.url, server.token(eve)).connect()
    try:
        private = (await a.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
        await a.ok("send_message", {"chatId": private, "content": "secret", "clientMessageId": "s1"})
        group = (
            await http.post(
                "/v1/chats",
                json={"type": "group", "title": "g", "members": [bob]},
                headers=bearer(server, alice),
            )
        ).json()["id"]
        before = db_snapshot(server.db_path)
        for chat in (private, group, "d_does_not_exist_000"):
            for event, payload in EVENTS.items():
                ack = await e.call(event, payload(chat))
                assert ack["ok"] is False and ack["error"]["code"] == "NOT_FOUND", (chat, event, ack)
            h = bearer(server, eve)
            for method, path, body in [
                ("GET", f"/v1/chats/{chat}", None),
                ("GET", f"/v1/chats/{chat}/messages?afterSeq=0", None),
                ("POST", f"/v1/chats/{chat}/messages", {"content": "x", "clientMessageId": "h1"}),
                ("POST", f"/v1/chats/{chat}/read", {"upToSeq": 1}),
            ]:
                r = await http.request(method, path, json=body, headers=h)
                assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", (
                    method,
                    path,
                    r.text,
                )
        assert db_snapshot(server.db_path) == before, "an outsider's request wrote something"
        assert not e.of("new_message") and not e.of("user_typing") and not e.of("unread_count")
        # a tampered inbox cursor naming alice's chat lists only eve's own chats (none)
        r = await http.get(f"/v1/chats?cursor={cursor(2**62, private)}", headers=bearer(server, eve))
        assert r.status_code == 200 and r.json()["chats"] == []
        for bad in ["!!!", cursor(1, 5), base64.urlsafe_b64encode(b"[1,2,3]").decode(), "e30"]:  # type: ignore[arg-type]
            r = await http.get("/v1/chats", params={"cursor": bad}, headers=bearer(server, eve))
            assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID", (bad, r.text)
    finally:
        await a.disconnect()
        await e.disconnect()


async def test_cannot_send_as_someone_else(server: ServerProcess, http: httpx.AsyncClient) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = await Recorder(server.url, server.token(alice)).connect()
    b = await Recorder(server.url, server.token(bob)).connect()
    try:
        chat = (await a.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
        sent = await a.ok(
            "send_message",
            {
                "chatId": chat,
                "content": "hi",
                "clientMessageId": "m1",
                "senderId": bob,
                "userId": bob,
                "seq": 99,
                "id": "forged",
            },
        )
        assert sent["message"]["senderId"] == alice and sent["message"]["id"] != "forged"
        r = await http.post(
            f"/v1/chats/{chat}/messages",
            headers=bearer(server, alice),
            json={"content": "hi", "clientMessageId": "m2", "senderId": bob},
        )
        assert r.status_code == 201 and r.json()["senderId"] == alice
        # bob's idempotency key does not let alice read or replace bob's message
        mine = await b.ok("send_message", {"chatId": chat, "content": "bob's", "clientMessageId": "k"})
        replay = await a.ok("send_message", {"chatId": chat, "content": "alice's", "clientMessageId": "k"})
        assert replay["message"]["id"] != mine["message"]["id"] and replay["message"]["senderId"] == alice
        # marking read moves only the caller's own mark
        read = await a.ok("mark_messages_read", {"chatId": chat, "userId": bob})
        info = await b.ok("get_chat_info", {"chatId": chat})
        assert info["chat"]["readSeqs"] == {alice: read["readSeq"], bob: 0}
        assert read["readSeq"] == replay["message"]["seq"]
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_http_routes_need_a_token(server: ServerProcess, http: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/v1/chats"),
        ("POST", "/v1/chats"),
        ("GET", "/v1/chats/x"),
        ("GET", "/v1/chats/x/messages"),
        ("POST", "/v1/chats/x/messages"),
        ("POST", "/v1/chats/x/read"),
    ]:
        for headers in (
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Basic YTpi"},
            {"Authorization": "Bearer x.y.z"},
        ):
            r = await http.request(method, path, headers=headers, json={})
            assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED", (
                method,
                path,
                r.text,
            )
    assert (await http.post("/dev/token", json={"userId": "alice"})).status_code == 404  # not dev mode
