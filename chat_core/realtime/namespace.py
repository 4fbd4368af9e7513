"""The Socket.IO event namespace: parse, call the service, shape the ack. No business rules here."""

from __future__ import annotations

import asyncio
import binascii
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
import socketio
from engineio.async_drivers import asgi as engineio_asgi
from socketio import packet as sio_packet

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


class ClientEventName(str):
    """The name of an EVENT packet that is also a lifecycle hook's ("connect", "disconnect"): a
    client must not reach those hooks (it would drop or swap the socket's identity, escaping the
    connection cap and the token expiry)."""

    __slots__ = ()

#: Engine.IO packet types a text frame may start with (open, close, ping, pong, message, upgrade,
#: noop), or "b" for a base64 binary message
_EIO_TEXT_FIRST = frozenset("0123456")


def _malformed_eio_text(data: str) -> str | None:
    """Why a websocket text frame is not an Engine.IO packet, or None when it is one. python-engineio
    raises out of the ASGI app (or indexes past its packet-name table) on these."""
    if not data:
        return "empty frame"
    if data[0] in _EIO_TEXT_FIRST:
        return None
    if data[0] == "b":
        try:
            binascii.a2b_base64(data[1:], strict_mode=True)
        except (binascii.Error, ValueError):
            return "bad base64 message"
        return None
    return "unknown packet type"


class SafeWebSocket(engineio_asgi.WebSocket):  # type: ignore[misc]
    """python-engineio's ASGI websocket, which ends the connection quietly on a malformed text
    frame (python-engineio would raise out of the ASGI app, and uvicorn log a traceback)."""

    async def wait(self) -> Any:
        data = await super().wait()
        if isinstance(data, str):
            reason = _malformed_eio_text(data)
            if reason is not None:
                log.info("malformed websocket frame; closing the connection", extra={"reason": reason})
                raise OSError(reason)  # engineio's receive loop ends and closes the socket
        return data


class _ClientInputErrors(logging.Filter):
    """A polling POST body that is not an Engine.IO payload makes python-engineio log the decode
    error with a traceback; it is bad client input, not a server fault: log one line instead."""

    QUIET = frozenset({"post request handler error", "Unknown receive error"})
    CLIENT_FAULTS = (ValueError, IndexError, UnicodeDecodeError)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.msg in self.QUIET and isinstance(error, self.CLIENT_FAULTS):
            record.msg = f"{record.msg}: malformed client packet ({type(error).__name__})"
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_engineio_log = logging.getLogger("engineio.server")
if not any(isinstance(f, _ClientInputErrors) for f in _engineio_log.filters):
    _engineio_log.addFilter(_ClientInputErrors())

Result = tuple[dict[str, Any], str | None]
Handler = Callable[[str, Identity, object], Awaitable[Result]]


class BoundedEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """Drops a slow consumer (a client that does not read) instead of queueing for it forever:
    once a socket's outgoing queue holds `max_queue` packets, its transport is closed."""

    max_queue = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        drivers: dict[str, Any] = self._async  # type: ignore[has-type]
        self._async = {**drivers, "websocket": SafeWebSocket}  # a copy: the driver's dict is shared

    async def disconnect(self, sid: str | None = None) -> None:
        """python-engineio calls this on a bad request (an oversized polling POST) and waits until
        the client has read the CLOSE packet: a client that never polls again held that request
        (and its task) until shutdown. Queue CLOSE, end the transport, do not wait."""
        if sid is None:
            await super().disconnect()
            return
        socket = self.sockets.pop(sid, None)
        if socket is not None and not socket.closed:
            await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
            socket.queue.put_nowait(None)

    async def send_packet(self, sid: str, pkt: Any) -> None:
        socket = self.sockets.get(sid)
        if socket is None or socket.closed:
            return
        if socket.queue.qsize() >= self.max_queue:
            log.warning("dropping a slow consumer", extra={"eio_sid": sid, "queued": socket.queue.qsize()})
            await socket.close(wait=False, abort=True)
            return
        await socket.send(pkt)


class TextPacket(sio_packet.Packet):  # type: ignore[misc]
    """Socket.IO packets of a JSON-only protocol: no per-packet walk of the data looking for bytes
    (python-socketio does that walk for every packet it builds)."""

    uses_binary_events = False


class ChatSocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """Records whether the client asked for an ack, which python-socketio does not expose, and
    bounds every socket's outgoing queue."""

    def _engineio_server_class(self) -> type[BoundedEngineServer]:
        return BoundedEngineServer

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: Any, namespace: str, id: int | None
    ) -> None:
        ACK_REQUESTED.set(id is not None)  # each event runs in its own task: the value stays local
        if data and data[0] in self.reserved_events:
            data = [ClientEventName(data[0]), *data[1:]]
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        """Decode one Socket.IO packet from a client. What this JSON-only protocol never sends
        (binary events and attachments, which python-socketio would buffer by the billions),
        undecodable JSON, unknown packet types, events without a string name, end that client's
        transport with one log line, where python-socketio would log a traceback."""
        reason: str | None = None
        pkt: Any = None
        if not isinstance(data, str):
            reason = "binary message"
        else:
            try:
                pkt = self.packet_class(encoded_packet=data)
            except (ValueError, TypeError, RecursionError):
                reason = "undecodable packet"
        if pkt is not None:
            kind = pkt.packet_type
            if kind == sio_packet.EVENT:
                named = isinstance(pkt.data, list) and pkt.data and isinstance(pkt.data[0], str)
                if not named:
                    reason = "event without a name"
            elif kind == sio_packet.ACK:
                return  # this server never asks a client for an ack: nothing waits for one
            elif kind not in (sio_packet.CONNECT, sio_packet.DISCONNECT):
                reason = f"packet type {kind!r} is not accepted"
        if reason is not None:
            log.info("malformed packet; closing the transport", extra={"eio_sid": eio_sid, "reason": reason})
            socket = self.eio.sockets.get(eio_sid)
            if socket is not None and not socket.closed:
                await socket.close(wait=False)  # queues CLOSE; waiting would hang a polling POST
                socket.queue.put_nowait(None)  # then ends the websocket writer (or the next long-poll)
            return
        await super()._handle_eio_message(eio_sid, data)


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

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if isinstance(event, ClientEventName):  # sent by the client: an unknown event, not a hook
            return await self._dispatch(str(event), args[0], args[1] if len(args) > 1 else None)
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
