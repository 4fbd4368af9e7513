"""The Socket.IO event namespace: parse, call the service, shape the ack. No business rules here."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
import socketio

from .. import payloads, wire
from ..auth import Identity, TokenVerifier
from ..clock import iso_ms, now_ms
from ..errors import ChatError, Internal, Invalid, Unauthorized, Unavailable
from ..metrics import NodeMetrics
from ..service import ChatService
from .fanout import user_room

log = logging.getLogger("chat.realtime")

PROTOCOL_VERSION = 1

ACK_REQUESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("ack_requested", default=True)

Result = tuple[dict[str, Any], str | None]
Handler = Callable[[str, Identity, object], Awaitable[Result]]


class BoundedEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """Drops a slow consumer (a client that does not read) instead of queueing for it forever:
    once a socket's outgoing queue holds `max_queue` packets, its transport is closed."""

    max_queue = 1000

    async def send_packet(self, sid: str, pkt: Any) -> None:
        socket = self.sockets.get(sid)
        if socket is None or socket.closed:
            return
        if socket.queue.qsize() >= self.max_queue:
            log.warning("dropping a slow consumer", extra={"eio_sid": sid, "queued": socket.queue.qsize()})
            await socket.close(wait=False, abort=True)
            return
        await socket.send(pkt)


class ChatSocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """Records whether the client asked for an ack, which python-socketio does not expose, and
    bounds every socket's outgoing queue."""

    def _engineio_server_class(self) -> type[BoundedEngineServer]:
        return BoundedEngineServer

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: Any, namespace: str, id: int | None
    ) -> None:
        ACK_REQUESTED.set(id is not None)  # each event runs in its own task: the value stays local
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


class ChatNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, service: ChatService, verifier: TokenVerifier, metrics: NodeMetrics | None = None) -> None:
        super().__init__("/")
        self._service = service
        self._verifier = verifier
        self._metrics = metrics or NodeMetrics()
        self.identities: dict[str, Identity] = {}
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
            "typing": self._typing,
            "ping": self._ping,
            "auth_refresh": self._auth_refresh,
        }
        self._compat_events = {
            "get_active_users": "active_users",
            "get_chat_info": "chat_info",
            "ping": "pong",
        }

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            return await self._connect(args[0], args[2] if len(args) > 2 else None)
        if event == "disconnect":
            return await self._disconnect(args[0])
        sid = args[0]
        payload = args[1] if len(args) > 1 else None
        return await self._dispatch(event, sid, payload)

    # --- lifecycle ----------------------------------------------------------------------------
    async def _connect(self, sid: str, auth: object) -> bool:
        if self.draining:
            error = Unavailable("server is shutting down; reconnect to another node")
            raise socketio.exceptions.ConnectionRefusedError(error.message, error.to_wire())
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            identity = await self._verifier.verify(token)
        except Unauthorized as refused:
            log.info("connection refused", extra={"sid": sid, "reason": refused.message})
            raise socketio.exceptions.ConnectionRefusedError(refused.message, refused.to_wire()) from None
        self.identities[sid] = identity
        await self.enter_room(sid, user_room(identity.user_id))
        try:
            await self._service.connect(identity.user_id, sid)
        except ChatError as failure:
            self.identities.pop(sid, None)
            raise socketio.exceptions.ConnectionRefusedError(failure.message, failure.to_wire()) from None
        self._metrics.connections.inc()
        self._watch_expiry(sid, identity)
        log.info("connected", extra={"sid": sid, "user_id": identity.user_id})
        # the CONNECT packet is queued when this handler returns; `connected` must follow it
        asyncio.get_running_loop().call_soon(self._greet, sid, identity.user_id)
        return True

    def _greet(self, sid: str, user_id: str) -> None:
        data = {
            "userId": user_id,
            "connectionId": sid,
            "serverTime": iso_ms(now_ms()),
            "protocol": PROTOCOL_VERSION,
        }
        task = asyncio.ensure_future(self._emit_local("connected", data, sid))
        task.add_done_callback(_log_failure)

    async def _emit_local(self, event: str, data: object, sid: str) -> None:
        """To a socket of this node: no need to publish it to the other nodes."""
        await self.server.emit(event, data, to=sid, namespace="/", ignore_queue=True)

    async def _disconnect(self, sid: str) -> None:
        identity = self.identities.pop(sid, None)
        if identity is None:
            return
        self._metrics.connections.dec()
        timer = self._expiry_timers.pop(sid, None)
        if timer is not None:
            timer.cancel()
        log.info("disconnected", extra={"sid": sid, "user_id": identity.user_id})
        try:
            await self._service.disconnect(identity.user_id, sid)
        except ChatError as failure:
            log.warning("disconnect bookkeeping failed", extra={"sid": sid, "error": failure.code})

    # --- events -------------------------------------------------------------------------------
    async def _dispatch(self, event: str, sid: str, payload: object) -> dict[str, Any]:
        ack_requested = ACK_REQUESTED.get()
        self.in_flight += 1
        try:
            identity = self.identities.get(sid)
            if identity is None:
                raise Unauthorized("not connected")
            handler = self._events.get(event)
            if handler is None:
                raise Invalid("unknown event")
            fields, compat_event = await handler(sid, identity, payload)
            if compat_event is not None:
                await self._emit_local(compat_event, fields, sid)
            self._metrics.events_in.labels(event, "ok").inc()
            return {"ok": True, **fields}
        except ChatError as failure:
            error = failure
        except Exception:
            log.exception("event handler failed", extra={"sid": sid, "event": event[:64]})
            error = Internal()
        finally:
            self.in_flight -= 1
        self._metrics.events_in.labels(event if event in self._events else "unknown", error.code).inc()
        if not ack_requested:
            await self._emit_local(
                "chat_error", {"event": str(event)[:64], "code": error.code, "message": error.message}, sid
            )
        return {"ok": False, "error": error.to_wire()}

    async def _join_chat(self, sid: str, who: Identity, data: object) -> Result:
        result = await self._service.join_chat(who.user_id, payloads.join_chat(data), sid)
        return {
            "chat": wire.chat(result.chat, who.user_id),
            "messages": [wire.message(m) for m in result.messages],
            "hasMore": result.has_more,
        }, None

    async def _leave_chat(self, sid: str, who: Identity, data: object) -> Result:
        await self._service.leave_chat(who.user_id, payloads.chat_ref(data), sid)
        return {}, None

    async def _send_message(self, sid: str, who: Identity, data: object) -> Result:
        request = payloads.send_message(data)
        result = await self._service.send_message(who.user_id, request, sid)
        message = wire.message(result.message)
        await self._emit_local(
            "message_sent", {"clientMessageId": request.client_message_id, "message": message}, sid
        )
        if result.created:
            self._metrics.messages_in.inc()
        return {"message": message}, None

    async def _mark_read(self, sid: str, who: Identity, data: object) -> Result:
        result = await self._service.mark_read(who.user_id, payloads.mark_read(data))
        return {"chatId": result.chat_id, "readSeq": result.read_seq, "unreadCount": result.unread_count}, None

    async def _get_active_users(self, sid: str, who: Identity, data: object) -> Result:
        chat_id = payloads.chat_ref(data)
        users = await self._service.active_users(who.user_id, chat_id)
        return {"chatId": chat_id, "users": [wire.presence(p) for p in users]}, "active_users"

    async def _get_chat_info(self, sid: str, who: Identity, data: object) -> Result:
        chat = await self._service.get_chat(who.user_id, payloads.chat_ref(data))
        return {"chat": wire.chat(chat, who.user_id)}, "chat_info"

    async def _get_messages(self, sid: str, who: Identity, data: object) -> Result:
        page = await self._service.get_messages(who.user_id, payloads.get_messages(data))
        return wire.page(page), None

    async def _typing(self, sid: str, who: Identity, data: object) -> Result:
        await self._service.set_typing(who.user_id, payloads.typing(data))
        return {}, None

    async def _auth_refresh(self, sid: str, who: Identity, data: object) -> Result:
        token = data.get("token") if isinstance(data, dict) else None
        fresh = await self._verifier.verify(token)
        if fresh.user_id != who.user_id:
            raise Unauthorized("the new token is for another user")
        self.identities[sid] = fresh
        self._watch_expiry(sid, fresh)
        return {"expiresAt": iso_ms(int(fresh.expires_at * 1000))}, None

    def _watch_expiry(self, sid: str, identity: Identity) -> None:
        """Disconnect the socket when its token expires, unless auth_refresh came first."""
        previous = self._expiry_timers.pop(sid, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, identity.expires_at - time.time())
        self._expiry_timers[sid] = loop.call_later(delay, self._expire, sid)

    def _expire(self, sid: str) -> None:
        self._expiry_timers.pop(sid, None)
        if sid not in self.identities:
            return

        async def expire() -> None:
            await self._emit_local(
                "chat_error", {"event": "auth", "code": "UNAUTHORIZED", "message": "token expired"}, sid
            )
            await self.server.disconnect(sid, namespace="/")

        task = asyncio.ensure_future(expire())
        task.add_done_callback(_log_failure)

    async def _ping(self, sid: str, who: Identity, data: object) -> Result:
        return {"serverTime": iso_ms(now_ms()), "t": payloads.ping(data)}, "pong"


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("emit failed", exc_info=task.exception())
