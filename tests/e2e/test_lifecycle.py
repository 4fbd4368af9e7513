"""Process lifecycle: persistence across restarts, kill -9 after acks, the SIGTERM drain."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2E_ENV
from tests.support.clients import Recorder, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

DRAIN_TIMEOUT_S = 3.0
GRACE_S = 0.5


def start(server_factory: Any, store_env: dict[str, str], **env: str) -> ServerProcess:
    return server_factory(
        {
            **E2E_ENV,
            **store_env,
            "CHAT_DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S),
            "CHAT_PRESENCE_GRACE_S": str(GRACE_S),
            **env,
        }
    ).start()


async def history(server: ServerProcess, user: str, chat_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    async with httpx.AsyncClient(base_url=server.url) as http:
        while True:
            r = await http.get(
                f"/v1/chats/{chat_id}/messages",
                params={"afterSeq": after, "limit": 100},
                headers={"Authorization": f"Bearer {server.token(user)}"},
            )
            assert r.status_code == 200, r.text
            page = r.json()
            out += page["messages"]
            if not page["hasMore"]:
                return out
            after = page["messages"][-1]["seq"]


async def send(c: Recorder, chat_id: str, content: str) -> dict[str, Any]:
    ack = await c.ok("send_message", {"chatId": chat_id, "content": content, "clientMessageId": unique("c")})
    return dict(ack["message"])


async def test_history_survives_a_restart(server_factory: Any, store_env: dict[str, str]) -> None:
    srv = start(server_factory, store_env)
    alice, bob = unique("alice"), unique("bob")
    a = await Recorder(srv.url, srv.token(alice)).connect()
    chat_id = (await a.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
    sent = [await send(a, chat_id, f"keep {i}") for i in range(5)]
    await a.ok("mark_messages_read", {"chatId": chat_id})
    await a.disconnect()
    before = await history(srv, alice, chat_id)
    assert before == sent
    assert srv.stop() == 0
    srv.start()
    assert await history(srv, bob, chat_id) == sent
    b = await Recorder(srv.url, srv.token(bob)).connect()
    try:
        info = await b.ok("join_chat", {"recipientId": alice})
        assert info["chat"]["id"] == chat_id and info["chat"]["lastSeq"] == sent[-1]["seq"]
        assert info["chat"]["unreadCount"] == 5 and info["messages"] == sent
        # seq continues after the restart, and idempotency remembers the old clientMessageIds
        nxt = await send(b, chat_id, "after restart")
        assert nxt["seq"] > sent[-1]["seq"]
        replay = await b.ok(
            "send_message", {"chatId": chat_id, "content": "x", "clientMessageId": nxt["clientMessageId"]}
        )
        assert replay["message"] == nxt
    finally:
        await b.disconnect()


async def test_every_acked_message_survives_kill_9(server_factory: Any, store_env: dict[str, str]) -> None:
    srv = start(server_factory, store_env)
    alice, bob = unique("alice"), unique("bob")
    a = await Recorder(srv.url, srv.token(alice)).connect()
    chat_id = (await a.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
    acked: list[dict[str, Any]] = []

    async def one(i: int) -> None:
        acked.append(await send(a, chat_id, f"durable {i}"))

    tasks = [asyncio.create_task(one(i)) for i in range(60)]
    while len(acked) < 40:  # noqa: ASYNC110 - kill as soon as 40 acks are in
        await asyncio.sleep(0.001)
    code = srv.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    got = list(acked)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await a.disconnect()
    srv.start()
    stored = {m["id"]: m for m in await history(srv, alice, chat_id)}
    missing = [m for m in got if stored.get(m["id"]) != m]
    assert not missing, f"{len(missing)} acked messages lost: {missing[:3]}"


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_sigterm_drain_and_automatic_reconnect(
    server_factory: Any, store_env: dict[str, str], transports: list[str]
) -> None:
    srv = start(server_factory, store_env, CHAT_RECONNECT_AFTER_MS="250")
    alice, bob = unique("alice"), unique("bob")
    a = Recorder(srv.url, srv.token(alice), transports, reconnection=True, name=alice)
    b = Recorder(srv.url, srv.token(bob), transports, reconnection=True, name=bob)
    await a.connect()
    await b.connect()
    try:
        chat_id = (await a.ok("join_chat", {"recipientId": bob}))["chat"]["id"]
        await b.ok("join_chat", {"chatId": chat_id})
        first = await send(a, chat_id, "before drain")
        await b.wait_for("new_message")

        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        for c in (a, b):
            assert await c.wait_for("server_draining") == {"reconnectAfterMs": 250}
            reason = await c.wait_for("__disconnect")
            # the transport closed: not a Socket.IO disconnect packet (after which clients stay away)
            assert reason not in ("server disconnect", "io server disconnect", "client disconnect"), reason
            # draining comes before the close
            names = [e for e, _ in c.events]
            assert names.index("server_draining") < names.index("__disconnect")
        code = await asyncio.to_thread(srv.wait, DRAIN_TIMEOUT_S + GRACE_S + 5)
        elapsed = time.monotonic() - t0
        assert code == 0, srv.log_text()[-3000:]
        assert elapsed < DRAIN_TIMEOUT_S + GRACE_S + 3, elapsed
        log = srv.log_text()
        assert "drained" in log and "Traceback" not in log, log[-3000:]

        # the clients' own reconnection finds the restarted server
        srv.start()
        for c in (a, b):
            await c.wait_for("connected", count=2, timeout=15)
            for _ in range(100):  # the client sets `connected` a moment after the CONNECT packet
                if c.sio.connected:
                    break
                await asyncio.sleep(0.02)
            assert c.sio.connected and c.connects == 2, (c.name, [e for e, _ in c.events])
        ack = await b.ok("join_chat", {"chatId": chat_id, "sinceSeq": first["seq"]})
        assert ack["messages"] == []
        nxt = await send(a, chat_id, "after restart")
        assert await b.wait_for("new_message", lambda m: m["id"] == nxt["id"]) == nxt
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_node_refuses_connections_while_draining(server_factory: Any, store_env: dict[str, str]) -> None:
    """A request in flight is finished; the process stops accepting and exits 0."""
    srv = start(server_factory, store_env)
    a = await Recorder(srv.url, srv.token(unique("alice")), reconnection=False).connect()
    chat_id = (await a.ok("join_chat", {"recipientId": unique("bob")}))["chat"]["id"]
    pending = [
        asyncio.create_task(a.call("send_message", {"chatId": chat_id, "content": f"m{i}", "clientMessageId": f"k{i}"}))
        for i in range(20)
    ]
    await asyncio.sleep(0.005)
    srv.send_signal(signal.SIGTERM)
    results = await asyncio.gather(*pending, return_exceptions=True)
    acked = [r["message"] for r in results if isinstance(r, dict) and r.get("ok")]
    assert await asyncio.to_thread(srv.wait, 10) == 0
    await a.disconnect()
    srv.start()
    user = a.of("connected")[0]["userId"]
    got = {m["id"] for m in await history(srv, user, chat_id)}
    assert {m["id"] for m in acked} <= got
