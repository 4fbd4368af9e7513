"""The soak's checker on hand-made histories: a good one passes, and each kind of bad one is
caught by the rule it breaks, with the events that show it."""

from __future__ import annotations

from pathlib import Path

from soak.checker import check
from soak.history import (
    Delivered,
    FinalState,
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
)

CHAT = "d_ab"


def good_history() -> History:
    """alice (node 0) sends m1 and m2 to bob (node 1), who gets both live, reads the first,
    and is told 1 unread; presence shows both online."""
    events = [
        SessionOpened(0.0, "alice", "alice#1", 0),
        SessionOpened(0.1, "bob", "bob#1", 1),
        UnreadSeen(0.2, "bob", "bob#1", CHAT, 0),
        UnreadSeen(0.2, "alice", "alice#1", CHAT, 0),
        SendTried(1.0, "alice", "alice#1", CHAT, "a-1", True),
        SendAnswered(1.1, "alice", "alice#1", CHAT, "a-1", True, "m1", 1),
        Delivered(1.2, "bob", "bob#1", CHAT, "m1", 1, "alice", "a-1", "live"),
        SendTried(2.0, "alice", "alice#1", CHAT, "a-2", True),
        SendAnswered(2.1, "alice", "alice#1", CHAT, "a-2", True, "m2", 2),
        Delivered(2.2, "bob", "bob#1", CHAT, "m2", 2, "alice", "a-2", "live"),
        ReadTried(3.0, "bob", "bob#1", CHAT, 1),
        ReadAnswered(3.1, "bob", "bob#1", CHAT, 1),
        UnreadSeen(3.1, "bob", "bob#1", CHAT, 1),
        PresenceSeen(9.0, "alice", "alice#1", "bob", True),
        PresenceSeen(9.0, "bob", "bob#1", "alice", True),
    ]
    final = FinalState(
        stored={CHAT: [StoredMessage(CHAT, "m1", 1, "alice", "a-1"), StoredMessage(CHAT, "m2", 2, "alice", "a-2")]},
        members={CHAT: ["alice", "bob"]},
        read_marks={("bob", CHAT): 1},
        server_unread={("alice", CHAT): 0, ("bob", CHAT): 1},
        final_sessions={"alice": "alice#1", "bob": "bob#1"},
        expected_online={"alice", "bob"},
    )
    return History(seed=7, events=events, final=final)


def rules_broken(history: History) -> list[str]:
    return sorted({violation.rule for violation in check(history)})


def test_a_good_history_has_no_violations() -> None:
    assert check(good_history()) == []


def test_an_acknowledged_message_missing_from_the_store() -> None:
    history = good_history()
    history.final.stored[CHAT] = history.final.stored[CHAT][:1]
    history.final.server_unread[("bob", CHAT)] = 0
    history.events = [e for e in history.events if not (isinstance(e, UnreadSeen) and e.count == 1)]
    violations = [v for v in check(history) if v.rule == "acked_once"]
    assert len(violations) == 1 and "a-2" in violations[0].text
    assert any(isinstance(e, SendAnswered) and e.cmid == "a-2" for e in violations[0].evidence)


def test_a_retry_acknowledged_as_another_message() -> None:
    history = good_history()
    history.events.append(SendAnswered(4.0, "alice", "alice#1", CHAT, "a-2", True, "m3", 3))
    assert "acked_once" in rules_broken(history)


def test_one_seq_stored_twice() -> None:
    history = good_history()
    history.final.stored[CHAT][1] = StoredMessage(CHAT, "m2", 1, "alice", "a-2")
    assert "acked_once" in rules_broken(history)


def test_a_stored_message_its_sender_never_had_acknowledged() -> None:
    history = good_history()
    history.events = [e for e in history.events if not (isinstance(e, SendAnswered) and e.cmid == "a-2")]
    unacked = [v for v in check(history) if v.rule == "nothing_unacked"]
    assert len(unacked) == 2  # the stored copy, and bob's delivery
    assert rules_broken(history) == ["complete", "nothing_unacked"]  # and alice herself never had it


def test_a_refused_send_that_reached_someone() -> None:
    history = good_history()
    history.events += [
        SendTried(5.0, "alice", "alice#1", CHAT, "a-3", False),
        SendAnswered(5.1, "alice", "alice#1", CHAT, "a-3", False, code="INVALID"),
        Delivered(5.2, "bob", "bob#1", CHAT, "m9", 9, "alice", "a-3", "live"),
    ]
    violations = [v for v in check(history) if v.rule == "nothing_unacked"]
    assert len(violations) == 1 and "a-3" in violations[0].text


def test_one_message_given_live_twice_on_one_session() -> None:
    history = good_history()
    history.events.append(Delivered(2.3, "bob", "bob#1", CHAT, "m2", 2, "alice", "a-2", "live"))
    assert rules_broken(history) == ["live_in_order", "live_once"]


def test_live_and_recovered_copies_on_one_session_are_not_duplicates() -> None:
    history = good_history()
    history.events.append(Delivered(2.3, "bob", "bob#1", CHAT, "m2", 2, "alice", "a-2", "recovery"))
    assert check(history) == []


def test_messages_through_one_node_out_of_seq_order() -> None:
    history = good_history()
    first, second = (i for i, e in enumerate(history.events) if isinstance(e, Delivered))
    history.events[first], history.events[second] = history.events[second], history.events[first]
    violations = check(history)
    assert [v.rule for v in violations] == ["live_in_order"]
    assert "seq 1" in violations[0].text and len(violations[0].evidence) == 2


def test_messages_through_different_nodes_may_overtake() -> None:
    history = good_history()
    # m2 is sent by alice from a session on node 2: it may reach bob before m1
    history.events.insert(0, SessionOpened(0.0, "alice", "alice#2", 2))
    history.events = [
        SendAnswered(e.t, e.user, "alice#2", e.chat, e.cmid, e.ok, e.message_id, e.seq)
        if isinstance(e, SendAnswered) and e.cmid == "a-2"
        else e
        for e in history.events
    ]
    first, second = (i for i, e in enumerate(history.events) if isinstance(e, Delivered))
    history.events[first], history.events[second] = history.events[second], history.events[first]
    assert check(history) == []


def test_a_member_never_given_a_message() -> None:
    history = good_history()
    history.events = [e for e in history.events if not (isinstance(e, Delivered) and e.message_id == "m2")]
    violations = check(history)
    assert [v.rule for v in violations] == ["complete"]
    assert "bob was never given m2" in violations[0].text
    kinds = {type(e) for e in violations[0].evidence}
    assert SendAnswered in kinds and SessionOpened in kinds


def test_a_message_given_only_by_recovery_counts_as_given() -> None:
    history = good_history()
    history.events = [
        Delivered(e.t, e.user, "bob#2", e.chat, e.message_id, e.seq, e.sender, e.cmid, "recovery")
        if isinstance(e, Delivered) and e.message_id == "m2"
        else e
        for e in history.events
    ]
    history.events[1:1] = [SessionClosed(1.5, "bob", "bob#1", "node killed"), SessionOpened(1.9, "bob", "bob#2", 0)]
    history.final.final_sessions["bob"] = "bob#1"
    assert check(history) == []


def test_an_unread_count_that_did_not_converge() -> None:
    history = good_history()
    history.final.server_unread[("bob", CHAT)] = 2
    violations = check(history)
    assert [v.rule for v in violations] == ["unread_truth"] and "answers bob 2" in violations[0].text


def test_a_final_session_last_told_a_stale_count() -> None:
    history = good_history()
    history.events = [e for e in history.events if not (isinstance(e, UnreadSeen) and e.count == 1)]
    violations = check(history)
    assert [v.rule for v in violations] == ["unread_truth"] and "last told 0" in violations[0].text


def test_a_read_mark_below_an_acknowledged_read() -> None:
    history = good_history()
    history.final.read_marks[("bob", CHAT)] = 0
    history.final.server_unread[("bob", CHAT)] = 2
    history.events.append(UnreadSeen(3.2, "bob", "bob#1", CHAT, 2))
    violations = check(history)
    assert [v.rule for v in violations] == ["unread_truth"] and "acknowledged reads reached 1" in violations[0].text


def test_presence_showing_a_user_who_left() -> None:
    history = good_history()
    history.final.expected_online = {"alice"}
    violations = check(history)
    assert [v.rule for v in violations] == ["presence_truth"] and "sees bob online" in violations[0].text


def test_a_history_survives_its_file(tmp_path: Path) -> None:
    history = good_history()
    history.events.append(Delivered(2.3, "bob", "bob#1", CHAT, "m2", 2, "alice", "a-2", "live"))
    path = tmp_path / "history.jsonl"
    history.dump(path)
    loaded = History.load(path)
    assert loaded.events == history.events and loaded.final == history.final and loaded.seed == 7
    assert [v.rule for v in check(loaded)] == [v.rule for v in check(history)]


def test_a_report_names_the_rule_and_shows_the_excerpt() -> None:
    history = good_history()
    history.events.append(Delivered(2.3, "bob", "bob#1", CHAT, "m2", 2, "alice", "a-2", "live"))
    report = next(v for v in check(history) if v.rule == "live_once").report()
    assert report.splitlines()[0] == "[live_once] bob#1 was given m2 live twice"
    assert "Delivered user=bob session=bob#1" in report
