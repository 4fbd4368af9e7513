from __future__ import annotations

import asyncio
from pathlib import Path

from chat_core.ids import ulid
from chat_core.models import Chat
from chat_core.stores.sqlite import SqliteStore


async def test_concurrent_appends_share_commits(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "c.db"))
    try:
        await store.create_chat(Chat("g_1", "group", None, ("a", "b"), 1, 0, 1, None, {"a": 0, "b": 0}))
        before = store.worker.batches_committed
        results = await asyncio.gather(
            *(store.append_message("g_1", "a", f"m{i}", f"c{i}", ulid(), 2) for i in range(200))
        )
        assert sorted(r.message.seq for r in results) == list(range(1, 201))
        assert store.worker.batches_committed - before < 200  # grouped: fewer fsyncs than messages
    finally:
        await store.close()


async def test_a_failing_job_does_not_undo_its_batch_neighbours(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "c.db"))
    try:
        await store.create_chat(Chat("g_1", "group", None, ("a", "b"), 1, 0, 1, None, {"a": 0, "b": 0}))
        outcomes = await asyncio.gather(
            store.append_message("g_1", "a", "ok", "c1", ulid(), 2),
            store.append_message("g_missing", "a", "no chat", "c2", ulid(), 2),
            store.append_message("g_1", "a", "ok too", "c3", ulid(), 2),
            return_exceptions=True,
        )
        assert isinstance(outcomes[1], Exception)
        page = await store.list_messages("g_1", before_seq=None, after_seq=None, limit=10)
        assert [m.content for m in page.messages] == ["ok", "ok too"]
    finally:
        await store.close()


async def test_data_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "c.db")
    store = await SqliteStore.open(path)
    await store.create_chat(Chat("g_1", "group", "T", ("a", "b"), 1, 0, 1, None, {"a": 0, "b": 0}))
    await store.append_message("g_1", "a", "kept", "c1", ulid(), 2)
    await store.close()
    reopened = await SqliteStore.open(path)
    try:
        chat = await reopened.get_chat("g_1")
        assert chat is not None and chat.last_seq == 1 and chat.last_message is not None
        assert chat.last_message.content == "kept"
    finally:
        await reopened.close()
