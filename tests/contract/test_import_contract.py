"""The Store contract of `import_messages` (history from another system), on every store."""

from __future__ import annotations

import pytest

from chat_core.errors import NotFound
from chat_core.ids import message_id
from chat_core.models import HistoricMessage
from chat_core.ports import Store
from tests.contract.test_store_contract import T0, new_chat, send

OLD = T0 - 400 * 24 * 3600 * 1000  # a year and more before the chat was created here


def historic(n: int, sender: str = "alice", *, at: int | None = None) -> HistoricMessage:
    return HistoricMessage(
        sender_id=sender,
        content=f"old {n}",
        client_message_id=f"import-{n}",
        created_at_ms=OLD + n * 1000 if at is None else at,
    )


async def test_import_keeps_order_and_original_timestamps(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"], at=OLD))
    batch = [historic(1), historic(2, "bob"), historic(3)]
    results = await store.import_messages("c1", batch)
    assert [(r.created, r.message.seq) for r in results] == [(True, 1), (True, 2), (True, 3)]
    page = await store.list_messages("c1", before_seq=None, after_seq=None, limit=10)
    assert [(m.seq, m.id, m.sender_id, m.content, m.client_message_id, m.created_at_ms) for m in page.messages] == [
        (
            i + 1,
            message_id("c1", h.sender_id, h.client_message_id),
            h.sender_id,
            h.content,
            h.client_message_id,
            h.created_at_ms,
        )
        for i, h in enumerate(batch)
    ]
    chat = await store.get_chat("c1")
    assert chat is not None
    assert chat.last_seq == 3 and chat.last_message == page.messages[-1]
    assert chat.last_activity_ms == batch[-1].created_at_ms
    assert chat.read_seqs == {"alice": 0, "bob": 0}


async def test_import_again_stores_nothing_and_takes_no_seq(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"], at=OLD))
    first = await store.import_messages("c1", [historic(1), historic(2, "bob")])
    again = await store.import_messages("c1", [historic(1), historic(2, "bob"), historic(3)])
    assert [r.created for r in again] == [False, False, True]
    assert [r.message for r in again[:2]] == [r.message for r in first]
    # the repeats took no seq: the new one follows directly, and a live send after it too
    assert again[2].message.seq == 3
    live = await send(store, "c1", "bob", at=T0)
    assert live.message.seq == 4
    assert [r.created for r in await store.import_messages("c1", [historic(3)])] == [False]
    assert (await send(store, "c1", "alice", at=T0 + 1)).message.seq == 5


async def test_a_repeat_inside_one_batch_is_stored_once(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"], at=OLD))
    results = await store.import_messages("c1", [historic(1), historic(1), historic(2)])
    assert [(r.created, r.message.seq) for r in results] == [(True, 1), (False, 1), (True, 2)]
    page = await store.list_messages("c1", before_seq=None, after_seq=None, limit=10)
    assert [m.seq for m in page.messages] == [1, 2]


async def test_import_never_moves_read_marks_nor_lowers_activity(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"], at=OLD))
    await send(store, "c1", "alice", at=T0)
    await store.mark_read("c1", "bob", 1)
    await store.import_messages("c1", [historic(1, "bob")])  # older than the live message
    chat = await store.get_chat("c1")
    assert chat is not None
    assert chat.read_seqs == {"alice": 0, "bob": 1}
    assert chat.last_activity_ms == T0
    assert chat.last_seq == 2


async def test_imported_messages_count_as_unread_until_marked(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"], at=OLD))
    results = await store.import_messages("c1", [historic(1), historic(2), historic(3, "bob")])
    assert (await store.unread_entries("bob"))["c1"].count == 2
    await store.mark_read("c1", "bob", results[-1].message.seq)
    assert (await store.unread_entries("bob"))["c1"].count == 0


async def test_import_into_unknown_chat_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.import_messages("nope", [historic(1)])
    assert await store.import_messages("nope", []) == ()


async def test_a_large_import_in_batches(store: Store) -> None:
    await store.create_chat(new_chat("c1", ["alice", "bob"], at=OLD))
    everything = [historic(n, "alice" if n % 3 else "bob") for n in range(1, 251)]
    for start in range(0, 250, 120):
        await store.import_messages("c1", everything[start : start + 120])
    page = await store.list_messages("c1", before_seq=None, after_seq=0, limit=300)
    assert [m.seq for m in page.messages] == list(range(1, 251))
    assert [m.client_message_id for m in page.messages] == [h.client_message_id for h in everything]
