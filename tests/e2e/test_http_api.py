"""The HTTP API over a real server: every route, status codes, error bodies, live delivery."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest

from tests.support.clients import Recorder, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

SERVER_ENV = {"CHAT_MAX_HTTP_BODY_BYTES": "16384"}


def auth(server: ServerProcess, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(user)}"}


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_healthz(http: httpx.AsyncClient) -> None:
    r = await http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_chats_routes(server: ServerProcess, http: httpx.AsyncClient) -> None:
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    r = await http.post("/v1/chats", json={"type": "direct", "recipientId": bob}, headers=auth(server, alice))
    assert r.status_code == 201, r.text
    chat = r.json()
    assert chat["type"] == "direct" and sorted(chat["members"]) == sorted([alice, bob])
    assert chat["lastSeq"] == 0 and chat["lastMessage"] is None and chat["unreadCount"] == 0
    again = await http.post("/v1/chats", json={"type": "direct", "recipientId": bob}, headers=auth(server, alice))
    assert again.status_code == 200 and again.json()["id"] == chat["id"]
    other_side = await http.post("/v1/chats", json={"type": "direct", "recipientId": alice}, headers=auth(server, bob))
    assert other_side.status_code == 200 and other_side.json()["id"] == chat["id"]

    group = await http.post(
        "/v1/chats",
        json={"type": "group", "title": "Team", "members": [bob, carol]},
        headers=auth(server, alice),
    )
    assert group.status_code == 201, group.text
    g = group.json()
    assert g["type"] == "group" and g["title"] == "Team" and set(g["members"]) == {alice, bob, carol}

    r = await http.get(f"/v1/chats/{chat['id']}", headers=auth(server, bob))
    assert r.status_code == 200 and r.json()["id"] == chat["id"]

    # messages: 201, replay 200 with the first message
    body = {"content": "hello over http", "clientMessageId": "h-1"}
    sent = await http.post(f"/v1/chats/{g['id']}/messages", json=body, headers=auth(server, alice))
    assert sent.status_code == 201, sent.text
    m = sent.json()
    assert m["content"] == body["content"] and m["seq"] == 1 and m["senderId"] == alice
    replay = await http.post(f"/v1/chats/{g['id']}/messages", json=body, headers=auth(server, alice))
    assert replay.status_code == 200 and replay.json() == m
    m2 = (
        await http.post(
            f"/v1/chats/{g['id']}/messages",
            json={"content": "2", "clientMessageId": "h-2"},
            headers=auth(server, alice),
        )
    ).json()

    page = await http.get(f"/v1/chats/{g['id']}/messages", headers=auth(server, carol))
    assert page.status_code == 200 and page.json() == {"messages": [m, m2], "updates": [], "hasMore": False}
    page = await http.get(f"/v1/chats/{g['id']}/messages?limit=1", headers=auth(server, carol))
    assert page.json() == {"messages": [m2], "updates": [], "hasMore": True}
    page = await http.get(f"/v1/chats/{g['id']}/messages?afterSeq=1&limit=5", headers=auth(server, carol))
    assert page.json() == {"messages": [m2], "updates": [], "hasMore": False}
    page = await http.get(f"/v1/chats/{g['id']}/messages?beforeSeq=2", headers=auth(server, carol))
    assert page.json() == {"messages": [m], "updates": [], "hasMore": False}

    # inbox: newest activity first, unread counts for the caller
    inbox = await http.get("/v1/chats", headers=auth(server, bob))
    assert inbox.status_code == 200
    listed = inbox.json()
    assert set(listed) == {"chats", "nextCursor"}
    assert [c["id"] for c in listed["chats"]] == [g["id"], chat["id"]]
    assert listed["chats"][0]["unreadCount"] == 2
    first = await http.get("/v1/chats?limit=1", headers=auth(server, bob))
    assert [c["id"] for c in first.json()["chats"]] == [g["id"]] and first.json()["nextCursor"]
    rest = await http.get(f"/v1/chats?limit=1&cursor={first.json()['nextCursor']}", headers=auth(server, bob))
    assert [c["id"] for c in rest.json()["chats"]] == [chat["id"]]

    read = await http.post(f"/v1/chats/{g['id']}/read", json={"upToSeq": 1}, headers=auth(server, bob))
    assert read.status_code == 200 and read.json() == {"chatId": g["id"], "readSeq": 1, "unreadCount": 1}
    read = await http.post(f"/v1/chats/{g['id']}/read", headers=auth(server, bob))
    # m2's seq: 2, or 3 on a store that handed the replay a seq before it knew (a gap)
    assert read.json() == {"chatId": g["id"], "readSeq": m2["seq"], "unreadCount": 0}


async def test_http_send_is_delivered_live(server: ServerProcess, http: httpx.AsyncClient) -> None:
    alice, bob = unique("alice"), unique("bob")
    b = await Recorder(server.url, server.token(bob), ["websocket"]).connect()
    a = await Recorder(server.url, server.token(alice), ["polling"]).connect()
    try:
        chat_id = (await b.ok("join_chat", {"recipientId": alice}))["chat"]["id"]
        r = await http.post(
            f"/v1/chats/{chat_id}/messages",
            json={"content": "live", "clientMessageId": "l-1"},
            headers=auth(server, alice),
        )
        assert r.status_code == 201
        assert await b.wait_for("new_message") == r.json()
        assert await a.wait_for("new_message") == r.json()  # the sender's sockets too: no sending socket
        assert (await b.wait_for("unread_count"))["unreadCount"] == 1
        r = await http.post(f"/v1/chats/{chat_id}/read", json={}, headers=auth(server, bob))
        assert (await a.wait_for("messages_read")) == {"chatId": chat_id, "userId": bob, "readSeq": 1}
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_errors(server: ServerProcess, http: httpx.AsyncClient) -> None:
    alice, bob, eve = unique("alice"), unique("bob"), unique("eve")
    chat = (
        await http.post("/v1/chats", json={"type": "direct", "recipientId": bob}, headers=auth(server, alice))
    ).json()
    cid = chat["id"]
    routes = [
        ("GET", "/v1/chats", None),
        ("POST", "/v1/chats", {"type": "direct", "recipientId": bob}),
        ("GET", f"/v1/chats/{cid}", None),
        ("GET", f"/v1/chats/{cid}/messages", None),
        ("POST", f"/v1/chats/{cid}/messages", {"content": "x", "clientMessageId": "e"}),
        ("POST", f"/v1/chats/{cid}/read", {}),
    ]
    now = 1_700_000_000
    bad_auth = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer " + jwt.encode({"sub": alice, "exp": now}, server.secret, algorithm="HS256")},
        {
            "Authorization": "Bearer "
            + jwt.encode({"sub": alice, "exp": 2 * now}, "other-secret" * 4, algorithm="HS256")
        },
        {"Authorization": "Bearer " + jwt.encode({"sub": alice, "exp": 2 * now}, None, algorithm="none")},  # type: ignore[arg-type]
    ]
    for method, path, body in routes:
        for headers in bad_auth:
            assert_error(await http.request(method, path, json=body, headers=headers), 401, "UNAUTHORIZED")
    # outsiders and unknown chats: 404 on every chat route
    for target in (cid, "d_unknown_chat"):
        for method, path, body in routes[2:]:
            path = path.replace(cid, target)
            assert_error(await http.request(method, path, json=body, headers=auth(server, eve)), 404, "NOT_FOUND")
    # 400s
    invalid = [
        ("POST", "/v1/chats", {"type": "channel"}),
        ("POST", "/v1/chats", {"type": "direct"}),
        ("POST", "/v1/chats", {"type": "direct", "recipientId": alice}),
        ("POST", "/v1/chats", {"type": "group", "members": []}),
        ("POST", "/v1/chats", {"type": "group", "members": "bob"}),
        ("POST", "/v1/chats", {"type": "group", "members": [alice]}),
        ("POST", "/v1/chats", {"type": "group", "title": " ", "members": [bob]}),
        ("POST", "/v1/chats", [1, 2]),
        ("POST", f"/v1/chats/{cid}/messages", {"content": "", "clientMessageId": "e"}),
        ("POST", f"/v1/chats/{cid}/messages", {"content": "x" * 4001, "clientMessageId": "e"}),
        ("POST", f"/v1/chats/{cid}/messages", {"content": "x", "clientMessageId": "e" * 65}),
        ("POST", f"/v1/chats/{cid}/messages", {"content": "x"}),
        ("POST", f"/v1/chats/{cid}/messages", None),
        ("POST", f"/v1/chats/{cid}/read", {"upToSeq": -1}),
        ("POST", f"/v1/chats/{cid}/read", {"upToSeq": True}),
        ("GET", f"/v1/chats/{cid}/messages?limit=0", None),
        ("GET", f"/v1/chats/{cid}/messages?limit=101", None),
        ("GET", f"/v1/chats/{cid}/messages?limit=abc", None),
        ("GET", f"/v1/chats/{cid}/messages?beforeSeq=-1", None),
        ("GET", f"/v1/chats/{cid}/messages?afterSeq=1.5", None),
        ("GET", "/v1/chats?limit=0", None),
        ("GET", "/v1/chats?limit=101", None),
    ]
    for method, path, body in invalid:
        assert_error(await http.request(method, path, json=body, headers=auth(server, alice)), 400, "INVALID")
    for raw in (b"{not json", b"\xff\xfe"):
        r = await http.post(
            "/v1/chats", content=raw, headers={**auth(server, alice), "content-type": "application/json"}
        )
        assert_error(r, 400, "INVALID")
    # 413 over CHAT_MAX_HTTP_BODY_BYTES, with and without a Content-Length
    big = {"content": "x" * 3000, "clientMessageId": "big", "pad": "y" * 20_000}
    assert_error(await http.post(f"/v1/chats/{cid}/messages", json=big, headers=auth(server, alice)), 413, "TOO_LARGE")

    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 4096

    r = await http.post(f"/v1/chats/{cid}/messages", content=chunks(), headers=auth(server, alice))
    assert_error(r, 413, "TOO_LARGE")
    # unknown routes
    assert_error(await http.get("/v1/nope", headers=auth(server, alice)), 404, "NOT_FOUND")
    assert_error(await http.post("/dev/token", json={"userId": alice}), 404, "NOT_FOUND")
    # nothing of that was stored; the server still works
    page = await http.get(f"/v1/chats/{cid}/messages", headers=auth(server, bob))
    assert page.status_code == 200 and page.json()["messages"] == []
    ok = await http.post(
        f"/v1/chats/{cid}/messages",
        json={"content": "still ok", "clientMessageId": "ok"},
        headers=auth(server, alice),
    )
    assert ok.status_code == 201


async def test_openapi(http: httpx.AsyncClient) -> None:
    r = await http.get("/openapi.json")
    assert r.status_code == 200
    doc = json.loads(r.text)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    expected = {
        "/healthz": {"get"},
        "/v1/chats": {"get", "post"},
        "/v1/chats/{chatId}": {"get"},
        "/v1/chats/{chatId}/messages": {"get", "post"},
        "/v1/chats/{chatId}/read": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, sorted(paths)
        assert methods <= set(paths[path]), (path, paths[path].keys())
    assert "/dev/token" not in paths


async def test_dev_token_in_dev_mode(server_factory: Any) -> None:
    srv = server_factory({"CHAT_DEV": "1"}, secret=None).start()
    async with httpx.AsyncClient(base_url=srv.url) as http:
        r = await http.post("/dev/token", json={"userId": "devuser"})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        assert_error(await http.post("/dev/token", json={"userId": "bad id"}), 400, "INVALID")
        assert_error(await http.post("/dev/token", json=["x"]), 400, "INVALID")
        inbox = await http.get("/v1/chats", headers={"Authorization": f"Bearer {token}"})
        assert inbox.status_code == 200 and inbox.json()["chats"] == []
        doc = (await http.get("/openapi.json")).json()
        assert "/dev/token" in doc["paths"]
    c = await Recorder(srv.url, token).connect()
    try:
        assert c.of("connected")[0]["userId"] == "devuser"
    finally:
        await c.disconnect()


def test_serve_refuses_to_start_without_a_secret(server_factory: Any) -> None:
    srv = server_factory({}, secret=None)
    proc = srv.spawn()
    code = proc.wait(timeout=20)
    assert code != 0
    assert "CHAT_JWT_SECRET" in srv.log_text()
    assert srv.healthz() is None


async def test_conversation_routes(server: ServerProcess, http: httpx.AsyncClient) -> None:
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    first = await http.post(
        "/v1/chats", json={"type": "direct", "recipientId": bob, "topic": "listing-1"}, headers=auth(server, alice)
    )
    second = await http.post(
        "/v1/chats", json={"type": "direct", "recipientId": bob, "topic": "listing-2"}, headers=auth(server, alice)
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["topic"] == "listing-1" and first.json()["id"] != second.json()["id"]
    assert_error(
        await http.post(
            "/v1/chats", json={"type": "direct", "recipientId": bob, "topic": ""}, headers=auth(server, alice)
        ),
        400,
        "INVALID",
    )

    group = (await http.post("/v1/chats", json={"type": "group", "members": [bob]}, headers=auth(server, alice))).json()
    assert group["admins"] == [alice] and group["version"] == 0 and group["topic"] is None
    added = await http.post(f"/v1/chats/{group['id']}/members", json={"userIds": [carol]}, headers=auth(server, alice))
    assert added.status_code == 200 and added.json()["members"] == [alice, bob, carol]
    assert_error(
        await http.post(f"/v1/chats/{group['id']}/members", json={"userIds": [alice]}, headers=auth(server, bob)),
        403,
        "FORBIDDEN",
    )
    assert_error(
        await http.post(f"/v1/chats/{group['id']}/members", json={"userIds": []}, headers=auth(server, alice)),
        400,
        "INVALID",
    )
    renamed = await http.patch(f"/v1/chats/{group['id']}", json={"title": "Crew"}, headers=auth(server, alice))
    assert renamed.status_code == 200 and renamed.json()["title"] == "Crew"
    assert_error(await http.patch(f"/v1/chats/{group['id']}", json={}, headers=auth(server, alice)), 400, "INVALID")
    removed = await http.delete(f"/v1/chats/{group['id']}/members/{carol}", headers=auth(server, alice))
    assert removed.status_code == 200 and carol not in removed.json()["members"]
    assert_error(await http.get(f"/v1/chats/{group['id']}", headers=auth(server, carol)), 404, "NOT_FOUND")
    left = await http.delete(f"/v1/chats/{group['id']}/members/{bob}", headers=auth(server, bob))
    assert left.status_code == 204

    blocked = await http.put(f"/v1/blocks/{alice}", headers=auth(server, bob))
    assert blocked.status_code == 204
    assert (await http.get("/v1/blocks", headers=auth(server, bob))).json() == {"userIds": [alice]}
    assert_error(
        await http.post(
            f"/v1/chats/{first.json()['id']}/messages",
            json={"content": "hi", "clientMessageId": "m1"},
            headers=auth(server, alice),
        ),
        403,
        "BLOCKED",
    )
    assert_error(
        await http.post(
            "/v1/chats", json={"type": "direct", "recipientId": bob, "topic": "listing-3"}, headers=auth(server, alice)
        ),
        403,
        "BLOCKED",
    )
    assert_error(await http.put(f"/v1/blocks/{bob}", headers=auth(server, bob)), 400, "INVALID")
    assert (await http.delete(f"/v1/blocks/{alice}", headers=auth(server, bob))).status_code == 204
    assert (await http.get("/v1/blocks", headers=auth(server, bob))).json() == {"userIds": []}
    sent = await http.post(
        f"/v1/chats/{first.json()['id']}/messages",
        json={"content": "hi", "clientMessageId": "m1"},
        headers=auth(server, alice),
    )
    assert sent.status_code == 201
    inbox = (await http.get("/v1/chats?limit=1", headers=auth(server, bob))).json()
    assert [c["id"] for c in inbox["chats"]] == [first.json()["id"]] and inbox["nextCursor"]
