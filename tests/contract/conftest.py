"""The `store` fixture: every contract test runs once per Store implementation."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from chat_core.ports import Store
from tests.support.moto_server import use_dummy_aws

_MOTO_LOCK = threading.RLock()


def serialize_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each moto request atomic, as each DynamoDB request is.

    moto's in-process backend has no locks, so two threads could interleave inside one
    conditional write. The store's own interleavings (between requests) still happen.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def locked(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        with _MOTO_LOCK:
            return original(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", locked)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("dynamodb", marks=pytest.mark.dynamodb),
        pytest.param("dynamodb-stub", marks=pytest.mark.dynamodb),
    ]
)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        sqlite = pytest.importorskip("chat_core.stores.sqlite")
        opened: Store = await sqlite.SqliteStore.open(str(tmp_path / "chat.db"))
        try:
            yield opened
        finally:
            await opened.close()
        return

    if request.param == "dynamodb-stub":
        from chat_core.stores.dynamodb import DynamoStore
        from chat_core.stores.dynamodb_schema import table_definition
        from tests.support.dynamo_stub import StubDynamoClient

        stub = StubDynamoClient(latency_s=0)
        stub.create_table(**table_definition("chat-contract"))
        stubbed = DynamoStore(stub, "chat-contract", executor=ThreadPoolExecutor(32))  # type: ignore[arg-type]
        try:
            yield stubbed
        finally:
            await stubbed.close()
        return

    from moto import mock_aws

    from chat_core.stores.dynamodb import DynamoStore
    from chat_core.stores.dynamodb_schema import create_table

    use_dummy_aws(monkeypatch)
    serialize_moto(monkeypatch)
    with mock_aws():
        create_table(boto3.client("dynamodb"), "chat-contract")
        dynamo = await DynamoStore.open("chat-contract")
        try:
            yield dynamo
        finally:
            await dynamo.close()
