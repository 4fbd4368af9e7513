"""Local rooms of one namespace and the encode-once broadcast over them.

A room is a set of sockets; a socket's own sid addresses it without a room of its own (a set per
socket would cost memory for nothing). A broadcast gets already-encoded frames and writes the same
bytes to every recipient, in the caller's turn of the event loop: no task, no queue hop.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from . import ws_frames
from .eio_packets import Frame

if TYPE_CHECKING:
    from .socket import Socket


def as_rooms(to: str | Iterable[str] | None) -> list[str] | None:
    """An emit's `to` as a list of rooms (a room, a socket sid, or several), or None for everyone.
    An empty list stays empty: nobody, not everybody."""
    if to is None:
        return None
    return [to] if isinstance(to, str) else list(to)


class Rooms:
    __slots__ = ("by_room", "by_sid")

    def __init__(self) -> None:
        self.by_room: dict[str, set[Socket]] = {}
        self.by_sid: dict[str, Socket] = {}

    def add_socket(self, socket: Socket) -> None:
        self.by_sid[socket.sid] = socket

    def remove_socket(self, socket: Socket) -> None:
        self.by_sid.pop(socket.sid, None)
        for room in socket.rooms:
            members = self.by_room.get(room)
            if members is not None:
                members.discard(socket)
                if not members:
                    del self.by_room[room]
        socket.rooms.clear()

    def join(self, socket: Socket, room: str) -> None:
        if room in socket.rooms:
            return
        socket.rooms.add(room)
        members = self.by_room.get(room)
        if members is None:
            self.by_room[room] = {socket}
        else:
            members.add(socket)

    def leave(self, socket: Socket, room: str) -> None:
        if room not in socket.rooms:
            return
        socket.rooms.discard(room)
        members = self.by_room.get(room)
        if members is not None:
            members.discard(socket)
            if not members:
                del self.by_room[room]

    def recipients(self, rooms: Iterable[str] | None, skip: Collection[str] = ()) -> list[Socket]:
        """Sockets in any of the rooms (each once), or every socket when rooms is None."""
        if rooms is None:
            found: Iterable[Socket] = self.by_sid.values()
        else:
            rooms = list(rooms)
            if len(rooms) == 1:
                one = self.by_room.get(rooms[0])
                if one is not None:
                    found = one
                else:
                    single = self.by_sid.get(rooms[0])
                    found = () if single is None else (single,)
            else:
                union: set[Socket] = set()
                for room in rooms:
                    members = self.by_room.get(room)
                    if members is not None:
                        union.update(members)
                    else:
                        single = self.by_sid.get(room)
                        if single is not None:
                            union.add(single)
                found = union
        if skip:
            return [s for s in found if s.sid not in skip]
        return list(found)

    def broadcast(self, frames: list[Frame], rooms: Iterable[str] | None, skip: Collection[str] = ()) -> int:
        """Writes the frames to every recipient; returns how many got them."""
        recipients = self.recipients(rooms, skip)
        if len(recipients) > 1:
            framed = ws_frames.frames(frames)
            for socket in recipients:
                socket.conn.write(frames, framed)
        elif recipients:
            recipients[0].conn.write(frames)
        return len(recipients)
