"""Attachments: the blob-storage port and its two adapters (local disk, S3), signed URLs, image
checks and the two HTTP routes. `assembly.open_blob_store(settings)` picks the adapter.

Importing this package imports nothing heavy (no boto3, no Starlette): the service may use it.
"""

from __future__ import annotations

from .blobs import BlobInfo, BlobStore, Download, DownloadFile, DownloadRedirect, UploadSlot, blob_key

__all__ = ["BlobInfo", "BlobStore", "Download", "DownloadFile", "DownloadRedirect", "UploadSlot", "blob_key"]
