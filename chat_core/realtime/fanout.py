"""Fan-out adapters: the engine's rooms (one node, or many through its Redis adapter), a write-only
Redis publisher for processes that hold no sockets (Lambda, CLI), and a null one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..engine import Server, Socket
from ..engine.pubsub import RedisPublisher
from ..models import MemberNotice
from ..ports import Fanout

NOTICE_EVENT = "chat:member-notice"
"""The server-side event (between nodes, never to a socket) that carries a MemberNotice."""

NoticeHandler = Callable[[MemberNotice], None]


def user_room(user_id: str) -> str:
    return "u:" + user_id


def chat_room(chat_id: str) -> str:
    return "c:" + chat_id


def notice_to_json(notice: MemberNotice) -> dict[str, Any]:
    return {
        "event": notice.event,
        "data": notice.data,
        "members": notice.members,
        "skip": notice.skip_sid,
        "v": notice.version,
    }


def notice_from_json(raw: Any) -> MemberNotice:
    return MemberNotice(
        str(raw["event"]), dict(raw["data"]), tuple(raw["members"]), raw.get("skip"), int(raw.get("v", 0))
    )


class EngineFanout:
    """Emits through the engine: this node's sockets at once, the other nodes' through the
    server's adapter (in the order of the calls)."""

    def __init__(self, server: Server, namespace: str = "/") -> None:
        self._server = server
        self._namespace_name = namespace
        self._notice_handler: NoticeHandler | None = None
        server.server_event_handlers[NOTICE_EVENT] = self._receive_notice

    def set_notice_handler(self, handler: NoticeHandler) -> None:
        self._notice_handler = handler

    async def notify_members(self, notice: MemberNotice) -> None:
        if self._notice_handler is not None:
            self._notice_handler(notice)
        if self._server.adapter is not None:  # other nodes: not encoded for nobody on a lone node
            self._server.server_emit(NOTICE_EVENT, notice_to_json(notice))

    def _receive_notice(self, raw: Any) -> None:
        if self._notice_handler is not None:
            self._notice_handler(notice_from_json(raw))

    def to_local_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        self._server.emit_local(
            event,
            data,
            to=[user_room(u) for u in user_ids],
            skip=(skip_sid,) if skip_sid else (),
            namespace=self._namespace_name,
        )

    def _socket(self, sid: str) -> Socket | None:
        namespace = self._server.namespaces.get(self._namespace_name)
        return None if namespace is None else namespace.sockets.get(sid)

    async def to_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        rooms = [user_room(u) for u in user_ids]
        if rooms:
            self._server.emit(
                event, data, to=rooms, skip=(skip_sid,) if skip_sid else (), namespace=self._namespace_name
            )

    async def to_chat_viewers(self, event: str, data: object, chat_id: str, *, skip_sids: Sequence[str] = ()) -> None:
        self._server.emit(event, data, to=chat_room(chat_id), skip=skip_sids, namespace=self._namespace_name)

    async def to_socket(self, event: str, data: object, sid: str) -> None:
        self._server.emit(event, data, to=sid, namespace=self._namespace_name)

    async def enter_chat_room(self, sid: str, chat_id: str) -> None:
        socket = self._socket(sid)
        if socket is not None:
            socket.join(chat_room(chat_id))

    async def leave_chat_room(self, sid: str, chat_id: str) -> None:
        socket = self._socket(sid)
        if socket is not None:
            socket.leave(chat_room(chat_id))


class PublisherFanout:
    """Publishes to every node through Redis/Valkey; holds no sockets of its own."""

    def __init__(self, publisher: RedisPublisher) -> None:
        self._publisher = publisher

    @classmethod
    def redis(cls, url: str) -> PublisherFanout:
        return cls(RedisPublisher(url))

    def set_notice_handler(self, handler: NoticeHandler) -> None:
        return None  # notices are for the nodes, which hold the sockets

    async def notify_members(self, notice: MemberNotice) -> None:
        await self._publisher.server_emit(NOTICE_EVENT, notice_to_json(notice))

    def to_local_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        return None  # no sockets here

    async def to_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        rooms = [user_room(u) for u in user_ids]
        if rooms:
            await self._publisher.emit(event, data, to=rooms, skip=(skip_sid,) if skip_sid else ())

    async def to_chat_viewers(self, event: str, data: object, chat_id: str, *, skip_sids: Sequence[str] = ()) -> None:
        await self._publisher.emit(event, data, to=chat_room(chat_id), skip=skip_sids)

    async def to_socket(self, event: str, data: object, sid: str) -> None:
        await self._publisher.emit(event, data, to=sid)

    async def enter_chat_room(self, sid: str, chat_id: str) -> None:
        raise RuntimeError("a publisher holds no sockets")

    async def leave_chat_room(self, sid: str, chat_id: str) -> None:
        raise RuntimeError("a publisher holds no sockets")


class NullFanout:
    """For a process with no live sockets and no pub/sub (the CLI's one-shot cleanup on SQLite):
    events have no one to reach."""

    def set_notice_handler(self, handler: NoticeHandler) -> None:
        return None

    async def notify_members(self, notice: MemberNotice) -> None:
        return None

    def to_local_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        return None

    async def to_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        return None

    async def to_chat_viewers(self, event: str, data: object, chat_id: str, *, skip_sids: Sequence[str] = ()) -> None:
        return None

    async def to_socket(self, event: str, data: object, sid: str) -> None:
        return None

    async def enter_chat_room(self, sid: str, chat_id: str) -> None:
        raise RuntimeError("no sockets here")

    async def leave_chat_room(self, sid: str, chat_id: str) -> None:
        raise RuntimeError("no sockets here")


_engine_fits: type[Fanout] = EngineFanout
_publisher_fits: type[Fanout] = PublisherFanout
_null_fits: type[Fanout] = NullFanout
