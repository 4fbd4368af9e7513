"""The unread counts a node keeps for its connected users (chat_core/unread.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from chat_core.models import UnreadEntry
from chat_core.unread import MAX_TRACKED_SEQS, ChatCount, UnreadBook


def test_a_message_counts_once_and_only_above_the_mark() -> None:
    count = ChatCount.from_entry(UnreadEntry(read_seq=2, count=1, counted_to=4, missing=frozenset({3})))
    assert count.add(4) is False, "counted by the store already"
    assert count.add(2) is False, "at or below the mark"
    assert count.add(3) is True and count.count == 2, "missing when the store counted: counts now"
    assert count.add(3) is False
    assert count.add(7) is True and count.add(7) is False and count.add(5) is True
    assert count.count == 4


def test_a_read_past_what_the_store_counted_is_exact() -> None:
    count = ChatCount.from_entry(UnreadEntry(read_seq=0, count=5, counted_to=5))
    count.add(6)
    count.add(8)
    assert count.read_to(6) is True and count.count == 1
    assert count.read_to(6) is False and count.read_to(3) is False
    assert count.add(7) is True and count.count == 2, "in flight below a later message, above the mark"
    assert count.read_to(8) is True and count.count == 0


def test_a_read_inside_what_the_store_counted_cannot_be_answered() -> None:
    count = ChatCount.from_entry(UnreadEntry(read_seq=0, count=5, counted_to=5))
    assert count.read_to(3) is None


def test_many_unread_seqs_fold_into_the_count() -> None:
    count = ChatCount(0, 0, 0)
    for seq in range(1, MAX_TRACKED_SEQS + 3):
        count.add(seq)
    assert count.count == MAX_TRACKED_SEQS + 2 and count.above == {MAX_TRACKED_SEQS + 2}
    assert count.read_to(MAX_TRACKED_SEQS + 2) is True and count.count == 0


class Harness:
    def __init__(self, entries: dict[str, UnreadEntry]) -> None:
        self.entries = entries
        self.loads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.emitted: list[tuple[str, str, int, int]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.book = UnreadBook(self.load, self.emit, self.spawn)

    async def load(self, user_id: str) -> dict[str, UnreadEntry]:
        self.loads += 1
        await self.gate.wait()
        return dict(self.entries)

    def emit(self, user_id: str, chat_id: str, count: int, total: int) -> None:
        self.emitted.append((user_id, chat_id, count, total))

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
    h.book.message("bob", "c1", 2, "alice")  # already in what the store will answer
    h.book.message("bob", "c1", 3, "alice")
    h.book.message("bob", "c1", 3, "alice")  # the same notice twice
    h.book.message("bob", "c3", 1, "carol")  # a chat created after the load read
    h.book.message("bob", "c1", 4, "bob")  # own message: never unread
    assert h.book.count("bob", "c1") is None
    h.gate.set()
    await h.settle()
    assert h.loads == 1
    assert h.emitted == [("bob", "c1", 3, 5), ("bob", "c3", 1, 5)]
    h.book.message("bob", "c2", 5, "alice")
    assert h.emitted[-1] == ("bob", "c2", 2, 6)
    h.book.read("bob", "c2", 5)
    assert h.emitted[-1] == ("bob", "c2", 0, 4) and h.book.count("bob", "c2") == 0


async def test_a_partial_read_loads_the_counts_again() -> None:
    h = Harness({"c1": UnreadEntry(0, 4, 4)})
    h.book.message("bob", "c1", 5, "alice")
    await h.settle()
    assert h.emitted[-1] == ("bob", "c1", 5, 5)
    h.entries = {"c1": UnreadEntry(2, 3, 5)}  # the store after bob read up to 2
    h.book.read("bob", "c1", 2)
    assert h.book.count("bob", "c1") is None
    await h.settle()
    assert h.loads == 2 and h.emitted[-1] == ("bob", "c1", 3, 3)


async def test_forgotten_or_cleared_loads_are_dropped() -> None:
    h = Harness({"c1": UnreadEntry(0, 1, 1)})
    h.gate.clear()
    h.book.message("bob", "c1", 2, "alice")
    h.book.forget("bob")
    h.book.message("carol", "c1", 2, "alice")
    h.book.clear()
    h.gate.set()
    await h.settle()
    assert h.emitted == [] and len(h.book) == 0
    h.book.message("carol", "c1", 3, "alice")
    await h.settle()
    assert h.emitted == [("carol", "c1", 2, 2)] and len(h.book) == 1


async def test_a_failed_load_leaves_nothing_behind() -> None:
    h = Harness({})

    async def failing(user_id: str) -> dict[str, UnreadEntry]:
        raise RuntimeError("store down")

    h.book = UnreadBook(failing, h.emit, h.spawn)
    h.book.message("bob", "c1", 1, "alice")
    await h.settle()
    assert h.emitted == [] and h.book.count("bob", "c1") is None
