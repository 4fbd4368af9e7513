"""Unread counts a node keeps for the users connected to it, so that a message costs no store read.

The node that holds a user's sockets receives every new_message and messages_read notice of that
user's chats (they reach every node; see MemberNotice), so it can keep the user's counts itself:
loaded once from the store when first needed (`Store.unread_entries`), then moved by the notices.
A message is counted once however often its notice arrives, and only if it is by someone else
and above the user's read mark: `ChatCount` remembers which seqs it has counted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .models import UnreadEntry

log = logging.getLogger("chat.unread")

MAX_TRACKED_SEQS = 1000
"""Seqs remembered per user and chat above what the store counted. Past it the oldest are folded
into the count: a message still in flight below them that arrives later is then not counted
(until the user reads), and a partial read (up to a seq below them) asks the store again."""

Loader = Callable[[str], Awaitable[dict[str, UnreadEntry]]]
Emitter = Callable[[str, str, int, int], None]
"""(user_id, chat_id, unread in the chat, unread in all the user's chats)."""


@dataclass(slots=True)
class ChatCount:
    """One user's unread messages in one chat."""

    read_seq: int
    count: int
    counted_to: int
    """Every stored message at or below this seq is in `count`, except the `missing` seqs."""
    missing: set[int] = field(default_factory=set)
    above: set[int] = field(default_factory=set)
    """Seqs above counted_to that are in `count`."""

    @classmethod
    def from_entry(cls, entry: UnreadEntry) -> ChatCount:
        return cls(entry.read_seq, entry.count, max(entry.counted_to, entry.read_seq), set(entry.missing))

    def add(self, seq: int) -> bool:
        """A message by someone else; True when it was not counted yet."""
        if seq <= self.read_seq:
            return False
        if seq <= self.counted_to:
            if seq not in self.missing:
                return False
            self.missing.discard(seq)
        elif seq in self.above:
            return False
        else:
            self.above.add(seq)
            if len(self.above) > MAX_TRACKED_SEQS:
                self.counted_to = max(self.above)
                self.above.clear()
                self.missing.clear()
        self.count += 1
        return True

    def read_to(self, read_seq: int) -> bool | None:
        """The user's mark moved to read_seq: True when the count changed, False when not, None
        when it cannot tell (the mark stops below seqs counted only as a number)."""
        if read_seq <= self.read_seq:
            return False
        if read_seq < self.counted_to:
            return None
        still_unread = {s for s in self.above if s > read_seq}
        changed = len(still_unread) != self.count
        self.read_seq = self.counted_to = read_seq
        self.count = len(still_unread)
        self.above = still_unread
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


@dataclass(slots=True)
class _Pending:
    """Notices that arrived while the user's counts were loading, applied once they are in."""

    changes: list[tuple[str, int, str | None]] = field(default_factory=list)
    """(chat_id, seq, sender) for a message; (chat_id, read_seq, None) for a read."""


class UnreadBook:
    """The counts of every user with a socket on this node."""

    def __init__(self, load: Loader, emit: Emitter, spawn: Callable[[Awaitable[None]], None]) -> None:
        self._load = load
        self._emit = emit
        self._spawn = spawn
        self._users: dict[str, UserCounts] = {}
        self._loading: dict[str, _Pending] = {}
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
    def message(self, user_id: str, chat_id: str, seq: int, sender_id: str) -> None:
        if sender_id == user_id:
            return  # a user's own messages are never unread
        self._change(user_id, chat_id, seq, sender_id)

    def read(self, user_id: str, chat_id: str, read_seq: int) -> None:
        self._change(user_id, chat_id, read_seq, None)

    def _change(self, user_id: str, chat_id: str, seq: int, sender_id: str | None) -> None:
        counts = self._users.get(user_id)
        if counts is not None:
            if self._apply(user_id, counts, chat_id, seq, sender_id):
                entry = counts.chats[chat_id]
                self._emit(user_id, chat_id, entry.count, counts.total)
            return
        pending = self._loading.get(user_id)
        if pending is None:
            pending = self._loading[user_id] = _Pending()
            self._spawn(self._fill(user_id, pending, self._generation))
        pending.changes.append((chat_id, seq, sender_id))

    def _apply(self, user_id: str, counts: UserCounts, chat_id: str, seq: int, sender_id: str | None) -> bool:
        entry = counts.chat(chat_id)
        before = entry.count
        if sender_id is not None:
            changed: bool | None = entry.add(seq)
        else:
            changed = entry.read_to(seq)
            if changed is None:
                # a read that stops inside what the store counted: ask the store again
                del self._users[user_id]
                self._loading[user_id] = pending = _Pending([(chat_id, seq, None)])
                self._spawn(self._fill(user_id, pending, self._generation))
                return False
        counts.total += entry.count - before
        return bool(changed)

    async def _fill(self, user_id: str, pending: _Pending, generation: int) -> None:
        try:
            entries = await self._load(user_id)
        except Exception:
            if self._loading.get(user_id) is pending:
                del self._loading[user_id]
            log.warning("unread counts not loaded", extra={"user_id": user_id}, exc_info=True)
            return
        if self._loading.get(user_id) is not pending or generation != self._generation:
            return  # forgotten (the user left this node, or a resync) while loading
        del self._loading[user_id]
        counts = UserCounts.from_entries(entries)
        self._users[user_id] = counts
        touched: dict[str, None] = {}
        for index, (chat_id, seq, sender_id) in enumerate(pending.changes):
            self._apply(user_id, counts, chat_id, seq, sender_id)
            touched[chat_id] = None
            if user_id not in self._users:
                # a partial read started another load: it replays everything around that read
                reload = self._loading[user_id].changes
                reload[:0] = pending.changes[:index]
                reload.extend(pending.changes[index + 1 :])
                return
        for chat_id in touched:
            self._emit(user_id, chat_id, counts.chats[chat_id].count, counts.total)

    # --- forgetting ----------------------------------------------------------------------------
    def forget(self, user_id: str) -> None:
        """The user's last socket on this node is gone."""
        self._users.pop(user_id, None)
        self._loading.pop(user_id, None)

    def clear(self) -> None:
        """Notices may have been missed (pub/sub resync): count again from the store."""
        self._users.clear()
        self._loading.clear()
        self._generation += 1
