"""Server-to-client WebSocket frames, built once and written as they are.

A server's frames are never masked (RFC 6455, 5.1), so a frame is a 2-10 byte header and the
payload: a broadcast frames its payload once and every recipient's transport gets the same bytes.
"""

from __future__ import annotations

from .eio_packets import Binary, Frame

_TEXT_FIN = 0x81
_BINARY_FIN = 0x82


def frame(payload: Frame) -> bytes:
    size = len(payload)
    first = _BINARY_FIN if type(payload) is Binary else _TEXT_FIN
    if size < 126:
        head = bytes((first, size))
    elif size < 1 << 16:
        head = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + size.to_bytes(8, "big")
    return head + payload


def frames(payloads: list[Frame]) -> list[bytes]:
    return [frame(p) for p in payloads]
