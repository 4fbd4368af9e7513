"""Attachments as the service sees them: hand out an upload slot, check an uploaded file before a
message refers to it, sign the URLs members fetch files with, remove files that are gone.

The bytes never pass through here: the client uploads straight to blob storage (S3 with a
presigned POST, or the node's disk in the embedded mode) and the message keeps a copy of the
attachment record (name, type, size, an image's width and height)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from . import payloads
from .attachments.blobs import BlobStore, UploadSlot
from .attachments.images import IMAGE_HEAD_BYTES, IMAGE_TYPES, check_image
from .attachments.signing import UrlSigner
from .errors import ChatError, Invalid, NotFound, TooLarge
from .ids import attachment_id
from .models import Attachment
from .ports import ATTACHMENT_RECORD_TTL_MS, Store

log = logging.getLogger("chat.uploads")

UPLOAD_SLOT_S = 15 * 60
"""How long an upload slot accepts the file."""


@dataclass(frozen=True, slots=True)
class UploadOffer:
    attachment: Attachment
    slot: UploadSlot


class Uploads:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        signer: UrlSigner,
        *,
        max_bytes: int,
        content_types: frozenset[str],
        url_ttl_s: int,
        clock: Callable[[], int],
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.signer = signer
        self.max_bytes = max_bytes
        self.content_types = content_types
        self.url_ttl_s = url_ttl_s
        self._clock = clock

    async def offer(self, user_id: str, request: payloads.RequestUpload) -> UploadOffer:
        """Record the attachment and hand out the slot its file is uploaded to."""
        if request.content_type not in self.content_types:
            allowed = ", ".join(sorted(self.content_types))
            raise Invalid(f"contentType {request.content_type} is not accepted (accepted: {allowed})")
        if request.size > self.max_bytes:
            raise TooLarge(f"a file may have at most {self.max_bytes} bytes")
        now = self._clock()
        attachment = Attachment(
            attachment_id(), request.chat_id, user_id, request.file_name, request.content_type, request.size, now
        )
        await self.store.put_attachment(attachment)
        slot = await self.blobs.upload_slot(
            attachment.chat_id, attachment.id, attachment.content_type, attachment.size, UPLOAD_SLOT_S
        )
        return UploadOffer(attachment, slot)

    async def for_message(self, user_id: str, chat_id: str, attachment_ids: Sequence[str]) -> tuple[Attachment, ...]:
        """The attachments a message of user_id in chat_id refers to, checked: uploaded by that
        user to that chat, the file there with its declared size, an image really one of its
        declared type (with its width and height). Claimed, so the expiry of unused uploads
        leaves them alone."""
        records = await self.store.get_attachments(chat_id, attachment_ids)
        checked = []
        for wanted in attachment_ids:
            record = records.get(wanted)
            if record is None or record.uploader_id != user_id:
                raise NotFound(f"attachment {wanted} not found")
            checked.append(await self._check_file(record))
        for attachment in checked:
            await self.blobs.claim(attachment.chat_id, attachment.id)
        return tuple(checked)

    async def _check_file(self, attachment: Attachment) -> Attachment:
        found = await self.blobs.stat(attachment.chat_id, attachment.id)
        if found is None:
            raise Invalid(f"attachment {attachment.id} has not been uploaded yet")
        if found.size != attachment.size:
            raise Invalid(f"attachment {attachment.id} has {found.size} bytes, not the {attachment.size} declared")
        if attachment.content_type not in IMAGE_TYPES:
            return attachment
        head = await self.blobs.read_head(attachment.chat_id, attachment.id, IMAGE_HEAD_BYTES)
        verdict = check_image(head, attachment.content_type)
        if not verdict.ok:
            raise Invalid(f"attachment {attachment.id}: {verdict.problem}")
        return replace(attachment, width=verdict.width, height=verdict.height)

    def url_for(self, attachment: Attachment) -> str:
        a = attachment
        return self.signer.download_url(a.chat_id, a.id, self._clock(), name=a.name, content_type=a.content_type)

    async def delete_files(self, attachments: Sequence[Attachment]) -> None:
        """The files of a deleted message: gone from blob storage (a failure is logged; the
        message no longer refers to them either way)."""
        for attachment in attachments:
            try:
                await self.blobs.delete(attachment.chat_id, attachment.id)
            except (ChatError, OSError):
                log.warning("could not delete an attachment's file", extra={"attachment": attachment.id})

    async def remove_stale(self) -> int:
        """Upload slots never used: their records and pending files, a day after they were
        handed out (the cleanup job)."""
        before = self._clock() - ATTACHMENT_RECORD_TTL_MS
        return await self.store.forget_stale_attachments(before) + await self.blobs.remove_stale_pending(before)
