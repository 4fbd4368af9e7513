"""The chat's Socket.IO namespace on our engine: parse, call the service, shape the ack. No
business rules here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .. import payloads, wire
from ..auth import Identity, TokenVerifier
from ..clock import iso_ms, now_ms
from ..engine import ConnectRefused, Namespace, Socket
from ..errors import ChatError, Internal, Invalid, Unauthorized, Unavailable
from ..ids import ulid
from ..metrics import NodeMetrics
from ..models import Chat
from ..service import ChatService
from .fanout import user_room

log = logging.getLogger("chat.realtime")

PROTOCOL_VERSION = 1.1
"""`connected.protocol`: PROTOCOL.md 1.1, every part of it (a number, as v1's `1` was)."""

Result = tuple[dict[str, Any], str | None]
Handler = Callable[[Socket, Identity, object], Awaitable[Result]]


class ChatNamespace(Namespace):
    #: a JSON-only protocol: a client that sends binary packets is dropped
    accepts_binary = False

    def __init__(self, service: ChatService, verifier: TokenVerifier, metrics: NodeMetrics | None = None) -> None:
        super().__init__("/")
        self._service = service
        self._verifier = verifier
        self._metrics = metrics or NodeMetrics()
        self.in_flight = 0
        self.draining = False
        self._expiry_timers: dict[str, asyncio.TimerHandle] = {}
        self._events: dict[str, Handler] = {
            "join_chat": self._join_chat,
            "leave_chat": self._leave_chat,
            "send_message": self._send_message,
            "mark_messages_read": self._mark_read,
            "get_active_users": self._get_active_users,
            "get_chat_info": self._get_chat_info,
            "get_messages": self._get_messages,
            "edit_message": self._edit_message,
            "delete_message": self._delete_message,
            "react": self._react,
            "request_upload": self._request_upload,
            "list_chats": self._list_chats,
            "add_members": self._add_members,
            "remove_member": self._remove_member,
            "update_chat": self._update_chat,
            "block_user": self._block_user,
            "unblock_user": self._unblock_user,
            "get_blocked": self._get_blocked,
            "typing": self._typing,
            "ping": self._ping,
            "auth_refresh": self._auth_refresh,
        }

    def identities(self) -> dict[str, Identity]:
        """This node's connected sockets and whose they are."""
        return {sid: socket.data for sid, socket in self.sockets.items()}

    # --- lifecycle ----------------------------------------------------------------------------
    async def on_connect(self, socket: Socket, auth: Any) -> None:
        if self.draining:
            error = Unavailable("server is shutting down; reconnect to another node")
            raise ConnectRefused(error.message, error.to_wire())
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            identity = await self._verifier.verify(token)
        except Unauthorized as refused:
            log.info("connection refused", extra={"sid": socket.sid, "reason": refused.message})
            raise ConnectRefused(refused.message, refused.to_wire()) from None
        try:
            await self._service.connect(identity.user_id, socket.sid)
        except ChatError as failure:
            raise ConnectRefused(failure.message, failure.to_wire()) from None
        socket.data = identity
        self._metrics.connections.inc()

    def on_connected(self, socket: Socket) -> None:
        identity: Identity = socket.data
        socket.join(user_room(identity.user_id))
        self._watch_expiry(socket, identity)
        log.info("connected", extra={"sid": socket.sid, "user_id": identity.user_id})
        socket.emit(
            "connected",
            {
                "userId": identity.user_id,
                "connectionId": socket.sid,
                "serverTime": iso_ms(now_ms()),
                "protocol": PROTOCOL_VERSION,
            },
        )

    def on_disconnect(self, socket: Socket, reason: str) -> Awaitable[None] | None:
        identity: Identity | None = socket.data
        if identity is None:
            return None
        self._metrics.connections.dec()
        timer = self._expiry_timers.pop(socket.sid, None)
        if timer is not None:
            timer.cancel()
        log.info("disconnected", extra={"sid": socket.sid, "user_id": identity.user_id, "reason": reason})
        return self._disconnected(socket.sid, identity)

    async def _disconnected(self, sid: str, identity: Identity) -> None:
        try:
            await self._service.disconnect(identity.user_id, sid)
        except ChatError as failure:
            log.warning("disconnect bookkeeping failed", extra={"sid": sid, "error": failure.code})

    # --- events -------------------------------------------------------------------------------
    def on_event(self, socket: Socket, event: str, args: list[Any], ack_id: int | None) -> Awaitable[None]:
        return self._dispatch(socket, event, args[0] if args else None, ack_id)

    async def _dispatch(self, socket: Socket, event: str, payload: object, ack_id: int | None) -> None:
        self.in_flight += 1
        try:
            identity: Identity = socket.data
            handler = self._events.get(event)
            if handler is None:
                raise Invalid("unknown event")
            fields, compat_event = await handler(socket, identity, payload)
            if compat_event is not None:
                socket.emit(compat_event, fields)
            self._metrics.events_in.labels(event, "ok").inc()
            if ack_id is not None:
                socket.ack(ack_id, {"ok": True, **fields})
            return
        except ChatError as failure:
            error = failure
        except Exception:
            log.exception("event handler failed", extra={"sid": socket.sid, "event": event[:64]})
            error = Internal()
        finally:
            self.in_flight -= 1
        self._metrics.events_in.labels(event if event in self._events else "unknown", error.code).inc()
        if ack_id is not None:
            socket.ack(ack_id, {"ok": False, "error": error.to_wire()})
        else:
            socket.emit("chat_error", {"event": event[:64], "code": error.code, "message": error.message})

    async def _join_chat(self, socket: Socket, who: Identity, data: object) -> Result:
        service = self._service
        result = await service.join_chat(who.user_id, payloads.join_chat(data), socket.sid)
        return {
            "chat": service.chat_json(result.view, who.user_id),
            "messages": [service.message_json(m, who.user_id) for m in result.messages],
            "updates": [service.message_json(m, who.user_id) for m in result.updates],
            "hasMore": result.has_more,
        }, None

    async def _leave_chat(self, socket: Socket, who: Identity, data: object) -> Result:
        chat_id, leave_group = payloads.leave_chat(data)
        if leave_group:
            await self._service.leave_group(who.user_id, chat_id)
        else:
            await self._service.leave_chat(who.user_id, chat_id, socket.sid)
        return {}, None

    async def _list_chats(self, socket: Socket, who: Identity, data: object) -> Result:
        request = payloads.list_chats(data)
        page = await self._service.list_chats(who.user_id, request.limit, request.cursor)
        chats = [self._service.chat_json(view, who.user_id) for view in page.chats]
        return {"chats": chats, "nextCursor": page.next_cursor}, None

    async def _chat_answer(self, who: Identity, chat: Chat) -> Result:
        view = (await self._service.views(who.user_id, [chat]))[0]
        return {"chat": self._service.chat_json(view, who.user_id)}, None

    async def _add_members(self, socket: Socket, who: Identity, data: object) -> Result:
        return await self._chat_answer(who, await self._service.add_members(who.user_id, payloads.add_members(data)))

    async def _remove_member(self, socket: Socket, who: Identity, data: object) -> Result:
        request = payloads.member_ref(data)
        chat = await self._service.remove_member(who.user_id, request)
        if request.user_id == who.user_id:
            return {}, None
        return await self._chat_answer(who, chat)

    async def _update_chat(self, socket: Socket, who: Identity, data: object) -> Result:
        return await self._chat_answer(who, await self._service.update_chat(who.user_id, payloads.update_chat(data)))

    async def _block_user(self, socket: Socket, who: Identity, data: object) -> Result:
        await self._service.block_user(who.user_id, payloads.user_ref(data), blocking=True)
        return {}, None

    async def _unblock_user(self, socket: Socket, who: Identity, data: object) -> Result:
        await self._service.block_user(who.user_id, payloads.user_ref(data), blocking=False)
        return {}, None

    async def _get_blocked(self, socket: Socket, who: Identity, data: object) -> Result:
        return {"userIds": await self._service.blocked_users(who.user_id)}, None

    async def _send_message(self, socket: Socket, who: Identity, data: object) -> Result:
        request = payloads.send_message(data, assign_missing_id=lambda: "server-" + ulid())
        result = await self._service.send_message(who.user_id, request, socket.sid)
        message = self._service.message_json(result.message, who.user_id)
        socket.emit("message_sent", {"clientMessageId": request.client_message_id, "message": message})
        if result.created:
            self._metrics.messages_in.inc()
        return {"message": message}, None

    async def _mark_read(self, socket: Socket, who: Identity, data: object) -> Result:
        result = await self._service.mark_read(who.user_id, payloads.mark_read(data))
        return {"chatId": result.chat_id, "readSeq": result.read_seq, "unreadCount": result.unread_count}, None

    async def _get_active_users(self, socket: Socket, who: Identity, data: object) -> Result:
        chat_id = payloads.optional_chat_ref(data)
        if chat_id is None:  # the original client: everyone who shares a chat with the caller
            contacts = await self._service.contacts_presence(who.user_id)
            return {"users": [wire.presence(p) for p in contacts]}, "active_users"
        users = await self._service.active_users(who.user_id, chat_id)
        return {"chatId": chat_id, "users": [wire.presence(p) for p in users]}, "active_users"

    async def _get_chat_info(self, socket: Socket, who: Identity, data: object) -> Result:
        chat = await self._service.get_chat(who.user_id, payloads.chat_ref(data))
        return {"chat": self._service.chat_json(chat, who.user_id)}, "chat_info"

    async def _get_messages(self, socket: Socket, who: Identity, data: object) -> Result:
        page = await self._service.get_messages(who.user_id, payloads.get_messages(data))
        return self._service.page_json(page, who.user_id), None

    async def _edit_message(self, socket: Socket, who: Identity, data: object) -> Result:
        result = await self._service.edit_message(who.user_id, payloads.edit_message(data))
        return {"message": self._service.message_json(result.message, who.user_id)}, None

    async def _delete_message(self, socket: Socket, who: Identity, data: object) -> Result:
        result = await self._service.delete_message(who.user_id, payloads.message_ref(data))
        return {"message": self._service.message_json(result.message, who.user_id)}, None

    async def _react(self, socket: Socket, who: Identity, data: object) -> Result:
        result = await self._service.react(who.user_id, payloads.react(data))
        return {"message": self._service.message_json(result.message, who.user_id)}, None

    async def _request_upload(self, socket: Socket, who: Identity, data: object) -> Result:
        offer = await self._service.request_upload(who.user_id, payloads.request_upload(data))
        return wire.upload_offer(offer.attachment.id, offer.slot), None

    async def _typing(self, socket: Socket, who: Identity, data: object) -> Result:
        await self._service.set_typing(who.user_id, payloads.typing(data))
        return {}, None

    async def _auth_refresh(self, socket: Socket, who: Identity, data: object) -> Result:
        token = data.get("token") if isinstance(data, dict) else None
        fresh = await self._verifier.verify(token)
        if fresh.user_id != who.user_id:
            raise Unauthorized("the new token is for another user")
        socket.data = fresh
        self._watch_expiry(socket, fresh)
        return {"expiresAt": iso_ms(int(fresh.expires_at * 1000))}, None

    async def _ping(self, socket: Socket, who: Identity, data: object) -> Result:
        return {"serverTime": iso_ms(now_ms()), "t": payloads.ping(data)}, "pong"

    def _watch_expiry(self, socket: Socket, identity: Identity) -> None:
        """Disconnect the socket when its token expires, unless auth_refresh came first."""
        previous = self._expiry_timers.pop(socket.sid, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, identity.expires_at - time.time())
        self._expiry_timers[socket.sid] = loop.call_later(delay, self._expire, socket)

    def _expire(self, socket: Socket) -> None:
        self._expiry_timers.pop(socket.sid, None)
        if not socket.connected:
            return
        socket.emit("chat_error", {"event": "auth", "code": "UNAUTHORIZED", "message": "token expired"})
        socket.disconnect()
