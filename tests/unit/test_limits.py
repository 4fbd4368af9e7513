from __future__ import annotations

import pytest

from chat_core import payloads
from chat_core.errors import RateLimited
from chat_core.limits import Rate, RateLimiter
from chat_core.service import ChatService
from chat_core.stores.sqlite import SqliteStore

from .fakes import RecordingFanout


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_steady_rate() -> None:
    tick = Ticker()
    limiter = RateLimiter({"send": Rate(per_second=2, burst=3)}, clock=tick)
    for _ in range(3):
        limiter.take("alice", "send")
    with pytest.raises(RateLimited):
        limiter.take("alice", "send")
    limiter.take("bob", "send")  # buckets are per user
    tick.now += 0.5
    limiter.take("alice", "send")
    with pytest.raises(RateLimited):
        limiter.take("alice", "send")


def test_idle_buckets_are_pruned() -> None:
    tick = Ticker()
    limiter = RateLimiter({"send": Rate(1, 2)}, clock=tick)
    limiter.take("alice", "send")
    assert len(limiter) == 1
    tick.now += 5
    assert limiter.prune() == 1 and len(limiter) == 0


async def test_the_service_limits_sends_and_connections(store: SqliteStore, fanout: RecordingFanout) -> None:
    service = ChatService(
        store,
        fanout,
        node_id="n",
        limiter=RateLimiter({"send": Rate(0.001, 2)}),
        max_connections_per_user=2,
    )
    chat, _ = await service.open_direct("alice", "bob")
    for i in range(2):
        await service.send_message("alice", payloads.SendMessage(chat.id, "hi", f"c{i}"), None)
    with pytest.raises(RateLimited):
        await service.send_message("alice", payloads.SendMessage(chat.id, "hi", "c9"), None)
    assert (await store.get_chat(chat.id)).last_seq == 2  # type: ignore[union-attr]
    await service.connect("alice", "s1")
    await service.connect("alice", "s2")
    with pytest.raises(RateLimited):
        await service.connect("alice", "s3")
    assert service.viewers.local_sids("alice") == ["s1", "s2"] or set(service.viewers.local_sids("alice")) == {
        "s1",
        "s2",
    }
