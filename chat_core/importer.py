"""`chat import`: write the chats of a checked import file (import_file.py) into a Store.

Per chat: create it (put-if-absent), store its history in batches through
`Store.import_messages` (idempotent, original timestamps, seqs in the plan's order), then raise
every member's read mark over the imported history, so that a migration does not turn years
of messages into unread ones (docs/importing.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from .import_file import IMPORT_PREFIX, ChatPlan, ImportPlan, LineError
from .models import AppendResult, Chat
from .ports import Store

BATCH = 500
"""Messages per import_messages call: one SQLite transaction, one DynamoDB seq range."""
CONCURRENT_CHATS = 4


@dataclass(slots=True)
class ImportReport:
    chats_imported: int = 0
    """Chats whose whole history is in the store now (new ones and ones already there)."""
    chats_created: int = 0
    messages_imported: int = 0
    messages_present: int = 0
    """Messages of the file that a previous run had stored already."""
    chats_skipped: int = 0
    errors: list[LineError] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"chats: {self.chats_imported} imported ({self.chats_created} new), {self.chats_skipped} skipped; "
            f"messages: {self.messages_imported} imported, {self.messages_present} already present; "
            f"errors: {len(self.errors)}"
        )


class Progress:
    """A progress line on a terminal (redrawn at most every `interval_s`); elsewhere (a log
    file, CI) a plain line at most every `quiet_interval_s`, so a fast import prints none."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        tty: bool,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = 0.1,
        quiet_interval_s: float = 10.0,
    ) -> None:
        self.total, self.done = total, 0
        self._stream, self._tty, self._clock = stream, tty, clock
        self._interval = interval_s if tty else quiet_interval_s
        self._shown_at = clock()
        self._drawn = False

    def advance(self, count: int) -> None:
        self.done += count
        now = self._clock()
        if now - self._shown_at >= self._interval:
            self._shown_at = now
            self._show()

    def _show(self) -> None:
        share = self.done / self.total if self.total else 1.0
        if self._tty:
            bar = "#" * int(share * 30)
            self._stream.write(f"\rimporting [{bar:<30}] {self.done}/{self.total} messages {share:4.0%}")
            self._drawn = True
        else:
            self._stream.write(f"importing: {self.done}/{self.total} messages ({share:.0%})\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._tty and self.total:
            self._show()
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


async def run_import(
    store: Store,
    plan: ImportPlan,
    progress: Progress | None = None,
    *,
    report: ImportReport | None = None,
    batch: int = BATCH,
) -> ImportReport:
    """Import every valid chat of the plan into `report` (a new one if None); skipped chats and
    every error are in it. A fatal plan imports nothing.

    A store failure (Unavailable) propagates (the first one; the other chats' work is cancelled):
    what was written stays, `report` counts it, and the next run with the same file completes it.
    """
    report = report if report is not None else ImportReport()
    report.errors += plan.errors
    valid = plan.valid_chats
    report.chats_skipped += len(plan.chats) - len(valid)
    limit = asyncio.Semaphore(CONCURRENT_CHATS)

    async def one(chat: ChatPlan) -> None:
        async with limit:
            await _import_chat(store, chat, report, progress, batch)

    try:
        async with asyncio.TaskGroup() as tasks:
            for chat in valid:
                tasks.create_task(one(chat))
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    report.errors.sort(key=lambda e: e.line)
    return report


async def _import_chat(
    store: Store, plan: ChatPlan, report: ImportReport, progress: Progress | None, batch: int
) -> None:
    chat = await store.get_chat(plan.chat_id)
    if chat is None:
        chat, created = await store.create_chat(
            Chat(
                plan.chat_id,
                plan.type,
                plan.title,
                plan.members,
                plan.created_at_ms,
                0,
                plan.created_at_ms,
                None,
                dict.fromkeys(plan.members, 0),
            )
        )
        report.chats_created += created
    refusal = await _refusal(store, chat, plan)
    if refusal is not None:
        report.errors.append(LineError(plan.line, f"chat {plan.source_ids[0]!r} ({plan.chat_id}): {refusal}"))
        report.chats_skipped += 1
        if progress is not None:
            progress.advance(len(plan.messages))
        return
    stored: list[AppendResult] = []
    for start in range(0, len(plan.messages), batch):
        part = plan.messages[start : start + batch]
        results = await store.import_messages(plan.chat_id, part)
        stored += results
        new = sum(r.created for r in results)
        report.messages_imported += new
        report.messages_present += len(results) - new
        if progress is not None:
            progress.advance(len(part))
    for user, seq in read_marks(plan, stored).items():
        if seq > chat.read_seqs.get(user, 0):
            await store.mark_read(plan.chat_id, user, seq)
    report.chats_imported += 1


def read_marks(plan: ChatPlan, stored: Sequence[AppendResult]) -> dict[str, int]:
    """Each member's read mark over the imported history: the last imported message, or for a
    member with a `readAt` the last one sent at or before it (0: none)."""
    last = max((r.message.seq for r in stored), default=0)
    marks = {}
    for user in plan.members:
        read_at = plan.read_at_ms.get(user)
        if read_at is None:
            marks[user] = last
        else:
            marks[user] = max((r.message.seq for r in stored if r.message.created_at_ms <= read_at), default=0)
    return marks


async def _refusal(store: Store, chat: Chat, plan: ChatPlan) -> str | None:
    """Why this chat of the store cannot take the plan's history, if it cannot."""
    if chat.type != plan.type or set(chat.members) != set(plan.members):
        return (
            f"exists already as a {chat.type} of {', '.join(chat.members)}; an import does not change "
            "a chat's members, so the file's chat cannot be imported into it"
        )
    last = chat.last_message
    if last is None or last.client_message_id.startswith(IMPORT_PREFIX):
        return None
    # messages were sent here after the chat was created (or imported): history imported now would
    # get seqs after them, out of time order. Fine only when everything is in already.
    present = await _imported_keys(store, plan.chat_id)
    missing = sum((m.sender_id, m.client_message_id) not in present for m in plan.messages)
    if missing:
        return (
            f"has messages sent on this server; its {missing} messages not imported yet would follow "
            "them out of time order (import before users start chatting)"
        )
    return None


async def _imported_keys(store: Store, chat_id: str) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    after = 0
    while True:
        page = await store.list_messages(chat_id, before_seq=None, after_seq=after, limit=1000)
        keys.update(
            (m.sender_id, m.client_message_id) for m in page.messages if m.client_message_id.startswith(IMPORT_PREFIX)
        )
        if not page.has_more or not page.messages:
            return keys
        after = page.messages[-1].seq
