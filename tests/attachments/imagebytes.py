"""Small images built byte by byte, as encoders write them (no imaging library needed)."""

from __future__ import annotations

import struct
import zlib


def png(width: int, height: int) -> bytes:
    """A complete, decodable PNG: 8-bit grey, every pixel black."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00" * width for _ in range(height))  # filter byte 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def gif(width: int, height: int) -> bytes:
    """A complete GIF89a: a 2-colour palette and one image of colour 0."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    # LZW minimum code size 2: clear (4), one pixel 0, end (5), packed into one data sub-block
    return screen + image + b"\x02\x02\x44\x01\x00" + b"\x3b"


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(width: int, height: int, *, app_bytes: int = 0, sof: int = 0xC0) -> bytes:
    """A JPEG's marker structure as a camera writes it: JFIF, EXIF-sized APP1 segments filling
    `app_bytes` before the frame header, quantisation table, SOF, Huffman table, scan, EOI."""
    parts = [b"\xff\xd8", _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")]
    while app_bytes > 0:
        size = min(app_bytes, 65533)
        parts.append(_segment(0xE1, b"Exif\x00\x00" + b"\x00" * max(0, size - 6)))
        app_bytes -= size
    parts.append(_segment(0xDB, b"\x00" + bytes(range(64))))
    parts.append(_segment(sof, b"\x08" + struct.pack(">HH", height, width) + b"\x01\x01\x11\x00"))
    parts.append(_segment(0xC4, b"\x00" + b"\x00" * 16))
    parts.append(_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"))
    parts.append(b"\x12\x34\xff\x00\x56" + b"\xff\xd0" + b"\x78\xff\xd9")  # entropy data, RST0, EOI
    return b"".join(parts)


def _riff(chunk: bytes, data: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_lossy(width: int, height: int) -> bytes:
    frame_tag = b"\x10\x02\x00"  # key frame, shown, first partition size
    return _riff(b"VP8 ", frame_tag + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 10)


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)  # alpha hint and version 0 in the top bits
    return _riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\x00" * 8)


def webp_extended(width: int, height: int) -> bytes:
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff(b"VP8X", b"\x10\x00\x00\x00" + canvas)
