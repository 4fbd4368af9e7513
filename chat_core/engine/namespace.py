"""A namespace: the application's hooks for sockets that connect to one name ("/", "/admin")."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from .rooms import Rooms

if TYPE_CHECKING:
    from .server import Server
    from .socket import Socket


class ConnectRefused(Exception):
    """Raise from Namespace.on_connect to refuse: the client gets CONNECT_ERROR with
    {"message": message, "data": data} (data left out when None)."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def payload(self) -> dict[str, Any]:
        if self.data is None:
            return {"message": self.message}
        return {"message": self.message, "data": self.data}


class Namespace:
    """Subclass and override the hooks. Hooks that return an awaitable run as a task; the engine
    keeps a reference and logs what they raise."""

    #: a namespace that refuses binary packets closes the connection of a client that sends one
    accepts_binary = True

    def __init__(self, name: str = "/") -> None:
        if not name.startswith("/"):
            raise ValueError("a namespace name starts with /")
        self.name = name
        self.rooms = Rooms()
        self.server: Server | None = None

    @property
    def sockets(self) -> dict[str, Socket]:
        return self.rooms.by_sid

    async def on_connect(self, socket: Socket, auth: Any) -> None:
        """Accept (return) or refuse (raise ConnectRefused) a CONNECT with its auth payload."""

    def on_connected(self, socket: Socket) -> None:
        """Runs right after the CONNECT answer was written: the first packets of the socket."""

    def on_event(self, socket: Socket, event: str, args: list[Any], ack_id: int | None) -> Awaitable[None] | None:
        """An EVENT from the client; answer with socket.ack(ack_id, ...) when ack_id is not None."""
        return None

    def on_disconnect(self, socket: Socket, reason: str) -> Awaitable[None] | None:
        """The socket ended (the client left, the transport closed, the server disconnected it).
        Also called when the connection ended while on_connect was running and had accepted."""
        return None
