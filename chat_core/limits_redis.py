"""Token buckets in Redis/Valkey (`CHAT_REDIS_URL`), shared by every node and Lambda container.

One atomic script call per take, at most one round trip: a Lua script (EVALSHA; on NOSCRIPT,
EVAL, or SCRIPT LOAD and the pipeline again) reads the bucket, refills it by the time passed on
Redis's own clock (`TIME`, so node clocks do not matter), spends a token or refuses, and sets
the key to expire when the bucket would be full again (an absent key is a full bucket). Same
rates and burst semantics as the in-process `limits.RateLimiter`. Needs Redis >= 5 or Valkey
(TIME before writes in a script). Takes made while a call is out wait for it, then go together
as one pipeline.

Redis down or slower than `timeout_s`: limits fail open (the request goes through), counted in
`fail_open` and `on_fail_open`, with one warning line per `warn_interval_s`. After a failure,
Redis is not asked again for `backoff_s`, so a Redis that swallows packets delays at most the
requests of that first timeout, not every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from .limits import Rate, refused

log = logging.getLogger("chat.limits")

DEFAULT_PREFIX = "chat:rl:"
DEFAULT_TIMEOUT_S = 0.25
DEFAULT_WARN_INTERVAL_S = 60.0
DEFAULT_BACKOFF_S = 1.0

# KEYS[1]: the bucket; ARGV: tokens per second, burst. Fields: tokens left `t` at Redis time `at`
# (seconds). Returns nil when a token was spent, else the tokens left (a string, < 1).
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tokens = burst
local saved = redis.call('HMGET', KEYS[1], 't', 'at')
if saved[1] and saved[2] then
  tokens = math.min(burst, tonumber(saved[1]) + math.max(0, now - tonumber(saved[2])) * rate)
end
if tokens < 1 then
  return string.format('%.17g', tokens)
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'at', string.format('%.6f', now))
if rate > 0 then
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) / rate * 1000)))
end
return false
"""
TAKE_SHA = hashlib.sha1(TAKE_SCRIPT.encode()).hexdigest()


Args = tuple[str, str, str]


class RedisRateLimiter:
    def __init__(
        self,
        rates: Mapping[str, Rate],
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        warn_interval_s: float = DEFAULT_WARN_INTERVAL_S,
        backoff_s: float = DEFAULT_BACKOFF_S,
        on_fail_open: Callable[[], None] | None = None,
    ) -> None:
        self._rates = dict(rates)
        self._prefix = prefix
        self._timeout_s = timeout_s
        self._warn_interval_s = warn_interval_s
        self._backoff_s = backoff_s
        self._on_fail_open = on_fail_open
        # one retry at once: a pooled connection that died (Redis restarted) is replaced in the
        # same call; every take stays bounded by timeout_s either way
        self.redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 1)
        )
        self.fail_open = 0
        """Takes let through because Redis did not answer in time (or at all)."""
        self._queue: list[tuple[Args, asyncio.Future[object]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._skip_until = -math.inf
        self._warned_at = -math.inf
        self._unwarned = 0

    def key(self, user_id: str, kind: str) -> str:
        return f"{self._prefix}{kind}:{user_id}"

    async def take(self, user_id: str, kind: str) -> None:
        """Spend one token of the user's `kind` bucket, or raise RateLimited (spending nothing).
        Never raises anything else: without an answer from Redis in `timeout_s`, the take goes
        through.

        Takes queue for one sender task: while its call is out, the takes that arrive meanwhile
        wait and then go as one pipeline (a script call each, answered in order). Under load
        that costs a fraction of the client CPU of a call per take, and takes are answered in
        the order they were made."""
        rate = self._rates.get(kind)
        if rate is None:
            return
        if time.monotonic() < self._skip_until:
            self._failed_open(None)
            return
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[object] = loop.create_future()
        self._queue.append(((self.key(user_id, kind), repr(float(rate.per_second)), repr(float(rate.burst))), answer))
        if self._sender is None or self._sender.done() or self._sender.get_loop() is not loop:
            self._sender = loop.create_task(self._send())  # (a new loop: a Lambda test's invocation)
        try:
            async with asyncio.timeout(self._timeout_s):
                left = await answer
        except Exception as error:  # no answer in time, or none at all: through
            self._skip_until = time.monotonic() + self._backoff_s
            self._failed_open(error)
            return
        if left is not None:
            raise refused(kind, float(cast(bytes, left)), rate)

    async def _send(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                async with asyncio.timeout(self._timeout_s):
                    replies = await self._call([args for args, _ in batch])
            except Exception as error:
                replies = [error] * len(batch)
            for (_, answer), reply in zip(batch, replies, strict=True):
                if answer.done():
                    continue  # its take timed out already
                if isinstance(reply, Exception):
                    answer.set_exception(reply)
                else:
                    answer.set_result(reply)

    async def _call(self, batch: list[Args]) -> list[object]:
        if len(batch) == 1:  # a plain call costs less than a pipeline of one
            try:
                return [await self.redis.evalsha(TAKE_SHA, 1, *batch[0])]
            except NoScriptError:
                return [await self.redis.eval(TAKE_SCRIPT, 1, *batch[0])]
        replies = await self._pipeline(TAKE_SHA, batch)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self.redis.script_load(TAKE_SCRIPT)
            for i, reply in zip(missing, await self._pipeline(TAKE_SHA, [batch[i] for i in missing]), strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, sha: str, batch: list[Args]) -> list[object]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for args in batch:
                pipe.evalsha(sha, 1, *args)
            return list(await pipe.execute(raise_on_error=False))

    def _failed_open(self, error: BaseException | None) -> None:
        self.fail_open += 1
        if self._on_fail_open is not None:
            self._on_fail_open()
        now = time.monotonic()
        if now - self._warned_at < self._warn_interval_s:
            self._unwarned += 1
            return
        log.warning(
            "rate limits fail open: Redis did not answer",
            extra={
                "error": repr(error) if error is not None else "backing off",
                "not_logged_since_last_warning": self._unwarned,
            },
        )
        self._warned_at = now
        self._unwarned = 0

    def prune(self) -> int:
        return 0  # keys expire in Redis once their bucket is full again

    async def aclose(self) -> None:
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        await self.redis.aclose()
