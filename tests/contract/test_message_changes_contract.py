"""The Store contract for message changes (edits, deletes, reactions), replies, attachments and
the per-chat change log recovery reads (chat_core/ports.py), run against every store."""

from __future__ import annotations

import asyncio

import pytest

from chat_core.errors import Forbidden, Invalid, NotFound
from chat_core.ids import message_id
from chat_core.models import Attachment, Message, MessageChange, ReplyRef
from chat_core.ports import MAX_REACTION_KINDS, UPDATES_MAX, Store

from .test_store_contract import T0, new_chat


async def post(store: Store, chat: str, sender: str, n: int, **extra: object) -> Message:
    result = await store.append_message(chat, sender, f"message {n}", f"k{n}", T0 + n, **extra)  # type: ignore[arg-type]
    assert result.created
    return result.message


def edit(user: str, content: str, *, after: int | None = None) -> MessageChange:
    return MessageChange("edit", user, content=content, created_after_ms=after)


def react(user: str, emoji: str, add: bool = True) -> MessageChange:
    return MessageChange("react" if add else "unreact", user, emoji=emoji)


async def setup_chat(store: Store, members: tuple[str, ...] = ("alice", "bob", "carol")) -> str:
    await store.create_chat(new_chat("c1", list(members)))
    return "c1"


async def test_message_id_is_derived_from_the_idempotency_key(store: Store) -> None:
    chat = await setup_chat(store)
    sent = await post(store, chat, "alice", 1)
    assert sent.id == message_id(chat, "alice", "k1")
    assert sent.change_seq == sent.seq
    assert await store.get_message(chat, sent.id) == sent
    assert await store.get_message(chat, "nope") is None
    assert await store.get_message("other-chat", sent.id) is None


async def test_an_edit_takes_the_next_seq_and_keeps_the_message_in_its_place(store: Store) -> None:
    chat = await setup_chat(store)
    first = await post(store, chat, "alice", 1)
    second = await post(store, chat, "bob", 2)
    result = await store.change_message(chat, first.id, edit("alice", "fixed"), T0 + 100)
    assert result.changed
    assert result.previous == first
    edited = result.message
    assert (edited.id, edited.seq, edited.content, edited.edited_at_ms) == (first.id, first.seq, "fixed", T0 + 100)
    assert edited.change_seq > second.seq
    assert await store.get_message(chat, first.id) == edited
    # history shows the current text in the message's own place; lastSeq stays the last message's
    page = await store.list_messages(chat, before_seq=None, after_seq=None, limit=10)
    assert [(m.seq, m.content) for m in page.messages] == [(first.seq, "fixed"), (second.seq, "message 2")]
    stored = await store.get_chat(chat)
    assert stored is not None
    assert stored.last_seq == second.seq
    assert stored.last_message == second
    # the next message comes after the change
    third = await post(store, chat, "carol", 3)
    assert third.seq > edited.change_seq


async def test_changes_that_change_nothing_take_no_seq(store: Store) -> None:
    chat = await setup_chat(store)
    sent = await post(store, chat, "alice", 1)
    same = await store.change_message(chat, sent.id, edit("alice", "message 1"), T0 + 5)
    assert not same.changed
    assert same.message == sent
    assert not (await store.change_message(chat, sent.id, react("bob", "👍", add=False), T0 + 6)).changed
    once = await store.change_message(chat, sent.id, react("bob", "👍"), T0 + 7)
    again = await store.change_message(chat, sent.id, react("bob", "👍"), T0 + 8)
    assert once.changed and not again.changed
    assert again.message == once.message
    deleted = await store.change_message(chat, sent.id, MessageChange("delete", "alice"), T0 + 9)
    twice = await store.change_message(chat, sent.id, MessageChange("delete", "alice"), T0 + 10)
    assert deleted.changed and not twice.changed
    assert twice.message == deleted.message
    page = await store.list_messages(chat, before_seq=None, after_seq=sent.seq, limit=10)
    assert page.messages == ()
    assert page.updates == (deleted.message,)


async def test_only_the_sender_edits_or_deletes(store: Store) -> None:
    chat = await setup_chat(store)
    sent = await post(store, chat, "alice", 1)
    with pytest.raises(Forbidden):
        await store.change_message(chat, sent.id, edit("bob", "mine now"), T0 + 5)
    with pytest.raises(Forbidden):
        await store.change_message(chat, sent.id, MessageChange("delete", "bob"), T0 + 5)
    assert await store.get_message(chat, sent.id) == sent


async def test_an_edit_outside_the_window_is_refused(store: Store) -> None:
    chat = await setup_chat(store)
    sent = await post(store, chat, "alice", 1)
    with pytest.raises(Forbidden, match="edit window"):
        await store.change_message(chat, sent.id, edit("alice", "late", after=sent.created_at_ms + 1), T0 + 5)
    inside = await store.change_message(chat, sent.id, edit("alice", "in time", after=sent.created_at_ms), T0 + 5)
    assert inside.changed


async def test_unknown_messages_are_not_found(store: Store) -> None:
    chat = await setup_chat(store)
    sent = await post(store, chat, "alice", 1)
    with pytest.raises(NotFound):
        await store.change_message(chat, "missing", edit("alice", "x"), T0)
    await store.create_chat(new_chat("c2", ["alice", "bob"]))
    with pytest.raises(NotFound):
        await store.change_message("c2", sent.id, edit("alice", "x"), T0)


async def test_a_delete_leaves_a_tombstone_without_content(store: Store) -> None:
    chat = await setup_chat(store)
    photo = Attachment("a_1", chat, "alice", "cat.png", "image/png", 1234, T0, 40, 30)
    quoted = await post(store, chat, "bob", 1)
    reply = ReplyRef(quoted.id, "bob", "message 1")
    sent = await post(store, chat, "alice", 2, reply_to=reply, attachments=(photo,))
    assert (sent.reply_to, sent.attachments) == (reply, (photo,))
    await store.change_message(chat, sent.id, react("bob", "👍"), T0 + 5)
    result = await store.change_message(chat, sent.id, MessageChange("delete", "alice"), T0 + 6)
    tombstone = result.message
    assert tombstone.deleted
    assert (tombstone.id, tombstone.seq, tombstone.sender_id) == (sent.id, sent.seq, "alice")
    assert (tombstone.content, tombstone.reply_to, tombstone.attachments, tombstone.reactions) == ("", None, (), ())
    assert result.previous is not None and result.previous.attachments == (photo,)
    assert await store.get_message(chat, sent.id) == tombstone
    page = await store.list_messages(chat, before_seq=None, after_seq=None, limit=10)
    assert page.messages[-1] == tombstone
    with pytest.raises(Invalid):
        await store.change_message(chat, sent.id, edit("alice", "back"), T0 + 7)
    with pytest.raises(Invalid):
        await store.change_message(chat, sent.id, react("carol", "🎉"), T0 + 7)


async def test_reactions_one_per_user_and_emoji_with_counts(store: Store) -> None:
    chat = await setup_chat(store)
    sent = await post(store, chat, "alice", 1)
    for user, emoji in [("bob", "👍"), ("carol", "👍"), ("alice", "❤️"), ("bob", "🎉")]:
        assert (await store.change_message(chat, sent.id, react(user, emoji), T0 + 5)).changed
    current = await store.get_message(chat, sent.id)
    assert current is not None
    # most reacted first, ties by emoji; users sorted
    assert [(r.emoji, r.user_ids) for r in current.reactions] == sorted(
        [("👍", ("bob", "carol")), ("❤️", ("alice",)), ("🎉", ("bob",))], key=lambda r: (-len(r[1]), r[0])
    )
    removed = await store.change_message(chat, sent.id, react("bob", "🎉", add=False), T0 + 6)
    assert "🎉" not in [r.emoji for r in removed.message.reactions]
    assert removed.message == await store.get_message(chat, sent.id)


async def test_at_most_so_many_different_emojis(store: Store) -> None:
    chat = await setup_chat(store)
    sent = await post(store, chat, "alice", 1)
    emojis = [chr(0x1F600 + i) for i in range(MAX_REACTION_KINDS + 1)]
    for emoji in emojis[:-1]:
        await store.change_message(chat, sent.id, react("bob", emoji), T0)
    with pytest.raises(Invalid):
        await store.change_message(chat, sent.id, react("bob", emojis[-1]), T0)
    # one more user on an emoji already there is fine
    assert (await store.change_message(chat, sent.id, react("carol", emojis[0]), T0)).changed


async def test_concurrent_reactions_all_land_and_change_seqs_only_rise(store: Store) -> None:
    chat = await setup_chat(store, tuple(f"u{i}" for i in range(12)))
    sent = await post(store, chat, "u0", 1)
    results = await asyncio.gather(
        *(store.change_message(chat, sent.id, react(f"u{i}", "👍"), T0 + i) for i in range(12))
    )
    assert all(r.changed for r in results)
    current = await store.get_message(chat, sent.id)
    assert current is not None
    assert current.reactions[0].user_ids == tuple(sorted(f"u{i}" for i in range(12)))
    assert current.change_seq == max(r.message.change_seq for r in results)
    assert len({r.message.change_seq for r in results}) == 12


async def test_recovery_brings_every_change_after_the_bound(store: Store) -> None:
    chat = await setup_chat(store)
    old = [await post(store, chat, "alice", n) for n in range(1, 5)]
    synced = old[-1].seq
    edited = (await store.change_message(chat, old[0].id, edit("alice", "edited"), T0 + 10)).message
    reacted = (await store.change_message(chat, old[2].id, react("bob", "👍"), T0 + 11)).message
    new = await post(store, chat, "bob", 9)
    new_edited = (await store.change_message(chat, new.id, edit("bob", "new, edited"), T0 + 12)).message
    deleted = (await store.change_message(chat, old[1].id, MessageChange("delete", "alice"), T0 + 13)).message
    page = await store.list_messages(chat, before_seq=None, after_seq=synced, limit=50)
    assert page.messages == (new_edited,)  # new messages in their current state
    assert page.updates == (edited, reacted, deleted)  # oldest change first
    assert not page.has_more
    # from a later bound only what changed after it
    later = await store.list_messages(chat, before_seq=None, after_seq=reacted.change_seq, limit=50)
    assert later.messages == (new_edited,)
    assert later.updates == (deleted,)
    # paging backwards carries no updates
    back = await store.list_messages(chat, before_seq=None, after_seq=None, limit=50)
    assert back.updates == ()
    assert [m.content for m in back.messages] == ["edited", "", "message 3", "message 4", "new, edited"]


async def test_recovery_pages_stop_at_one_seq(store: Store) -> None:
    """messages cut at their limit: updates stop at the same seq, the rest come with the next page"""
    chat = await setup_chat(store)
    first = await post(store, chat, "alice", 1)
    synced = first.seq
    later = [await post(store, chat, "alice", n) for n in range(2, 6)]
    # a change of the old message after the third new message's seq
    changed = (await store.change_message(chat, first.id, edit("alice", "edited late"), T0 + 50)).message
    page = await store.list_messages(chat, before_seq=None, after_seq=synced, limit=2)
    assert page.messages == tuple(later[:2]) and page.has_more
    assert page.updates == ()  # changed after the cut
    cursor = max([m.seq for m in page.messages] + [m.change_seq for m in page.updates])
    rest = await store.list_messages(chat, before_seq=None, after_seq=cursor, limit=50)
    assert rest.messages == tuple(later[2:])
    assert rest.updates == (changed,)
    assert not rest.has_more


@pytest.mark.slow
async def test_more_updates_than_an_answer_holds_continue_on_the_next_page(store: Store) -> None:
    chat = await setup_chat(store)
    count = UPDATES_MAX + 3
    sent = [await post(store, chat, "alice", n) for n in range(count)]
    synced = sent[-1].seq
    changes = [(await store.change_message(chat, m.id, react("bob", "👍"), T0)).message for m in sent]
    newest = await post(store, chat, "bob", 10_000)
    page = await store.list_messages(chat, before_seq=None, after_seq=synced, limit=50)
    assert page.has_more
    assert page.updates == tuple(changes[:UPDATES_MAX])
    assert page.messages == ()  # the new message comes after the cut
    cursor = max([m.seq for m in page.messages] + [m.change_seq for m in page.updates])
    rest = await store.list_messages(chat, before_seq=None, after_seq=cursor, limit=50)
    assert rest.updates == tuple(changes[UPDATES_MAX:])
    assert rest.messages == (newest,)
    assert not rest.has_more


async def test_unread_counts_messages_not_changes(store: Store) -> None:
    chat = await setup_chat(store)
    sent = [await post(store, chat, "alice", n) for n in range(1, 4)]
    for m in sent:
        await store.change_message(chat, m.id, react("carol", "👍"), T0)
    await store.change_message(chat, sent[0].id, edit("alice", "edited"), T0)
    entry = (await store.unread_entries("bob", [chat]))[chat]
    assert entry.count == 3
    assert entry.counted_to >= sent[-1].seq
    # a store may not tell a change's seq from a message still being written (DynamoDB near the
    # top): it may list it as missing, never a stored message's
    assert not entry.missing & {m.seq for m in sent}


async def test_attachment_records(store: Store) -> None:
    chat = await setup_chat(store)
    record = Attachment("a_1", chat, "alice", "report.pdf", "application/pdf", 2048, T0)
    await store.put_attachment(record)
    assert await store.get_attachments(chat, ["a_1", "a_unknown"]) == {"a_1": record}
    assert await store.get_attachments("c-other", ["a_1"]) == {}
    removed = await store.forget_stale_attachments(T0 + 1)
    if removed:  # a store that forgets by itself (DynamoDB's TTL) answers 0 and keeps it for now
        assert await store.get_attachments(chat, ["a_1"]) == {}
    assert await store.forget_stale_attachments(T0) == 0
