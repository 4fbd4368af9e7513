"""Simulated users: each one a Socket.IO client (python-socketio) that behaves like the React
hook, and records everything it does and is told into the run's history.

A user recovers the way the hook's reducer does. Per chat it remembers across connections
`synced`: every message up to that seq is known. A live message moves it only when it is the
next one (seq == synced + 1); one further ahead leaves a gap, and a gap is filled with
`get_messages {afterSeq: synced}` before the next action (seqs may have gaps of their own, which
such a fetch settles). After every (re)connect and every `resync` the user asks `join_chat
{sinceSeq: synced}` for each chat (then `get_messages` while `hasMore`). A send that got no
answer, or UNAVAILABLE, is retried with the same clientMessageId until it is acknowledged.
Event handlers and ack callbacks are plain functions, so they record in the order the socket
received them.

Changes (edits, deletes, reactions) take seqs from the chat's counter too, so `synced` counts
them as the hook does: a change seen live (`message_updated`) moves it like a message, and a
recovery answer's `updates` count toward where it stopped (with `hasMore`, at C, the highest of
its messages' seqs and its updates' changeSeqs; without, everything known is complete). Per
message the user keeps the state of the highest changeSeq it was given, which tells it whether
a message of its own is deleted and which reactions are its own. A change whose answer is lost
is not retried: the user moves on, and the checker allows it to have landed or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import socketio

from .history import (
    ChangeAnswered,
    ChangeKind,
    ChangeSeen,
    ChangeTried,
    Delivered,
    Event,
    Reactions,
    ReadAnswered,
    ReadTried,
    Resynced,
    SendAnswered,
    SendTried,
    SessionClosed,
    SessionOpened,
    StateSource,
    UnreadSeen,
    Via,
    reactions_of,
)

REQUEST_TIMEOUT_S = 10.0
FILL_PAGES = 10
CONNECT_TIMEOUT_S = 10.0
CONNECT_BACKOFF_S = (0.5, 16.0)
RETRY_PAUSE_S = (0.2, 1.0)
ACTIONS = ("send", "read", "change", "invalid", "invalid_change", "switch", "away", "idle")
#: sends stay the most common action; about 15 % of actions change a message
ACTION_WEIGHTS = (50, 17, 14, 2, 1, 4, 3, 9)
CHANGES: tuple[ChangeKind, ...] = ("edit", "delete", "react")
CHANGE_WEIGHTS = (35, 10, 55)
EMOJIS = ("👍", "❤️", "😂")
#: changes pick among a chat's latest messages a user knows of, so that users meet on them
RECENT_MESSAGES = 30


class Run(Protocol):
    """What a user needs of the runner."""

    stopping: bool

    def now(self) -> float: ...
    def record(self, event: Event) -> None: ...
    def token(self, user: str) -> str: ...
    def pick_node(self, rng: random.Random) -> tuple[int, str] | None: ...


class Lost(Exception):
    """The session's connection is gone (or an answer did not come in time)."""


class Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(slots=True)
class PendingSend:
    chat: str
    cmid: str
    content: str


@dataclass(frozen=True, slots=True)
class MessageState:
    """A message's state as a message object of the protocol carries it."""

    chat: str
    message_id: str
    seq: int
    sender: str
    change_seq: int
    content: str
    deleted: bool
    reactions: Reactions

    @classmethod
    def of(cls, message: dict[str, Any]) -> MessageState:
        seq = int(message["seq"])
        return cls(
            message["chatId"],
            message["id"],
            seq,
            message["senderId"],
            max(seq, int(message.get("changeSeq") or seq)),
            message["content"],
            bool(message.get("deleted")),
            reactions_of((r["emoji"], r["userIds"]) for r in message.get("reactions") or ()),
        )

    def reacted(self, user: str) -> frozenset[str]:
        return frozenset(emoji for emoji, users in self.reactions if user in users)


@dataclass(slots=True)
class ChangeRequest:
    """One change a user is about to try."""

    chat: str
    message_id: str
    kind: ChangeKind
    content: str | None = None
    emoji: str | None = None
    add: bool | None = None
    expect: str | None = None

    def event(self) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"chatId": self.chat, "messageId": self.message_id}
        if self.kind == "edit":
            return "edit_message", {**payload, "content": self.content}
        if self.kind == "delete":
            return "delete_message", payload
        return "react", {**payload, "emoji": self.emoji, "add": self.add}


@dataclass(slots=True)
class Known:
    """Per chat, the ids of the messages a user knows of (oldest first), and per message the
    state of the highest changeSeq it was given."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    states: dict[str, MessageState] = field(default_factory=dict)

    def learn(self, state: MessageState) -> None:
        held = self.states.get(state.message_id)
        if held is None:
            self.ids.setdefault(state.chat, []).append(state.message_id)
        if held is None or state.change_seq > held.change_seq:
            self.states[state.message_id] = state

    def recent(self, chat: str) -> list[MessageState]:
        return [self.states[i] for i in self.ids.get(chat, [])[-RECENT_MESSAGES:]]


class Session:
    """One connection: its client, its id in the history, and whether it is still up."""

    def __init__(self, user: SimUser, number: int, node: int) -> None:
        self.user = user
        self.id = f"{user.name}#{number}"
        self.node = node
        self.client = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        self.closed = asyncio.Event()
        self.resync = False
        self.client.on("new_message", self._on_message)
        self.client.on("message_updated", self._on_updated)
        self.client.on("unread_count", self._on_unread)
        self.client.on("resync", self._on_resync)
        self.client.on("disconnect", self._on_disconnect)

    # handlers: plain functions, called in the order the socket received the events
    def _on_message(self, message: dict[str, Any]) -> None:
        self.user.saw(self, message, "live")

    def _on_updated(self, data: dict[str, Any]) -> None:
        self.user.saw_state(self, data["message"], "message_updated")
        self.user.knows(data["chatId"], int(data["seq"]))

    def _on_unread(self, data: dict[str, Any]) -> None:
        self.user.told_unread(self, data["chatId"], int(data["unreadCount"]))

    def _on_resync(self, data: dict[str, Any]) -> None:
        self.resync = True
        self.user.run.record(Resynced(self.user.run.now(), self.user.name, self.id))

    def _on_disconnect(self, reason: object = None) -> None:
        self.closed.set()

    async def request(
        self, event: str, data: dict[str, Any], on_ok: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Emit with an ack; `on_ok` runs in the receive order, before later events are handled.
        Raises Lost (no answer) or Refused (an error answer)."""
        if self.closed.is_set():
            raise Lost("closed")
        answered: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def on_answer(answer: dict[str, Any]) -> None:
            if answer.get("ok") and on_ok is not None:
                on_ok(answer)
            if not answered.done():
                answered.set_result(answer)

        try:
            await self.client.emit(event, data, callback=on_answer)
        except Exception as error:  # python-socketio raises its own errors for a dead socket
            raise Lost(repr(error)) from error
        closed: asyncio.Future[Any] = asyncio.ensure_future(self.closed.wait())
        waiting: set[asyncio.Future[Any]] = {answered, closed}
        try:
            done, _ = await asyncio.wait(waiting, timeout=REQUEST_TIMEOUT_S, return_when="FIRST_COMPLETED")
        finally:
            closed.cancel()
        if answered not in done:
            raise Lost("no answer")
        answer = answered.result()
        if not answer.get("ok"):
            raise Refused(str(answer.get("error", {}).get("code")))
        return answer

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.disconnect(), 5)
        self.closed.set()


class SimUser:
    def __init__(self, name: str, chats: list[str], run: Run, seed: int, think_s: float) -> None:
        self.name = name
        self.chats = chats
        self.run = run
        self.rng = random.Random(f"{seed}-{name}")
        self.think_s = think_s
        self.synced: dict[str, int] = {}
        """chat -> every message and change up to this seq is known"""
        self.highest: dict[str, int] = {}
        """chat -> the highest seq known (above `synced` when there is a gap to fill)"""
        self.ahead: dict[str, set[int]] = {}
        """chat -> seqs known above `synced` (messages and changes): it moves over them"""
        self.known = Known()
        self.pending: PendingSend | None = None
        self.sends = 0
        self.changes = 0
        self.sessions = 0
        self.session: Session | None = None

    # --- what the sockets report ----------------------------------------------------------------
    def saw(self, session: Session, message: dict[str, Any], via: Via) -> None:
        chat, seq = message["chatId"], int(message["seq"])
        self.run.record(
            Delivered(
                self.run.now(),
                self.name,
                session.id,
                chat,
                message["id"],
                seq,
                message["senderId"],
                message["clientMessageId"],
                via,
            )
        )
        state = MessageState.of(message)
        if state.change_seq > seq:  # given in a changed state
            self.saw_state(session, message, "new_message" if via == "live" else "messages")
        self.known.learn(state)
        self.knows(chat, seq)

    def saw_state(self, session: Session, message: dict[str, Any], source: StateSource) -> None:
        """A message's state given by message_updated or recovery (its changes)."""
        state = MessageState.of(message)
        self.run.record(
            ChangeSeen(
                self.run.now(),
                self.name,
                session.id,
                state.chat,
                state.message_id,
                state.seq,
                state.change_seq,
                state.content,
                state.deleted,
                state.reactions,
                source,
            )
        )
        self.known.learn(state)

    def knows(self, chat: str, seq: int) -> None:
        """A seq of the chat is known (a message delivered or one's own acknowledged, a change
        seen live or acknowledged): `synced` moves over the seqs known just above it."""
        self.highest[chat] = max(self.highest.get(chat, 0), seq)
        synced = self.synced.get(chat, 0)
        if seq <= synced:
            return
        ahead = self.ahead.setdefault(chat, set())
        ahead.add(seq)
        while synced + 1 in ahead:
            synced += 1
            ahead.discard(synced)
        self.synced[chat] = synced

    def fetched(self, session: Session, chat: str, answer: dict[str, Any], last_seq: int | None = None) -> None:
        """A recovery answer (join_chat {sinceSeq} or get_messages {afterSeq}): its messages and
        its updates are known. With hasMore it stopped at C, the highest of its messages' seqs and
        its updates' changeSeqs; without, everything known of the chat is complete (up to the
        chat's `last_seq` when the answer tells it)."""
        messages, updates = answer["messages"], answer.get("updates") or []
        for message in messages:
            self.saw(session, message, "recovery")
        for message in updates:
            self.saw_state(session, message, "updates")
        seqs = [int(m["seq"]) for m in messages]
        update_seqs = [MessageState.of(m).change_seq for m in updates]
        if answer["hasMore"]:
            top = max([self.synced.get(chat, 0), *seqs, *update_seqs])
        else:
            message_change_seqs = [MessageState.of(m).change_seq for m in messages]
            known = [self.synced.get(chat, 0), self.highest.get(chat, 0), last_seq or 0]
            top = max([*known, *seqs, *update_seqs, *message_change_seqs])
        self.settled_at(chat, top)

    def settled_at(self, chat: str, top: int) -> None:
        """Every message and change of the chat up to `top` is known."""
        self.synced[chat] = max(self.synced.get(chat, 0), top)
        self.highest[chat] = max(self.highest.get(chat, 0), top)
        ahead = self.ahead.get(chat)
        if ahead:
            self.ahead[chat] = {seq for seq in ahead if seq > top}

    def gaps(self) -> list[str]:
        return [chat for chat in self.chats if self.highest.get(chat, 0) > self.synced.get(chat, 0)]

    def told_unread(self, session: Session, chat: str, count: int) -> None:
        self.run.record(UnreadSeen(self.run.now(), self.name, session.id, chat, count))

    # --- connection -----------------------------------------------------------------------------
    async def connect(self, deadline: float | None = None) -> Session | None:
        """Connect to a node that is up (retrying until one takes us), then recover and retry
        the pending send. Failed attempts back off (doubling, jittered, up to CONNECT_BACKOFF_S[1]):
        every attempt costs the nodes store work even when the client gives up on it, so users
        retrying at a fixed pace against a slow store keep it slow. Without a deadline (while
        chatting) None once the run is stopping."""
        pause = CONNECT_BACKOFF_S[0]
        while True:
            if deadline is None and self.run.stopping:
                return None
            picked = self.run.pick_node(self.rng)
            if picked is not None:
                node, url = picked
                self.sessions += 1
                session = Session(self, self.sessions, node)
                try:
                    await session.client.connect(
                        url,
                        auth={"token": self.run.token(self.name)},
                        transports=["websocket"],
                        wait_timeout=CONNECT_TIMEOUT_S,
                    )
                except Exception:
                    await session.close()
                else:
                    self.session = session
                    self.run.record(SessionOpened(self.run.now(), self.name, session.id, node))
                    try:
                        await self.recover(session)
                        await self.retry_pending(session)
                    except (Lost, Refused) as error:
                        await self.drop(f"lost during recovery: {error!r}")
                        continue
                    return session
            if deadline is not None and self.run.now() > deadline:
                raise TimeoutError(f"{self.name} could not connect")
            await asyncio.sleep(self.rng.uniform(pause / 2, pause))
            pause = min(pause * 2, CONNECT_BACKOFF_S[1])

    async def drop(self, reason: str) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()
            self.run.record(SessionClosed(self.run.now(), self.name, session.id, reason))

    async def recover(self, session: Session) -> None:
        """What the hook does after a (re)connect or a resync: every missed message of every chat."""
        session.resync = False
        for chat in self.chats:

            def joined(answer: dict[str, Any], chat: str = chat) -> None:
                self.fetched(session, chat, answer, int(answer["chat"]["lastSeq"]))
                self.told_unread(session, chat, int(answer["chat"]["unreadCount"]))

            since = self.synced.get(chat, 0)
            answer = await session.request("join_chat", {"chatId": chat, "sinceSeq": since}, on_ok=joined)
            if answer["hasMore"]:
                await self.fill(session, chat)
        for chat in self.gaps():
            await self.fill(session, chat)

    async def fill(self, session: Session, chat: str) -> None:
        """get_messages {afterSeq: synced} until nothing follows (a gap still open after a few
        pages is tried again before the next action)."""
        for _ in range(FILL_PAGES):

            def page_given(answer: dict[str, Any]) -> None:
                self.fetched(session, chat, answer)

            after = self.synced.get(chat, 0)
            answer = await session.request(
                "get_messages", {"chatId": chat, "afterSeq": after, "limit": 100}, on_ok=page_given
            )
            if not answer["hasMore"] and self.highest.get(chat, 0) <= self.synced.get(chat, 0):
                return

    # --- actions --------------------------------------------------------------------------------
    async def send(self, session: Session, pending: PendingSend, valid: bool = True) -> None:
        tried = SendTried(self.run.now(), self.name, session.id, pending.chat, pending.cmid, valid, pending.content)
        self.run.record(tried)
        payload = {"chatId": pending.chat, "content": pending.content, "clientMessageId": pending.cmid}

        def acked(answer: dict[str, Any]) -> None:
            message = answer["message"]
            self.run.record(
                SendAnswered(
                    self.run.now(),
                    self.name,
                    session.id,
                    pending.chat,
                    pending.cmid,
                    True,
                    message["id"],
                    int(message["seq"]),
                )
            )
            self.known.learn(MessageState.of(message))
            self.knows(pending.chat, int(message["seq"]))

        try:
            await session.request("send_message", payload, on_ok=acked)
        except Refused as refusal:
            refused = SendAnswered(
                self.run.now(), self.name, session.id, pending.chat, pending.cmid, False, code=refusal.code
            )
            self.run.record(refused)
            raise

    async def retry_pending(self, session: Session) -> None:
        while self.pending is not None:
            try:
                await self.send(session, self.pending)
                self.pending = None
            except Refused as refusal:
                if refusal.code not in ("UNAVAILABLE", "RATE_LIMITED", "INTERNAL"):
                    raise AssertionError(f"{self.name}'s valid send was refused: {refusal.code}") from refusal
                await asyncio.sleep(self.rng.uniform(*RETRY_PAUSE_S))

    async def act(self, session: Session) -> None:
        action = self.rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        chat = self.rng.choice(self.chats)
        if action == "send":
            self.sends += 1
            self.pending = PendingSend(chat, f"{self.name}-{self.sends}", f"{self.name} says {self.sends}")
            await self.retry_pending(session)
        elif action == "invalid":
            self.sends += 1
            with contextlib.suppress(Refused):
                await self.send(session, PendingSend(chat, f"{self.name}-{self.sends}", "   "), valid=False)
        elif action == "change":
            request = self.pick_change(chat)
            if request is not None:
                await self.change(session, request)
        elif action == "invalid_change":
            await self.change(session, self.pick_invalid_change(chat))
        elif action == "read" and self.highest.get(chat):
            up_to = self.highest[chat]
            self.run.record(ReadTried(self.run.now(), self.name, session.id, chat, up_to))
            await session.request(
                "mark_messages_read", {"chatId": chat, "upToSeq": up_to}, on_ok=lambda a: self._read(session, chat, a)
            )
        elif action == "switch":
            await self.drop("switching node")
        elif action == "away":
            await self.drop("going away")
            await asyncio.sleep(self.rng.uniform(0.5, 3.0))

    def pick_change(self, chat: str) -> ChangeRequest | None:
        """Edit or delete one of one's own acknowledged messages (not deleted as far as one
        knows), or toggle a reaction on a message of the chat; None when there is none."""
        kind = self.rng.choices(CHANGES, CHANGE_WEIGHTS)[0]
        alive = [state for state in self.known.recent(chat) if not state.deleted]
        if kind == "react":
            if not alive:
                return None
            target = self.rng.choice(alive)
            emoji = self.rng.choice(EMOJIS)
            add = emoji not in target.reacted(self.name)
            return ChangeRequest(chat, target.message_id, "react", emoji=emoji, add=add)
        own = [state for state in alive if state.sender == self.name]
        if not own:
            return None
        target = self.rng.choice(own)
        if kind == "delete":
            return ChangeRequest(chat, target.message_id, "delete")
        return ChangeRequest(chat, target.message_id, "edit", content=f"{self.name} edits {self.changes + 1}")

    def pick_invalid_change(self, chat: str) -> ChangeRequest:
        """A change the protocol refuses: editing or deleting someone else's message
        (FORBIDDEN), or changing a message id the chat does not have (NOT_FOUND)."""
        others = [state for state in self.known.recent(chat) if state.sender != self.name]
        if others and self.rng.random() < 0.6:
            target = self.rng.choice(others)
            if self.rng.random() < 0.5:
                return ChangeRequest(chat, target.message_id, "delete", expect="FORBIDDEN")
            content = f"{self.name} edits {self.changes + 1}"
            return ChangeRequest(chat, target.message_id, "edit", content=content, expect="FORBIDDEN")
        unknown = f"{self.name}-nosuch-{self.changes + 1}"
        if self.rng.random() < 0.5:
            return ChangeRequest(chat, unknown, "react", emoji=self.rng.choice(EMOJIS), add=True, expect="NOT_FOUND")
        return ChangeRequest(chat, unknown, "edit", content=f"{self.name} edits {self.changes + 1}", expect="NOT_FOUND")

    async def change(self, session: Session, request: ChangeRequest) -> None:
        """Try a change once and record its answer; a refusal is recorded and the user goes on,
        a lost answer (Lost) is recorded by its missing answer and ends the session."""
        self.changes += 1
        ref = f"{self.name}-c{self.changes}"
        now, chat, message_id = self.run.now(), request.chat, request.message_id
        self.run.record(
            ChangeTried(
                now,
                self.name,
                session.id,
                chat,
                message_id,
                ref,
                request.kind,
                request.content,
                request.emoji,
                request.add,
                request.expect,
            )
        )

        def acked(answer: dict[str, Any]) -> None:
            state = MessageState.of(answer["message"])
            self.run.record(
                ChangeAnswered(
                    self.run.now(),
                    self.name,
                    session.id,
                    chat,
                    message_id,
                    ref,
                    True,
                    state.change_seq,
                    state.content,
                    state.deleted,
                    state.reactions,
                )
            )
            self.known.learn(state)
            self.knows(chat, state.change_seq)

        event, payload = request.event()
        try:
            await session.request(event, payload, on_ok=acked)
        except Refused as refusal:
            self.run.record(
                ChangeAnswered(self.run.now(), self.name, session.id, chat, message_id, ref, False, code=refusal.code)
            )

    def _read(self, session: Session, chat: str, answer: dict[str, Any]) -> None:
        self.run.record(ReadAnswered(self.run.now(), self.name, session.id, chat, int(answer["readSeq"])))
        self.told_unread(session, chat, int(answer["unreadCount"]))

    async def live(self) -> None:
        """Act until the run stops; a lost connection is a reconnect, never an end."""
        while not self.run.stopping:
            session = self.session
            try:
                if session is None or session.closed.is_set():
                    if session is not None:
                        await self.drop("connection lost")
                    session = await self.connect()
                    if session is None:
                        return
                if session.resync:
                    await self.recover(session)
                for chat in self.gaps():
                    await self.fill(session, chat)
                await self.act(session)
            except (Lost, Refused) as error:
                await self.drop(f"request failed: {error!r}")
            await asyncio.sleep(self.rng.expovariate(1 / self.think_s))

    async def settle(self, deadline: float) -> None:
        """After the run: connected, recovered, and every send acknowledged."""
        while True:
            session = self.session
            try:
                if session is None or session.closed.is_set():
                    if session is not None:
                        await self.drop("connection lost")
                    session = await self.connect(deadline)
                    assert session is not None  # with a deadline it connects or raises
                if session.resync:
                    await self.recover(session)
                await self.retry_pending(session)
                for chat in self.gaps():
                    await self.fill(session, chat)
                return
            except (Lost, Refused) as error:
                await self.drop(f"request failed: {error!r}")
                if self.run.now() > deadline:
                    raise TimeoutError(f"{self.name} did not settle") from error
