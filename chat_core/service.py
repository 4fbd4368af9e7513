"""Every business rule of the chat, once: membership, seq, idempotency, unread, read marks,
typing and presence. Transports parse, call one method here, and shape the answer."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

from . import membership, payloads, wire
from .chat_cache import ChatCache, KnownChat
from .clock import now_ms
from .errors import Blocked, Conflict, Forbidden, Invalid, NotFound, RateLimited, Unavailable
from .ids import direct_chat_id, group_chat_id
from .limits import Limiter
from .models import (
    AppendResult,
    Attachment,
    ChangeResult,
    Chat,
    ChatUpdate,
    ChatView,
    ConnectionRef,
    MemberNotice,
    Message,
    MessageChange,
    MessagePage,
    Presence,
    ReplyRef,
)
from .ports import Fanout, Store
from .send_order import SendOrder, Ticket
from .unread import UnreadBook
from .uploads import UploadOffer, Uploads
from .viewers import ViewerRegistry

log = logging.getLogger("chat.service")

JOIN_RECENT = 50
JOIN_RECOVERY_MAX = 500
UPLOAD_SWEEP_INTERVAL_MS = 10 * 60 * 1000
"""How often the cleanup looks for upload slots never used."""
SNIPPET_CHARS = 100
"""A reply quotes this many code points of the message it answers."""
MEMBERSHIP_CACHE_SIZE = 50_000
REAP_BATCH = 500
UNSURE_SENDS_KEPT = 10_000
TAKE_OVER_MAX = 1_000_000
"""Connection records a restarted node reads back from its predecessor (all of them, in practice)."""
UNDO_ATTEMPTS = 8
UNDO_RETRY_FIRST_S = 0.25
UNDO_RETRY_MAX_S = 8.0
"""A connection whose opening or closing failed is closed (again), retrying this way while the store is
unavailable (about a minute in all; a record still left then stays until this node stops, when
its drain or the reaper removes it)."""
UNREAD_LOAD_WAIT_S = 2.0
"""How long an answer waits for a user's unread counts to load before asking the store itself."""
CHANGE_ATTEMPTS = 8
"""Tries of a group change that keeps meeting another change first (Conflict)."""
UNREAD_EVENT_INTERVAL_S = 0.2
"""unread_count events leave in flushes at most this often: a count that changes when no flush
happened for this long goes out at once (the next loop turn); under load, the changes of each
interval go out as one event per user and chat with the latest values (a busy group would
otherwise double the frames each message costs)."""


class OfflineHook(Protocol):
    """Tells the platform about messages to members who are offline (chat_core/hooks)."""

    def notify(self, message: dict[str, Any], chat: dict[str, Any], recipients: list[str]) -> None: ...

    async def flush(self, budget_s: float) -> bool: ...

    async def aclose(self, budget_s: float = 10.0) -> None: ...


class ChatPolicy(Protocol):
    """Asks the platform whether a user may start a chat with others (chat_core/hooks)."""

    async def allow(
        self, kind: Literal["direct", "group"], user_id: str, others: list[str], topic: str | None
    ) -> bool: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class InboxPage:
    chats: tuple[ChatView, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class JoinResult:
    view: ChatView
    messages: tuple[Message, ...]
    has_more: bool
    updates: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadResult:
    chat_id: str
    read_seq: int
    unread_count: int


@dataclass(slots=True)
class CleanupReport:
    nodes_reaped: int = 0
    connections_reaped: int = 0
    users_offline: int = 0
    typing_expired: int = 0
    idle_state_dropped: int = 0
    stale_uploads_removed: int = 0
    complete: bool = True
    errors: list[str] = field(default_factory=list)


class ChatService:
    def __init__(
        self,
        store: Store,
        fanout: Fanout,
        *,
        node_id: str,
        presence_grace_s: float = 5.0,
        presence_ttl_s: float = 60.0,
        clock: Callable[[], int] = now_ms,
        limiter: Limiter | None = None,
        max_connections_per_user: int | None = None,
        send_order_timeout_s: float = 5.0,
        edit_window_s: float | None = None,
        uploads: Uploads | None = None,
        cache_chats: bool = True,
        group_history: Literal["joined", "all"] = "joined",
        offline_hook: OfflineHook | None = None,
        policy: ChatPolicy | None = None,
    ) -> None:
        """`send_order_timeout_s`: how long a send whose store work has not finished holds back
        the emits of later seqs of its chat. Nothing is left running after a call returns unless
        the fan-out hands this node notices (a node's, not Lambda's): then unread counts load in
        the background. `edit_window_s`: how long after sending a message may be edited (None:
        always). `uploads`: attachments (None: a send with attachmentIds and request_upload are
        refused). `cache_chats`: keep what sends need of each chat (members, blocks) between
        calls, which only a process that receives the member notices may do (a node; not a
        Lambda function). `group_history`: what a member added to a group sees ("joined": the
        messages after their joining; "all"). `offline_hook`: told of messages to offline
        members; `policy`: asked before a new chat is created."""
        self.store = store
        self.fanout = fanout
        self.node_id = node_id
        self.viewers = ViewerRegistry()
        self._grace_ms = int(presence_grace_s * 1000)
        self._ttl_ms = int(presence_ttl_s * 1000)
        self._clock = clock
        self._limiter = limiter
        self._max_connections = max_connections_per_user
        self._edit_window_ms = None if edit_window_s is None else int(edit_window_s * 1000)
        self.uploads = uploads
        self._uploads_swept_at = -UPLOAD_SWEEP_INTERVAL_MS
        self._chats = ChatCache(MEMBERSHIP_CACHE_SIZE if cache_chats else 0)
        self._full_history = group_history == "all"
        self._offline_hook = offline_hook
        self._policy = policy
        self._send_order = SendOrder(
            send_order_timeout_s,
            seqs_in_call_order=bool(getattr(store, "hands_out_seqs_in_call_order", False)),
        )
        self._heartbeat_lock = asyncio.Lock()
        self._registration_lost = False
        """A heartbeat found this node forgotten (declared dead) and has not registered every
        connection again yet."""
        self._unsure_sends: OrderedDict[tuple[str, str, str], bool] = OrderedDict()
        self._offline_checks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.unread = UnreadBook(self.store.unread_entries, self._unread_changed, self._spawn)
        self._unread_due: dict[str, set[str]] = {}
        self._unread_flush_scheduled = False
        self._unread_flushed_at = 0.0
        fanout.set_notice_handler(self.on_member_notice)

    async def _limit(self, user_id: str, kind: str) -> None:
        if self._limiter is not None:
            await self._limiter.take(user_id, kind)

    async def aclose(self) -> None:
        """Release what the service itself holds (the rate limiter's Redis connections, the
        attachments' blob storage); the store and the fan-out are closed by whoever opened them."""
        if self._limiter is not None:
            await self._limiter.aclose()
        if self.uploads is not None:
            await self.uploads.blobs.close()
        if self._offline_hook is not None:
            await self._offline_hook.aclose()
        if self._policy is not None:
            await self._policy.aclose()

    async def flush_hooks(self, budget_s: float) -> None:
        """Wait (at most budget_s) for the platform webhook's deliveries queued so far: a
        process that is frozen between requests (Lambda) calls it before answering."""
        if self._offline_hook is not None:
            await self._offline_hook.flush(budget_s)

    # --- membership ---------------------------------------------------------------------------
    def _remember(self, chat: Chat) -> KnownChat:
        return self._chats.learn(KnownChat.of(chat))

    async def _require_member(self, user_id: str, chat_id: str) -> KnownChat:
        """What sends need of a chat the user belongs to; NotFound otherwise, so ids do not leak."""
        known = self._chats.get(chat_id)
        if known is None:
            chat = await self.store.get_chat(chat_id)
            if chat is None:
                raise NotFound("chat not found")
            known = self._remember(chat)
        if user_id not in known.members:
            raise NotFound("chat not found")
        return known

    async def _member_chat(self, user_id: str, chat_id: str) -> Chat:
        chat = await self.store.get_chat(chat_id)
        if chat is None or user_id not in chat.members:
            raise NotFound("chat not found")
        self._remember(chat)
        return chat

    # --- chats --------------------------------------------------------------------------------
    async def open_direct(self, user_id: str, recipient_id: str, topic: str | None = None) -> tuple[Chat, bool]:
        """The pair's chat about `topic` (None: the pair's v1 chat), created if it does not exist
        yet: unless one of the two blocks the other (BLOCKED) or the platform's policy says no."""
        if recipient_id == user_id:
            raise Invalid("recipientId must be another user")
        chat_id = direct_chat_id(user_id, recipient_id, topic)
        existing = await self.store.get_chat(chat_id)
        if existing is not None:
            self._remember(existing)
            return existing, False
        if (await self.store.blocks(user_id)).between(recipient_id):
            raise Blocked()
        await self._allowed("direct", user_id, [recipient_id], topic)
        now = self._clock()
        members = tuple(sorted((user_id, recipient_id)))
        chat, created = await self.store.create_chat(
            Chat(chat_id, "direct", None, members, now, 0, now, None, dict.fromkeys(members, 0), topic=topic)
        )
        if created:
            # a block set while this chat was being created may not have seen it: each of the
            # two reads after its own write, so whichever comes second marks the chat
            blocks = await self.store.blocks(user_id)
            pairs = [(user_id, recipient_id)] if recipient_id in blocks.blocked else []
            if recipient_id in blocks.blocked_by:
                pairs.append((recipient_id, user_id))
            for blocker, blocked in pairs:
                marked = await self.store.set_block(blocker, blocked, True, now)
                chat = next((c for c in marked if c.id == chat_id), chat)
        self._remember(chat)
        return chat, created

    async def _allowed(
        self, kind: Literal["direct", "group"], user_id: str, others: list[str], topic: str | None
    ) -> None:
        if self._policy is not None and not await self._policy.allow(kind, user_id, others, topic):
            raise Forbidden("the platform does not allow this chat")

    async def create_chat(self, user_id: str, request: payloads.CreateChat) -> tuple[ChatView, bool]:
        await self._limit(user_id, "join")
        if request.type == "direct":
            assert request.recipient_id is not None
            chat, created = await self.open_direct(user_id, request.recipient_id, request.topic)
        else:
            chat, created = await self._create_group(user_id, request)
        return (await self.views(user_id, [chat]))[0], created

    async def _create_group(self, user_id: str, request: payloads.CreateChat) -> tuple[Chat, bool]:
        members = (user_id, *(m for m in request.members if m != user_id))
        if len(members) < 2:
            raise Invalid("a group needs at least one member besides its creator")
        await self._allowed("group", user_id, list(members[1:]), None)
        now = self._clock()
        chat, created = await self.store.create_chat(
            Chat(
                group_chat_id(),
                "group",
                request.title,
                members,
                now,
                0,
                now,
                None,
                dict.fromkeys(members, 0),
                admins=(user_id,),
            )
        )
        self._remember(chat)
        return chat, created

    # --- group membership and settings -----------------------------------------------------------
    async def add_members(self, user_id: str, request: payloads.AddMembers) -> Chat:
        await self._limit(user_id, "join")
        checked: set[str] = set()

        async def plan(chat: Chat) -> ChatUpdate | None:
            update = membership.add(
                chat, user_id, request.user_ids, full_history=self._full_history, now_ms=self._clock()
            )
            if update is not None and (unchecked := [u for u in update.add if u not in checked]):
                await self._allowed("group", user_id, unchecked, None)
                checked.update(unchecked)
            return update

        def shown(update: ChatUpdate) -> dict[str, Any]:
            return membership.change_shown("members_added", user_id, userIds=list(update.add))

        return await self._change_chat(user_id, request.chat_id, plan, shown)

    async def remove_member(self, user_id: str, request: payloads.MemberRef) -> Chat:
        """An admin removes a member; a member removing themselves leaves the group."""
        if request.user_id == user_id:
            return await self.leave_group(user_id, request.chat_id)
        await self._limit(user_id, "join")

        async def plan(chat: Chat) -> ChatUpdate:
            return membership.remove(chat, user_id, request.user_id, now_ms=self._clock())

        def shown(update: ChatUpdate) -> dict[str, Any]:
            return membership.change_shown("member_removed", user_id, userId=request.user_id)

        return await self._change_chat(user_id, request.chat_id, plan, shown)

    async def leave_group(self, user_id: str, chat_id: str) -> Chat:
        await self._limit(user_id, "join")

        async def plan(chat: Chat) -> ChatUpdate:
            return membership.leave(chat, user_id, now_ms=self._clock())

        def shown(update: ChatUpdate) -> dict[str, Any]:
            return membership.change_shown("member_left", user_id)

        return await self._change_chat(user_id, chat_id, plan, shown)

    async def update_chat(self, user_id: str, request: payloads.UpdateChat) -> Chat:
        await self._limit(user_id, "join")

        async def plan(chat: Chat) -> ChatUpdate | None:
            return membership.update(
                chat,
                user_id,
                title=request.title,
                set_title=request.set_title,
                admins=request.admins,
                now_ms=self._clock(),
            )

        def shown(update: ChatUpdate) -> dict[str, Any]:
            kind = "chat_renamed" if update.set_title else "admins_changed"
            return membership.change_shown(kind, user_id)

        return await self._change_chat(user_id, request.chat_id, plan, shown)

    async def _change_chat(
        self,
        user_id: str,
        chat_id: str,
        plan: Callable[[Chat], Awaitable[ChatUpdate | None]],
        shown: Callable[[ChatUpdate], dict[str, Any]],
    ) -> Chat:
        """Read the chat, plan the change against it, store it if the chat is still as read
        (else read again and plan again), then tell every node (`chat_updated`)."""
        for _ in range(CHANGE_ATTEMPTS):
            chat = await self._member_chat(user_id, chat_id)
            update = await plan(chat)
            if update is None:
                return chat
            try:
                after = await self.store.update_chat(chat_id, update)
            except Conflict:
                continue
            await self._publish_chat(after, shown(update), removed=update.remove)
            return after
        raise Unavailable("the chat keeps changing; retry")

    async def _publish_chat(self, chat: Chat, change: dict[str, Any], *, removed: Sequence[str] = ()) -> None:
        """Tell every node a chat changed (`chat_updated`): each replaces what it keeps of it and
        tells its sockets of the members; the removed ones get `removed_from_chat`."""
        self._remember(chat)
        data = {
            "chat": wire.chat_shared(chat, self._url_for),
            "change": change,
            "removed": list(removed),
            "joinedSeqs": {u: s for u, s in chat.joined_seqs.items() if s},
            "blockedBy": sorted(chat.blocked_by),
        }
        await self.fanout.notify_members(
            MemberNotice("chat_updated", data, (*chat.members, *removed), version=chat.version)
        )

    # --- blocking -------------------------------------------------------------------------------
    async def block_user(self, user_id: str, other_id: str, blocking: bool = True) -> None:
        """Block (or unblock) another user: their direct chats refuse sends (BLOCKED), no new
        one opens, presence is hidden both ways; every node learns it with the chats' notices."""
        await self._limit(user_id, "join")
        if other_id == user_id:
            raise Invalid("you cannot block yourself")
        # idempotent, and called again even when already so: it finishes a call that failed half-way
        chats = await self.store.set_block(user_id, other_id, blocking, self._clock())
        change = membership.change_shown("blocked" if blocking else "unblocked", user_id)
        for chat in chats:
            await self._publish_chat(chat, change)

    async def blocked_users(self, user_id: str) -> list[str]:
        await self._limit(user_id, "query")
        return sorted((await self.store.blocks(user_id)).blocked)

    async def get_chat(self, user_id: str, chat_id: str) -> ChatView:
        await self._limit(user_id, "query")
        return (await self.views(user_id, [await self._member_chat(user_id, chat_id)]))[0]

    async def list_chats(self, user_id: str, limit: int, cursor: str | None) -> InboxPage:
        await self._limit(user_id, "query")
        page = await self.store.list_chats(user_id, limit, cursor)
        return InboxPage(await self.views(user_id, page.chats), page.next_cursor)

    async def views(self, user_id: str, chats: Collection[Chat]) -> tuple[ChatView, ...]:
        """The chats with the user's unread counts: from the counts this node holds for a user
        with sockets here (loaded first if need be, so that an answer is never older than an
        unread_count event those sockets were already sent), else from the store."""
        if user_id in self.viewers.sids_by_user:
            await self.unread.counts_of(user_id, UNREAD_LOAD_WAIT_S)
        counts: dict[str, int] = {}
        unknown = []
        for chat in chats:
            known = self.unread.count(user_id, chat.id)
            if known is None:
                unknown.append(chat.id)
            else:
                counts[chat.id] = known
        if unknown:
            entries = await self.store.unread_entries(user_id, unknown)
            counts.update({chat_id: entries[chat_id].count if chat_id in entries else 0 for chat_id in unknown})
        return tuple(ChatView(chat, counts[chat.id]) for chat in chats)

    # --- viewing ------------------------------------------------------------------------------
    async def join_chat(self, user_id: str, request: payloads.JoinChat, sid: str | None) -> JoinResult:
        await self._limit(user_id, "join")
        if request.recipient_id is not None:
            chat, _ = await self.open_direct(user_id, request.recipient_id, request.topic)
        else:
            assert request.chat_id is not None
            chat = await self._member_chat(user_id, request.chat_id)
        if request.since_seq is None:
            reading = self._history(chat.id, chat.joined_seqs.get(user_id, 0), None, None, JOIN_RECENT)
        else:
            reading = self._history(
                chat.id, chat.joined_seqs.get(user_id, 0), None, request.since_seq, JOIN_RECOVERY_MAX
            )
        # the count after the messages: it may count more than they show, never less
        page = await reading
        views = await self.views(user_id, [chat])
        # a socket that closed while its join was in flight views nothing (nor enters the room)
        if sid is not None and sid in self.viewers.user_by_sid:
            first = self.viewers.join(chat.id, sid)
            await self.fanout.enter_chat_room(sid, chat.id)
            if first:
                await self.fanout.to_chat_viewers(
                    "user_joined_chat",
                    {"chatId": chat.id, "userId": user_id},
                    chat.id,
                    skip_sids=self.viewers.local_sids(user_id),
                )
        return JoinResult(views[0], page.messages, page.has_more, page.updates)

    async def leave_chat(self, user_id: str, chat_id: str, sid: str) -> None:
        await self._require_member(user_id, chat_id)
        await self.fanout.leave_chat_room(sid, chat_id)
        if self.viewers.leave(chat_id, sid):
            await self._announce_left(user_id, chat_id)

    async def _announce_left(self, user_id: str, chat_id: str) -> None:
        skip = self.viewers.local_sids(user_id)
        if self.viewers.set_typing(chat_id, user_id, False, self._clock()):
            await self.fanout.to_chat_viewers(
                "user_typing", {"chatId": chat_id, "userId": user_id, "isTyping": False}, chat_id, skip_sids=skip
            )
        await self.fanout.to_chat_viewers(
            "user_left_chat", {"chatId": chat_id, "userId": user_id}, chat_id, skip_sids=skip
        )

    async def set_typing(self, user_id: str, request: payloads.Typing) -> None:
        await self._limit(user_id, "typing")
        await self._require_member(user_id, request.chat_id)
        if self.viewers.set_typing(request.chat_id, user_id, request.is_typing, self._clock()):
            await self.fanout.to_chat_viewers(
                "user_typing",
                {"chatId": request.chat_id, "userId": user_id, "isTyping": request.is_typing},
                request.chat_id,
                skip_sids=self.viewers.local_sids(user_id),
            )

    # --- shaping ------------------------------------------------------------------------------
    def message_json(self, message: Message, viewer: str | None = None) -> wire.Json:
        """A message in its wire shape, its attachments with fresh signed URLs; `viewer`: the one
        user the answer is for (None for events every member gets)."""
        return wire.message(message, viewer, self._url_for)

    def page_json(self, page: MessagePage, viewer: str) -> wire.Json:
        return wire.page(page, viewer, self._url_for)

    def chat_json(self, view: ChatView, viewer: str) -> wire.Json:
        return wire.chat(view, viewer, self._url_for)

    @property
    def _url_for(self) -> wire.UrlFor | None:
        return self.uploads.url_for if self.uploads is not None else None

    # --- messages -----------------------------------------------------------------------------
    async def send_message(self, user_id: str, request: payloads.SendMessage, sid: str | None) -> AppendResult:
        """Store, then emit to every member's connections on every node. Sends to one chat
        overlap their store work; emits leave this node in seq order (send_order)."""
        await self._limit(user_id, "send")
        known = await self._require_member(user_id, request.chat_id)
        if known.blocked:
            raise Blocked("you cannot send to this chat: one of you blocks the other")
        reply_to = await self._reply_ref(known, user_id, request.reply_to) if request.reply_to else None
        attachments: tuple[Attachment, ...] = ()
        if request.attachment_ids:
            if self.uploads is None:
                raise Invalid("attachments are not enabled on this server")
            attachments = await self.uploads.for_message(user_id, request.chat_id, request.attachment_ids)
        ticket = self._send_order.begin(request.chat_id)
        key = (request.chat_id, user_id, request.client_message_id)
        try:
            try:
                result = await self.store.append_message(
                    request.chat_id,
                    user_id,
                    request.content,
                    request.client_message_id,
                    self._clock(),
                    on_seq=ticket.assign,
                    reply_to=reply_to,
                    attachments=attachments,
                )
            except Unavailable:
                if ticket.seq is not None:
                    self._remember_unsure_send(key)
                raise
            if result.created:
                ticket.assign(result.message.seq)
                await ticket.turn()
            unsure = self._unsure_sends.pop(key, False)
            if result.created or unsure:
                # a repeat of a send that failed after its seq was handed out may be the first
                # time that message is seen stored: it was never emitted, so it goes out now
                shaped = self.message_json(result.message)
                await self.fanout.notify_members(
                    MemberNotice("new_message", shaped, tuple(known.members), sid, version=known.version)
                )
                if self._offline_hook is not None and result.created:
                    self._offline_hook.notify(
                        shaped,
                        {
                            "id": known.id,
                            "type": known.type,
                            "title": known.title,
                            "topic": known.topic,
                            "members": sorted(known.members),
                        },
                        sorted(m for m in known.members if m != user_id),
                    )
        finally:
            ticket.finish()
        return result

    async def _reply_ref(self, known: KnownChat, user_id: str, message_id: str) -> ReplyRef:
        quoted = await self.store.get_message(known.id, message_id)
        if quoted is None or not known.can_see(user_id, quoted.seq):
            raise NotFound("replyTo message not found")
        if quoted.deleted:
            raise Invalid("cannot reply to a deleted message")
        snippet = quoted.content[:SNIPPET_CHARS]
        if not snippet and quoted.attachments:
            snippet = quoted.attachments[0].name[:SNIPPET_CHARS]
        return ReplyRef(quoted.id, quoted.sender_id, snippet)

    async def edit_message(self, user_id: str, request: payloads.EditMessage) -> ChangeResult:
        window = self._edit_window_ms
        change = MessageChange(
            "edit",
            user_id,
            content=request.content,
            created_after_ms=None if window is None else self._clock() - window,
        )
        return await self._change(request.chat_id, request.message_id, change)

    async def delete_message(self, user_id: str, request: payloads.MessageRef) -> ChangeResult:
        result = await self._change(request.chat_id, request.message_id, MessageChange("delete", user_id))
        gone = result.previous.attachments if result.changed and result.previous is not None else ()
        if gone and self.uploads is not None:
            self._spawn(self.uploads.delete_files(gone))
        return result

    async def react(self, user_id: str, request: payloads.React) -> ChangeResult:
        change = MessageChange("react" if request.add else "unreact", user_id, emoji=request.emoji)
        return await self._change(request.chat_id, request.message_id, change)

    async def _change(self, chat_id: str, message_id: str, change: MessageChange) -> ChangeResult:
        """Apply a change under a new seq of the chat, then tell every member's connections
        (message_updated), in seq order with the chat's messages sent through this node."""
        await self._limit(change.user_id, "change")
        known = await self._require_member(change.user_id, chat_id)
        if known.blocked and change.kind != "delete":
            raise Blocked("you cannot change messages in this chat: one of you blocks the other")
        if known.joined_seq(change.user_id):
            # a member whose history starts after their joining cannot touch an older message
            seen = await self.store.get_message(chat_id, message_id)
            if seen is None or not known.can_see(change.user_id, seen.seq):
                raise NotFound("message not found")
        tickets = [self._send_order.begin(chat_id)]

        def on_seq(seq: int) -> None:
            # a change that lost a race takes a newer seq: its place in the order moves with it
            ticket: Ticket = tickets[-1]
            if ticket.seq is not None and ticket.seq != seq:
                ticket.finish()
                ticket = self._send_order.begin(chat_id)
                tickets.append(ticket)
            ticket.assign(seq)

        try:
            result = await self.store.change_message(chat_id, message_id, change, self._clock(), on_seq=on_seq)
            if result.changed:
                on_seq(result.message.change_seq)
                await tickets[-1].turn()
                shown: dict[str, object] = {"type": "react" if change.kind == "unreact" else change.kind}
                shown["userId"] = change.user_id
                if change.emoji is not None:
                    shown.update(emoji=change.emoji, add=change.kind == "react")
                seq = result.message.seq
                await self.fanout.notify_members(
                    MemberNotice(
                        "message_updated",
                        {
                            "chatId": chat_id,
                            "seq": result.message.change_seq,
                            "message": self.message_json(result.message),
                            "change": shown,
                        },
                        tuple(m for m in known.members if known.can_see(m, seq)),
                        version=known.version,
                    )
                )
        finally:
            for ticket in tickets:
                ticket.finish()
        return result

    async def request_upload(self, user_id: str, request: payloads.RequestUpload) -> UploadOffer:
        await self._limit(user_id, "upload")
        if (await self._require_member(user_id, request.chat_id)).blocked:
            raise Blocked("you cannot send to this chat: one of you blocks the other")
        if self.uploads is None:
            raise Invalid("attachments are not enabled on this server")
        return await self.uploads.offer(user_id, request)

    def _remember_unsure_send(self, key: tuple[str, str, str]) -> None:
        """A send failed after its seq was handed out: its write may have landed (an answer lost
        on the way back). Its retry through this node then emits the stored message."""
        self._unsure_sends[key] = True
        if len(self._unsure_sends) > UNSURE_SENDS_KEPT:
            self._unsure_sends.popitem(last=False)

    def on_member_notice(self, notice: MemberNotice) -> None:
        """A member notice reached this node (from any node): deliver it to this node's sockets
        of the members (those still members in the newest version of the chat this node knows)
        and move the unread counts held for them; a chat_updated one also replaces what this
        node keeps of the chat."""
        data = notice.data
        if notice.event == "chat_updated":
            self._chat_changed(notice)
            return
        members = self._chats.recipients(data["chatId"], notice.members, notice.version)
        self.fanout.to_local_users(notice.event, data, members, skip_sid=notice.skip_sid)
        here = self.viewers.sids_by_user
        if notice.event == "new_message":
            sender_id = data["senderId"]
            recipients = [m for m in members if m in here and m != sender_id]
            if recipients:
                self.unread.message(data["chatId"], data["seq"], sender_id, recipients)
        elif notice.event == "messages_read":
            reader = data["userId"]
            if reader in here:
                self.unread.read(reader, data["chatId"], data["readSeq"])

    def forget_notices(self) -> None:
        """Notices may have been missed (the pub/sub link dropped): what was built from them
        (unread counts, the chats kept) is read from the store again when next needed."""
        self.unread.clear()
        self._chats.clear()

    def _chat_changed(self, notice: MemberNotice) -> None:
        """A chat's members, admins, title or blocks changed (on any node): keep its new state,
        tell this node's sockets of the members, and cut the removed ones off at once: out of
        the chat's room and viewers, their unread count for it gone, `removed_from_chat`."""
        data = notice.data
        shown = data["chat"]
        chat_id = shown["id"]
        newest = self._chats.learn(KnownChat.from_notice(data, notice.version))
        if newest.version == notice.version:  # else a newer change reached this node first
            last = shown.get("lastMessage")
            event = {"chat": shown, "change": data["change"]}
            hidden = [u for u in shown["members"] if last is not None and not newest.can_see(u, last["seq"])]
            told = [u for u in shown["members"] if u not in hidden]
            if told:
                self.fanout.to_local_users("chat_updated", event, told)
            if hidden:
                self.fanout.to_local_users("chat_updated", {**event, "chat": {**shown, "lastMessage": None}}, hidden)
        removed = [u for u in data.get("removed", ()) if u not in newest.members]
        if removed:
            self.fanout.to_local_users("removed_from_chat", {"chatId": chat_id}, removed)
        for user_id in removed:
            if self.unread.drop_chat(user_id, chat_id):
                self._unread_changed(chat_id, [user_id])
            if user_id in self.viewers.sids_by_user:
                self._spawn(self._leave_room(user_id, chat_id))

    async def _leave_room(self, user_id: str, chat_id: str) -> None:
        """A removed member's sockets here stop viewing the chat (typing, joins)."""
        for sid in list(self.viewers.local_sids(user_id)):
            if self.viewers.leave(chat_id, sid):
                await self._announce_left(user_id, chat_id)
            await self.fanout.leave_chat_room(sid, chat_id)

    def _unread_changed(self, chat_id: str, users: list[str]) -> None:
        due = self._unread_due.get(chat_id)
        if due is None:
            self._unread_due[chat_id] = set(users)
        else:
            due.update(users)
        if not self._unread_flush_scheduled:
            self._unread_flush_scheduled = True
            self._spawn(self._flush_unread())

    async def _flush_unread(self) -> None:
        """unread_count for every count that changed since the last flush, with its value now."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(max(0.0, self._unread_flushed_at + UNREAD_EVENT_INTERVAL_S - loop.time()))
        finally:
            self._unread_flush_scheduled = False
            self._unread_flushed_at = loop.time()
        due, self._unread_due = self._unread_due, {}
        for chat_id, users in due.items():
            for user_id in users:
                counts = self.unread.loaded(user_id)
                if counts is None:
                    continue  # gone from this node, or loading again (that load reports its counts)
                found = counts.chats.get(chat_id)
                self.fanout.to_local_users(
                    "unread_count",
                    {"chatId": chat_id, "unreadCount": found.count if found else 0, "totalUnread": counts.total},
                    [user_id],
                )

    async def get_messages(self, user_id: str, request: payloads.GetMessages) -> MessagePage:
        await self._limit(user_id, "query")
        known = await self._require_member(user_id, request.chat_id)
        return await self._history(
            request.chat_id, known.joined_seq(user_id), request.before_seq, request.after_seq, request.limit
        )

    async def _history(
        self, chat_id: str, joined_seq: int, before_seq: int | None, after_seq: int | None, limit: int
    ) -> MessagePage:
        """A page of the chat's history as the user may see it: nothing at or below the seq
        their membership started after (a member added with history from their joining)."""
        if joined_seq and after_seq is not None and after_seq < joined_seq:
            after_seq = joined_seq
        if joined_seq and before_seq is not None and before_seq <= joined_seq + 1:
            return MessagePage((), False)
        page = await self.store.list_messages(chat_id, before_seq=before_seq, after_seq=after_seq, limit=limit)
        if not joined_seq:
            return page
        messages = tuple(m for m in page.messages if m.seq > joined_seq)
        updates = tuple(m for m in page.updates if m.seq > joined_seq)
        has_more = page.has_more and (after_seq is not None or len(messages) == len(page.messages))
        return MessagePage(messages, has_more, updates)

    async def mark_read(self, user_id: str, request: payloads.MarkRead) -> ReadResult:
        await self._limit(user_id, "query")
        chat = await self._member_chat(user_id, request.chat_id)
        return await self._mark(user_id, chat, request.up_to_seq)

    async def _mark(self, user_id: str, chat: Chat, up_to_seq: int | None) -> ReadResult:
        previous = chat.read_seqs.get(user_id, 0)
        target = chat.last_seq if up_to_seq is None else min(up_to_seq, chat.last_seq)
        read_seq = await self.store.mark_read(chat.id, user_id, target)
        if read_seq > previous:
            await self.fanout.notify_members(
                MemberNotice(
                    "messages_read",
                    {"chatId": chat.id, "userId": user_id, "readSeq": read_seq},
                    chat.members,
                    version=chat.version,
                )
            )
        view = (await self.views(user_id, [chat]))[0]
        return ReadResult(chat.id, read_seq, view.unread_count)

    async def contacts_presence(self, user_id: str) -> list[Presence]:
        """Presence of everyone who shares a chat with the user, in id order (the original
        client's `get_active_users` without a chatId)."""
        await self._limit(user_id, "query")
        return await self._presence_in_id_order(user_id, await self.store.contacts(user_id))

    async def active_users(self, user_id: str, chat_id: str) -> list[Presence]:
        await self._limit(user_id, "query")
        return await self._presence_in_id_order(user_id, (await self._require_member(user_id, chat_id)).members)

    async def _presence_in_id_order(self, viewer: str, user_ids: Collection[str]) -> list[Presence]:
        """Presence of the users as the viewer may see it: one of a blocked pair shows the
        other offline, never seen."""
        ordered = sorted(user_ids)
        found, blocks = await asyncio.gather(self.store.presence(ordered), self.store.blocks(viewer))
        return [Presence(u, False, None) if blocks.between(u) else found[u] for u in ordered]

    # --- connections and presence -------------------------------------------------------------
    async def connect(self, user_id: str, sid: str) -> None:
        if self._max_connections is not None and len(self.viewers.local_sids(user_id)) >= self._max_connections:
            raise RateLimited(f"at most {self._max_connections} connections per user")
        self.viewers.add_socket(user_id, sid)
        check = self._offline_checks.pop(user_id, None)
        if check is not None:
            check.cancel()
        ref = ConnectionRef(user_id, sid, self.node_id)
        try:
            became_online = await self.store.open_connection(ref, self._clock())
        except BaseException:
            self.viewers.remove_socket(sid)
            # its writes may have landed before the failure (an answer lost on the way back):
            # undone in the background, or the user would stay online with no connection
            self._spawn(self._close_record(ref))
            raise
        if became_online:
            # the connection is open and counted: an announcement that fails now must not refuse
            # it (the client would go, its record would stay, and the user be online for good)
            await self._surely(partial(self._announce_presence, user_id, "user_online", {"userId": user_id}))

    async def _close_record(self, ref: ConnectionRef) -> None:
        """Close the record of a connection whose opening or closing failed (idempotent, retried
        while the store is unavailable), then settle the user offline after the grace period if
        nothing of theirs is left here."""

        async def close() -> None:
            remaining = await self.store.close_connection(ref, self._clock())
            if remaining == 0 and ref.user_id not in self.viewers.sids_by_user:
                self._schedule_offline_check(ref.user_id)

        if not await self._retrying(close, pause_first=False):
            log.error("a failed connection's record could not be closed", extra={"sid": ref.connection_id})

    @staticmethod
    async def _retrying(work: Callable[[], Awaitable[None]], *, pause_first: bool) -> bool:
        """Do `work` until the store answers: UNDO_ATTEMPTS tries, backing off from
        UNDO_RETRY_FIRST_S to UNDO_RETRY_MAX_S (a pause before the first too, when a try was
        just made). False when every try found the store unavailable."""
        pause = UNDO_RETRY_FIRST_S
        for attempt in range(UNDO_ATTEMPTS):
            if pause_first or attempt > 0:
                await asyncio.sleep(pause)
                pause = min(pause * 2, UNDO_RETRY_MAX_S)
            try:
                await work()
            except Unavailable:
                continue
            return True
        return False

    async def disconnect(self, user_id: str, sid: str) -> None:
        # leave the viewed chats before forgetting the socket: ViewerRegistry.remove_socket drops
        # the sid's user first, after which its own leave() never reports a last viewer
        left = [c for c in list(self.viewers.chats_by_sid.get(sid, ())) if self.viewers.leave(c, sid)]
        self.viewers.remove_socket(sid)
        if user_id not in self.viewers.sids_by_user:
            self.unread.forget(user_id)
        for chat_id in left:
            await self._announce_left(user_id, chat_id)
        ref = ConnectionRef(user_id, sid, self.node_id)
        try:
            remaining = await self.store.close_connection(ref, self._clock())
        except Unavailable:
            # the record must go, or the user stays online for good: closed in the background
            self._spawn(self._close_record(ref))
            raise
        if remaining == 0 and user_id not in self.viewers.sids_by_user:
            self._schedule_offline_check(user_id)

    def _schedule_offline_check(self, user_id: str) -> None:
        async def check() -> None:
            await asyncio.sleep(self._grace_ms / 1000)
            self._offline_checks.pop(user_id, None)
            await self.settle_offline(user_id)

        previous = self._offline_checks.pop(user_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(check())
        self._offline_checks[user_id] = task
        self._background.add(task)
        task.add_done_callback(self._finished)

    async def settle_offline(self, user_id: str) -> bool:
        """Announce the user offline if no connection is left anywhere (one announcer per transition)."""
        if not await self.store.settle_offline(user_id, self._clock()):
            return False
        await self._surely(partial(self._announce_offline, user_id))
        return True

    async def _announce_offline(self, user_id: str) -> None:
        seen = (await self.store.presence([user_id]))[user_id]
        last_seen = wire.presence(seen)["lastSeen"]
        await self._announce_presence(user_id, "user_offline", {"userId": user_id, "lastSeen": last_seen})

    async def _surely(self, announce: Callable[[], Awaitable[None]]) -> None:
        """Announce a presence transition now; when the store does not answer (reading the
        contacts), try again in the background, backing off, instead of failing the caller: the
        transition has happened in the store and is announced by this caller only."""
        try:
            await announce()
        except Unavailable:
            self._spawn(self._announce_retrying(announce))

    async def _announce_retrying(self, announce: Callable[[], Awaitable[None]]) -> None:
        if not await self._retrying(announce, pause_first=True):
            log.error("a presence change could not be announced")

    async def _announce_presence(self, user_id: str, event: str, data: dict[str, object]) -> None:
        """To everyone who shares a chat with the user, except those of a blocked pair with them."""
        contacts, blocks = await asyncio.gather(self.store.contacts(user_id), self.store.blocks(user_id))
        told = [c for c in contacts if not blocks.between(c)]
        if told:
            await self.fanout.to_users(event, data, told)

    async def close_local_connections(self, sids_by_user: dict[str, list[str]]) -> list[str]:
        """Drop this node's connection records (drain); return users left with no connection."""
        now = self._clock()
        idle = []
        for user_id, sids in sids_by_user.items():
            remaining = -1
            for sid in sids:
                remaining = await self.store.close_connection(ConnectionRef(user_id, sid, self.node_id), now)
            if remaining == 0:
                idle.append(user_id)
        return idle

    async def wait_offline_checks(self) -> None:
        checks = list(self._offline_checks.values())
        if checks:
            await asyncio.gather(*checks, return_exceptions=True)

    # --- this node's own records ---------------------------------------------------------------
    async def take_over_node_id(self) -> list[ConnectionRef]:
        """At start, before any socket: the connection records an earlier process with this node
        id left behind (it was killed, and a restart with the same id comes back before any
        reaper would have seen its heartbeat go stale); then the heartbeat starts. The node
        closes them with close_leftovers while it already serves: none of them is one of its
        new sockets."""
        leftovers = await self.store.node_connections(self.node_id, TAKE_OVER_MAX)
        await self.store.touch_node(self.node_id, self._clock())
        return leftovers

    async def close_leftovers(self, refs: Sequence[ConnectionRef]) -> CleanupReport:
        report = CleanupReport()
        await self._close_dead_connections(refs, report)
        return report

    async def _close_dead_connections(self, refs: Sequence[ConnectionRef], report: CleanupReport) -> None:
        for ref in refs:
            # the process that held them is dead: no grace period is owed to their users
            if await self.store.close_connection(ref, self._clock()) == 0 and await self.settle_offline(ref.user_id):
                report.users_offline += 1
            report.connections_reaped += 1

    async def heartbeat(self) -> int:
        """Refresh this node's heartbeat. A node that finds it was declared dead (a reaper on
        another node saw its heartbeat go stale: a long pause, a slow store) has had its
        connection records closed: it opens them again. Returns how many it opened."""
        async with self._heartbeat_lock:
            if not await self.store.touch_node(self.node_id, self._clock()):
                self._registration_lost = True
            if not self._registration_lost:
                return 0
            # until every connection is registered again (a failure here is retried next beat)
            opened = 0
            for user_id, sids in list(self.viewers.sids_by_user.items()):
                for sid in list(sids):
                    ref = ConnectionRef(user_id, sid, self.node_id)
                    became_online = await self.store.open_connection(ref, self._clock())
                    if sid not in self.viewers.user_by_sid:  # closed meanwhile: close it again
                        await self.store.close_connection(ref, self._clock())
                        continue
                    opened += 1
                    if became_online:
                        await self._surely(
                            partial(self._announce_presence, user_id, "user_online", {"userId": user_id})
                        )
            self._registration_lost = False
        if opened:
            log.warning("this node was declared dead; its connections are registered again", extra={"count": opened})
        return opened

    async def _reap_node(self, node_id: str, report: CleanupReport, out_of_time: Callable[[], bool]) -> bool:
        """Close every connection record of a dead node and forget it; False when time ran out first."""
        while not out_of_time():
            refs = await self.store.node_connections(node_id, REAP_BATCH)
            await self._close_dead_connections(refs, report)
            if len(refs) < REAP_BATCH:
                await self.store.forget_node(node_id)
                report.nodes_reaped += 1
                return True
        return False

    # --- cleanup ------------------------------------------------------------------------------
    async def cleanup(self, deadline_ms: int | None = None, *, local: bool = True) -> CleanupReport:
        """The periodic job: heartbeat, drop idle node state, reap dead nodes, settle offline users.

        Idempotent; stops early (report.complete False) when the deadline is near, so a scheduled
        run continues where it left off next time.
        """
        report = CleanupReport()
        now = self._clock()
        if local:
            await self.heartbeat()
            for chat_id, user_id in self.viewers.expired_typing(now):
                report.typing_expired += 1
                await self.fanout.to_chat_viewers(
                    "user_typing", {"chatId": chat_id, "userId": user_id, "isTyping": False}, chat_id
                )
            report.idle_state_dropped = self.viewers.prune() + self.unread.prune()
            if self._limiter is not None:
                report.idle_state_dropped += self._limiter.prune()

        def out_of_time() -> bool:
            return deadline_ms is not None and self._clock() >= deadline_ms

        for node_id in await self.store.stale_nodes(now - self._ttl_ms):
            if node_id == self.node_id:
                continue
            if not await self._reap_node(node_id, report, out_of_time):
                report.complete = False
                return report

        idle = await self.store.idle_online_users(REAP_BATCH)
        if idle:
            settled_before = self._clock() - self._grace_ms
            for presence in (await self.store.presence(idle)).values():
                if out_of_time():
                    report.complete = False
                    break
                if presence.last_seen_ms is not None and presence.last_seen_ms > settled_before:
                    continue  # still inside its grace period
                if presence.user_id in self._offline_checks:
                    continue  # this node's own timer will settle it
                if await self.settle_offline(presence.user_id):
                    report.users_offline += 1
        if self.uploads is not None and now - self._uploads_swept_at >= UPLOAD_SWEEP_INTERVAL_MS and not out_of_time():
            self._uploads_swept_at = now
            report.stale_uploads_removed = await self.uploads.remove_stale()
        return report

    # --- background tasks ---------------------------------------------------------------------
    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("background task failed")

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def wait_background(self) -> None:
        """Until no background work is left (work that starts more work is waited for too);
        offline checks are waited for by wait_offline_checks."""
        while pending := [t for t in self._background if t not in self._offline_checks.values()]:
            await asyncio.gather(*pending, return_exceptions=True)
