from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from chat_core.models import Chat
from chat_core.stores.sqlite import SqliteStore
from chat_core.stores.sqlite_worker import SqliteWorker


async def test_concurrent_appends_share_commits(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "c.db"))
    try:
        await store.create_chat(Chat("g_1", "group", None, ("a", "b"), 1, 0, 1, None, {"a": 0, "b": 0}))
        before = store.worker.batches_committed
        results = await asyncio.gather(
            *(store.append_message("g_1", "a", f"m{i}", f"c{i}", 2) for i in range(200))
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
            store.append_message("g_1", "a", "ok", "c1", 2),
            store.append_message("g_missing", "a", "no chat", "c2", 2),
            store.append_message("g_1", "a", "ok too", "c3", 2),
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
    await store.append_message("g_1", "a", "kept", "c1", 2)
    await store.close()
    reopened = await SqliteStore.open(path)
    try:
        chat = await reopened.get_chat("g_1")
        assert chat is not None and chat.last_seq == 1 and chat.last_message is not None
        assert chat.last_message.content == "kept"
    finally:
        await reopened.close()


async def test_a_job_that_fails_after_writing_is_undone_alone(tmp_path: Path) -> None:
    """Each job of a batch runs in its own savepoint: a job that fails after writing has its own
    writes undone, and its neighbours' are committed, each run once."""
    conn = sqlite3.connect(str(tmp_path / "w.db"), check_same_thread=False, isolation_level=None)
    conn.execute("CREATE TABLE t (v TEXT)")
    worker = SqliteWorker(conn)
    runs: list[str] = []

    def write(value: str) -> Callable[[sqlite3.Connection], str]:
        def job(c: sqlite3.Connection) -> str:
            runs.append(value)
            c.execute("INSERT INTO t VALUES (?)", (value,))
            return value

        return job

    def write_then_fail(c: sqlite3.Connection) -> str:
        runs.append("bad")
        c.execute("INSERT INTO t VALUES ('bad')")
        raise ValueError("refused")

    try:
        outcomes = await asyncio.gather(
            worker.call(write("a")), worker.call(write_then_fail), worker.call(write("b")), return_exceptions=True
        )
        assert outcomes[0] == "a" and outcomes[2] == "b"
        assert isinstance(outcomes[1], ValueError)
        rows = await worker.call(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY rowid")])
        assert rows == ["a", "b"]
        assert runs == ["a", "bad", "b"]
    finally:
        await worker.close()


async def test_a_retry_in_the_same_batch_returns_the_stored_message_and_takes_no_seq(tmp_path: Path) -> None:
    """A retried clientMessageId committed in the same group commit as the original answers with
    the stored message and takes no seq."""
    store = await SqliteStore.open(str(tmp_path / "c.db"))
    try:
        await store.create_chat(Chat("g_1", "group", None, ("a", "b"), 1, 0, 1, None, {"a": 0, "b": 0}))
        first, retry, other = await asyncio.gather(
            store.append_message("g_1", "a", "hello", "same", 2),
            store.append_message("g_1", "a", "hello again?", "same", 3),
            store.append_message("g_1", "b", "hi", "b1", 4),
        )
        assert first.created and not retry.created
        assert retry.message == first.message
        assert other.created and {first.message.seq, other.message.seq} == {1, 2}
        later = await store.append_message("g_1", "a", "next", "n1", 5)
        assert later.message.seq == 3  # no seq was lost to the retry
        chat = await store.get_chat("g_1")
        assert chat is not None and chat.last_seq == 3
        # and a retry in a later batch
        again = await store.append_message("g_1", "a", "hello", "same", 6)
        assert not again.created and again.message == first.message
    finally:
        await store.close()
