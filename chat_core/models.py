"""Domain objects. Times are integer milliseconds since the epoch (UTC) inside the core."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import ids

ChatType = Literal["direct", "group"]


@dataclass(frozen=True, slots=True)
class ReplyRef:
    """The message a reply quotes, as it was when the reply was sent."""

    id: str
    sender_id: str
    snippet: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a member uploaded to a chat (`request_upload`), then referred to by a message.

    The file itself lives in blob storage under `blob_key(chat_id, id)`; the store keeps this
    record (until a message refers to it, or the unused upload expires) and a copy in every
    message that refers to it."""

    id: str
    chat_id: str
    uploader_id: str
    name: str
    content_type: str
    size: int
    created_at_ms: int
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Reaction:
    emoji: str
    user_ids: tuple[str, ...]
    """Everyone who reacted with it, sorted (the wire shows a count and the first 20)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A message in its current state. `change_seq` is the seq of its latest change (edit,
    delete, reaction), its own seq when never changed: every change takes the next seq of the
    chat, from the same counter as messages."""

    id: str
    chat_id: str
    seq: int
    sender_id: str
    content: str
    client_message_id: str
    created_at_ms: int
    change_seq: int = 0
    edited_at_ms: int | None = None
    deleted: bool = False
    reply_to: ReplyRef | None = None
    reactions: tuple[Reaction, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if self.change_seq < self.seq:
            object.__setattr__(self, "change_seq", self.seq)

    @classmethod
    def first_stored(
        cls,
        chat_id: str,
        seq: int,
        sender_id: str,
        content: str,
        client_message_id: str,
        created_at_ms: int,
        *,
        reply_to: ReplyRef | None = None,
        attachments: tuple[Attachment, ...] = (),
        message_id: str | None = None,
    ) -> Message:
        """A message as a store first writes it: its id derived from its idempotency key
        (`ids.message_id`; `message_id`: that id, when the caller derived it already), never
        changed yet."""
        if message_id is None:
            message_id = ids.message_id(chat_id, sender_id, client_message_id)
        return cls(
            message_id,
            chat_id,
            seq,
            sender_id,
            content,
            client_message_id,
            created_at_ms,
            reply_to=reply_to,
            attachments=attachments,
        )


ChangeKind = Literal["edit", "delete", "react", "unreact"]


@dataclass(frozen=True, slots=True)
class MessageChange:
    """What a member asks to change in a message. The store applies it under a new seq of the
    chat, or not at all when it would change nothing."""

    kind: ChangeKind
    user_id: str
    content: str | None = None
    """edit: the new content."""
    emoji: str | None = None
    """react/unreact: the emoji."""
    created_after_ms: int | None = None
    """edit: the message must have been sent at or after this time (the edit window)."""


@dataclass(frozen=True, slots=True)
class ChangeResult:
    message: Message
    """The message's state after the call (unchanged when `changed` is False)."""
    changed: bool
    """False when the change would have changed nothing: no seq was used for it."""
    previous: Message | None = None
    """The message's state before the change (when changed)."""


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat with its members and every member's read mark.

    `last_seq` is the seq of the last stored message (0 for none). Seqs may have gaps (a seq
    whose write failed, or that a retry turned out not to need), so it is not a message count.
    `read_seqs` are the marks members set (mark_read); sending does not move them.

    A group's members, admins and title change over time (`Store.update_chat`); `version` counts
    those changes, and block changes of a direct chat (`Store.set_block`): a node caches what it
    needs of a chat (members, blocks) under its version, and a notice of a newer version
    replaces it (docs/conversations.md).
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
    topic: str | None = None
    """Direct chats: the subject the platform opened the pair's chat about (None: the pair's
    chat without a subject, protocol v1's)."""
    admins: tuple[str, ...] = ()
    """Groups: who may change members, title and admins (the creator first). A group stored
    before admins existed has none: its first member, its creator, is its admin."""
    version: int = 0
    joined_seqs: Mapping[str, int] = field(default_factory=dict)
    """Per member, the seq their history starts after: messages at or below it are not theirs
    to see (a member added with `full_history` False). Absent or 0: the whole history."""
    blocked_by: frozenset[str] = frozenset()
    """Direct chats: the members who block the other one (`Store.set_block`)."""

    @property
    def acting_admins(self) -> tuple[str, ...]:
        """The admins, or the creator of a group stored before admins existed."""
        if self.type != "group":
            return ()
        return self.admins or self.members[:1]

    def can_see(self, user_id: str, seq: int) -> bool:
        return history_shows(self.joined_seqs, user_id, seq)


def history_shows(joined_seqs: Mapping[str, int], user_id: str, seq: int) -> bool:
    """Whether a member sees the message at `seq`: their history starts after their joined seq."""
    return seq > joined_seqs.get(user_id, 0)


@dataclass(frozen=True, slots=True)
class ChatUpdate:
    """A change of a group's membership or settings, applied by `Store.update_chat` only if the
    chat is still at `expected_version` (then its version becomes expected_version + 1)."""

    expected_version: int
    now_ms: int
    add: tuple[str, ...] = ()
    """New members (none of them a member already). Each gets the read mark of the chat's last
    seq handed out, and that seq as its joined seq unless `full_history`."""
    remove: tuple[str, ...] = ()
    """Members to remove (each a member now): their member records go, read mark included. The
    caller passes the admins left (`admins`) when one of them is an admin."""
    title: str | None = None
    set_title: bool = False
    """When True, the title becomes `title` (None clears it)."""
    admins: tuple[str, ...] | None = None
    """The new admins, all of them members after the change (None: unchanged)."""
    full_history: bool = False


@dataclass(frozen=True, slots=True)
class Blocks:
    """Who a user blocks, and who blocks them."""

    blocked: frozenset[str]
    blocked_by: frozenset[str]

    def between(self, other: str) -> bool:
        return other in self.blocked or other in self.blocked_by


@dataclass(frozen=True, slots=True)
class ChatView:
    """A chat as one member sees it: with their unread count."""

    chat: Chat
    unread_count: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    message: Message
    created: bool
    """False when (chat, sender, clientMessageId) was already stored: `message` is the first one."""


@dataclass(frozen=True, slots=True)
class HistoricMessage:
    """A message from another system's history, for `Store.import_messages`: it keeps its own
    timestamp, and its (sender, clientMessageId) makes importing it again a no-op (its id is
    derived from them, as every message's is: `ids.message_id`)."""

    sender_id: str
    content: str
    client_message_id: str
    created_at_ms: int

    def stored_as(self, chat_id: str, seq: int) -> Message:
        """This message stored in chat_id under seq."""
        m = self
        return Message.first_stored(chat_id, seq, m.sender_id, m.content, m.client_message_id, m.created_at_ms)


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: tuple[Message, ...]
    has_more: bool
    updates: tuple[Message, ...] = ()
    """With after_seq: the current state of messages at or below it that changed after it,
    oldest change first."""


@dataclass(frozen=True, slots=True)
class UnreadEntry:
    """One user's unread messages in one chat, as the store counted them.

    `count`: stored messages by others with seq above `read_seq`, among seqs up to `counted_to`.
    `missing`: seqs in (read_seq, counted_to] that had no stored message when counted (a write
    in flight, or a gap for ever); a message that later arrives with one of them is not counted
    yet. Messages above `counted_to` are not counted yet.
    """

    read_seq: int
    count: int
    counted_to: int
    missing: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class MemberNotice:
    """An event for every connection of a chat's members that also moves unread counts
    (new_message, messages_read). Every node handles it: it delivers `event` to its own sockets
    of the members and updates the unread counts it holds for them."""

    event: str
    data: Mapping[str, Any]
    members: tuple[str, ...]
    skip_sid: str | None = None
    version: int = 0
    """The chat's version the sender knew `members` at: a node that knows a newer version
    delivers only to those still members in it (a removed member gets nothing more)."""


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
