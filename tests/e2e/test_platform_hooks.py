"""The platform hooks through a real `chat serve`: a signed webhook for the members a message
reaches while they are offline, and the platform's policy deciding who may start a chat. The
platform is a real HTTP server in a thread, recording what it was sent."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from chat_core.hooks import verify
from tests.support.clients import Recorder, disconnect_all, unique
from tests.support.server import ServerProcess

from .conftest import E2E_ENV

SECRET = "platform-hooks-secret-0123456789"


class Platform:
    """Records webhook deliveries; answers the policy: no chat about the topic "forbidden"."""

    def __init__(self) -> None:
        self.deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.asked: list[dict[str, Any]] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path == "/policy":
                    request = json.loads(body)
                    platform.asked.append(request)
                    answer = json.dumps({"allow": request.get("topic") != "forbidden"}).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                platform.deliveries.put((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_delivery(self, timeout: float = 10.0) -> tuple[dict[str, str], bytes]:
        return self.deliveries.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    running = Platform()
    yield running
    running.close()


@pytest.fixture(scope="module")
def server(platform: Platform) -> Iterator[ServerProcess]:
    env = {
        **E2E_ENV,
        "CHAT_WEBHOOK_URL": platform.url + "/offline",
        "CHAT_WEBHOOK_SECRET": SECRET,
        "CHAT_POLICY_URL": platform.url + "/policy",
    }
    with ServerProcess(env) as proc:
        yield proc


async def test_members_offline_when_a_message_arrives_reach_the_platform_signed(
    server: ServerProcess, platform: Platform
) -> None:
    alice_id, bob_id, carol_id = unique("alice"), unique("bob"), unique("carol")
    alice = await Recorder(server.url, server.token(alice_id), name="alice").connect()
    carol = await Recorder(server.url, server.token(carol_id), name="carol").connect()
    try:
        created = await alice.ok("join_chat", {"recipientId": bob_id, "topic": "listing-9"})
        chat = created["chat"]
        sent = await alice.ok(
            "send_message", {"chatId": chat["id"], "content": "are you there?", "clientMessageId": "m1"}
        )
        headers, body = platform.next_delivery()
        assert verify(SECRET, headers, body)
        assert not verify("another-secret-0123456789abcdef", headers, body)
        delivery = json.loads(body)
        assert delivery["type"] == "message.offline" and delivery["recipients"] == [bob_id]
        assert delivery["message"]["id"] == sent["message"]["id"]
        assert delivery["chat"]["id"] == chat["id"] and delivery["chat"]["topic"] == "listing-9"
        # in a group only the offline members are listed (carol is connected)
        async with httpx.AsyncClient(base_url=server.url) as http:
            made = await http.post(
                "/v1/chats",
                json={"type": "group", "members": [bob_id, carol_id]},
                headers={"Authorization": f"Bearer {server.token(alice_id)}"},
            )
        group_id = made.json()["id"]
        await alice.ok("send_message", {"chatId": group_id, "content": "team", "clientMessageId": "g1"})
        headers, body = platform.next_delivery()
        delivery = json.loads(body)
        assert delivery["chat"]["id"] == group_id and delivery["recipients"] == [bob_id]
    finally:
        await disconnect_all(alice, carol)


async def test_the_platform_decides_who_may_start_a_chat(server: ServerProcess, platform: Platform) -> None:
    buyer_id, seller_id = unique("buyer"), unique("seller")
    buyer = await Recorder(server.url, server.token(buyer_id), name="buyer").connect()
    try:
        refused = await buyer.call("join_chat", {"recipientId": seller_id, "topic": "forbidden"})
        assert refused["error"]["code"] == "FORBIDDEN"
        allowed = await buyer.ok("join_chat", {"recipientId": seller_id, "topic": "order-1"})
        assert allowed["chat"]["topic"] == "order-1"
        asked = [a for a in platform.asked if a["userId"] == buyer_id]
        assert [(a["kind"], a["others"], a["topic"]) for a in asked] == [
            ("direct", [seller_id], "forbidden"),
            ("direct", [seller_id], "order-1"),
        ]
        await buyer.ok("join_chat", {"recipientId": seller_id, "topic": "order-1"})  # exists: not asked again
        assert len([a for a in platform.asked if a["userId"] == buyer_id]) == 2
    finally:
        await disconnect_all(buyer)
