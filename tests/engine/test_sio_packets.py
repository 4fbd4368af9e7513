"""Socket.IO v5 packet codec, from the protocol README and test suite of socketio/socket.io-protocol.

`encode` gives Engine.IO frames (b"4" + the Socket.IO text, then `Binary` attachments); `parse` and
`Decoder` take the Socket.IO text, i.e. the Engine.IO message data with its "4" already stripped.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_core.engine import sio_packets as sio
from chat_core.engine.eio_packets import Binary
from chat_core.engine.sio_packets import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    Decoder,
    Packet,
    PacketError,
    encode,
    encode_event,
    parse,
)

FAST = settings(max_examples=100, deadline=None, derandomize=True, database=None)
ROUND_TRIP = settings(max_examples=40, deadline=None, derandomize=True, database=None)


def ph(num: int) -> dict[str, Any]:
    return {"_placeholder": True, "num": num}


def decode_frames(frames: list[bytes], decoder: Decoder | None = None) -> Packet:
    """What the receiving side does with the frames of one packet."""
    decoder = decoder or Decoder()
    assert frames[0][:1] == b"4"  # an Engine.IO message
    assert type(frames[0]) is not Binary
    packet = decoder.feed_text(frames[0][1:].decode())
    for frame in frames[1:]:
        assert packet is None
        assert type(frame) is Binary
        packet = decoder.feed_binary(bytes(frame))
    assert packet is not None
    return packet


def test_packet_type_ids() -> None:
    assert (CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK) == (0, 1, 2, 3, 4, 5, 6)


def test_reserved_events() -> None:
    assert (
        frozenset({"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})
        == sio.RESERVED_EVENTS
    )


def test_packet_error_is_a_value_error() -> None:
    assert issubclass(PacketError, ValueError)


def test_packet_equality_and_repr() -> None:
    assert Packet(EVENT, "/", ["a"], 1) == Packet(EVENT, "/", ["a"], 1)
    assert Packet(EVENT, "/", ["a"], 1) != Packet(EVENT, "/", ["a"], 2)
    assert Packet(EVENT, "/", ["a"]) != Packet(EVENT, "/x", ["a"])
    assert Packet(EVENT, "/", ["a"]) != Packet(BINARY_EVENT, "/", ["a"])
    assert Packet(EVENT, "/", ["a"]) != (EVENT, "/", ["a"], None)
    assert Packet(CONNECT) == Packet(CONNECT, "/", None, None)
    assert "Packet(" in repr(Packet(CONNECT))


# --- encoding: the README examples ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((CONNECT, "/"), b"40"),
        ((CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}), b'40/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'),
        ((CONNECT, "/", {"sid": "wZX3oN0bSVIhsaknAAAI"}), b'40{"sid":"wZX3oN0bSVIhsaknAAAI"}'),
        ((CONNECT_ERROR, "/", {"message": "Not authorized"}), b'44{"message":"Not authorized"}'),
        ((CONNECT_ERROR, "/admin", {"message": "Invalid namespace"}), b'44/admin,{"message":"Invalid namespace"}'),
        ((EVENT, "/", ["foo"]), b'42["foo"]'),
        ((EVENT, "/admin", ["bar"]), b'42/admin,["bar"]'),
        ((EVENT, "/", ["hey", "Jude"]), b'42["hey","Jude"]'),
        ((EVENT, "/", ["foo"], 12), b'4212["foo"]'),
        ((EVENT, "/admin", ["foo"], 13), b'42/admin,13["foo"]'),
        ((EVENT, "/", ["message-back", 1, "2", {"3": [True]}]), b'42["message-back",1,"2",{"3":[true]}]'),
        ((EVENT, "/", ["auth", {}]), b'42["auth",{}]'),
        ((ACK, "/admin", ["bar"], 13), b'43/admin,13["bar"]'),
        ((ACK, "/", [], 12), b"4312[]"),
        ((ACK, "/", ["x"], 0), b'430["x"]'),
        ((DISCONNECT, "/"), b"41"),
        ((DISCONNECT, "/admin"), b"41/admin,"),
    ],
)
def test_encode_text_packets(args: tuple[Any, ...], expected: bytes) -> None:
    frames = encode(*args)
    assert frames == [expected]
    assert type(frames[0]) is not Binary


def test_encode_keyword_arguments() -> None:
    assert encode(EVENT, namespace="/chat", data=["a"], ack_id=7) == [b'42/chat,7["a"]']
    assert encode(CONNECT) == [b"40"]


def test_encode_binary_event() -> None:
    frames = encode(EVENT, "/", ["baz", b"\x01\x02\x03\x04"])
    assert frames == [b'451-["baz",{"_placeholder":true,"num":0}]', b"\x01\x02\x03\x04"]
    assert type(frames[0]) is not Binary
    assert type(frames[1]) is Binary


def test_encode_binary_event_multiple_attachments_custom_namespace() -> None:
    frames = encode(EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"])
    assert frames == [
        b'452-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02",
        b"\x03\x04",
    ]
    assert [type(f) for f in frames[1:]] == [Binary, Binary]


def test_encode_binary_ack() -> None:
    frames = encode(ACK, "/", ["bar", b"\x01\x02\x03\x04"], 15)
    assert frames == [b'461-15["bar",{"_placeholder":true,"num":0}]', b"\x01\x02\x03\x04"]
    assert type(frames[1]) is Binary
    # the sample session's BINARY_ACK
    frames = encode(ACK, "/admin", [b"\xff"], 1)
    assert frames == [b'461-/admin,1[{"_placeholder":true,"num":0}]', b"\xff"]


def test_encode_binary_event_with_ack_matches_the_test_suite() -> None:
    frames = encode_event("/", "message-with-ack", [b"\x01\x02\x03", b"\x04\x05\x06"], 789)
    assert frames == [
        b'452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    ]


def test_encode_explicit_binary_kinds_keep_their_kind() -> None:
    assert encode(BINARY_EVENT, "/", ["a", b"x"]) == [b'451-["a",{"_placeholder":true,"num":0}]', b"x"]
    assert encode(BINARY_ACK, "/", [b"x"], 3) == [b'461-3[{"_placeholder":true,"num":0}]', b"x"]


def test_encode_nested_bytes_numbered_in_document_order() -> None:
    data = ["ev", {"a": b"A", "b": [b"B", {"c": b"C"}]}, b"D", [[b"E"]]]
    frames = encode(EVENT, "/", data)
    assert frames[0] == (
        b'455-["ev",{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1},'
        b'{"c":{"_placeholder":true,"num":2}}]},{"_placeholder":true,"num":3},[[{"_placeholder":true,"num":4}]]]'
    )
    assert frames[1:] == [b"A", b"B", b"C", b"D", b"E"]
    assert decode_frames(frames) == Packet(BINARY_EVENT, "/", data)


def test_encode_bytearray_and_memoryview_are_binary() -> None:
    frames = encode(EVENT, "/", ["a", bytearray(b"xy"), memoryview(b"zw")])
    assert frames[1:] == [b"xy", b"zw"]
    assert all(type(f) is Binary for f in frames[1:])
    assert frames[0] == b'452-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'


def test_encode_empty_bytes_is_still_an_attachment() -> None:
    frames = encode(EVENT, "/", ["a", b""])
    assert frames == [b'451-["a",{"_placeholder":true,"num":0}]', b""]
    assert type(frames[1]) is Binary
    assert decode_frames(frames).data == ["a", b""]


def test_encode_tuple_args() -> None:
    assert encode(EVENT, "/", ("a", 1)) == [b'42["a",1]']
    assert encode(EVENT, "/", ("a", (b"x",))) == [b'451-["a",[{"_placeholder":true,"num":0}]]', b"x"]


def test_encode_event() -> None:
    assert encode_event("/", "hey", ("Jude",)) == [b'42["hey","Jude"]']
    assert encode_event("/", "hey", ["Jude"]) == [b'42["hey","Jude"]']
    assert encode_event("/", "ping", ()) == [b'42["ping"]']
    assert encode_event("/chat", "x", [1, None], 5) == [b'42/chat,5["x",1,null]']
    assert encode_event("/", "auth", [{"token": "123"}]) == [b'42["auth",{"token":"123"}]']


def test_encode_is_utf8_and_never_emits_a_raw_record_separator() -> None:
    frames = encode_event("/", "msg", ["é€😀", "a\x1eb", "\x00"])
    assert len(frames) == 1
    assert b"\x1e" not in frames[0]
    packet = decode_frames(frames)
    assert packet.data == ["msg", "é€😀", "a\x1eb", "\x00"]
    assert "é€😀".encode() in frames[0]


def test_encode_rejects_unserializable_data() -> None:
    with pytest.raises(TypeError):
        encode(EVENT, "/", ["a", {1, 2}])
    with pytest.raises(TypeError):
        encode(EVENT, "/", ["a", b"x", object()])


# --- parsing: the README and the test suite ---------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Packet(CONNECT, "/")),
        ('0{"token":"123"}', Packet(CONNECT, "/", {"token": "123"})),
        ("0/custom,", Packet(CONNECT, "/custom")),
        ("0/custom", Packet(CONNECT, "/custom")),  # "40/custom" from the test suite: no comma
        ('0/custom,{"token":"abc"}', Packet(CONNECT, "/custom", {"token": "abc"})),
        ('0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}', Packet(CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"})),
        ("0/random", Packet(CONNECT, "/random")),
        ("0{}", Packet(CONNECT, "/", {})),
        ("1", Packet(DISCONNECT, "/")),
        ("1/custom", Packet(DISCONNECT, "/custom")),
        ("1/admin,", Packet(DISCONNECT, "/admin")),
        ('2["message",1,"2",{"3":[true]}]', Packet(EVENT, "/", ["message", 1, "2", {"3": [True]}])),
        (
            '2456["message-with-ack",1,"2",{"3":[false]}]',
            Packet(EVENT, "/", ["message-with-ack", 1, "2", {"3": [False]}], 456),
        ),
        ('2["message","message to main namespace"]', Packet(EVENT, "/", ["message", "message to main namespace"])),
        ('2["foo"]', Packet(EVENT, "/", ["foo"])),
        ('2/admin,["bar"]', Packet(EVENT, "/admin", ["bar"])),
        ('212["foo"]', Packet(EVENT, "/", ["foo"], 12)),
        ('2/admin,1["tellme"]', Packet(EVENT, "/admin", ["tellme"], 1)),
        ('20["a"]', Packet(EVENT, "/", ["a"], 0)),
        ('2["hé€😀",null,1.5,-3]', Packet(EVENT, "/", ["hé€😀", None, 1.5, -3])),
        ('2["connection"]', Packet(EVENT, "/", ["connection"])),  # only the exact reserved names
        ('2["Connect"]', Packet(EVENT, "/", ["Connect"])),
        ('3/admin,13["bar"]', Packet(ACK, "/admin", ["bar"], 13)),
        ("312[]", Packet(ACK, "/", [], 12)),
        ('312["bar"]', Packet(ACK, "/", ["bar"], 12)),
        ('4{"message":"Not authorized"}', Packet(CONNECT_ERROR, "/", {"message": "Not authorized"})),
        ('4"Not authorized"', Packet(CONNECT_ERROR, "/", "Not authorized")),
        ('4/admin,{"message":"x"}', Packet(CONNECT_ERROR, "/admin", {"message": "x"})),
    ],
)
def test_parse_text_packets(text: str, expected: Packet) -> None:
    assert parse(text) == (expected, 0)


@pytest.mark.parametrize(
    ("text", "expected", "attachments"),
    [
        (
            '52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
            Packet(BINARY_EVENT, "/", ["message", ph(0), ph(1)]),
            2,
        ),
        (
            '52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
            Packet(BINARY_EVENT, "/", ["message-with-ack", ph(0), ph(1)], 789),
            2,
        ),
        ('51-["baz",{"_placeholder":true,"num":0}]', Packet(BINARY_EVENT, "/", ["baz", ph(0)]), 1),
        (
            '52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
            Packet(BINARY_EVENT, "/admin", ["baz", ph(0), ph(1)]),
            2,
        ),
        ('61-15["bar",{"_placeholder":true,"num":0}]', Packet(BINARY_ACK, "/", ["bar", ph(0)], 15), 1),
        ('61-/admin,1[{"_placeholder":true,"num":0}]', Packet(BINARY_ACK, "/admin", [ph(0)], 1), 1),
        ('510-["a"]', Packet(BINARY_EVENT, "/", ["a"]), 10),
    ],
)
def test_parse_binary_packets(text: str, expected: Packet, attachments: int) -> None:
    assert parse(text) == (expected, attachments)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",  # "4abc" from the test suite, Engine.IO "4" stripped: unknown type
        "7",
        "8[]",
        "9",
        "-1",
        ' 2["a"]',
        '٢["a"]',  # a non-ASCII digit is not a type
        "2{}",  # "42{}" from the test suite: payload is not an array
        '2abc["message-with-ack",1,"2",{"3":[false]}]',  # "42abc..." from the test suite: bad ack id
        '2abc["message-with-ack",1]',
        "2",  # EVENT without payload
        "2/admin,",
        "212",
        "2[]",  # empty array
        "2[1]",  # the event name must be a string
        "2[null]",
        '2[["a"]]',
        '2[{"a":1}]',
        '2"message"',
        "2null",
        '21.5["a"]',
        '2-1["a"]',
        '2["a"',  # truncated JSON
        '2["a"]]',
        '2["a"]x',
        '2["a",]',
        "2['a']",
        '2["a",NaN]',
        "0[]",  # CONNECT payload must be an object
        '0"token"',
        "0/custom,[]",
        "1{}",  # DISCONNECT carries no payload
        '1["a"]',
        "1/admin,{}",
        '3["bar"]',  # ACK without an id
        "3[]",
        "312{}",  # ACK payload must be an array
        '312"x"',
        "312",
        "4[]",  # CONNECT_ERROR payload is an object or a string
        "41",
        "4true",
        '5["a"]',  # no attachment count
        '5-["a"]',
        '5a-["a"]',
        '51["a"]',
        "51-",  # BINARY_EVENT without payload
        "51-[]",
        '51-[1,{"_placeholder":true,"num":0}]',
        "51-{}",
        '6["a"]',
        '61-["a"]',  # BINARY_ACK without an id
        "61-15{}",
        "61-15",
    ],
)
def test_parse_rejects_invalid_packets(text: str) -> None:
    with pytest.raises(PacketError):
        parse(text)


@pytest.mark.parametrize("text", ["0null", "0/admin,null", "1null", "1/admin,null"])
def test_parse_rejects_null_payload_for_connect_and_disconnect(text: str) -> None:
    # BUG (reported): JSON null parses to None, the same as "no payload", so it passes as absent;
    # CONNECT takes an object or nothing and DISCONNECT nothing (socket.io-parser refuses null for both)
    with pytest.raises(PacketError):
        parse(text)


@pytest.mark.parametrize("event", sorted(sio.RESERVED_EVENTS))
def test_parse_rejects_reserved_event_names(event: str) -> None:
    with pytest.raises(PacketError):
        parse(f'2["{event}",1]')
    with pytest.raises(PacketError):
        parse(f'2/admin,5["{event}"]')
    with pytest.raises(PacketError):
        parse(f'51-["{event}",{{"_placeholder":true,"num":0}}]')


def test_parse_accepts_reserved_names_as_ack_data() -> None:
    assert parse('31["connect"]') == (Packet(ACK, "/", ["connect"], 1), 0)
    assert parse('2["ev","disconnect"]') == (Packet(EVENT, "/", ["ev", "disconnect"]), 0)


def test_parse_long_ack_ids() -> None:
    assert parse('29007199254740991["a"]') == (Packet(EVENT, "/", ["a"], 9007199254740991), 0)
    with pytest.raises(PacketError):
        parse("2" + "9" * 40 + '["a"]')


def test_parse_huge_attachment_count_is_refused() -> None:
    with pytest.raises(PacketError):
        parse("5" + "9" * 40 + '-["a"]')


@pytest.mark.parametrize("count", ["²", "٣", "३", "１"])  # noqa: RUF001 (the point is look-alike digits)
def test_parse_attachment_count_must_be_ascii_digits(count: str) -> None:
    # BUG (reported): str.isdigit() accepts these; int() then raises a bare ValueError for "²",
    # and Arabic-Indic, Devanagari or fullwidth digits are taken as counts (socket.io-parser's Number() refuses all)
    with pytest.raises(PacketError):
        parse(f'5{count}-["a",{{"_placeholder":true,"num":0}}]')


def test_parse_deeply_nested_json_is_a_packet_error() -> None:
    with pytest.raises(PacketError):
        parse("2[" * 5000 + '"a"' + "]" * 5000)


def test_parse_lone_surrogate_becomes_the_replacement_character() -> None:
    # text off the wire is UTF-8 and cannot hold one unescaped; a caller's str can
    assert parse('2["a\ud800"]')[0].data == ["a\ufffd"]


# --- Decoder ------------------------------------------------------------------------------------------
def test_decoder_text_packet_at_once() -> None:
    decoder = Decoder()
    assert decoder.feed_text('2["message",1,"2",{"3":[true]}]') == Packet(
        EVENT, "/", ["message", 1, "2", {"3": [True]}]
    )
    assert decoder.feed_text("0/custom") == Packet(CONNECT, "/custom")
    assert decoder.feed_text("1/custom") == Packet(DISCONNECT, "/custom")


def test_decoder_binary_event_from_the_test_suite() -> None:
    decoder = Decoder()
    assert decoder.feed_text('52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]') is None
    assert decoder.feed_binary(bytes([1, 2, 3])) is None
    packet = decoder.feed_binary(bytes([4, 5, 6]))
    assert packet == Packet(BINARY_EVENT, "/", ["message", b"\x01\x02\x03", b"\x04\x05\x06"])


def test_decoder_binary_event_with_ack_from_the_test_suite() -> None:
    decoder = Decoder()
    text = '52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
    assert decoder.feed_text(text) is None
    assert decoder.feed_binary(bytes([1, 2, 3])) is None
    packet = decoder.feed_binary(bytes([4, 5, 6]))
    assert packet == Packet(BINARY_EVENT, "/", ["message-with-ack", b"\x01\x02\x03", b"\x04\x05\x06"], 789)


def test_decoder_binary_ack() -> None:
    decoder = Decoder()
    assert decoder.feed_text('61-/admin,1[{"_placeholder":true,"num":0}]') is None
    assert decoder.feed_binary(b"\x00") == Packet(BINARY_ACK, "/admin", [b"\x00"], 1)


def test_decoder_placeholders_by_number_not_position() -> None:
    decoder = Decoder()
    text = '53-["ev",{"x":[{"_placeholder":true,"num":2}]},{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
    assert decoder.feed_text(text) is None
    assert decoder.feed_binary(b"zero") is None
    assert decoder.feed_binary(b"one") is None
    assert decoder.feed_binary(b"two") == Packet(BINARY_EVENT, "/", ["ev", {"x": [b"two"]}, b"zero", b"one"])


def test_decoder_same_attachment_twice() -> None:
    decoder = Decoder()
    decoder.feed_text('51-["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]')
    assert decoder.feed_binary(b"x") == Packet(BINARY_EVENT, "/", ["ev", b"x", b"x"])


def test_decoder_zero_attachments_is_a_plain_packet() -> None:
    decoder = Decoder()
    assert decoder.feed_text('50-["a"]') == Packet(EVENT, "/", ["a"])
    assert decoder.feed_text('60-3["a"]') == Packet(ACK, "/", ["a"], 3)


def test_decoder_is_reusable_after_a_binary_packet() -> None:
    decoder = Decoder()
    for round_ in range(3):
        assert decoder.feed_text('51-["a",{"_placeholder":true,"num":0}]') is None
        assert decoder.feed_binary(bytes([round_])) == Packet(BINARY_EVENT, "/", ["a", bytes([round_])])
        assert decoder.feed_text('2["b"]') == Packet(EVENT, "/", ["b"])


def test_decoder_binary_without_a_binary_packet() -> None:
    decoder = Decoder()
    with pytest.raises(PacketError):
        decoder.feed_binary(b"\x01")
    decoder.feed_text('2["a"]')
    with pytest.raises(PacketError):
        decoder.feed_binary(b"\x01")


def test_decoder_extra_binary_after_the_attachments() -> None:
    decoder = Decoder()
    decoder.feed_text('51-["a",{"_placeholder":true,"num":0}]')
    assert decoder.feed_binary(b"x") is not None
    with pytest.raises(PacketError):
        decoder.feed_binary(b"y")


def test_decoder_text_while_attachments_are_expected() -> None:
    decoder = Decoder()
    decoder.feed_text('52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    decoder.feed_binary(b"x")
    with pytest.raises(PacketError):
        decoder.feed_text('2["b"]')


def test_decoder_attachment_limit() -> None:
    decoder = Decoder(max_attachments=2)
    assert decoder.feed_text('52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]') is None
    decoder.feed_binary(b"1")
    assert decoder.feed_binary(b"2") is not None
    with pytest.raises(PacketError):
        Decoder(max_attachments=2).feed_text('53-["a"]')
    with pytest.raises(PacketError):
        Decoder().feed_text('5999999-["a"]')
    assert Decoder().max_attachments == 10


def test_decoder_propagates_parse_errors() -> None:
    for text in ("abc", "2{}", '2abc["message-with-ack",1]', ""):
        with pytest.raises(PacketError):
            Decoder().feed_text(text)


@pytest.mark.parametrize(
    "placeholder",
    [
        '{"_placeholder":true,"num":1}',  # out of range
        '{"_placeholder":true,"num":-1}',
        '{"_placeholder":true,"num":"0"}',
        '{"_placeholder":true,"num":0.0}',
        '{"_placeholder":true,"num":true}',
        '{"_placeholder":true,"num":null}',
        '{"_placeholder":true,"x":0}',
    ],
)
def test_decoder_bad_placeholders(placeholder: str) -> None:
    decoder = Decoder()
    assert decoder.feed_text(f'51-["a",{placeholder}]') is None
    with pytest.raises(PacketError):
        decoder.feed_binary(b"x")


def test_decoder_leaves_placeholder_lookalikes_alone() -> None:
    # only {"_placeholder": true, "num": N} is a placeholder
    decoder = Decoder()
    text = (
        '51-["a",{"_placeholder":false,"num":0},{"_placeholder":true,"num":0,"extra":1},{"_placeholder":true,"num":0}]'
    )
    assert decoder.feed_text(text) is None
    packet = decoder.feed_binary(b"x")
    assert packet is not None
    assert packet.data == [
        "a",
        {"_placeholder": False, "num": 0},
        {"_placeholder": True, "num": 0, "extra": 1},
        b"x",
    ]


# --- round trips ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "namespace", "data", "ack_id", "expected_kind"),
    [
        (CONNECT, "/", None, None, CONNECT),
        (CONNECT, "/admin", {"token": "123"}, None, CONNECT),
        (DISCONNECT, "/admin", None, None, DISCONNECT),
        (CONNECT_ERROR, "/", {"message": "Not authorized"}, None, CONNECT_ERROR),
        (CONNECT_ERROR, "/x", "refused", None, CONNECT_ERROR),
        (EVENT, "/", ["message", 1, "2", {"3": [True]}], None, EVENT),
        (EVENT, "/chat", ["message", 1, "2", {"3": [False]}], 456, EVENT),
        (EVENT, "/", ["message", b"\x01\x02\x03", b"\x04\x05\x06"], None, BINARY_EVENT),
        (EVENT, "/", ["message", b"\x01\x02\x03", b"\x04\x05\x06"], 789, BINARY_EVENT),
        (
            EVENT,
            "/n",
            ["ev", {"file": {"name": "a.png", "body": b"\x89PNG"}, "parts": [b"a", [b"b"]]}],
            1,
            BINARY_EVENT,
        ),
        (ACK, "/", [], 0, ACK),
        (ACK, "/admin", ["bar", None], 13, ACK),
        (ACK, "/", ["bar", b"\x01\x02\x03\x04"], 15, BINARY_ACK),
        (ACK, "/admin", [{"k": [b"\x00" * 1000]}], 2**53 - 1, BINARY_ACK),
    ],
)
def test_round_trip(kind: int, namespace: str, data: Any, ack_id: int | None, expected_kind: int) -> None:
    frames = encode(kind, namespace, data, ack_id)
    assert decode_frames(frames) == Packet(expected_kind, namespace, data, ack_id)


_NAMESPACES = st.one_of(
    st.just("/"),
    st.text(st.sampled_from("abcxyzABC019-_.~/"), min_size=1, max_size=12).map(lambda s: "/" + s),
)
_ACK_IDS = st.none() | st.integers(min_value=0, max_value=2**53 - 1)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_KEYS = st.text(max_size=10).filter(lambda k: k != "_placeholder")
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=8,
)
_WITH_BYTES = st.recursive(
    _SCALARS | st.binary(max_size=16),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=8,
)
_EVENT_NAMES = st.text(min_size=1, max_size=20).filter(lambda s: s not in sio.RESERVED_EVENTS)


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, list):
        return any(_has_bytes(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    return False


@ROUND_TRIP
@given(_NAMESPACES, _EVENT_NAMES, st.lists(_WITH_BYTES, max_size=5), _ACK_IDS)
def test_event_round_trip_property(namespace: str, event: str, args: list[Any], ack_id: int | None) -> None:
    frames = encode_event(namespace, event, args, ack_id)
    data = [event, *args]
    expected_kind = BINARY_EVENT if _has_bytes(data) else EVENT
    assert len(frames) == 1 + sum(1 for f in frames if type(f) is Binary)
    assert b"\x1e" not in frames[0]
    assert decode_frames(frames, Decoder(max_attachments=1000)) == Packet(expected_kind, namespace, data, ack_id)


@ROUND_TRIP
@given(_NAMESPACES, st.lists(_WITH_BYTES, max_size=5), st.integers(min_value=0, max_value=2**53 - 1))
def test_ack_round_trip_property(namespace: str, data: list[Any], ack_id: int) -> None:
    frames = encode(ACK, namespace, data, ack_id)
    expected_kind = BINARY_ACK if _has_bytes(data) else ACK
    assert decode_frames(frames, Decoder(max_attachments=1000)) == Packet(expected_kind, namespace, data, ack_id)


@ROUND_TRIP
@given(_NAMESPACES, st.none() | st.dictionaries(_KEYS, _JSON, max_size=4))
def test_connect_round_trip_property(namespace: str, auth: dict[str, Any] | None) -> None:
    frames = encode(CONNECT, namespace, auth)
    assert decode_frames(frames) == Packet(CONNECT, namespace, auth)


_FRAGMENTS = st.sampled_from(
    [*'01234567-/,[]{}" ', "/a,", "12", '["a"]', "null", '{"_placeholder":true,"num":0}', "٣", "é", "\ud800"]
)
_PACKETISH = st.lists(_FRAGMENTS, max_size=8).map("".join)


@FAST
@given(st.one_of(st.text(max_size=40), _PACKETISH))
def test_parse_raises_only_packet_error(text: str) -> None:
    try:
        packet, attachments = parse(text)
    except PacketError:
        return
    assert 0 <= packet.kind <= 6
    assert packet.namespace.startswith("/")
    assert attachments >= 0


@FAST
@given(st.lists(st.one_of(st.text(max_size=30), _PACKETISH, st.binary(max_size=8)), max_size=6))
def test_decoder_raises_only_packet_error(inputs: list[str | bytes]) -> None:
    decoder = Decoder(max_attachments=3)
    for item in inputs:
        try:
            if isinstance(item, bytes):
                decoder.feed_binary(item)
            else:
                decoder.feed_text(item)
        except PacketError:
            return


def test_json_that_javascript_accepts_and_orjson_refuses() -> None:
    """A JavaScript client may send escaped lone surrogates and numbers beyond a double; the
    packet is valid (JSON.parse takes it). Lone surrogates arrive as U+FFFD, huge numbers as inf."""
    packet, _ = sio.parse('2["ping",{"t":"\\ud800x","k\\udc00":1e400}]')
    assert packet.data == ["ping", {"t": "\ufffdx", "k\ufffd": float("inf")}]
    assert sio.encode(sio.ACK, "/", packet.data[1:], 1)  # and it encodes again


@pytest.mark.parametrize("text", ['2["ping",NaN]', '2["ping",Infinity]', '2["ping",-Infinity]'])
def test_json_constants_javascript_refuses_are_refused(text: str) -> None:
    with pytest.raises(sio.PacketError):
        sio.parse(text)
