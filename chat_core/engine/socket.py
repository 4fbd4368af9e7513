"""A Socket.IO socket: one client's connection to one namespace."""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

from . import sio_packets as sio

if TYPE_CHECKING:
    from .connection import Connection
    from .handshake import Handshake
    from .namespace import Namespace

#: why a socket ended, as the Node reference names it
CLIENT_NAMESPACE_DISCONNECT = "client namespace disconnect"
SERVER_NAMESPACE_DISCONNECT = "server namespace disconnect"


class Socket:
    __slots__ = ("_acks", "_next_ack_id", "conn", "connected", "data", "namespace", "rooms", "sid")

    def __init__(self, namespace: Namespace, conn: Connection) -> None:
        self.sid = secrets.token_urlsafe(15)
        self.namespace = namespace
        self.conn = conn
        self.rooms: set[str] = set()
        self.connected = False
        #: free for the application (the chat keeps the caller's identity here)
        self.data: Any = None
        self._acks: dict[int, asyncio.Future[list[Any]]] | None = None
        self._next_ack_id = 0

    @property
    def handshake(self) -> Handshake:
        return self.conn.handshake

    # --- sending -----------------------------------------------------------------------------------
    def emit(self, event: str, *args: Any) -> None:
        if self.connected:
            self.conn.write(sio.encode_event(self.namespace.name, event, args))

    def emit_with_ack(self, event: str, *args: Any) -> asyncio.Future[list[Any]]:
        """Asks the client to acknowledge; the future gets the ack's arguments (cancelled when the
        socket ends first)."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if not self.connected:
            future.cancel()
            return future
        ack_id = self._next_ack_id
        self._next_ack_id += 1
        if self._acks is None:
            self._acks = {}
        self._acks[ack_id] = future
        self.conn.write(sio.encode_event(self.namespace.name, event, args, ack_id))
        return future

    def ack(self, ack_id: int, *args: Any) -> None:
        if self.connected:
            self.conn.write(sio.encode(sio.ACK, self.namespace.name, list(args), ack_id))

    def receive_ack(self, ack_id: int, args: list[Any]) -> None:
        future = self._acks.pop(ack_id, None) if self._acks else None
        if future is not None and not future.done():
            future.set_result(args)

    # --- rooms -----------------------------------------------------------------------------------------
    def join(self, room: str) -> None:
        if self.connected:
            self.namespace.rooms.join(self, room)

    def leave(self, room: str) -> None:
        self.namespace.rooms.leave(self, room)

    # --- ending ----------------------------------------------------------------------------------------
    def disconnect(self) -> None:
        """Server side: tells the client (DISCONNECT) and ends the socket; the client does not
        reconnect by itself after this."""
        if self.connected:
            self.conn.write(sio.encode(sio.DISCONNECT, self.namespace.name))
            self.conn.end_socket(self, SERVER_NAMESPACE_DISCONNECT)

    def ended(self) -> None:
        """Called by the connection once the socket is gone: leave the rooms, drop pending acks."""
        self.connected = False
        self.namespace.rooms.remove_socket(self)
        if self._acks:
            for future in self._acks.values():
                future.cancel()
            self._acks = None
