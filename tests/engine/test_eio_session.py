"""The Engine.IO v4 session state machine: handshake, heartbeat, upgrade and close, with times in ms
fed by the test (no clock, no I/O)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_core.engine import eio_packets as eio
from chat_core.engine import eio_session as es
from chat_core.engine.eio_session import POLLING, WEBSOCKET, Event, Session, State, Upgrade

INTERVAL = 300  # the protocol test suite's pingInterval
TIMEOUT = 200  # and pingTimeout
T0 = 1_000_000


def make(transport: str = POLLING, now: int = T0, sid: str = "lv_VI97HAXpY6yYWAAAC") -> Session:
    return Session(
        sid, transport, now_ms=now, ping_interval_ms=INTERVAL, ping_timeout_ms=TIMEOUT, max_payload=1_000_000
    )


def upgrade_of(s: Session) -> Upgrade:
    """The upgrade state, read through a call so that the type checker does not narrow it between steps."""
    return s.upgrade


def probing(now: int = T0) -> Session:
    s = make(now=now)
    assert s.can_probe()
    s.begin_probe()
    return s


# --- handshake -------------------------------------------------------------------------------------
def test_open_frame_polling_exact_content() -> None:
    s = Session(
        "lv_VI97HAXpY6yYWAAAC", POLLING, now_ms=0, ping_interval_ms=25000, ping_timeout_ms=20000, max_payload=1000000
    )
    frame = s.open_frame()
    assert isinstance(frame, bytes)
    assert frame[:1] == b"0"
    value = json.loads(frame[1:])
    assert value == {
        "sid": "lv_VI97HAXpY6yYWAAAC",
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1000000,
    }
    assert all(type(value[k]) is int for k in ("pingInterval", "pingTimeout", "maxPayload"))
    assert frame == (
        b'0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
        b'"pingTimeout":20000,"maxPayload":1000000}'
    )


def test_open_frame_websocket_has_no_upgrades() -> None:
    frame = make(WEBSOCKET, sid="abc").open_frame()
    assert frame[:1] == b"0"
    assert json.loads(frame[1:]) == {
        "sid": "abc",
        "upgrades": [],
        "pingInterval": INTERVAL,
        "pingTimeout": TIMEOUT,
        "maxPayload": 1_000_000,
    }


def test_open_frame_is_an_open_packet_of_the_polling_body() -> None:
    # a polling client reads the body's first record: type "0", then JSON
    body = eio.encode_payload([make().open_frame()])
    assert body.split(b"\x1e")[0][:1] == eio.OPEN.encode()


def test_open_frame_escapes_the_sid() -> None:
    frame = make(sid='a"b\\c').open_frame()
    assert json.loads(frame[1:])["sid"] == 'a"b\\c'


def test_new_session_state() -> None:
    s = make()
    assert s.state is State.OPEN
    assert not s.closed
    assert s.transport == POLLING
    assert s.upgrade is Upgrade.NONE
    assert s.close_reason == ""
    assert s.buffer == []
    assert s.take_buffer() == []
    ws = make(WEBSOCKET)
    assert ws.transport == WEBSOCKET
    assert ws.upgrade is Upgrade.DONE


# --- messages ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", [POLLING, WEBSOCKET])
def test_message_text_and_binary(transport: str) -> None:
    s = make(transport)
    assert s.receive(eio.MESSAGE, "hello", T0 + 1) is Event.MESSAGE
    assert s.receive(eio.MESSAGE, b"\x01\x02\x03\x04", T0 + 2) is Event.MESSAGE
    assert s.receive(eio.MESSAGE, "", T0 + 3) is Event.MESSAGE
    assert not s.closed


def test_decoded_polling_body_fed_to_the_session() -> None:
    s = make()
    events = [s.receive(kind, data, T0 + 1) for kind, data in eio.decode_payload(b"4hello\x1ebAQIDBA==", 16)]
    assert events == [Event.MESSAGE, Event.MESSAGE]


@pytest.mark.parametrize("kind", [eio.NOOP, eio.PING])
def test_noop_and_client_ping_are_ignored(kind: str) -> None:
    s = make()
    assert s.receive(kind, "", T0 + 1) is None
    assert s.receive(kind, "probe", T0 + 2) is None
    assert not s.closed
    assert s.next_deadline() == T0 + INTERVAL


def test_unsolicited_pong_is_harmless() -> None:
    s = make()
    assert s.receive(eio.PONG, "", T0 + 10) is None
    assert not s.closed
    assert s.next_deadline() == T0 + INTERVAL  # an unasked pong does not push the next ping back


@pytest.mark.parametrize("transport", [POLLING, WEBSOCKET])
def test_upgrade_packet_on_the_current_transport_closes(transport: str) -> None:
    s = make(transport)
    assert s.receive(eio.UPGRADE, "", T0 + 1) is Event.CLOSE
    assert s.closed
    assert s.close_reason == es.PARSE_ERROR


def test_open_packet_from_the_client_closes() -> None:
    s = make()
    assert s.receive(eio.OPEN, "", T0 + 1) is Event.CLOSE
    assert s.closed


# --- close ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", [POLLING, WEBSOCKET])
def test_client_close(transport: str) -> None:
    s = make(transport)
    assert s.receive(eio.CLOSE, "", T0 + 5) is Event.CLOSE
    assert s.closed
    assert s.state is State.CLOSED
    assert s.close_reason == es.CLIENT_CLOSE == "transport close"
    assert s.next_deadline() is None


def test_close_reason_names() -> None:
    assert es.PING_TIMEOUT == "ping timeout"
    assert es.CLIENT_CLOSE == "transport close"
    assert es.PARSE_ERROR == "parse error"
    assert es.SERVER_CLOSE == "server shutting down"
    assert es.FORCED_CLOSE == "forced close"


def test_server_close_once_keeps_the_first_reason() -> None:
    s = make()
    assert s.close(es.SERVER_CLOSE) is True
    assert s.closed
    assert s.close_reason == es.SERVER_CLOSE
    assert s.close(es.FORCED_CLOSE) is False
    assert s.close_reason == es.SERVER_CLOSE
    assert s.receive(eio.CLOSE, "", T0 + 1) is None
    assert s.close_reason == es.SERVER_CLOSE


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (eio.MESSAGE, "hello"),
        (eio.MESSAGE, b"\x00"),
        (eio.CLOSE, ""),
        (eio.PONG, ""),
        (eio.PING, ""),
        (eio.NOOP, ""),
        (eio.UPGRADE, ""),
    ],
)
def test_receive_after_close_is_ignored(kind: str, data: str | bytes) -> None:
    s = make()
    s.close(es.FORCED_CLOSE)
    assert s.receive(kind, data, T0 + 1) is None
    assert s.closed
    assert s.close_reason == es.FORCED_CLOSE


def test_closed_session_has_no_deadline_and_ticks_nothing() -> None:
    s = make()
    s.close(es.TRANSPORT_ERROR)
    assert s.next_deadline() is None
    assert s.tick(T0 + INTERVAL) is None
    assert s.tick(T0 + 10 * INTERVAL) is None
    assert s.close_reason == es.TRANSPORT_ERROR


# --- heartbeat -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", [POLLING, WEBSOCKET])
def test_first_ping_is_due_after_ping_interval(transport: str) -> None:
    s = make(transport)
    assert s.next_deadline() == T0 + INTERVAL
    assert s.tick(T0) is None
    assert s.tick(T0 + INTERVAL - 1) is None
    assert not s.closed
    assert s.tick(T0 + INTERVAL) is Event.SEND_PING
    assert not s.closed


def test_ping_waits_for_its_pong() -> None:
    s = make()
    assert s.tick(T0 + INTERVAL) is Event.SEND_PING
    assert s.next_deadline() == T0 + INTERVAL + TIMEOUT
    # no second ping while the first is unanswered
    assert s.tick(T0 + INTERVAL + 1) is None
    assert s.tick(T0 + INTERVAL + TIMEOUT - 1) is None
    assert not s.closed


def test_pong_in_time_schedules_the_next_ping() -> None:
    s = make()
    ping_at = T0 + INTERVAL
    assert s.tick(ping_at) is Event.SEND_PING
    pong_at = ping_at + 50
    assert s.receive(eio.PONG, "", pong_at) is None
    assert not s.closed
    assert s.next_deadline() == pong_at + INTERVAL
    assert s.tick(ping_at + TIMEOUT) is None  # the old timeout no longer applies
    assert not s.closed
    assert s.tick(pong_at + INTERVAL - 1) is None
    assert s.tick(pong_at + INTERVAL) is Event.SEND_PING


def test_pong_just_before_the_timeout() -> None:
    s = make()
    s.tick(T0 + INTERVAL)
    assert s.receive(eio.PONG, "", T0 + INTERVAL + TIMEOUT - 1) is None
    assert s.tick(T0 + INTERVAL + TIMEOUT) is None
    assert not s.closed


def test_three_ping_pong_rounds() -> None:
    # the test suite's "sends ping/pong packets": three rounds on one session
    s = make()
    now = T0
    for _ in range(3):
        deadline = s.next_deadline()
        assert deadline == now + INTERVAL
        now = deadline
        assert s.tick(now) is Event.SEND_PING
        now += 10
        assert s.receive(eio.PONG, "", now) is None
    assert not s.closed


@pytest.mark.parametrize("transport", [POLLING, WEBSOCKET])
def test_no_pong_closes_with_ping_timeout(transport: str) -> None:
    s = make(transport)
    assert s.tick(T0 + INTERVAL) is Event.SEND_PING
    assert s.tick(T0 + INTERVAL + TIMEOUT) is Event.CLOSE
    assert s.closed
    assert s.close_reason == es.PING_TIMEOUT == "ping timeout"
    assert s.next_deadline() is None
    assert s.tick(T0 + INTERVAL + TIMEOUT + 1) is None


def test_tick_far_past_the_timeout_closes() -> None:
    s = make()
    s.tick(T0 + INTERVAL)
    assert s.tick(T0 + 100 * INTERVAL) is Event.CLOSE
    assert s.close_reason == es.PING_TIMEOUT


def test_late_tick_sends_ping_and_times_it_from_the_tick() -> None:
    """Much later than due (a stalled process): the client keeps nearly the whole timeout."""
    s = make()
    late = T0 + INTERVAL + 1000
    assert s.tick(late) is Event.SEND_PING
    assert s.next_deadline() == late - es.LATENESS_ABSORBED_MS + TIMEOUT


def test_a_ping_a_little_late_is_timed_from_when_it_was_due() -> None:
    """A timer a few milliseconds late (a busy event loop) does not stretch the session's life:
    the official suite polls exactly pingInterval + pingTimeout after the handshake."""
    s = make()
    assert s.tick(T0 + INTERVAL + 30) is Event.SEND_PING
    assert s.next_deadline() == T0 + INTERVAL + TIMEOUT
    assert not s.overdue(T0 + INTERVAL + TIMEOUT - 1)
    assert s.overdue(T0 + INTERVAL + TIMEOUT)


def test_a_session_is_overdue_even_before_its_ping_timer_ran() -> None:
    s = make()
    assert not s.overdue(T0 + INTERVAL + TIMEOUT - 1)
    assert s.overdue(T0 + INTERVAL + TIMEOUT)
    s.close(es.CLIENT_CLOSE)
    assert not s.overdue(T0 + INTERVAL + TIMEOUT)


def test_pong_after_the_close_is_ignored() -> None:
    s = make()
    s.tick(T0 + INTERVAL)
    s.tick(T0 + INTERVAL + TIMEOUT)
    assert s.receive(eio.PONG, "", T0 + INTERVAL + TIMEOUT + 1) is None
    assert s.closed
    assert s.close_reason == es.PING_TIMEOUT


def test_pong_after_the_timeout_does_not_revive_the_session() -> None:
    # BUG (reported): the pong comes TIMEOUT + 1 ms after the ping; the adapter's timer had not run yet.
    # The client missed pingTimeout, so the session must end with "ping timeout", whichever runs first
    s = make()
    ping_at = T0 + INTERVAL
    assert s.tick(ping_at) is Event.SEND_PING
    late = ping_at + TIMEOUT + 1
    event = s.receive(eio.PONG, "", late)
    if not s.closed:
        assert event is None
        assert s.tick(late) is Event.CLOSE
    assert s.closed
    assert s.close_reason == es.PING_TIMEOUT


def test_messages_do_not_replace_the_pong() -> None:
    s = make()
    s.tick(T0 + INTERVAL)
    assert s.receive(eio.MESSAGE, "hello", T0 + INTERVAL + 10) is Event.MESSAGE
    assert s.receive(eio.NOOP, "", T0 + INTERVAL + 20) is None
    assert s.tick(T0 + INTERVAL + TIMEOUT) is Event.CLOSE
    assert s.close_reason == es.PING_TIMEOUT


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.lists(st.integers(min_value=0, max_value=TIMEOUT - 1), min_size=1, max_size=10))
def test_heartbeat_property_pong_in_time_never_closes(delays: list[int]) -> None:
    s = make()
    now = T0
    for delay in delays:
        deadline = s.next_deadline()
        assert deadline is not None
        now = deadline
        assert s.tick(now) is Event.SEND_PING
        assert s.next_deadline() == now + TIMEOUT
        now += delay
        assert s.tick(now) is None
        s.receive(eio.PONG, "", now)
        assert s.next_deadline() == now + INTERVAL
    assert not s.closed


# --- upgrade --------------------------------------------------------------------------------------------
def test_can_probe_only_an_open_polling_session() -> None:
    assert make().can_probe()
    assert not make(WEBSOCKET).can_probe()
    closed = make()
    closed.close(es.CLIENT_CLOSE)
    assert not closed.can_probe()
    s = probing()
    assert not s.can_probe()  # one probe at a time


def test_upgrade_happy_path() -> None:
    s = make()
    s.receive(eio.MESSAGE, "hello", T0 + 1)
    assert s.can_probe()
    s.begin_probe()
    assert s.upgrade is Upgrade.PROBING
    assert s.transport == POLLING
    event, reply = s.receive_probe(eio.PING, "probe")
    assert event is None
    assert reply == b"3probe"
    assert s.buffer == [b"6"]  # the noop ends the client's pending GET
    assert s.take_buffer() == [b"6"]
    assert s.buffer == []
    assert s.transport == POLLING  # still polling until "5"
    event, reply = s.receive_probe(eio.UPGRADE, "")
    assert event is Event.UPGRADED
    assert reply is None
    assert s.transport == WEBSOCKET
    assert upgrade_of(s) is Upgrade.DONE
    assert not s.closed
    # on the WebSocket now
    assert s.receive(eio.MESSAGE, "hello", T0 + 2) is Event.MESSAGE
    assert not s.can_probe()


def test_upgrade_probe_frames_decode_from_the_wire() -> None:
    s = probing()
    assert s.receive_probe(*eio.decode_text("2probe")) == (None, b"3probe")
    assert eio.decode_text(s.take_buffer()[0].decode()) == (eio.NOOP, "")
    assert s.receive_probe(*eio.decode_text("5")) == (Event.UPGRADED, None)


def test_noop_is_queued_after_pending_frames() -> None:
    s = probing()
    s.buffer.append(b'42["hey","Jude"]')
    s.receive_probe(eio.PING, "probe")
    assert s.take_buffer() == [b'42["hey","Jude"]', b"6"]


def test_upgrade_after_upgrade_is_refused() -> None:
    # the test suite's "ignores WebSocket connection with same sid after upgrade"
    s = probing()
    s.receive_probe(eio.PING, "probe")
    s.receive_probe(eio.UPGRADE, "")
    assert not s.can_probe()
    assert s.receive_probe(eio.PING, "probe") == (None, None)
    assert s.receive_probe(eio.UPGRADE, "") == (None, None)
    assert not s.closed
    assert s.transport == WEBSOCKET


def test_probe_without_begin_probe_is_ignored() -> None:
    s = make()
    assert s.receive_probe(eio.PING, "probe") == (None, None)
    assert s.buffer == []
    assert s.receive_probe(eio.UPGRADE, "") == (None, None)
    assert s.transport == POLLING
    assert s.upgrade is Upgrade.NONE
    assert not s.closed


def test_probe_on_a_websocket_session_is_ignored() -> None:
    s = make(WEBSOCKET)
    assert s.receive_probe(eio.PING, "probe") == (None, None)
    assert s.buffer == []
    assert not s.closed


def test_probe_on_a_closed_session() -> None:
    s = probing()
    s.close(es.CLIENT_CLOSE)
    assert s.receive_probe(eio.PING, "probe") == (None, None)
    assert s.buffer == []
    assert s.receive_probe(eio.UPGRADE, "") == (None, None)
    assert s.transport == POLLING
    assert s.close_reason == es.CLIENT_CLOSE


def test_probe_failed_returns_to_polling() -> None:
    s = probing()
    s.receive_probe(eio.PING, "probe")
    s.probe_failed()
    assert s.upgrade is Upgrade.NONE
    assert s.transport == POLLING
    assert not s.closed
    assert s.receive(eio.MESSAGE, "still here", T0 + 1) is Event.MESSAGE
    # a "5" from the dead probe no longer counts
    assert s.receive_probe(eio.UPGRADE, "") == (None, None)
    assert s.transport == POLLING
    # and the client may probe again
    assert s.can_probe()
    s.begin_probe()
    assert s.receive_probe(eio.PING, "probe") == (None, b"3probe")
    assert s.receive_probe(eio.UPGRADE, "") == (Event.UPGRADED, None)


def test_probe_failed_without_a_probe_changes_nothing() -> None:
    s = make()
    s.probe_failed()
    assert s.upgrade is Upgrade.NONE
    up = probing()
    up.receive_probe(eio.UPGRADE, "")
    up.probe_failed()
    assert upgrade_of(up) is Upgrade.DONE
    assert up.transport == WEBSOCKET


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (eio.PING, ""),  # a ping that is not the probe
        (eio.PING, "probes"),
        (eio.MESSAGE, "hello"),
        (eio.MESSAGE, b"\x01"),
        (eio.PONG, "probe"),
        (eio.NOOP, ""),
        (eio.CLOSE, ""),
    ],
)
def test_garbage_during_probe_drops_only_the_probe(kind: str, data: str | bytes) -> None:
    """As the reference: a probing transport that sends anything but "2probe" or "5" is closed,
    and the session carries on over polling (and may probe again)."""
    s = probing()
    event, reply = s.receive_probe(kind, data)
    assert event is Event.PROBE_FAILED
    assert reply is None
    assert not s.closed
    assert s.transport == POLLING
    assert s.upgrade is Upgrade.NONE
    assert s.receive_probe(eio.UPGRADE, "") == (None, None)
    assert s.can_probe()


def test_garbage_after_probe_answer_drops_only_the_probe() -> None:
    s = probing()
    s.receive_probe(eio.PING, "probe")
    assert s.receive_probe(eio.MESSAGE, "early") == (Event.PROBE_FAILED, None)
    assert not s.closed
    assert s.transport == POLLING


def test_polling_traffic_continues_during_the_probe() -> None:
    s = probing()
    assert s.receive(eio.MESSAGE, "hello", T0 + 1) is Event.MESSAGE
    assert s.tick(T0 + INTERVAL) is Event.SEND_PING
    assert s.receive(eio.PONG, "", T0 + INTERVAL + 1) is None
    assert not s.closed
    assert s.upgrade is Upgrade.PROBING


def test_heartbeat_continues_across_the_upgrade() -> None:
    s = probing()
    assert s.tick(T0 + INTERVAL) is Event.SEND_PING
    s.receive_probe(eio.PING, "probe")
    s.receive_probe(eio.UPGRADE, "")
    assert s.transport == WEBSOCKET
    # the pong now comes on the WebSocket
    assert s.receive(eio.PONG, "", T0 + INTERVAL + 5) is None
    assert s.next_deadline() == T0 + INTERVAL + 5 + INTERVAL
    assert s.tick(T0 + INTERVAL + 5 + INTERVAL) is Event.SEND_PING
    assert s.tick(T0 + INTERVAL + 5 + INTERVAL + TIMEOUT) is Event.CLOSE
    assert s.close_reason == es.PING_TIMEOUT


def test_ping_timeout_during_probe_closes_and_ends_the_probe() -> None:
    s = probing()
    s.tick(T0 + INTERVAL)
    assert s.tick(T0 + INTERVAL + TIMEOUT) is Event.CLOSE
    assert s.receive_probe(eio.PING, "probe") == (None, None)
    assert s.receive_probe(eio.UPGRADE, "") == (None, None)
    assert s.transport == POLLING


def test_buffer_survives_the_upgrade_for_the_flush() -> None:
    s = probing()
    s.buffer.extend([b'42["a"]', eio.Binary(b"\x01")])
    s.receive_probe(eio.PING, "probe")
    assert s.receive_probe(eio.UPGRADE, "") == (Event.UPGRADED, None)
    frames = s.take_buffer()
    assert frames[:2] == [b'42["a"]', b"\x01"]
    assert type(frames[1]) is eio.Binary
    assert s.take_buffer() == []
