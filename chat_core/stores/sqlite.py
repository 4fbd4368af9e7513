"""The embedded default store: one SQLite file in WAL mode, written by one grouped-commit thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from .. import ids
from ..errors import Conflict, NotFound
from ..message_changes import apply_change
from ..models import (
    AppendResult,
    Attachment,
    Blocks,
    ChangeResult,
    Chat,
    ChatPage,
    ChatUpdate,
    ConnectionRef,
    HistoricMessage,
    Message,
    MessageChange,
    MessagePage,
    Presence,
    ReplyRef,
    UnreadEntry,
)
from ..ports import UPDATES_MAX, Store
from . import message_json
from .cursor import decode_inbox_cursor, encode_inbox_cursor
from .sqlite_schema import migrate
from .sqlite_worker import SqliteWorker

_BASE_COLUMNS = "id, chat_id, seq, sender_id, content, client_message_id, created_at"
_MESSAGE_COLUMNS = _BASE_COLUMNS + ", change_seq, edited_at, deleted, reply_to, attachments, reactions"
_CHAT_COLUMNS = "id, type, title, created_at, last_seq, last_activity, topic, admins, version, blocked_by"


def _connect(path: str, *, writer: bool) -> sqlite3.Connection:
    if writer and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    if writer:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    else:
        conn.execute("PRAGMA query_only = ON")
    return conn


def _message(row: Sequence[Any]) -> Message:
    return Message(
        id=str(row[0]),
        chat_id=str(row[1]),
        seq=int(row[2]),
        sender_id=str(row[3]),
        content=str(row[4]),
        client_message_id=str(row[5]),
        created_at_ms=int(row[6]),
        change_seq=int(row[7] or 0),
        edited_at_ms=None if row[8] is None else int(row[8]),
        deleted=bool(row[9]),
        reply_to=message_json.reply_from(row[10]),
        attachments=message_json.attachments_from(row[11]),
        reactions=message_json.reactions_from(row[12]),
    )


def _insert_messages(conn: sqlite3.Connection, messages: Iterable[Message]) -> None:
    conn.executemany(
        f"INSERT INTO messages ({_BASE_COLUMNS}, reply_to, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                m.id,
                m.chat_id,
                m.seq,
                m.sender_id,
                m.content,
                m.client_message_id,
                m.created_at_ms,
                message_json.reply_text(m.reply_to),
                message_json.attachments_text(m.attachments),
            )
            for m in messages
        ],
    )


def _stored_with_id(
    conn: sqlite3.Connection, chat_id: str, message_id: str, sender_id: str, client_message_id: str
) -> Message | None:
    """The message stored under (chat, sender, clientMessageId), found by the id derived from
    them (the unique index messages_by_id is the idempotency rule)."""
    row = conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? AND id = ?", (chat_id, message_id)
    ).fetchone()
    if row is None:
        return None
    found = _message(row)
    if (found.sender_id, found.client_message_id) != (sender_id, client_message_id):
        raise RuntimeError(f"message id {message_id} derived from two idempotency keys")  # 2**-130
    return found


def _attachment(row: Sequence[Any]) -> Attachment:
    return Attachment(
        id=row[1],
        chat_id=row[0],
        uploader_id=row[2],
        name=row[3],
        content_type=row[4],
        size=int(row[5]),
        created_at_ms=int(row[6]),
    )


def _user_ids_text(user_ids: Iterable[str]) -> str | None:
    """A list of user ids as a JSON column (NULL for none: what rows from before migration 3 hold)."""
    listed = list(user_ids)
    return orjson.dumps(listed).decode() if listed else None


def _user_ids_from(text: str | None) -> tuple[str, ...]:
    return tuple(orjson.loads(text)) if text else ()


def _pair_key(user_a: str, user_b: str) -> str:
    """A direct chat's `pair` column: the same whichever of the two is named first, and the same
    as migration 3 computes for older chats (MIN and MAX of the members: SQLite's BINARY order
    of UTF-8 is Python's code point order)."""
    low, high = sorted((user_a, user_b))
    return f"{low}\n{high}"


def _load_chat(conn: sqlite3.Connection, chat_id: str) -> Chat | None:
    row = conn.execute(f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = ?", (chat_id,)).fetchone()
    if row is None:
        return None
    members = conn.execute(
        "SELECT user_id, read_seq, joined_seq FROM members WHERE chat_id = ? ORDER BY position", (chat_id,)
    ).fetchall()
    last_message = None
    if row[4] > 0:
        last = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? ORDER BY seq DESC LIMIT 1",
            (chat_id,),
        ).fetchone()
        last_message = _message(last) if last else None
    return Chat(
        id=row[0],
        type=row[1],
        title=row[2],
        members=tuple(user_id for user_id, _, _ in members),
        created_at_ms=row[3],
        # the seq of the last message (the chat's counter also counts changes)
        last_seq=last_message.seq if last_message is not None else 0,
        last_activity_ms=row[5],
        last_message=last_message,
        read_seqs={user_id: read_seq for user_id, read_seq, _ in members},
        topic=row[6],
        admins=_user_ids_from(row[7]),
        version=int(row[8]),
        joined_seqs={user_id: joined_seq for user_id, _, joined_seq in members},
        blocked_by=frozenset(_user_ids_from(row[9])),
    )


def _remove_members(conn: sqlite3.Connection, chat_id: str, user_ids: Sequence[str]) -> None:
    """Their member rows go, read mark and joined seq with them: the chat leaves their inbox,
    unread counts and contacts, which all start from the members table."""
    conn.executemany("DELETE FROM members WHERE chat_id = ? AND user_id = ?", [(chat_id, u) for u in user_ids])


def _add_members(
    conn: sqlite3.Connection, chat_id: str, user_ids: Sequence[str], handed_out: int, joined_seq: int
) -> None:
    """New members after the existing ones, read up to the last seq handed out: nothing sent
    before they came is unread for them (a member already there keeps their row)."""
    (last_position,) = conn.execute(
        "SELECT COALESCE(MAX(position), -1) FROM members WHERE chat_id = ?", (chat_id,)
    ).fetchone()
    conn.executemany(
        "INSERT OR IGNORE INTO members (chat_id, user_id, position, read_seq, joined_seq) VALUES (?, ?, ?, ?, ?)",
        [(chat_id, u, int(last_position) + 1 + i, handed_out, joined_seq) for i, u in enumerate(user_ids)],
    )


def _apply_update(conn: sqlite3.Connection, chat_id: str, update: ChatUpdate) -> Chat:
    """Store.update_chat inside the writer's transaction: the version check is the first write,
    so a stale caller changes nothing, and nothing can come between it and the rest."""
    row = conn.execute(
        "UPDATE chats SET version = version + 1 WHERE id = ? AND version = ? RETURNING last_seq",
        (chat_id, update.expected_version),
    ).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM chats WHERE id = ?", (chat_id,)).fetchone() is None:
            raise NotFound("chat not found")
        raise Conflict(f"chat {chat_id} is no longer at version {update.expected_version}")
    # chats.last_seq is the chat's counter: the last seq handed out to a message or a change
    # (Chat.last_seq is the last message's); a new member has read, and joined after, all of it
    handed_out = int(row[0])
    _remove_members(conn, chat_id, update.remove)
    _add_members(conn, chat_id, update.add, handed_out, 0 if update.full_history else handed_out)
    if update.set_title:
        conn.execute("UPDATE chats SET title = ? WHERE id = ?", (update.title, chat_id))
    if update.admins is not None:
        conn.execute("UPDATE chats SET admins = ? WHERE id = ?", (_user_ids_text(update.admins), chat_id))
    chat = _load_chat(conn, chat_id)
    assert chat is not None
    return chat


def _apply_block(
    conn: sqlite3.Connection, blocker_id: str, blocked_id: str, blocking: bool, now_ms: int
) -> tuple[Chat, ...]:
    """Store.set_block inside the writer's transaction: the block and every direct chat of the
    pair (found by `pair`, whatever the topic) change together. A chat already in the wanted
    state keeps its version, so a repeated call notifies nobody of a change."""
    if blocking:
        conn.execute(
            "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)",
            (blocker_id, blocked_id, now_ms),
        )
    else:
        conn.execute("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?", (blocker_id, blocked_id))
    rows = conn.execute(
        "SELECT id, blocked_by FROM chats WHERE pair = ? ORDER BY id", (_pair_key(blocker_id, blocked_id),)
    ).fetchall()
    for chat_id, text in rows:
        before = frozenset(_user_ids_from(text))
        after = before | {blocker_id} if blocking else before - {blocker_id}
        if after != before:
            conn.execute(
                "UPDATE chats SET blocked_by = ?, version = version + 1 WHERE id = ?",
                (_user_ids_text(sorted(after)), chat_id),
            )
    chats = [_load_chat(conn, chat_id) for chat_id, _ in rows]
    return tuple(chat for chat in chats if chat is not None)


def _page_after(
    conn: sqlite3.Connection, chat_id: str, after_seq: int, before_seq: int | None, limit: int
) -> MessagePage:
    """Messages after after_seq and the updates of older ones, cut at one seq (Store.list_messages)."""
    sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? AND seq > ?"
    params: list[object] = [chat_id, after_seq]
    if before_seq is not None:
        sql += " AND seq < ?"
        params.append(before_seq)
    rows = conn.execute(sql + " ORDER BY seq ASC LIMIT ?", [*params, limit + 1]).fetchall()
    messages = [_message(r) for r in rows[:limit]]
    has_more = len(rows) > limit
    upper = messages[-1].seq if has_more else (None if before_seq is None else before_seq - 1)
    sql = (
        f"SELECT {_MESSAGE_COLUMNS} FROM messages"
        " WHERE chat_id = ? AND change_seq > ? AND seq <= ? AND change_seq <= ? ORDER BY change_seq LIMIT ?"
    )
    changed = conn.execute(
        sql, (chat_id, after_seq, after_seq, 2**63 - 1 if upper is None else upper, UPDATES_MAX + 1)
    ).fetchall()
    updates = [_message(r) for r in changed[:UPDATES_MAX]]
    if len(changed) > UPDATES_MAX:
        cut = updates[-1].change_seq
        messages = [m for m in messages if m.seq <= cut]
        has_more = True
    return MessagePage(tuple(messages), has_more, tuple(updates))


class SqliteStore:
    """Writes go through one grouped-commit thread; reads through a second connection and thread
    (WAL lets it read the last commit while a write is in progress), so history and presence
    queries never wait behind an fsync."""

    #: one writer thread takes jobs first in, first out, and a job is queued when append_message
    #: is called: seqs follow the order of the calls (the service's send order relies on it)
    hands_out_seqs_in_call_order = True

    def __init__(self, worker: SqliteWorker, reader: SqliteWorker | None = None) -> None:
        self._worker = worker
        self._reader = reader or worker

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        conn = await asyncio.to_thread(_connect, path, writer=True)
        if path == ":memory:":
            return cls(SqliteWorker(conn))
        reader = await asyncio.to_thread(_connect, path, writer=False)
        return cls(SqliteWorker(conn), SqliteWorker(reader, writer=False))

    @property
    def worker(self) -> SqliteWorker:
        return self._worker

    async def close(self) -> None:
        if self._reader is not self._worker:
            await self._reader.close()
        await self._worker.close()

    # --- chats -------------------------------------------------------------------------------
    async def create_chat(self, chat: Chat) -> tuple[Chat, bool]:
        def job(conn: sqlite3.Connection) -> tuple[Chat, bool]:
            pair = _pair_key(chat.members[0], chat.members[-1]) if chat.type == "direct" else None
            inserted = conn.execute(
                "INSERT OR IGNORE INTO chats (id, type, title, created_at, last_seq, last_activity,"
                " topic, admins, version, blocked_by, pair) VALUES (?, ?, ?, ?, 0, ?, ?, ?, 0, ?, ?)",
                (
                    chat.id,
                    chat.type,
                    chat.title,
                    chat.created_at_ms,
                    chat.created_at_ms,
                    chat.topic,
                    _user_ids_text(chat.admins),
                    _user_ids_text(sorted(chat.blocked_by)),
                    pair,
                ),
            ).rowcount
            if inserted:
                conn.executemany(
                    "INSERT INTO members (chat_id, user_id, position, read_seq) VALUES (?, ?, ?, 0)",
                    [(chat.id, user_id, i) for i, user_id in enumerate(chat.members)],
                )
            stored = _load_chat(conn, chat.id)
            assert stored is not None
            return stored, bool(inserted)

        return await self._worker.call(job)

    async def get_chat(self, chat_id: str) -> Chat | None:
        return await self._reader.call(lambda conn: _load_chat(conn, chat_id))

    async def list_chats(self, user_id: str, limit: int, cursor: str | None) -> ChatPage:
        after = decode_inbox_cursor(cursor) if cursor is not None else None

        def job(conn: sqlite3.Connection) -> ChatPage:
            sql = "SELECT c.id, c.last_activity FROM members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = ?"
            params: list[object] = [user_id]
            if after is not None:
                sql += " AND (c.last_activity < ? OR (c.last_activity = ? AND c.id > ?))"
                params += [after[0], after[0], after[1]]
            sql += " ORDER BY c.last_activity DESC, c.id ASC LIMIT ?"
            params.append(limit + 1)
            rows = conn.execute(sql, params).fetchall()
            page = rows[:limit]
            chats = []
            for chat_id, _ in page:
                chat = _load_chat(conn, chat_id)
                if chat is not None:
                    chats.append(chat)
            next_cursor = encode_inbox_cursor(page[-1][1], page[-1][0]) if len(rows) > limit else None
            return ChatPage(chats=tuple(chats), next_cursor=next_cursor)

        return await self._reader.call(job)

    async def update_chat(self, chat_id: str, update: ChatUpdate) -> Chat:
        return await self._worker.call(lambda conn: _apply_update(conn, chat_id, update))

    async def set_block(self, blocker_id: str, blocked_id: str, blocking: bool, now_ms: int) -> tuple[Chat, ...]:
        return await self._worker.call(lambda conn: _apply_block(conn, blocker_id, blocked_id, blocking, now_ms))

    async def blocks(self, user_id: str) -> Blocks:
        def job(conn: sqlite3.Connection) -> Blocks:
            blocked = conn.execute("SELECT blocked_id FROM blocks WHERE blocker_id = ?", (user_id,)).fetchall()
            blocked_by = conn.execute("SELECT blocker_id FROM blocks WHERE blocked_id = ?", (user_id,)).fetchall()
            return Blocks(
                blocked=frozenset(row[0] for row in blocked), blocked_by=frozenset(row[0] for row in blocked_by)
            )

        return await self._reader.call(job)

    # --- messages ----------------------------------------------------------------------------
    async def append_message(
        self,
        chat_id: str,
        sender_id: str,
        content: str,
        client_message_id: str,
        now_ms: int,
        on_seq: Callable[[int], None] | None = None,
        *,
        reply_to: ReplyRef | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> AppendResult:
        # the seq is handed out and stored in one transaction: on_seq has nothing to announce early
        def job(conn: sqlite3.Connection) -> AppendResult:
            # derived on the writer's thread, once: the event loop has the sockets to serve
            message_id = ids.message_id(chat_id, sender_id, client_message_id)
            existing = _stored_with_id(conn, chat_id, message_id, sender_id, client_message_id)
            if existing is not None:
                return AppendResult(message=existing, created=False)
            row = conn.execute(
                "UPDATE chats SET last_seq = last_seq + 1, last_activity = ? WHERE id = ? RETURNING last_seq",
                (now_ms, chat_id),
            ).fetchone()
            if row is None:
                raise NotFound("chat not found")
            seq = int(row[0])
            message = Message.first_stored(
                chat_id,
                seq,
                sender_id,
                content,
                client_message_id,
                now_ms,
                reply_to=reply_to,
                attachments=attachments,
                message_id=message_id,
            )
            _insert_messages(conn, [message])
            return AppendResult(message=message, created=True)

        return await self._worker.call(job)

    async def get_message(self, chat_id: str, message_id: str) -> Message | None:
        def job(conn: sqlite3.Connection) -> Message | None:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? AND id = ?", (chat_id, message_id)
            ).fetchone()
            return None if row is None else _message(row)

        return await self._reader.call(job)

    async def change_message(
        self,
        chat_id: str,
        message_id: str,
        change: MessageChange,
        now_ms: int,
        on_seq: Callable[[int], None] | None = None,
    ) -> ChangeResult:
        # read, decide and write in one transaction of the one writer: nothing can come between
        def job(conn: sqlite3.Connection) -> ChangeResult:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? AND id = ?", (chat_id, message_id)
            ).fetchone()
            if row is None:
                raise NotFound("message not found")
            before = _message(row)
            (last_seq,) = conn.execute("SELECT last_seq FROM chats WHERE id = ?", (chat_id,)).fetchone()
            after = apply_change(before, change, int(last_seq) + 1, now_ms)
            if after is None:
                return ChangeResult(before, changed=False)
            conn.execute("UPDATE chats SET last_seq = ? WHERE id = ?", (after.change_seq, chat_id))
            conn.execute(
                "UPDATE messages SET content = ?, change_seq = ?, edited_at = ?, deleted = ?, reply_to = ?,"
                " attachments = ?, reactions = ? WHERE chat_id = ? AND id = ?",
                (
                    after.content,
                    after.change_seq,
                    after.edited_at_ms,
                    int(after.deleted),
                    message_json.reply_text(after.reply_to),
                    message_json.attachments_text(after.attachments),
                    message_json.reactions_text(after.reactions),
                    chat_id,
                    message_id,
                ),
            )
            return ChangeResult(after, changed=True, previous=before)

        return await self._worker.call(job)

    async def import_messages(self, chat_id: str, messages: Sequence[HistoricMessage]) -> tuple[AppendResult, ...]:
        if not messages:
            return ()

        # one transaction: the batch is stored whole or not at all, and a repeat takes no seq
        def job(conn: sqlite3.Connection) -> tuple[AppendResult, ...]:
            row = conn.execute("SELECT last_seq FROM chats WHERE id = ?", (chat_id,)).fetchone()
            if row is None:
                raise NotFound("chat not found")
            seq = int(row[0])
            stored: dict[tuple[str, str], Message] = {}
            results: list[AppendResult] = []
            new: list[Message] = []
            for m in messages:
                key = (m.sender_id, m.client_message_id)
                known = stored.get(key)
                if known is None:
                    existing = _stored_with_id(
                        conn, chat_id, ids.message_id(chat_id, *key), m.sender_id, m.client_message_id
                    )
                    if existing is None:
                        seq += 1
                        stored[key] = message = m.stored_as(chat_id, seq)
                        new.append(message)
                        results.append(AppendResult(message, created=True))
                        continue
                    known = stored[key] = existing
                results.append(AppendResult(known, created=False))
            if new:
                _insert_messages(conn, new)
                conn.execute(
                    "UPDATE chats SET last_seq = ?, last_activity = MAX(last_activity, ?) WHERE id = ?",
                    (seq, max(n.created_at_ms for n in new), chat_id),
                )
            return tuple(results)

        return await self._worker.call(job)

    async def list_messages(
        self, chat_id: str, *, before_seq: int | None, after_seq: int | None, limit: int
    ) -> MessagePage:
        def job(conn: sqlite3.Connection) -> MessagePage:
            if after_seq is not None:
                return _page_after(conn, chat_id, after_seq, before_seq, limit)
            sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?"
            params: list[object] = [chat_id]
            if before_seq is not None:
                sql += " AND seq < ?"
                params.append(before_seq)
            rows = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit + 1]).fetchall()
            newest_first = rows[:limit]
            return MessagePage(tuple(_message(r) for r in reversed(newest_first)), len(rows) > limit)

        return await self._reader.call(job)

    # --- attachments -------------------------------------------------------------------------
    async def put_attachment(self, attachment: Attachment) -> None:
        a = attachment

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO attachments (chat_id, id, uploader_id, name, content_type, size, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (a.chat_id, a.id, a.uploader_id, a.name, a.content_type, a.size, a.created_at_ms),
            )

        await self._worker.call(job)

    async def get_attachments(self, chat_id: str, attachment_ids: Sequence[str]) -> dict[str, Attachment]:
        wanted = list(dict.fromkeys(attachment_ids))

        def job(conn: sqlite3.Connection) -> dict[str, Attachment]:
            if not wanted:
                return {}
            marks = ",".join("?" * len(wanted))
            rows = conn.execute(
                "SELECT chat_id, id, uploader_id, name, content_type, size, created_at FROM attachments"
                f" WHERE chat_id = ? AND id IN ({marks})",
                (chat_id, *wanted),
            ).fetchall()
            return {row[1]: _attachment(row) for row in rows}

        return await self._reader.call(job)

    async def forget_stale_attachments(self, created_before_ms: int) -> int:
        def job(conn: sqlite3.Connection) -> int:
            return int(conn.execute("DELETE FROM attachments WHERE created_at < ?", (created_before_ms,)).rowcount)

        return await self._worker.call(job)

    async def mark_read(self, chat_id: str, user_id: str, up_to_seq: int) -> int:
        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "UPDATE members SET read_seq = MAX(read_seq, ?) WHERE chat_id = ? AND user_id = ? RETURNING read_seq",
                (up_to_seq, chat_id, user_id),
            ).fetchone()
            if row is None:
                raise NotFound("chat not found")
            return int(row[0])

        return await self._worker.call(job)

    async def unread_entries(self, user_id: str, chat_ids: Sequence[str] | None = None) -> dict[str, UnreadEntry]:
        wanted = None if chat_ids is None else list(dict.fromkeys(chat_ids))

        def job(conn: sqlite3.Connection) -> dict[str, UnreadEntry]:
            # a seq and its message commit together, so nothing below last_seq is missing
            sql = (
                "SELECT m.chat_id, m.read_seq, c.last_seq,"
                " (SELECT COUNT(*) FROM messages x"
                "  WHERE x.chat_id = m.chat_id AND x.seq > m.read_seq AND x.sender_id <> m.user_id)"
                " FROM members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = ?"
            )
            if wanted is None:
                rows = conn.execute(sql, (user_id,)).fetchall()
            else:
                rows = []
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows += conn.execute(sql + f" AND m.chat_id IN ({marks})", (user_id, *chunk)).fetchall()
            return {
                chat_id: UnreadEntry(
                    read_seq=int(read_seq), count=int(count), counted_to=max(int(last_seq), int(read_seq))
                )
                for chat_id, read_seq, last_seq, count in rows
            }

        return await self._reader.call(job)

    async def contacts(self, user_id: str) -> set[str]:
        def job(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute(
                "SELECT DISTINCT other.user_id FROM members mine"
                " JOIN members other ON other.chat_id = mine.chat_id"
                " WHERE mine.user_id = ? AND other.user_id <> ?",
                (user_id, user_id),
            ).fetchall()
            return {row[0] for row in rows}

        return await self._reader.call(job)

    # --- presence ----------------------------------------------------------------------------
    async def open_connection(self, ref: ConnectionRef, now_ms: int) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO connections (connection_id, user_id, node_id, connected_at) VALUES (?, ?, ?, ?)",
                (ref.connection_id, ref.user_id, ref.node_id, now_ms),
            ).rowcount
            before = conn.execute("SELECT online FROM presence WHERE user_id = ?", (ref.user_id,)).fetchone()
            if inserted:
                conn.execute(
                    "INSERT INTO presence (user_id, connections, online, last_seen) VALUES (?, 1, 1, ?)"
                    " ON CONFLICT (user_id) DO UPDATE SET connections = connections + 1, online = 1,"
                    " last_seen = excluded.last_seen",
                    (ref.user_id, now_ms),
                )
            return bool(inserted) and (before is None or before[0] == 0)

        return await self._worker.call(job)

    async def close_connection(self, ref: ConnectionRef, now_ms: int) -> int:
        def job(conn: sqlite3.Connection) -> int:
            deleted = conn.execute(
                "DELETE FROM connections WHERE connection_id = ? AND user_id = ?",
                (ref.connection_id, ref.user_id),
            ).rowcount
            if deleted:
                conn.execute(
                    "UPDATE presence SET connections = MAX(0, connections - 1), last_seen = ? WHERE user_id = ?",
                    (now_ms, ref.user_id),
                )
            row = conn.execute("SELECT connections FROM presence WHERE user_id = ?", (ref.user_id,)).fetchone()
            return int(row[0]) if row else 0

        return await self._worker.call(job)

    async def settle_offline(self, user_id: str, now_ms: int) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(
                "UPDATE presence SET online = 0, last_seen = COALESCE(last_seen, ?)"
                " WHERE user_id = ? AND online = 1 AND connections = 0",
                (now_ms, user_id),
            ).rowcount
            return changed == 1

        return await self._worker.call(job)

    async def presence(self, user_ids: Iterable[str]) -> dict[str, Presence]:
        wanted = list(dict.fromkeys(user_ids))

        def job(conn: sqlite3.Connection) -> dict[str, Presence]:
            found: dict[str, Presence] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for user_id, online, last_seen in conn.execute(
                    f"SELECT user_id, online, last_seen FROM presence WHERE user_id IN ({marks})", chunk
                ):
                    found[user_id] = Presence(user_id, bool(online), last_seen)
            return {u: found.get(u, Presence(u, False, None)) for u in wanted}

        return await self._reader.call(job)

    async def touch_node(self, node_id: str, now_ms: int) -> bool:
        def touch(conn: sqlite3.Connection) -> bool:
            known = conn.execute("SELECT 1 FROM nodes WHERE node_id = ?", (node_id,)).fetchone() is not None
            conn.execute(
                "INSERT INTO nodes (node_id, heartbeat) VALUES (?, ?)"
                " ON CONFLICT (node_id) DO UPDATE SET heartbeat = excluded.heartbeat",
                (node_id, now_ms),
            )
            return known

        return await self._worker.call(touch)

    async def stale_nodes(self, heartbeat_before_ms: int) -> list[str]:
        def job(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT node_id FROM nodes WHERE heartbeat < ? ORDER BY heartbeat", (heartbeat_before_ms,)
            ).fetchall()
            return [row[0] for row in rows]

        return await self._reader.call(job)

    async def node_connections(self, node_id: str, limit: int) -> list[ConnectionRef]:
        def job(conn: sqlite3.Connection) -> list[ConnectionRef]:
            rows = conn.execute(
                "SELECT user_id, connection_id FROM connections WHERE node_id = ? LIMIT ?", (node_id, limit)
            ).fetchall()
            return [ConnectionRef(user_id, connection_id, node_id) for user_id, connection_id in rows]

        return await self._reader.call(job)

    async def forget_node(self, node_id: str) -> None:
        await self._worker.call(lambda conn: conn.execute("DELETE FROM nodes WHERE node_id = ?", (node_id,)) and None)

    async def idle_online_users(self, limit: int) -> list[str]:
        def job(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT user_id FROM presence WHERE online = 1 AND connections = 0 LIMIT ?", (limit,)
            ).fetchall()
            return [row[0] for row in rows]

        return await self._reader.call(job)


_: type[Store] = SqliteStore
