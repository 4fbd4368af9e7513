"""The HTTP API through Mangum and Powertools, on DynamoDB under moto's mock_aws."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
import redis as sync_redis
from moto import mock_aws

from chat_core.auth import issue_token
from chat_core.stores.dynamodb_schema import create_table
from tests.support.redis_server import RedisServer

from .conftest import SECRET, LambdaContext, fresh_import, http_event, load_event

pytestmark = pytest.mark.dynamodb


@pytest.fixture
def http_api(aws_env: None, event_loop_for_mangum: None) -> Iterator[ModuleType]:
    with mock_aws():
        create_table(boto3.client("dynamodb"), "chat-lambda-test")
        yield fresh_import("handlers.http_api")


def call(module: ModuleType, event: dict[str, Any]) -> tuple[int, Any]:
    response = module.handler(event, LambdaContext())
    body = response.get("body") or ""
    return int(response["statusCode"]), json.loads(body) if body else None


def test_every_route_answers_as_the_container_does(http_api: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    alice, bob, mallory = (issue_token(SECRET, u) for u in ("alice", "bob", "mallory"))
    status, health = call(http_api, http_event("GET", "/healthz", token=None))
    assert (status, health) == (200, {"status": "ok"})

    status, chat = call(
        http_api, http_event("POST", "/v1/chats", token=alice, body={"type": "direct", "recipientId": "bob"})
    )
    assert status == 201 and chat["members"] == ["alice", "bob"] and chat["lastSeq"] == 0
    status, again = call(
        http_api, http_event("POST", "/v1/chats", token=bob, body={"type": "direct", "recipientId": "alice"})
    )
    assert status == 200 and again["id"] == chat["id"]

    send = load_event("http_api_send_message.json")
    send["rawPath"] = send["requestContext"]["http"]["path"] = f"/v1/chats/{chat['id']}/messages"
    send["headers"]["authorization"] = f"Bearer {alice}"
    status, message = call(http_api, send)
    assert status == 201 and message["seq"] == 1 and message["content"] == "hello from Lambda"
    status, replay = call(http_api, send)
    assert status == 200 and replay == message

    status, page = call(http_api, http_event("GET", f"/v1/chats/{chat['id']}/messages", token=bob, query="limit=10"))
    assert status == 200 and page == {"messages": [message], "updates": [], "hasMore": False}
    status, inbox = call(http_api, load_event_with_token("http_api_list_chats.json", bob))
    assert status == 200 and [c["id"] for c in inbox["chats"]] == [chat["id"]] and inbox["chats"][0]["unreadCount"] == 1
    status, read = call(http_api, http_event("POST", f"/v1/chats/{chat['id']}/read", token=bob, body={}))
    assert (status, read) == (200, {"chatId": chat["id"], "readSeq": 1, "unreadCount": 0})
    status, one = call(http_api, http_event("GET", f"/v1/chats/{chat['id']}", token=bob))
    assert status == 200 and one["readSeqs"] == {"alice": 0, "bob": 1}  # sending marks nothing read

    assert call(http_api, http_event("GET", f"/v1/chats/{chat['id']}", token=mallory))[0] == 404
    assert call(http_api, http_event("GET", "/v1/chats", token=None))[0] == 401
    assert (
        call(http_api, http_event("POST", f"/v1/chats/{chat['id']}/messages", token=alice, body="{not json"))[0] == 400
    )
    status, error = call(
        http_api, http_event("POST", f"/v1/chats/{chat['id']}/messages", token=alice, body={"content": "x" * 70_000})
    )
    assert status == 413 and error["error"]["code"] == "TOO_LARGE"
    assert call(http_api, http_event("POST", "/dev/token", token=None, body={"userId": "x"}))[0] == 404
    status, spec = call(http_api, http_event("GET", "/openapi.json", token=None))
    assert status == 200 and "/v1/chats/{chatId}/messages" in spec["paths"]

    logged = capsys.readouterr().out
    assert http_api.logger.get_correlation_id() == "Cf2bJjAIDoEEJfw="  # from the request context
    assert "MessagesSent" in logged and "HistoryReads" in logged  # EMF metrics
    assert alice not in logged and "hello from Lambda" not in logged  # never tokens or content


def load_event_with_token(name: str, token: str) -> dict[str, Any]:
    event = load_event(name)
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


@pytest.fixture
def limited_http_api(
    aws_env: None, event_loop_for_mangum: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, RedisServer]]:
    """The HTTP handler with CHAT_REDIS_URL (a private redis-server) and a send budget of 2."""
    redis = RedisServer().start()
    monkeypatch.setenv("CHAT_REDIS_URL", redis.url)
    monkeypatch.setenv("CHAT_SEND_RATE", "0.01")
    monkeypatch.setenv("CHAT_SEND_BURST", "2")
    try:
        with mock_aws():
            create_table(boto3.client("dynamodb"), "chat-lambda-test")
            yield fresh_import("handlers.http_api"), redis
    finally:
        redis.close()


@pytest.mark.redis
def test_a_send_beyond_the_shared_budget_is_429_with_retry_after(
    limited_http_api: tuple[ModuleType, RedisServer],
) -> None:
    http_api, redis = limited_http_api
    alice = issue_token(SECRET, "alice")
    status, chat = call(
        http_api, http_event("POST", "/v1/chats", token=alice, body={"type": "direct", "recipientId": "bob"})
    )
    assert status == 201

    def send(module: ModuleType, n: int) -> dict[str, Any]:
        event = http_event(
            "POST", f"/v1/chats/{chat['id']}/messages", token=alice, body={"content": "hi", "clientMessageId": f"c{n}"}
        )
        return module.handler(event, LambdaContext())  # type: ignore[no-any-return]

    assert [send(http_api, n)["statusCode"] for n in range(2)] == [201, 201]
    refused = send(http_api, 2)
    assert refused["statusCode"] == 429 and json.loads(refused["body"])["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused["headers"]["retry-after"]) <= 100  # a token every 100 s
    # another container (a cold start: its own service and limiter) spends the same budget
    other_container = fresh_import("handlers.http_api")
    assert send(other_container, 3)["statusCode"] == 429
    with sync_redis.Redis.from_url(redis.url) as client:
        assert client.exists("chat:rl:send:alice") == 1


def test_groups_change_and_blocks_hold_across_invocations(http_api: ModuleType) -> None:
    """A function keeps no chat between invocations (it gets no member notices): a member removed
    by one invocation is refused by the next, and a block is seen at once."""
    alice, bob, carol = (issue_token(SECRET, u) for u in ("alice", "bob", "carol"))
    status, group = call(
        http_api, http_event("POST", "/v1/chats", token=alice, body={"type": "group", "members": ["bob", "carol"]})
    )
    assert status == 201 and group["admins"] == ["alice"]
    messages = f"/v1/chats/{group['id']}/messages"
    assert (
        call(http_api, http_event("POST", messages, token=carol, body={"content": "hi", "clientMessageId": "c1"}))[0]
        == 201
    )
    status, after = call(http_api, http_event("DELETE", f"/v1/chats/{group['id']}/members/carol", token=alice))
    assert status == 200 and after["members"] == ["alice", "bob"]
    status, refused = call(
        http_api, http_event("POST", messages, token=carol, body={"content": "hi?", "clientMessageId": "c2"})
    )
    assert status == 404 and refused["error"]["code"] == "NOT_FOUND"

    status, thread = call(
        http_api,
        http_event("POST", "/v1/chats", token=bob, body={"type": "direct", "recipientId": "alice", "topic": "order-1"}),
    )
    assert status == 201 and thread["topic"] == "order-1"
    assert call(http_api, http_event("PUT", "/v1/blocks/bob", token=alice))[0] == 204
    status, refused = call(
        http_api,
        http_event(
            "POST", f"/v1/chats/{thread['id']}/messages", token=bob, body={"content": "hi", "clientMessageId": "b1"}
        ),
    )
    assert status == 403 and refused["error"]["code"] == "BLOCKED"
    assert call(http_api, http_event("GET", "/v1/blocks", token=alice)) == (200, {"userIds": ["bob"]})
