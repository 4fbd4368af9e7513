"""Fan-out adapters: rooms of a python-socketio server (in-process or Redis manager) and a
write-only Redis publisher for processes that hold no sockets (Lambda, CLI)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import socketio

from ..ports import Fanout


def user_room(user_id: str) -> str:
    return "u:" + user_id


def chat_room(chat_id: str) -> str:
    return "c:" + chat_id


class SocketIoFanout:
    """Emits through the server's client manager, so the same code serves one node or many."""

    def __init__(self, server: socketio.AsyncServer) -> None:
        self._server = server

    async def to_users(
        self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None
    ) -> None:
        rooms = [user_room(u) for u in user_ids]
        if rooms:  # an empty `to` would broadcast to everyone
            await self._server.emit(event, data, to=rooms, skip_sid=skip_sid)

    async def to_chat_viewers(
        self, event: str, data: object, chat_id: str, *, skip_sids: Sequence[str] = ()
    ) -> None:
        await self._server.emit(event, data, to=chat_room(chat_id), skip_sid=list(skip_sids) or None)

    async def to_socket(self, event: str, data: object, sid: str) -> None:
        await self._server.emit(event, data, to=sid)

    async def enter_chat_room(self, sid: str, chat_id: str) -> None:
        await self._server.enter_room(sid, chat_room(chat_id))

    async def leave_chat_room(self, sid: str, chat_id: str) -> None:
        await self._server.leave_room(sid, chat_room(chat_id))


class PublisherFanout:
    """Publishes to every node through a write-only manager; holds no sockets of its own."""

    def __init__(self, manager: Any) -> None:
        self._manager = manager

    @classmethod
    def redis(cls, url: str) -> PublisherFanout:
        return cls(socketio.AsyncRedisManager(url, write_only=True))

    async def to_users(
        self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None
    ) -> None:
        rooms = [user_room(u) for u in user_ids]
        if rooms:
            await self._manager.emit(event, data, namespace="/", room=rooms, skip_sid=skip_sid)

    async def to_chat_viewers(
        self, event: str, data: object, chat_id: str, *, skip_sids: Sequence[str] = ()
    ) -> None:
        await self._manager.emit(
            event, data, namespace="/", room=chat_room(chat_id), skip_sid=list(skip_sids) or None
        )

    async def to_socket(self, event: str, data: object, sid: str) -> None:
        await self._manager.emit(event, data, namespace="/", room=sid)

    async def enter_chat_room(self, sid: str, chat_id: str) -> None:
        raise RuntimeError("a publisher holds no sockets")

    async def leave_chat_room(self, sid: str, chat_id: str) -> None:
        raise RuntimeError("a publisher holds no sockets")


class NullFanout:
    """For a process with no live sockets and no pub/sub (a single-node SQLite Lambda is not a
    thing, but the CLI's one-shot cleanup on SQLite is): events have no one to reach."""

    async def to_users(
        self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None
    ) -> None:
        return None

    async def to_chat_viewers(
        self, event: str, data: object, chat_id: str, *, skip_sids: Sequence[str] = ()
    ) -> None:
        return None

    async def to_socket(self, event: str, data: object, sid: str) -> None:
        return None

    async def enter_chat_room(self, sid: str, chat_id: str) -> None:
        raise RuntimeError("no sockets here")

    async def leave_chat_room(self, sid: str, chat_id: str) -> None:
        raise RuntimeError("no sockets here")


_socketio_fits: type[Fanout] = SocketIoFanout
_publisher_fits: type[Fanout] = PublisherFanout
_null_fits: type[Fanout] = NullFanout
