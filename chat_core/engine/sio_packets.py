"""Socket.IO v5 packets: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`.

Sans-I/O. `encode` turns a packet into the Engine.IO frames that carry it (the text frame, then one
binary frame per attachment), encoded once however many sockets receive them. `Decoder` turns
incoming Engine.IO message data back into packets, collecting a binary packet's attachments.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from .eio_packets import Binary, Frame

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
#: event names a client may not send: the lifecycle hooks of a socket (as socket.io-parser)
RESERVED_EVENTS = frozenset(
    ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener")
)
_DIGITS = frozenset("0123456789")
_MAX_ACK_ID_DIGITS = 16


class PacketError(ValueError):
    """The data is not a Socket.IO packet."""


class Packet:
    __slots__ = ("ack_id", "data", "kind", "namespace")

    def __init__(self, kind: int, namespace: str = "/", data: Any = None, ack_id: int | None = None) -> None:
        self.kind = kind
        self.namespace = namespace
        self.data = data
        self.ack_id = ack_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Packet) and (self.kind, self.namespace, self.data, self.ack_id) == (
            other.kind,
            other.namespace,
            other.data,
            other.ack_id,
        )

    def __repr__(self) -> str:
        return f"Packet({self.kind}, {self.namespace!r}, {self.data!r}, {self.ack_id!r})"


# --- encoding -------------------------------------------------------------------------------------
def _header(kind: int, namespace: str, ack_id: int | None, attachments: int) -> bytes:
    head = b"4" + str(kind).encode()
    if attachments:
        head += str(attachments).encode() + b"-"
    if namespace != "/":
        head += namespace.encode() + b","
    if ack_id is not None:
        head += str(ack_id).encode()
    return head


def _deconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Replace every bytes value with a placeholder, collecting the bytes in order."""
    if isinstance(data, bytes | bytearray | memoryview):
        buffers.append(bytes(data))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(data, list | tuple):
        return [_deconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        return {key: _deconstruct(value, buffers) for key, value in data.items()}
    return data


def encode(kind: int, namespace: str = "/", data: Any = None, ack_id: int | None = None) -> list[Frame]:
    """The Engine.IO frames of one packet: b"4" + the packet text, then its binary attachments.
    EVENT and ACK become BINARY_EVENT and BINARY_ACK when the data holds bytes."""
    if data is None:
        return [_header(kind, namespace, ack_id, 0)]
    try:
        body = orjson.dumps(data)
    except TypeError:  # bytes somewhere in the data (orjson serializes no bytes)
        buffers: list[bytes] = []
        body = orjson.dumps(_deconstruct(data, buffers))
        if buffers and kind in (EVENT, ACK):
            kind = BINARY_EVENT if kind == EVENT else BINARY_ACK
        return [_header(kind, namespace, ack_id, len(buffers)) + body, *(Binary(b) for b in buffers)]
    return [_header(kind, namespace, ack_id, 0) + body]


def encode_event(
    namespace: str, event: str, args: tuple[Any, ...] | list[Any], ack_id: int | None = None
) -> list[Frame]:
    return encode(EVENT, namespace, [event, *args], ack_id)


# --- decoding -------------------------------------------------------------------------------------
_ABSENT: Any = object()


def _valid_payload(kind: int, data: Any) -> bool:
    if kind == CONNECT:
        return data is _ABSENT or isinstance(data, dict)
    if kind == DISCONNECT:
        return data is _ABSENT
    if kind == CONNECT_ERROR:
        return isinstance(data, str | dict)
    if kind in (EVENT, BINARY_EVENT):
        return isinstance(data, list) and len(data) > 0 and isinstance(data[0], str) and data[0] not in RESERVED_EVENTS
    return isinstance(data, list)  # ACK, BINARY_ACK


def parse(text: str) -> tuple[Packet, int]:
    """One packet's text; returns the packet and how many binary attachments follow it."""
    if not text or not "0" <= text[0] <= "6":
        raise PacketError("unknown packet type")
    kind = ord(text[0]) - 48
    i, n = 1, len(text)
    attachments = 0
    if kind in (BINARY_EVENT, BINARY_ACK):
        dash = text.find("-", 1)
        if dash < 0 or not 1 <= dash - 1 <= 6 or not all(c in _DIGITS for c in text[1:dash]):
            raise PacketError("bad attachment count")
        attachments = int(text[1:dash])
        i = dash + 1
    namespace = "/"
    if i < n and text[i] == "/":
        comma = text.find(",", i)
        if comma < 0:
            namespace, i = text[i:], n
        else:
            namespace, i = text[i:comma], comma + 1
    ack_id: int | None = None
    start = i
    while i < n and text[i] in _DIGITS:
        i += 1
    if i > start:
        if i - start > _MAX_ACK_ID_DIGITS:
            raise PacketError("ack id too long")
        ack_id = int(text[start:i])
    data: Any = _ABSENT
    if i < n:
        try:
            data = orjson.loads(text[i:])
        except orjson.JSONDecodeError:
            data = _loads_leniently(text[i:])
    if not _valid_payload(kind, data):
        raise PacketError("invalid payload for the packet type")
    if data is _ABSENT:
        data = None
    if kind in (ACK, BINARY_ACK) and ack_id is None:
        raise PacketError("ack without an id")
    return Packet(kind, namespace, data, ack_id), attachments


def _no_constants(name: str) -> Any:
    raise PacketError(f"{name} is not JSON")


def _loads_leniently(text: str) -> Any:
    """What orjson refuses but JavaScript's JSON.parse takes: numbers beyond a double (they become
    infinities, as in JavaScript) and escaped lone surrogates ("\\ud800", which a JavaScript
    string may hold). Lone surrogates become U+FFFD, as a UTF-8 encoder would make them, so the
    application never holds a string it cannot encode. NaN and Infinity stay refused."""
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise PacketError("payload is not JSON") from None
    return _replace_lone_surrogates(data)


def _replace_lone_surrogates(data: Any) -> Any:
    if isinstance(data, str):
        return data.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(data, list):
        return [_replace_lone_surrogates(item) for item in data]
    if isinstance(data, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v) for k, v in data.items()}
    return data


def _reconstruct(data: Any, buffers: list[bytes]) -> Any:
    if isinstance(data, dict):
        if data.get("_placeholder") is True and len(data) == 2:
            num = data.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise PacketError("bad attachment placeholder")
            return buffers[num]
        return {key: _reconstruct(value, buffers) for key, value in data.items()}
    if isinstance(data, list):
        return [_reconstruct(item, buffers) for item in data]
    return data


class Decoder:
    """Per connection: text packets decode at once; a binary packet waits for its attachments."""

    __slots__ = ("_buffers", "_expected", "_pending", "max_attachments")

    def __init__(self, max_attachments: int = 10) -> None:
        self.max_attachments = max_attachments
        self._pending: Packet | None = None
        self._expected = 0
        self._buffers: list[bytes] = []

    def feed_text(self, text: str) -> Packet | None:
        if self._pending is not None:
            raise PacketError("text packet while binary attachments were expected")
        packet, attachments = parse(text)
        if attachments == 0:
            if packet.kind in (BINARY_EVENT, BINARY_ACK):
                packet.kind = EVENT if packet.kind == BINARY_EVENT else ACK
            return packet
        if attachments > self.max_attachments:
            raise PacketError("too many binary attachments")
        self._pending, self._expected, self._buffers = packet, attachments, []
        return None

    def feed_binary(self, data: bytes) -> Packet | None:
        packet = self._pending
        if packet is None:
            raise PacketError("binary data without a binary packet")
        self._buffers.append(data)
        if len(self._buffers) < self._expected:
            return None
        buffers = self._buffers
        self._pending, self._buffers = None, []
        packet.data = _reconstruct(packet.data, buffers)
        return packet
