"""The platform hooks (chat_core.hooks) against a real HTTP server on 127.0.0.1 (aiohttp.web in the
test's loop; one test uses the standard library's server in a thread): the signature, the offline
webhook's retries, timeouts and dead letter, flush and close, the policy check, and their settings.
Backoffs are shrunk through the constructors; every assertion is on what the server received."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from chat_core.config import load_settings
from chat_core.errors import Invalid
from chat_core.hooks import OfflineNotifier, PolicyCheck, sign, signature, verify
from chat_core.models import Presence

SECRET = "platform-secret-0123456789abcdef"
CHAT = {"id": "g_chat", "type": "group", "title": "Team", "topic": None, "members": ["ann", "bob", "cyd", "dan"]}


def message(n: int = 1) -> dict[str, Any]:
    return {"id": f"m{n}", "chatId": "g_chat", "seq": n, "senderId": "ann", "content": f"hello {n}"}


# --- the platform: a real HTTP server that answers from a script and records every request ---------

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Platform:
    base: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[Behaviour] = field(default_factory=list)
    """Answers for the next requests, in order; then `default`."""
    default: Behaviour | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at teardown: frees the handlers that `hold`."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
        self.arrived.set()
        behaviour = self.script.pop(0) if self.script else self.default or status(204)
        return await behaviour(request)

    def bodies(self) -> list[Any]:
        return [r.json for r in self.received]


def status(code: int, headers: dict[str, str] | None = None) -> Behaviour:
    async def answer(_: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers=headers)

    return answer


def answer_json(body: object, code: int = 200) -> Behaviour:
    async def answer(_: web.Request) -> web.StreamResponse:
        return web.Response(status=code, body=orjson.dumps(body), content_type="application/json")

    return answer


def answer_text(text: str) -> Behaviour:
    async def answer(_: web.Request) -> web.StreamResponse:
        return web.Response(status=200, text=text)

    return answer


def hold(platform: Platform, seconds: float = 10.0) -> Behaviour:
    """Answer 204 after `seconds`, or when the test ends."""

    async def answer(_: web.Request) -> web.StreamResponse:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(platform.release.wait(), seconds)
        return web.Response(status=204)

    return answer


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    state = Platform()
    app = web.Application()
    app.router.add_post("/{path:.*}", state.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base = f"http://{host}:{port}"
    yield state
    state.release.set()
    await runner.cleanup()


class FakePresence:
    """The store's presence call, as a port: who is online, and what was asked."""

    def __init__(self, online: Iterable[str] = (), failures: int = 0) -> None:
        self.online = set(online)
        self.failures = failures
        self.asked: list[list[str]] = []

    async def __call__(self, user_ids: list[str]) -> dict[str, Presence]:
        self.asked.append(list(user_ids))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store unavailable")
        # "dan" has no presence record at all: missing from the answer counts as offline
        return {u: Presence(u, u in self.online, None) for u in user_ids if u != "dan"}


Factory = Callable[..., OfflineNotifier]


@pytest.fixture
async def notifiers(platform: Platform) -> AsyncIterator[Factory]:
    made: list[OfflineNotifier] = []

    def make(presence: Any = None, **options: Any) -> OfflineNotifier:
        options = {"backoff_first_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 2.0, **options}
        notifier = OfflineNotifier(platform.url(), SECRET, presence or FakePresence(), **options)
        made.append(notifier)
        return notifier

    yield make
    platform.release.set()
    for notifier in made:
        await notifier.aclose(budget_s=1.0)


def dead_letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- the signature --------------------------------------------------------------------------------


def test_a_signature_verifies_with_its_secret_only() -> None:
    body = b'{"type":"message.offline"}'
    headers = sign(SECRET, body, now=1_790_000_000)
    assert headers["X-Chat-Timestamp"] == "1790000000"
    assert headers["X-Chat-Signature"] == "v1=" + signature(SECRET, 1_790_000_000, body)
    assert verify(SECRET, headers, body, now=1_790_000_010)
    assert verify(SECRET, headers, body.decode(), now=1_790_000_010)
    assert verify(SECRET, {k.lower(): v for k, v in headers.items()}, body, now=1_790_000_010)
    assert not verify("another-secret-0123456789abcdef", headers, body, now=1_790_000_010)
    assert not verify(SECRET, headers, body + b" ", now=1_790_000_010)
    assert not verify(SECRET, headers, body, now=1_790_000_301)  # older than the tolerance
    assert verify(SECRET, headers, body, tolerance_s=600, now=1_790_000_301)
    assert not verify(SECRET, {**headers, "X-Chat-Timestamp": "1790000001"}, body, now=1_790_000_010)
    assert not verify(SECRET, {"X-Chat-Signature": headers["X-Chat-Signature"]}, body, now=1_790_000_010)
    assert not verify(SECRET, {**headers, "X-Chat-Timestamp": "soon"}, body, now=1_790_000_010)
    rotated = {**headers, "X-Chat-Signature": "v1=" + "0" * 64 + ", " + headers["X-Chat-Signature"]}
    assert verify(SECRET, rotated, body, now=1_790_000_010)


def test_the_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert signature(SECRET, 1_700_000_000, '{"a":1}') == expected


# --- the offline webhook ------------------------------------------------------------------------


async def test_offline_recipients_only_are_posted_signed(platform: Platform, notifiers: Factory) -> None:
    presence = FakePresence(online={"bob", "cyd"})
    notifier = notifiers(presence, concurrency=1)
    notifier.notify(message(1), CHAT, ["bob", "cyd"])  # everyone online: nothing to post
    notifier.notify(message(2), CHAT, ["bob", "cyd", "dan", "eve", "eve"])
    assert await notifier.flush(5)
    assert presence.asked == [["bob", "cyd"], ["bob", "cyd", "dan", "eve"]]
    assert len(platform.received) == 1
    request = platform.received[0]
    assert request.path == "/hook" and request.headers["Content-Type"] == "application/json"
    assert verify(SECRET, request.headers, request.body)
    assert not verify("not-the-platform-secret-0123456789", request.headers, request.body)
    body = request.json
    assert body["type"] == "message.offline" and body["id"].startswith("wh_")
    assert body["message"] == message(2) and body["chat"] == CHAT
    assert body["recipients"] == ["dan", "eve"]
    assert body["sentAt"].endswith("Z") and len(body["sentAt"]) == len("2026-11-26T07:01:47.123Z")
    assert (notifier.delivered, notifier.retried, notifier.dead_lettered) == (1, 0, 0)


async def test_presence_looked_up_lately_answers_later_deliveries(platform: Platform, notifiers: Factory) -> None:
    presence = FakePresence(online={"bob"})
    notifier = notifiers(presence, concurrency=1, presence_cache_s=60)
    notifier.notify(message(1), CHAT, ["bob", "dan"])
    assert await notifier.flush(5)
    notifier.notify(message(2), CHAT, ["bob", "dan", "eve"])
    assert await notifier.flush(5)
    assert presence.asked == [["bob", "dan"], ["eve"]]  # only who was not looked up yet
    assert [b["recipients"] for b in platform.bodies()] == [["dan"], ["dan", "eve"]]


async def test_every_delivery_has_its_own_id(platform: Platform, notifiers: Factory) -> None:
    notifier = notifiers()
    for n in range(20):
        notifier.notify(message(n), CHAT, ["eve"])
    assert await notifier.flush(5)
    assert len({b["id"] for b in platform.bodies()}) == 20
    assert sorted(b["message"]["seq"] for b in platform.bodies()) == list(range(20))
    assert notifier.delivered == 20


async def test_500s_are_retried_with_the_same_body_until_accepted(platform: Platform, notifiers: Factory) -> None:
    platform.script = [status(500), status(502), status(200)]
    notifier = notifiers(attempts=5)
    notifier.notify(message(), CHAT, ["eve"])
    assert await notifier.flush(5)
    assert len(platform.received) == 3
    assert len({r.body for r in platform.received}) == 1  # one delivery id, one body
    assert all(verify(SECRET, r.headers, r.body) for r in platform.received)
    assert (notifier.delivered, notifier.retried, notifier.dead_lettered) == (1, 2, 0)


async def test_429_waits_for_retry_after(platform: Platform, notifiers: Factory) -> None:
    platform.script = [status(429, {"Retry-After": "1"}), status(204)]
    notifier = notifiers(backoff_first_s=0.01, backoff_max_s=5.0)
    notifier.notify(message(), CHAT, ["eve"])
    assert await notifier.flush(5)
    first, second = platform.received
    assert second.at - first.at >= 0.95  # the backoff alone would have been 10 ms at most
    assert (notifier.delivered, notifier.retried) == (1, 1)


async def test_a_400_is_final_and_goes_to_the_dead_letter(
    platform: Platform, notifiers: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "dead.jsonl"
    platform.script = [status(400)]
    notifier = notifiers(attempts=5, dead_letter_path=str(path))
    with caplog.at_level(logging.ERROR, logger="chat.hooks"):
        notifier.notify(message(7), CHAT, ["bob", "eve"])
        assert await notifier.flush(5)
    assert len(platform.received) == 1
    assert (notifier.delivered, notifier.retried, notifier.dead_lettered) == (0, 0, 1)
    [line] = dead_letters(path)
    assert line["id"] == platform.received[0].json["id"] and line["reason"] == "HTTP 400"
    assert line["message"] == message(7) and line["chat"] == CHAT and line["recipients"] == ["bob", "eve"]
    assert line["attempts"] == 1 and line["type"] == "message.offline" and line["deadAt"].endswith("Z")
    [record] = [r for r in caplog.records if r.name == "chat.hooks"]
    assert record.levelno == logging.ERROR
    assert record.__dict__["delivery_id"] == line["id"] and record.__dict__["reason"] == "HTTP 400"
    assert record.__dict__["message_id"] == "m7" and "hello" not in record.getMessage()


async def test_the_last_failed_attempt_goes_to_the_dead_letter(
    platform: Platform, notifiers: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "dead.jsonl"
    platform.default = status(503)
    notifier = notifiers(attempts=3, dead_letter_path=str(path))
    notifier.notify(message(), CHAT, ["eve"])
    assert await notifier.flush(5)
    assert len(platform.received) == 3
    [line] = dead_letters(path)
    assert line["reason"] == "HTTP 503" and line["attempts"] == 3
    assert (notifier.delivered, notifier.retried, notifier.dead_lettered) == (0, 2, 1)


async def test_an_attempt_that_outlasts_its_timeout_is_retried(platform: Platform, notifiers: Factory) -> None:
    platform.script = [hold(platform), status(204)]
    notifier = notifiers(timeout_s=0.3)
    notifier.notify(message(), CHAT, ["eve"])
    started = time.monotonic()
    assert await notifier.flush(5)
    assert len(platform.received) == 2 and platform.received[0].body == platform.received[1].body
    assert 0.3 <= platform.received[1].at - platform.received[0].at < 2
    assert time.monotonic() - started < 3
    assert (notifier.delivered, notifier.retried, notifier.dead_lettered) == (1, 1, 0)


async def test_connection_errors_are_retried(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    path = tmp_path / "dead.jsonl"
    notifier = OfflineNotifier(
        f"http://127.0.0.1:{port}/hook",
        SECRET,
        FakePresence(),
        attempts=3,
        backoff_first_s=0.01,
        dead_letter_path=str(path),
    )
    notifier.notify(message(), CHAT, ["eve"])
    assert await notifier.flush(5)
    [line] = dead_letters(path)
    assert line["reason"].startswith("ConnectError") and line["attempts"] == 3
    assert (notifier.retried, notifier.dead_lettered) == (2, 1)
    await notifier.aclose()


async def test_a_failing_presence_lookup_is_retried(platform: Platform, notifiers: Factory) -> None:
    presence = FakePresence(failures=2)
    notifier = notifiers(presence, attempts=3)
    notifier.notify(message(), CHAT, ["eve"])
    assert await notifier.flush(5)
    assert len(presence.asked) == 3 and [b["recipients"] for b in platform.bodies()] == [["eve"]]
    assert (notifier.delivered, notifier.retried) == (1, 2)


async def test_a_full_queue_sends_to_the_dead_letter_at_once(
    platform: Platform, notifiers: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "dead.jsonl"
    notifier = notifiers(queue_size=2, concurrency=1, dead_letter_path=str(path))
    for n in (1, 2, 3):
        notifier.notify(message(n), CHAT, ["eve"])
    assert notifier.dead_lettered == 1 and notifier.queued == 2  # decided in the call, nothing awaited
    assert await notifier.flush(5)
    assert sorted(b["message"]["id"] for b in platform.bodies()) == ["m1", "m2"]
    [line] = dead_letters(path)
    assert line["reason"] == "queue full" and line["message"]["id"] == "m3" and line["attempts"] == 0


async def test_notify_never_blocks_nor_raises(platform: Platform, notifiers: Factory, tmp_path: Path) -> None:
    platform.default = hold(platform)
    path = tmp_path / "dead.jsonl"
    notifier = notifiers(queue_size=100, concurrency=2, dead_letter_path=str(path))
    started = time.perf_counter()
    for n in range(1000):
        notifier.notify(message(n), CHAT, ["eve"])
    assert time.perf_counter() - started < 1.0  # the platform is holding every request
    assert notifier.dead_lettered == 900
    notifier.notify(message(), CHAT, None)  # type: ignore[arg-type]  # a caller's bug: logged, not raised
    notifier.notify(message(), CHAT, [])  # nobody to tell
    platform.release.set()
    assert await notifier.flush(5)
    assert len(platform.received) == 100 and len(dead_letters(path)) == 900


async def test_a_delivery_that_cannot_be_encoded_is_dead_lettered(platform: Platform, notifiers: Factory) -> None:
    notifier = notifiers(concurrency=1)
    notifier.notify({"id": "m1", "content": object()}, CHAT, ["eve"])
    notifier.notify(message(2), CHAT, ["eve"])
    assert await notifier.flush(5)
    assert [b["message"]["id"] for b in platform.bodies()] == ["m2"]  # the worker carried on
    assert (notifier.delivered, notifier.dead_lettered) == (1, 1)


async def test_deliveries_run_concurrently(platform: Platform, notifiers: Factory) -> None:
    platform.script = [hold(platform)]  # the first request hangs until the test ends
    notifier = notifiers(concurrency=2)
    for n in (1, 2, 3):
        notifier.notify(message(n), CHAT, ["eve"])
    assert not await notifier.flush(0.5)
    assert sorted(b["message"]["id"] for b in platform.bodies()) == ["m1", "m2", "m3"]
    assert notifier.delivered == 2


async def test_flush_waits_for_deliveries_in_flight(platform: Platform, notifiers: Factory) -> None:
    platform.script = [hold(platform, seconds=0.3)]
    notifier = notifiers()
    notifier.notify(message(), CHAT, ["eve"])
    started = time.monotonic()
    assert await notifier.flush(5)
    assert time.monotonic() - started >= 0.29 and notifier.delivered == 1 and len(platform.received) == 1


async def test_flush_respects_its_budget(platform: Platform, notifiers: Factory) -> None:
    platform.script = [hold(platform)]
    notifier = notifiers()
    notifier.notify(message(), CHAT, ["eve"])
    started = time.monotonic()
    assert not await notifier.flush(0.2)
    assert 0.2 <= time.monotonic() - started < 1.5
    assert len(platform.received) == 1 and notifier.delivered == 0
    platform.release.set()
    assert await notifier.flush(5) and notifier.delivered == 1


async def test_flush_with_nothing_to_do_returns_at_once(notifiers: Factory) -> None:
    assert await notifiers().flush(0)


async def test_aclose_drains_then_gives_up_within_its_budget(
    platform: Platform, notifiers: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "dead.jsonl"
    platform.script = [status(204), hold(platform)]
    notifier = notifiers(concurrency=1, dead_letter_path=str(path))
    for n in (1, 2, 3):
        notifier.notify(message(n), CHAT, ["eve"])
    started = time.monotonic()
    await notifier.aclose(budget_s=0.3)
    assert time.monotonic() - started < 1.5
    assert [b["message"]["id"] for b in platform.bodies()] == ["m1", "m2"]
    lines = dead_letters(path)
    assert sorted(line["message"]["id"] for line in lines) == ["m2", "m3"]
    assert {line["reason"] for line in lines} == {"shut down before delivery"}
    notifier.notify(message(4), CHAT, ["eve"])  # after close: dead letter, no raise
    assert notifier.dead_lettered == 3 and notifier.delivered == 1
    await notifier.aclose()  # a second close is harmless


@pytest.fixture
def threaded_platform() -> Iterator[tuple[str, list[bytes]]]:
    """A standard-library HTTP server in a thread: it outlives any one event loop."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    server.shutdown()
    server.server_close()


def test_notify_outside_a_loop_queues_until_one_runs(threaded_platform: tuple[str, list[bytes]]) -> None:
    url, bodies = threaded_platform
    notifier = OfflineNotifier(url, SECRET, FakePresence())
    notifier.notify(message(1), CHAT, ["eve"])  # no running loop: queued, no worker yet
    assert notifier.queued == 1
    assert asyncio.run(notifier.flush(5))
    notifier.notify(message(2), CHAT, ["eve"])
    assert asyncio.run(notifier.flush(5))  # another loop: the notifier moves to it
    asyncio.run(notifier.aclose())
    assert [orjson.loads(b)["message"]["id"] for b in bodies] == ["m1", "m2"]
    assert (notifier.delivered, notifier.dead_lettered) == (2, 0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        OfflineNotifier("http://127.0.0.1:1/", SECRET, FakePresence(), attempts=0)
    with pytest.raises(ValueError):
        OfflineNotifier("http://127.0.0.1:1/", SECRET, FakePresence(), timeout_s=0)
    with pytest.raises(ValueError):
        PolicyCheck("http://127.0.0.1:1/", SECRET, on_error="maybe")  # type: ignore[arg-type]


# --- the policy check -----------------------------------------------------------------------------


@pytest.fixture
async def policies(platform: Platform) -> AsyncIterator[Callable[..., PolicyCheck]]:
    made: list[PolicyCheck] = []

    def make(**options: Any) -> PolicyCheck:
        made.append(PolicyCheck(platform.url("/policy"), SECRET, **options))
        return made[-1]

    yield make
    platform.release.set()
    for check in made:
        await check.aclose()


async def test_the_policy_is_asked_signed(platform: Platform, policies: Callable[..., PolicyCheck]) -> None:
    platform.script = [answer_json({"allow": True}), answer_json({"allow": False, "why": "not a buyer"})]
    check = policies()
    assert await check.allow("direct", "ann", ["bob"], "order-17") is True
    assert await check.allow("group", "ann", ["bob", "cyd"], None) is False
    first, second = platform.received
    assert first.path == "/policy" and verify(SECRET, first.headers, first.body)
    assert not verify("another-secret-0123456789abcdef", first.headers, first.body)
    assert first.json == {
        "type": "chat.create",
        "kind": "direct",
        "userId": "ann",
        "others": ["bob"],
        "topic": "order-17",
    }
    assert second.json == {
        "type": "chat.create",
        "kind": "group",
        "userId": "ann",
        "others": ["bob", "cyd"],
        "topic": None,
    }
    assert (check.allowed, check.denied, check.errors) == (1, 1, 0)


@pytest.mark.parametrize("on_error", ["deny", "allow"])
async def test_a_slow_policy_answers_on_error_within_the_budget(
    platform: Platform, policies: Callable[..., PolicyCheck], on_error: str, caplog: pytest.LogCaptureFixture
) -> None:
    platform.script = [hold(platform)]
    check = policies(timeout_s=0.3, on_error=on_error)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="chat.hooks"):
        assert await check.allow("direct", "ann", ["bob"]) is (on_error == "allow")
    assert 0.3 <= time.monotonic() - started < 1.5
    assert len(platform.received) == 1 and check.errors == 1
    [record] = [r for r in caplog.records if r.name == "chat.hooks"]
    assert record.levelno == logging.WARNING and "0.3 s" in record.__dict__["reason"]


@pytest.mark.parametrize(
    "behaviour",
    [
        answer_text("yes"),
        answer_json({"allow": "yes"}),
        answer_json({"permit": True}),
        answer_json([True]),
        answer_json({"allow": True}, code=500),
        answer_json({"allow": True}, code=403),
        status(302, {"Location": "/elsewhere"}),
    ],
    ids=["not-json", "not-a-bool", "no-allow", "not-an-object", "500", "403", "redirect"],
)
@pytest.mark.parametrize("on_error", ["deny", "allow"])
async def test_a_bad_answer_answers_on_error(
    platform: Platform, policies: Callable[..., PolicyCheck], behaviour: Behaviour, on_error: str
) -> None:
    platform.script = [behaviour]
    check = policies(on_error=on_error)
    assert await check.allow("group", "ann", ["bob"]) is (on_error == "allow")
    assert len(platform.received) == 1 and check.errors == 1


async def test_an_unreachable_policy_answers_on_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    check = PolicyCheck(f"http://127.0.0.1:{port}/policy", SECRET)
    assert await check.allow("direct", "ann", ["bob"]) is False
    await check.aclose()


# --- the settings -----------------------------------------------------------------------------------


def test_hook_settings_default_to_off() -> None:
    settings = load_settings({})
    assert settings.webhook_url is None and settings.webhook_secret is None and settings.policy_url is None
    assert settings.webhook_dead_letter is None and settings.webhook_timeout_s == 5.0
    assert settings.webhook_attempts == 5 and settings.policy_timeout_s == 2.0
    assert settings.policy_on_error == "deny" and settings.group_history == "joined"
    assert OfflineNotifier.from_settings(settings, FakePresence()) is None
    assert PolicyCheck.from_settings(settings) is None


async def test_every_hook_variable_is_read() -> None:
    settings = load_settings(
        {
            "CHAT_WEBHOOK_URL": " https://platform.example.com/hooks/chat?tenant=7 ",
            "CHAT_WEBHOOK_SECRET": SECRET,
            "CHAT_WEBHOOK_DEAD_LETTER": "/var/log/chat/dead.jsonl",
            "CHAT_WEBHOOK_TIMEOUT_S": "2.5",
            "CHAT_WEBHOOK_ATTEMPTS": "8",
            "CHAT_POLICY_URL": "http://policy.internal:8080/",
            "CHAT_POLICY_TIMEOUT_S": "0.5",
            "CHAT_POLICY_ON_ERROR": "Allow",
            "CHAT_GROUP_HISTORY": "all",
        }
    )
    assert settings.webhook_url == "https://platform.example.com/hooks/chat?tenant=7"
    assert settings.webhook_secret == SECRET and settings.webhook_dead_letter == "/var/log/chat/dead.jsonl"
    assert settings.webhook_timeout_s == 2.5 and settings.webhook_attempts == 8
    assert settings.policy_url == "http://policy.internal:8080/" and settings.policy_timeout_s == 0.5
    assert settings.policy_on_error == "allow" and settings.group_history == "all"
    notifier = OfflineNotifier.from_settings(settings, FakePresence())
    check = PolicyCheck.from_settings(settings)
    assert notifier is not None and notifier.url == settings.webhook_url
    assert notifier.dead_letter_path == "/var/log/chat/dead.jsonl"
    assert check is not None and check.url == settings.policy_url and check.on_error == "allow"
    await notifier.aclose()
    await check.aclose()


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"CHAT_WEBHOOK_URL": "https://p.example.com/h"}, "CHAT_WEBHOOK_SECRET must be set when CHAT_WEBHOOK_URL"),
        ({"CHAT_POLICY_URL": "https://p.example.com/p"}, "CHAT_WEBHOOK_SECRET must be set when CHAT_POLICY_URL"),
        ({"CHAT_WEBHOOK_URL": "https://p.example.com/h", "CHAT_WEBHOOK_SECRET": "short"}, "at least 16 bytes"),
        ({"CHAT_WEBHOOK_URL": "p.example.com/h", "CHAT_WEBHOOK_SECRET": SECRET}, "CHAT_WEBHOOK_URL must be an http"),
        ({"CHAT_POLICY_URL": "ftp://p.example.com", "CHAT_WEBHOOK_SECRET": SECRET}, "CHAT_POLICY_URL must be an http"),
        ({"CHAT_WEBHOOK_TIMEOUT_S": "0"}, "CHAT_WEBHOOK_TIMEOUT_S must be more than 0"),
        ({"CHAT_WEBHOOK_TIMEOUT_S": "soon"}, "CHAT_WEBHOOK_TIMEOUT_S must be a number"),
        ({"CHAT_WEBHOOK_ATTEMPTS": "0"}, "CHAT_WEBHOOK_ATTEMPTS must be at least 1"),
        ({"CHAT_WEBHOOK_ATTEMPTS": "-2"}, "CHAT_WEBHOOK_ATTEMPTS must not be negative"),
        ({"CHAT_POLICY_TIMEOUT_S": "0"}, "CHAT_POLICY_TIMEOUT_S must be more than 0"),
        ({"CHAT_POLICY_ON_ERROR": "maybe"}, "CHAT_POLICY_ON_ERROR must be deny or allow, got 'maybe'"),
        ({"CHAT_GROUP_HISTORY": "some"}, "CHAT_GROUP_HISTORY must be joined or all, got 'some'"),
    ],
)
def test_bad_hook_settings_name_their_variable(env: dict[str, str], error: str) -> None:
    with pytest.raises(Invalid, match=error):
        load_settings(env)
