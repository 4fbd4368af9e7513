"""The stock JavaScript socket.io-client 4.x against a real server (tests/js/protocol_client.mjs)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import E2E_ENV
from tests.support.clients import unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

JS_DIR = Path(__file__).resolve().parents[1] / "js"
SCRIPT = JS_DIR / "protocol_client.mjs"
NODE = shutil.which("node")

if NODE is None:
    pytest.skip("node is not installed", allow_module_level=True)
if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
    pytest.skip("run `npm ci --prefix tests/js` first", allow_module_level=True)


def tokens(server: ServerProcess) -> str:
    users: dict[str, Any] = {}
    for transport in ("websocket", "polling"):
        users[transport] = {}
        for key in ("a", "b"):
            uid = unique(f"js{key}")
            users[transport][key] = {"id": uid, "token": server.token(uid)}
    return json.dumps(users)


def parse(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_stock_client_protocol(server: ServerProcess) -> None:
    env = {**os.environ, "CHAT_TOKENS": tokens(server)}
    done = subprocess.run(
        [str(NODE), str(SCRIPT), server.url], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    lines = parse(done.stdout)
    assert lines, (done.returncode, done.stdout, done.stderr)
    summary = lines[-1]
    failed = [line for line in lines if line.get("ok") is False and "check" in line]
    assert done.returncode == 0 and summary["ok"] is True, (
        json.dumps(failed or summary, indent=1) + done.stderr
    )
    checks = {(line["transport"], line["check"]) for line in lines if "check" in line}
    for transport in ("websocket", "polling"):
        for name in (
            "connected",
            "join_chat_by_recipient",
            "send_message_and_new_message",
            "mark_messages_read",
            "ping_pong",
            "get_messages",
            "error_ack_invalid",
            "chat_error_without_ack",
            "connect_error_unauthorized",
            "conversations",
        ):
            assert (transport, name) in checks, (transport, name)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_stock_client_reconnects_after_drain(server_factory: Any, transport: str) -> None:
    srv = server_factory({**E2E_ENV, "CHAT_DRAIN_TIMEOUT_S": "3", "CHAT_RECONNECT_AFTER_MS": "300"}).start()
    env = {**os.environ, "CHAT_TOKENS": tokens(srv), "CHAT_JS_DRAIN_WAIT_MS": "20000"}
    proc = subprocess.Popen(
        [str(NODE), str(SCRIPT), srv.url, "--drain", "--transport", transport],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if json.loads(line).get("event") == "ready":
                break
        assert seen and json.loads(seen[-1]).get("event") == "ready", seen
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(timeout=10) == 0, srv.log_text()[-3000:]
        srv.start()
        rest, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = parse("".join(seen) + rest)
    events = [line["event"] for line in lines if "event" in line]
    assert events.index("server_draining") < events.index("disconnect"), events
    summary = lines[-1]
    assert proc.returncode == 0 and summary["ok"] is True, json.dumps(lines, indent=1) + err
    draining = next(line for line in lines if line.get("event") == "server_draining")
    assert draining["data"] == {"reconnectAfterMs": 300}
    disconnect = next(line for line in lines if line.get("event") == "disconnect")
    assert disconnect["reason"] in ("transport close", "transport error") and disconnect["active"] is True
