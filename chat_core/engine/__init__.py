"""An Engine.IO v4 / Socket.IO v5 server, written to the published protocol specs.

No chat knowledge here. Codecs (`eio_packets`, `sio_packets`) and the Engine.IO session
(`eio_session`) are sans-I/O; `polling` (ASGI) and `websocket` (picows, handed WebSocket upgrades
by uvicorn) are the transport adapters; `server`, `namespace`, `socket` and `rooms` are the
Socket.IO side; `pubsub` carries broadcasts between nodes through Redis/Valkey.
"""

from __future__ import annotations

from .eio_packets import Binary, Frame
from .handshake import Handshake
from .namespace import ConnectRefused, Namespace
from .options import EngineOptions
from .server import Adapter, Server
from .socket import Socket

__all__ = [
    "Adapter",
    "Binary",
    "ConnectRefused",
    "EngineOptions",
    "Frame",
    "Handshake",
    "Namespace",
    "Server",
    "Socket",
]
