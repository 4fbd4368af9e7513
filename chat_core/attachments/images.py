"""Is an uploaded image really of its declared type, and how large is it? From the first bytes of
the file only, in pure Python (no decoder: nothing here parses pixel data).

Everything reads bounded slices of `head` and answers a result; no input, however short or
hostile, raises. `IMAGE_HEAD_BYTES` (256 KiB) is what to read: PNG, GIF and WebP say their size in the
first 30 bytes, but a JPEG says it in its SOF segment, after every APPn segment (EXIF with a
thumbnail, ICC profiles, XMP: up to 64 KiB each); 256 KiB covers what cameras and editors write.
A JPEG whose SOF lies further is answered "size unknown" (`ImageCheck.ok` False).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMAGE_HEAD_BYTES = 256 * 1024
MAX_DIMENSION = 1 << 24
"""Width or height above this is not believed (WebP's limit; PNG's field allows 2^31 - 1)."""

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""The types this module checks; any other declared type is not an image to it."""

_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (every coding process); C4 (DHT), C8 (JPG) and CC (DAC) are not
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# markers without a length field: TEM, RST0-7 (SOI and EOI are handled on their own)
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


@dataclass(frozen=True, slots=True)
class ImageCheck:
    """The verdict on one file declared as an image."""

    detected_type: str | None
    """The image type its first bytes are (by magic), or None when none of IMAGE_TYPES."""
    width: int | None
    height: int | None
    problem: str | None
    """Why it is refused, for the client (`INVALID`); None when `ok`."""

    @property
    def ok(self) -> bool:
        return self.problem is None


def sniff_image_type(head: bytes) -> str | None:
    """Which of IMAGE_TYPES the first bytes say the file is, or None."""
    if head.startswith(_PNG_MAGIC):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_size(head: bytes, content_type: str) -> tuple[int, int] | None:
    """(width, height) of an image of that type read from its first bytes, or None when the
    bytes are not that type, are cut before the size, or say a size of 0 or above MAX_DIMENSION."""
    if sniff_image_type(head) != content_type:
        return None
    if content_type == "image/png":
        size = _png(head)
    elif content_type == "image/gif":
        size = _gif(head)
    elif content_type == "image/webp":
        size = _webp(head)
    else:
        size = _jpeg(head)
    if size is None or not (0 < size[0] <= MAX_DIMENSION and 0 < size[1] <= MAX_DIMENSION):
        return None
    return size


def check_image(head: bytes, declared_type: str) -> ImageCheck:
    """The verdict on a file declared as `declared_type` (one of IMAGE_TYPES) whose first bytes
    are `head` (read IMAGE_HEAD_BYTES): ok with its width and height, or the problem."""
    detected = sniff_image_type(head)
    expected = _NAMES.get(declared_type, declared_type)
    if detected != declared_type:
        found = f"a {_NAMES[detected]} image" if detected is not None else "not an image of a supported type"
        return ImageCheck(detected, None, None, f"the file was declared {expected} but is {found}")
    size = image_size(head, declared_type)
    if size is None:
        return ImageCheck(detected, None, None, f"the {expected} image's width and height could not be read")
    return ImageCheck(detected, size[0], size[1], None)


def _png(head: bytes) -> tuple[int, int] | None:
    # signature, then the IHDR chunk first: length 13, type, width, height (big-endian)
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _gif(head: bytes) -> tuple[int, int] | None:
    # the logical screen descriptor: width, height (little-endian) after the 6-byte header
    if len(head) < 10:
        return None
    width, height = struct.unpack("<HH", head[6:10])
    return width, height


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 ":  # lossy: frame tag (3), start code 9d 01 2a, 14-bit sizes
        if len(head) < 30 or head[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: signature 0x2f, then 14 bits width-1, 14 bits height-1
        if len(head) < 25 or head[20] != 0x2F:
            return None
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: flags (4), canvas width-1 and height-1 (24 bits each)
        if len(head) < 30:
            return None
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg(head: bytes) -> tuple[int, int] | None:
    # walk the segments after SOI until a SOF; each step moves forward, so this ends
    i, end = 2, len(head)
    while i < end:
        if head[i] != 0xFF:
            return None  # not at a marker: corrupt
        while i < end and head[i] == 0xFF:  # fill bytes
            i += 1
        if i >= end:
            return None
        marker = head[i]
        i += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA) or marker == 0x00:
            return None  # a second SOI, the end, or scan data before any frame header
        if i + 2 > end:
            return None
        (length,) = struct.unpack(">H", head[i : i + 2])
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            if length < 7 or i + 7 > end:
                return None
            height, width = struct.unpack(">HH", head[i + 3 : i + 7])
            return width, height
        i += length
    return None
