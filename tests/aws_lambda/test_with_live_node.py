"""Lambda handlers beside a real `chat serve` node: shared DynamoDB (a moto_server process) and a
real redis-server. An HTTP send through Lambda reaches a live socket; the scheduled cleanup reaps a
dead node's connections and its users are announced offline to sockets on the live node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from chat_core.auth import issue_token
from chat_core.models import ConnectionRef
from chat_core.stores.dynamodb import DynamoStore
from tests.support.clients import Recorder, disconnect_all
from tests.support.moto_server import MotoServer
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess

from .conftest import SECRET, LambdaContext, fresh_import, http_event, load_event

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.dynamodb, pytest.mark.slow]

TABLE = "chat-live"


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ServerProcess, RedisServer]]:
    moto = MotoServer().start()
    redis = RedisServer().start()
    node = ServerProcess(
        {
            **moto.env(),
            "CHAT_STORE": "dynamodb",
            "CHAT_DYNAMODB_TABLE": TABLE,
            "CHAT_REDIS_URL": redis.url,
            "CHAT_CLEANUP_INTERVAL_S": "300",  # the scheduled Lambda, not the node, must do the reaping
        },
        secret=SECRET,
    )
    try:
        moto.create_table(TABLE)
        for key, value in moto.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("CHAT_DYNAMODB_TABLE", TABLE)
        monkeypatch.setenv("CHAT_REDIS_URL", redis.url)
        node.start()
        yield node, redis
    finally:
        node.close()
        redis.close()
        moto.close()


def invoke(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    """Run a handler the way the Lambda runtime does: on a thread of its own with its own loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return module.handler(event, LambdaContext())  # type: ignore[no-any-return]
    finally:
        asyncio.set_event_loop(None)


async def test_http_send_through_lambda_reaches_a_live_socket(stack: tuple[ServerProcess, RedisServer]) -> None:
    node, _ = stack
    alice = await Recorder(node.url, node.token("alice"), name="alice").connect()
    try:
        chat_id = (await alice.ok("join_chat", {"recipientId": "bob"}))["chat"]["id"]
        http_api = fresh_import("handlers.http_api")
        event = http_event(
            "POST",
            f"/v1/chats/{chat_id}/messages",
            token=issue_token(SECRET, "bob"),
            body={"content": "from lambda", "clientMessageId": "l1"},
        )
        response = await asyncio.get_running_loop().run_in_executor(None, invoke, http_api, event)
        assert response["statusCode"] == 201
        message = await alice.wait_for("new_message", timeout=10)
        assert message["content"] == "from lambda" and message["senderId"] == "bob"
        # the after-ack fan-out ran before the Lambda returned (its container freezes afterwards)
        unread = await alice.wait_for("unread_count", lambda d: d["unreadCount"] == 1, timeout=10)
        assert unread == {"chatId": chat_id, "unreadCount": 1, "totalUnread": 1}
    finally:
        await disconnect_all(alice)


async def test_scheduled_cleanup_reaps_a_dead_node_and_announces_offline(
    stack: tuple[ServerProcess, RedisServer],
) -> None:
    node, _ = stack
    alice = await Recorder(node.url, node.token("alice"), name="alice").connect()
    store = await DynamoStore.open(TABLE)
    try:
        await alice.ok("join_chat", {"recipientId": "carol"})
        long_ago = int(time.time() * 1000) - 120_000
        await store.touch_node("node-dead", long_ago)
        await store.open_connection(ConnectionRef("carol", "ghost-sid", "node-dead"), long_ago)
        cleanup = fresh_import("handlers.cleanup")
        report = await asyncio.get_running_loop().run_in_executor(
            None, cleanup.handler, load_event("cleanup_schedule.json"), LambdaContext(function_name="chat-cleanup")
        )
        assert report["nodes_reaped"] == 1 and report["connections_reaped"] == 1 and report["users_offline"] == 1
        offline = await alice.wait_for("user_offline", lambda d: d["userId"] == "carol", timeout=10)
        assert offline["lastSeen"]
        again = await asyncio.get_running_loop().run_in_executor(
            None, cleanup.handler, load_event("cleanup_schedule.json"), LambdaContext(function_name="chat-cleanup")
        )
        assert again["connections_reaped"] == 0 and again["users_offline"] == 0  # idempotent
    finally:
        await store.close()
        await disconnect_all(alice)
