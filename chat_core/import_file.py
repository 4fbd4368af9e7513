"""The `chat import` file: JSON Lines records of another system's chats and messages, parsed and
checked into one plan per chat before anything is written (the format is docs/importing.md).

No I/O here: `parse` takes the lines and the time, and answers the chats to import, each with its
messages in the order they get seqs, and every error with its line number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import payloads
from .errors import Invalid
from .ids import direct_chat_id
from .models import ChatType, HistoricMessage

IMPORT_PREFIX = "import-"
"""Every imported message's clientMessageId starts with this; live clients' ids never need to."""
MAX_SOURCE_ID_CHARS = 256
FUTURE_SLACK_MS = 24 * 3600 * 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class ChatPlan:
    """One chat of ours with the history to import into it (valid when `errors` is empty)."""

    chat_id: str
    source_ids: list[str]
    type: ChatType
    title: str | None
    members: tuple[str, ...]
    created_at_ms: int
    line: int
    """The line of its (first) chat record."""
    read_at_ms: dict[str, int] = field(default_factory=dict)
    messages: list[HistoricMessage] = field(default_factory=list)
    """In the order they get seqs: original time, then line."""
    errors: list[LineError] = field(default_factory=list)


@dataclass(slots=True)
class ImportPlan:
    chats: list[ChatPlan]
    errors: list[LineError]
    """Every bad record, in line order."""
    fatal: bool
    """A bad line could not be tied to a chat: it may belong to any of them, so nothing is imported."""

    @property
    def valid_chats(self) -> list[ChatPlan]:
        return [] if self.fatal else [c for c in self.chats if not c.errors]

    @property
    def skipped_chats(self) -> list[ChatPlan]:
        return [c for c in self.chats if c.errors]


def group_chat_id(source_id: str) -> str:
    """Our id of an imported group: the same for the same old id on every run."""
    return "g_" + hashlib.sha256(f"import\n{source_id}".encode()).hexdigest()[:32]


def client_message_id(source_id: str) -> str:
    """The idempotency key of an imported message (at most 64 characters, as every clientMessageId)."""
    if len(IMPORT_PREFIX) + len(source_id) <= payloads.MAX_CLIENT_MESSAGE_ID_CHARS:
        return IMPORT_PREFIX + source_id
    return IMPORT_PREFIX + "h-" + hashlib.sha256(source_id.encode()).hexdigest()[:40]


def _source_id(value: object) -> str | None:
    """An id of the old system: a string or an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_SOURCE_ID_CHARS and value.isprintable() and value.strip():
        return value
    return None


def _time(value: object, name: str, now_ms: int) -> int:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be an ISO-8601 time string such as 2021-03-04T05:06:07.123Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise Invalid(f"{name} {value!r} has no time zone (add Z or an offset such as +02:00)")
    ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    if not 0 <= ms <= now_ms + FUTURE_SLACK_MS:
        raise Invalid(f"{name} {value!r} is before 1970 or in the future")
    return ms


@dataclass(slots=True)
class _Source:
    """One chat record of the file, as read."""

    line: int
    plan: ChatPlan | None  # None when the record itself was bad
    errors: list[LineError]


def _chat_plan(record: dict[str, Any], source: str, line: int, now_ms: int) -> ChatPlan:
    kind = record.get("kind")
    members = record.get("members")
    if kind not in ("direct", "group"):
        raise Invalid("kind must be 'direct' or 'group'")
    if not isinstance(members, list):
        raise Invalid("members must be a list of user ids")
    unique = tuple(dict.fromkeys(payloads.user_id(m, "members[]") for m in members))
    title = record.get("title")
    if kind == "direct":
        if len(members) != 2 or len(unique) != 2:
            raise Invalid("a direct chat has exactly two different members")
        if title is not None:
            raise Invalid("a direct chat has no title")
        chat_id, unique = direct_chat_id(*unique), tuple(sorted(unique))
    else:
        if not 2 <= len(unique) <= payloads.MAX_GROUP_MEMBERS:
            raise Invalid(f"a group has 2 to {payloads.MAX_GROUP_MEMBERS} different members")
        title = payloads.title(title)
        chat_id = group_chat_id(source)
    created = _time(record.get("createdAt"), "createdAt", now_ms)
    read_at = record.get("readAt") or {}
    if not isinstance(read_at, dict):
        raise Invalid("readAt must be an object of user id to time")
    for user in read_at:
        if user not in unique:
            raise Invalid(f"readAt names {user!r}, who is not a member")
    marks = {user: _time(at, f"readAt.{user}", now_ms) for user, at in read_at.items()}
    return ChatPlan(chat_id, [source], kind, title, unique, created, line, marks)


def _message(record: dict[str, Any], chat: ChatPlan, now_ms: int) -> tuple[str, HistoricMessage]:
    source = _source_id(record.get("id"))
    if source is None:
        raise Invalid(f"id must be a string of 1-{MAX_SOURCE_ID_CHARS} printable characters or an integer")
    sender = payloads.user_id(record.get("sender"), "sender")
    if sender not in chat.members:
        raise Invalid(f"sender {sender!r} is not a member of chat {chat.source_ids[0]!r}")
    content = payloads.content(record.get("content"))
    at = _time(record.get("createdAt"), "createdAt", now_ms)
    return source, HistoricMessage(sender, content, client_message_id(source), at)


def parse(lines: Iterable[str | bytes], now_ms: int) -> ImportPlan:
    """Read every record, then check every message against its chat: all errors, not the first."""
    errors: list[LineError] = []
    fatal = False
    sources: dict[str, _Source] = {}
    message_lines: list[tuple[int, str, dict[str, Any]]] = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode() if isinstance(raw, bytes) else raw
            record = json.loads(text) if text.strip() else None
        except ValueError as bad:  # UnicodeDecodeError and JSONDecodeError both are
            why = f"{bad.msg} at column {bad.colno}" if isinstance(bad, json.JSONDecodeError) else "not UTF-8"
            errors.append(LineError(number, f"not a JSON record ({why})"))
            fatal = True
            continue
        if record is None:
            continue  # blank line
        if not isinstance(record, dict):
            errors.append(LineError(number, "a record must be a JSON object"))
            fatal = True
            continue
        kind = record.get("type")
        ref = _source_id(record.get("id") if kind == "chat" else record.get("chat"))
        if ref is None:
            what = "id" if kind == "chat" else "chat"
            errors.append(LineError(number, f"no valid {what} (a string or an integer): cannot tell its chat"))
            fatal = True
        elif kind == "chat":
            if ref in sources:
                error = LineError(number, f"chat {ref!r} again (first on line {sources[ref].line})")
                sources[ref].errors.append(error)
                errors.append(error)
                continue
            try:
                sources[ref] = _Source(number, _chat_plan(record, ref, number, now_ms), [])
            except Invalid as bad:
                error = LineError(number, f"chat {ref!r}: {bad.message}")
                sources[ref] = _Source(number, None, [error])
                errors.append(error)
        else:
            # a message, or a record of unknown type that names a chat (which then is skipped)
            message_lines.append((number, ref, record))
    chats = _merge(sources)
    seen: dict[tuple[str, str], int] = {}
    for number, ref, record in message_lines:
        owner = sources.get(ref)
        if owner is None:
            errors.append(LineError(number, f"message of unknown chat {ref!r} (no chat record has that id)"))
            continue
        chat = owner.plan
        try:
            if record.get("type") != "message":
                raise Invalid(f"unknown record type {record.get('type')!r} (chat or message)")
            if chat is None:
                continue  # its chat record is bad and reported; the chat is skipped
            source, message = _message(record, chat, now_ms)
            first = seen.setdefault((chat.chat_id, source), number)
            if first != number:
                raise Invalid(f"message {source!r} again in this chat (first on line {first})")
        except Invalid as bad:
            error = LineError(number, bad.message)
            errors.append(error)
            (chat.errors if chat is not None else owner.errors).append(error)
            continue
        chat.messages.append(message)
    for chat in chats:
        chat.messages.sort(key=lambda m: m.created_at_ms)  # stable: equal times keep line order
    errors.sort(key=lambda e: e.line)
    return ImportPlan(chats, errors, fatal)


def _merge(sources: dict[str, _Source]) -> list[ChatPlan]:
    """One plan per chat of ours: direct chats of the same two users in the old system become
    one (their histories interleave by time); a bad chat record skips every chat it maps to."""
    by_id: dict[str, ChatPlan] = {}
    for source in sources.values():
        plan = source.plan
        if plan is None:
            continue
        merged = by_id.setdefault(plan.chat_id, plan)
        if merged is not plan:
            merged.source_ids += plan.source_ids
            merged.created_at_ms = min(merged.created_at_ms, plan.created_at_ms)
            for user, at in plan.read_at_ms.items():
                merged.read_at_ms[user] = max(at, merged.read_at_ms.get(user, at))
            source.plan = merged
    for source in sources.values():
        if source.plan is not None:
            source.plan.errors += source.errors
    return list(by_id.values())
