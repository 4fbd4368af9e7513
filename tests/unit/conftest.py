from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat_core.service import ChatService
from chat_core.stores.sqlite import SqliteStore
from tests.support.clock import Clock

from .fakes import RecordingFanout


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fanout() -> RecordingFanout:
    return RecordingFanout()


@pytest.fixture
async def store(tmp_path: object) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(str(tmp_path / "chat.db"))  # type: ignore[operator]
    yield opened
    await opened.close()


@pytest.fixture
def service(store: SqliteStore, fanout: RecordingFanout, clock: Clock) -> ChatService:
    return ChatService(store, fanout, node_id="node-a", presence_grace_s=0.05, presence_ttl_s=60, clock=clock)
