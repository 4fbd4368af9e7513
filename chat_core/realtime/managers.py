"""Client managers whose local delivery puts one encoded packet straight onto each recipient's
Engine.IO queue, instead of python-socketio's task per recipient plus a wait for all of them.

The packet is encoded once per emit (as python-socketio does when no callback is involved); the
queue puts happen in the caller's turn of the event loop, which is also what keeps one chat's
messages in seq order on every socket of this node.
"""

from __future__ import annotations

import time
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from .redis_manager import ResyncingRedisManager


class DirectEmitManager(socketio.AsyncManager):  # type: ignore[misc]
    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to)
            return
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        packets = [
            eio_packet.Packet(eio_packet.MESSAGE, p) for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        engine = self.server.eio
        max_queue: int = getattr(engine, "max_queue", 0) or 1 << 30
        ping_timeout = engine.ping_timeout
        now = time.time()
        careful: list[str] = []
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = engine.sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            last_ping = socket.last_ping
            if socket.queue.qsize() >= max_queue or (last_ping and now - last_ping > ping_timeout):
                careful.append(eio_sid)  # the engine's own send path closes it properly
                continue
            for pkt in packets:
                socket.queue.put_nowait(pkt)
        for eio_sid in careful:
            for pkt in packets:
                await engine.send_packet(eio_sid, pkt)


class DirectEmitRedisManager(ResyncingRedisManager, DirectEmitManager):
    """Redis/Valkey pub/sub between nodes; local delivery through DirectEmitManager.emit (the
    pub/sub manager's local step calls super().emit, which the MRO resolves to it)."""
