"""The blob-storage port: where the files of attachments live (S3 on AWS, the node's disk in the
embedded mode), and the small values it answers with.

A file goes through two states. *Pending*: it arrived through an upload slot and no message
refers to it yet; pending files older than a day are removed (an S3 lifecycle rule, or
`remove_stale_pending` for the local store). *Claimed*: a message refers to it (`claim`); only a
`delete` removes it then. Every method may raise `chat_core.errors.Unavailable` when the backing
service does not answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeAlias

from ..errors import Invalid

_SAFE_ID = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,127}")
"""The chat id alphabet of the protocol, minus a leading dot: every id is also a path component
of the local store, so `.` and `..` must never be one."""


def blob_key(chat_id: str, attachment_id: str) -> str:
    """Where an attachment's file lives: `attachments/{chat_id}/{attachment_id}` (the S3 object
    key; the local store's path below its state directory). Raises Invalid for an id that
    could not be a path component."""
    for value in (chat_id, attachment_id):
        if not _SAFE_ID.fullmatch(value):
            raise Invalid("not an attachment id")
    return f"attachments/{chat_id}/{attachment_id}"


@dataclass(frozen=True, slots=True)
class UploadSlot:
    """How a client sends one file: the `upload` object of `request_upload` (protocol.md)."""

    method: Literal["PUT", "POST"]
    """`POST`: a multipart form, `fields` first, then the file as the field `file` (S3).
    `PUT`: the raw bytes as the body, with `headers` (the embedded mode)."""
    url: str
    fields: dict[str, str]
    """POST: the form fields to send before the file, in this order."""
    headers: dict[str, str]
    """PUT: the request headers (Content-Type)."""
    expires_at_ms: int
    """After this the slot refuses the upload."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What arrived: the stored file's size in bytes and the content type it was stored with."""

    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class DownloadRedirect:
    """Send the client there (a short-lived presigned URL)."""

    url: str


@dataclass(frozen=True, slots=True)
class DownloadFile:
    """Stream this local file, with this content type."""

    path: Path
    content_type: str


Download: TypeAlias = DownloadRedirect | DownloadFile


class BlobStore(Protocol):
    async def upload_slot(
        self, chat_id: str, attachment_id: str, content_type: str, size: int, expires_s: int
    ) -> UploadSlot:
        """A slot that accepts exactly one file of exactly `size` bytes and this content type
        for the attachment, for `expires_s` seconds. Stores nothing: the upload itself does.
        The caller has checked the type and the size against the settings."""
        ...

    async def stat(self, chat_id: str, attachment_id: str) -> BlobInfo | None:
        """The arrived file's size and type, pending or claimed; None when no file arrived (or
        it was deleted or expired)."""
        ...

    async def read_head(self, chat_id: str, attachment_id: str, n: int) -> bytes:
        """The first `n` bytes of the file (all of it when shorter), to check what an image
        really is (`images.IMAGE_HEAD_BYTES` is enough). NotFound when there is no file."""
        ...

    async def claim(self, chat_id: str, attachment_id: str) -> None:
        """A message now refers to the file: the expiry of unused uploads must leave it alone.
        Idempotent; NotFound when there is no file."""
        ...

    async def delete(self, chat_id: str, attachment_id: str) -> None:
        """Remove the file, pending or claimed. Idempotent (nothing there is fine)."""
        ...

    async def download(self, chat_id: str, attachment_id: str, name: str, content_type: str) -> Download:
        """How to hand a claimed file to a client that showed a valid download link: a redirect
        (S3; it names the file `name` and answers `content_type`) or a local file to stream.
        The local store raises NotFound for a file that is missing or not claimed; the S3 store
        does not look (S3 refuses the redirect's request then)."""
        ...

    async def remove_stale_pending(self, older_than_ms: int) -> int:
        """Remove pending files (and abandoned partial uploads) that arrived before
        `older_than_ms` (epoch ms); the number of pending files removed. 0 where storage
        expires them itself (S3's lifecycle rule)."""
        ...

    async def close(self) -> None:
        """Release clients and threads. Idempotent."""
        ...
