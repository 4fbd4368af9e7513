"""chat_core.attachments.local_blobs: the embedded mode's files, on a real disk (tmp_path)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from chat_core.attachments.blobs import BlobInfo, DownloadFile
from chat_core.attachments.local_blobs import LocalBlobStore
from chat_core.attachments.signing import UrlSigner
from chat_core.errors import Forbidden, Invalid, NotFound, TooLarge
from tests.support.clock import Clock

DAY_MS = 24 * 3600 * 1000


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path, signer: UrlSigner, clock: Clock) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "files", signer, clock=clock)


async def test_the_slot_is_a_signed_put_that_binds_chat_size_and_type(
    store: LocalBlobStore, signer: UrlSigner, clock: Clock
) -> None:
    slot = await store.upload_slot("g_chat", "a_one", "image/png", 1234, 900)
    assert slot.method == "PUT" and slot.fields == {} and slot.headers == {"Content-Type": "image/png"}
    assert slot.url.startswith("/v1/uploads/a_one?")
    assert slot.expires_at_ms == clock.now + 900_000
    grant = signer.verify_upload("a_one", dict(parse_qsl(urlsplit(slot.url).query)), clock.now)
    assert (grant.chat_id, grant.content_type, grant.size) == ("g_chat", "image/png", 1234)
    assert grant.expires_at_s * 1000 == slot.expires_at_ms
    assert await store.stat("g_chat", "a_one") is None  # a slot stores nothing


async def test_an_upload_of_exactly_the_declared_size_arrives_whole(store: LocalBlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)  # more than one write batch
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    assert await store.receive("g_chat", "a_one", "application/pdf", len(data), body(*chunks)) == BlobInfo(
        len(data), "application/pdf"
    )
    assert await store.stat("g_chat", "a_one") == BlobInfo(len(data), "application/pdf")
    assert await store.read_head("g_chat", "a_one", 10) == data[:10]
    assert await store.read_head("g_chat", "a_one", 10**9) == data
    assert files_under(store.root) == ["pending/g_chat/a_one/data", "pending/g_chat/a_one/meta.json"]


async def test_a_half_written_upload_is_never_visible(store: LocalBlobStore) -> None:
    seen: list[BlobInfo | None] = []

    async def slow() -> AsyncIterator[bytes]:
        yield b"abc"
        seen.append(await store.stat("g_chat", "a_one"))
        yield b"def"

    await store.receive("g_chat", "a_one", "text/plain", 6, slow())
    assert seen == [None]
    assert await store.stat("g_chat", "a_one") == BlobInfo(6, "text/plain")


@pytest.mark.parametrize(
    ("chunks", "error", "message"),
    [
        ((b"12345", b"67"), TooLarge, "larger than the 6 bytes declared"),
        ((b"1234567",), TooLarge, "larger than the 6 bytes declared"),
        ((b"123", b"45"), Invalid, "after 5 of the 6 bytes declared"),
        ((), Invalid, "after 0 of the 6 bytes declared"),
    ],
)
async def test_more_or_fewer_bytes_than_declared_are_refused_and_nothing_stays(
    store: LocalBlobStore, chunks: Iterable[bytes], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await store.receive("g_chat", "a_one", "text/plain", 6, body(*chunks))
    assert await store.stat("g_chat", "a_one") is None
    assert files_under(store.root) == []


async def test_a_retried_upload_replaces_the_pending_file(store: LocalBlobStore) -> None:
    await store.receive("g_chat", "a_one", "text/plain", 3, body(b"old"))
    await store.receive("g_chat", "a_one", "text/plain", 3, body(b"new"))
    assert await store.read_head("g_chat", "a_one", 3) == b"new"
    assert files_under(store.root) == ["pending/g_chat/a_one/data", "pending/g_chat/a_one/meta.json"]


async def test_claim_keeps_the_file_and_refuses_another_upload(store: LocalBlobStore) -> None:
    await store.receive("g_chat", "a_one", "image/png", 4, body(b"\x89PNG"))
    with pytest.raises(NotFound):
        await store.download("g_chat", "a_one", "x.png", "image/png")  # not in a message yet
    await store.claim("g_chat", "a_one")
    await store.claim("g_chat", "a_one")  # idempotent
    assert files_under(store.root) == ["claimed/g_chat/a_one/data", "claimed/g_chat/a_one/meta.json"]
    assert await store.stat("g_chat", "a_one") == BlobInfo(4, "image/png")
    with pytest.raises(Forbidden, match="already in a message"):
        await store.receive("g_chat", "a_one", "image/png", 4, body(b"evil"))
    assert await store.read_head("g_chat", "a_one", 4) == b"\x89PNG"
    found = await store.download("g_chat", "a_one", "x.png", "image/png")
    assert isinstance(found, DownloadFile) and found.content_type == "image/png"
    assert found.path.read_bytes() == b"\x89PNG"


async def test_claiming_or_reading_a_file_that_never_arrived_is_not_found(store: LocalBlobStore) -> None:
    with pytest.raises(NotFound):
        await store.claim("g_chat", "a_none")
    with pytest.raises(NotFound):
        await store.read_head("g_chat", "a_none", 10)
    with pytest.raises(NotFound):
        await store.download("g_chat", "a_none", "x", "text/plain")


async def test_delete_removes_pending_or_claimed_files_and_may_repeat(store: LocalBlobStore) -> None:
    await store.receive("g_chat", "a_pending", "text/plain", 1, body(b"p"))
    await store.receive("g_chat", "a_claimed", "text/plain", 1, body(b"c"))
    await store.claim("g_chat", "a_claimed")
    for attachment in ("a_pending", "a_claimed", "a_claimed", "a_never"):
        await store.delete("g_chat", attachment)
    assert await store.stat("g_chat", "a_pending") is None and await store.stat("g_chat", "a_claimed") is None
    assert files_under(store.root) == []


async def test_remove_stale_pending_removes_only_old_unclaimed_files(store: LocalBlobStore, clock: Clock) -> None:
    await store.receive("g_chat", "a_old", "text/plain", 1, body(b"o"))
    await store.receive("g_chat", "a_old_claimed", "text/plain", 1, body(b"c"))
    await store.claim("g_chat", "a_old_claimed")
    leftover = store.root / "tmp" / "cut-off-upload"  # a crash in the middle of an upload
    leftover.mkdir()
    (leftover / "data").write_bytes(b"half")
    old_s = (clock.now - 1000) / 1000
    os.utime(leftover, (old_s, old_s))
    clock.advance(DAY_MS)
    await store.receive("d_other", "a_recent", "text/plain", 1, body(b"r"))
    assert await store.remove_stale_pending(clock.now - DAY_MS + 1) == 1
    assert await store.stat("g_chat", "a_old") is None
    assert await store.stat("g_chat", "a_old_claimed") == BlobInfo(1, "text/plain")
    assert await store.stat("d_other", "a_recent") == BlobInfo(1, "text/plain")
    assert not leftover.exists()
    assert await store.remove_stale_pending(clock.now - DAY_MS + 1) == 0


@pytest.mark.parametrize(("chat", "attachment"), [("..", "a_x"), ("g_chat", ".."), ("g/x", "a_x"), ("g_c", ".hidden")])
async def test_ids_that_are_not_safe_path_components_are_refused(
    store: LocalBlobStore, chat: str, attachment: str
) -> None:
    with pytest.raises(Invalid):
        await store.receive(chat, attachment, "text/plain", 1, body(b"x"))
    with pytest.raises(Invalid):
        await store.stat(chat, attachment)
    assert files_under(store.root.parent) == []
