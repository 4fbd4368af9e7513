"""`chat import` into a real store (chat_core/importer.py and the CLI command), on SQLite and on
DynamoDB under moto: idempotence, order, original timestamps, read state, bad chats skipped whole."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from chat_core import cli
from chat_core.errors import Unavailable
from chat_core.ids import direct_chat_id
from chat_core.import_file import ImportPlan, group_chat_id, parse
from chat_core.importer import Progress, run_import
from chat_core.models import AppendResult, Chat, HistoricMessage
from chat_core.ports import Store
from tests.contract.conftest import serialize_moto
from tests.support.moto_server import use_dummy_aws
from tests.unit.test_import_file import NOW, chat, message

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "import-example.jsonl"
ALICE_BOB = direct_chat_id("alice", "bob")


@pytest.fixture(params=["sqlite", pytest.param("dynamodb", marks=pytest.mark.dynamodb)])
async def target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        from chat_core.stores.sqlite import SqliteStore

        sqlite = await SqliteStore.open(str(tmp_path / "chat.db"))
        yield sqlite
        await sqlite.close()
        return
    from moto import mock_aws

    from chat_core.stores.dynamodb import DynamoStore
    from chat_core.stores.dynamodb_schema import create_table

    use_dummy_aws(monkeypatch)
    serialize_moto(monkeypatch)
    with mock_aws():
        create_table(boto3.client("dynamodb"), "chat-import")
        dynamo = await DynamoStore.open("chat-import")
        yield dynamo
        await dynamo.close()


def plan_of(*records: dict[str, Any]) -> ImportPlan:
    return parse([json.dumps(r) for r in records], NOW)


async def history(store: Store, chat_id: str) -> list[tuple[int, str, str, int]]:
    page = await store.list_messages(chat_id, before_seq=None, after_seq=0, limit=100)
    return [(m.seq, m.sender_id, m.client_message_id, m.created_at_ms) for m in page.messages]


async def unread(store: Store, user: str, chat_id: str) -> int:
    entries = await store.unread_entries(user, [chat_id])
    return entries[chat_id].count


async def test_the_example_imports_once_in_time_order_with_original_times(target: Store) -> None:
    with EXAMPLE.open("rb") as lines:
        plan = parse(lines, NOW)
    first = await run_import(target, plan)
    assert (first.chats_imported, first.chats_created, first.messages_imported, first.errors) == (3, 3, 7, [])
    assert await history(target, ALICE_BOB) == [
        (1, "alice", "import-m-1001", 1614848405120),
        (2, "bob", "import-m-1002", 1614848561007),
        (3, "alice", "import-m-1003", 1614848580000),
    ]
    group = group_chat_id("team-1")
    assert [row[2] for row in await history(target, group)] == ["import-m-3001", "import-m-3002", "import-m-3003"]
    stored = await target.get_chat(group)
    assert stored is not None and stored.title == "Weekend market stall"
    assert stored.created_at_ms == 1682928000000 and stored.last_activity_ms == 1682929200000

    again = await run_import(target, plan)
    assert (again.chats_imported, again.chats_created, again.messages_imported, again.messages_present) == (3, 0, 0, 7)
    assert [row[0] for row in await history(target, ALICE_BOB)] == [1, 2, 3]
    # a repeat burnt no seq: the next live message follows the history directly
    live = await target.append_message(ALICE_BOB, "bob", "new here", "live-1", NOW)
    assert live.message.seq == 4


async def test_imported_history_is_read_unless_a_read_time_says_otherwise(target: Store) -> None:
    plan = plan_of(
        chat(kind="group", members=["alice", "bob", "carol"], readAt={"carol": "2021-03-04T09:00:02Z"}),
        message("m1", at="2021-03-04T09:00:01Z"),
        message("m2", sender="bob", at="2021-03-04T09:00:02Z"),
        message("m3", at="2021-03-04T09:00:03Z"),
        message("m4", sender="bob", at="2021-03-04T09:00:04Z"),
    )
    await run_import(target, plan)
    chat_id = group_chat_id("c1")
    assert [await unread(target, user, chat_id) for user in ("alice", "bob", "carol")] == [0, 0, 2]
    stored = await target.get_chat(chat_id)
    assert stored is not None and dict(stored.read_seqs) == {"alice": 4, "bob": 4, "carol": 2}


async def test_a_bad_record_leaves_nothing_of_its_chat_and_the_others_import(target: Store) -> None:
    plan = plan_of(
        chat(),
        chat("c2", members=["alice", "carol"]),
        message("m1"),
        message("m2", chat="c2", sender="carol"),
        message("m3", chat="c2", sender="carol", content="x" * 5000),
        message("m4"),
    )
    report = await run_import(target, plan)
    assert [(e.line, e.message) for e in report.errors] == [(5, "content must be at most 4000 characters")]
    assert (report.chats_imported, report.chats_skipped, report.messages_imported) == (1, 1, 2)
    assert await target.get_chat(direct_chat_id("alice", "carol")) is None
    assert [row[2] for row in await history(target, ALICE_BOB)] == ["import-m1", "import-m4"]


class FailsAfter:
    """The store goes away after `batches` import_messages calls (a crash midway)."""

    def __init__(self, store: Store, batches: int) -> None:
        self._store, self.left = store, batches

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def import_messages(self, chat_id: str, messages: Sequence[HistoricMessage]) -> tuple[AppendResult, ...]:
        if self.left == 0:
            raise Unavailable("store went away")
        self.left -= 1
        return await self._store.import_messages(chat_id, messages)


async def test_a_run_that_stopped_midway_is_completed_by_the_next_one(target: Store) -> None:
    records = [message(f"m{n}", sender="alice" if n % 2 else "bob", at=f"2021-03-04T09:00:{n:02d}Z") for n in range(10)]
    plan = plan_of(chat(), *reversed(records))
    with pytest.raises(Unavailable):
        await run_import(FailsAfter(target, 2), plan, batch=3)
    assert len(await history(target, ALICE_BOB)) == 6
    report = await run_import(target, plan, batch=3)
    assert (report.messages_imported, report.messages_present) == (4, 6)
    rows = await history(target, ALICE_BOB)
    assert [row[0] for row in rows] == list(range(1, 11))
    assert [row[2] for row in rows] == [f"import-m{n}" for n in range(10)]
    assert [row[3] for row in rows] == sorted(row[3] for row in rows)


async def test_a_chat_that_already_has_live_messages_is_refused(target: Store) -> None:
    now = NOW - 1000
    await target.create_chat(Chat(ALICE_BOB, "direct", None, ("alice", "bob"), now, 0, now, None, {}))
    await target.append_message(ALICE_BOB, "bob", "hello from the new server", "k1", now)
    plan = plan_of(chat("c2", members=["bob", "carol"]), chat(), message("m1"))
    report = await run_import(target, plan)
    [(line, text)] = [(e.line, e.message) for e in report.errors]
    assert line == 2 and "has messages sent on this server" in text
    assert (report.chats_imported, report.chats_skipped) == (1, 1)
    assert [row[2] for row in await history(target, ALICE_BOB)] == ["k1"]


async def test_an_opened_but_empty_direct_chat_takes_the_history(target: Store) -> None:
    now = NOW - 1000
    await target.create_chat(Chat(ALICE_BOB, "direct", None, ("alice", "bob"), now, 0, now, None, {}))
    report = await run_import(target, plan_of(chat(), message("m1")))
    assert (report.chats_imported, report.chats_created, report.errors) == (1, 0, [])
    assert [row[2] for row in await history(target, ALICE_BOB)] == ["import-m1"]


async def test_a_group_imported_before_with_other_members_is_refused(target: Store) -> None:
    await run_import(target, plan_of(chat(kind="group", members=["alice", "bob"])))
    report = await run_import(target, plan_of(chat(kind="group", members=["alice", "bob", "carol"]), message("m1")))
    [error] = report.errors
    assert error.line == 1 and "does not change a chat's members" in error.message
    assert await history(target, group_chat_id("c1")) == []


def test_progress_draws_one_line_on_a_terminal_and_stays_quiet_elsewhere() -> None:
    now = [0.0]
    terminal = io.StringIO()
    bar = Progress(200, terminal, tty=True, clock=lambda: now[0])
    bar.advance(50)  # too soon after the start to redraw
    now[0] = 1.0
    bar.advance(50)
    bar.finish()
    assert terminal.getvalue() == (
        f"\rimporting [{'#' * 15:<30}] 100/200 messages  50%\rimporting [{'#' * 15:<30}] 100/200 messages  50%\n"
    )
    log = io.StringIO()
    quiet = Progress(200, log, tty=False, clock=lambda: now[0])
    quiet.advance(100)
    now[0] = 20.0
    quiet.advance(100)
    quiet.finish()
    assert log.getvalue() == "importing: 200/200 messages (100%)\n"


def test_the_command_reports_lines_and_summary_and_exits_non_zero_on_bad_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "chat.db"
    monkeypatch.setenv("CHAT_SQLITE_PATH", str(db))
    monkeypatch.delenv("CHAT_STORE", raising=False)
    source = tmp_path / "old.jsonl"
    source.write_text(
        "\n".join(
            json.dumps(r) for r in [chat(), message("m1"), message("m2", sender="zed"), chat("c2", members=["a", "b"])]
        )
    )
    assert cli.main(["import", "--dry-run", str(source)]) == 1
    assert not db.exists()
    assert cli.main(["import", "--no-progress", str(source)]) == 1
    out, err = capsys.readouterr()
    assert f"{source}:3: sender 'zed' is not a member of chat 'c1'" in err
    assert "chats: 1 imported (1 new), 1 skipped; messages: 0 imported, 0 already present; errors: 1" in out

    assert cli.main(["import", str(EXAMPLE)]) == 0
    assert cli.main(["import", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert (
        out.splitlines()[-1]
        == "chats: 3 imported (0 new), 0 skipped; messages: 0 imported, 7 already present; errors: 0"
    )
    assert err == ""  # not a terminal, and fast: no progress lines
    assert cli.main(["import", str(tmp_path / "missing.jsonl")]) == 2
