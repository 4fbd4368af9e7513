"""moto-backed fixtures for the DynamoDB store's own tests (faults, request counts, schema)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chat_core.stores.dynamodb import DynamoStore
from chat_core.stores.dynamodb_schema import create_table
from tests.support.moto_server import use_dummy_aws

TABLE = "chat-test"

OpenStore = Callable[..., Coroutine[Any, Any, DynamoStore]]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Dummy credentials, a region, moto, and the chat table; yields a plain client."""
    use_dummy_aws(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, TABLE)
        yield client


@pytest.fixture
async def open_store(aws: Any) -> AsyncIterator[OpenStore]:
    opened: list[DynamoStore] = []

    async def factory(**kwargs: Any) -> DynamoStore:
        store = await DynamoStore.open(TABLE, **kwargs)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()
