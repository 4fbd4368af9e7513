"""The unread counts a node keeps for its connected users (chat_core/unread.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from chat_core import unread
from chat_core.models import UnreadEntry
from chat_core.unread import MAX_LOGGED, ChatCount, ChatLog, UnreadBook


def test_a_message_counts_only_above_the_mark_and_beyond_what_the_store_counted() -> None:
    count = ChatCount.from_entry(UnreadEntry(read_seq=2, count=1, counted_to=4, missing=frozenset({3})))
    assert count.add(4) is False, "counted by the store already"
    assert count.add(2) is False, "at or below the mark"
    assert count.add(3) is True and count.count == 2, "missing when the store counted: counts now"
    assert count.add(3) is False
    assert count.add(7) is True and count.add(5) is True
    assert count.count == 4


def test_the_chat_log_keeps_each_message_once_in_seq_order() -> None:
    chat_log = ChatLog()
    for seq, sender in ((2, "a"), (5, "b"), (3, "bob"), (4, "a")):
        assert chat_log.add(seq, sender)
    assert chat_log.add(3, "bob") is False
    assert chat_log.seqs == [2, 3, 4, 5]
    assert chat_log.by_others_above(2, "bob") == 2 and chat_log.by_others_above(0, "a") == 2


def test_a_read_past_what_the_store_counted_is_recounted_from_the_log() -> None:
    chat_log = ChatLog()
    count = ChatCount.from_entry(UnreadEntry(read_seq=0, count=5, counted_to=5))
    for seq, sender in ((6, "alice"), (8, "alice"), (9, "bob")):
        chat_log.add(seq, sender)
        if sender != "bob":
            count.add(seq)
    assert count.read_to(6, chat_log, "bob") is True and count.count == 1
    assert count.read_to(6, chat_log, "bob") is False and count.read_to(3, chat_log, "bob") is False
    chat_log.add(7, "alice")  # in flight below a later message, above the mark
    assert count.add(7) is True and count.count == 2
    assert count.read_to(9, chat_log, "bob") is True and count.count == 0


def test_a_read_the_node_cannot_recount_is_refused() -> None:
    count = ChatCount.from_entry(UnreadEntry(read_seq=0, count=5, counted_to=5))
    assert count.read_to(3, ChatLog(), "bob") is None, "inside what only the store counted"
    chat_log = ChatLog()
    for seq in range(6, 6 + MAX_LOGGED + 1):
        chat_log.add(seq, "alice")
    assert chat_log.floor > 6 and len(chat_log.seqs) <= MAX_LOGGED
    assert ChatCount(0, 0, 5).read_to(6, chat_log, "bob") is None, "below what the log still holds"


class Harness:
    def __init__(self, entries: dict[str, UnreadEntry]) -> None:
        self.entries = entries
        self.loads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.emitted: list[tuple[str, str, int, int]] = []
        """(user, chat, count, total) as the book holds them when it reports a change."""
        self.tasks: list[asyncio.Task[None]] = []
        self.book = UnreadBook(self.load, self.emit, self.spawn)

    async def load(self, user_id: str) -> dict[str, UnreadEntry]:
        self.loads += 1
        await self.gate.wait()
        return dict(self.entries)

    def emit(self, chat_id: str, users: list[str]) -> None:
        for user_id in users:
            counts = self.book.loaded(user_id)
            assert counts is not None
            self.emitted.append((user_id, chat_id, counts.chats[chat_id].count, counts.total))

    def spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        self.tasks.append(asyncio.ensure_future(run()))

    async def settle(self) -> None:
        while self.tasks:
            await self.tasks.pop(0)


async def test_notices_while_loading_are_applied_once_the_counts_are_in() -> None:
    h = Harness({"c1": UnreadEntry(0, 2, 2), "c2": UnreadEntry(0, 1, 1)})
    h.gate.clear()
    h.book.message("c1", 2, "alice", ["bob"])  # already in what the store will answer
    h.book.message("c1", 3, "alice", ["bob"])
    h.book.message("c1", 3, "alice", ["bob"])  # the same notice twice
    h.book.message("c3", 1, "carol", ["bob"])  # a chat created after the load read
    assert h.book.count("bob", "c1") is None
    h.gate.set()
    await h.settle()
    assert h.loads == 1
    assert h.emitted == [("bob", "c1", 3, 5), ("bob", "c3", 1, 5)]
    h.book.message("c2", 5, "alice", ["bob"])
    assert h.emitted[-1] == ("bob", "c2", 2, 6)
    h.book.read("bob", "c2", 5)
    assert h.emitted[-1] == ("bob", "c2", 0, 4) and h.book.count("bob", "c2") == 0


async def test_a_partial_read_loads_the_counts_again() -> None:
    h = Harness({"c1": UnreadEntry(0, 4, 4)})
    h.book.message("c1", 5, "alice", ["bob"])
    await h.settle()
    assert h.emitted[-1] == ("bob", "c1", 5, 5)
    h.entries = {"c1": UnreadEntry(2, 3, 5)}  # the store after bob read up to 2
    h.book.read("bob", "c1", 2)
    assert h.book.count("bob", "c1") is None
    await h.settle()
    assert h.loads == 2 and h.emitted[-1] == ("bob", "c1", 3, 3)


async def test_forgotten_or_cleared_loads_are_dropped_and_idle_logs_pruned() -> None:
    h = Harness({"c1": UnreadEntry(0, 1, 1)})
    h.gate.clear()
    h.book.message("c1", 2, "alice", ["bob"])
    h.book.forget("bob")
    h.book.message("c1", 3, "alice", ["carol"])
    h.book.clear()
    h.gate.set()
    await h.settle()
    assert h.emitted == [] and len(h.book) == 0
    h.book.message("c1", 4, "alice", ["carol"])
    h.book.message("c9", 1, "alice", ["dave"])
    await h.settle()
    assert h.emitted == [("carol", "c1", 2, 2), ("dave", "c9", 1, 2)]
    h.book.forget("dave")
    assert h.book.prune() == 1, "c9 was dave's only; carol's counts still name c1"
    h.book.forget("carol")
    assert h.book.prune() == 1


async def test_a_failed_load_is_tried_again_and_then_reports_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unread, "LOAD_RETRY_FIRST_S", 0.0)
    h = Harness({"c1": UnreadEntry(0, 1, 1)})
    failures = 2

    async def flaky(user_id: str) -> dict[str, UnreadEntry]:
        nonlocal failures
        if failures:
            failures -= 1
            raise RuntimeError("store unavailable")
        return await h.load(user_id)

    h.book = UnreadBook(flaky, h.emit, h.spawn)
    h.book.message("c1", 1, "alice", ["bob"])
    await h.settle()
    assert failures == 0 and h.emitted == [("bob", "c1", 1, 1)]


async def test_a_failing_load_stops_when_the_user_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unread, "LOAD_RETRY_FIRST_S", 0.0)
    h = Harness({})
    attempts = 0

    async def failing(user_id: str) -> dict[str, UnreadEntry]:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            h.book.forget("bob")
        raise RuntimeError("store down")

    h.book = UnreadBook(failing, h.emit, h.spawn)
    h.book.message("c1", 1, "alice", ["bob"])
    await h.settle()
    assert attempts == 3 and h.emitted == [] and h.book.count("bob", "c1") is None


async def test_counts_of_waits_for_the_load_and_answers_what_the_book_reports() -> None:
    h = Harness({"c1": UnreadEntry(0, 1, 1)})
    h.gate.clear()
    h.book.message("c1", 2, "alice", ["bob"])  # starts the load; applied once it is in
    answer = asyncio.ensure_future(h.book.counts_of("bob", wait_s=5))
    await asyncio.sleep(0)
    assert not answer.done() and h.loads == 1
    h.gate.set()
    counts = await answer
    assert counts is not None and counts.chats["c1"].count == 2
    await h.settle()
    assert h.emitted == [("bob", "c1", 2, 2)] and h.loads == 1  # one load served both


async def test_counts_of_gives_up_after_its_wait_and_loads_only_once() -> None:
    h = Harness({"c1": UnreadEntry(0, 1, 1)})
    h.gate.clear()
    assert await h.book.counts_of("bob", wait_s=0.01) is None
    assert await h.book.counts_of("bob", wait_s=0.01) is None
    assert h.loads == 1
    h.gate.set()
    await h.settle()
    counts = await h.book.counts_of("bob", wait_s=0)
    assert counts is not None and counts.total == 1
