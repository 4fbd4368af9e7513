"""`chat import` end to end: a real `chat import` process writes the example file into the store
(SQLite file or DynamoDB through moto_server), a real `chat serve` on that store serves the history
to a python-socketio client and over HTTP, in order, with the original timestamps."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2E_ENV
from tests.support.clients import Recorder
from tests.support.server import ServerProcess, chat_executable

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "import-example.jsonl"

ALICE_BOB = [  # the three messages of old chat 5f1a0c in the example, in their original time order
    ("alice", "import-m-1001", "Hi Bob, is the bike still for sale?", "2021-03-04T09:00:05.120Z"),
    ("bob", "import-m-1002", "It is! Want to see it on Saturday?", "2021-03-04T09:02:41.007Z"),
    ("alice", "import-m-1003", "Saturday at 10 works.", "2021-03-04T09:03:00.000Z"),
]


def chat_import(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`chat import` with the server's own settings (its store), as an operator would run it."""
    return subprocess.run(
        [chat_executable(), "import", *args],
        env=server.environment(),
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def shape(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(m["seq"], m["senderId"], m["clientMessageId"], m["content"], m["createdAt"]) for m in messages]


async def test_imported_history_is_served_by_join_chat_and_http(server_factory: Any, store_env: dict[str, str]) -> None:
    server: ServerProcess = server_factory({**E2E_ENV, **store_env})
    first = chat_import(server, str(EXAMPLE))
    assert first.returncode == 0, first.stderr
    assert "chats: 3 imported (3 new), 0 skipped; messages: 7 imported, 0 already present; errors: 0" in first.stdout
    again = chat_import(server, "--no-progress", str(EXAMPLE))
    assert again.returncode == 0, again.stderr
    assert "messages: 0 imported, 7 already present" in again.stdout

    server.start()
    expected = [(seq, *row) for seq, row in enumerate(ALICE_BOB, start=1)]
    bob = await Recorder(server.url, server.token("bob")).connect()
    try:
        joined = await bob.ok("join_chat", {"recipientId": "alice"})
        assert shape(joined["messages"]) == expected
        assert joined["hasMore"] is False
        chat = joined["chat"]
        assert chat["lastSeq"] == 3 and chat["unreadCount"] == 0  # imported history counts as read
        assert chat["createdAt"] == "2021-03-04T09:00:00.000Z"
        assert chat["lastActivityAt"] == "2021-03-04T09:03:00.000Z"

        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            headers = {"Authorization": f"Bearer {server.token('alice')}"}
            r = await http.get(f"/v1/chats/{chat['id']}/messages", headers=headers)
            assert r.status_code == 200, r.text
            assert shape(r.json()["messages"]) == expected
            inbox = await http.get("/v1/chats", headers=headers)
            assert inbox.status_code == 200, inbox.text
            chats = inbox.json()["chats"]
            # newest original activity first: the group (2023), alice-carol (2022), alice-bob (2021)
            assert [(c["type"], c["title"], c["unreadCount"]) for c in chats] == [
                ("group", "Weekend market stall", 0),
                ("direct", None, 0),
                ("direct", None, 0),
            ]
            assert chats[2]["id"] == chat["id"]

        # live messages follow the imported history
        sent = await bob.ok(
            "send_message", {"chatId": chat["id"], "content": "still for sale?", "clientMessageId": "b1"}
        )
        assert sent["message"]["seq"] == 4
    finally:
        await bob.disconnect()
