"""Browser fixtures: the built demo served by a real `chat serve`, Debian's Chromium
driven by Playwright, one browser context per person.

    def test_x(chat_server, open_demo):
        alice = open_demo("alice-1", "bob-1")   # a ChatPage, connected, the chat open

The server runs for the whole package (dev mode, SQLite in a temp dir); a test may
restart it with `chat_server.restart()` (same port, same database).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect, sync_playwright

from tests.support.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
WEB_DIST_INDEX = REPO / "chat_core" / "web_dist" / "index.html"
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CHAT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_ENV: dict[str, str | None] = {
    "CHAT_DEV": "1",
    "CHAT_PING_INTERVAL_S": "2",
    "CHAT_PING_TIMEOUT_S": "2",
    "CHAT_PRESENCE_GRACE_S": "1",
}

#: how long the UI gets to show something that goes over the network
UI_TIMEOUT_MS = 10_000


def new_user(name: str) -> str:
    """A user id no other test (or earlier run on the same database) uses."""
    return f"{name}-{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def web_build() -> Path:
    """The demo must be built before the server starts (it serves web_dist at `/`)."""
    if WEB_DIST_INDEX.is_file():
        return WEB_DIST_INDEX
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"{WEB_DIST_INDEX} is missing and npm is not installed: build web/ first")
    if not (WEB / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)
    return WEB_DIST_INDEX


@pytest.fixture(scope="package")
def chat_server(web_build: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(SERVER_ENV)
    server.start()
    yield server
    code = server.stop()
    log = server.log_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "server.log").write_text(log)
    server.close()
    assert code == 0, f"server exited with {code}:\n{log[-4000:]}"
    assert "Traceback" not in log, f"server logged a traceback:\n{log[-6000:]}"


# Package scope, not session: while the sync API is open the main thread has a running
# event loop, and pytest-asyncio cannot run the async suites that come after this one.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class ChatPage:
    """One person's demo page, with the few moves the tests make."""

    page: Page
    context: BrowserContext
    user: str
    peer: str
    errors: list[str] = field(default_factory=list)

    @property
    def dialog(self) -> Locator:
        return self.page.get_by_role("dialog")

    @property
    def composer(self) -> Locator:
        return self.dialog.get_by_role("textbox", name="Message")

    @property
    def connection(self) -> Locator:
        return self.page.get_by_test_id("connection")

    @property
    def badge(self) -> Locator:
        return self.page.get_by_test_id("unread-badge")

    @property
    def banner(self) -> Locator:
        return self.dialog.locator(".chat-banner")

    def message(self, text: str) -> Locator:
        """The list item of the message whose content is exactly `text`."""
        content = self.page.locator(".chat-message__content").filter(has_text=re.compile(f"^{re.escape(text)}$"))
        return self.dialog.locator("li.chat-message").filter(has=content)

    def message_id(self, text: str) -> str:
        """The id of the confirmed message whose content is exactly `text`."""
        item = self.message(text)
        expect(item).to_have_attribute("data-message-id", re.compile(".+"), timeout=UI_TIMEOUT_MS)
        message_id = item.get_attribute("data-message-id")
        assert message_id
        return message_id

    def message_by_id(self, message_id: str) -> Locator:
        """The list item of a message by id: found also while it is edited, or once it is deleted."""
        return self.dialog.locator(f'li.chat-message[data-message-id="{message_id}"]')

    def open_chat(self) -> None:
        """Open the chat with the button, unless it is open already."""
        if not self.dialog.is_visible():
            self.page.get_by_test_id("chat-toggle").click()
        expect(self.dialog).to_be_visible()

    def send(self, text: str) -> None:
        """Type `text` and press Enter (while the chat is still being opened, it goes once open)."""
        self.composer.fill(text)
        self.composer.press("Enter")

    def wait_connected(self) -> None:
        expect(self.connection).to_have_attribute("data-state", "connected", timeout=UI_TIMEOUT_MS)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


OpenDemo = Callable[..., ChatPage]


def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = (234, 88, 12)) -> bytes:
    """A valid PNG of one colour, made here (no image library needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def open_demo(browser: Browser, chat_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[OpenDemo]:
    """`open_demo(user, peer, open_chat=True)`: a new browser context on the demo page, connected.

    The demo opens the chat by itself; `open_chat=False` loads it with `&open=0`, the chat closed.
    """
    pages: list[ChatPage] = []

    def _open(user: str, peer: str, *, open_chat: bool = True) -> ChatPage:
        context = browser.new_context(viewport={"width": 900, "height": 760}, locale="en-US", timezone_id="UTC")
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        chat_page = ChatPage(page, context, user, peer)
        page.on("pageerror", lambda exc: chat_page.errors.append(str(exc)))
        query = f"?user={user}&peer={peer}" + ("" if open_chat else "&open=0")
        page.goto(chat_server.url + "/" + query)
        chat_page.wait_connected()
        if open_chat:
            expect(chat_page.dialog).to_be_visible()
        else:
            expect(chat_page.dialog).to_have_count(0)
        pages.append(chat_page)
        return chat_page

    yield _open
    test_name = request.node.name
    for chat_page in pages:
        with contextlib.suppress(Exception):  # a screenshot is an artifact, never a failure
            chat_page.shot(f"{test_name}-{chat_page.user.split('-')[0]}-end")
        chat_page.context.close()
    errors = [e for p in pages for e in p.errors]
    assert not errors, f"uncaught errors in the page: {errors}"


@dataclass
class HttpUser:
    """A user acting through the HTTP API (token from /dev/token)."""

    base_url: str
    user: str

    def _headers(self) -> dict[str, str]:
        r = httpx.post(f"{self.base_url}/dev/token", json={"userId": self.user}, timeout=10)
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def direct_chat_id(self, recipient_id: str) -> str:
        r = httpx.post(
            f"{self.base_url}/v1/chats",
            json={"type": "direct", "recipientId": recipient_id},
            headers=self._headers(),
            timeout=10,
        )
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])

    def send(self, chat_id: str, content: str) -> dict[str, object]:
        r = httpx.post(
            f"{self.base_url}/v1/chats/{chat_id}/messages",
            json={"content": content, "clientMessageId": secrets.token_hex(8)},
            headers=self._headers(),
            timeout=10,
        )
        assert r.status_code == 201, r.text
        body: dict[str, object] = r.json()
        return body


@pytest.fixture
def http_user(chat_server: ServerProcess) -> Callable[[str], HttpUser]:
    return lambda user: HttpUser(chat_server.url, user)
