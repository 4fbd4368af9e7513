"""Versioned schema of the SQLite store. Append a migration; never edit a shipped one."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: chats, members with read marks, messages, presence
    """
    CREATE TABLE chats (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL CHECK (type IN ('direct', 'group')),
        title TEXT,
        created_at INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        last_activity INTEGER NOT NULL
    );
    CREATE TABLE members (
        chat_id TEXT NOT NULL REFERENCES chats(id),
        user_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        read_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (chat_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX members_by_user ON members (user_id, chat_id);
    CREATE TABLE messages (
        chat_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        sender_id TEXT NOT NULL,
        content TEXT NOT NULL,
        client_message_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (chat_id, seq)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX messages_idempotency ON messages (chat_id, sender_id, client_message_id);
    CREATE TABLE presence (
        user_id TEXT PRIMARY KEY,
        connections INTEGER NOT NULL DEFAULT 0,
        online INTEGER NOT NULL DEFAULT 0,
        last_seen INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX presence_idle ON presence (online, connections);
    CREATE TABLE connections (
        connection_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        node_id TEXT NOT NULL,
        connected_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX connections_by_node ON connections (node_id);
    CREATE TABLE nodes (
        node_id TEXT PRIMARY KEY,
        heartbeat INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX nodes_by_heartbeat ON nodes (heartbeat);
    """,
    # 2: message changes (edits, deletes, reactions) in the chat's seq order; replies;
    # attachments. change_seq is NULL until the message first changes (the index stays small).
    """
    ALTER TABLE messages ADD COLUMN change_seq INTEGER;
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN reply_to TEXT;
    ALTER TABLE messages ADD COLUMN attachments TEXT;
    ALTER TABLE messages ADD COLUMN reactions TEXT;
    CREATE UNIQUE INDEX messages_by_id ON messages (chat_id, id);
    CREATE INDEX messages_by_change ON messages (chat_id, change_seq) WHERE change_seq IS NOT NULL;
    CREATE TABLE attachments (
        chat_id TEXT NOT NULL,
        id TEXT NOT NULL,
        uploader_id TEXT NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (chat_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX attachments_by_age ON attachments (created_at);
    """,
    # 3: conversations (docs/conversations.md). Chats gain a topic (direct chats), admins and the
    # members who block the other one (JSON lists of user ids), a version counting those changes,
    # and, for direct chats, `pair` (the two member ids sorted, joined by a newline: user ids
    # have none) so a block finds the pair's chats of every topic; existing direct chats get it
    # from their members. A member's joined_seq is the seq their history starts after (0: all).
    # The blocks themselves are read both ways: whom a user blocks, who blocks them.
    """
    ALTER TABLE chats ADD COLUMN topic TEXT;
    ALTER TABLE chats ADD COLUMN admins TEXT;
    ALTER TABLE chats ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE chats ADD COLUMN blocked_by TEXT;
    ALTER TABLE chats ADD COLUMN pair TEXT;
    UPDATE chats SET pair = (
        SELECT MIN(m.user_id) || char(10) || MAX(m.user_id) FROM members m WHERE m.chat_id = chats.id
    ) WHERE type = 'direct';
    CREATE INDEX chats_by_pair ON chats (pair) WHERE pair IS NOT NULL;
    ALTER TABLE members ADD COLUMN joined_seq INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE blocks (
        blocker_id TEXT NOT NULL,
        blocked_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (blocker_id, blocked_id)
    ) WITHOUT ROWID;
    CREATE INDEX blocks_by_blocked ON blocks (blocked_id, blocker_id);
    DROP INDEX messages_idempotency;
    """,
)
# messages_idempotency went with 3: a message's id is derived from (chat, sender,
# clientMessageId) (ids.message_id), so the unique messages_by_id of 2 holds the same rule, and
# a second unique index on a random key cost a B-tree insert per message (about a quarter of
# the direct-chat throughput, bench/results).


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to the newest schema; return the version it is at."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {version} is newer than this program ({len(MIGRATIONS)})"
        )
    for number in range(version + 1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[number - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
