"""Emit a chat's messages in seq order while their writes overlap.

Sends to one chat do not queue behind each other's store round trips: each takes a ticket, gets
its seq from the store, writes, then waits for its turn and emits. A ticket's turn comes when
every ticket of this node that is, or may be, before it in seq order has emitted or given up:

- a ticket with a smaller seq, and
- a ticket still waiting for its seq that began before this one's seq was known (the store hands
  seqs out in the order requests reach it, so one that began later gets a larger seq); with a
  store that hands seqs out in call order (SQLite), only one that began before this one.

One ticket emits at a time per chat. A ticket whose store work takes longer than `timeout_s`
stops holding others back (a failed or hung write must not stall the chat); if it does finish
later it emits at once, out of order, which clients handle since they order by seq anyway.
Tickets of other nodes are not known here: order holds per node, as the protocol says (a message
through another node may overtake).

Every step is O(log n) in the tickets in flight: a hot chat has hundreds of them at once.
"""

from __future__ import annotations

import asyncio
import heapq

WAITING, READY, EMITTING, FINISHED = range(4)


class Ticket:
    __slots__ = ("_chat", "assign_mark", "begin_no", "deadline", "late", "seq", "state", "turn_granted")

    def __init__(self, chat: _ChatOrder, begin_no: int, deadline: float) -> None:
        self._chat = chat
        self.begin_no = begin_no
        self.deadline = deadline
        self.seq: int | None = None
        self.assign_mark = 0
        """Tickets that began before this seq was known have a smaller begin_no."""
        self.state = WAITING
        self.late = False
        """Passed its deadline before its turn: no longer ordered, emits as soon as it can."""
        self.turn_granted: asyncio.Future[None] | None = None

    def assign(self, seq: int) -> None:
        """The store handed out this ticket's seq (called again with the same seq: no-op)."""
        if self.seq is None and self.state != FINISHED:
            self.seq = seq
            self._chat.assigned(self)

    async def turn(self) -> None:
        """Wait until this ticket may emit (its seq is assigned and its write is done)."""
        assert self.seq is not None, "assign the seq before waiting for the turn"
        self.state = READY
        if self.late:
            self.state = EMITTING
            return
        self._chat.advance()
        if self.state == EMITTING:
            return
        self.turn_granted = asyncio.get_running_loop().create_future()
        await self.turn_granted

    def finish(self) -> None:
        """Emitted, or given up (write failed, repeat, cancelled): others stop waiting for it."""
        if self.state != FINISHED:
            self._chat.finished(self)


class _ChatOrder:
    def __init__(self, order: SendOrder, chat_id: str) -> None:
        self._order = order
        self.chat_id = chat_id
        self.live = 0
        self.unassigned: dict[int, Ticket] = {}
        """By begin_no, in begin order (so in deadline order too)."""
        self.by_seq: list[tuple[int, int, Ticket]] = []
        """Assigned tickets that still take part in the order: a heap on seq."""
        self.emitting: Ticket | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    def assigned(self, ticket: Ticket) -> None:
        self.unassigned.pop(ticket.begin_no, None)
        # a store that hands seqs out in call order gives a smaller seq only to earlier tickets
        ticket.assign_mark = ticket.begin_no if self._order.seqs_in_call_order else self._order.begun
        if not ticket.late:
            assert ticket.seq is not None
            heapq.heappush(self.by_seq, (ticket.seq, ticket.begin_no, ticket))
        self.advance()

    def finished(self, ticket: Ticket) -> None:
        ticket.state = FINISHED
        self.live -= 1
        self.unassigned.pop(ticket.begin_no, None)
        if ticket.turn_granted is not None and not ticket.turn_granted.done():
            ticket.turn_granted.cancel()
        if self.emitting is ticket:
            self.emitting = None
        if self.live == 0:
            self._order.forget(self)
        else:
            self.advance()

    def _first_unassigned(self, now: float) -> Ticket | None:
        """The earliest-begun ticket still waiting for its seq and not past its deadline; those
        past it are marked late on the way."""
        while self.unassigned:
            begin_no = next(iter(self.unassigned))
            ticket = self.unassigned[begin_no]
            if now < ticket.deadline:
                return ticket
            ticket.late = True
            del self.unassigned[begin_no]
        return None

    def advance(self) -> None:
        """Grant the turn to the next ticket if nothing before it is pending; otherwise wake up
        at the deadline that would let it go."""
        if self.emitting is not None:
            return
        now = self._order.now()
        wake_at: float | None = None
        while self.by_seq:
            head = self.by_seq[0][2]
            if head.state == FINISHED or head.late:
                heapq.heappop(self.by_seq)
                continue
            if head.state == WAITING:  # its write is in flight
                if now < head.deadline:
                    wake_at = head.deadline
                    break
                head.late = True
                heapq.heappop(self.by_seq)
                continue
            first = self._first_unassigned(now)
            if first is not None and first.begin_no < head.assign_mark:
                wake_at = first.deadline  # it may still get a smaller seq
                break
            heapq.heappop(self.by_seq)
            head.state = EMITTING
            self.emitting = head
            if head.turn_granted is not None and not head.turn_granted.done():
                head.turn_granted.set_result(None)
            break
        self._wake_at(wake_at, now)

    def _wake_at(self, when: float | None, now: float) -> None:
        """Make sure advance() runs again by `when`. A timer already due by then is kept (one
        that fires with nothing to do costs an idle advance, rescheduling costs every step)."""
        if when is None or (self.timer is not None and self.timer_at <= when):
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = when
        self.timer = asyncio.get_running_loop().call_later(max(0.0, when - now), self._fire)

    def _fire(self) -> None:
        self.timer = None
        self.advance()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class SendOrder:
    def __init__(self, timeout_s: float, *, seqs_in_call_order: bool = False) -> None:
        """seqs_in_call_order: the store hands seqs out in the order append_message is called
        (SQLite's single writer); a ticket then waits only for tickets that began before it."""
        self.timeout_s = timeout_s
        self.seqs_in_call_order = seqs_in_call_order
        self._chats: dict[str, _ChatOrder] = {}
        self.begun = 0
        """How many tickets have begun (the next ticket's begin_no)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def begin(self, chat_id: str) -> Ticket:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _ChatOrder(self, chat_id)
        number = self.begun
        self.begun += 1
        ticket = Ticket(chat, number, self.now() + self.timeout_s)
        chat.unassigned[number] = ticket
        chat.live += 1
        return ticket

    def forget(self, chat: _ChatOrder) -> None:
        chat.close()
        if self._chats.get(chat.chat_id) is chat:
            del self._chats[chat.chat_id]

    def pending(self) -> int:
        """Tickets not finished, over all chats."""
        return sum(chat.live for chat in self._chats.values())
