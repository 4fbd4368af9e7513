"""The embedded mode's blob store: files on the node's disk (by default beside the SQLite file).

    {root}/tmp/{random}/                   an upload being written, or files being deleted
    {root}/pending/{chatId}/{attachmentId}/data, meta.json    arrived, no message refers to it
    {root}/claimed/{chatId}/{attachmentId}/data, meta.json    a message refers to it

A file is written under `tmp/` and appears in `pending/` by one rename of its directory, so a
reader never sees half a file; `claim` is one rename from `pending/` to `claimed/`, and a delete
renames into `tmp/` before removing. `meta.json` keeps the content type and the arrival time.
Uploads come through `receive` (the `PUT /v1/uploads/...` route), whose URL `UrlSigner` signs.
Nodes may share the directory if it is one filesystem (the renames stay atomic), as the compose
cluster's volume is; else several nodes need S3.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import uuid
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson

from ..clock import now_ms
from ..errors import Forbidden, Invalid, NotFound, TooLarge
from .blobs import BlobInfo, Download, DownloadFile, UploadSlot, blob_key
from .signing import UrlSigner

if TYPE_CHECKING:
    from .blobs import BlobStore

PENDING = "pending"
CLAIMED = "claimed"
TMP = "tmp"
DATA = "data"
META = "meta.json"
WRITE_BATCH = 1 << 20
"""Body chunks are gathered up to this many bytes per write (one thread hop per write)."""
_TARGET_TAKEN = frozenset({errno.ENOTEMPTY, errno.EEXIST})
"""What rename(2) says when the target directory exists and is not empty."""


class LocalBlobStore:
    def __init__(self, root: Path, signer: UrlSigner, *, clock: Callable[[], int] = now_ms) -> None:
        """Files under `root` (created if missing). `signer` signs the upload URLs (and knows
        the public base URL, if any)."""
        self._root = root
        self._signer = signer
        self._clock = clock
        for state in (TMP, PENDING, CLAIMED):
            (root / state).mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    def _dir(self, state: str, chat_id: str, attachment_id: str) -> Path:
        blob_key(chat_id, attachment_id)  # refuses ids that are not safe path components
        return self._root / state / chat_id / attachment_id

    def _scratch(self) -> Path:
        return self._root / TMP / uuid.uuid4().hex

    # --- the port --------------------------------------------------------------------------------
    async def upload_slot(
        self, chat_id: str, attachment_id: str, content_type: str, size: int, expires_s: int
    ) -> UploadSlot:
        """`PUT` of the raw bytes to the signed `/v1/uploads/{attachmentId}?...` URL, with the
        `Content-Type` header."""
        expires_at_s = -(-(self._clock() + expires_s * 1000) // 1000)
        url = self._signer.upload_url(chat_id, attachment_id, content_type, size, expires_at_s)
        return UploadSlot("PUT", url, {}, {"Content-Type": content_type}, expires_at_s * 1000)

    async def stat(self, chat_id: str, attachment_id: str) -> BlobInfo | None:
        claimed, pending = self._dir(CLAIMED, chat_id, attachment_id), self._dir(PENDING, chat_id, attachment_id)
        return await asyncio.to_thread(_stat, claimed, pending)

    async def read_head(self, chat_id: str, attachment_id: str, n: int) -> bytes:
        claimed, pending = self._dir(CLAIMED, chat_id, attachment_id), self._dir(PENDING, chat_id, attachment_id)
        return await asyncio.to_thread(_read_head, claimed, pending, n)

    async def claim(self, chat_id: str, attachment_id: str) -> None:
        pending, claimed = self._dir(PENDING, chat_id, attachment_id), self._dir(CLAIMED, chat_id, attachment_id)
        await asyncio.to_thread(_claim, pending, claimed)

    async def delete(self, chat_id: str, attachment_id: str) -> None:
        dirs = [self._dir(state, chat_id, attachment_id) for state in (PENDING, CLAIMED)]
        await asyncio.to_thread(_remove_all, dirs, self._scratch)

    async def download(self, chat_id: str, attachment_id: str, name: str, content_type: str) -> Download:
        """The claimed file to stream (`name` is the route's business: Content-Disposition)."""
        path = self._dir(CLAIMED, chat_id, attachment_id) / DATA
        if not await asyncio.to_thread(path.is_file):
            raise NotFound("no such attachment")
        return DownloadFile(path, content_type)

    async def remove_stale_pending(self, older_than_ms: int) -> int:
        return await asyncio.to_thread(_remove_stale, self._root, older_than_ms, self._scratch)

    async def close(self) -> None:
        return None

    # --- the upload route's side ---------------------------------------------------------------------
    async def receive(
        self, chat_id: str, attachment_id: str, content_type: str, size: int, body: AsyncIterable[bytes]
    ) -> BlobInfo:
        """Store an upload's body as the attachment's pending file: exactly `size` bytes
        (TooLarge as soon as more arrive, Invalid when fewer did; nothing is kept then).
        Replaces a pending file (a retried upload); Forbidden once a message refers to it."""
        pending, claimed = self._dir(PENDING, chat_id, attachment_id), self._dir(CLAIMED, chat_id, attachment_id)
        if await asyncio.to_thread(claimed.is_dir):
            raise Forbidden("this attachment is already in a message")
        work = self._scratch()
        await asyncio.to_thread(work.mkdir)
        try:
            file = await asyncio.to_thread(open, work / DATA, "xb")
            try:
                received = await _write_exactly(file, body, size)
                await asyncio.to_thread(_sync, file)
            finally:
                await asyncio.to_thread(file.close)
            meta = orjson.dumps({"contentType": content_type, "size": received, "receivedAtMs": self._clock()})
            await asyncio.to_thread((work / META).write_bytes, meta)
            await asyncio.to_thread(_publish, work, pending, claimed, self._scratch)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)  # blocking, but only a failed upload's scratch
            raise
        return BlobInfo(received, content_type)


async def _write_exactly(file: IO[bytes], body: AsyncIterable[bytes], size: int) -> int:
    received = 0
    batch: list[bytes] = []
    batched = 0
    async for chunk in body:
        received += len(chunk)
        if received > size:
            raise TooLarge(f"the file is larger than the {size} bytes declared")
        batch.append(chunk)
        batched += len(chunk)
        if batched >= WRITE_BATCH:
            await asyncio.to_thread(file.write, b"".join(batch))
            batch, batched = [], 0
    if batch:
        await asyncio.to_thread(file.write, b"".join(batch))
    if received < size:
        raise Invalid(f"the upload ended after {received} of the {size} bytes declared")
    return received


def _sync(file: IO[bytes]) -> None:
    file.flush()
    os.fsync(file.fileno())


def _publish(work: Path, pending: Path, claimed: Path, scratch: Callable[[], Path]) -> None:
    pending.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            os.rename(work, pending)
            break
        except FileNotFoundError:
            pending.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            if error.errno not in _TARGET_TAKEN:
                raise
            _remove_all([pending], scratch)  # a pending file is there: a retried upload replaces it
    else:
        raise Invalid("the attachment is being uploaded twice at once")
    if claimed.is_dir():  # claimed while this upload ran: the claimed file stays as it was
        _remove_all([pending], scratch)
        raise Forbidden("this attachment is already in a message")


def _meta_type(directory: Path) -> str:
    try:
        meta = orjson.loads((directory / META).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return "application/octet-stream"
    content_type = meta.get("contentType") if isinstance(meta, dict) else None
    return content_type if isinstance(content_type, str) else "application/octet-stream"


def _stat(*candidates: Path) -> BlobInfo | None:
    for directory in candidates:
        try:
            size = (directory / DATA).stat().st_size
        except FileNotFoundError:
            continue
        return BlobInfo(size, _meta_type(directory))
    return None


def _read_head(claimed: Path, pending: Path, n: int) -> bytes:
    for directory in (claimed, pending):
        try:
            with open(directory / DATA, "rb") as file:
                return file.read(max(0, n))
        except FileNotFoundError:
            continue
    raise NotFound("the attachment's file has not arrived")


def _claim(pending: Path, claimed: Path) -> None:
    claimed.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(pending, claimed)
    except FileNotFoundError:
        if not claimed.is_dir():
            raise NotFound("the attachment's file has not arrived") from None
    except OSError as error:
        if error.errno not in _TARGET_TAKEN:
            raise
        shutil.rmtree(pending, ignore_errors=True)  # claimed already; a later upload left a copy


def _remove_all(directories: list[Path], scratch: Callable[[], Path]) -> None:
    for directory in directories:
        trash = scratch()
        try:
            os.rename(directory, trash)  # gone from sight at once, then removed
        except FileNotFoundError:
            continue
        shutil.rmtree(trash, ignore_errors=True)


def _arrived_ms(directory: Path) -> int:
    try:
        meta = orjson.loads((directory / META).read_bytes())
        if isinstance(meta, dict) and isinstance(meta.get("receivedAtMs"), int):
            return int(meta["receivedAtMs"])
    except (OSError, orjson.JSONDecodeError):
        pass
    try:
        return directory.stat().st_mtime_ns // 1_000_000
    except FileNotFoundError:
        return 1 << 62  # gone meanwhile: nothing to remove


def _remove_stale(root: Path, older_than_ms: int, scratch: Callable[[], Path]) -> int:
    removed = 0
    for chat_dir in _subdirs(root / PENDING):
        for directory in _subdirs(chat_dir):
            if _arrived_ms(directory) < older_than_ms:
                _remove_all([directory], scratch)
                removed += 1
    for leftover in _subdirs(root / TMP):  # uploads cut off by a crash, deletes cut off likewise
        try:
            stale = leftover.stat().st_mtime_ns // 1_000_000 < older_than_ms
        except FileNotFoundError:
            continue
        if stale:
            shutil.rmtree(leftover, ignore_errors=True)
    return removed


def _subdirs(directory: Path) -> list[Path]:
    try:
        return [entry for entry in directory.iterdir() if entry.is_dir()]
    except FileNotFoundError:
        return []


if TYPE_CHECKING:
    _: BlobStore = LocalBlobStore(Path(), UrlSigner(b""))
