"""Builds the attachment adapters from `Settings` (as chat_core/assembly.py does the store)."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..errors import Invalid
from .blobs import BlobStore
from .signing import MIN_SECRET_BYTES, UrlSigner


def url_signer(settings: Settings) -> UrlSigner:
    """The signer of attachment URLs. Raises Invalid (the process must not start) when there is
    no secret to sign with: CHAT_URL_SECRET, else the HS256 token secret. Every process that
    serves the same clients needs the same secret (the nodes and the HTTP function alike)."""
    if settings.url_secret is None:
        raise Invalid(
            "attachments need a secret to sign their URLs: set CHAT_URL_SECRET (or CHAT_JWT_SECRET), "
            "or turn attachments off with CHAT_ATTACHMENT_TYPES="
        )
    secret = settings.url_secret.encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise Invalid(f"the secret that signs attachment URLs must have at least {MIN_SECRET_BYTES} bytes")
    return UrlSigner(secret, public_url=settings.public_url, download_ttl_s=settings.attachment_url_ttl_s)


async def open_blob_store(settings: Settings) -> BlobStore:
    """S3 when CHAT_ATTACHMENT_BUCKET is set, else files in CHAT_ATTACHMENT_DIR (whose upload
    URLs need `url_signer`, so this raises Invalid without a secret). boto3 is imported only
    for S3."""
    if settings.attachment_bucket:
        from .s3_blobs import S3BlobStore

        return await S3BlobStore.open(settings.attachment_bucket)
    from .local_blobs import LocalBlobStore

    return LocalBlobStore(Path(settings.attachment_dir), url_signer(settings))
