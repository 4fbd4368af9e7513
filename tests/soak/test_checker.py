"""The soak's checker on hand-made histories: a good one passes, and each kind of bad one is
caught by the rule it breaks, with the events that show it."""

from __future__ import annotations

from pathlib import Path

from soak.checker import check
from soak.history import (
    ChangeAnswered,
    ChangeSeen,
    ChangeTried,
    Delivered,
    Event,
    FinalState,
    History,
    PresenceSeen,
    ReadAnswered,
    ReadTried,
    Resynced,
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
        SendTried(1.0, "alice", "alice#1", CHAT, "a-1", True, "alice says 1"),
        SendAnswered(1.1, "alice", "alice#1", CHAT, "a-1", True, "m1", 1),
        Delivered(1.2, "bob", "bob#1", CHAT, "m1", 1, "alice", "a-1", "live"),
        SendTried(2.0, "alice", "alice#1", CHAT, "a-2", True, "alice says 2"),
        SendAnswered(2.1, "alice", "alice#1", CHAT, "a-2", True, "m2", 2),
        Delivered(2.2, "bob", "bob#1", CHAT, "m2", 2, "alice", "a-2", "live"),
        ReadTried(3.0, "bob", "bob#1", CHAT, 1),
        ReadAnswered(3.1, "bob", "bob#1", CHAT, 1),
        UnreadSeen(3.1, "bob", "bob#1", CHAT, 1),
        PresenceSeen(9.0, "alice", "alice#1", "bob", True),
        PresenceSeen(9.0, "bob", "bob#1", "alice", True),
    ]
    final = FinalState(
        stored={
            CHAT: [
                StoredMessage(CHAT, "m1", 1, "alice", "a-1", content="alice says 1"),
                StoredMessage(CHAT, "m2", 2, "alice", "a-2", content="alice says 2"),
            ]
        },
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
    history.final.stored[CHAT][1] = StoredMessage(CHAT, "m2", 1, "alice", "a-2", content="alice says 2")
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


# --- message changes --------------------------------------------------------------------------
THUMBS = "👍"
EDITED = "alice edits 1"


def updated(t: float, user: str, message_id: str, seq: int, change_seq: int, **state: object) -> ChangeSeen:
    """`user`'s session #1 told live of a message's state (content, deleted, reactions)."""
    return ChangeSeen(
        t,
        user,
        f"{user}#1",
        CHAT,
        message_id,
        seq,
        change_seq,
        str(state.get("content", "")),
        bool(state.get("deleted", False)),
        state.get("reactions", ()),  # type: ignore[arg-type]
        "message_updated",
    )


M1_EDITED = {"content": EDITED}
M1_REACTED = {"content": EDITED, "reactions": ((THUMBS, ("bob",)),)}
M2_DELETED = {"deleted": True}


def changed_history() -> History:
    """good_history, then: alice edits m1 (changeSeq 3), bob reacts 👍 to it (4), alice deletes
    m2 (5); every change acknowledged and told live to both."""
    history = good_history()
    presence = [e for e in history.events if isinstance(e, PresenceSeen)]
    history.events = [e for e in history.events if not isinstance(e, PresenceSeen)]
    history.events += [
        ChangeTried(4.0, "alice", "alice#1", CHAT, "m1", "alice-c1", "edit", content=EDITED),
        ChangeAnswered(4.1, "alice", "alice#1", CHAT, "m1", "alice-c1", True, 3, EDITED, False, ()),
        updated(4.1, "alice", "m1", 1, 3, **M1_EDITED),
        updated(4.2, "bob", "m1", 1, 3, **M1_EDITED),
        ChangeTried(5.0, "bob", "bob#1", CHAT, "m1", "bob-c1", "react", emoji=THUMBS, add=True),
        ChangeAnswered(5.1, "bob", "bob#1", CHAT, "m1", "bob-c1", True, 4, EDITED, False, ((THUMBS, ("bob",)),)),
        updated(5.1, "bob", "m1", 1, 4, **M1_REACTED),
        updated(5.2, "alice", "m1", 1, 4, **M1_REACTED),
        ChangeTried(6.0, "alice", "alice#1", CHAT, "m2", "alice-c2", "delete"),
        ChangeAnswered(6.1, "alice", "alice#1", CHAT, "m2", "alice-c2", True, 5, "", True, ()),
        updated(6.1, "alice", "m2", 2, 5, **M2_DELETED),
        updated(6.2, "bob", "m2", 2, 5, **M2_DELETED),
        *presence,
    ]
    history.final.stored[CHAT] = [
        StoredMessage(CHAT, "m1", 1, "alice", "a-1", 4, EDITED, False, ((THUMBS, ("bob",)),)),
        StoredMessage(CHAT, "m2", 2, "alice", "a-2", 5, "", True, ()),
    ]
    return history


def without(history: History, *unwanted: Event) -> History:
    history.events = [e for e in history.events if e not in unwanted]
    return history


def answer_of(history: History, ref: str) -> ChangeAnswered:
    return next(e for e in history.events if isinstance(e, ChangeAnswered) and e.ref == ref)


def stored(history: History, message_id: str) -> StoredMessage:
    return next(m for m in history.final.stored[CHAT] if m.message_id == message_id)


def restore(history: History, message: StoredMessage) -> None:
    history.final.stored[CHAT] = [
        message if m.message_id == message.message_id else m for m in history.final.stored[CHAT]
    ]


def test_a_good_history_with_changes_has_no_violations() -> None:
    assert check(changed_history()) == []


def test_a_history_with_changes_survives_its_file(tmp_path: Path) -> None:
    history = changed_history()
    path = tmp_path / "history.jsonl"
    history.dump(path)
    loaded = History.load(path)
    assert loaded.events == history.events and loaded.final == history.final


def test_an_acknowledged_delete_missing_from_the_store() -> None:
    history = changed_history()
    restore(history, StoredMessage(CHAT, "m2", 2, "alice", "a-2", 2, "alice says 2"))
    rules = rules_broken(history)
    assert "changes_stored" in rules
    texts = [v.text for v in check(history) if v.rule == "changes_stored"]
    assert any("delete was acknowledged" in t for t in texts)


def test_an_acknowledged_edit_missing_from_the_store() -> None:
    history = changed_history()
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 4, "alice says 1", False, ((THUMBS, ("bob",)),)))
    violations = [v for v in check(history) if v.rule == "changes_stored"]
    assert len(violations) == 1 and EDITED in violations[0].text
    assert any(isinstance(e, ChangeAnswered) and e.ref == "alice-c1" for e in violations[0].evidence)


def test_an_edit_whose_answer_was_lost_may_have_landed_or_not() -> None:
    for content in (EDITED, "alice says 1"):
        history = changed_history()
        lost = answer_of(history, "alice-c1")
        history = without(
            history, lost, *[e for e in history.events if isinstance(e, ChangeSeen) and e.change_seq == 3]
        )
        reactions = ((THUMBS, ("bob",)),)
        restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 4, content, False, reactions))
        history.events = [
            ChangeAnswered(e.t, e.user, e.session, CHAT, "m1", e.ref, True, 4, content, False, reactions)
            if isinstance(e, ChangeAnswered) and e.ref == "bob-c1"
            else updated(e.t, e.user, "m1", 1, 4, content=content, reactions=reactions)
            if isinstance(e, ChangeSeen) and e.change_seq == 4
            else e
            for e in history.events
        ]
        assert check(history) == [], content


def test_a_lost_edit_tried_first_may_land_after_an_acknowledged_one_with_a_higher_seq() -> None:
    history = changed_history()
    # alice first tried another edit whose answer was lost: her node applied it late, at seq 6
    history.events.insert(
        next(i for i, e in enumerate(history.events) if isinstance(e, ChangeTried)),
        ChangeTried(3.5, "alice", "alice#1", CHAT, "m1", "alice-c0", "edit", content="alice edits 0"),
    )
    late = StoredMessage(CHAT, "m1", 1, "alice", "a-1", 6, "alice edits 0", False, ((THUMBS, ("bob",)),))
    restore(history, late)
    history.events += [
        updated(7.0, user, "m1", 1, 6, content="alice edits 0", reactions=late.reactions) for user in ("alice", "bob")
    ]
    assert check(history) == []
    # ...but not at a seq below the acknowledged edit's: it would have been applied before it
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 3, "alice edits 0", False, ()))
    texts = [v.text for v in check(history) if v.rule == "changes_stored"]
    assert any("not above its last acknowledged edit's 3" in t for t in texts)


def test_a_reaction_nobody_tried_in_the_store() -> None:
    history = changed_history()
    reactions = (("❤️", ("alice",)), (THUMBS, ("bob",)))
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 4, EDITED, False, reactions))
    violations = [v for v in check(history) if v.rule == "changes_stored"]
    assert len(violations) == 1 and "has alice's ❤️" in violations[0].text


def test_an_acknowledged_reaction_missing_from_the_store() -> None:
    history = changed_history()
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 4, EDITED, False, ()))
    assert "changes_stored" in rules_broken(history)


def test_two_users_reacting_at_once_both_count_in_either_order() -> None:
    history = changed_history()
    both = ((THUMBS, ("alice", "bob")),)
    history.events[-2:-2] = [
        ChangeTried(7.0, "alice", "alice#1", CHAT, "m1", "alice-c3", "react", emoji=THUMBS, add=True),
        ChangeTried(7.0, "bob", "bob#1", CHAT, "m1", "bob-c2", "react", emoji=THUMBS, add=False),
        # bob's removal took seq 6, alice's add seq 7; alice's answer came first
        ChangeAnswered(
            7.2, "alice", "alice#1", CHAT, "m1", "alice-c3", True, 7, EDITED, False, ((THUMBS, ("alice",)),)
        ),
        ChangeAnswered(7.3, "bob", "bob#1", CHAT, "m1", "bob-c2", True, 6, EDITED, False, ()),
        updated(7.3, "bob", "m1", 1, 7, content=EDITED, reactions=((THUMBS, ("alice",)),)),
        updated(7.3, "bob", "m1", 1, 6, content=EDITED),
        updated(7.4, "alice", "m1", 1, 7, content=EDITED, reactions=((THUMBS, ("alice",)),)),
    ]
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 7, EDITED, False, ((THUMBS, ("alice",)),)))
    assert check(history) == []
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 7, EDITED, False, both))
    assert "changes_stored" in rules_broken(history)


def test_a_refused_change_changed_nothing() -> None:
    history = changed_history()
    history.events[-2:-2] = [
        ChangeTried(7.0, "alice", "alice#1", CHAT, "m1", "alice-c3", "edit", content="alice edits 3"),
        ChangeAnswered(7.1, "alice", "alice#1", CHAT, "m1", "alice-c3", False, code="RATE_LIMITED"),
    ]
    assert check(history) == []
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 6, "alice edits 3", False, ((THUMBS, ("bob",)),)))
    assert "changes_stored" in rules_broken(history)


def test_an_unavailable_change_may_have_landed() -> None:
    history = changed_history()
    history.events[-2:-2] = [
        ChangeTried(7.0, "alice", "alice#1", CHAT, "m1", "alice-c3", "edit", content="alice edits 3"),
        ChangeAnswered(7.1, "alice", "alice#1", CHAT, "m1", "alice-c3", False, code="UNAVAILABLE"),
    ]
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 6, "alice edits 3", False, ((THUMBS, ("bob",)),)))
    assert check(history) == []  # and nobody was told: its node did not know it landed


def test_a_change_meant_to_be_refused_that_was_acknowledged() -> None:
    history = changed_history()
    history.events[-2:-2] = [
        ChangeTried(7.0, "bob", "bob#1", CHAT, "m1", "bob-c2", "delete", expect="FORBIDDEN"),
        ChangeAnswered(7.1, "bob", "bob#1", CHAT, "m1", "bob-c2", True, 4, EDITED, False, ((THUMBS, ("bob",)),)),
    ]
    violations = [v for v in check(history) if v.rule == "changes_stored"]
    assert [v.text for v in violations] == ["bob's delete of m1 was acknowledged; it should be FORBIDDEN"]


def test_a_change_refused_with_another_code_than_the_protocols() -> None:
    history = changed_history()
    history.events[-2:-2] = [
        ChangeTried(
            7.0, "bob", "bob#1", CHAT, "bob-nosuch-2", "bob-c2", "react", emoji=THUMBS, add=True, expect="NOT_FOUND"
        ),
        ChangeAnswered(7.1, "bob", "bob#1", CHAT, "bob-nosuch-2", "bob-c2", False, code="INTERNAL"),
        ChangeTried(8.0, "bob", "bob#1", CHAT, "m1", "bob-c3", "edit", content="bob edits 3", expect="FORBIDDEN"),
        ChangeAnswered(8.1, "bob", "bob#1", CHAT, "m1", "bob-c3", False, code="NOT_FOUND"),
    ]
    violations = [v for v in check(history) if v.rule == "changes_stored"]
    assert [v.text for v in violations] == ["bob's edit of m1 was refused NOT_FOUND, not FORBIDDEN"]


def test_a_change_given_above_the_stored_change_seq() -> None:
    history = changed_history()
    history.events.append(updated(9.5, "bob", "m1", 1, 9, **M1_REACTED))
    texts = [v.text for v in check(history) if v.rule == "changes_not_invented"]
    assert texts == ["bob#1 was given m1 at changeSeq 9; the store holds it at 4"]


def test_a_change_given_that_nobody_tried() -> None:
    history = changed_history()
    restore(history, StoredMessage(CHAT, "m1", 1, "alice", "a-1", 6, EDITED, False, ((THUMBS, ("bob",)),)))
    history.events += [
        updated(9.5, user, "m1", 1, 6, content="hacked", reactions=M1_REACTED["reactions"]) for user in ("alice", "bob")
    ]
    texts = [v.text for v in check(history) if v.rule == "changes_not_invented"]
    for session in ("alice#1", "bob#1"):
        assert f"{session} was given m1 content 'hacked', neither its original nor an edit of it tried" in texts


def test_a_state_given_before_its_change_was_tried() -> None:
    history = changed_history()
    history.events.insert(0, updated(0.5, "bob", "m1", 1, 3, **M1_EDITED))
    texts = [v.text for v in check(history) if v.rule == "changes_not_invented"]
    assert texts == [f"bob#1 was given m1 content '{EDITED}', neither its original nor an edit of it tried"]


def test_one_change_seq_given_as_two_states() -> None:
    history = changed_history()
    history.events.append(updated(9.5, "bob", "m1", 1, 4, content=EDITED))
    violations = [v for v in check(history) if v.rule == "changes_not_invented"]
    assert len(violations) == 1 and "at changeSeq 4 was given as" in violations[0].text
    assert len(violations[0].evidence) == 2


def test_a_member_never_told_of_an_acknowledged_change() -> None:
    history = changed_history()
    history = without(history, *[e for e in history.events if isinstance(e, ChangeSeen) and e.message_id == "m2"])
    violations = [v for v in check(history) if v.rule == "changes_converge"]
    assert [v.text for v in violations] == [
        "bob knows m2 (of d_ab) up to changeSeq 2; it was told (or acknowledged) at 5; the store holds 5"
    ]
    assert answer_of(history, "alice-c2") in violations[0].evidence
    # and neither session was told live, alice's (the acting one) included
    assert rules_broken(history) == ["changes_converge", "changes_live"]


def test_a_change_told_to_anyone_live_must_reach_every_member() -> None:
    history = changed_history()
    # alice's delete lost its answer, yet alice's session was told of it live: bob must be too
    history = without(
        history,
        answer_of(history, "alice-c2"),
        *[e for e in history.events if isinstance(e, ChangeSeen) and e.user == "bob" and e.message_id == "m2"],
    )
    assert [v.rule for v in check(history)] == ["changes_converge"]


def test_a_lost_change_nobody_was_told_of_need_not_converge() -> None:
    history = changed_history()
    # the node storing alice's delete died before answering or telling anyone
    history = without(
        history,
        answer_of(history, "alice-c2"),
        *[e for e in history.events if isinstance(e, ChangeSeen) and e.message_id == "m2"],
    )
    history.events.insert(-2, SessionClosed(6.5, "alice", "alice#1", "connection lost"))
    history.events.insert(-2, SessionOpened(7.0, "alice", "alice#2", 1))
    history.final.final_sessions["alice"] = "alice#1"
    assert check(history) == []


def test_a_member_who_left_before_a_change_need_not_know_it() -> None:
    history = changed_history()
    history = without(
        history, *[e for e in history.events if isinstance(e, ChangeSeen) and e.user == "bob" and e.message_id == "m2"]
    )
    history.events.insert(-2, SessionClosed(5.5, "bob", "bob#1", "going away"))
    assert check(history) == []


def test_a_change_given_by_recovery_updates_counts() -> None:
    history = changed_history()
    told = next(e for e in history.events if isinstance(e, ChangeSeen) and e.user == "bob" and e.message_id == "m2")
    history.events = [
        ChangeSeen(9.0, "bob", "bob#2", CHAT, "m2", 2, 5, "", True, (), "updates") if e is told else e
        for e in history.events
    ]
    history.events.insert(-2, SessionClosed(6.0, "bob", "bob#1", "connection lost"))
    history.events.insert(-2, SessionOpened(8.9, "bob", "bob#2", 2))
    history.final.final_sessions["bob"] = "bob#1"
    assert check(history) == []


def test_the_acting_session_never_told_of_its_own_change() -> None:
    history = changed_history()
    history = without(
        history,
        *[e for e in history.events if isinstance(e, ChangeSeen) and e.user == "alice" and e.message_id == "m2"],
    )
    violations = check(history)
    assert [v.rule for v in violations] == ["changes_live"]  # alice knows it from her ack: converged
    assert violations[0].text.startswith("alice#1 was open from before alice's m2 change at changeSeq 5")


def test_a_session_told_to_resync_need_not_be_told_live() -> None:
    history = changed_history()
    history = without(
        history, *[e for e in history.events if isinstance(e, ChangeSeen) and e.user == "bob" and e.message_id == "m2"]
    )
    history.events.insert(-2, Resynced(6.5, "bob", "bob#1"))
    history.events.insert(-2, ChangeSeen(7.0, "bob", "bob#1", CHAT, "m2", 2, 5, "", True, (), "updates"))
    assert check(history) == []


def test_a_session_closed_right_after_a_change_need_not_be_told_live() -> None:
    history = changed_history()
    history = without(
        history, *[e for e in history.events if isinstance(e, ChangeSeen) and e.user == "bob" and e.message_id == "m2"]
    )
    history.events.insert(-2, SessionClosed(6.3, "bob", "bob#1", "switching node"))
    history.events.insert(-2, SessionOpened(7.0, "bob", "bob#2", 2))
    history.events.insert(-2, ChangeSeen(7.1, "bob", "bob#2", CHAT, "m2", 2, 5, "", True, (), "updates"))
    history.final.final_sessions["bob"] = "bob#1"
    assert check(history) == []
