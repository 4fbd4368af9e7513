"""Emits of one chat in seq order while the store work of its sends overlaps (chat_core/send_order.py)."""

from __future__ import annotations

import asyncio
import random

from chat_core.send_order import SendOrder


async def send(
    order: SendOrder, chat: str, seq_ready: asyncio.Future[int], write: asyncio.Future[None], emitted: list[int]
) -> None:
    ticket = order.begin(chat)
    try:
        seq = await seq_ready
        ticket.assign(seq)
        await write
        await ticket.turn()
        emitted.append(seq)
    finally:
        ticket.finish()


def finished_write() -> asyncio.Future[None]:
    """A write that is already done."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


async def test_emits_follow_seqs_whatever_order_the_writes_finish_in() -> None:
    loop = asyncio.get_running_loop()
    for trial in range(20):
        rng = random.Random(trial)
        order = SendOrder(timeout_s=60)
        n = 12
        seqs = [loop.create_future() for _ in range(n)]
        writes = [loop.create_future() for _ in range(n)]
        emitted: list[int] = []
        tasks = [asyncio.create_task(send(order, "c", seqs[i], writes[i], emitted)) for i in range(n)]
        await asyncio.sleep(0)
        assignment = list(range(1, n + 1))
        rng.shuffle(assignment)  # the store hands seqs out in an order unrelated to the sends'
        events = [("seq", i) for i in range(n)] + [("write", i) for i in range(n)]
        rng.shuffle(events)
        events.sort(key=lambda e: e[0] == "write" and not seqs[e[1]].done())  # a write after its seq
        done_seq: set[int] = set()
        pending = list(events)
        while pending:
            kind, i = pending.pop(0)
            if kind == "write" and i not in done_seq:
                pending.append((kind, i))
                continue
            if kind == "seq":
                seqs[i].set_result(assignment[i])
                done_seq.add(i)
            else:
                writes[i].set_result(None)
            for _ in range(3):
                await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        assert emitted == sorted(emitted) == list(range(1, n + 1)), (trial, emitted)
        assert order.pending() == 0


async def test_a_later_seq_waits_for_a_ticket_that_may_still_get_an_earlier_one() -> None:
    loop = asyncio.get_running_loop()
    order = SendOrder(timeout_s=60)
    slow_seq: asyncio.Future[int] = loop.create_future()
    fast_seq: asyncio.Future[int] = loop.create_future()
    done = finished_write()
    emitted: list[int] = []
    slow = asyncio.create_task(send(order, "c", slow_seq, done, emitted))
    await asyncio.sleep(0)
    fast = asyncio.create_task(send(order, "c", fast_seq, done, emitted))
    await asyncio.sleep(0)
    fast_seq.set_result(8)  # the slow one's request may have reached the store first
    for _ in range(5):
        await asyncio.sleep(0)
    assert emitted == []
    slow_seq.set_result(7)
    await asyncio.gather(slow, fast)
    assert emitted == [7, 8]


async def test_a_ticket_that_began_after_a_seq_was_known_does_not_hold_it_back() -> None:
    loop = asyncio.get_running_loop()
    order = SendOrder(timeout_s=60)
    first_seq: asyncio.Future[int] = loop.create_future()
    later_seq: asyncio.Future[int] = loop.create_future()
    done = finished_write()
    emitted: list[int] = []
    first = asyncio.create_task(send(order, "c", first_seq, later_seq, emitted))  # its write waits
    await asyncio.sleep(0)
    first_seq.set_result(1)
    await asyncio.sleep(0)
    later = asyncio.create_task(send(order, "c", later_seq, done, emitted))
    await asyncio.sleep(0)
    later_seq.set_result(2)  # also lets the first one's write finish
    await asyncio.gather(first, later)
    assert emitted == [1, 2]


async def test_a_hung_write_stops_holding_the_chat_back_at_its_deadline_and_follows_late() -> None:
    loop = asyncio.get_running_loop()
    order = SendOrder(timeout_s=0.05)
    hung_write: asyncio.Future[None] = loop.create_future()
    ready = finished_write()
    emitted: list[int] = []
    one, two = loop.create_future(), loop.create_future()
    hung = asyncio.create_task(send(order, "c", one, hung_write, emitted))
    other = asyncio.create_task(send(order, "c", two, ready, emitted))
    one.set_result(1)
    two.set_result(2)
    await asyncio.wait_for(other, 5)
    assert emitted == [2]
    hung_write.set_result(None)
    await hung
    assert emitted == [2, 1] and order.pending() == 0


async def test_a_failed_send_lets_the_others_go_and_chats_do_not_wait_for_each_other() -> None:
    loop = asyncio.get_running_loop()
    order = SendOrder(timeout_s=60)
    failing: asyncio.Future[None] = loop.create_future()
    ready = finished_write()
    emitted: list[int] = []
    seqs = [loop.create_future() for _ in range(3)]
    broken = asyncio.create_task(send(order, "c", seqs[0], failing, emitted))
    fine = asyncio.create_task(send(order, "c", seqs[1], ready, emitted))
    elsewhere = asyncio.create_task(send(order, "other", seqs[2], ready, emitted))
    for future, seq in zip(seqs, (1, 2, 1), strict=True):
        future.set_result(seq)
    await asyncio.wait_for(elsewhere, 5)
    assert emitted == [1]
    failing.set_exception(RuntimeError("write failed"))
    await asyncio.wait_for(fine, 5)
    assert emitted == [1, 2]
    assert isinstance(broken.exception(), RuntimeError)


async def test_with_seqs_in_call_order_only_earlier_tickets_hold_one_back() -> None:
    """SQLite hands seqs out in call order: a send that began later cannot get a smaller seq, so
    it does not hold back one that began earlier (it would delay every emit by one commit)."""
    loop = asyncio.get_running_loop()
    emitted: list[int] = []
    done = finished_write()
    for call_order, expected in ((True, [1]), (False, [])):
        emitted.clear()
        order = SendOrder(timeout_s=60, seqs_in_call_order=call_order)
        first_seq: asyncio.Future[int] = loop.create_future()
        later_seq: asyncio.Future[int] = loop.create_future()
        first = asyncio.create_task(send(order, "c", first_seq, done, emitted))
        await asyncio.sleep(0)
        later = asyncio.create_task(send(order, "c", later_seq, done, emitted))
        await asyncio.sleep(0)
        first_seq.set_result(1)
        for _ in range(5):
            await asyncio.sleep(0)
        assert emitted == expected, call_order
        later_seq.set_result(2)
        await asyncio.gather(first, later)
        assert emitted == [1, 2]
