"""One thread that owns the SQLite connection and commits queued jobs in groups.

Concurrent callers' jobs are run back to back inside one transaction (each in its own savepoint,
so one failing job does not undo the others) and committed with one fsync; every caller's future
resolves only after that commit. The event loop never blocks on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ChatError, Unavailable

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]

log = logging.getLogger("chat.sqlite")

MAX_BATCH = 256


class _Stop:
    pass


_STOP = _Stop()


class SqliteWorker:
    def __init__(self, connection: sqlite3.Connection, *, writer: bool = True) -> None:
        """`writer=False` for a read-only connection: its jobs share one deferred (snapshot)
        transaction per batch and need no savepoints."""
        self._conn = connection
        self._writer = writer
        self._queue: queue.SimpleQueue[tuple[Job, asyncio.Future[Any]] | _Stop] = queue.SimpleQueue()
        name = "sqlite-writer" if writer else "sqlite-reader"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self.batches_committed = 0
        self.jobs_committed = 0
        self._thread.start()

    async def call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise Unavailable("store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((job, future))
        return await future

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if isinstance(first, _Stop):
                break
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Stop):
                    stop = True
                    break
                batch.append(item)
            self._run_batch(batch)
            if stop:
                break
        self._conn.close()

    def _run_batch(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        conn = self._conn
        if not self._writer:
            self._read_batch(batch)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job, future in batch:
                conn.execute("SAVEPOINT job")
                try:
                    result = job(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((future, False, _as_chat_error(exc)))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((future, True, result))
            conn.execute("COMMIT")
            self.batches_committed += 1
            self.jobs_committed += len(batch)
        except sqlite3.Error as exc:
            log.error("sqlite batch failed", extra={"error": str(exc)})
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            failure = Unavailable("storage error, retry")
            outcomes = [(future, False, failure) for _, future in batch]
        self._resolve(outcomes)

    def _read_batch(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        conn = self._conn
        try:
            conn.execute("BEGIN")
            for job, future in batch:
                try:
                    outcomes.append((future, True, job(conn)))
                except Exception as exc:
                    outcomes.append((future, False, _as_chat_error(exc)))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("sqlite read batch failed", extra={"error": str(exc)})
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            done = {id(f) for f, _, _ in outcomes}
            failure = Unavailable("storage error, retry")
            outcomes += [(future, False, failure) for _, future in batch if id(future) not in done]
        self._resolve(outcomes)

    @staticmethod
    def _resolve(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, items)


def _settle(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in items:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _as_chat_error(exc: Exception) -> Exception:
    if isinstance(exc, ChatError):
        return exc
    if isinstance(exc, sqlite3.OperationalError):
        log.error("sqlite operation failed", extra={"error": str(exc)})
        return Unavailable("storage error, retry")
    return exc
