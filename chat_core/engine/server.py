"""The server: Engine.IO connections, Socket.IO namespaces, emitting, and the ASGI and uvicorn
entry points. It knows nothing of what the application's events mean."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from . import polling
from . import sio_packets as sio
from .connection import Connection
from .eio_packets import Frame
from .eio_session import SERVER_CLOSE, Session
from .errors import UNKNOWN_TRANSPORT, UNSUPPORTED_PROTOCOL_VERSION, RequestError
from .handshake import Handshake
from .namespace import ConnectRefused, Namespace
from .options import EngineOptions
from .rooms import as_rooms
from .socket import Socket
from .timers import TimerList
from .websocket import uvicorn_protocol

log = logging.getLogger("chat.engine")


class Adapter(Protocol):
    """Carries broadcasts to the other nodes of a cluster (see pubsub.RedisAdapter)."""

    def publish(self, namespace: str, frames: list[Frame], rooms: list[str] | None, skip: Collection[str]) -> None:
        """Queue a broadcast for the other nodes; never blocks, keeps the order of calls."""
        ...

    def publish_server_event(self, event: str, data: Any) -> None:
        """Queue an event for the other nodes' servers (not their sockets), in the same order
        as broadcasts."""
        ...


class ServerTimers:
    """The heartbeat and connect deadlines of every connection, one list per duration."""

    __slots__ = ("connects", "pings", "pongs")

    def __init__(self, loop: asyncio.AbstractEventLoop, options: EngineOptions) -> None:
        self.pings = TimerList(loop, options.ping_interval_ms / 1000)
        self.pongs = TimerList(loop, options.ping_timeout_ms / 1000)
        timeout_ms = options.connect_timeout_ms
        self.connects = TimerList(loop, timeout_ms / 1000) if timeout_ms > 0 else None


class Server:
    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.namespaces: dict[str, Namespace] = {}
        self.connections: dict[str, Connection] = {}
        self.adapter: Adapter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._to_flush: list[Connection] = []
        self._timers: ServerTimers | None = None
        self.server_event_handlers: dict[str, Callable[[Any], None]] = {}
        """Handlers of events that other nodes' servers sent with server_emit (as Socket.IO's
        serverSideEmit): called with the event's JSON data, on this node's loop."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now_ms(self) -> int:
        return int(self.loop.time() * 1000)

    @property
    def timers(self) -> ServerTimers:
        if self._timers is None:
            self._timers = ServerTimers(self.loop, self.options)
        return self._timers

    def register(self, namespace: Namespace) -> Namespace:
        namespace.server = self
        self.namespaces[namespace.name] = namespace
        return namespace

    # --- entry points -----------------------------------------------------------------------------
    def asgi(self, other: ASGIApp | None = None) -> ASGIApp:
        """An ASGI app: this server's path (long-polling) here, everything else to `other`."""
        prefix = self.options.path.rstrip("/")

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                path: str = scope["path"]
                if path.rstrip("/") == prefix:
                    await polling.handle(self, scope, receive, send)
                    return
            elif scope["type"] == "websocket" and scope["path"].rstrip("/") == prefix:
                # WebSockets reach this engine through uvicorn_websocket_protocol(), not ASGI
                await send({"type": "websocket.close", "code": 1003})
                return
            if other is None:
                await polling.respond(send, 404, b"Not Found", [polling.TEXT_PLAIN])
                return
            await other(scope, receive, send)

        return app

    def uvicorn_websocket_protocol(self, *others: Server) -> type[asyncio.Protocol]:
        """For uvicorn.Config(ws=...): WebSocket upgrades on the same port, served by picows (for
        this server's path, or another server's on the same port)."""
        return uvicorn_protocol(self, *others)

    def flush_soon(self, conn: Connection) -> None:
        """conn has WebSocket frames to write: they go out together once this turn of the event
        loop is done (uvloop writes at once on every write() otherwise: a system call per frame)."""
        if not self._to_flush:
            self.loop.call_soon(self._flush)
        self._to_flush.append(conn)

    def _flush(self) -> None:
        pending, self._to_flush = self._to_flush, []
        for conn in pending:
            conn.flush()

    # --- requests -----------------------------------------------------------------------------------
    def check_query(self, request: Handshake, transport: str) -> None:
        if request.query.get("EIO") != "4":
            raise RequestError(UNSUPPORTED_PROTOCOL_VERSION)
        if request.query.get("transport") != transport or transport not in self.options.transports:
            raise RequestError(UNKNOWN_TRANSPORT)

    def cors_headers(self, request: Handshake) -> list[tuple[bytes, bytes]] | None:
        """None when the origin is refused; else the CORS headers to answer with."""
        origin = request.origin
        if not self.options.allow_origin(origin, request.scheme, request.host):
            return None
        if origin is None:
            return []
        headers = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        if self.options.cors_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    def open_connection(self, transport: str, request: Handshake) -> Connection:
        options = self.options
        sid = secrets.token_urlsafe(15)
        session = Session(
            sid,
            transport,
            now_ms=self.now_ms(),
            ping_interval_ms=options.ping_interval_ms,
            ping_timeout_ms=options.ping_timeout_ms,
            max_payload=options.max_payload,
        )
        conn = Connection(self, session, request)
        self.connections[sid] = conn
        conn.start()
        return conn

    def forget(self, conn: Connection) -> None:
        if self.connections.get(conn.sid) is conn:
            del self.connections[conn.sid]

    # --- Socket.IO packets ------------------------------------------------------------------------------
    def receive_message(self, conn: Connection, data: str | bytes) -> None:
        """An Engine.IO message from a client: a Socket.IO packet, or a binary attachment of one.
        (An Engine.IO-only application overrides this.)"""
        try:
            packet = conn.decoder.feed_text(data) if isinstance(data, str) else conn.decoder.feed_binary(data)
        except sio.PacketError as error:
            conn.fail(str(error))
            return
        if packet is not None:
            self.dispatch(conn, packet)

    def dispatch(self, conn: Connection, packet: sio.Packet) -> None:
        kind = packet.kind
        if kind == sio.EVENT or kind == sio.BINARY_EVENT:
            socket = conn.sockets.get(packet.namespace)
            if socket is None:
                return  # not (yet) connected to that namespace: dropped, as the reference does
            namespace = socket.namespace
            if kind == sio.BINARY_EVENT and not namespace.accepts_binary:
                conn.fail("binary packet")
                return
            data = packet.data
            self.run(namespace.on_event(socket, data[0], data[1:], packet.ack_id))
        elif kind == sio.ACK or kind == sio.BINARY_ACK:
            socket = conn.sockets.get(packet.namespace)
            if socket is not None and packet.ack_id is not None:
                socket.receive_ack(packet.ack_id, packet.data)
        elif kind == sio.CONNECT:
            self._connect(conn, packet.namespace, packet.data)
        elif kind == sio.DISCONNECT:
            conn.client_left_namespace(packet.namespace)
        else:
            conn.fail("CONNECT_ERROR from a client")

    def _connect(self, conn: Connection, name: str, auth: Any) -> None:
        namespace = self.namespaces.get(name)
        if namespace is None:
            conn.write(sio.encode(sio.CONNECT_ERROR, name, {"message": "Invalid namespace"}))
            return
        if name in conn.sockets or (conn.connecting is not None and name in conn.connecting):
            return  # already connected, or being connected: a repeated CONNECT changes nothing
        if conn.connecting is None:
            conn.connecting = set()
        conn.connecting.add(name)
        socket = Socket(namespace, conn)
        self.run(self._accept(conn, namespace, socket, auth))

    async def _accept(self, conn: Connection, namespace: Namespace, socket: Socket, auth: Any) -> None:
        try:
            await namespace.on_connect(socket, auth)
        except ConnectRefused as refusal:
            conn.write(sio.encode(sio.CONNECT_ERROR, namespace.name, refusal.payload()))
            return
        except Exception:
            log.exception("connect handler failed", extra={"namespace": namespace.name})
            conn.write(sio.encode(sio.CONNECT_ERROR, namespace.name, {"message": "Internal server error"}))
            return
        finally:
            if conn.connecting is not None:
                conn.connecting.discard(namespace.name)
        if conn.closed:  # the client went away while on_connect ran: let the application undo it
            self.run(namespace.on_disconnect(socket, conn.session.close_reason))
            return
        conn.add_socket(socket)
        conn.write(sio.encode(sio.CONNECT, namespace.name, {"sid": socket.sid}))
        namespace.on_connected(socket)

    def run(self, work: Awaitable[Any] | None) -> None:
        """Runs a hook's awaitable as a task, keeps it referenced, logs what it raises."""
        if work is None:
            return
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("handler failed", exc_info=task.exception())

    # --- emitting ------------------------------------------------------------------------------------------
    def emit(
        self,
        event: str,
        *args: Any,
        to: str | Iterable[str] | None = None,
        skip: Collection[str] = (),
        namespace: str = "/",
    ) -> None:
        """To every socket of the namespace in any of the rooms (`to`, a room or a socket sid),
        on this node and, through the adapter, on the others. Encoded once."""
        rooms = as_rooms(to)
        if rooms is not None and not rooms:
            return
        frames = sio.encode_event(namespace, event, args)
        self.deliver(namespace, frames, rooms, skip)
        if self.adapter is not None:
            self.adapter.publish(namespace, frames, rooms, skip)

    def emit_local(
        self,
        event: str,
        *args: Any,
        to: str | Iterable[str] | None = None,
        skip: Collection[str] = (),
        namespace: str = "/",
    ) -> int:
        """To this node's sockets only; returns how many got it."""
        rooms = as_rooms(to)
        if rooms is not None and not rooms:
            return 0
        return self.deliver(namespace, sio.encode_event(namespace, event, args), rooms, skip)

    def deliver(self, namespace: str, frames: list[Frame], rooms: list[str] | None, skip: Collection[str]) -> int:
        """Already-encoded frames to this node's sockets (the adapter calls this for other nodes)."""
        target = self.namespaces.get(namespace)
        if target is None:
            return 0
        return target.rooms.broadcast(frames, rooms, skip)

    def server_emit(self, event: str, data: Any) -> None:
        """To the other nodes' servers (their `server_event_handlers`), not to any socket; data
        must be JSON. Nothing happens here: the caller handles its own node."""
        if self.adapter is not None:
            self.adapter.publish_server_event(event, data)

    def receive_server_event(self, event: str, data: Any) -> None:
        handler = self.server_event_handlers.get(event)
        if handler is None:
            log.warning("server event without a handler dropped", extra={"event": event[:64]})
            return
        handler(data)

    # --- lifecycle -------------------------------------------------------------------------------------
    def close_all(self, reason: str = SERVER_CLOSE, *, notify: bool = True) -> None:
        """Ends every connection. notify: with an Engine.IO CLOSE first (the JavaScript client
        reconnects either way; python-socketio's client only when the transport just ends)."""
        for conn in list(self.connections.values()):
            conn.close(reason, notify=notify)

    def pending_frames(self) -> int:
        """Frames still waiting for a polling GET or unsent on a WebSocket."""
        return sum(conn.pending_frames() for conn in self.connections.values())

    async def wait_tasks(self) -> None:
        """Until the hooks' tasks running now have finished. Cancelling this wait (a timeout
        around it) leaves those tasks running."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))
