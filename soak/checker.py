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
- changes_stored: the stored state of every message agrees with the changes tried on it: an
  acknowledged delete left it deleted (content "", no reactions); its content is its last
  acknowledged edit's (or its original) unless an edit whose answer was lost landed after that
  one; each user's reaction is there as their last acknowledged react on it says, unless a try
  of theirs whose answer was lost landed after it; nothing never tried shows. Acks show the change
  they answer; a change meant to be refused (someone else's message, an unknown id) is refused
  with the protocol's code, and a valid one is not refused as a wrong one.
- changes_not_invented: every state of a message a session was given (message_updated, recovery,
  an ack) has a changeSeq at most the stored one, holds only changes tried before it was given
  and not refused, and equals every other state given with its changeSeq (and the stored state
  at the stored changeSeq).
- changes_live: a session of a member open when a change was acknowledged as made by its own
  request, and for LIVE_MARGIN_S after, was told of it on that session (message_updated goes to
  every connection of every member, the acting socket included), unless it was sent `resync`.
- changes_converge: every member was eventually given (live or by recovery) every change the
  server must have told them of: one acknowledged as made by its own request, or one some
  session was told of live; so, unless the last change of a message is one whose answer was
  lost and that no one was told of live (its node died between storing and telling), every
  member ends knowing the stored changeSeq.

Whether a change landed: an acknowledged one did; a refused one did not, except that UNAVAILABLE
and INTERNAL (a write whose answer was lost, then retries that ran out) and INVALID for adding a
reaction (its write landed, the message was deleted before the retry) may have; one whose answer
was lost may have, at any time after it was tried: a node that outlived its client's patience
can still apply it after later changes (it then takes a newer seq, above theirs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .history import (
    ChangeAnswered,
    ChangeSeen,
    ChangeTried,
    Delivered,
    Event,
    History,
    PresenceSeen,
    Reactions,
    ReadAnswered,
    ReadTried,
    Resynced,
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


# --- message changes -------------------------------------------------------------------------
#: refusals after which the change may still have landed (see the module docstring)
UNSURE_CODES = frozenset({"UNAVAILABLE", "INTERNAL"})
#: refusals any request may get, whatever it asks
ANY_REQUEST_CODES = frozenset({"RATE_LIMITED", *UNSURE_CODES})
#: a member connected this long after a change was told to someone was told too (fan-out reaches
#: every node within this); one that connected after it recovered it
LIVE_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class ChangeTry:
    """One change request and its answer (None: lost)."""

    tried: ChangeTried
    answer: ChangeAnswered | None

    @property
    def acked(self) -> bool:
        return self.answer is not None and self.answer.ok

    @property
    def unsure(self) -> bool:
        """No answer, or a refusal after which it may have landed."""
        answer = self.answer
        if answer is None:
            return True
        if answer.ok:
            return False
        adding = self.tried.kind == "react" and bool(self.tried.add)
        return answer.code in UNSURE_CODES or (adding and answer.code == "INVALID")

    @property
    def may_have_landed(self) -> bool:
        return self.acked or self.unsure

    @property
    def events(self) -> tuple[Event, ...]:
        return (self.tried,) if self.answer is None else (self.tried, self.answer)


@dataclass(frozen=True, slots=True)
class GivenState:
    """A message's state a session was given: an event, a recovery entry, or an ack."""

    event: ChangeSeen | ChangeAnswered
    change_seq: int
    content: str
    deleted: bool
    reactions: Reactions

    @property
    def shape(self) -> tuple[str, bool, Reactions]:
        return (self.content, self.deleted, self.reactions)


def _change_tries(history: History) -> dict[str, list[ChangeTry]]:
    """message id -> its change tries in the order they were tried."""
    answers = {a.ref: a for a in _by_type(history, ChangeAnswered)}
    tries: dict[str, list[ChangeTry]] = defaultdict(list)
    for tried in _by_type(history, ChangeTried):
        tries[tried.message_id].append(ChangeTry(tried, answers.get(tried.ref)))
    return tries


def _stored_by_id(history: History) -> dict[str, StoredMessage]:
    return {m.message_id: m for ms in history.final.stored.values() for m in ms}


def _originals(history: History) -> dict[str, str]:
    """message id -> the content it was sent with."""
    contents = {(t.user, t.cmid): t.content for t in _by_type(history, SendTried) if t.valid}
    return {
        a.message_id: contents[(a.user, a.cmid)]
        for a in _by_type(history, SendAnswered)
        if a.ok and a.message_id is not None and (a.user, a.cmid) in contents
    }


def _states_given(history: History) -> list[GivenState]:
    given: list[GivenState] = []
    for event in history.events:
        if isinstance(event, ChangeSeen):
            given.append(GivenState(event, event.change_seq, event.content, event.deleted, event.reactions))
        elif isinstance(event, ChangeAnswered) and event.ok and event.change_seq is not None:
            given.append(GivenState(event, event.change_seq, event.content or "", bool(event.deleted), event.reactions))
    return given


def _reacted(reactions: Reactions, user: str, emoji: str) -> bool:
    return user in dict(reactions).get(emoji, ())


def _stored_shape(message: StoredMessage) -> tuple[str, bool, Reactions]:
    return (message.content, message.deleted, message.reactions)


def changes_stored(history: History) -> Iterator[Violation]:
    tries = _change_tries(history)
    originals = _originals(history)
    yield from _refusals_as_the_protocol_says(history, tries)
    for message in _stored_by_id(history).values():
        attempts = tries.get(message.message_id, [])
        yield from _acks_show_their_change(message, attempts)
        yield from _stored_deletion(message, attempts)
        if not message.deleted:
            yield from _stored_content(message, attempts, originals.get(message.message_id))
            yield from _stored_reactions(message, attempts)
        yield from _stored_change_seq(message, attempts)


def _refusals_as_the_protocol_says(history: History, tries: dict[str, list[ChangeTry]]) -> Iterator[Violation]:
    """A change meant to be refused is refused with its code; a valid one is never refused as
    FORBIDDEN or NOT_FOUND, nor INVALID unless the message ends deleted (deletion is final)."""
    stored = _stored_by_id(history)
    for message_id, attempts in tries.items():
        deleted = message_id in stored and stored[message_id].deleted
        for attempt in attempts:
            tried, answer = attempt.tried, attempt.answer
            if answer is None:
                continue
            if tried.expect is not None and answer.ok:
                text = f"{tried.user}'s {tried.kind} of {message_id} was acknowledged; it should be {tried.expect}"
                yield Violation("changes_stored", text, attempt.events)
            elif answer.ok or answer.code in ANY_REQUEST_CODES or answer.code == tried.expect:
                continue
            elif tried.expect is not None:
                text = f"{tried.user}'s {tried.kind} of {message_id} was refused {answer.code}, not {tried.expect}"
                yield Violation("changes_stored", text, attempt.events)
            elif not (answer.code == "INVALID" and deleted):
                text = f"{tried.user}'s valid {tried.kind} of {message_id} was refused {answer.code}"
                yield Violation("changes_stored", text, attempt.events)


def _acks_show_their_change(message: StoredMessage, attempts: list[ChangeTry]) -> Iterator[Violation]:
    """An acknowledged change is applied in the state its ack carries, and made by whom may."""
    for attempt in attempts:
        tried, answer = attempt.tried, attempt.answer
        if answer is None or not answer.ok or tried.expect is not None:
            continue
        if tried.kind in ("edit", "delete") and tried.user != message.sender:
            text = f"{tried.user}'s {tried.kind} of {message.sender}'s {message.message_id} was acknowledged"
            yield Violation("changes_stored", text, attempt.events)
        elif not _ack_shows(tried, answer):
            text = f"the ack of {tried.user}'s {tried.kind} of {message.message_id} does not show it"
            yield Violation("changes_stored", text, attempt.events)


def _ack_shows(tried: ChangeTried, answer: ChangeAnswered) -> bool:
    if tried.kind == "edit":
        return answer.content == tried.content and not answer.deleted
    if tried.kind == "delete":
        return bool(answer.deleted) and answer.content == "" and not answer.reactions
    if answer.deleted:  # a reaction removed from a deleted message: nothing to remove
        return not tried.add
    assert tried.emoji is not None
    return _reacted(answer.reactions, tried.user, tried.emoji) == bool(tried.add)


def _stored_deletion(message: StoredMessage, attempts: list[ChangeTry]) -> Iterator[Violation]:
    deletes = [a for a in attempts if a.tried.kind == "delete" and a.tried.user == message.sender]
    events = tuple(e for a in deletes for e in a.events)
    if any(a.acked for a in deletes) and not message.deleted:
        yield Violation("changes_stored", f"{message.message_id}'s delete was acknowledged; it is stored", events)
    if message.deleted and not any(a.may_have_landed for a in deletes):
        yield Violation("changes_stored", f"{message.message_id} is stored deleted; no delete of it landed", events)
    if message.deleted and (message.content or message.reactions):
        text = f"{message.message_id} is stored deleted with content {message.content!r}, reactions {message.reactions}"
        yield Violation("changes_stored", text, events)


def _last_acked(tries: list[ChangeTry]) -> ChangeTry | None:
    """The last acknowledged of `tries` (in the order tried), if any."""
    return next((a for a in reversed(tries) if a.acked), None)


def _stored_after(message: StoredMessage, acked: ChangeTry) -> bool:
    """The stored message's changeSeq is above the one acknowledged to `acked`: only then can a
    try whose answer was lost explain the stored state (it landed after, under a newer seq)."""
    answer = acked.answer
    return answer is not None and message.changed_at > (answer.change_seq or 0)


def _stored_content(message: StoredMessage, attempts: list[ChangeTry], original: str | None) -> Iterator[Violation]:
    """Its last acknowledged edit's content, or the original with none; else that of an edit
    whose answer was lost and that landed after the last acknowledged one (a higher seq). An
    original never acknowledged is nothing_unacked's to report."""
    edits = [a for a in attempts if a.tried.kind == "edit" and a.tried.user == message.sender and a.may_have_landed]
    last = _last_acked(edits)
    expected = last.tried.content if last is not None else original
    if expected is None or message.content == expected:
        return
    events = tuple(e for a in edits for e in a.events)
    lost = [a for a in edits if a.unsure and a.tried.content == message.content]
    if not lost:
        text = (
            f"{message.message_id} is stored with content {message.content!r}: its last acknowledged edit "
            f"(or original) is {expected!r}, and no edit whose answer was lost set it"
        )
        yield Violation("changes_stored", text, events)
    elif last is not None and last.answer is not None and not _stored_after(message, last):
        text = (
            f"{message.message_id} holds a lost edit's content {message.content!r} at changeSeq "
            f"{message.changed_at}, not above its last acknowledged edit's {last.answer.change_seq}"
        )
        yield Violation("changes_stored", text, events)


def _stored_reactions(message: StoredMessage, attempts: list[ChangeTry]) -> Iterator[Violation]:
    """Per (user, emoji): present as their last acknowledged react says (absent with none),
    unless a try of theirs whose answer was lost says otherwise and landed after it."""
    reacts = [a for a in attempts if a.tried.kind == "react" and a.may_have_landed and a.tried.emoji is not None]
    pairs = {(a.tried.user, a.tried.emoji or "") for a in reacts}
    pairs |= {(user, emoji) for emoji, users in message.reactions for user in users}
    for user, emoji in sorted(pairs):
        theirs = [a for a in reacts if a.tried.user == user and a.tried.emoji == emoji]
        present = _reacted(message.reactions, user, emoji)
        last = _last_acked(theirs)
        expected = bool(last.tried.add) if last is not None else False
        if present == expected:
            continue
        events = tuple(e for a in theirs for e in a.events)
        lost = [a for a in theirs if a.unsure and bool(a.tried.add) == present]
        state = "has" if present else "lacks"
        if not lost:
            text = (
                f"{message.message_id} {state} {user}'s {emoji}: their last acknowledged react says "
                f"{'present' if expected else 'absent'} (absent if none), and no try with a lost answer says otherwise"
            )
            yield Violation("changes_stored", text, events)
        elif last is not None and last.answer is not None and not _stored_after(message, last):
            text = (
                f"{message.message_id} {state} {user}'s {emoji} as a lost try says, at changeSeq "
                f"{message.changed_at}, not above their last acknowledged react's {last.answer.change_seq}"
            )
            yield Violation("changes_stored", text, events)


def _stored_change_seq(message: StoredMessage, attempts: list[ChangeTry]) -> Iterator[Violation]:
    """A message's changeSeq only rises: at least every acknowledged one; and it moved only
    if a change of it may have landed."""
    landed = [a for a in attempts if a.may_have_landed]
    if message.changed_at > message.seq and not landed:
        text = f"{message.message_id} is stored changed (changeSeq {message.changed_at}); no change of it landed"
        yield Violation("changes_stored", text, tuple(e for a in attempts for e in a.events))
    for attempt in landed:
        answer = attempt.answer
        if answer is not None and answer.ok and (answer.change_seq or 0) > message.changed_at:
            text = (
                f"{message.message_id} is stored at changeSeq {message.changed_at}, below the "
                f"{answer.change_seq} acknowledged to {answer.user}"
            )
            yield Violation("changes_stored", text, attempt.events)


def changes_not_invented(history: History) -> Iterator[Violation]:
    stored = _stored_by_id(history)
    tries = _change_tries(history)
    originals = _originals(history)
    first_of_seq: dict[tuple[str, int], GivenState] = {}
    for given in _states_given(history):
        message_id = given.event.message_id
        message = stored.get(message_id)
        if message is None:
            text = f"{given.event.session} was given a state of {message_id}, not in the store"
            yield Violation("changes_not_invented", text, (given.event,))
            continue
        yield from _given_within_the_store(given, message)
        yield from _given_only_tried_changes(given, message, tries.get(message_id, []), originals.get(message_id))
        yield from _one_state_per_change_seq(given, message, first_of_seq)


def _given_within_the_store(given: GivenState, message: StoredMessage) -> Iterator[Violation]:
    if given.change_seq > message.changed_at:
        text = (
            f"{given.event.session} was given {message.message_id} at changeSeq {given.change_seq}; "
            f"the store holds it at {message.changed_at}"
        )
        yield Violation("changes_not_invented", text, (given.event,))


def _given_only_tried_changes(
    given: GivenState, message: StoredMessage, attempts: list[ChangeTry], original: str | None
) -> Iterator[Violation]:
    """Every part of the state comes from a change tried before it was given, not refused."""
    before = [a for a in attempts if a.may_have_landed and a.tried.t <= given.event.t]
    by_sender = [a for a in before if a.tried.user == message.sender]
    problems: list[str] = []
    if given.deleted:
        if not any(a.tried.kind == "delete" for a in by_sender):
            problems.append("deleted, with no delete of it tried")
        if given.content or given.reactions:
            problems.append(f"deleted, yet with content {given.content!r} and reactions {given.reactions}")
    elif (
        original is not None
        and given.content != original
        and not any(a.tried.kind == "edit" and a.tried.content == given.content for a in by_sender)
    ):
        problems.append(f"content {given.content!r}, neither its original nor an edit of it tried")
    for emoji, users in given.reactions:
        for user in users:
            if not any(
                a.tried.kind == "react" and a.tried.add and (a.tried.user, a.tried.emoji) == (user, emoji)
                for a in before
            ):
                problems.append(f"{user}'s {emoji}, never tried")
    for problem in problems:
        text = f"{given.event.session} was given {message.message_id} {problem}"
        yield Violation("changes_not_invented", text, (given.event, *(e for a in attempts for e in a.events)))


def _one_state_per_change_seq(
    given: GivenState, message: StoredMessage, first_of_seq: dict[tuple[str, int], GivenState]
) -> Iterator[Violation]:
    key = (message.message_id, given.change_seq)
    first = first_of_seq.setdefault(key, given)
    if first.shape != given.shape:
        text = (
            f"{message.message_id} at changeSeq {given.change_seq} was given as {first.shape} "
            f"to {first.event.session} and as {given.shape} to {given.event.session}"
        )
        yield Violation("changes_not_invented", text, (first.event, given.event))
    elif first is given and given.change_seq == message.changed_at and given.shape != _stored_shape(message):
        text = (
            f"{given.event.session} was given {message.message_id} at its stored changeSeq {given.change_seq} "
            f"as {given.shape}; the store holds {_stored_shape(message)}"
        )
        yield Violation("changes_not_invented", text, (given.event,))


@dataclass(frozen=True, slots=True)
class MustKnow:
    """A change the server must have told every member of: its seq, when that was sure, and the
    event that shows it (its ack, or someone told of it live)."""

    change_seq: int
    t: float
    evidence: Event


def changes_converge(history: History) -> Iterator[Violation]:
    stored = _stored_by_id(history)
    must = _changes_told(history)
    known = _changes_known(history)
    sessions = _session_spans(history)
    for chat, members in history.final.members.items():
        for message in history.final.stored.get(chat, []):
            for member in members:
                have = known.get((member, message.message_id), message.seq)
                missed = [c for c in must.get(message.message_id, []) if c.change_seq > have]
                missed = [c for c in missed if _reached_after(sessions.get(member, []), c.t)]
                if not missed:
                    continue
                latest = max(missed, key=lambda c: c.change_seq)
                text = (
                    f"{member} knows {message.message_id} (of {chat}) up to changeSeq {have}; it was told "
                    f"(or acknowledged) at {latest.change_seq}; the store holds {stored[message.message_id].changed_at}"
                )
                yield Violation("changes_converge", text, (latest.evidence, *_sessions_near(history, member, latest.t)))


def _changes_told(history: History) -> dict[str, list[MustKnow]]:
    """message id -> the changes every member must learn of: those acknowledged as made by
    their own request (the server told every member before it answered), and those some
    session was told of live (the server told every member)."""
    must: dict[str, list[MustKnow]] = defaultdict(list)
    for message_id, answers in _acked_as_made(history).items():
        must[message_id] += [MustKnow(answer.change_seq or 0, answer.t, answer) for answer in answers]
    for seen in _by_type(history, ChangeSeen):
        if seen.source == "message_updated":
            must[seen.message_id].append(MustKnow(seen.change_seq, seen.t, seen))
    return must


def _acked_as_made(history: History) -> dict[str, list[ChangeAnswered]]:
    """message id -> the acks of the changes made by their own request (see _made_by)."""
    made: dict[str, list[ChangeAnswered]] = defaultdict(list)
    originals = _originals(history)
    for message_id, attempts in _change_tries(history).items():
        for index, attempt in enumerate(attempts):
            answer = attempt.answer
            if answer is not None and _made_by(attempt, attempts[:index], originals.get(message_id)):
                made[message_id].append(answer)
    return made


def _made_by(attempt: ChangeTry, earlier: list[ChangeTry], original: str | None) -> bool:
    """Whether an acknowledged change was applied by its own request, not found done already:
    no earlier try of the same user could have done it (an edit to that content, a delete, or
    the same reaction whose answer was lost or that left it as this one asks)."""
    tried, answer = attempt.tried, attempt.answer
    if answer is None or not answer.ok or tried.expect is not None or not _ack_shows(tried, answer):
        return False
    same = [a for a in earlier if a.may_have_landed and a.tried.user == tried.user and a.tried.kind == tried.kind]
    if tried.kind == "edit":
        return tried.content != original and not any(a.tried.content == tried.content for a in same)
    if tried.kind == "delete":
        return not same
    if answer.deleted:
        return False
    same = [a for a in same if a.tried.emoji == tried.emoji]
    if any(a.unsure for a in same):
        return False
    had = bool(same[-1].tried.add) if same else False
    return had != bool(tried.add)


def _changes_known(history: History) -> dict[tuple[str, str], int]:
    """(user, message id) -> the highest changeSeq of it the user was given, over all their
    sessions (events, recovery, their own acks)."""
    known: dict[tuple[str, str], int] = {}
    for given in _states_given(history):
        key = (given.event.user, given.event.message_id)
        known[key] = max(known.get(key, 0), given.change_seq)
    return known


def _session_spans(history: History) -> dict[str, list[tuple[float, float, bool]]]:
    """user -> (opened, closed, recovered) per session: closed is infinite for one still open;
    recovered is false for one lost during its recovery."""
    opened = {e.session: e for e in _by_type(history, SessionOpened)}
    closed = {e.session: e for e in _by_type(history, SessionClosed)}
    spans: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for session, start in opened.items():
        end = closed.get(session)
        recovered = end is None or not end.reason.startswith("lost during recovery")
        spans[start.user].append((start.t, end.t if end is not None else float("inf"), recovered))
    return spans


def _reached_after(spans: list[tuple[float, float, bool]], t: float) -> bool:
    """Whether a change told at t must have reached the user: a session of theirs was still
    open LIVE_MARGIN_S later (it was told live, or told to recover), or one opened after t
    recovered (it read the change)."""
    return any((start <= t + LIVE_MARGIN_S < end) or (start > t and recovered) for start, end, recovered in spans)


def changes_live(history: History) -> Iterator[Violation]:
    told = _told_per_session(history)
    resyncs: dict[str, list[float]] = defaultdict(list)
    for resync in _by_type(history, Resynced):
        resyncs[resync.session].append(resync.t)
    sessions = _sessions_per_user(history)
    for message_id, answers in _acked_as_made(history).items():
        for answer in answers:
            change_seq = answer.change_seq or 0
            for member in history.final.members.get(answer.chat, []):
                for opened, closed in sessions.get(member, []):
                    session = opened.session
                    end = closed.t if closed is not None else float("inf")
                    if not (opened.t <= answer.t and end >= answer.t + LIVE_MARGIN_S):
                        continue
                    if any(t >= answer.t for t in resyncs[session]) or told[(session, message_id)] >= change_seq:
                        continue
                    text = (
                        f"{session} was open from before {answer.user}'s {message_id} change at changeSeq {change_seq} "
                        f"was acknowledged until {LIVE_MARGIN_S:.0f} s after, and was never told of it"
                    )
                    yield Violation("changes_live", text, tuple(e for e in (answer, opened, closed) if e is not None))


def _told_per_session(history: History) -> dict[tuple[str, str], int]:
    """(session, message id) -> the highest changeSeq of it the session was given (not acks)."""
    told: dict[tuple[str, str], int] = defaultdict(int)
    for seen in _by_type(history, ChangeSeen):
        key = (seen.session, seen.message_id)
        told[key] = max(told[key], seen.change_seq)
    return told


def _sessions_per_user(history: History) -> dict[str, list[tuple[SessionOpened, SessionClosed | None]]]:
    closed = {e.session: e for e in _by_type(history, SessionClosed)}
    sessions: dict[str, list[tuple[SessionOpened, SessionClosed | None]]] = defaultdict(list)
    for opened in _by_type(history, SessionOpened):
        sessions[opened.user].append((opened, closed.get(opened.session)))
    return sessions


def _sessions_near(history: History, user: str, t: float) -> list[Event]:
    return sorted(_sessions_of(history, user), key=lambda e: abs(e.t - t))[: EXCERPT_EVENTS - 1]


RULES: tuple[Callable[[History], Iterator[Violation]], ...] = (
    acked_once,
    nothing_unacked,
    live_once,
    live_in_order,
    complete,
    unread_truth,
    presence_truth,
    changes_stored,
    changes_not_invented,
    changes_live,
    changes_converge,
)


def check(history: History) -> list[Violation]:
    return [violation for rule in RULES for violation in rule(history)]
