"""Domain objects. Times are integer milliseconds since the epoch (UTC) inside the core."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ChatType = Literal["direct", "group"]


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    chat_id: str
    seq: int
    sender_id: str
    content: str
    client_message_id: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat with its members and every member's read mark.

    Membership is fixed when the chat is created (protocol v1 has no add/remove member),
    which is what lets nodes cache it without invalidation.
    """

    id: str
    type: ChatType
    title: str | None
    members: tuple[str, ...]
    created_at_ms: int
    last_seq: int
    last_activity_ms: int
    last_message: Message | None
    read_seqs: Mapping[str, int] = field(default_factory=dict)

    def unread_for(self, user_id: str) -> int:
        """Messages above the user's read mark (a sender's own send advances the mark)."""
        return max(0, self.last_seq - self.read_seqs.get(user_id, 0))


@dataclass(frozen=True, slots=True)
class AppendResult:
    message: Message
    created: bool
    """False when (chat, sender, clientMessageId) was already stored: `message` is the first one."""
    sender_unread_before: int | None = None
    """The sender's unread count in the chat just before this message, when the store knows it
    (None: unknown). Lets the service skip an unread_count event that would change nothing."""


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: tuple[Message, ...]
    has_more: bool


@dataclass(frozen=True, slots=True)
class UnreadCounts:
    chat_unread: int
    total_unread: int


@dataclass(frozen=True, slots=True)
class ChatPage:
    chats: tuple[Chat, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Presence:
    user_id: str
    online: bool
    last_seen_ms: int | None


@dataclass(frozen=True, slots=True)
class ConnectionRef:
    user_id: str
    connection_id: str
    node_id: str
