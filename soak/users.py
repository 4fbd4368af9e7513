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
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import socketio

from .history import (
    Delivered,
    Event,
    ReadAnswered,
    ReadTried,
    SendAnswered,
    SendTried,
    SessionClosed,
    SessionOpened,
    UnreadSeen,
    Via,
)

REQUEST_TIMEOUT_S = 10.0
FILL_PAGES = 10
CONNECT_TIMEOUT_S = 10.0
CONNECT_BACKOFF_S = (0.5, 16.0)
RETRY_PAUSE_S = (0.2, 1.0)
ACTIONS = ("send", "read", "invalid", "switch", "away", "idle")
ACTION_WEIGHTS = (55, 20, 2, 4, 3, 16)


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
        self.client.on("unread_count", self._on_unread)
        self.client.on("resync", self._on_resync)
        self.client.on("disconnect", self._on_disconnect)

    # handlers: plain functions, called in the order the socket received the events
    def _on_message(self, message: dict[str, Any]) -> None:
        self.user.saw(self, message, "live")

    def _on_unread(self, data: dict[str, Any]) -> None:
        self.user.told_unread(self, data["chatId"], int(data["unreadCount"]))

    def _on_resync(self, data: dict[str, Any]) -> None:
        self.resync = True

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
        """chat -> every message up to this seq is known"""
        self.highest: dict[str, int] = {}
        """chat -> the highest seq known (above `synced` when there is a gap to fill)"""
        self.pending: PendingSend | None = None
        self.sends = 0
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
        self.knows(chat, seq)

    def knows(self, chat: str, seq: int) -> None:
        """A message of the chat is known (delivered, or one's own acknowledged)."""
        self.highest[chat] = max(self.highest.get(chat, 0), seq)
        if seq == self.synced.get(chat, 0) + 1:
            self.synced[chat] = seq

    def fetched(self, session: Session, chat: str, messages: list[dict[str, Any]], complete_to: int | None) -> None:
        """A page of every message after `synced` (join or get_messages): all of them known up
        to its last one, or up to `complete_to` when nothing follows."""
        for message in messages:
            self.saw(session, message, "recovery")
        top = max([self.synced.get(chat, 0), complete_to or 0, *(int(m["seq"]) for m in messages)])
        self.synced[chat] = top
        self.highest[chat] = max(self.highest.get(chat, 0), top)

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
                done = None if answer["hasMore"] else int(answer["chat"]["lastSeq"])
                self.fetched(session, chat, answer["messages"], done)
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
                messages = answer["messages"]
                done = None if answer["hasMore"] else max([0, *(int(m["seq"]) for m in messages)])
                self.fetched(session, chat, messages, done)

            after = self.synced.get(chat, 0)
            answer = await session.request(
                "get_messages", {"chatId": chat, "afterSeq": after, "limit": 100}, on_ok=page_given
            )
            if not answer["hasMore"] and self.highest.get(chat, 0) <= self.synced.get(chat, 0):
                return

    # --- actions --------------------------------------------------------------------------------
    async def send(self, session: Session, pending: PendingSend, valid: bool = True) -> None:
        self.run.record(SendTried(self.run.now(), self.name, session.id, pending.chat, pending.cmid, valid))
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
