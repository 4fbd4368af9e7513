"""What a soak run records: every client's sends, answers, deliveries and sessions, the faults
injected, and the final state read back from the store. The checker (checker.py) judges it.

Times are seconds since the run started (`time.monotonic()` of the runner). A session is one
Socket.IO connection of one simulated user: `<user>#<n>`.

A message's state after changes (edits, deletes, reactions) is its `changeSeq`, `content`,
`deleted` flag and reactions, the latter as `((emoji, (userId, ...)), ...)` sorted by emoji with
sorted user ids (`Reactions`), whatever order the server listed them in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

Via = Literal["live", "recovery"]
ChangeKind = Literal["edit", "delete", "react"]
Reactions: TypeAlias = tuple[tuple[str, tuple[str, ...]], ...]
StateSource = Literal["message_updated", "updates", "messages", "new_message"]
"""Where a session was given a message's state: the live event, a recovery answer's `updates`
or `messages`, or a live `new_message` that carried a changed state."""


@dataclass(frozen=True, slots=True)
class SessionOpened:
    t: float
    user: str
    session: str
    node: int


@dataclass(frozen=True, slots=True)
class SessionClosed:
    t: float
    user: str
    session: str
    reason: str


@dataclass(frozen=True, slots=True)
class SendTried:
    """One attempt of `send_message` (a retry after a lost answer is another attempt, same cmid)."""

    t: float
    user: str
    session: str
    chat: str
    cmid: str
    valid: bool
    content: str = ""


@dataclass(frozen=True, slots=True)
class SendAnswered:
    """The ack of an attempt: ok with the stored message, or refused with a code."""

    t: float
    user: str
    session: str
    chat: str
    cmid: str
    ok: bool
    message_id: str | None = None
    seq: int | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """A message a session was given: live (`new_message`) or by recovery (join/get_messages)."""

    t: float
    user: str
    session: str
    chat: str
    message_id: str
    seq: int
    sender: str
    cmid: str
    via: Via


@dataclass(frozen=True, slots=True)
class ChangeTried:
    """One `edit_message`, `delete_message` or `react` request (`ref` names it for its answer).

    content: the edit's new content; emoji and add: the reaction's. expect: None for a change
    meant to be valid, else the error code the protocol answers it (editing someone else's
    message: FORBIDDEN; an unknown message id: NOT_FOUND). No answer recorded: it was lost."""

    t: float
    user: str
    session: str
    chat: str
    message_id: str
    ref: str
    kind: ChangeKind
    content: str | None = None
    emoji: str | None = None
    add: bool | None = None
    expect: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeAnswered:
    """The ack of a change: ok with the message's state it carries, or refused with a code."""

    t: float
    user: str
    session: str
    chat: str
    message_id: str
    ref: str
    ok: bool
    change_seq: int | None = None
    content: str | None = None
    deleted: bool | None = None
    reactions: Reactions = ()
    code: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeSeen:
    """A message's state a session was given (see StateSource)."""

    t: float
    user: str
    session: str
    chat: str
    message_id: str
    seq: int
    change_seq: int
    content: str
    deleted: bool
    reactions: Reactions
    source: StateSource


@dataclass(frozen=True, slots=True)
class Resynced:
    """The session was sent `resync` (its node may have missed fan-out): it recovers."""

    t: float
    user: str
    session: str


@dataclass(frozen=True, slots=True)
class UnreadSeen:
    """An unread count the session was told (`unread_count`, or a join/read/info answer)."""

    t: float
    user: str
    session: str
    chat: str
    count: int


@dataclass(frozen=True, slots=True)
class ReadTried:
    t: float
    user: str
    session: str
    chat: str
    up_to_seq: int


@dataclass(frozen=True, slots=True)
class ReadAnswered:
    t: float
    user: str
    session: str
    chat: str
    read_seq: int


@dataclass(frozen=True, slots=True)
class PresenceSeen:
    """After the run: what `get_active_users` told `observer` about `user`."""

    t: float
    observer: str
    session: str
    user: str
    online: bool


@dataclass(frozen=True, slots=True)
class FaultInjected:
    t: float
    kind: str
    target: str
    detail: str = ""


Event: TypeAlias = (
    SessionOpened
    | SessionClosed
    | SendTried
    | SendAnswered
    | Delivered
    | ChangeTried
    | ChangeAnswered
    | ChangeSeen
    | Resynced
    | UnreadSeen
    | ReadTried
    | ReadAnswered
    | PresenceSeen
    | FaultInjected
)
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        SessionOpened,
        SessionClosed,
        SendTried,
        SendAnswered,
        Delivered,
        ChangeTried,
        ChangeAnswered,
        ChangeSeen,
        Resynced,
        UnreadSeen,
        ReadTried,
        ReadAnswered,
        PresenceSeen,
        FaultInjected,
    )
}


def reactions_of(entries: Iterable[tuple[str, Iterable[str]]]) -> Reactions:
    """Reactions in the history's one order (by emoji, user ids sorted), empty emojis dropped."""
    return tuple(sorted((emoji, tuple(sorted(users))) for emoji, users in entries if users))


def _event_from(kind: str, record: dict[str, Any]) -> Event:
    if "reactions" in record:  # JSON made the tuples lists
        record["reactions"] = reactions_of(record["reactions"])
    return EVENT_TYPES[kind](**record)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as the store holds it at the end. change_seq 0 stands for its own seq (never
    changed); `changed_at` reads it."""

    chat: str
    message_id: str
    seq: int
    sender: str
    cmid: str
    change_seq: int = 0
    content: str = ""
    deleted: bool = False
    reactions: Reactions = ()

    @property
    def changed_at(self) -> int:
        return max(self.seq, self.change_seq)


@dataclass(slots=True)
class FinalState:
    """Read after the run, with every fault healed and every client settled.

    stored: each chat's messages as the store holds them (seq order).
    members: each chat's members. read_marks: (user, chat) -> the stored read mark.
    server_unread: (user, chat) -> unreadCount the server answered the user's final session.
    final_sessions: user -> their session at the end (every user has one).
    expected_online: users who had a connection open when presence was read.
    """

    stored: dict[str, list[StoredMessage]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    read_marks: dict[tuple[str, str], int] = field(default_factory=dict)
    server_unread: dict[tuple[str, str], int] = field(default_factory=dict)
    final_sessions: dict[str, str] = field(default_factory=dict)
    expected_online: set[str] = field(default_factory=set)


@dataclass(slots=True)
class History:
    seed: int
    events: list[Event] = field(default_factory=list)
    final: FinalState = field(default_factory=FinalState)

    def add(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> Iterable[Event]:
        return (event for event in self.events if type(event) is kind)

    # --- files: one JSON object per line, the final state last ------------------------------------
    def dump(self, path: Path) -> None:
        with path.open("w") as out:
            out.write(json.dumps({"type": "Run", "seed": self.seed}) + "\n")
            for event in self.events:
                out.write(json.dumps({"type": type(event).__name__, **asdict(event)}) + "\n")
            final = self.final
            out.write(
                json.dumps(
                    {
                        "type": "Final",
                        "stored": {chat: [asdict(m) for m in ms] for chat, ms in final.stored.items()},
                        "members": final.members,
                        "read_marks": [[u, c, s] for (u, c), s in final.read_marks.items()],
                        "server_unread": [[u, c, n] for (u, c), n in final.server_unread.items()],
                        "final_sessions": final.final_sessions,
                        "expected_online": sorted(final.expected_online),
                    }
                )
                + "\n"
            )

    @classmethod
    def load(cls, path: Path) -> History:
        history = cls(seed=0)
        for line in path.read_text().splitlines():
            record = json.loads(line)
            kind = record.pop("type")
            if kind == "Run":
                history.seed = int(record["seed"])
            elif kind == "Final":
                history.final = FinalState(
                    stored={c: [_stored_from(m) for m in ms] for c, ms in record["stored"].items()},
                    members=record["members"],
                    read_marks={(u, c): s for u, c, s in record["read_marks"]},
                    server_unread={(u, c): n for u, c, n in record["server_unread"]},
                    final_sessions=record["final_sessions"],
                    expected_online=set(record["expected_online"]),
                )
            else:
                history.events.append(_event_from(kind, record))
        return history


def _stored_from(record: dict[str, Any]) -> StoredMessage:
    record["reactions"] = reactions_of(record.get("reactions", ()))
    return StoredMessage(**record)


def describe(event: Event) -> str:
    """One line of a history excerpt."""
    fields = " ".join(f"{k}={v}" for k, v in asdict(event).items() if k != "t" and v is not None)
    return f"{event.t:9.3f}s {type(event).__name__} {fields}"
