"""Emit a chat's messages in seq order while their writes overlap.

Sends to one chat do not queue behind each other's store round trips: each takes a ticket, gets
its seq from the store, writes, then waits for its turn and emits. A ticket's turn comes when
every ticket of this node that is, or may be, before it in seq order has emitted or given up:

- a ticket with a smaller seq, and
- a ticket still waiting for its seq that began before this one's seq was known (the store hands
  seqs out in the order requests reach it, so one that began later gets a larger seq).

A ticket whose store work takes longer than `timeout_s` stops holding others back (a failed or
hung write must not stall the chat); if it does finish later it emits at once, out of order,
which clients handle since they order by seq anyway. Tickets of other nodes are not known here:
order holds per node, as the protocol says (a message through another node may overtake).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

WAITING, READY, EMITTING = range(3)


class Ticket:
    __slots__ = ("_order", "blockers", "chat_id", "deadline", "seq", "state", "turn_granted")

    def __init__(self, order: SendOrder, chat_id: str, deadline: float) -> None:
        self._order = order
        self.chat_id = chat_id
        self.deadline = deadline
        self.seq: int | None = None
        self.state = WAITING
        self.blockers: tuple[Ticket, ...] = ()
        self.turn_granted: asyncio.Future[None] | None = None

    def assign(self, seq: int) -> None:
        """The store handed out this ticket's seq (called again with the same seq: no-op)."""
        if self.seq is None:
            self.seq = seq
            self.blockers = tuple(t for t in self._order.tickets(self.chat_id) if t.seq is None and t is not self)
            self._order.advance(self.chat_id)

    async def turn(self) -> None:
        """Wait until this ticket may emit (its write is done and its seq is assigned)."""
        assert self.seq is not None, "assign the seq before waiting for the turn"
        self.state = READY
        if self._order.may_emit(self):
            self.state = EMITTING
            return
        loop = asyncio.get_running_loop()
        self.turn_granted = loop.create_future()
        self._order.advance(self.chat_id)
        await self.turn_granted

    def finish(self) -> None:
        """Emitted, or given up (write failed, repeat, cancelled): others stop waiting for it."""
        self._order.remove(self)


class SendOrder:
    def __init__(self, timeout_s: float, clock: Callable[[], float] | None = None) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._chats: dict[str, list[Ticket]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def begin(self, chat_id: str) -> Ticket:
        ticket = Ticket(self, chat_id, self._now() + self.timeout_s)
        self._chats.setdefault(chat_id, []).append(ticket)
        return ticket

    def tickets(self, chat_id: str) -> list[Ticket]:
        return self._chats.get(chat_id, [])

    def pending(self) -> int:
        return sum(len(t) for t in self._chats.values())

    def remove(self, ticket: Ticket) -> None:
        tickets = self._chats.get(ticket.chat_id)
        if tickets is None or ticket not in tickets:
            return
        tickets.remove(ticket)
        if ticket.turn_granted is not None and not ticket.turn_granted.done():
            ticket.turn_granted.cancel()
        if not tickets:
            del self._chats[ticket.chat_id]
            timer = self._timers.pop(ticket.chat_id, None)
            if timer is not None:
                timer.cancel()
            return
        self.advance(ticket.chat_id)

    def _holds_back(self, other: Ticket, ticket: Ticket, now: float) -> bool:
        """Whether `other` must emit or give up before `ticket` emits."""
        if other is ticket:
            return False
        assert ticket.seq is not None
        before = other.seq < ticket.seq if other.seq is not None else other in ticket.blockers
        if not before:
            return False
        # a ticket still in its store work holds others back until its deadline
        return other.state != WAITING or now < other.deadline

    def may_emit(self, ticket: Ticket) -> bool:
        now = self._now()
        return not any(self._holds_back(other, ticket, now) for other in self.tickets(ticket.chat_id))

    def advance(self, chat_id: str) -> None:
        """Grant the turn to the ready tickets that may emit now; set a timer for a deadline that
        would let more go."""
        tickets = self._chats.get(chat_id)
        if not tickets:
            return
        # an emitting ticket holds back every later one until its finish() comes back here
        now = self._now()
        for ticket in sorted((t for t in tickets if t.state == READY), key=lambda t: t.seq or 0):
            if ticket.turn_granted is None or ticket.turn_granted.done():
                continue
            if any(self._holds_back(other, ticket, now) for other in tickets):
                continue
            ticket.state = EMITTING
            ticket.turn_granted.set_result(None)
        self._watch_deadlines(chat_id, tickets, now)

    def _watch_deadlines(self, chat_id: str, tickets: list[Ticket], now: float) -> None:
        timer = self._timers.pop(chat_id, None)
        if timer is not None:
            timer.cancel()
        waiting_for_turn = any(t.state == READY and t.turn_granted is not None for t in tickets)
        if not waiting_for_turn:
            return
        deadlines = [t.deadline for t in tickets if t.state == WAITING and t.deadline > now]
        if deadlines:
            loop = asyncio.get_running_loop()
            self._timers[chat_id] = loop.call_later(min(deadlines) - now, self.advance, chat_id)
