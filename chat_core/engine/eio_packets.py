"""Engine.IO v4 packets: one packet per WebSocket frame, several per long-polling body.

Sans-I/O: bytes and strings in, packets out. A packet is (type, data) where data is `str` for a
text packet and `bytes` for a binary message. Text frames carry the type as their first character;
binary messages travel as binary WebSocket frames, or as "b" + base64 in a polling body.
"""

from __future__ import annotations

import base64
import binascii

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0", "1", "2", "3", "4", "5", "6"
TYPES = frozenset((OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP))
#: what a client may send (OPEN only ever comes from the server)
CLIENT_TYPES = frozenset((CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP))
SEPARATOR = "\x1e"  # the record separator between packets of a polling body
SEPARATOR_BYTES = b"\x1e"

Packet = tuple[str, str | bytes]


class Binary(bytes):
    """An outgoing binary message. Outgoing text frames are plain UTF-8 `bytes` (what orjson
    gives), so a frame is binary only when it is of this type."""

    __slots__ = ()


Frame = bytes  # an outgoing frame: UTF-8 text, or Binary


class PacketError(ValueError):
    """The bytes are not an Engine.IO packet or payload."""


def decode_text(frame: str) -> Packet:
    """One text frame (WebSocket) or one record of a polling body."""
    if not frame:
        raise PacketError("empty packet")
    kind = frame[0]
    if kind == "b":
        return MESSAGE, decode_base64(frame[1:])
    if kind not in CLIENT_TYPES:
        raise PacketError("unknown packet type")
    return kind, frame[1:]


def decode_base64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise PacketError("bad base64 message") from None


def decode_payload(body: bytes, max_packets: int) -> list[Packet]:
    """A polling POST body: packets separated by the record separator."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise PacketError("payload is not UTF-8") from None
    records = text.split(SEPARATOR, max_packets)
    if len(records) > max_packets:
        raise PacketError("too many packets in one payload")
    return [decode_text(record) for record in records]


def encode_polling_record(frame: Frame) -> bytes:
    """A frame as it travels in a polling body: text as is, binary as "b" + base64."""
    if type(frame) is Binary:
        return b"b" + base64.b64encode(frame)
    return frame


def encode_payload(frames: list[Frame]) -> bytes:
    """Frames queued for a polling GET, joined by the record separator."""
    return SEPARATOR_BYTES.join([encode_polling_record(f) for f in frames])
