"""Engine.IO v4 packet codec, from the protocol README and test suite of socketio/engine.io-protocol."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_core.engine import eio_packets as eio
from chat_core.engine.eio_packets import Binary, PacketError, decode_payload, decode_text, encode_payload

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None)


# --- packet types -------------------------------------------------------------------------------
def test_packet_type_ids() -> None:
    assert tuple("0123456") == (eio.OPEN, eio.CLOSE, eio.PING, eio.PONG, eio.MESSAGE, eio.UPGRADE, eio.NOOP)
    assert frozenset("0123456") == eio.TYPES
    assert frozenset("123456") == eio.CLIENT_TYPES
    assert eio.SEPARATOR == "\x1e"
    assert eio.SEPARATOR_BYTES == b"\x1e"


def test_packet_error_is_a_value_error() -> None:
    assert issubclass(PacketError, ValueError)


# --- decode_text ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("1", ("1", "")),
        ("2", ("2", "")),
        ("2probe", ("2", "probe")),
        ("3", ("3", "")),
        ("3probe", ("3", "probe")),
        ("4", ("4", "")),
        ("4hello", ("4", "hello")),
        ('42["message",1,"2",{"3":[true]}]', ("4", '2["message",1,"2",{"3":[true]}]')),
        ("5", ("5", "")),
        ("6", ("6", "")),
        ("4héllo €😀", ("4", "héllo €😀")),
        ("4 spaces and\nnewline ", ("4", " spaces and\nnewline ")),
        ("4b", ("4", "b")),  # a text message whose data is "b" is not binary
        ("44", ("4", "4")),
    ],
)
def test_decode_text(frame: str, expected: tuple[str, str]) -> None:
    kind, data = decode_text(frame)
    assert (kind, data) == expected
    assert type(data) is str


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("bAQIDBA==", b"\x01\x02\x03\x04"),  # the README example
        ("b", b""),
        ("bAA==", b"\x00"),
        ("b" + base64.b64encode(bytes(range(256))).decode(), bytes(range(256))),
        ("b" + base64.b64encode(b"\xff\xfe\xfd").decode(), b"\xff\xfe\xfd"),
    ],
)
def test_decode_text_base64_binary_message(frame: str, expected: bytes) -> None:
    kind, data = decode_text(frame)
    assert kind == eio.MESSAGE
    assert data == expected
    assert isinstance(data, bytes)


@pytest.mark.parametrize(
    "frame",
    [
        "",  # no type
        "abc",  # the test suite's "invalid packet format"
        "7",
        "9",
        "x4hello",
        " 4hello",
        "\x1e",
        "0",  # OPEN only ever travels server -> client
        '0{"sid":"x"}',
        "B" + "AQIDBA==",  # the binary prefix is a lower-case b
        "٤hello",  # a non-ASCII digit is not a type
    ],
)
def test_decode_text_rejects_bad_packets(frame: str) -> None:
    with pytest.raises(PacketError):
        decode_text(frame)


@pytest.mark.parametrize(
    "frame",
    [
        "bAQIDBA",  # missing padding
        "bAQIDBA=",
        "bAQID BA==",  # whitespace
        "bAQID\nBA==",
        "bAQIDBA==AA==",  # data after the padding
        "b!!!!",
        "b====",
        "bé",  # not ASCII
        "b€€€€",
        "bA",
    ],
)
def test_decode_text_rejects_bad_base64(frame: str) -> None:
    with pytest.raises(PacketError):
        decode_text(frame)


# --- decode_payload -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"4hello", [("4", "hello")]),
        (b"4hello\x1e2\x1e4world", [("4", "hello"), ("2", ""), ("4", "world")]),  # README example
        (b"4hello\x1ebAQIDBA==", [("4", "hello"), ("4", b"\x01\x02\x03\x04")]),  # README example
        (b"4test1\x1e4test2\x1e4test3", [("4", "test1"), ("4", "test2"), ("4", "test3")]),  # test suite
        (b"3", [("3", "")]),
        (b"1", [("1", "")]),
        (b"6\x1e6", [("6", ""), ("6", "")]),
        (b'42["hello"]\x1e42["world"]', [("4", '2["hello"]'), ("4", '2["world"]')]),  # sample session
        ("4€\x1e4😀".encode(), [("4", "€"), ("4", "😀")]),
    ],
)
def test_decode_payload(body: bytes, expected: list[tuple[str, str | bytes]]) -> None:
    assert decode_payload(body, max_packets=16) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",  # no packet at all
        b"abc",  # the test suite's invalid body
        b"4hello\x1e",  # an empty record after the separator
        b"\x1e4hello",
        b"4a\x1e\x1e4b",
        b"4hello\x1eabc",
        b"4hello\x1ebAQIDBA",
        b"4\xff\xfe",  # not UTF-8
        b"4\xed\xa0\x80",  # an encoded surrogate is not UTF-8
        b"4\xc3",  # truncated UTF-8
    ],
)
def test_decode_payload_rejects_bad_bodies(body: bytes) -> None:
    with pytest.raises(PacketError):
        decode_payload(body, max_packets=16)


def test_decode_payload_packet_limit() -> None:
    body = b"\x1e".join([b"4x"] * 5)
    assert len(decode_payload(body, max_packets=5)) == 5
    assert len(decode_payload(body, max_packets=6)) == 5
    with pytest.raises(PacketError):
        decode_payload(body, max_packets=4)
    with pytest.raises(PacketError):
        decode_payload(b"4x", max_packets=0)
    assert decode_payload(b"4x", max_packets=1) == [("4", "x")]


def test_decode_payload_limit_applies_before_decoding_records() -> None:
    # many records, all garbage: the count is refused whatever they hold
    with pytest.raises(PacketError, match="too many"):
        decode_payload(b"\x1e".join([b"4x"] * 1000), max_packets=10)


# --- encode_payload -------------------------------------------------------------------------------
def test_encode_payload_text_frames_joined_by_record_separator() -> None:
    assert encode_payload([b"4hello"]) == b"4hello"
    assert encode_payload([b"4hello", b"2", b"4world"]) == b"4hello\x1e2\x1e4world"
    assert encode_payload([b"4test1", b"4test2", b"4test3"]) == b"4test1\x1e4test2\x1e4test3"
    assert encode_payload([b"6"]) == b"6"
    assert encode_payload([b"1"]) == b"1"
    assert encode_payload([]) == b""


def test_encode_payload_binary_as_b_and_base64() -> None:
    assert encode_payload([b"4hello", Binary(b"\x01\x02\x03\x04")]) == b"4hello\x1ebAQIDBA=="
    assert encode_payload([Binary(b"")]) == b"b"
    assert encode_payload([Binary(b"\x01\x02"), Binary(b"\x03\x04")]) == b"bAQI=\x1ebAwQ="


def test_encode_payload_plain_bytes_are_text() -> None:
    # only the Binary type marks a binary frame; UTF-8 text bytes travel as they are
    frame = '42["hey","Jude €"]'.encode()
    assert encode_payload([frame]) == frame
    assert encode_payload([b"4\x01\x02"]) == b"4\x01\x02"


def test_encode_polling_record() -> None:
    assert eio.encode_polling_record(b"4abc") == b"4abc"
    assert eio.encode_polling_record(Binary(b"\x01\x02\x03\x04")) == b"bAQIDBA=="


def test_binary_is_bytes() -> None:
    frame = Binary(b"\x00\x01")
    assert isinstance(frame, bytes)
    assert frame == b"\x00\x01"
    assert not isinstance(b"\x00\x01", Binary)


def test_encoded_payload_is_decodable_by_a_client_and_back() -> None:
    frames: list[bytes] = [b"4hello", Binary(b"\x00\xff"), b"2", b"6", "4€".encode()]
    body = encode_payload(frames)
    assert decode_payload(body, max_packets=10) == [
        ("4", "hello"),
        ("4", b"\x00\xff"),
        ("2", ""),
        ("6", ""),
        ("4", "€"),
    ]


# --- properties -------------------------------------------------------------------------------------
_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x1e"), max_size=40)
_TEXT_PACKETS = st.tuples(st.sampled_from(sorted(eio.CLIENT_TYPES)), _TEXT)
_BINARY_PACKETS = st.binary(max_size=64).map(lambda b: (eio.MESSAGE, b))


@FAST
@given(st.lists(st.one_of(_TEXT_PACKETS, _BINARY_PACKETS), min_size=1, max_size=8))
def test_payload_round_trip(packets: list[tuple[str, str | bytes]]) -> None:
    frames: list[bytes] = [
        Binary(data) if isinstance(data, bytes) else (kind + data).encode() for kind, data in packets
    ]
    assert decode_payload(encode_payload(frames), max_packets=len(packets)) == packets


@FAST
@given(st.binary(max_size=200))
def test_binary_record_round_trip(data: bytes) -> None:
    record = encode_payload([Binary(data)])
    assert record.startswith(b"b")
    assert decode_text(record.decode()) == (eio.MESSAGE, data)


@FAST
@given(st.binary(max_size=200))
def test_decode_payload_raises_only_packet_error(body: bytes) -> None:
    try:
        packets = decode_payload(body, max_packets=8)
    except PacketError:
        return
    assert 1 <= len(packets) <= 8
    for kind, _data in packets:
        assert kind in eio.CLIENT_TYPES


@FAST
@given(st.text(max_size=60))
def test_decode_text_raises_only_packet_error(frame: str) -> None:
    try:
        kind, data = decode_text(frame)
    except PacketError:
        return
    assert kind in eio.CLIENT_TYPES
    if frame[0] != "b":
        assert (kind, data) == (frame[0], frame[1:])
