"""Unread counts a node keeps for the users connected to it, so that a message costs no store read.

The node that holds a user's sockets receives every new_message and messages_read notice of that
user's chats (they reach every node; see MemberNotice), so it can keep the user's counts itself:
loaded once from the store when first needed (`Store.unread_entries`), then moved by the notices.
A message counts for a user if it is by someone else and above the user's read mark.

Per message the work is one insert into the chat's log (`ChatLog`, shared by every user of the
node) and one integer step per recipient: a group message to many local members stays cheap. The
log is what recounts a user's chat when their mark moves.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from .models import UnreadEntry

log = logging.getLogger("chat.unread")

LOAD_RETRY_FIRST_S = 0.25
LOAD_RETRY_MAX_S = 8.0
"""A failed load (the store unavailable) is tried again, backing off, while the user is here."""

MAX_LOGGED = 2000
"""Messages a chat's log keeps; past it the older half goes. A read that stops below what the log
still holds asks the store again."""

Loader = Callable[[str], Awaitable[dict[str, UnreadEntry]]]
Emitter = Callable[[str, list[str]], None]
"""(chat_id, users whose count in it changed); the counts are read from the book when sent."""


class ChatLog:
    """The messages of one chat this node saw in notices, in seq order, with their senders.
    Every seq above `floor` that the node saw is here."""

    __slots__ = ("floor", "senders", "seqs")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.senders: list[str] = []
        self.floor = 0

    def add(self, seq: int, sender_id: str) -> bool:
        """False when this message was logged already (the same notice twice)."""
        if seq <= self.floor:
            return True  # older than the log: nobody's recount looks this low
        seqs = self.seqs
        if not seqs or seq > seqs[-1]:
            seqs.append(seq)
            self.senders.append(sender_id)
        else:
            at = bisect.bisect_left(seqs, seq)
            if seqs[at] == seq:
                return False
            seqs.insert(at, seq)
            self.senders.insert(at, sender_id)
        if len(seqs) > MAX_LOGGED:
            cut = len(seqs) - MAX_LOGGED // 2
            self.floor = seqs[cut - 1]
            del seqs[:cut]
            del self.senders[:cut]
        return True

    def by_others_above(self, seq: int, user_id: str) -> int | None:
        """Messages above seq by someone other than user_id; None if the log does not reach down
        to seq any more."""
        if seq < self.floor:
            return None
        start = bisect.bisect_right(self.seqs, seq)
        return sum(1 for sender in self.senders[start:] if sender != user_id)


@dataclass(slots=True)
class ChatCount:
    """One user's unread messages in one chat."""

    read_seq: int
    count: int
    counted_to: int
    """Every stored message at or below this seq is in `count`, except the `missing` seqs; each
    message above it is added once, as its notice arrives."""
    missing: set[int] = field(default_factory=set)

    @classmethod
    def from_entry(cls, entry: UnreadEntry) -> ChatCount:
        return cls(entry.read_seq, entry.count, max(entry.counted_to, entry.read_seq), set(entry.missing))

    def add(self, seq: int) -> bool:
        """A message by someone else, not seen before; True when it counts."""
        if seq <= self.read_seq:
            return False
        if seq <= self.counted_to:
            if seq not in self.missing:
                return False  # the store counted it
            self.missing.discard(seq)
        self.count += 1
        return True

    def read_to(self, read_seq: int, chat_log: ChatLog | None, user_id: str) -> bool | None:
        """The user's mark moved to read_seq: True when the count changed, False when not, None
        when it cannot tell (the mark stops inside what only the store counted)."""
        if read_seq <= self.read_seq:
            return False
        if read_seq < self.counted_to:
            return None
        # everything above counted_to came in notices, and the log holds them all
        now = 0 if chat_log is None else chat_log.by_others_above(read_seq, user_id)
        if now is None:
            return None
        changed = now != self.count
        self.read_seq = self.counted_to = read_seq
        self.count = now
        self.missing.clear()
        return changed


@dataclass(slots=True)
class UserCounts:
    chats: dict[str, ChatCount]
    total: int

    @classmethod
    def from_entries(cls, entries: dict[str, UnreadEntry]) -> UserCounts:
        chats = {chat_id: ChatCount.from_entry(e) for chat_id, e in entries.items()}
        return cls(chats, sum(c.count for c in chats.values()))

    def chat(self, chat_id: str) -> ChatCount:
        found = self.chats.get(chat_id)
        if found is None:  # a chat created after the counts were loaded: nothing counted yet
            found = self.chats[chat_id] = ChatCount(0, 0, 0)
        return found


Change = tuple[str, int, str | None]
"""(chat_id, seq, sender) for a message; (chat_id, read_seq, None) for a read."""


class UnreadBook:
    """The counts of every user with a socket on this node."""

    def __init__(self, load: Loader, emit: Emitter, spawn: Callable[[Awaitable[None]], None]) -> None:
        self._load = load
        self._emit = emit
        self._spawn = spawn
        self._users: dict[str, UserCounts] = {}
        self._loading: dict[str, list[Change]] = {}
        """Changes that arrived while the user's counts were loading, applied once they are in."""
        self._logs: dict[str, ChatLog] = {}
        self._loaded: dict[str, asyncio.Event] = {}
        """Set when a load that someone awaits (counts_of) has ended, loaded or not."""
        self._generation = 0

    def __len__(self) -> int:
        return len(self._users)

    def loaded(self, user_id: str) -> UserCounts | None:
        return self._users.get(user_id)

    def count(self, user_id: str, chat_id: str) -> int | None:
        """The user's unread count in the chat, if this node holds the user's counts."""
        counts = self._users.get(user_id)
        if counts is None:
            return None
        found = counts.chats.get(chat_id)
        return 0 if found is None else found.count

    # --- notices -----------------------------------------------------------------------------
    def message(self, chat_id: str, seq: int, sender_id: str, recipients: Iterable[str]) -> None:
        """A new message for these users of this node (members other than its sender)."""
        chat_log = self._logs.get(chat_id)
        if chat_log is None:
            chat_log = self._logs[chat_id] = ChatLog()
        if not chat_log.add(seq, sender_id):
            return
        users = self._users
        changed = []
        for user_id in recipients:
            counts = users.get(user_id)
            if counts is None:
                self._wait_for_load(user_id, (chat_id, seq, sender_id))
                continue
            entry = counts.chats.get(chat_id) or counts.chat(chat_id)
            if entry.add(seq):
                counts.total += 1
                changed.append(user_id)
        if changed:
            self._emit(chat_id, changed)

    def read(self, user_id: str, chat_id: str, read_seq: int) -> None:
        """The user's read mark in the chat moved (from any node)."""
        counts = self._users.get(user_id)
        if counts is None:
            self._wait_for_load(user_id, (chat_id, read_seq, None))
        elif self._apply(user_id, counts, (chat_id, read_seq, None)):
            self._emit(chat_id, [user_id])

    async def counts_of(self, user_id: str, wait_s: float) -> UserCounts | None:
        """The user's counts, loading them first if needed (waiting at most wait_s): an answer
        taken from the book is never older than an unread_count event the book already sent.
        None when they could not be loaded in time."""
        if user_id not in self._users:
            if user_id not in self._loading:
                self._start_load(user_id)
            done = self._loaded.setdefault(user_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), wait_s)
        return self._users.get(user_id)

    def _wait_for_load(self, user_id: str, change: Change) -> None:
        pending = self._loading.get(user_id)
        if pending is None:
            pending = self._start_load(user_id)
        pending.append(change)

    def _start_load(self, user_id: str) -> list[Change]:
        pending: list[Change] = []
        self._loading[user_id] = pending
        self._spawn(self._fill(user_id, pending, self._generation))
        return pending

    def _apply(self, user_id: str, counts: UserCounts, change: Change) -> bool:
        chat_id, seq, sender_id = change
        entry = counts.chat(chat_id)
        before = entry.count
        if sender_id is not None:
            changed: bool | None = entry.add(seq)
        else:
            changed = entry.read_to(seq, self._logs.get(chat_id), user_id)
            if changed is None:
                # a read that stops inside what the store counted: ask the store again
                del self._users[user_id]
                self._loading[user_id] = pending = [change]
                self._spawn(self._fill(user_id, pending, self._generation))
                return False
        counts.total += entry.count - before
        return bool(changed)

    async def _fill(self, user_id: str, pending: list[Change], generation: int) -> None:
        try:
            await self._fill_once_loaded(user_id, pending, generation)
        finally:
            # loaded, or forgotten; a load started again (a partial read) keeps its waiters
            if user_id not in self._loading and (done := self._loaded.pop(user_id, None)) is not None:
                done.set()

    async def _fill_once_loaded(self, user_id: str, pending: list[Change], generation: int) -> None:
        def still_wanted() -> bool:
            # False once forgotten (the user left this node, or a resync) while loading
            return self._loading.get(user_id) is pending and generation == self._generation

        delay = LOAD_RETRY_FIRST_S
        while True:
            try:
                entries = await self._load(user_id)
                break
            except Exception:
                # the changes wait with the load: dropping them would leave the user's sockets
                # with a count no later event corrects
                log.warning(
                    "unread counts not loaded; trying again",
                    extra={"user_id": user_id, "retry_in_s": delay},
                    exc_info=True,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, LOAD_RETRY_MAX_S)
            if not still_wanted():
                return
        if not still_wanted():
            return
        del self._loading[user_id]
        counts = UserCounts.from_entries(entries)
        self._users[user_id] = counts
        touched: dict[str, None] = {}
        for index, change in enumerate(pending):
            self._apply(user_id, counts, change)
            touched[change[0]] = None
            if user_id not in self._users:
                # a partial read started another load: it replays everything around that read
                reload = self._loading[user_id]
                reload[:0] = pending[:index]
                reload.extend(pending[index + 1 :])
                return
        for chat_id in touched:
            self._emit(chat_id, [user_id])

    def drop_chat(self, user_id: str, chat_id: str) -> bool:
        """The user is no longer a member of the chat: their count there goes (True when they
        had one above 0: the total changed)."""
        pending = self._loading.get(user_id)
        if pending is not None:
            pending[:] = [change for change in pending if change[0] != chat_id]
        counts = self._users.get(user_id)
        if counts is None:
            return False
        entry = counts.chats.pop(chat_id, None)
        if entry is None or not entry.count:
            return False
        counts.total -= entry.count
        return True

    # --- forgetting ----------------------------------------------------------------------------
    def forget(self, user_id: str) -> None:
        """The user's last socket on this node is gone."""
        self._users.pop(user_id, None)
        self._loading.pop(user_id, None)

    def clear(self) -> None:
        """Notices may have been missed (pub/sub resync): count again from the store."""
        self._users.clear()
        self._loading.clear()
        self._logs.clear()
        self._generation += 1

    def prune(self) -> int:
        """Drop the logs of chats no user of this node has counts for (the periodic cleanup);
        a user who comes later loads counts that cover everything before."""
        wanted = {chat_id for counts in self._users.values() for chat_id in counts.chats}
        wanted.update(chat_id for changes in self._loading.values() for chat_id, _, _ in changes)
        idle = [chat_id for chat_id in self._logs if chat_id not in wanted]
        for chat_id in idle:
            del self._logs[chat_id]
        return len(idle)
