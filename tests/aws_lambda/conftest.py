"""Lambda handlers invoked as AWS would: real-shaped events from events/, a LambdaContext, and
DynamoDB under moto (in-process mock_aws, or a moto_server shared with a real `chat serve`)."""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.moto_server import use_dummy_aws

EVENTS = Path(__file__).resolve().parents[2] / "events"
SECRET = "lambda-test-secret-0123456789abcdef012345"


@dataclass
class LambdaContext:
    function_name: str = "chat-http"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:chat-http"
    aws_request_id: str = "5f1c0c6e-2bd0-4f5e-9a53-0d7c3f4b2a11"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


def http_event(method: str, path: str, *, token: str | None, body: Any = None, query: str = "") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event shaped like events/http_api_send_message.json."""
    event = copy.deepcopy(load_event("http_api_send_message.json"))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    headers = {k: v for k, v in event["headers"].items() if k not in ("authorization", "content-length")}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    event["headers"] = headers
    if body is None:
        event.pop("body", None)
    else:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        headers["content-length"] = str(len(event["body"].encode()))
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    return event


def fresh_import(name: str) -> ModuleType:
    """Import a handler module anew: it reads its settings at import, like a cold start."""
    for module in [m for m in sys.modules if m == name or m == "handlers.runtime"]:
        del sys.modules[module]
    return importlib.import_module(name)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_dummy_aws(monkeypatch)
    monkeypatch.delenv("CHAT_REDIS_URL", raising=False)
    monkeypatch.setenv("CHAT_STORE", "dynamodb")
    monkeypatch.setenv("CHAT_DYNAMODB_TABLE", "chat-lambda-test")
    monkeypatch.setenv("CHAT_JWT_SECRET", SECRET)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ChatTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "chat-test")


@pytest.fixture
def event_loop_for_mangum() -> Iterator[None]:
    """Mangum uses asyncio.get_event_loop(): give each sync test a fresh one."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()
    asyncio.set_event_loop(None)
