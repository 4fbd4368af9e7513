"""The offline-message webhook: for each stored message, its recipients who are offline are posted
to the platform (so it can send a push notification or an e-mail), off the send path.

    POST <CHAT_WEBHOOK_URL>            (signed: chat_core.hooks.signing)
    {"type": "message.offline", "id": "<delivery id>", "message": {...}, "chat": {...},
     "recipients": ["<offline user id>", ...], "sentAt": "2026-11-26T07:01:47.123Z"}

`message` and `chat` are what the service hands `notify`; `recipients` are those of its
recipients who were offline (no connection anywhere) when the delivery was worked on, a moment
after the send; `sentAt` is when the delivery was first posted. A retried delivery sends the same
body (same `id`) with a fresh signature: the platform may see one twice (a 2xx lost on its way
back), and can tell by the id.

`notify` only puts the delivery on a bounded queue: it never blocks and never raises, and a full
queue (the platform slow or down for long) sends the delivery to the dead letter at once. Up to
`concurrency` deliveries are worked on at a time, so one slow platform call does not hold up the
others: deliveries can reach the platform in another order than their messages were sent in.

A delivery is tried `attempts` times, each attempt bounded by `timeout_s`; connection errors,
timeouts, 5xx and 429 are tried again after an exponential backoff with jitter (from
`backoff_first_s`, at most `backoff_max_s`; a 429's or 503's Retry-After in seconds replaces the
backoff, up to the same cap); any other answer is final. A delivery given up on goes to the dead
letter: an ERROR record on the "chat.hooks" logger (ids, recipients and the reason: the log never
carries message content) and, when a dead-letter path is set, the whole delivery as one JSON line
appended to that file, written off the event loop:

    {"type": "message.offline", "id", "message", "chat", "recipients", "reason", "attempts", "deadAt"}

(`recipients`: the offline ones, or every recipient when the delivery was given up before the
presence lookup, as with "queue full"; `attempts`: the POSTs made.)

Lambda: a function returns before the background work is done; its handler calls
`await notifier.flush(budget_s)` first (what is left then goes on at the next invocation).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from ..clock import iso_ms, now_ms
from ..ids import ulid
from ..models import Presence
from .client import new_client, post_signed

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("chat.hooks")

PresenceLookup = Callable[[list[str]], Awaitable[Mapping[str, Presence]]]
"""The store's presence call: the presence of each user asked about (a user missing from the
answer counts as offline)."""

DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_ATTEMPTS = 5
PRESENCE_CACHE_S = 5.0
"""A node's notifier reuses a recipient's presence this long: a group chatting away reads each
member's presence about once per 5 s instead of once per message (a user who went offline
within it may miss one notification, or one who came back get one too many)."""
PRESENCE_CACHE_MAX = 100_000
"""Past this many users remembered, the expired ones are dropped."""
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
CLOSE_BUDGET_S = 10.0
"""How long `aclose` lets queued and running deliveries finish before it gives them up."""


@dataclass(slots=True)
class _Delivery:
    id: str
    message: dict[str, Any]
    chat: dict[str, Any]
    recipients: list[str]
    """Before the presence lookup: every recipient; after: the offline ones."""
    attempts: int = 0
    last_error: str | None = field(default=None)


class _Retry(Exception):
    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


class _Final(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After in seconds; None when absent or an HTTP date (the backoff applies then)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _append_lines(path: str, lines: list[bytes]) -> None:
    with open(path, "ab") as file:
        file.write(b"".join(lines))


class OfflineNotifier:
    def __init__(
        self,
        url: str,
        secret: str,
        presence: PresenceLookup,
        *,
        dead_letter_path: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        attempts: int = DEFAULT_ATTEMPTS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        backoff_first_s: float = BACKOFF_FIRST_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        clock: Callable[[], int] = now_ms,
        presence_cache_s: float = 0.0,
    ) -> None:
        """`presence`: the store's presence call. `clock`: milliseconds since the epoch, for
        `sentAt` and the dead letter's `deadAt`. `presence_cache_s`: how long a user's looked-up
        presence answers later deliveries (0: every delivery asks the store; a busy group would
        otherwise read every member's presence for every message). The worker tasks start on the
        first `notify` made on a running loop (or `flush`)."""
        if attempts < 1 or queue_size < 1 or concurrency < 1:
            raise ValueError("attempts, queue_size and concurrency must be at least 1")
        if timeout_s <= 0 or backoff_first_s < 0 or backoff_max_s < 0:
            raise ValueError("timeout_s must be more than 0 and the backoff not negative")
        self.url = url
        self._secret = secret
        self._presence = presence
        self._presence_cache_s = presence_cache_s
        self._known_online: dict[str, tuple[bool, float]] = {}
        """user -> (online, when it was looked up, loop time), while presence_cache_s lasts."""
        self.dead_letter_path = dead_letter_path
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._queue_size = queue_size
        self._concurrency = concurrency
        self._backoff_first_s = backoff_first_s
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        self.delivered = 0
        """Deliveries the platform accepted (2xx)."""
        self.retried = 0
        """Attempts after a failed one (posts and presence lookups)."""
        self.dead_lettered = 0
        """Deliveries given up on (queue full, final answer, attempts used up, shut down)."""
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue(queue_size)
        self._client = new_client(timeout_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._dead_lines: list[bytes] = []
        self._dead_writer: asyncio.Task[None] | None = None
        self._running = 0
        self._accepting = True
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, presence: PresenceLookup) -> OfflineNotifier | None:
        """The notifier the settings ask for; None without CHAT_WEBHOOK_URL."""
        if settings.webhook_url is None or settings.webhook_secret is None:
            return None
        return cls(
            settings.webhook_url,
            settings.webhook_secret,
            presence,
            presence_cache_s=PRESENCE_CACHE_S,
            dead_letter_path=settings.webhook_dead_letter,
            timeout_s=settings.webhook_timeout_s,
            attempts=settings.webhook_attempts,
        )

    @property
    def queued(self) -> int:
        """Deliveries waiting for a worker (not those being worked on)."""
        return self._queue.qsize()

    # --- the send path ---------------------------------------------------------------------------

    def notify(self, message_json: dict[str, Any], chat: dict[str, Any], recipients: Sequence[str]) -> None:
        """Queue a delivery for `recipients` (the members other than the sender) of a stored
        message; those found offline are posted. Never blocks, never raises. The dicts are
        serialized later: the caller must not change them after the call."""
        try:
            wanted = list(dict.fromkeys(recipients))
            if not wanted:
                return
            delivery = _Delivery("wh_" + ulid().lower(), message_json, chat, wanted)
            if not self._accepting:
                self._dead(delivery, "notifier closed")
                return
            try:
                self._queue.put_nowait(delivery)
            except asyncio.QueueFull:
                self._dead(delivery, "queue full")
                return
            self._start()
        except Exception:
            log.exception("an offline notification could not be queued")

    # --- waiting and stopping -------------------------------------------------------------------

    async def flush(self, budget_s: float) -> bool:
        """Wait until the queue is empty, the deliveries being worked on are done and the dead
        letter is written, or `budget_s` has passed. True when everything finished."""
        self._start()
        try:
            async with asyncio.timeout(budget_s):
                await self._queue.join()
                while self._dead_writer is not None and not self._dead_writer.done():
                    await asyncio.shield(self._dead_writer)
        except TimeoutError:
            return False
        return True

    async def aclose(self, budget_s: float = CLOSE_BUDGET_S) -> None:
        """Stop taking deliveries, let the queued and running ones finish within `budget_s`, send
        what is left to the dead letter, and close the HTTP client."""
        if not self._accepting:
            return
        self._accepting = False
        await self.flush(budget_s)
        self._closed = True
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        while not self._queue.empty():
            delivery = self._queue.get_nowait()
            self._queue.task_done()
            self._dead(delivery, "shut down before delivery")
        while self._dead_writer is not None and not self._dead_writer.done():
            await asyncio.shield(self._dead_writer)
        await self._client.aclose()

    # --- the workers ----------------------------------------------------------------------------

    def _start(self) -> None:
        """Start the workers on the running loop, if there is one (else they start with the next
        call made on a loop; the queue keeps the deliveries meanwhile)."""
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._loop is not loop:
            self._adopt(loop)
        if len(self._workers) < self._concurrency or any(w.done() for w in self._workers):
            self._workers = [w for w in self._workers if not w.done()]
            while len(self._workers) < self._concurrency:
                self._workers.append(loop.create_task(self._work(), name="offline-notifier"))

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        """Move to another event loop (a runtime that runs each call on a loop of its own): the
        queue, the HTTP client's connections and the tasks belong to the loop they were made on,
        so the waiting deliveries move to a new queue; those that were running are gone with
        their loop, and go to the dead letter."""
        if self._loop is not None:
            old, self._queue = self._queue, asyncio.Queue(self._queue_size)
            while not old.empty():
                self._queue.put_nowait(old.get_nowait())
            if self._running:
                self.dead_lettered += self._running
                log.error("offline deliveries lost with their event loop", extra={"count": self._running})
                self._running = 0
            self._client = new_client(self._timeout_s)
            self._workers = []
            self._dead_writer = None
        self._loop = loop

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            self._running += 1
            try:
                await self._deliver(delivery)
            except asyncio.CancelledError:
                self._dead(delivery, "shut down before delivery")
                raise
            except Exception as error:  # a bug of ours, not the platform's: keep the worker
                log.exception("offline delivery failed", extra={"delivery_id": delivery.id})
                self._dead(delivery, f"internal error: {error!r}")
            finally:
                self._running -= 1
                self._queue.task_done()

    async def _deliver(self, delivery: _Delivery) -> None:
        offline = await self._offline(delivery)
        if not offline:
            return
        delivery.recipients = offline
        body = orjson.dumps(
            {
                "type": "message.offline",
                "id": delivery.id,
                "message": delivery.message,
                "chat": delivery.chat,
                "recipients": offline,
                "sentAt": iso_ms(self._clock()),
            }
        )
        for attempt in range(1, self._attempts + 1):
            delivery.attempts = attempt
            if attempt > 1:
                self.retried += 1
            try:
                await self._post(body)
            except _Final as final:
                self._dead(delivery, final.reason)
                return
            except _Retry as retry:
                delivery.last_error = retry.reason
                if attempt == self._attempts:
                    self._dead(delivery, retry.reason)
                    return
                await asyncio.sleep(self._delay(attempt, retry.after_s))
            else:
                self.delivered += 1
                return

    async def _offline(self, delivery: _Delivery) -> list[str] | None:
        """The recipients who are offline; None when the lookup kept failing (dead-lettered)."""
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self.retried += 1
            try:
                async with asyncio.timeout(self._timeout_s):
                    online = await self._online(delivery.recipients)
            except Exception as error:
                delivery.last_error = f"presence lookup failed: {error!r}"
                if attempt == self._attempts:
                    self._dead(delivery, delivery.last_error)
                    return None
                await asyncio.sleep(self._delay(attempt, None))
                continue
            return [u for u in delivery.recipients if not online.get(u, False)]
        return None  # not reached: the last attempt returns

    async def _online(self, user_ids: Sequence[str]) -> dict[str, bool]:
        """Who of them is online: from the store, or from a lookup younger than presence_cache_s."""
        now = asyncio.get_running_loop().time()
        known = self._known_online
        online: dict[str, bool] = {}
        asked = []
        for user_id in user_ids:
            cached = known.get(user_id)
            if cached is not None and now - cached[1] < self._presence_cache_s:
                online[user_id] = cached[0]
            else:
                asked.append(user_id)
        if asked:
            found = await self._presence(asked)
            for user_id in asked:
                seen = found.get(user_id)
                online[user_id] = seen is not None and seen.online
        if self._presence_cache_s > 0 and asked:
            if len(known) > PRESENCE_CACHE_MAX:
                self._known_online = known = {u: v for u, v in known.items() if now - v[1] < self._presence_cache_s}
            for user_id in asked:
                known[user_id] = (online[user_id], now)
        return online

    async def _post(self, body: bytes) -> None:
        """One attempt. Raises _Retry (worth another attempt) or _Final."""
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await post_signed(self._client, self.url, self._secret, body)
        except TimeoutError:
            raise _Retry(f"no answer within {self._timeout_s:g} s") from None
        except httpx.HTTPError as error:
            raise _Retry(f"{type(error).__name__}: {error}") from None
        if 200 <= answer.status < 300:
            return
        if answer.status == 429 or answer.status >= 500:
            after = _retry_after(answer.headers) if answer.status in (429, 503) else None
            raise _Retry(f"HTTP {answer.status}", after)
        raise _Final(f"HTTP {answer.status}")

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        """The wait after failed attempt `attempt`: the platform's Retry-After when it gave one,
        else 1, 2, 4... times the first backoff, each between half of that and all of it."""
        if retry_after_s is not None:
            return min(retry_after_s, self._backoff_max_s)
        ceiling = min(self._backoff_max_s, self._backoff_first_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    # --- the dead letter ------------------------------------------------------------------------

    def _dead(self, delivery: _Delivery, reason: str) -> None:
        if delivery.last_error is not None and delivery.last_error != reason:
            reason = f"{reason} (last error: {delivery.last_error})"
        self.dead_lettered += 1
        log.error(
            "offline notification given up",
            extra={
                "delivery_id": delivery.id,
                "chat_id": delivery.chat.get("id"),
                "message_id": delivery.message.get("id"),
                "recipients": delivery.recipients,
                "attempts": delivery.attempts,
                "reason": reason,
            },
        )
        if self.dead_letter_path is None:
            return
        try:
            record = {
                "type": "message.offline",
                "id": delivery.id,
                "message": delivery.message,
                "chat": delivery.chat,
                "recipients": delivery.recipients,
                "reason": reason,
                "attempts": delivery.attempts,
                "deadAt": iso_ms(self._clock()),
            }
            self._dead_lines.append(orjson.dumps(record, default=str) + b"\n")
            self._write_dead_letter()
        except Exception:
            log.exception("a dead letter could not be recorded", extra={"delivery_id": delivery.id})

    def _write_dead_letter(self) -> None:
        """Append the waiting lines in a thread (one writer at a time keeps them in order); with
        no running loop (notify called outside one), right here."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._drain_dead_lines_now()
            return
        if self._dead_writer is None or self._dead_writer.done():
            self._dead_writer = loop.create_task(self._dead_letter_writer(), name="offline-dead-letter")

    async def _dead_letter_writer(self) -> None:
        while self._dead_lines and self.dead_letter_path is not None:
            lines, self._dead_lines = self._dead_lines, []
            try:
                await asyncio.to_thread(_append_lines, self.dead_letter_path, lines)
            except OSError as error:
                log.error(
                    "dead-letter file not written",
                    extra={"path": self.dead_letter_path, "lines": len(lines), "error": str(error)},
                )

    def _drain_dead_lines_now(self) -> None:
        lines, self._dead_lines = self._dead_lines, []
        if lines and self.dead_letter_path is not None:
            try:
                _append_lines(self.dead_letter_path, lines)
            except OSError as error:
                log.error("dead-letter file not written", extra={"path": self.dead_letter_path, "error": str(error)})
