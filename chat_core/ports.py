"""The two ports of the core. The service talks to storage and fan-out only through these.

Every Store method may raise `chat_core.errors.Unavailable` when the backing service is down
or its retries ran out; it must then have written nothing half-way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from .models import (
    AppendResult,
    Attachment,
    Blocks,
    ChangeResult,
    Chat,
    ChatPage,
    ChatUpdate,
    ConnectionRef,
    HistoricMessage,
    MemberNotice,
    Message,
    MessageChange,
    MessagePage,
    Presence,
    ReplyRef,
    UnreadEntry,
)

UPDATES_MAX = 500
"""Changed messages one list_messages answer carries at most."""
MAX_REACTION_KINDS = 20
"""Different emojis one message may carry."""
ATTACHMENT_RECORD_TTL_MS = 24 * 3600 * 1000
"""An upload slot's record is kept at least this long for a message to refer to it."""


class Store(Protocol):
    # --- chats -------------------------------------------------------------------------------
    async def create_chat(self, chat: Chat) -> tuple[Chat, bool]:
        """Store a new chat (last_seq 0, no messages, every read mark 0, version 0, with its
        topic, admins and blocked_by as given). A direct chat is found again by set_block
        through its pair of members, whatever its topic.

        If a chat with that id exists already, store nothing and return (existing, False); this is
        what makes the deterministic direct-chat id race-free. Otherwise return (chat, True).
        """
        ...

    async def get_chat(self, chat_id: str) -> Chat | None:
        """The chat with its members, read marks, joined seqs, admins, blocks, version, last_seq
        and last message; None if unknown."""
        ...

    async def list_chats(self, user_id: str, limit: int, cursor: str | None) -> ChatPage:
        """The user's chats, newest activity first (ties by id), at most `limit` of them.

        `cursor` is None or a value this store returned as next_cursor for the same user; a cursor
        that does not parse raises Invalid. next_cursor is None on the last page. The work is
        about a page's, not the user's whole chat list (docs/conversations.md, the inbox).
        """
        ...

    async def update_chat(self, chat_id: str, update: ChatUpdate) -> Chat:
        """Apply a group's membership or settings change atomically if the chat's version is
        still update.expected_version (it becomes expected_version + 1); return the chat after
        it. Raises NotFound (no such chat) and Conflict (another change came first: nothing
        written; the caller reads the chat again and decides again). A member added is listed
        among the user's chats (list_chats, unread_entries, contacts) from then on, a member
        removed no longer. The chat's last activity and seqs do not move."""
        ...

    async def set_block(self, blocker_id: str, blocked_id: str, blocking: bool, now_ms: int) -> tuple[Chat, ...]:
        """Record (blocking True) or drop that blocker_id blocks blocked_id, and mark every direct
        chat of the pair accordingly (blocker_id in or out of its blocked_by, its version + 1
        when that changed). Idempotent. Returns the pair's direct chats after the call."""
        ...

    async def blocks(self, user_id: str) -> Blocks:
        """Whom the user blocks and who blocks the user."""
        ...

    # --- messages ----------------------------------------------------------------------------
    async def append_message(
        self,
        chat_id: str,
        sender_id: str,
        content: str,
        client_message_id: str,
        now_ms: int,
        on_seq: Callable[[int], None] | None = None,
        *,
        reply_to: ReplyRef | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> AppendResult:
        """Durably store a message under a new seq of the chat, exactly once.

        Its id is `ids.message_id(chat_id, sender_id, client_message_id)`. Idempotent on (chat_id,
        sender_id, client_message_id): a repeat, even a concurrent one, stores nothing and returns
        the first message (in its current state) with created=False. On a new message the
        chat's last_seq, last message and last activity move to it (read marks do not). Seqs are
        strictly increasing per chat in the order they are handed out and never reused; a seq
        whose write failed may stay a gap. `on_seq` is called on the event loop with the seq as
        soon as it is handed out, before the message is durable (a store that hands out and
        stores in one step may call it at the end, or not at all). Returns only once the write
        is durable. The caller has checked that the chat exists, the sender is a member, and
        reply_to and attachments are the chat's.
        """
        ...

    async def get_message(self, chat_id: str, message_id: str) -> Message | None:
        """The message with that id in that chat, in its current state; None if there is none."""
        ...

    async def change_message(
        self,
        chat_id: str,
        message_id: str,
        change: MessageChange,
        now_ms: int,
        on_seq: Callable[[int], None] | None = None,
    ) -> ChangeResult:
        """Apply an edit, delete or reaction change to a stored message under a new seq of the
        chat (the message's change_seq), atomically, or not at all when it would change
        nothing (an edit to the same content, a delete of a deleted message, a reaction the
        user has, removing one they have not): then changed=False and, if a seq was handed out
        for it, that seq stays a gap. A message's change_seq only rises: a change whose seq is
        below the message's change_seq by the time it is applied takes a newer seq. `on_seq` as
        in append_message (called for each seq handed out).

        Raises NotFound (no such message in the chat), Forbidden (edit/delete by someone other
        than the sender; an edit of a message created before change.created_after_ms),
        Invalid (an edit or added reaction on a deleted message; a 21st emoji on one message,
        MAX_REACTION_KINDS). A delete drops the content, reply, attachments and reactions.
        The chat's last_seq, last activity and read marks do not move."""
        ...

    async def import_messages(self, chat_id: str, messages: Sequence[HistoricMessage]) -> tuple[AppendResult, ...]:
        """Store history from another system: each message not stored yet under a new seq of the
        chat, in the order given, with its own created_at_ms (`chat import`).

        Idempotent as append_message, on (chat_id, sender_id, client_message_id), and a repeat
        takes no seq: only messages not stored yet (nor earlier in `messages`) get one. Returns,
        per given message in order, the stored message (created=False when it was there
        already or repeats an earlier entry). When anything is new, the chat's last_seq and last
        message move to the last new one and its last activity rises to the newest
        created_at_ms stored (it never goes back); read marks do not move. A failure may leave a
        prefix of the new messages stored (the seqs handed out for the rest stay gaps), never a
        message without every new one before it. The caller has checked that the chat exists
        and every sender is a member; an unknown chat raises NotFound (unless messages is empty).
        """
        ...

    async def list_messages(
        self, chat_id: str, *, before_seq: int | None, after_seq: int | None, limit: int
    ) -> MessagePage:
        """Messages oldest first, each in its current state.

        With after_seq: the first `limit` with seq > after_seq (and < before_seq if given);
        has_more when more follow within the range; and `updates`: the messages with seq <=
        after_seq whose change_seq is above it (and below before_seq if given), oldest change
        first, at most UPDATES_MAX. When messages or updates are cut, both stop at one seq C
        (messages up to C, updates changed up to C) with has_more; C is then the highest of the
        messages' seqs and the updates' change_seqs, so the next page is after_seq=C.
        Without after_seq: the last `limit` with seq < before_seq (or the latest); has_more
        when older ones exist; no updates.
        """
        ...

    # --- attachments -------------------------------------------------------------------------
    async def put_attachment(self, attachment: Attachment) -> None:
        """Record an upload slot handed out (request_upload); the file arrives later in blob
        storage. An unused record may be forgotten after ATTACHMENT_RECORD_TTL_MS."""
        ...

    async def get_attachments(self, chat_id: str, attachment_ids: Sequence[str]) -> dict[str, Attachment]:
        """The chat's attachment records among those ids (unknown ones are left out)."""
        ...

    async def forget_stale_attachments(self, created_before_ms: int) -> int:
        """Drop attachment records created before the bound (a store whose records expire by
        themselves, DynamoDB's TTL, does nothing); return how many it dropped."""
        ...

    async def mark_read(self, chat_id: str, user_id: str, up_to_seq: int) -> int:
        """Raise the user's read mark to up_to_seq (never lower it); return the mark now stored."""
        ...

    async def unread_entries(self, user_id: str, chat_ids: Sequence[str] | None = None) -> dict[str, UnreadEntry]:
        """The user's unread messages (by others, above the read mark) per chat: in every chat
        of the user (chat_ids None) or in those of chat_ids the user is a member of."""
        ...

    async def contacts(self, user_id: str) -> set[str]:
        """Every user who shares at least one chat with user_id (not the user itself)."""
        ...

    # --- presence ----------------------------------------------------------------------------
    async def open_connection(self, ref: ConnectionRef, now_ms: int) -> bool:
        """Record a live connection. True when the user was offline before (announce online)."""
        ...

    async def close_connection(self, ref: ConnectionRef, now_ms: int) -> int:
        """Remove a connection record (idempotent); return the user's live connections left.

        The user stays online (in the grace period) until `settle_offline` flips them.
        """
        ...

    async def settle_offline(self, user_id: str, now_ms: int) -> bool:
        """Mark the user offline if they are online with no live connection.

        True for exactly one caller per transition (that caller announces user_offline).
        """
        ...

    async def presence(self, user_ids: Iterable[str]) -> dict[str, Presence]:
        """Presence of each user; one never seen is offline with last_seen None."""
        ...

    async def touch_node(self, node_id: str, now_ms: int) -> bool:
        """Heartbeat of a node: its connections are live while this is fresh. True when the node
        had a heartbeat record already; False for a new node, or one a reaper forgot (declared
        dead: its connection records are gone, and a node still alive must register them again)."""
        ...

    async def stale_nodes(self, heartbeat_before_ms: int) -> list[str]:
        """Nodes whose last heartbeat is older than the bound (they died without cleaning up)."""
        ...

    async def node_connections(self, node_id: str, limit: int) -> list[ConnectionRef]:
        """Up to `limit` connection records left by a node."""
        ...

    async def forget_node(self, node_id: str) -> None:
        """Drop a node's heartbeat record (after its connections are gone)."""
        ...

    async def idle_online_users(self, limit: int) -> list[str]:
        """Users still marked online who have no live connection (their offline is not settled)."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...


class Fanout(Protocol):
    """Delivers events to sockets wherever they are connected (one node or many)."""

    async def notify_members(self, notice: MemberNotice) -> None:
        """Hand the notice to every node's notice handler, this node's included (in the order
        of the calls, per node)."""
        ...

    def set_notice_handler(self, handler: Callable[[MemberNotice], None]) -> None:
        """What this node does with a notice (ChatService.on_member_notice)."""
        ...

    def to_local_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        """Every connection this node holds of the listed users, except the socket skip_sid."""
        ...

    async def to_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        """Every connection of every listed user, except the socket skip_sid."""
        ...

    async def to_chat_viewers(self, event: str, data: object, chat_id: str, *, skip_sids: Sequence[str] = ()) -> None:
        """Every socket that joined the chat (join_chat) and has not left, except skip_sids."""
        ...

    async def to_socket(self, event: str, data: object, sid: str) -> None:
        """One socket."""
        ...

    async def enter_chat_room(self, sid: str, chat_id: str) -> None:
        """Add a socket held by this node to the chat's viewers (called on the socket's node)."""
        ...

    async def leave_chat_room(self, sid: str, chat_id: str) -> None:
        """Remove a socket held by this node from the chat's viewers."""
        ...
