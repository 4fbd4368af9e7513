"""The WebSocket transport on picows (a Cython WebSocket implementation), and the adapter that lets
uvicorn hand its WebSocket upgrades to picows on the same port as the HTTP app.

uvicorn's `ws=` setting takes a protocol class: on an upgrade it builds one with
(config=, server_state=, app_state=), calls connection_made(transport), data_received(<the raw
upgrade request>), then transport.set_protocol(it). `UvicornUpgrade` forwards the request bytes
into a picows WSProtocol and points the transport at it. WSProtocol's constructor is picows's
internal signature: the version is pinned in pyproject.toml and tests/engine covers the hand-over.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from picows import (
    WSCloseCode,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSAutoPingStrategy, WSProtocol  # type: ignore[attr-defined]

from . import eio_packets as eio
from .eio_session import WEBSOCKET
from .errors import FORBIDDEN, UNKNOWN_SID, RequestError
from .handshake import Handshake, parse_query

if TYPE_CHECKING:
    from .connection import Connection
    from .server import Server

log = logging.getLogger("chat.engine")
picows_log = logging.getLogger("chat.engine.picows")
picows_log.setLevel(logging.WARNING)  # picows logs every connection and every write pause at INFO
#: picows gives every connection a child of a `Logger` it is handed (an object per connection,
#: never freed from the parent's view); an adapter is used as it is
PICOWS_LOGGER = logging.LoggerAdapter(picows_log)

TEXT, BINARY, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CLOSE
CONTINUATION = WSMsgType.CONTINUATION
READ_BUFFER_BYTES = 2048  # picows grows it for larger frames; small keeps idle sockets cheap
HANDSHAKE_TIMEOUT_S = 10


class EngineListener(WSListener):
    """One WebSocket: a session of its own, or the probe of a polling session's upgrade."""

    __slots__ = ("conn", "fragments", "probing", "request", "server")

    def __init__(self, server: Server, request: Handshake, conn: Connection | None) -> None:
        self.server = server
        self.request = request
        self.conn = conn
        self.probing = conn is not None
        #: a fragmented message being collected: its type, its parts, their size
        self.fragments: tuple[Any, list[bytes], int] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        if self.conn is None:
            peer = transport.underlying_transport.get_extra_info("peername")
            request = dataclasses.replace(self.request, address=peer[0] if peer else "")
            conn = self.server.open_connection(WEBSOCKET, request)
            conn.attach_websocket(transport)
            transport.send(TEXT, conn.session.open_frame())
            self.conn = conn
        elif self.conn.session.can_probe():
            self.conn.begin_probe(transport)
        else:  # upgraded or closed meanwhile
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        conn = self.conn
        if conn is None:
            return
        kind = frame.msg_type
        if kind is TEXT:
            if not frame.fin:
                self._first_fragment(kind, frame.get_payload_as_bytes())
                return
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                conn.fail("text frame is not UTF-8")
                return
            self._text(conn, transport, text)
        elif kind is BINARY:
            if not frame.fin:
                self._first_fragment(kind, frame.get_payload_as_bytes())
                return
            self._binary(conn, transport, frame.get_payload_as_bytes())
        elif kind is CONTINUATION:
            self._next_fragment(conn, transport, frame.get_payload_as_bytes(), frame.fin)
        elif kind is CLOSE:
            code = frame.get_close_code()
            transport.send_close(WSCloseCode.OK if code is WSCloseCode.NO_INFO else code)
            transport.disconnect()

    def _text(self, conn: Connection, transport: WSTransport, text: str) -> None:
        if self.probing:
            self._probe_frame(conn, transport, text)
        else:
            conn.receive_text_frame(text)

    def _binary(self, conn: Connection, transport: WSTransport, data: bytes) -> None:
        if self.probing:
            conn.reject_probe(transport)
        else:
            conn.receive_message(data)

    # --- fragmented messages (RFC 6455, 5.4): picows hands over each fragment ---------------------
    def _first_fragment(self, kind: Any, data: bytes) -> None:
        self.fragments = (kind, [data], len(data))

    def _next_fragment(self, conn: Connection, transport: WSTransport, data: bytes, last: bool) -> None:
        pending = self.fragments
        if pending is None:
            conn.fail("continuation frame without a first fragment")
            return
        kind, parts, size = pending
        size += len(data)
        if size > self.server.options.max_payload:
            self.fragments = None
            log.info("fragmented message over maxPayload; closing", extra={"eio_sid": conn.sid})
            transport.send_close(WSCloseCode.MESSAGE_TOO_BIG)
            transport.disconnect()
            return
        parts.append(data)
        if not last:
            self.fragments = (kind, parts, size)
            return
        self.fragments = None
        message = b"".join(parts)
        if kind is BINARY:
            self._binary(conn, transport, message)
            return
        try:
            text = message.decode()
        except UnicodeDecodeError:
            conn.fail("text message is not UTF-8")
            return
        self._text(conn, transport, text)

    def _probe_frame(self, conn: Connection, transport: WSTransport, text: str) -> None:
        try:
            kind, data = eio.decode_text(text)
        except eio.PacketError:
            conn.reject_probe(transport)
            return
        conn.receive_probe_frame(transport, kind, data)
        if conn.ws is transport:
            self.probing = False  # upgraded: from now on the WebSocket is the session's transport

    def pause_writing(self) -> None:
        if self.conn is not None and not self.probing:
            self.conn.pause_writing()

    def resume_writing(self) -> None:
        if self.conn is not None and not self.probing:
            self.conn.resume_writing()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        conn = self.conn
        if conn is None:
            return
        if self.probing:
            conn.probe_lost(transport)
        else:
            conn.websocket_lost(transport)


def _error_response(refusal: RequestError) -> Any:
    response = WSUpgradeResponse.create_error_response(
        refusal.status, refusal.body(), extra_headers={"Content-Type": "application/json"}
    )
    return WSUpgradeResponseWithListener(response, None)


def listener_factory(server: Server) -> Any:
    prefix = server.options.path.rstrip("/").encode()
    proxies = server.options.trusted_proxies

    def factory(request: WSUpgradeRequest, peer: str = "") -> Any:
        raw_path, _, raw_query = request.path.partition(b"?")
        if raw_path.rstrip(b"/") != prefix:
            return None  # 404
        headers = {name.lower(): value for name, value in request.headers.items()}
        # uvicorn hands over plain-TCP connections (TLS ends at a load balancer, if any)
        address, secure = proxies.resolve(peer, headers, secure=False)
        handshake = Handshake(headers=headers, query=parse_query(raw_query), address=address, secure=secure)
        try:
            if server.cors_headers(handshake) is None:
                raise RequestError(FORBIDDEN, 403)
            server.check_query(handshake, WEBSOCKET)
            sid = handshake.query.get("sid")
            conn = None
            if sid is not None:
                conn = server.connections.get(sid)
                if conn is None:
                    raise RequestError(UNKNOWN_SID)
                # a session that cannot be probed (already upgraded) gets a WebSocket that closes
                # at once, as the reference does
        except RequestError as refusal:
            return _error_response(refusal)
        return EngineListener(server, handshake, conn)

    return factory


def uvicorn_protocol(*servers: Server) -> type[asyncio.Protocol]:
    """A class for uvicorn.Config(ws=...) that hands every WebSocket upgrade to the server whose
    path it asks for (a 404 when none)."""
    factories = [listener_factory(server) for server in servers]
    max_frame = max(server.options.max_payload for server in servers)

    def route(request: WSUpgradeRequest, peer: str) -> Any:
        for candidate in factories:
            answer = candidate(request, peer)
            if answer is not None:
                return answer
        return None

    class UvicornUpgrade(asyncio.Protocol):
        def __init__(self, config: Any = None, server_state: Any = None, app_state: Any = None) -> None:
            self._transport: asyncio.Transport | None = None
            self._ws = WSProtocol(
                None,  # host_port: a server's
                None,  # ws_path
                False,  # is_client_side
                self._route,
                PICOWS_LOGGER,
                True,  # disconnect_on_exception
                HANDSHAKE_TIMEOUT_S,
                False,  # enable_auto_ping: Engine.IO has its own heartbeat
                20,
                20,
                WSAutoPingStrategy.PING_WHEN_IDLE,
                True,  # enable_auto_pong
                max_frame,
                None,  # extra_headers
                READ_BUFFER_BYTES,
            )

        def _route(self, request: WSUpgradeRequest) -> Any:
            peer = self._transport.get_extra_info("peername") if self._transport is not None else None
            return route(request, str(peer[0]) if peer else "")

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._transport = transport  # type: ignore[assignment]
            self._ws.connection_made(transport)

        def data_received(self, data: bytes) -> None:
            """The upgrade request as uvicorn rebuilt it. get_buffer may give less room than
            asked for (a request with large headers), so copy it in as many pieces as needed."""
            rest = memoryview(data)
            while rest:
                room = memoryview(self._ws.get_buffer(len(rest))).cast("B")
                size = min(len(room), len(rest))
                room[:size] = rest[:size]
                self._ws.buffer_updated(size)
                rest = rest[size:]
            assert self._transport is not None
            self._transport.set_protocol(self._ws)

        def connection_lost(self, exc: Exception | None) -> None:
            self._ws.connection_lost(exc)

        def eof_received(self) -> bool | None:
            return self._ws.eof_received()  # type: ignore[no-any-return]

        def pause_writing(self) -> None:
            self._ws.pause_writing()

        def resume_writing(self) -> None:
            self._ws.resume_writing()

    return UvicornUpgrade
