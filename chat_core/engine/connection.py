"""One Engine.IO connection: its session state machine bound to a transport, and the Socket.IO
sockets it carries. The only place that decides which transport a frame goes out on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from picows import WSCloseCode, WSMsgType, WSTransport

from . import eio_packets as eio
from . import sio_packets as sio
from . import ws_frames
from .eio_packets import Frame
from .eio_session import CLIENT_CLOSE, OVERFLOW, PARSE_ERROR, PING_TIMEOUT, Event, Session
from .handshake import Handshake
from .socket import CLIENT_NAMESPACE_DISCONNECT, Socket
from .timers import Deadline, TimerList

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger("chat.engine")

TEXT = WSMsgType.TEXT
_NOOP = b"6"


class Connection:
    __slots__ = (
        "_connect_timer",
        "_heartbeat",
        "connecting",
        "decoder",
        "frames_while_paused",
        "handshake",
        "out",
        "probe_ws",
        "server",
        "session",
        "sockets",
        "waiter",
        "ws",
        "ws_paused",
    )

    def __init__(self, server: Server, session: Session, handshake: Handshake) -> None:
        self.server = server
        self.session = session
        self.handshake = handshake
        self.ws: WSTransport | None = None
        #: the WebSocket's transport buffer is over its high-water mark: the client reads slower
        #: than we write, and frames written since then are counted against max_buffered_frames
        self.ws_paused = False
        self.frames_while_paused = 0
        #: WebSocket frames written this turn of the event loop, flushed together at its end
        self.out: list[bytes] = []
        self.probe_ws: WSTransport | None = None
        #: a polling GET waiting for frames
        self.waiter: asyncio.Future[None] | None = None
        self.decoder = sio.Decoder(server.options.max_attachments)
        self.sockets: dict[str, Socket] = {}
        #: namespaces whose CONNECT is being decided (on_connect running): a second CONNECT to
        #: one of them is ignored, or on_connect would run twice for one socket's place
        self.connecting: set[str] | None = None
        #: the heartbeat's next deadline: a ping to send, or (awaiting_pong) a pong to receive
        self._heartbeat: Deadline | None = None
        self._connect_timer: Deadline | None = None

    @property
    def sid(self) -> str:
        return self.session.sid

    @property
    def closed(self) -> bool:
        return self.session.closed

    def start(self) -> None:
        timers = self.server.timers
        self._heartbeat = timers.pings.add(self._ping_due)
        if timers.connects is not None:
            self._connect_timer = timers.connects.add(self._connect_timed_out)

    # --- outbound --------------------------------------------------------------------------------
    def write(self, frames: list[Frame], ws_framed: list[bytes] | None = None) -> None:
        """Frames to the client: onto the WebSocket (coalesced, below), or into the polling
        buffer. ws_framed: the same frames already framed for a WebSocket (a broadcast frames
        once for all its recipients)."""
        if self.ws is not None:
            out = self.out
            if not out:
                self.server.flush_soon(self)
            out.extend(ws_frames.frames(frames) if ws_framed is None else ws_framed)
            return
        session = self.session
        if session.closed:
            return
        session.buffer.extend(frames)
        if len(session.buffer) > self.server.options.max_buffered_frames:
            self._drop_slow_consumer()
            return
        self._wake_poll()

    def flush(self) -> None:
        """Writes what this turn of the event loop produced for the WebSocket in one write (one
        system call instead of one per frame), then applies the slow-consumer bound."""
        out = self.out
        if not out:
            return
        self.out = []
        ws = self.ws
        if ws is None or ws.is_disconnected or ws.is_close_frame_sent:
            return
        transport = ws.underlying_transport
        transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self.ws_paused:
            self.frames_while_paused += len(out)
            options = self.server.options
            if (
                self.frames_while_paused > options.max_buffered_frames
                or transport.get_write_buffer_size() > options.max_buffered_bytes
            ):
                self._drop_slow_consumer()

    def _wake_poll(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drop_slow_consumer(self) -> None:
        log.warning(
            "dropping a slow consumer",
            extra={"eio_sid": self.sid, "transport": self.session.transport, "address": self.handshake.address},
        )
        self.close(OVERFLOW, notify=False)

    # --- inbound ----------------------------------------------------------------------------------
    def receive_packet(self, kind: str, data: str | bytes, now_ms: int) -> None:
        session = self.session
        awaiting_pong = session.awaiting_pong
        event = session.receive(kind, data, now_ms)
        if event is Event.MESSAGE:
            self.receive_message(data)
        elif event is Event.CLOSE:
            by_client = session.close_reason == CLIENT_CLOSE
            self.close(session.close_reason, notify=False, by_client=by_client, already_closed=True)
        elif awaiting_pong and not session.awaiting_pong:  # the pong came: the next ping's turn
            self._set_heartbeat(self.server.timers.pings, self._ping_due)

    def receive_text_frame(self, text: str) -> None:
        """A WebSocket text frame (the hot path: messages skip the session's bookkeeping)."""
        if text and text[0] == "4":
            if not self.session.closed:
                self.receive_message(text[1:])
            return
        try:
            kind, data = eio.decode_text(text)
        except eio.PacketError as error:
            self.fail(str(error))
            return
        self.receive_packet(kind, data, self.server.now_ms())

    def receive_message(self, data: str | bytes) -> None:
        self.server.receive_message(self, data)

    def fail(self, reason: str) -> None:
        """The client broke the protocol: one log line, and the connection ends."""
        log.info("malformed packet; closing the connection", extra={"eio_sid": self.sid, "reason": reason})
        self.close(PARSE_ERROR, notify=False)

    # --- sockets ------------------------------------------------------------------------------------
    def add_socket(self, socket: Socket) -> None:
        self.sockets[socket.namespace.name] = socket
        socket.connected = True
        socket.namespace.rooms.add_socket(socket)
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def end_socket(self, socket: Socket, reason: str) -> None:
        if self.sockets.get(socket.namespace.name) is socket:
            del self.sockets[socket.namespace.name]
        if socket.connected:
            socket.ended()
            self.server.run(socket.namespace.on_disconnect(socket, reason))

    def client_left_namespace(self, namespace: str) -> None:
        socket = self.sockets.get(namespace)
        if socket is not None:
            self.end_socket(socket, CLIENT_NAMESPACE_DISCONNECT)

    def _connect_timed_out(self) -> None:
        self._connect_timer = None
        if not self.sockets and not self.closed:
            log.info("no namespace joined in time; closing", extra={"eio_sid": self.sid})
            self.close("connect timeout", notify=False)

    # --- heartbeat ----------------------------------------------------------------------------------
    def _set_heartbeat(self, timers: TimerList, callback: Callable[[], None]) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._heartbeat = timers.add(callback)

    def _ping_due(self) -> None:
        self._heartbeat = None
        if self.session.tick(self.server.now_ms() + 1) is Event.SEND_PING:  # +1: call_at may fire early
            self.write([b"2"])
            self._heartbeat = self.server.timers.pongs.add(self._pong_due)
        elif not self.closed:  # not due yet (clock rounding; the lists fire on time): look again soon
            self.server.loop.call_later(0.001, self._ping_due)

    def close_overdue(self) -> None:
        """Close a session past its pong deadline now (what _pong_due would do when it runs)."""
        if self.session.close(PING_TIMEOUT):
            self.close(PING_TIMEOUT, notify=False, already_closed=True)

    def _pong_due(self) -> None:
        self._heartbeat = None
        if self.session.tick(self.server.now_ms() + 1) is Event.CLOSE:
            self.close(self.session.close_reason, notify=False, already_closed=True)

    # --- transports -----------------------------------------------------------------------------------
    def attach_websocket(self, ws: WSTransport) -> None:
        self.ws = ws

    def pause_writing(self) -> None:
        self.ws_paused = True

    def resume_writing(self) -> None:
        self.ws_paused = False
        self.frames_while_paused = 0

    def begin_probe(self, ws: WSTransport) -> None:
        self.session.begin_probe()
        self.probe_ws = ws

    def receive_probe_frame(self, ws: WSTransport, kind: str, data: str | bytes) -> None:
        event, reply = self.session.receive_probe(kind, data)
        if reply is not None:
            ws.send(TEXT, reply)
            self._wake_poll()  # the NOOP ends the client's pending GET
        if event is Event.UPGRADED:
            self.probe_ws = None
            frames = [f for f in self.session.take_buffer() if f != _NOOP]
            self._wake_poll()  # a GET still pending returns empty-handed (a NOOP, below)
            self.ws = ws
            if frames:
                self.write(frames)
        elif event is Event.PROBE_FAILED:
            self.reject_probe(ws)

    def reject_probe(self, ws: WSTransport) -> None:
        """The probing WebSocket broke the upgrade: it is closed, the session stays on polling."""
        log.info("upgrade probe failed; staying on polling", extra={"eio_sid": self.sid})
        if self.probe_ws is ws:
            self.probe_ws = None
            self.session.probe_failed()
        _close_websocket(ws, WSCloseCode.PROTOCOL_ERROR)

    def probe_lost(self, ws: WSTransport) -> None:
        if self.probe_ws is ws:
            self.probe_ws = None
            self.session.probe_failed()

    def websocket_lost(self, ws: WSTransport) -> None:
        if self.ws is ws:
            self.close(CLIENT_CLOSE, notify=False, by_client=True)

    # --- closing ---------------------------------------------------------------------------------------
    def close(self, reason: str, *, notify: bool = True, by_client: bool = False, already_closed: bool = False) -> None:
        """Ends the connection and its sockets. notify: send the client an Engine.IO CLOSE first (a
        client reconnects after it, unlike after a Socket.IO DISCONNECT). A polling GET still
        pending gets the CLOSE (server side) or a NOOP (the client asked to close)."""
        if not already_closed and not self.session.close(reason):
            return
        self.server.forget(self)
        for deadline in (self._heartbeat, self._connect_timer):
            if deadline is not None:
                deadline.cancel()
        self._heartbeat = self._connect_timer = None
        for socket in list(self.sockets.values()):
            self.end_socket(socket, reason)
        ws = self.ws
        if ws is not None:
            if notify:
                self.write([b"1"])
            self.flush()
            self.ws = None
            _close_websocket(ws, WSCloseCode.OK if notify or by_client else WSCloseCode.GOING_AWAY)
        if self.probe_ws is not None:
            _close_websocket(self.probe_ws, WSCloseCode.GOING_AWAY)
            self.probe_ws = None
        if by_client:
            self.session.buffer = [_NOOP]
        elif notify:
            self.session.buffer.append(b"1")
        else:
            self.session.buffer = [_NOOP]
        self._wake_poll()

    def pending_frames(self) -> int:
        if self.ws is not None:
            return len(self.out) + int(self.ws.underlying_transport.get_write_buffer_size() > 0)
        return len(self.session.buffer)


def _close_websocket(ws: WSTransport, code: Any) -> None:
    if ws.is_disconnected:
        return
    if not ws.is_close_frame_sent:
        ws.send_close(code)
    ws.disconnect()
