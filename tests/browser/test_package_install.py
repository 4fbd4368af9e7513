"""The web package as another app installs it: `npm pack` of web/, a fresh Vite + React 18 app
outside the repository that installs the tarball, imports `ChatModalSocketIO` and
`chat-core-web/styles.css`, and is served from its own origin; two people chat through it
against a real `chat serve` that allows that origin (CHAT_CORS_ORIGINS)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser.conftest import ARTIFACTS, SERVER_ENV, UI_TIMEOUT_MS, WEB, new_user
from tests.support.server import ServerProcess

# The first test also packs, installs and builds (about 30 s with a warm npm cache).
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

#: a React other than the repository's 19, to prove the peer range
APP_REACT = "18.3.1"
APP_TYPES_REACT = "^18.3.0"
APP_DIR = "embedding-app"
NPM_FLAGS = ["--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"]

# The app a platform would write: its own button and badge, the modal with the original props,
# a token from its backend (here the chat server's dev endpoint) and the chat server's URL
# from its build configuration.
MAIN_TSX = """\
import { StrictMode, useState, version } from "react";
import { createRoot } from "react-dom/client";
import { ChatModalSocketIO } from "chat-core-web";
import "chat-core-web/styles.css";

const CHAT_URL: string = import.meta.env.VITE_CHAT_URL;
const params = new URLSearchParams(window.location.search);
const me = params.get("user") ?? "";
const peer = params.get("peer") ?? "";

async function getToken(): Promise<string> {
  const res = await fetch(`${CHAT_URL}/dev/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId: me }),
  });
  if (!res.ok) throw new Error(`POST /dev/token answered ${res.status}`);
  const body = (await res.json()) as { token: string };
  return body.token;
}

function App() {
  const [isOpen, setIsOpen] = useState(false);
  const [unread, setUnread] = useState(0);
  return (
    <main>
      <p data-testid="react-version">{version}</p>
      <button type="button" data-testid="messages" onClick={() => setIsOpen(true)}>
        Messages{unread > 0 && <span data-testid="unread">{unread}</span>}
      </button>
      <ChatModalSocketIO
        isOpen={isOpen}
        onClose={() => setIsOpen(false)}
        recipientId={peer}
        recipientName={`Peer ${peer}`}
        onUnreadCountUpdate={setUnread}
        serverUrl={CHAT_URL}
        getToken={getToken}
        currentUserId={me}
      />
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
"""

INDEX_HTML = """\
<!doctype html>
<html lang="en">
  <head><meta charset="UTF-8" /><link rel="icon" href="data:," /><title>Embedding app</title></head>
  <body><div id="root"></div><script type="module" src="/src/main.tsx"></script></body>
</html>
"""

VITE_CONFIG = """\
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({ plugins: [react()] });
"""

TSCONFIG = {
    "compilerOptions": {
        "target": "ES2022",
        "lib": ["ES2022", "DOM", "DOM.Iterable"],
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "jsx": "react-jsx",
        "strict": True,
        "noEmit": True,
        "skipLibCheck": True,  # as create-vite's template; halves the type-check on a busy machine
        "types": ["vite/client"],
    },
    "include": ["src"],
}


def npm_executable() -> str:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the package test needs Node.js and npm (make system-deps)")
    return npm


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} (in {cwd}) exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def app_package_json() -> dict[str, Any]:
    """The fresh app's manifest: React 18, and the repository's own Vite/TypeScript ranges."""
    dev = json.loads((WEB / "package.json").read_text())["devDependencies"]
    return {
        "name": "embedding-app",
        "private": True,
        "version": "0.0.0",
        "type": "module",
        "scripts": {"build": "tsc -p tsconfig.json && vite build"},
        "dependencies": {"react": APP_REACT, "react-dom": APP_REACT},
        "devDependencies": {
            "@types/react": APP_TYPES_REACT,
            "@types/react-dom": APP_TYPES_REACT,
            "@vitejs/plugin-react": dev["@vitejs/plugin-react"],
            "typescript": dev["typescript"],
            "vite": dev["vite"],
        },
    }


@dataclass
class FreshApp:
    root: Path
    tarball: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def dist(self) -> Path:
        return self.root / "dist"


def build_fresh_app(tmp: Path, chat_url: str) -> FreshApp:
    npm = npm_executable()
    timings: dict[str, float] = {}
    started = time.monotonic()
    if not (WEB / "node_modules").is_dir():
        run([npm, "ci", *NPM_FLAGS], WEB)
    pack_dir = tmp / "pack"
    pack_dir.mkdir()
    run([npm, "pack", "--pack-destination", str(pack_dir), "--loglevel=error"], WEB)  # prepack: build:lib
    tarballs = list(pack_dir.glob("chat-core-web-*.tgz"))
    assert len(tarballs) == 1, f"npm pack wrote {tarballs}"
    timings["pack"] = time.monotonic() - started

    root = tmp / APP_DIR
    (root / "src").mkdir(parents=True)
    (root / "package.json").write_text(json.dumps(app_package_json(), indent=2))
    (root / "index.html").write_text(INDEX_HTML)
    (root / "vite.config.ts").write_text(VITE_CONFIG)
    (root / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2))
    (root / "src" / "main.tsx").write_text(MAIN_TSX)

    started = time.monotonic()
    run([npm, "install", *NPM_FLAGS, str(tarballs[0])], root)
    timings["install"] = time.monotonic() - started
    started = time.monotonic()
    run([npm, "run", "build", "--loglevel=error"], root, env={**os.environ, "VITE_CHAT_URL": chat_url})
    timings["build"] = time.monotonic() - started
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "package-install-timings.json").write_text(json.dumps(timings, indent=2))
    return FreshApp(root, tarballs[0], timings)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """Serves `directory` (it may not exist yet) on a free port, its own origin, as a platform's
    web server would; yields that origin. Bound first, so the port cannot be taken meanwhile."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, name="embedding-app-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@dataclass
class Embedding:
    app: FreshApp
    app_url: str
    server: ServerProcess


@pytest.fixture(scope="module")
def embedding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedding]:
    """Packs, installs and builds the fresh app once, serves it, and runs a `chat serve` that
    allows the app's origin (and no other: the defaults are replaced)."""
    tmp = tmp_path_factory.mktemp("package-install")
    assert not tmp.resolve().is_relative_to(WEB.parent.resolve()), "the fresh app must live outside the repository"
    with static_server(tmp / APP_DIR / "dist") as app_origin:
        server = ServerProcess({**SERVER_ENV, "CHAT_CORS_ORIGINS": app_origin})
        try:
            server.start()  # first, so its port (chosen free just now) is taken during the build
            app = build_fresh_app(tmp, server.url)
            yield Embedding(app, app_origin, server)
        finally:
            code = server.stop()
            log = server.log_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "package-install-server.log").write_text(log)
            server.close()
    assert code == 0, f"server exited with {code}:\n{log[-4000:]}"
    assert "Traceback" not in log, f"server logged a traceback:\n{log[-6000:]}"


def test_the_tarball_holds_the_library_and_nothing_else(embedding: Embedding) -> None:
    # GIVEN the tarball npm pack made
    with tarfile.open(embedding.app.tarball) as tar:
        names = sorted(n.removeprefix("package/") for n in tar.getnames())
    # THEN it is the built library, its declarations, the CSS and the README: no sources, no demo
    assert {"package.json", "dist/index.js", "dist/index.d.ts", "dist/styles.css"} <= set(names)
    assert all(n in ("package.json", "README.md") or n.startswith("dist/") for n in names), names
    assert not [n for n in names if "demo" in n or n.endswith((".tsx", ".map"))], names
    # and the installed app has one React, the app's own 18, that the package did not bring along
    installed = embedding.app.root / "node_modules"
    assert json.loads((installed / "react" / "package.json").read_text())["version"] == APP_REACT
    assert not (installed / "chat-core-web" / "node_modules").exists()
    copies = run([npm_executable(), "ls", "react", "--all", "--parseable"], embedding.app.root).split()
    assert copies == [str(installed / "react")], copies


def test_two_people_chat_in_an_app_that_installed_the_package(embedding: Embedding, browser: Browser) -> None:
    alice_id, bob_id = new_user("alice"), new_user("bob")
    hello = "Hello from an app that installed chat-core-web"
    errors: list[str] = []
    contexts: list[BrowserContext] = []

    def open_app(user: str, peer: str) -> Page:
        context = browser.new_context(viewport={"width": 900, "height": 760}, locale="en-US", timezone_id="UTC")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{embedding.app_url}/?user={user}&peer={peer}")
        return page

    def message(page: Page, text: str) -> Locator:
        content = page.locator(".chat-message__content").filter(has_text=re.compile(f"^{re.escape(text)}$"))
        return page.get_by_role("dialog").locator("li.chat-message").filter(has=content)

    try:
        # GIVEN alice (chat open) and bob (chat closed) on the app, a different origin from the server
        alice = open_app(alice_id, bob_id)
        bob = open_app(bob_id, alice_id)
        expect(alice.get_by_test_id("react-version")).to_have_text(APP_REACT)
        alice.get_by_test_id("messages").click()
        dialog = alice.get_by_role("dialog", name=f"Peer {bob_id}")
        composer = dialog.get_by_role("textbox", name="Message")
        expect(composer).to_be_enabled(timeout=UI_TIMEOUT_MS)
        # the stylesheet the app imported is applied: the overlay covers the viewport
        assert alice.locator(".chat-overlay").evaluate("e => getComputedStyle(e).position") == "fixed"

        # WHEN alice writes
        composer.fill(hello)
        composer.press("Enter")  # sent at once, or as soon as the chat is open

        # THEN it is sent, bob's badge (onUnreadCountUpdate) counts it, and bob reads it
        expect(message(alice, hello)).to_have_attribute("data-status", re.compile("sent|read"))
        expect(bob.get_by_test_id("unread")).to_have_text("1", timeout=UI_TIMEOUT_MS)
        bob.get_by_test_id("messages").click()
        expect(message(bob, hello)).to_be_visible()
        expect(message(alice, hello)).to_have_attribute("data-status", "read")

        # WHEN bob answers, alice sees it
        bob_composer = bob.get_by_role("dialog").get_by_role("textbox", name="Message")
        bob_composer.fill("Got it, one React and all")
        bob_composer.press("Enter")
        expect(message(alice, "Got it, one React and all")).to_be_visible()
        with contextlib.suppress(Exception):  # a screenshot is an artifact, never a failure
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            alice.screenshot(path=str(ARTIFACTS / "package-install-alice.png"))
    finally:
        for context in contexts:
            context.close()
    assert not errors, f"errors in the page: {errors}"
