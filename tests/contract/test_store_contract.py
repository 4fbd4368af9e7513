"""The Store contract (chat_core/ports.py), run against every store by the `store` fixture."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

import pytest

from chat_core.errors import Invalid, NotFound
from chat_core.ids import message_id
from chat_core.models import AppendResult, Chat, ChatType, ConnectionRef, Message, UnreadEntry
from chat_core.ports import Store

T0 = 1_764_000_000_000
_ids = itertools.count(1)


def new_chat(chat_id: str, members: list[str], *, type_: ChatType = "group", at: int = T0) -> Chat:
    return Chat(
        id=chat_id,
        type=type_,
        title=None if type_ == "direct" else f"title {chat_id}",
        members=tuple(members),
        created_at_ms=at,
        last_seq=0,
        last_activity_ms=at,
        last_message=None,
        read_seqs={},
    )


async def send(
    store: Store,
    chat_id: str,
    sender: str,
    content: str = "hi",
    *,
    cmid: str | None = None,
    at: int | None = None,
) -> AppendResult:
    n = next(_ids)
    return await store.append_message(
        chat_id, sender, content, cmid or f"cmid-{n}", at if at is not None else T0 + n
    )


async def seeded(store: Store, count: int, chat_id: str = "c1") -> list[Message]:
    await store.create_chat(new_chat(chat_id, ["alice", "bob"]))
    return [(await send(store, chat_id, "alice", f"m{i}")).message for i in range(count)]


# --- chats ------------------------------------------------------------------------------------
async def test_create_then_get_returns_the_chat_with_zero_marks(store: Store) -> None:
    chat, created = await store.create_chat(new_chat("g1", ["alice", "bob", "carol"]))
    assert created
    assert (chat.last_seq, chat.last_message) == (0, None)
    fetched = await store.get_chat("g1")
    assert fetched is not None
    assert fetched.id == "g1" and fetched.type == "group" and fetched.title == "title g1"
    assert fetched.members == ("alice", "bob", "carol")
    assert fetched.created_at_ms == T0 and fetched.last_activity_ms == T0
    assert (fetched.last_seq, fetched.last_message) == (0, None)
    assert dict(fetched.read_seqs) == {"alice": 0, "bob": 0, "carol": 0}


async def test_get_unknown_chat_is_none(store: Store) -> None:
    assert await store.get_chat("nope") is None


async def test_create_existing_returns_it_unchanged(store: Store) -> None:
    await store.create_chat(new_chat("d1", ["alice", "bob"], type_="direct"))
    await send(store, "d1", "alice")
    again, created = await store.create_chat(new_chat("d1", ["alice", "bob"], type_="direct", at=T0 + 99))
    assert not created
    assert again.last_seq == 1 and again.created_at_ms == T0
    assert again.last_message is not None and again.last_message.seq == 1
    assert dict(again.read_seqs) == {"alice": 0, "bob": 0}


async def test_direct_chat_put_if_absent_under_concurrency(store: Store) -> None:
    results = await asyncio.gather(
        *(
            store.create_chat(new_chat("d-race", ["alice", "bob"], type_="direct", at=T0 + i))
            for i in range(20)
        )
    )
    assert sum(created for _, created in results) == 1
    assert len({(c.id, c.created_at_ms, c.members) for c, _ in results}) == 1
    chat = await store.get_chat("d-race")
    assert chat is not None and chat.type == "direct" and set(chat.members) == {"alice", "bob"}


async def test_group_of_500_members(store: Store) -> None:
    members = [f"user{i:03d}" for i in range(500)]
    await store.create_chat(new_chat("big", members))
    chat = await store.get_chat("big")
    assert chat is not None and chat.members == tuple(members)
    assert len(chat.read_seqs) == 500 and set(chat.read_seqs.values()) == {0}
    sent = await send(store, "big", "user007")
    assert (await store.unread_entries("user007"))["big"].count == 0
    assert (await store.unread_entries("user123"))["big"] == UnreadEntry(0, 1, sent.message.seq)
    page = await store.list_chats("user499", 10, None)
    assert [c.id for c in page.chats] == ["big"] and len(page.chats[0].members) == 500
    assert len(await store.contacts("user000")) == 499


# --- messages ---------------------------------------------------------------------------------
async def test_append_moves_chat_summary_but_no_read_mark(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    first = await store.append_message("c1", "alice", "hello", "k1", T0 + 10)
    assert first.created
    assert first.message == Message(message_id("c1", "alice", "k1"), "c1", 1, "alice", "hello", "k1", T0 + 10)
    second = await store.append_message("c1", "bob", "yo", "k1", T0 + 20)
    assert second.created and second.message.seq == 2
    chat = await store.get_chat("c1")
    assert chat is not None
    assert chat.last_seq == 2 and chat.last_activity_ms == T0 + 20
    assert chat.last_message == second.message
    assert dict(chat.read_seqs) == {"alice": 0, "bob": 0}
    unread = {u: (await store.unread_entries(u, ["c1"]))["c1"].count for u in ("alice", "bob")}
    assert unread == {"alice": 1, "bob": 1}, "a sender's own messages are never unread"


async def test_repeat_returns_first_message_and_stores_nothing(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    first = await store.append_message("c1", "alice", "hello", "k1", T0 + 10)
    await send(store, "c1", "bob")
    before = await store.get_chat("c1")
    repeat = await store.append_message("c1", "alice", "other text", "k1", T0 + 50)
    assert not repeat.created and repeat.message == first.message
    after = await store.get_chat("c1")
    assert after is not None and before is not None
    # a store that hands the seq out before it knows the send is a repeat may move the chat's
    # activity time (DynamoDB): nothing else
    assert dataclasses.replace(after, last_activity_ms=before.last_activity_ms) == before
    page = await store.list_messages("c1", before_seq=None, after_seq=None, limit=100)
    assert [m.seq for m in page.messages] == [1, 2]
    third = await send(store, "c1", "alice")
    assert third.message.seq >= 3  # the repeat may have left a gap


async def test_idempotency_key_is_per_sender_and_per_chat(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    await store.create_chat(new_chat("c2", ["alice", "bob"]))
    a = await store.append_message("c1", "alice", "x", "same", T0)
    b = await store.append_message("c1", "bob", "x", "same", T0)
    c = await store.append_message("c2", "alice", "x", "same", T0)
    assert a.created and b.created and c.created
    assert (a.message.seq, b.message.seq, c.message.seq) == (1, 2, 1)


async def test_50_concurrent_sends_get_distinct_increasing_seqs(store: Store) -> None:
    await store.create_chat(new_chat("hot", ["alice", "bob"]))
    results = await asyncio.gather(*(send(store, "hot", ("alice", "bob")[i % 2], f"n{i}") for i in range(50)))
    seqs = [r.message.seq for r in results]
    assert all(r.created for r in results)
    assert len(set(seqs)) == 50 and min(seqs) >= 1
    page = await store.list_messages("hot", before_seq=None, after_seq=0, limit=100)
    stored = [m.seq for m in page.messages]
    assert stored == sorted(set(seqs)) and not page.has_more
    assert sorted(m.id for m in page.messages) == sorted(r.message.id for r in results)
    chat = await store.get_chat("hot")
    assert chat is not None and chat.last_seq == max(seqs)
    assert chat.last_message is not None and chat.last_message.seq == max(seqs)


async def test_20_concurrent_retries_store_one_message(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    results = await asyncio.gather(
        *(store.append_message("c1", "alice", "once", "retry-me", T0 + i) for i in range(20))
    )
    assert sum(r.created for r in results) == 1
    assert len({(r.message.id, r.message.seq) for r in results}) == 1
    page = await store.list_messages("c1", before_seq=None, after_seq=None, limit=100)
    assert len(page.messages) == 1 and page.messages[0] == results[0].message
    nxt = await send(store, "c1", "bob")
    assert nxt.message.seq > page.messages[0].seq  # racing repeats may leave gaps (allowed)


@pytest.mark.parametrize(
    "content",
    [
        "😀👍🏽👨‍👩‍👧‍👦 emoji",
        "مرحبا بالعالم שלום",
        "e\u0301 n\u0303 a\u030a\u0323",
        "  padded \n\t ",
        "<b>not html</b> & 'quotes' \"\\",
        "x" * 4000,
        "😀" * 4000,
        "日本語" * 1333 + "a",
    ],
    ids=["emoji", "rtl", "combining", "whitespace", "markup", "4000-ascii", "4000-emoji", "4000-cjk"],
)
async def test_content_is_stored_exactly(store: Store, content: str) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    sent = await store.append_message("c1", "alice", content, "k", T0)
    page = await store.list_messages("c1", before_seq=None, after_seq=None, limit=10)
    assert page.messages[0].content == content == sent.message.content
    chat = await store.get_chat("c1")
    assert chat is not None and chat.last_message is not None and chat.last_message.content == content
    assert (await store.append_message("c1", "alice", content, "k", T0)).message.content == content


async def test_list_messages_of_empty_chat(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    for before, after in [(None, None), (None, 0), (1, None), (5, 0), (None, 7)]:
        page = await store.list_messages("c1", before_seq=before, after_seq=after, limit=50)
        assert page.messages == () and not page.has_more


@pytest.mark.parametrize(
    ("before", "after", "limit", "seqs", "has_more"),
    [
        (None, None, 5, [6, 7, 8, 9, 10], True),
        (None, None, 10, list(range(1, 11)), False),
        (None, None, 100, list(range(1, 11)), False),
        (6, None, 5, [1, 2, 3, 4, 5], False),
        (6, None, 2, [4, 5], True),
        (1, None, 5, [], False),
        (11, None, 1, [10], True),
        (None, 0, 5, [1, 2, 3, 4, 5], True),
        (None, 5, 5, [6, 7, 8, 9, 10], False),
        (None, 9, 1, [10], False),
        (None, 10, 5, [], False),
        (None, 0, 10, list(range(1, 11)), False),
        (4, 0, 10, [1, 2, 3], False),
        (8, 2, 2, [3, 4], True),
        (8, 2, 5, [3, 4, 5, 6, 7], False),
        (4, 3, 5, [], False),
        (3, 5, 5, [], False),
    ],
)
async def test_list_messages_ranges(
    store: Store, before: int | None, after: int | None, limit: int, seqs: list[int], has_more: bool
) -> None:
    await seeded(store, 10)
    page = await store.list_messages("c1", before_seq=before, after_seq=after, limit=limit)
    assert [m.seq for m in page.messages] == seqs
    assert page.has_more is has_more


async def test_list_messages_matches_a_model_over_every_range(store: Store) -> None:
    sent = await seeded(store, 10)
    bounds: list[int | None] = [None, *range(-1, 13)]
    for before, after, limit in itertools.product(bounds, bounds, (1, 2, 3, 10, 11)):
        if after is not None:
            inside = [m for m in sent if m.seq > after and (before is None or m.seq < before)]
            want, more = inside[:limit], len(inside) > limit
        else:
            inside = [m for m in sent if before is None or m.seq < before]
            want, more = inside[-limit:], len(inside) > limit
        page = await store.list_messages("c1", before_seq=before, after_seq=after, limit=limit)
        assert (list(page.messages), page.has_more) == (want, more), (before, after, limit)


async def test_paging_with_limit_1_walks_everything_both_ways(store: Store) -> None:
    sent = await seeded(store, 7)
    seen: list[Message] = []
    after = 0
    while True:
        page = await store.list_messages("c1", before_seq=None, after_seq=after, limit=1)
        seen += page.messages
        if not page.has_more:
            break
        after = page.messages[-1].seq
    assert seen == sent
    back: list[Message] = []
    before: int | None = None
    while True:
        page = await store.list_messages("c1", before_seq=before, after_seq=None, limit=1)
        back = list(page.messages) + back
        if not page.has_more:
            break
        before = page.messages[0].seq
    assert back == sent


async def test_paging_in_exact_multiples_of_the_limit(store: Store) -> None:
    await seeded(store, 9)
    first = await store.list_messages("c1", before_seq=None, after_seq=0, limit=3)
    second = await store.list_messages("c1", before_seq=None, after_seq=3, limit=3)
    third = await store.list_messages("c1", before_seq=None, after_seq=6, limit=3)
    assert [p.has_more for p in (first, second, third)] == [True, True, False]
    newest = await store.list_messages("c1", before_seq=None, after_seq=None, limit=3)
    oldest = await store.list_messages("c1", before_seq=4, after_seq=None, limit=3)
    assert [m.seq for m in newest.messages] == [7, 8, 9] and newest.has_more
    assert [m.seq for m in oldest.messages] == [1, 2, 3] and not oldest.has_more


async def test_unknown_chat_and_non_member_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.append_message("nope", "alice", "x", "k", T0)
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    with pytest.raises(NotFound):
        await store.mark_read("c1", "mallory", 1)
    with pytest.raises(NotFound):
        await store.mark_read("nope", "alice", 1)
    assert (await store.list_messages("nope", before_seq=None, after_seq=None, limit=5)).messages == ()


# --- read marks and unread --------------------------------------------------------------------
async def test_read_mark_never_goes_backwards(store: Store) -> None:
    await seeded(store, 5)
    assert await store.mark_read("c1", "bob", 3) == 3
    assert await store.mark_read("c1", "bob", 2) == 3
    assert await store.mark_read("c1", "bob", 3) == 3
    assert await store.mark_read("c1", "bob", 5) == 5
    assert await store.mark_read("c1", "bob", 0) == 5
    chat = await store.get_chat("c1")
    assert chat is not None and chat.read_seqs["bob"] == 5
    assert (await store.unread_entries("bob", ["c1"]))["c1"] == UnreadEntry(5, 0, 5)


async def test_concurrent_marks_keep_the_highest(store: Store) -> None:
    await seeded(store, 20)
    await asyncio.gather(*(store.mark_read("c1", "bob", s) for s in range(1, 21)))
    chat = await store.get_chat("c1")
    assert chat is not None and chat.read_seqs["bob"] == 20


async def test_own_send_leaves_read_marks_alone(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    for _ in range(3):
        await send(store, "c1", "bob")
    await store.mark_read("c1", "alice", 3)
    await send(store, "c1", "alice")
    chat = await store.get_chat("c1")
    assert chat is not None and dict(chat.read_seqs) == {"alice": 3, "bob": 0}


async def test_unread_entries_count_messages_by_others_above_the_mark(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob", "carol"]))
    await store.create_chat(new_chat("c2", ["alice", "bob"]))
    await store.create_chat(new_chat("c3", ["carol", "dave"]))
    for _ in range(3):
        await send(store, "c1", "alice")
    for _ in range(2):
        await send(store, "c2", "alice")
    await send(store, "c2", "bob")
    await store.mark_read("c1", "bob", 1)
    assert await store.unread_entries("alice") == {"c1": UnreadEntry(0, 0, 3), "c2": UnreadEntry(0, 1, 3)}
    assert await store.unread_entries("bob") == {"c1": UnreadEntry(1, 2, 3), "c2": UnreadEntry(0, 2, 3)}
    assert await store.unread_entries("carol") == {"c1": UnreadEntry(0, 3, 3), "c3": UnreadEntry(0, 0, 0)}
    assert await store.unread_entries("bob", ["c2", "c3", "unknown"]) == {"c2": UnreadEntry(0, 2, 3)}
    assert await store.unread_entries("stranger") == {}
    assert await store.unread_entries("bob", []) == {}


async def test_unread_entries_of_a_busy_chat(store: Store) -> None:
    """Counting covers every message above the mark, however many (stores page their reads)."""
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    await asyncio.gather(*(send(store, "c1", "alice" if i % 3 else "bob", "x" * 500) for i in range(150)))
    await store.mark_read("c1", "bob", 10)
    above = await store.list_messages("c1", before_seq=None, after_seq=10, limit=200)
    by_alice = [m for m in above.messages if m.sender_id == "alice"]
    entry = (await store.unread_entries("bob", ["c1"]))["c1"]
    assert (entry.read_seq, entry.count) == (10, len(by_alice))
    assert entry.counted_to >= 150 and not entry.missing


async def test_contacts(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob", "carol"]))
    await store.create_chat(new_chat("c2", ["alice", "dave"], type_="direct"))
    await store.create_chat(new_chat("c3", ["erin", "bob"], type_="direct"))
    assert await store.contacts("alice") == {"bob", "carol", "dave"}
    assert await store.contacts("bob") == {"alice", "carol", "erin"}
    assert await store.contacts("nobody") == set()


# --- inbox ------------------------------------------------------------------------------------
async def test_list_chats_newest_activity_first(store: Store) -> None:
    for i, chat_id in enumerate(["a", "b", "c", "d"]):
        await store.create_chat(new_chat(chat_id, ["alice", "bob"], at=T0 + i))
    await store.create_chat(new_chat("other", ["bob", "carol"], at=T0 + 50))
    page = await store.list_chats("alice", 10, None)
    assert [c.id for c in page.chats] == ["d", "c", "b", "a"] and page.next_cursor is None
    await send(store, "b", "bob", at=T0 + 100)
    page = await store.list_chats("alice", 10, None)
    assert [c.id for c in page.chats] == ["b", "d", "c", "a"]
    top = page.chats[0]
    assert top.last_seq == 1 and top.last_message is not None and top.last_message.sender_id == "bob"
    assert await store.list_chats("nobody", 10, None) == type(page)(chats=(), next_cursor=None)


async def test_list_chats_ties_are_ordered_by_id_and_paged_with_cursors(store: Store) -> None:
    ids = [f"t{i}" for i in range(7)]
    for chat_id in reversed(ids):
        await store.create_chat(new_chat(chat_id, ["alice", "bob"], at=T0))
    whole = await store.list_chats("alice", 100, None)
    assert sorted(c.id for c in whole.chats) == ids
    assert len({c.last_activity_ms for c in whole.chats}) == 1
    order = [c.id for c in whole.chats]
    assert order in (ids, list(reversed(ids)))
    for limit in (1, 2, 3, 7):
        walked: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await store.list_chats("alice", limit, cursor)
            pages += 1
            walked += [c.id for c in page.chats]
            assert len(page.chats) <= limit
            cursor = page.next_cursor
            if cursor is None:
                break
        assert walked == order, limit
        assert pages <= -(-7 // limit) + 1


async def test_list_chats_cursor_stays_valid_as_chats_move(store: Store) -> None:
    for i in range(4):
        await store.create_chat(new_chat(f"m{i}", ["alice", "bob"], at=T0 + i))
    first = await store.list_chats("alice", 2, None)
    assert [c.id for c in first.chats] == ["m3", "m2"]
    await send(store, "m0", "bob", at=T0 + 1000)
    second = await store.list_chats("alice", 2, first.next_cursor)
    assert [c.id for c in second.chats] == ["m1"] or [c.id for c in second.chats] == ["m1", "m0"]


@pytest.mark.parametrize("cursor", ["", "not a cursor", "!!!", "eyJ4IjoxfQ", "W10", "bnVsbA", "\x00\xff"])
async def test_bad_cursor_is_invalid(store: Store, cursor: str) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"]))
    with pytest.raises(Invalid):
        await store.list_chats("alice", 10, cursor)


async def test_a_cursor_never_shows_another_users_chats(store: Store) -> None:
    for i in range(3):
        await store.create_chat(new_chat(f"ab{i}", ["alice", "bob"], at=T0 + i))
        await store.create_chat(new_chat(f"cd{i}", ["carol", "dave"], at=T0 + 10 + i))
    alice_page = await store.list_chats("alice", 1, None)
    assert alice_page.next_cursor is not None
    try:
        page = await store.list_chats("carol", 10, alice_page.next_cursor)
    except Invalid:
        return
    assert all("carol" in c.members for c in page.chats)


# --- presence ---------------------------------------------------------------------------------
def conn(user: str, n: int, node: str = "node-a") -> ConnectionRef:
    return ConnectionRef(user_id=user, connection_id=f"{user}-conn-{n}", node_id=node)


async def test_presence_transitions(store: Store) -> None:
    assert (await store.presence(["alice"]))["alice"].online is False
    assert (await store.presence(["alice"]))["alice"].last_seen_ms is None
    assert await store.open_connection(conn("alice", 1), T0) is True
    assert await store.open_connection(conn("alice", 2), T0 + 1) is False
    assert (await store.presence(["alice"]))["alice"].online is True
    assert await store.close_connection(conn("alice", 1), T0 + 2) == 1
    assert await store.close_connection(conn("alice", 1), T0 + 3) == 1
    assert await store.settle_offline("alice", T0 + 4) is False
    assert await store.close_connection(conn("alice", 2), T0 + 5) == 0
    assert await store.close_connection(conn("alice", 2), T0 + 6) == 0
    assert (await store.presence(["alice"]))["alice"].online is True  # grace period
    assert await store.settle_offline("alice", T0 + 7) is True
    assert await store.settle_offline("alice", T0 + 8) is False
    state = (await store.presence(["alice"]))["alice"]
    assert state.online is False and state.last_seen_ms is not None and T0 <= state.last_seen_ms <= T0 + 8
    assert await store.open_connection(conn("alice", 3), T0 + 9) is True


async def test_reconnect_in_grace_period_is_not_a_transition(store: Store) -> None:
    assert await store.open_connection(conn("bob", 1), T0) is True
    assert await store.close_connection(conn("bob", 1), T0 + 1) == 0
    assert await store.open_connection(conn("bob", 2), T0 + 2) is False
    assert await store.settle_offline("bob", T0 + 3) is False
    assert (await store.presence(["bob"]))["bob"].online is True


async def test_close_of_unknown_connection_is_harmless(store: Store) -> None:
    assert await store.close_connection(conn("ghost", 1), T0) == 0
    assert await store.settle_offline("ghost", T0) is False
    assert (await store.presence(["ghost"]))["ghost"].online is False


async def test_concurrent_opens_announce_online_once(store: Store) -> None:
    results = await asyncio.gather(*(store.open_connection(conn("carol", i), T0 + i) for i in range(20)))
    assert sum(results) == 1
    lefts = await asyncio.gather(*(store.close_connection(conn("carol", i), T0 + 100) for i in range(20)))
    assert sorted(lefts)[0] == 0 and all(0 <= n < 20 for n in lefts)
    assert await store.close_connection(conn("carol", 0), T0 + 101) == 0


async def test_settle_offline_has_exactly_one_winner(store: Store) -> None:
    await store.open_connection(conn("dave", 1), T0)
    await store.close_connection(conn("dave", 1), T0 + 1)
    results = await asyncio.gather(*(store.settle_offline("dave", T0 + 2 + i) for i in range(20)))
    assert sum(results) == 1
    assert (await store.presence(["dave"]))["dave"].online is False


async def test_idle_online_users(store: Store) -> None:
    await store.open_connection(conn("idle", 1), T0)
    await store.close_connection(conn("idle", 1), T0 + 1)
    await store.open_connection(conn("busy", 1), T0)
    await store.open_connection(conn("half", 1), T0)
    await store.open_connection(conn("half", 2), T0)
    await store.close_connection(conn("half", 1), T0 + 1)
    assert await store.idle_online_users(100) == ["idle"]
    assert await store.settle_offline("idle", T0 + 2) is True
    assert await store.idle_online_users(100) == []


async def test_idle_online_users_respects_limit(store: Store) -> None:
    for i in range(5):
        await store.open_connection(conn(f"u{i}", 1), T0)
        await store.close_connection(conn(f"u{i}", 1), T0 + 1)
    some = await store.idle_online_users(3)
    assert len(some) == 3 and set(some) <= {f"u{i}" for i in range(5)}
    assert len(await store.idle_online_users(100)) == 5


async def test_a_heartbeat_tells_whether_the_node_was_known(store: Store) -> None:
    assert await store.touch_node("node-a", T0) is False  # new
    assert await store.touch_node("node-a", T0 + 1) is True
    await store.forget_node("node-a")  # a reaper declared it dead
    assert await store.touch_node("node-a", T0 + 2) is False
    assert await store.touch_node("node-a", T0 + 3) is True
    assert await store.stale_nodes(T0 + 3) == []


async def test_reaping_a_dead_node(store: Store) -> None:
    await store.touch_node("node-a", T0)
    await store.touch_node("node-b", T0)
    await store.open_connection(conn("alice", 1, "node-a"), T0)
    await store.open_connection(conn("bob", 1, "node-a"), T0)
    await store.open_connection(conn("bob", 2, "node-b"), T0)
    await store.touch_node("node-b", T0 + 60_000)
    assert await store.stale_nodes(T0 + 30_000) == ["node-a"]
    assert await store.stale_nodes(T0) == []
    assert len(await store.node_connections("node-a", 1)) == 1
    refs = await store.node_connections("node-a", 100)
    assert sorted((r.user_id, r.connection_id, r.node_id) for r in refs) == [
        ("alice", "alice-conn-1", "node-a"),
        ("bob", "bob-conn-1", "node-a"),
    ]
    for ref in refs:
        await store.close_connection(ref, T0 + 61_000)
    assert await store.node_connections("node-a", 100) == []
    assert await store.settle_offline("alice", T0 + 61_000) is True
    assert await store.settle_offline("bob", T0 + 61_000) is False  # still on node-b
    await store.forget_node("node-a")
    assert await store.stale_nodes(T0 + 30_000) == []
    assert [r.connection_id for r in await store.node_connections("node-b", 10)] == ["bob-conn-2"]
    states = await store.presence(["alice", "bob", "nobody"])
    assert (states["alice"].online, states["bob"].online, states["nobody"].online) == (False, True, False)
    assert states["nobody"].last_seen_ms is None
