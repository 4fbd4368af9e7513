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


async def test_a_burst_then_the_steady_rate() -> None:
    tick = Ticker()
    limiter = RateLimiter({"send": Rate(per_second=2, burst=3)}, clock=tick)
    for _ in range(3):
        await limiter.take("alice", "send")
    with pytest.raises(RateLimited):
        await limiter.take("alice", "send")
    await limiter.take("bob", "send")  # buckets are per user
    tick.now += 0.5
    await limiter.take("alice", "send")
    with pytest.raises(RateLimited) as refused:
        await limiter.take("alice", "send")
    assert refused.value.retry_after_s == pytest.approx(0.5)  # one token at 2/s
    tick.now += 0.2
    with pytest.raises(RateLimited) as refused:
        await limiter.take("alice", "send")
    assert refused.value.retry_after_s == pytest.approx(0.3)
    await limiter.take("alice", "query")  # kinds without a rate are not limited


async def test_idle_buckets_are_pruned() -> None:
    tick = Ticker()
    limiter = RateLimiter({"send": Rate(1, 2)}, clock=tick)
    await limiter.take("alice", "send")
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


def test_http_answers_429_with_retry_after_in_whole_seconds() -> None:
    from chat_core.http.app import error_response

    response = error_response(RateLimited("slow", retry_after_s=2.1))
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert error_response(RateLimited("slow", retry_after_s=0.01)).headers["retry-after"] == "1"
    assert "retry-after" not in error_response(RateLimited("at most 2 connections per user")).headers
