"""Judges a recorded soak history against what the chat promises its users.

Each rule is a function from the history to the violations it finds; `check` runs them all.
A violation carries the shortest excerpt of the history that shows it (the events it is about).

The rules:
- acked_once: every acknowledged message is stored exactly once, as acknowledged (id and seq);
  repeated acks of one clientMessageId name one message.
- nothing_unacked: every stored or delivered message had a successful ack from its sender
  (nothing refused or never confirmed was stored or shown to anyone).
- live_once: one session is given one message live at most once.
- live_in_order: one session is given one chat's messages live in seq order, among those sent
  through one node (the protocol lets a message sent through another node overtake).
- complete: every member was eventually given every message of their chats, live or by
  recovery (their own messages count when acknowledged to them).
- unread_truth: at the end, the unread count the server answers, and the last one the user's
  session was told, equal the stored truth (messages by others above the stored read mark);
  the stored read mark is at least every acknowledged read and at most the highest one tried.
- presence_truth: after the grace and TTL periods, presence shows exactly the connected users.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .history import (
    Delivered,
    Event,
    History,
    PresenceSeen,
    ReadAnswered,
    ReadTried,
    SendAnswered,
    SendTried,
    SessionClosed,
    SessionOpened,
    StoredMessage,
    UnreadSeen,
    describe,
)

EXCERPT_EVENTS = 12


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    text: str
    evidence: tuple[Event, ...] = ()

    def report(self) -> str:
        lines = [f"[{self.rule}] {self.text}"]
        shown = sorted(self.evidence, key=lambda e: e.t)[:EXCERPT_EVENTS]
        lines += [f"    {describe(event)}" for event in shown]
        if len(self.evidence) > len(shown):
            lines.append(f"    ... {len(self.evidence) - len(shown)} more events")
        return "\n".join(lines)


E = TypeVar("E", bound=Event)


def _by_type(history: History, kind: type[E]) -> list[E]:
    return [event for event in history.events if isinstance(event, kind)]


def _stored_by_key(history: History) -> dict[tuple[str, str], list[StoredMessage]]:
    by_key: dict[tuple[str, str], list[StoredMessage]] = defaultdict(list)
    for messages in history.final.stored.values():
        for message in messages:
            by_key[(message.sender, message.cmid)].append(message)
    return by_key


def acked_once(history: History) -> Iterator[Violation]:
    stored = _stored_by_key(history)
    acks: dict[tuple[str, str], list[SendAnswered]] = defaultdict(list)
    for answer in _by_type(history, SendAnswered):
        if answer.ok:
            acks[(answer.user, answer.cmid)].append(answer)
    for (user, cmid), answers in acks.items():
        copies = stored.get((user, cmid), [])
        if len({(a.message_id, a.seq) for a in answers}) > 1:
            yield Violation("acked_once", f"{user}'s {cmid} was acknowledged as different messages", tuple(answers))
        if not copies:
            yield Violation("acked_once", f"{user}'s acknowledged {cmid} is not in the store", tuple(answers))
            continue
        if len(copies) > 1:
            yield Violation("acked_once", f"{user}'s {cmid} is stored {len(copies)} times: {copies}", tuple(answers))
        first = answers[0]
        if (copies[0].message_id, copies[0].seq, copies[0].chat) != (first.message_id, first.seq, first.chat):
            yield Violation(
                "acked_once",
                f"{user}'s {cmid} was acknowledged as {first.message_id} seq {first.seq} but stored as {copies[0]}",
                tuple(answers),
            )
    for chat, messages in history.final.stored.items():
        seqs = [m.seq for m in messages]
        if len(set(seqs)) != len(seqs):
            yield Violation("acked_once", f"chat {chat} stores one seq twice: {sorted(seqs)}")


def nothing_unacked(history: History) -> Iterator[Violation]:
    acked = {(a.user, a.cmid) for a in _by_type(history, SendAnswered) if a.ok}
    tried: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in history.events:
        if isinstance(event, SendTried | SendAnswered):
            tried[(event.user, event.cmid)].append(event)
    stored_ids = {m.message_id: m for ms in history.final.stored.values() for m in ms}
    for message in stored_ids.values():
        if (message.sender, message.cmid) not in acked:
            yield Violation(
                "nothing_unacked",
                f"stored message {message.message_id} ({message.sender}'s {message.cmid}) was never acknowledged",
                tuple(tried[(message.sender, message.cmid)]),
            )
    for delivery in _by_type(history, Delivered):
        if (delivery.sender, delivery.cmid) not in acked:
            yield Violation(
                "nothing_unacked",
                f"{delivery.session} was given {delivery.message_id} ({delivery.sender}'s {delivery.cmid}), "
                "never acknowledged to its sender",
                (delivery, *tried[(delivery.sender, delivery.cmid)]),
            )
        elif delivery.message_id not in stored_ids:
            yield Violation(
                "nothing_unacked", f"{delivery.session} was given {delivery.message_id}, not in the store", (delivery,)
            )


def live_once(history: History) -> Iterator[Violation]:
    seen: dict[tuple[str, str], Delivered] = {}
    for delivery in _by_type(history, Delivered):
        if delivery.via != "live":
            continue
        key = (delivery.session, delivery.message_id)
        if key in seen:
            yield Violation(
                "live_once", f"{delivery.session} was given {delivery.message_id} live twice", (seen[key], delivery)
            )
        else:
            seen[key] = delivery


def _origin_nodes(history: History) -> dict[str, int]:
    """message id -> the node its send went through, for messages sent in one attempt only (a
    message retried through another node has no single origin)."""
    node_of_session = {opened.session: opened.node for opened in _by_type(history, SessionOpened)}
    attempts: dict[tuple[str, str], int] = defaultdict(int)
    for tried in _by_type(history, SendTried):
        attempts[(tried.user, tried.cmid)] += 1
    origins: dict[str, int] = {}
    for answer in _by_type(history, SendAnswered):
        if answer.ok and answer.message_id is not None and attempts[(answer.user, answer.cmid)] == 1:
            origins[answer.message_id] = node_of_session[answer.session]
    return origins


def live_in_order(history: History) -> Iterator[Violation]:
    origins = _origin_nodes(history)
    last: dict[tuple[str, str, int], Delivered] = {}
    for delivery in _by_type(history, Delivered):
        origin = origins.get(delivery.message_id)
        if delivery.via != "live" or origin is None:
            continue
        key = (delivery.session, delivery.chat, origin)
        before = last.get(key)
        if before is not None and delivery.seq <= before.seq:
            yield Violation(
                "live_in_order",
                f"{delivery.session} was given seq {delivery.seq} of {delivery.chat} after seq {before.seq} "
                f"(both sent through node {origin})",
                (before, delivery),
            )
        last[key] = delivery


def complete(history: History) -> Iterator[Violation]:
    known: dict[str, set[str]] = defaultdict(set)
    for delivery in _by_type(history, Delivered):
        known[delivery.user].add(delivery.message_id)
    for answer in _by_type(history, SendAnswered):
        if answer.ok and answer.message_id is not None:
            known[answer.user].add(answer.message_id)
    for chat, members in history.final.members.items():
        for message in history.final.stored.get(chat, []):
            for member in members:
                if message.message_id in known[member]:
                    continue
                context: list[Event] = [
                    e
                    for e in history.events
                    if (isinstance(e, SendAnswered) and e.ok and e.message_id == message.message_id)
                    or (isinstance(e, SessionOpened | SessionClosed) and e.user == member)
                ]
                yield Violation(
                    "complete",
                    f"{member} was never given {message.message_id} (seq {message.seq} of {chat} by {message.sender})",
                    tuple(_near_the_ack(context, message.message_id)),
                )


def _near_the_ack(events: Sequence[Event], message_id: str) -> list[Event]:
    """The ack and the member's sessions that opened or closed around it (the shortest excerpt)."""
    acks = [e for e in events if isinstance(e, SendAnswered) and e.message_id == message_id]
    if not acks:
        return list(events)[:EXCERPT_EVENTS]
    at = acks[0].t
    ordered = sorted(events, key=lambda e: abs(e.t - at))
    return ordered[:EXCERPT_EVENTS]


def unread_truth(history: History) -> Iterator[Violation]:
    final = history.final
    acked_reads: dict[tuple[str, str], int] = defaultdict(int)
    tried_reads: dict[tuple[str, str], int] = defaultdict(int)
    read_events: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in history.events:
        if isinstance(event, ReadAnswered):
            acked_reads[(event.user, event.chat)] = max(acked_reads[(event.user, event.chat)], event.read_seq)
            read_events[(event.user, event.chat)].append(event)
        elif isinstance(event, ReadTried):
            tried_reads[(event.user, event.chat)] = max(tried_reads[(event.user, event.chat)], event.up_to_seq)
            read_events[(event.user, event.chat)].append(event)
    last_told: dict[tuple[str, str], UnreadSeen] = {}
    final_sessions = set(final.final_sessions.values())
    for seen in _by_type(history, UnreadSeen):
        if seen.session in final_sessions:
            last_told[(seen.user, seen.chat)] = seen
    for chat, members in final.members.items():
        messages = final.stored.get(chat, [])
        for member in members:
            key = (member, chat)
            mark = final.read_marks.get(key, 0)
            evidence = tuple(read_events[key][-EXCERPT_EVENTS:])
            if mark < acked_reads[key] or mark > tried_reads[key]:
                yield Violation(
                    "unread_truth",
                    f"{member}'s stored read mark in {chat} is {mark}: acknowledged reads reached "
                    f"{acked_reads[key]}, tries reached {tried_reads[key]}",
                    evidence,
                )
            truth = sum(1 for m in messages if m.sender != member and m.seq > mark)
            answered = final.server_unread.get(key)
            if answered != truth:
                yield Violation(
                    "unread_truth",
                    f"the server answers {member} {answered} unread in {chat}; the store says {truth} (mark {mark})",
                    evidence,
                )
            told = last_told.get(key)
            if told is None or told.count != truth:
                yield Violation(
                    "unread_truth",
                    f"{member}'s final session was last told {told.count if told else 'nothing'} unread in {chat}; "
                    f"the store says {truth} (mark {mark})",
                    (*evidence, *((told,) if told else ())),
                )


def presence_truth(history: History) -> Iterator[Violation]:
    expected = history.final.expected_online
    for seen in _by_type(history, PresenceSeen):
        if seen.online != (seen.user in expected):
            yield Violation(
                "presence_truth",
                f"{seen.observer} sees {seen.user} {'online' if seen.online else 'offline'}, but "
                f"{seen.user} {'has a connection' if seen.user in expected else 'has none'}",
                (seen, *_sessions_of(history, seen.user)[-6:]),
            )


def _sessions_of(history: History, user: str) -> list[Event]:
    return [e for e in history.events if isinstance(e, SessionOpened | SessionClosed) and e.user == user]


RULES: tuple[Callable[[History], Iterator[Violation]], ...] = (
    acked_once,
    nothing_unacked,
    live_once,
    live_in_order,
    complete,
    unread_truth,
    presence_truth,
)


def check(history: History) -> list[Violation]:
    return [violation for rule in RULES for violation in rule(history)]
