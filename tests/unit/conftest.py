from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat_core.service import ChatService
from chat_core.stores.sqlite import SqliteStore

from .fakes import RecordingFanout


class Clock:
    def __init__(self, start_ms: int = 1_790_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


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
