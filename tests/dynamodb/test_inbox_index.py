"""The DynamoDB store's inbox index (docs/conversations.md, "The inbox"; docs/dynamodb.md): member
entries ACT#<time>#<chat> within a step of their chat's activity, moved by a message at most once
per step, read a chunk at a time by list_chats; old CHAT#<chat> entries migrating; the states a
crash leaves. Run on the in-memory stub (tests/support/dynamo_stub.py) and on moto, with a
1-second step; the contract suite (tests/contract) holds both stores to the exact order."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chat_core.ids import direct_chat_id
from chat_core.models import Chat, ChatUpdate
from chat_core.stores.dynamodb import DynamoStore
from chat_core.stores.dynamodb_items import activity_key, chat_pk
from chat_core.stores.dynamodb_schema import table_definition
from tests.contract.conftest import serialize_moto
from tests.support.dynamo_stub import StubDynamoClient
from tests.support.moto_server import use_dummy_aws

pytestmark = pytest.mark.dynamodb
TABLE = "inbox-index"
T0 = 1_764_000_000_000
STEP = 1000


@pytest.fixture(params=["stub", pytest.param("moto", marks=pytest.mark.slow)])
def db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The table: on the in-memory stub, and on moto (closer to DynamoDB, slower)."""
    if request.param == "stub":
        stub = StubDynamoClient(latency_s=0)
        stub.create_table(**table_definition(TABLE))
        yield stub
        return
    use_dummy_aws(monkeypatch)
    serialize_moto(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(**table_definition(TABLE))
        yield client


@pytest.fixture
async def store(db: Any) -> AsyncIterator[DynamoStore]:
    opened = DynamoStore(db, TABLE, executor=ThreadPoolExecutor(8), inbox_step_ms=STEP)
    yield opened
    await opened.close()


def group(chat_id: str, members: list[str], at: int) -> Chat:
    return Chat(chat_id, "group", chat_id, tuple(members), at, 0, at, None, admins=tuple(members[:1]))


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def item(db: Any, pk: str, sk: str) -> dict[str, Any]:
    found: dict[str, Any] = db.get_item(TableName=TABLE, Key=key(pk, sk), ConsistentRead=True)["Item"]
    return found


def entry(db: Any, chat_id: str, user: str) -> str:
    return str(item(db, chat_pk(chat_id), f"MEMBER#{user}")["gsi1sk"]["S"])


def indexed_at(db: Any, chat_id: str) -> int:
    return int(item(db, chat_pk(chat_id), "META")["indexedAt"]["N"])


def update(db: Any, pk: str, sk: str, expression: str, **values: dict[str, str]) -> None:
    db.update_item(TableName=TABLE, Key=key(pk, sk), UpdateExpression=expression, ExpressionAttributeValues=values)


_sent = iter(range(1, 10**9))


async def send(store: DynamoStore, chat_id: str, at: int, sender: str = "bob") -> None:
    result = await store.append_message(chat_id, sender, "hi", f"k{next(_sent)}", at)
    assert result.created


async def walk(store: DynamoStore, user: str, limit: int) -> list[str]:
    """Every page of the user's inbox, `limit` at a time."""
    walked: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await store.list_chats(user, limit, cursor)
        assert len(page.chats) <= limit
        walked += [c.id for c in page.chats]
        if (cursor := page.next_cursor) is None:
            return walked
    raise AssertionError("the pages did not end")


async def expect_order(store: DynamoStore, user: str, expected: list[str]) -> None:
    page = await store.list_chats(user, 100, None)
    assert [c.id for c in page.chats] == expected
    for limit in (1, 2, 3):
        assert await walk(store, user, limit) == expected, limit


def count_calls(db: Any) -> Callable[[], dict[str, int]]:
    """The requests sent from now on, by operation, when the returned function is called."""
    if isinstance(db, StubDynamoClient):
        before = dict(db.calls)
        return lambda: {op: n - before.get(op, 0) for op, n in db.calls.items() if n - before.get(op, 0)}
    seen: Counter[str] = Counter()

    def after_call(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    db.meta.events.register("after-call.dynamodb", after_call)

    def done() -> dict[str, int]:
        db.meta.events.unregister("after-call.dynamodb", after_call)
        return dict(seen)

    return done


# --- the send path --------------------------------------------------------------------------
async def test_a_message_within_the_step_moves_no_entry_and_one_at_the_step_moves_them_all(
    store: DynamoStore, db: Any
) -> None:
    await store.create_chat(group("g", ["alice", "bob", "carol"], T0))
    assert {entry(db, "g", u) for u in ("alice", "bob", "carol")} == {activity_key(T0, "g")}
    assert indexed_at(db, "g") == T0

    calls = count_calls(db)
    await send(store, "g", T0 + STEP - 1)
    assert calls() == {"UpdateItem": 1, "PutItem": 1}, "a fresh index: the 2 writes of a send, no read"
    assert entry(db, "g", "alice") == activity_key(T0, "g") and indexed_at(db, "g") == T0

    calls = count_calls(db)
    await send(store, "g", T0 + STEP)
    # the seq, the message, the members read, one update per member, then META's indexedAt
    assert calls() == {"UpdateItem": 1 + 3 + 1, "PutItem": 1, "Query": 1}
    assert {entry(db, "g", u) for u in ("alice", "bob", "carol")} == {activity_key(T0 + STEP, "g")}
    assert indexed_at(db, "g") == T0 + STEP
    assert item(db, chat_pk("g"), "META")["indexedSeq"] == {"N": "2"}


async def test_a_clock_going_back_a_step_moves_the_entries_back(store: DynamoStore, db: Any) -> None:
    for i, chat_id in enumerate(("a", "b", "c")):
        await store.create_chat(group(chat_id, ["alice", "bob"], T0 + 10 * STEP + i * 3 * STEP))
    # b's newest message comes from a clock far behind: its activity goes back (as in SQLite)
    await send(store, "b", T0 + 2 * STEP)
    assert entry(db, "b", "alice") == activity_key(T0 + 2 * STEP, "b")
    await expect_order(store, "alice", ["c", "a", "b"])
    # and back within a step: the entry stays, the order is still exact
    await send(store, "b", T0 + 2 * STEP - STEP // 2)
    assert entry(db, "b", "alice") == activity_key(T0 + 2 * STEP, "b")
    await expect_order(store, "alice", ["c", "a", "b"])


async def test_concurrent_messages_that_each_find_the_index_stale_end_in_one_state(store: DynamoStore, db: Any) -> None:
    members = ["alice", "bob", *(f"m{i}" for i in range(30))]
    await store.create_chat(group("g", members, T0))
    await asyncio.gather(*(send(store, "g", T0 + 5 * STEP + i) for i in range(8)))
    meta = item(db, chat_pk("g"), "META")
    last = int(meta["lastActivity"]["N"])
    entries = {entry(db, "g", u) for u in members}
    assert len(entries) == 1, "every member's entry holds one time: the newest re-index's"
    (held,) = entries
    assert held == activity_key(int(meta["indexedAt"]["N"]), "g")
    assert abs(last - int(meta["indexedAt"]["N"])) < STEP
    tags = {item(db, chat_pk("g"), f"MEMBER#{u}")["indexedSeq"]["N"] for u in members}
    assert tags == {meta["indexedSeq"]["N"]}


async def test_import_moving_the_activity_a_step_reindexes(store: DynamoStore, db: Any) -> None:
    from chat_core.models import HistoricMessage

    await store.create_chat(group("g", ["alice", "bob"], T0))
    await store.import_messages("g", [HistoricMessage("bob", "old", "h1", T0 - 10 * STEP)])
    assert entry(db, "g", "alice") == activity_key(T0, "g"), "an older import leaves the activity"
    await store.import_messages("g", [HistoricMessage("bob", "new", "h2", T0 + 3 * STEP)])
    assert entry(db, "g", "alice") == activity_key(T0 + 3 * STEP, "g")
    assert indexed_at(db, "g") == T0 + 3 * STEP


# --- list_chats ------------------------------------------------------------------------------
async def test_a_chat_whose_entry_is_behind_its_activity_is_listed_in_its_place(store: DynamoStore, db: Any) -> None:
    await store.create_chat(group("a", ["alice", "bob"], T0))
    await store.create_chat(group("b", ["alice", "bob"], T0 + 600))
    await store.create_chat(group("c", ["alice", "bob"], T0 + 900))
    await store.create_chat(group("d", ["alice", "bob"], T0 + 999))
    await send(store, "a", T0 + 999)  # within the step: a's entry stays at T0, behind b's and c's
    assert entry(db, "a", "alice") == activity_key(T0, "a")
    await expect_order(store, "alice", ["a", "d", "c", "b"])  # a and d tie: by id


async def test_pages_read_about_a_page_of_entries_whatever_the_inbox_size(store: DynamoStore, db: Any) -> None:
    chats = [f"c{i:03d}" for i in range(300)]
    for i, chat_id in enumerate(chats):  # 2 steps apart: no chat is within a step of another
        await store.create_chat(group(chat_id, ["alice", f"pal{i}"], T0 + 2 * STEP * i))
    asked: list[int] = []
    original = db.batch_get_item

    def counting(**params: Any) -> dict[str, Any]:
        asked.append(sum(len(r["Keys"]) for r in params["RequestItems"].values()))
        answer: dict[str, Any] = original(**params)
        return answer

    db.batch_get_item = counting
    page = await store.list_chats("alice", 20, None)
    assert [c.id for c in page.chats] == list(reversed(chats))[:20]
    assert sum(asked) == 22, "limit + 2 chats' META: the page, the next one, and the entry that placed it"
    asked.clear()
    second = await store.list_chats("alice", 20, page.next_cursor)
    assert [c.id for c in second.chats] == list(reversed(chats))[20:40]
    assert sum(asked) <= 23
    # chats a minute of activity apart within the step: a page also reads those within a step of its end
    asked.clear()
    for i in range(40):
        await store.create_chat(group(f"n{i:02d}", ["alice", f"new{i}"], T0 + 10**6 + 100 * i))
    page = await store.list_chats("alice", 20, None)
    assert [c.id for c in page.chats] == [f"n{i:02d}" for i in range(39, 19, -1)]
    assert sum(asked) <= 20 + 2 + STEP // 100 + 1


async def test_entries_of_an_older_version_are_placed_and_migrated(store: DynamoStore, db: Any) -> None:
    """A table written before the index was ordered: META without version, indexedAt, admins;
    MEMBER items with gsi1sk = CHAT#<chat> and no joinedSeq."""

    def legacy_chat(chat_id: str, chat_type: str, members: list[str], activity: int) -> None:
        pk = chat_pk(chat_id)
        db.put_item(
            TableName=TABLE,
            Item={
                **key(pk, "META"),
                "chatId": {"S": chat_id},
                "type": {"S": chat_type},
                "title": {"NULL": True},
                "createdAt": {"N": str(T0)},
                "lastActivity": {"N": str(activity)},
                "lastSeq": {"N": "0"},
                "memberCount": {"N": str(len(members))},
            },
        )
        for idx, user in enumerate(members):
            db.put_item(
                TableName=TABLE,
                Item={
                    **key(pk, f"MEMBER#{user}"),
                    "userId": {"S": user},
                    "idx": {"N": str(idx)},
                    "readSeq": {"N": "0"},
                    "gsi1pk": {"S": f"USER#{user}"},
                    "gsi1sk": {"S": pk},
                },
            )

    old_direct = direct_chat_id("alice", "bob")
    legacy_chat(old_direct, "direct", ["alice", "bob"], T0 + 5 * STEP)
    legacy_chat("old-group", "group", ["carol", "alice", "bob"], T0 + 2 * STEP)
    await store.create_chat(group("new", ["alice", "dave"], T0 + 3 * STEP))
    await store.create_chat(group("newer", ["alice", "dave"], T0 + 9 * STEP))

    old = await store.get_chat("old-group")
    assert old is not None
    assert (old.version, old.admins, old.acting_admins, old.topic, old.blocked_by) == (
        0,
        (),
        ("carol",),
        None,
        frozenset(),
    )
    assert dict(old.joined_seqs) == {"carol": 0, "alice": 0, "bob": 0}
    # every reader finds chats through both forms of entries
    assert set(await store.unread_entries("alice")) == {old_direct, "old-group", "new", "newer"}
    assert await store.contacts("alice") == {"bob", "carol", "dave"}

    assert [c.id for c in (await store.list_chats("alice", 2, None)).chats] == ["newer", old_direct]
    # that first read moved alice's old entries to the ordered form, at the chats' activity
    assert entry(db, old_direct, "alice") == activity_key(T0 + 5 * STEP, old_direct)
    assert entry(db, "old-group", "alice") == activity_key(T0 + 2 * STEP, "old-group")
    assert entry(db, "old-group", "carol") == chat_pk("old-group"), "only the reader's own entries"
    await expect_order(store, "alice", ["newer", old_direct, "new", "old-group"])
    await expect_order(store, "carol", ["old-group"])

    # the chat's first message indexes every member (META had no indexedAt)
    await send(store, "old-group", T0 + 2 * STEP + 10, sender="carol")
    assert {entry(db, "old-group", u) for u in ("carol", "alice", "bob")} == {
        activity_key(T0 + 2 * STEP + 10, "old-group")
    }
    assert indexed_at(db, "old-group") == T0 + 2 * STEP + 10
    # membership changes and blocks work on the old items (no version attribute yet)
    after = await store.update_chat("old-group", ChatUpdate(expected_version=0, now_ms=T0, add=("erin",)))
    assert after.members == ("carol", "alice", "bob", "erin") and after.version == 1
    assert entry(db, "old-group", "erin") == activity_key(T0 + 2 * STEP + 10, "old-group")
    marked = await store.set_block("bob", "alice", True, T0)
    assert [(c.id, c.blocked_by, c.version) for c in marked] == [(old_direct, frozenset({"bob"}), 1)]
    assert "gsi1pk" not in item(db, chat_pk(old_direct), "META"), "the v1 chat is found by its id"


# --- what a crash leaves -----------------------------------------------------------------------
async def test_a_crash_between_the_members_and_meta_is_redone_by_the_next_message(store: DynamoStore, db: Any) -> None:
    await store.create_chat(group("g", ["alice", "bob", "carol"], T0))
    await store.create_chat(group("h", ["alice", "bob"], T0 + 3 * STEP))
    # a send at T0 + 5 steps took seq 1 and moved the members' entries, then died before
    # META's indexedAt
    moved = T0 + 5 * STEP
    update(
        db,
        chat_pk("g"),
        "META",
        "SET lastSeq = :one, lastActivity = :t",
        **{":one": {"N": "1"}, ":t": {"N": str(moved)}},
    )
    for user in ("alice", "bob", "carol"):
        update(
            db,
            chat_pk("g"),
            f"MEMBER#{user}",
            "SET gsi1sk = :e, indexedSeq = :one",
            **{":e": {"S": activity_key(moved, "g")}, ":one": {"N": "1"}},
        )
    assert indexed_at(db, "g") == T0
    await expect_order(store, "alice", ["g", "h"])  # the entries are right already
    calls = count_calls(db)
    await send(store, "g", moved + 1)  # META still says T0: done again, harmlessly
    assert calls()["UpdateItem"] == 1 + 3 + 1
    assert indexed_at(db, "g") == moved + 1
    assert {entry(db, "g", u) for u in ("alice", "bob", "carol")} == {activity_key(moved + 1, "g")}
    assert item(db, chat_pk("g"), "META")["indexedSeq"] == {"N": "2"}


async def test_a_crash_before_the_members_moved_is_repaired_by_the_next_message(store: DynamoStore, db: Any) -> None:
    await store.create_chat(group("g", ["alice", "bob"], T0))
    for i in range(6):
        await store.create_chat(group(f"h{i}", ["alice", "bob"], T0 + (2 + i) * STEP))
    # a send took seq 1 at T0 + 10 steps, and its process died before moving any entry: g's
    # entry is 10 steps behind its activity until the chat's next message (docs/dynamodb.md)
    moved = {":one": {"N": "1"}, ":t": {"N": str(T0 + 10 * STEP)}}
    update(db, chat_pk("g"), "META", "SET lastSeq = :one, lastActivity = :t", **moved)
    whole = await store.list_chats("alice", 100, None)
    assert next(c.id for c in whole.chats) == "g", "a page that reads down to the entry still places it"
    await send(store, "g", T0 + 10 * STEP + 1)
    await expect_order(store, "alice", ["g", *(f"h{i}" for i in reversed(range(6)))])


# --- membership changes racing a re-index -------------------------------------------------------
async def test_a_member_added_while_a_reindex_runs_is_moved_too(store: DynamoStore, db: Any) -> None:
    await store.create_chat(group("g", ["alice", "bob"], T0))
    # a send's seq update read META at version 0, then (before its re-index read the members)
    # dave was added
    answer = db.update_item(
        TableName=TABLE,
        Key=key(chat_pk("g"), "META"),
        UpdateExpression="SET lastSeq = lastSeq + :one, lastActivity = :t",
        ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"N": str(T0 + 5 * STEP)}},
        ReturnValues="ALL_NEW",
    )
    await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0, add=("dave",)))
    assert entry(db, "g", "dave") == activity_key(T0, "g"), "a new member's entry: where the others' are"
    members_query = store._query_all
    reads = 0

    async def members_missing_dave(**kwargs: Any) -> list[dict[str, Any]]:
        nonlocal reads
        reads += 1
        found = await members_query(**kwargs)
        return [i for i in found if i["userId"]["S"] != "dave"] if reads == 1 else found

    store._query_all = members_missing_dave  # type: ignore[method-assign]
    await store._reindex("g", T0 + 5 * STEP, 1, answer["Attributes"])
    assert reads == 2, "META's version moved: the members were read again"
    assert {entry(db, "g", u) for u in ("alice", "bob", "dave")} == {activity_key(T0 + 5 * STEP, "g")}
    assert indexed_at(db, "g") == T0 + 5 * STEP


async def test_an_update_that_races_a_finished_reindex_reads_again(store: DynamoStore, db: Any) -> None:
    await store.create_chat(group("g", ["alice", "bob"], T0))
    transact = store._transact
    raced = False

    async def reindex_first(items: list[dict[str, Any]]) -> None:
        nonlocal raced
        if not raced:
            raced = True
            await send(store, "g", T0 + 5 * STEP)  # a re-index completes between read and write
        await transact(items)

    store._transact = reindex_first  # type: ignore[method-assign]
    after = await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0, add=("carol",)))
    assert raced and after.version == 1 and after.members == ("alice", "bob", "carol")
    assert entry(db, "g", "carol") == activity_key(T0 + 5 * STEP, "g"), "not the index time read first"
    assert after.read_seqs["carol"] == 1


async def test_a_reindex_never_brings_back_a_removed_member(store: DynamoStore, db: Any) -> None:
    await store.create_chat(group("g", ["alice", "bob", "carol"], T0))
    members_query = store._query_all
    stale = await members_query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
        ExpressionAttributeValues={":pk": {"S": chat_pk("g")}, ":m": {"S": "MEMBER#"}},
        ConsistentRead=True,
    )
    await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0, remove=("carol",)))

    async def members_before_the_removal(**kwargs: Any) -> list[dict[str, Any]]:
        return stale

    store._query_all = members_before_the_removal  # type: ignore[method-assign]
    meta = item(db, chat_pk("g"), "META")
    await store._reindex("g", T0 + 5 * STEP, 1, meta)
    store._query_all = members_query  # type: ignore[method-assign]
    assert db.get_item(TableName=TABLE, Key=key(chat_pk("g"), "MEMBER#carol")).get("Item") is None
    assert entry(db, "g", "bob") == activity_key(T0 + 5 * STEP, "g")
    assert (await store.list_chats("carol", 10, None)).chats == ()


# --- direct chats of a pair ---------------------------------------------------------------------
async def test_set_block_tells_apart_pairs_whose_ids_contain_the_separator(store: DynamoStore) -> None:
    def direct(a: str, b: str, topic: str) -> Chat:
        chat = Chat(direct_chat_id(a, b, topic), "direct", None, (a, b), T0, 0, T0, None)
        return dataclasses.replace(chat, topic=topic)

    mine, _ = await store.create_chat(direct("a#b", "c", "t"))
    theirs, _ = await store.create_chat(direct("a", "b#c", "t"))  # the same PAIR#a#b#c
    marked = await store.set_block("c", "a#b", True, T0)
    assert [c.id for c in marked] == [mine.id]
    other = await store.get_chat(theirs.id)
    assert other is not None and other.blocked_by == frozenset() and other.version == 0


# --- random histories -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
async def test_random_histories_list_in_exact_order(store: DynamoStore, db: Any, seed: int) -> None:
    """Chats created, messages sent with clocks that jump forwards and backwards (within and
    beyond the step), members added and removed; after each round every page walk equals the
    true order (each chat's lastActivity, ties by id)."""
    import random

    if not isinstance(db, StubDynamoClient) and seed >= 3:
        pytest.skip("a few seeds are enough on moto")
    rng = random.Random(seed)
    now = T0
    chats: list[str] = []
    mine: set[str] = set()
    members: dict[str, list[str]] = {}
    for round_ in range(6):
        for _ in range(rng.randint(2, 6)):
            action = rng.random()
            now += rng.choice([0, 1, 10, STEP // 2, STEP - 1, STEP, 3 * STEP])
            if action < 0.3 or not chats:
                chat_id = f"c{len(chats):02d}"
                people = ["bob", "alice"] if rng.random() < 0.7 else ["bob", "carol"]
                await store.create_chat(group(chat_id, people, now + rng.choice([0, -STEP, -2 * STEP, 5])))
                chats.append(chat_id)
                members[chat_id] = people
                if "alice" in people:
                    mine.add(chat_id)
            elif action < 0.8:
                chat_id = rng.choice(chats)
                skew = rng.choice([0, 0, -1, -STEP // 2, -STEP, -3 * STEP, STEP // 3])
                await send(store, chat_id, now + skew)
            else:
                chat_id = rng.choice(chats)
                current = await store.get_chat(chat_id)
                assert current is not None
                if "alice" in members[chat_id]:
                    change = ChatUpdate(expected_version=current.version, now_ms=now, remove=("alice",))
                    members[chat_id].remove("alice")
                    mine.discard(chat_id)
                else:
                    change = ChatUpdate(expected_version=current.version, now_ms=now, add=("alice",))
                    members[chat_id].append("alice")
                    mine.add(chat_id)
                await store.update_chat(chat_id, change)
        truth = []
        for chat_id in mine:
            chat = await store.get_chat(chat_id)
            assert chat is not None
            truth.append((-chat.last_activity_ms, chat_id))
        expected = [c for _, c in sorted(truth)]
        for limit in (1, 2, 5):
            assert await walk(store, "alice", limit) == expected, (seed, round_, limit)
