"""The Store contract for conversations (chat_core/ports.py, docs/conversations.md): direct chats
about a topic, group membership over time (update_chat), blocking (set_block, blocks) and the
inbox's exact order (list_chats), run against every store by the `store` fixture."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from chat_core.errors import Conflict, NotFound
from chat_core.ids import direct_chat_id
from chat_core.models import Blocks, Chat, ChatUpdate, MessageChange
from chat_core.ports import Store

from .test_store_contract import T0, new_chat

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
STEP = 5 * MINUTE
"""The DynamoDB store's inbox index step (docs/conversations.md): the tests put activities both
closer and farther apart than this, so an approximate index must still answer the exact order."""


def direct(a: str, b: str, topic: str | None = None, *, at: int = T0, blocked_by: frozenset[str] = frozenset()) -> Chat:
    chat = new_chat(direct_chat_id(a, b, topic), [a, b], type_="direct", at=at)
    return dataclasses.replace(chat, topic=topic, blocked_by=blocked_by)


def group(chat_id: str, members: list[str], *, at: int = T0, admins: tuple[str, ...] | None = None) -> Chat:
    chat = new_chat(chat_id, members, at=at)
    return dataclasses.replace(chat, admins=tuple(members[:1]) if admins is None else admins)


def joined(chat: Chat, user_id: str) -> int:
    """A member's joined seq (absent and 0 both mean the whole history)."""
    return chat.joined_seqs.get(user_id, 0)


async def get(store: Store, chat_id: str) -> Chat:
    chat = await store.get_chat(chat_id)
    assert chat is not None, chat_id
    return chat


async def chat_ids(store: Store, user_id: str) -> list[str]:
    return [c.id for c in (await store.list_chats(user_id, 100, None)).chats]


# --- chats with topics, admins, versions and blocks -------------------------------------------
async def test_create_then_get_round_trips_topic_admins_version_and_blocked_by(store: Store) -> None:
    made, created = await store.create_chat(group("g1", ["alice", "bob", "carol"], admins=("carol", "alice")))
    assert created
    fetched = await get(store, "g1")
    assert fetched == made
    assert fetched.admins == ("carol", "alice"), "admins keep the order they were stored in"
    assert fetched.acting_admins == ("carol", "alice")
    assert (fetched.version, fetched.topic, fetched.blocked_by) == (0, None, frozenset())
    assert {u: joined(fetched, u) for u in fetched.members} == {"alice": 0, "bob": 0, "carol": 0}

    topic = "order #42: blue chair ✓"
    made, created = await store.create_chat(direct("alice", "bob", topic, blocked_by=frozenset({"bob"})))
    assert created
    fetched = await get(store, direct_chat_id("bob", "alice", topic))
    assert fetched == made
    assert (fetched.type, fetched.topic, fetched.version) == ("direct", topic, 0)
    assert fetched.blocked_by == frozenset({"bob"})
    assert fetched.admins == () and fetched.acting_admins == ()


async def test_a_group_stored_without_admins_is_run_by_its_creator(store: Store) -> None:
    await store.create_chat(group("g1", ["bob", "alice"], admins=()))
    fetched = await get(store, "g1")
    assert fetched.admins == ()
    assert fetched.acting_admins == ("bob",)


async def test_two_topics_of_one_pair_are_two_chats_and_no_topic_is_a_third(store: Store) -> None:
    plain = direct_chat_id("alice", "bob")
    first = direct_chat_id("alice", "bob", "listing-1")
    second = direct_chat_id("bob", "alice", "listing-2")
    assert len({plain, first, second}) == 3
    assert first == direct_chat_id("bob", "alice", "listing-1"), "either side finds the same chat"
    for topic in (None, "listing-1", "listing-2"):
        _, created = await store.create_chat(direct("alice", "bob", topic))
        assert created, topic
    # opening again from the other side stores nothing and finds the chat with its topic
    again, created = await store.create_chat(direct("bob", "alice", "listing-1", at=T0 + 5))
    assert not created and again.id == first and again.topic == "listing-1" and again.created_at_ms == T0
    assert [(await get(store, c)).topic for c in (plain, first, second)] == [None, "listing-1", "listing-2"]
    assert sorted(await chat_ids(store, "alice")) == sorted([plain, first, second])
    assert sorted(await chat_ids(store, "bob")) == sorted([plain, first, second])


# --- update_chat: members -------------------------------------------------------------------
async def test_an_added_member_has_read_up_to_the_last_seq_handed_out_and_joined_there(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob"]))
    m1 = (await store.append_message("g", "alice", "one", "k1", T0 + 1)).message
    await store.append_message("g", "bob", "two", "k2", T0 + 2)
    edited = await store.change_message("g", m1.id, MessageChange("edit", "alice", content="one!"), T0 + 3)
    # the edit took seq 3: the last seq handed out is above the last message's (a gap in messages)
    assert edited.changed and edited.message.change_seq == 3
    before = await get(store, "g")
    assert before.last_seq == 2

    after = await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0 + 10, add=("carol", "dave")))
    assert after.members == ("alice", "bob", "carol", "dave"), "new members come after the existing ones"
    assert dict(after.read_seqs) == {"alice": 0, "bob": 0, "carol": 3, "dave": 3}
    assert {u: joined(after, u) for u in after.members} == {"alice": 0, "bob": 0, "carol": 3, "dave": 3}
    assert after.version == 1
    assert (after.last_seq, after.last_message, after.last_activity_ms) == (
        before.last_seq,
        before.last_message,
        before.last_activity_ms,
    ), "the chat's last activity and seqs do not move"
    assert await get(store, "g") == after

    assert await chat_ids(store, "carol") == ["g"]
    unread = (await store.unread_entries("carol"))["g"]
    assert (unread.read_seq, unread.count) == (3, 0)
    assert (await store.unread_entries("carol", ["g"]))["g"].count == 0
    assert await store.contacts("carol") == {"alice", "bob", "dave"}
    assert "carol" in await store.contacts("alice")

    # what is sent after they came is theirs to read
    sent = await store.append_message("g", "bob", "welcome", "k3", T0 + 20)
    assert sent.message.seq > 3
    assert (await store.unread_entries("carol", ["g"]))["g"].count == 1


async def test_an_added_member_with_full_history_joins_at_zero_with_nothing_unread(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob"]))
    for n in range(3):
        await store.append_message("g", "bob", f"m{n}", f"k{n}", T0 + n)
    after = await store.update_chat(
        "g", ChatUpdate(expected_version=0, now_ms=T0 + 10, add=("carol",), full_history=True)
    )
    assert after.read_seqs["carol"] == 3
    assert joined(after, "carol") == 0
    entry = (await store.unread_entries("carol"))["g"]
    assert (entry.read_seq, entry.count) == (3, 0)


async def test_a_removed_member_is_gone_from_the_chat_and_from_their_lists(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob", "carol"]))
    await store.create_chat(direct("alice", "bob"))
    await store.append_message("g", "alice", "hi", "k1", T0 + 1)
    await store.mark_read("g", "carol", 1)
    assert await chat_ids(store, "carol") == ["g"]
    before = await get(store, "g")

    after = await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0 + 10, remove=("carol",)))
    assert after.members == ("alice", "bob") and after.version == 1
    assert "carol" not in after.read_seqs and "carol" not in after.joined_seqs
    assert (after.last_seq, after.last_activity_ms) == (before.last_seq, before.last_activity_ms)
    assert await get(store, "g") == after

    assert (await store.list_chats("carol", 10, None)).chats == ()
    assert await store.unread_entries("carol") == {}
    assert await store.unread_entries("carol", ["g"]) == {}
    assert await store.contacts("carol") == set()
    assert await store.contacts("alice") == {"bob"}
    with pytest.raises(NotFound):
        await store.mark_read("g", "carol", 1)
    # the others keep the chat
    assert sorted(await chat_ids(store, "alice")) == sorted(["g", direct_chat_id("alice", "bob")])


async def test_a_member_removed_and_added_again_starts_at_the_current_seq(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob", "carol"]))
    await store.append_message("g", "alice", "one", "k1", T0 + 1)
    await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0 + 2, remove=("bob",)))
    await store.append_message("g", "alice", "two", "k2", T0 + 3)
    await store.append_message("g", "carol", "three", "k3", T0 + 4)
    after = await store.update_chat("g", ChatUpdate(expected_version=1, now_ms=T0 + 5, add=("bob",)))
    assert after.members == ("alice", "carol", "bob")
    assert (after.read_seqs["bob"], joined(after, "bob"), after.version) == (3, 3, 2)
    assert (await store.unread_entries("bob"))["g"].count == 0


async def test_one_update_removes_and_adds_members_at_once(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob", "carol"]))
    after = await store.update_chat(
        "g", ChatUpdate(expected_version=0, now_ms=T0 + 1, add=("dave",), remove=("bob", "carol"))
    )
    assert after.members == ("alice", "dave") and after.version == 1
    assert (await store.list_chats("bob", 10, None)).chats == ()
    assert await chat_ids(store, "dave") == ["g"]


# --- update_chat: title and admins ------------------------------------------------------------
async def test_the_title_is_set_and_cleared_only_when_asked(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob"]))
    assert (await get(store, "g")).title == "title g"
    kept = await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0 + 1, title="ignored"))
    assert (kept.title, kept.version) == ("title g", 1), "set_title False leaves the title"
    renamed = await store.update_chat(
        "g", ChatUpdate(expected_version=1, now_ms=T0 + 2, title="Trip ✈", set_title=True)
    )
    assert (renamed.title, renamed.version) == ("Trip ✈", 2)
    assert (await get(store, "g")).title == "Trip ✈"
    cleared = await store.update_chat("g", ChatUpdate(expected_version=2, now_ms=T0 + 3, set_title=True))
    assert (cleared.title, cleared.version) == (None, 3)
    assert (await get(store, "g")).title is None


async def test_admins_are_replaced_in_the_order_given(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob", "carol"]))
    after = await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0 + 1, admins=("carol", "bob")))
    assert (after.admins, after.version) == (("carol", "bob"), 1)
    assert (await get(store, "g")).admins == ("carol", "bob")
    unchanged = await store.update_chat("g", ChatUpdate(expected_version=1, now_ms=T0 + 2, add=("dave",)))
    assert unchanged.admins == ("carol", "bob"), "admins None leaves them"
    moved = await store.update_chat(
        "g", ChatUpdate(expected_version=2, now_ms=T0 + 3, remove=("carol",), admins=("bob",))
    )
    assert (moved.members, moved.admins, moved.version) == (("alice", "bob", "dave"), ("bob",), 3)


# --- update_chat: versions ----------------------------------------------------------------------
async def test_a_stale_expected_version_is_a_conflict_and_changes_nothing(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob"]))
    await store.append_message("g", "alice", "hi", "k1", T0 + 1)
    current = await store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0 + 2, add=("carol",)))
    stale = ChatUpdate(
        expected_version=0,
        now_ms=T0 + 3,
        add=("dave",),
        remove=("bob",),
        title="hijacked",
        set_title=True,
        admins=("carol",),
        full_history=True,
    )
    for update in (stale, dataclasses.replace(stale, expected_version=2)):
        with pytest.raises(Conflict):
            await store.update_chat("g", update)
    assert await get(store, "g") == current
    assert (await store.list_chats("dave", 10, None)).chats == ()
    assert await store.unread_entries("dave") == {}
    assert await chat_ids(store, "bob") == ["g"]
    assert "dave" not in await store.contacts("alice")


async def test_concurrent_updates_at_one_version_let_exactly_one_through(store: Store) -> None:
    await store.create_chat(group("g", ["alice", "bob"]))
    newcomers = [f"user{i}" for i in range(6)]
    outcomes = await asyncio.gather(
        *(store.update_chat("g", ChatUpdate(expected_version=0, now_ms=T0 + 1, add=(user,))) for user in newcomers),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, Chat)]
    assert len(won) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if not isinstance(o, Chat))
    chat = await get(store, "g")
    assert chat == won[0] and chat.version == 1
    assert len(chat.members) == 3 and chat.members[2] in newcomers
    listed = [u for u in newcomers if (await store.list_chats(u, 10, None)).chats]
    assert listed == [chat.members[2]]


async def test_an_update_of_an_unknown_chat_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update_chat("nope", ChatUpdate(expected_version=0, now_ms=T0, add=("alice",)))
    assert await store.get_chat("nope") is None
    assert (await store.list_chats("alice", 10, None)).chats == ()


# --- blocking ---------------------------------------------------------------------------------
async def pair_and_bystanders(store: Store) -> tuple[set[str], set[str]]:
    """alice and bob's direct chats (two topics and the plain one), and chats that are not theirs
    alone: a group with both, each one's direct chat with carol."""
    pair = set()
    for topic in (None, "listing-1", "listing-2"):
        chat, _ = await store.create_chat(direct("alice", "bob", topic))
        pair.add(chat.id)
    others = set()
    for chat in (group("g", ["alice", "bob", "carol"]), direct("alice", "carol"), direct("carol", "bob")):
        made, _ = await store.create_chat(chat)
        others.add(made.id)
    return pair, others


async def test_set_block_marks_every_direct_chat_of_the_pair_and_no_other(store: Store) -> None:
    pair, others = await pair_and_bystanders(store)
    returned = await store.set_block("alice", "bob", True, T0 + 1)
    assert {c.id for c in returned} == pair and len(returned) == 3
    for chat in returned:
        assert (chat.blocked_by, chat.version) == (frozenset({"alice"}), 1)
        assert await get(store, chat.id) == chat
    for chat_id in others:
        chat = await get(store, chat_id)
        assert (chat.blocked_by, chat.version) == (frozenset(), 0), chat_id

    # the other one blocking too: both are in blocked_by
    both = await store.set_block("bob", "alice", True, T0 + 2)
    assert {c.id for c in both} == pair
    assert all((c.blocked_by, c.version) == (frozenset({"alice", "bob"}), 2) for c in both)


async def test_set_block_is_idempotent(store: Store) -> None:
    pair, _ = await pair_and_bystanders(store)
    first = await store.set_block("alice", "bob", True, T0 + 1)
    again = await store.set_block("alice", "bob", True, T0 + 2)
    assert {c.id for c in again} == pair
    assert sorted(first, key=lambda c: c.id) == sorted(again, key=lambda c: c.id), "versions unchanged"
    assert all(c.version == 1 for c in again)
    assert await store.blocks("alice") == Blocks(blocked=frozenset({"bob"}), blocked_by=frozenset())


async def test_unblock_clears_the_mark_and_is_idempotent(store: Store) -> None:
    pair, others = await pair_and_bystanders(store)
    await store.set_block("alice", "bob", True, T0 + 1)
    await store.set_block("bob", "alice", True, T0 + 2)
    unblocked = await store.set_block("alice", "bob", False, T0 + 3)
    assert {c.id for c in unblocked} == pair
    assert all((c.blocked_by, c.version) == (frozenset({"bob"}), 3) for c in unblocked)
    again = await store.set_block("alice", "bob", False, T0 + 4)
    assert all((c.blocked_by, c.version) == (frozenset({"bob"}), 3) for c in again)
    cleared = await store.set_block("bob", "alice", False, T0 + 5)
    assert all((c.blocked_by, c.version) == (frozenset(), 4) for c in cleared)
    assert [(await get(store, c)).version for c in sorted(others)] == [0, 0, 0]
    assert await store.blocks("alice") == Blocks(frozenset(), frozenset())
    assert await store.blocks("bob") == Blocks(frozenset(), frozenset())


async def test_set_block_without_chats_records_the_block_and_a_later_call_marks_new_chats(store: Store) -> None:
    assert await store.set_block("alice", "bob", True, T0) == ()
    assert (await store.blocks("bob")).blocked_by == frozenset({"alice"})
    # a chat opened while the block was being set (created unmarked): the next call marks it
    made, _ = await store.create_chat(direct("bob", "alice", "late"))
    assert made.blocked_by == frozenset()
    marked = await store.set_block("alice", "bob", True, T0 + 1)
    assert [(c.id, c.blocked_by, c.version) for c in marked] == [(made.id, frozenset({"alice"}), 1)]


async def test_blocks_answers_both_directions(store: Store) -> None:
    await store.set_block("alice", "bob", True, T0)
    await store.set_block("alice", "carol", True, T0 + 1)
    await store.set_block("dave", "alice", True, T0 + 2)
    await store.set_block("erin", "frank", True, T0 + 3)
    assert await store.blocks("alice") == Blocks(blocked=frozenset({"bob", "carol"}), blocked_by=frozenset({"dave"}))
    assert await store.blocks("bob") == Blocks(blocked=frozenset(), blocked_by=frozenset({"alice"}))
    assert await store.blocks("dave") == Blocks(blocked=frozenset({"alice"}), blocked_by=frozenset())
    assert await store.blocks("nobody") == Blocks(frozenset(), frozenset())
    assert (await store.blocks("alice")).between("dave") and not (await store.blocks("alice")).between("erin")
    await store.set_block("alice", "carol", False, T0 + 4)
    assert (await store.blocks("alice")).blocked == frozenset({"bob"})
    assert (await store.blocks("carol")).blocked_by == frozenset()


# --- the inbox: exact order ---------------------------------------------------------------------
class Inbox:
    """The test's own model of alice's inbox: each chat's activity, moved as the store's is."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.now = T0
        self.activity: dict[str, int] = {}
        self.sends = 0

    def tick(self, ms: int) -> int:
        self.now += ms
        return self.now

    async def create(self, chat: Chat) -> None:
        _, created = await self.store.create_chat(
            dataclasses.replace(chat, created_at_ms=self.now, last_activity_ms=self.now)
        )
        assert created
        if "alice" in chat.members:
            self.activity[chat.id] = self.now

    async def send(self, chat_id: str, sender: str = "bob") -> None:
        self.sends += 1
        result = await self.store.append_message(chat_id, sender, "hi", f"k{self.sends}", self.now)
        assert result.created
        if chat_id in self.activity:
            self.activity[chat_id] = self.now

    def order(self) -> list[str]:
        return sorted(self.activity, key=lambda c: (-self.activity[c], c))

    def after(self, cursor: tuple[int, str] | None) -> list[str]:
        """The chats a page after that (activity, id) must list, in order, as things are now."""
        if cursor is None:
            return self.order()
        return [c for c in self.order() if (-self.activity[c], c) > (-cursor[0], cursor[1])]


# creation gaps, oldest chat first: hours, minutes around the 5-minute step, then seconds
# (ties included) for the most recent, so the first pages end among chats whose index entries a
# DynamoDB store may still hold behind their real activity
GAPS = [
    *(0, 3 * HOUR, 20 * SECOND, 2 * HOUR, 0, STEP + 1, STEP, STEP - 1, 10 * MINUTE, HOUR, 6 * MINUTE),
    *(4 * MINUTE, 45 * MINUTE, 0, 7 * MINUTE, 30 * SECOND),
    *(2 * MINUTE, SECOND, 15 * SECOND, 40 * SECOND, 4 * SECOND, MINUTE, 3 * SECOND, 500, 0),
]
# (after creating chat i, send into chat j, that much later): moves within the step of the chat's
# last activity (its index entry may stay behind) and beyond it
SETUP_SENDS = {3: (1, 2 * MINUTE), 8: (7, SECOND), 12: (11, 30 * SECOND), 17: (16, 10 * SECOND), 20: (18, 5 * SECOND)}
SETUP_SENDS |= {24: (22, SECOND), 14: (2, 4 * MINUTE), 22: (21, 100)}


def inbox_id(i: int) -> str:
    """Ids in another order than creation, so ties by id are not creation order."""
    return f"c{(i * 7) % 25:02d}"


async def build_inbox(store: Store) -> Inbox:
    inbox = Inbox(store)
    assert len(GAPS) == 25
    for i, gap in enumerate(GAPS):
        inbox.tick(gap)
        await inbox.create(group(inbox_id(i), ["alice", "bob"]))
        if i % 3 == 0:  # someone else's chat at the same moment: never in alice's inbox
            await inbox.create(group(f"x{i:02d}", ["bob", "carol"]))
            await inbox.send(f"x{i:02d}", "carol")
        if i in SETUP_SENDS:
            target, delay = SETUP_SENDS[i]
            inbox.tick(delay)
            await inbox.send(inbox_id(target), "bob" if i % 2 else "alice")
    return inbox


async def test_list_chats_is_in_exact_activity_order_seconds_to_hours_apart(store: Store) -> None:
    inbox = await build_inbox(store)
    whole = await store.list_chats("alice", 100, None)
    assert [c.id for c in whole.chats] == inbox.order() and whole.next_cursor is None
    assert [c.last_activity_ms for c in whole.chats] == [inbox.activity[c] for c in inbox.order()]
    assert len(inbox.order()) == 25
    for limit in (1, 7, 24, 25):
        walked: list[str] = []
        cursor: str | None = None
        for _ in range(26):
            page = await store.list_chats("alice", limit, cursor)
            walked += [c.id for c in page.chats]
            assert len(page.chats) <= limit
            cursor = page.next_cursor
            if cursor is None:
                break
        assert walked == inbox.order(), limit


async def test_list_chats_pages_stay_exact_while_chats_move_between_pages(store: Store) -> None:
    inbox = await build_inbox(store)
    limit = 7
    moves: list[list[str]] = [
        # the chat right after the cursor and a later one (both recent: moves within the step),
        # and one already listed
        ["after:0", "after:2", "listed:2"],
        # the oldest chat (hours old), and a new chat on top
        ["after:-1", "new"],
        # the only chat left after the cursor: the next page is empty, and the last
        ["after:0"],
    ]
    seen: list[str] = []
    moved: list[str] = []
    moved_away: set[str] = set()
    cursor: str | None = None
    position: tuple[int, str] | None = None
    for page_number in range(10):
        expected = inbox.after(position)
        page = await store.list_chats("alice", limit, cursor)
        assert [c.id for c in page.chats] == expected[:limit], page_number
        assert [c.last_activity_ms for c in page.chats] == [inbox.activity[c] for c in expected[:limit]]
        assert (page.next_cursor is None) == (len(expected) <= limit), page_number
        seen += [c.id for c in page.chats]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        last = page.chats[-1]
        position = (last.last_activity_ms, last.id)
        for move in moves[page_number] if page_number < len(moves) else []:
            inbox.tick(SECOND)
            if move == "new":
                await inbox.create(group("new", ["carol", "alice"]))
                target = "new"
            else:
                where, index = move.split(":")
                target = (inbox.after(position) if where == "after" else seen)[int(index)]
                await inbox.send(target)
            moved.append(target)
            if target not in seen:
                moved_away.add(target)
    else:
        pytest.fail("the pages did not end")
    assert page_number == 3 and page.chats == (), "the last page's only chat moved away"
    assert len(seen) == len(set(seen)), "no chat is listed twice"
    assert set(seen) | moved_away == set(inbox.activity) and not moved_away & set(seen)
    assert len(moved_away) == 5
    # every chat that moved is on top now, the last moved first
    top = await store.list_chats("alice", len(moved), None)
    assert [c.id for c in top.chats] == list(reversed(moved)) == inbox.order()[: len(moved)]


async def test_a_member_added_to_a_group_sees_it_at_its_real_activity_position(store: Store) -> None:
    g = T0 + 10 * HOUR
    await store.create_chat(group("grp", ["bob", "carol"], at=g - HOUR))
    await store.append_message("grp", "bob", "one", "k1", g - 3 * MINUTE)
    await store.append_message("grp", "carol", "two", "k2", g)  # within the step of the one before
    for chat_id, at in (("d1", g - 2 * HOUR), ("d2", g - MINUTE), ("d3", g + 10 * SECOND), ("d4", g + 2 * HOUR)):
        await store.create_chat(group(chat_id, ["alice", "dave"], at=at))
    await store.update_chat("grp", ChatUpdate(expected_version=0, now_ms=g + 3 * HOUR, add=("alice",)))
    page = await store.list_chats("alice", 100, None)
    assert [c.id for c in page.chats] == ["d4", "d3", "grp", "d2", "d1"]
    assert page.chats[2].last_activity_ms == g
    walked: list[str] = []
    cursor: str | None = None
    while True:
        paged = await store.list_chats("alice", 2, cursor)
        walked += [c.id for c in paged.chats]
        if (cursor := paged.next_cursor) is None:
            break
    assert walked == ["d4", "d3", "grp", "d2", "d1"]
    # and the group moves in the new member's inbox as it does in the others'
    await store.append_message("grp", "bob", "three", "k3", g + 4 * HOUR)
    assert await chat_ids(store, "alice") == ["grp", "d4", "d3", "d2", "d1"]


# --- SQLite only: migration 3 on a database of schema 2 -----------------------------------------
async def test_sqlite_migration_3_keeps_old_chats_and_finds_their_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat_core.stores import sqlite_schema
    from chat_core.stores.sqlite import SqliteStore

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    with monkeypatch.context() as patched:
        patched.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:2])
        assert sqlite_schema.migrate(conn) == 2
    old_direct = direct_chat_id("zoe", "amy")
    conn.execute(
        "INSERT INTO chats (id, type, title, created_at, last_seq, last_activity) VALUES"
        f" ('{old_direct}', 'direct', NULL, 1, 0, 1), ('old-group', 'group', 'g', 2, 0, 2)"
    )
    conn.execute(
        "INSERT INTO members (chat_id, user_id, position, read_seq) VALUES"
        f" ('{old_direct}', 'zoe', 0, 0), ('{old_direct}', 'amy', 1, 0),"
        " ('old-group', 'zoe', 0, 0), ('old-group', 'amy', 1, 0)"
    )
    conn.close()

    store = await SqliteStore.open(str(path))
    try:
        chat = await get(store, old_direct)
        assert (chat.topic, chat.admins, chat.version, chat.blocked_by) == (None, (), 0, frozenset())
        assert {u: joined(chat, u) for u in chat.members} == {"zoe": 0, "amy": 0}
        assert (await get(store, "old-group")).acting_admins == ("zoe",)
        new, _ = await store.create_chat(direct("amy", "zoe", "topic"))
        marked = await store.set_block("amy", "zoe", True, 10)
        assert {c.id for c in marked} == {old_direct, new.id}
        assert (await get(store, "old-group")).version == 0
    finally:
        await store.close()
