"""Server frames built once for every recipient: RFC 6455 headers, unmasked, FIN set."""

from __future__ import annotations

import pytest
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader

from chat_core.engine import ws_frames
from chat_core.engine.eio_packets import Binary


def parse(data: bytes) -> WsFrame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = WsFrame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: WsFrame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frames_of_every_length_class(size: int) -> None:
    payload = b"4" + b"x" * max(0, size - 1) if size else b""
    frame = parse(ws_frames.frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_binary_payloads_become_binary_frames() -> None:
    frame = parse(ws_frames.frame(Binary(b"\x00\x01\x02")))
    assert frame.opcode is Opcode.BINARY and frame.data == b"\x00\x01\x02"


def test_frames_keeps_order() -> None:
    built = ws_frames.frames([b"42[1]", Binary(b"\x05")])
    assert [parse(b).data for b in built] == [b"42[1]", b"\x05"]
