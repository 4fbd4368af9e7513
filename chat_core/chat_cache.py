"""What a node keeps of each chat it serves, so that a send costs no store read: the members,
the seq each member's history starts after, and whether a direct chat's pair is blocked, under
the chat's version.

A change of any of them (Store.update_chat, Store.set_block) raises the version and reaches
every node as a `chat_updated` member notice, which replaces the entry (`learn`); an entry is
only ever replaced by a newer version. Events of a chat (member notices) carry the version
their sender knew the members at; `recipients` keeps, of their members, only those still
members in the newest version this node knows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .models import Chat, ChatType, history_shows


@dataclass(frozen=True, slots=True)
class KnownChat:
    id: str
    type: ChatType
    version: int
    members: frozenset[str]
    joined_seqs: Mapping[str, int] = field(default_factory=dict)
    blocked: bool = False
    title: str | None = None
    topic: str | None = None

    @classmethod
    def of(cls, chat: Chat) -> KnownChat:
        joined = {user: seq for user, seq in chat.joined_seqs.items() if seq}
        blocked = bool(chat.blocked_by)
        return cls(chat.id, chat.type, chat.version, frozenset(chat.members), joined, blocked, chat.title, chat.topic)

    @classmethod
    def from_notice(cls, data: Mapping[str, Any], version: int) -> KnownChat:
        """The chat a `chat_updated` member notice carries (`ChatService._publish_chat` builds it:
        `chat` as members see it, `joinedSeqs`, `blockedBy`)."""
        shown = data["chat"]
        joined = {str(user): int(seq) for user, seq in data.get("joinedSeqs", {}).items()}
        chat_type: ChatType = "direct" if shown["type"] == "direct" else "group"
        members = frozenset(shown["members"])
        blocked = bool(data.get("blockedBy"))
        return cls(shown["id"], chat_type, version, members, joined, blocked, shown.get("title"), shown.get("topic"))

    def joined_seq(self, user_id: str) -> int:
        """The seq the user's history starts after (0: the whole history)."""
        return self.joined_seqs.get(user_id, 0)

    def can_see(self, user_id: str, seq: int) -> bool:
        return history_shows(self.joined_seqs, user_id, seq)


class ChatCache:
    """The newest known state of recently used chats (least recently used ones go first)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._chats: OrderedDict[str, KnownChat] = OrderedDict()

    def get(self, chat_id: str) -> KnownChat | None:
        known = self._chats.get(chat_id)
        if known is not None:
            self._chats.move_to_end(chat_id)
        return known

    def learn(self, known: KnownChat) -> KnownChat:
        """Keep `known` unless a newer version is kept already; return the newest."""
        if self._size <= 0:
            return known
        current = self._chats.get(known.id)
        if current is not None and current.version > known.version:
            self._chats.move_to_end(known.id)
            return current
        self._chats[known.id] = known
        self._chats.move_to_end(known.id)
        if len(self._chats) > self._size:
            self._chats.popitem(last=False)
        return known

    def recipients(self, chat_id: str, members: Sequence[str], version: int) -> Sequence[str]:
        """Of an event's members (as its sender knew them at `version`), those still members in
        the newest version this node knows."""
        known = self._chats.get(chat_id)
        if known is None or known.version <= version:
            return members
        return [m for m in members if m in known.members]

    def clear(self) -> None:
        self._chats.clear()
