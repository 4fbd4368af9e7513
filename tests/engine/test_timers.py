"""Timer lists: one event-loop timer per duration, deadlines in the order they were set."""

from __future__ import annotations

import asyncio

from chat_core.engine.timers import TimerList


async def test_deadlines_fire_in_order_after_their_delay() -> None:
    loop = asyncio.get_running_loop()
    timers = TimerList(loop, 0.05)
    fired: list[tuple[str, float]] = []
    started = loop.time()
    timers.add(lambda: fired.append(("a", loop.time())))
    await asyncio.sleep(0.02)
    timers.add(lambda: fired.append(("b", loop.time())))
    done = loop.create_future()
    timers.add(lambda: done.set_result(None))
    await asyncio.wait_for(done, 5)
    assert [name for name, _ in fired] == ["a", "b"]
    assert fired[0][1] - started >= 0.05
    assert fired[1][1] - started >= 0.07
    assert len(timers) == 0


async def test_a_cancelled_deadline_never_fires_and_its_neighbours_do() -> None:
    loop = asyncio.get_running_loop()
    timers = TimerList(loop, 0.02)
    fired: list[str] = []
    first = timers.add(lambda: fired.append("cancelled head"))
    timers.add(lambda: fired.append("second"))
    last = timers.add(lambda: fired.append("cancelled tail"))
    done = loop.create_future()
    timers.add(lambda: done.set_result(None))
    first.cancel()
    last.cancel()
    await asyncio.wait_for(done, 5)
    assert fired == ["second"]


async def test_a_list_that_emptied_arms_again() -> None:
    loop = asyncio.get_running_loop()
    timers = TimerList(loop, 0.01)
    for round_no in range(3):
        done: asyncio.Future[int] = loop.create_future()
        timers.add(lambda done=done, value=round_no: done.set_result(value))
        assert await asyncio.wait_for(done, 5) == round_no
