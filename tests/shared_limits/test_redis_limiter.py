"""The Redis/Valkey token buckets (chat_core.limits_redis) against a real Redis: the one at
127.0.0.1:6379 (each test has a key prefix of its own) or a private redis-server where a test
flushes scripts or stops the server. No Redis at 6379 is a failure, not a skip (CI starts one).

Refill is checked against Redis's clock without guessing at sleeps: after a refusal that says
"a token in `retry_after_s`", the test polls until a take goes through (bounded) and asserts it
was not earlier than promised; how late a busy machine makes it does not matter."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from chat_core.assembly import build_limiter
from chat_core.config import Settings
from chat_core.errors import RateLimited
from chat_core.limits import Rate
from chat_core.limits_redis import TAKE_SHA, RedisRateLimiter
from chat_core.metrics import NodeMetrics
from tests.support.redis_server import SHARED_REDIS_URL, RedisServer, shared_redis_client
from tests.support.server import free_port

pytestmark = pytest.mark.redis

REDIS_URL = SHARED_REDIS_URL
POLL_DEADLINE_S = 10.0


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    async for client in shared_redis_client("the shared rate-limit tests"):
        yield client


@pytest.fixture
async def prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    mine = f"test-rl-{secrets.token_hex(6)}:"
    yield mine
    keys = [key async for key in redis_client.scan_iter(match=mine + "*")]
    if keys:
        await redis_client.delete(*keys)


@pytest.fixture
async def limiters() -> AsyncIterator[list[RedisRateLimiter]]:
    """Limiters made by `limiter_on`, closed after the test."""
    made: list[RedisRateLimiter] = []
    yield made
    for limiter in made:
        await limiter.aclose()


def limiter_on(
    made: list[RedisRateLimiter], url: str, rates: dict[str, Rate], prefix: str, **options: object
) -> RedisRateLimiter:
    limiter = RedisRateLimiter(rates, url, prefix=prefix, **options)  # type: ignore[arg-type]
    made.append(limiter)
    return limiter


async def taken(limiter: RedisRateLimiter, user: str, kind: str) -> bool:
    try:
        await limiter.take(user, kind)
    except RateLimited:
        return False
    return True


async def test_a_burst_then_refusal_then_a_refill_on_redis_time(prefix: str, limiters: list[RedisRateLimiter]) -> None:
    limiter = limiter_on(limiters, REDIS_URL, {"send": Rate(per_second=1, burst=3)}, prefix)
    for _ in range(3):
        await limiter.take("alice", "send")
    started = time.monotonic()
    with pytest.raises(RateLimited) as refused:
        await limiter.take("alice", "send")
    wait = refused.value.retry_after_s
    assert wait is not None and 0 < wait <= 1.0  # one token at 1/s, some of it already back
    assert refused.value.code == "RATE_LIMITED" and "retry in" in refused.value.message
    deadline = started + POLL_DEADLINE_S
    while not await taken(limiter, "alice", "send"):
        assert time.monotonic() < deadline, "the bucket never refilled"
        await asyncio.sleep(0.02)
    assert time.monotonic() - started >= wait - 0.01  # not before the promised time
    assert not await taken(limiter, "alice", "send")  # that token is spent again
    assert limiter.fail_open == 0


async def test_three_nodes_share_one_budget(prefix: str, limiters: list[RedisRateLimiter]) -> None:
    rates = {"send": Rate(per_second=0.001, burst=6)}
    nodes = [limiter_on(limiters, REDIS_URL, rates, prefix) for _ in range(3)]  # a client each
    for i in range(6):
        await nodes[i % 3].take("alice", "send")
    for node in nodes:
        with pytest.raises(RateLimited):
            await node.take("alice", "send")
    assert all(node.fail_open == 0 for node in nodes)


async def test_users_and_kinds_have_buckets_of_their_own(
    prefix: str, limiters: list[RedisRateLimiter], redis_client: aioredis.Redis
) -> None:
    limiter = limiter_on(limiters, REDIS_URL, {"send": Rate(0.001, 1), "typing": Rate(0.001, 2)}, prefix)
    assert await taken(limiter, "alice", "send")
    assert not await taken(limiter, "alice", "send")
    assert await taken(limiter, "alice", "typing")
    assert await taken(limiter, "alice", "typing")
    assert not await taken(limiter, "alice", "typing")
    assert await taken(limiter, "bob", "send")
    for _ in range(5):
        assert await taken(limiter, "alice", "query")  # a kind without a rate is not limited
    keys = {key.decode() async for key in redis_client.scan_iter(match=prefix + "*")}
    assert keys == {f"{prefix}send:alice", f"{prefix}typing:alice", f"{prefix}send:bob"}


async def test_keys_expire_once_the_bucket_would_be_full(
    prefix: str, limiters: list[RedisRateLimiter], redis_client: aioredis.Redis
) -> None:
    limiter = limiter_on(limiters, REDIS_URL, {"send": Rate(per_second=20, burst=2)}, prefix)
    key = limiter.key("alice", "send")
    await limiter.take("alice", "send")
    assert 0 < await redis_client.pttl(key) <= 50  # one token at 20/s
    await limiter.take("alice", "send")
    assert 0 < await redis_client.pttl(key) <= 100  # two tokens
    assert limiter.prune() == 0  # nothing held in the process
    deadline = time.monotonic() + POLL_DEADLINE_S
    while await redis_client.exists(key):
        assert time.monotonic() < deadline, "the key never expired"
        await asyncio.sleep(0.02)
    assert await taken(limiter, "alice", "send") and await taken(limiter, "alice", "send")  # full again


async def test_a_refusal_leaves_the_bucket_and_its_expiry_alone(
    prefix: str, limiters: list[RedisRateLimiter], redis_client: aioredis.Redis
) -> None:
    limiter = limiter_on(limiters, REDIS_URL, {"send": Rate(per_second=0.01, burst=1)}, prefix)
    key = limiter.key("alice", "send")
    await limiter.take("alice", "send")
    saved = await redis_client.hgetall(key)
    ttl = await redis_client.pttl(key)
    assert 99_000 < ttl <= 100_000
    for _ in range(5):
        assert not await taken(limiter, "alice", "send")
    assert await redis_client.hgetall(key) == saved
    assert await redis_client.pttl(key) <= ttl


async def test_a_flushed_script_cache_and_a_restarted_redis(limiters: list[RedisRateLimiter]) -> None:
    """EVALSHA answered NOSCRIPT (a new or flushed server) falls back to EVAL; a Redis that went
    away lets takes through and, once back, limits again."""
    server = RedisServer().start()
    try:
        limiter = limiter_on(limiters, server.url, {"send": Rate(0.001, 2)}, "rl:", backoff_s=0.0)
        await limiter.take("alice", "send")  # the first EVALSHA on a fresh server: NOSCRIPT
        await limiter.redis.script_flush()
        await limiter.take("alice", "send")
        with pytest.raises(RateLimited):
            await limiter.take("alice", "send")
        assert limiter.fail_open == 0

        server.stop()
        for _ in range(3):
            await limiter.take("alice", "send")  # down: through, counted
        assert limiter.fail_open == 3
        server.start()
        await limiter.take("alice", "send")  # a fresh server (no persistence): a full bucket
        await limiter.take("alice", "send")
        with pytest.raises(RateLimited):
            await limiter.take("alice", "send")
        assert limiter.fail_open == 3
    finally:
        server.close()


async def test_concurrent_takes_go_as_one_pipeline_answered_in_call_order(
    limiters: list[RedisRateLimiter], prefix: str
) -> None:
    """Takes made while a call is out go together (here all 20: none was sent yet), on a server
    whose script cache is empty (NOSCRIPT inside a pipeline: loaded, then those calls again);
    the budget goes to them in the order they were made."""
    server = RedisServer().start()
    try:
        limiter = limiter_on(limiters, server.url, {"send": Rate(0.001, 10)}, prefix)
        outcomes = await asyncio.gather(*(taken(limiter, "alice", "send") for _ in range(20)))
        assert outcomes == [True] * 10 + [False] * 10
        assert limiter.fail_open == 0
        assert await limiter.redis.script_exists(TAKE_SHA) == [True]
    finally:
        server.close()


async def test_unreachable_redis_fails_open_counted_with_one_warning(
    limiters: list[RedisRateLimiter], caplog: pytest.LogCaptureFixture
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    seen: list[int] = []
    limiter = limiter_on(
        limiters, closed, {"send": Rate(0.001, 1)}, "rl:", on_fail_open=lambda: seen.append(1), backoff_s=0.0
    )
    with caplog.at_level(logging.WARNING, logger="chat.limits"):
        for _ in range(50):
            await limiter.take("alice", "send")  # never RateLimited, never an error
    assert limiter.fail_open == 50 and len(seen) == 50
    warnings = [r for r in caplog.records if r.name == "chat.limits"]
    assert len(warnings) == 1 and "fail open" in warnings[0].getMessage()


async def test_assembly_counts_fail_open_in_the_node_metrics() -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    metrics = NodeMetrics()
    limiter = build_limiter(Settings(redis_url=closed, send_rate=0.001, send_burst=1), metrics=metrics)
    try:
        assert isinstance(limiter, RedisRateLimiter)
        for _ in range(3):
            await limiter.take("alice", "send")
        assert metrics.registry.get_sample_value("chat_rate_limit_fail_open_total") == 3
        assert b"chat_rate_limit_fail_open_total 3.0" in metrics.render()
    finally:
        await limiter.aclose()


async def test_a_redis_that_never_answers_costs_one_timeout_then_backs_off(
    limiters: list[RedisRateLimiter],
) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    limiter = limiter_on(
        limiters, f"redis://127.0.0.1:{port}/0", {"send": Rate(0.001, 1)}, "rl:", timeout_s=0.25, backoff_s=30.0
    )
    try:
        started = time.monotonic()
        await limiter.take("alice", "send")
        first = time.monotonic() - started
        assert 0.2 <= first < 2.0 and limiter.fail_open == 1
        started = time.monotonic()
        for _ in range(100):
            await limiter.take("alice", "send")  # backing off: Redis is not asked
        assert time.monotonic() - started < 0.2 and limiter.fail_open == 101
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()
