"""An in-memory Fanout of one node that records what it was asked to deliver (state exposed for
assertions). Member notices go to this node's handler at once, as EngineFanout does."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chat_core.models import MemberNotice


@dataclass
class Delivery:
    event: str
    data: Any
    users: tuple[str, ...] = ()
    chat_id: str | None = None
    skip: tuple[str, ...] = ()


@dataclass
class RecordingFanout:
    deliveries: list[Delivery] = field(default_factory=list)
    rooms: dict[str, set[str]] = field(default_factory=dict)
    notices: list[MemberNotice] = field(default_factory=list)
    handler: Callable[[MemberNotice], None] | None = None
    peers: list[RecordingFanout] = field(default_factory=list)
    """Other nodes: a notice reaches their handlers too, after this node's (pub/sub)."""

    def set_notice_handler(self, handler: Callable[[MemberNotice], None]) -> None:
        self.handler = handler

    async def notify_members(self, notice: MemberNotice) -> None:
        self.notices.append(notice)
        for node in (self, *self.peers):
            if node.handler is not None:
                node.handler(notice)

    def to_local_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        self.deliveries.append(
            Delivery(event, data, users=tuple(sorted(user_ids)), skip=(skip_sid,) if skip_sid else ())
        )

    async def to_users(self, event: str, data: object, user_ids: Iterable[str], *, skip_sid: str | None = None) -> None:
        self.deliveries.append(Delivery(event, data, users=tuple(user_ids), skip=(skip_sid,) if skip_sid else ()))

    async def to_chat_viewers(self, event: str, data: object, chat_id: str, *, skip_sids: Sequence[str] = ()) -> None:
        self.deliveries.append(Delivery(event, data, chat_id=chat_id, skip=tuple(skip_sids)))

    async def to_socket(self, event: str, data: object, sid: str) -> None:
        self.deliveries.append(Delivery(event, data, skip=()))

    async def enter_chat_room(self, sid: str, chat_id: str) -> None:
        self.rooms.setdefault(chat_id, set()).add(sid)

    async def leave_chat_room(self, sid: str, chat_id: str) -> None:
        self.rooms.get(chat_id, set()).discard(sid)

    def events(self, name: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.event == name]

    def clear(self) -> None:
        self.deliveries.clear()
        self.notices.clear()
