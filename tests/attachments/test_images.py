"""chat_core.attachments.images: type by magic, width and height, and no crash on any input."""

from __future__ import annotations

import random

import pytest

from chat_core.attachments.images import IMAGE_HEAD_BYTES, check_image, image_size, sniff_image_type

from . import imagebytes

CASES = [
    ("image/png", imagebytes.png(3, 2), (3, 2)),
    ("image/png", imagebytes.png(1, 4000), (1, 4000)),
    ("image/gif", imagebytes.gif(640, 480), (640, 480)),
    ("image/jpeg", imagebytes.jpeg(1920, 1080), (1920, 1080)),
    ("image/jpeg", imagebytes.jpeg(17, 9, sof=0xC2), (17, 9)),  # progressive
    ("image/jpeg", imagebytes.jpeg(4032, 3024, app_bytes=200_000), (4032, 3024)),  # big EXIF first
    ("image/webp", imagebytes.webp_lossy(550, 368), (550, 368)),
    ("image/webp", imagebytes.webp_lossless(16383, 1), (16383, 1)),
    ("image/webp", imagebytes.webp_extended(20000, 3), (20000, 3)),
]


@pytest.mark.parametrize(("content_type", "data", "size"), CASES)
def test_each_type_is_recognised_and_measured(content_type: str, data: bytes, size: tuple[int, int]) -> None:
    assert sniff_image_type(data) == content_type
    assert image_size(data, content_type) == size
    check = check_image(data[:IMAGE_HEAD_BYTES], content_type)
    assert check.ok and (check.width, check.height) == size and check.detected_type == content_type


def test_a_file_of_another_type_is_refused_with_what_it_is() -> None:
    check = check_image(imagebytes.png(2, 2), "image/jpeg")
    assert not check.ok and check.width is None
    assert check.problem == "the file was declared JPEG but is a PNG image"
    html = check_image(b"<html><script>alert(1)</script>", "image/png")
    assert html.problem == "the file was declared PNG but is not an image of a supported type"
    assert html.detected_type is None


def test_a_jpeg_whose_frame_header_lies_beyond_the_head_has_no_known_size() -> None:
    data = imagebytes.jpeg(800, 600, app_bytes=IMAGE_HEAD_BYTES)
    assert image_size(data, "image/jpeg") == (800, 600)  # the whole file says it
    check = check_image(data[:IMAGE_HEAD_BYTES], "image/jpeg")
    assert check.detected_type == "image/jpeg" and not check.ok
    assert check.problem == "the JPEG image's width and height could not be read"


@pytest.mark.parametrize(("content_type", "data", "size"), CASES)
def test_every_truncation_answers_the_size_or_none(content_type: str, data: bytes, size: tuple[int, int]) -> None:
    # a cut file either still holds the size, or answers None: never another size, never a crash
    limit = min(len(data), 400)
    cuts = [*range(limit), *random.Random(7).sample(range(len(data)), min(len(data), 200))]
    answers = {image_size(data[:cut], content_type) for cut in cuts}
    assert answers <= {size, None} and None in answers
    for cut in cuts:
        assert check_image(data[:cut], content_type).ok == (image_size(data[:cut], content_type) is not None)


def test_zero_and_absurd_dimensions_are_not_believed() -> None:
    assert image_size(imagebytes.png(0, 5), "image/png") is None
    assert image_size(imagebytes.png(1 << 25, 5), "image/png") is None
    assert image_size(imagebytes.gif(0, 0), "image/gif") is None
    assert image_size(imagebytes.jpeg(5, 0), "image/jpeg") is None  # height defined later (DNL): unknown


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8\xff",
        b"\xff\xd8\xff\xe0\x00\x00",  # a segment length of 0 (would never advance)
        b"\xff\xd8\xff\xe0\x00\x01",  # a length of 1
        b"\xff\xd8" + b"\xff" * 10_000,  # fill bytes only
        b"\xff\xd8\xff\xe1\xff\xff" + b"\x00" * 100,  # a segment longer than the data
        b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 10,  # a scan before any frame header
        b"\xff\xd8\xff\xc0\x00\x05\x08\x00\x10",  # a frame header too short
        b"\xff\xd8\x00\x00",  # garbage where a marker must be
        b"\xff\xd8\xff\xd8\xff\xd8",  # SOI again
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x00",
        b"RIFF\x00\x00\x00\x00WEBPVP8Z" + b"\x00" * 40,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDX" + b"\x00" * 20,  # first chunk not IHDR
        b"GIF89a\x01",
    ],
)
def test_hostile_and_cut_inputs_give_a_clear_result(data: bytes) -> None:
    for content_type in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        assert image_size(data, content_type) is None
        assert not check_image(data, content_type).ok


def test_random_bytes_behind_real_magic_never_raise() -> None:
    rng = random.Random(16)
    magics = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"]
    for _ in range(3000):
        magic = rng.choice(magics)
        data = magic + rng.randbytes(rng.randrange(0, 300))
        content_type = sniff_image_type(data)
        assert content_type is not None
        size = image_size(data, content_type)
        assert size is None or (size[0] > 0 and size[1] > 0)
        check_image(data, content_type)
