"""One Engine.IO session as a state machine: no sockets, no clock, no asyncio.

The transport adapters feed it decoded packets and the time; it answers with what happened
(`Event`s) and keeps what a long-polling client has yet to fetch. Everything the Engine.IO v4
spec says about heartbeats, the polling/WebSocket upgrade and closing is decided here.
"""

from __future__ import annotations

import enum

import orjson

from . import eio_packets as eio
from .eio_packets import Frame

POLLING, WEBSOCKET = "polling", "websocket"


class State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Upgrade(enum.Enum):
    NONE = "none"  # on its first transport
    PROBING = "probing"  # a WebSocket with this sid arrived and is being probed
    DONE = "done"  # moved to the WebSocket


class Event(enum.Enum):
    MESSAGE = "message"  # data: str or bytes
    CLOSE = "close"  # the session ended (reason in Session.close_reason)
    SEND_PING = "send_ping"  # write a PING on the current transport
    UPGRADED = "upgraded"  # the WebSocket is now the transport: flush the polling buffer to it
    PROBE_FAILED = "probe_failed"  # the probing WebSocket broke the upgrade: close it, stay on polling


#: close reasons, as the Node reference names them
CLIENT_CLOSE = "transport close"
PING_TIMEOUT = "ping timeout"
LATENESS_ABSORBED_MS = 100
"""How late a ping may be sent and still be timed from when it was due."""
PARSE_ERROR = "parse error"
SERVER_CLOSE = "server shutting down"
FORCED_CLOSE = "forced close"
TRANSPORT_ERROR = "transport error"
OVERFLOW = "outbound buffer full"


class Session:
    __slots__ = (
        "awaiting_pong",
        "buffer",
        "close_reason",
        "max_payload",
        "next_ping_at",
        "ping_interval_ms",
        "ping_sent_at",
        "ping_timeout_ms",
        "sid",
        "state",
        "transport",
        "upgrade",
    )

    def __init__(
        self,
        sid: str,
        transport: str,
        *,
        now_ms: int,
        ping_interval_ms: int,
        ping_timeout_ms: int,
        max_payload: int,
    ) -> None:
        self.sid = sid
        self.transport = transport
        self.state = State.OPEN
        self.upgrade = Upgrade.NONE if transport == POLLING else Upgrade.DONE
        self.ping_interval_ms = ping_interval_ms
        self.ping_timeout_ms = ping_timeout_ms
        self.max_payload = max_payload
        self.next_ping_at = now_ms + ping_interval_ms
        self.ping_sent_at = 0
        self.awaiting_pong = False
        self.close_reason = ""
        #: frames waiting for a polling GET (or for the end of an upgrade)
        self.buffer: list[Frame] = []

    # --- handshake ----------------------------------------------------------------------------
    def open_frame(self) -> bytes:
        upgrades = [WEBSOCKET] if self.transport == POLLING else []
        return b"0" + orjson.dumps(
            {
                "sid": self.sid,
                "upgrades": upgrades,
                "pingInterval": self.ping_interval_ms,
                "pingTimeout": self.ping_timeout_ms,
                "maxPayload": self.max_payload,
            }
        )

    # --- inbound --------------------------------------------------------------------------------
    def receive(self, kind: str, data: str | bytes, now_ms: int) -> Event | None:
        """A packet from the client on its current transport."""
        if self.state is State.CLOSED:
            return None
        if kind == eio.MESSAGE:
            return Event.MESSAGE
        if kind == eio.PONG:
            if self.awaiting_pong and now_ms > self.ping_sent_at + self.ping_timeout_ms:
                self.close(PING_TIMEOUT)  # too late: the timer had not run yet
                return Event.CLOSE
            if self.awaiting_pong:
                self.awaiting_pong = False
                self.next_ping_at = now_ms + self.ping_interval_ms
            return None
        if kind == eio.CLOSE:
            self.close(CLIENT_CLOSE)
            return Event.CLOSE
        if kind == eio.NOOP or kind == eio.PING:
            return None  # a v4 client never pings; tolerated
        self.close(PARSE_ERROR)  # UPGRADE on a transport that is not being probed
        return Event.CLOSE

    # --- upgrade --------------------------------------------------------------------------------
    def can_probe(self) -> bool:
        return self.state is State.OPEN and self.transport == POLLING and self.upgrade is Upgrade.NONE

    def begin_probe(self) -> None:
        self.upgrade = Upgrade.PROBING

    def receive_probe(self, kind: str, data: str | bytes) -> tuple[Event | None, bytes | None]:
        """A packet on the WebSocket being probed: returns an event and the frame to answer on
        that WebSocket. "2probe" is answered "3probe" (and the polling side gets a NOOP so the
        client's pending GET returns); "5" completes the upgrade."""
        if self.state is State.CLOSED or self.upgrade is not Upgrade.PROBING:
            return None, None
        if kind == eio.PING and data == "probe":
            self.buffer.append(b"6")
            return None, b"3probe"
        if kind == eio.UPGRADE:
            self.upgrade = Upgrade.DONE
            self.transport = WEBSOCKET
            return Event.UPGRADED, None
        self.upgrade = Upgrade.NONE  # as the reference: only the probe is dropped
        return Event.PROBE_FAILED, None

    def probe_failed(self) -> None:
        """The probing WebSocket went away before "5": stay on polling."""
        if self.upgrade is Upgrade.PROBING:
            self.upgrade = Upgrade.NONE

    # --- outbound ---------------------------------------------------------------------------------
    def take_buffer(self) -> list[Frame]:
        frames, self.buffer = self.buffer, []
        return frames

    # --- heartbeat --------------------------------------------------------------------------------
    def next_deadline(self) -> int | None:
        if self.state is State.CLOSED:
            return None
        if self.awaiting_pong:
            return self.ping_sent_at + self.ping_timeout_ms
        return self.next_ping_at

    def tick(self, now_ms: int) -> Event | None:
        """Run at next_deadline(): a ping is due, or the client missed its pong."""
        if self.state is State.CLOSED:
            return None
        if self.awaiting_pong:
            if now_ms >= self.ping_sent_at + self.ping_timeout_ms:
                self.close(PING_TIMEOUT)
                return Event.CLOSE
            return None
        if now_ms >= self.next_ping_at:
            self.awaiting_pong = True
            # the pong is due pingTimeout after the ping was due, not after a timer a little late
            # sent it (the session's life does not stretch with the event loop's lateness); a
            # ping much later than due (a stalled process) still leaves the client nearly the
            # whole pingTimeout to answer
            self.ping_sent_at = max(self.next_ping_at, now_ms - LATENESS_ABSORBED_MS)
            return Event.SEND_PING
        return None

    def overdue(self, now_ms: int) -> bool:
        """The client is past its pong deadline (pingTimeout after the ping was due), whether or
        not the timer that closes the session has run yet: a request arriving now finds the
        session as closed as it should be, however late the event loop's timers fire."""
        if self.state is State.CLOSED:
            return False
        due = self.ping_sent_at if self.awaiting_pong else self.next_ping_at
        return now_ms >= due + self.ping_timeout_ms

    # --- closing -----------------------------------------------------------------------------------
    def close(self, reason: str) -> bool:
        """Marks the session closed; False when it already was."""
        if self.state is State.CLOSED:
            return False
        self.state = State.CLOSED
        self.close_reason = reason
        return True

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED
