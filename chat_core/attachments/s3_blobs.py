"""The blob store on S3 (the AWS deployment): clients upload straight to the bucket with a
presigned POST and download through a short-lived presigned GET; no file passes through a node.

Objects are `attachments/{chatId}/{attachmentId}` (`blob_key`). An upload is stored with the tag
`chat-state=pending` (the POST policy demands it), and a bucket lifecycle rule (template.yaml)
expires pending objects after a day; `claim` removes the tag, so only `delete` removes a file a
message refers to. boto3 is synchronous: its calls run on a thread pool of this store's own, as
the DynamoDB store's do. Endpoint, region and credentials come from the environment
(`AWS_ENDPOINT_URL_S3` for a local endpoint).

Known gap: a presigned POST stays usable until it expires (15 minutes), so the uploader could
re-upload after sending the message; the object would then be pending again (S3 has no
write-once condition for POST). Only the uploader's own message can suffer from it.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..aws_client import client_config, open_client
from ..clock import now_ms
from ..errors import NotFound, Unavailable
from .blobs import BlobInfo, Download, DownloadRedirect, UploadSlot, blob_key
from .disposition import content_disposition

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

    from .blobs import BlobStore

T = TypeVar("T")

PENDING_TAG_KEY: Final = "chat-state"
PENDING_TAG_VALUE: Final = "pending"
PENDING_TAGGING: Final = (
    f"<Tagging><TagSet><Tag><Key>{PENDING_TAG_KEY}</Key><Value>{PENDING_TAG_VALUE}</Value></Tag></TagSet></Tagging>"
)
"""The POST form's `tagging` field; template.yaml's lifecycle rule filters on the same tag."""
DOWNLOAD_URL_TTL_S: Final = 300
TRANSIENT: Final = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "503",
        "InternalError",
        "500",
        "RequestTimeout",
    }
)
MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})


class S3BlobStore:
    def __init__(self, bucket: str, client: S3Client, executor: ThreadPoolExecutor) -> None:
        """Files in `bucket` through `client`, whose calls run on `executor`; `close` shuts both."""
        self._bucket = bucket
        self._client = client
        self._executor = executor
        self._closed = False

    @classmethod
    async def open(cls, bucket: str, *, workers: int = 16) -> S3BlobStore:
        """A store on an existing bucket; endpoint, region, credentials from the environment,
        retries as the DynamoDB store's (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`)."""
        # SigV4 everywhere (presigned URLs included); virtual-host addressing unless an
        # endpoint is set (a local emulator serves path-style)
        local = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        addressing = "path" if local else "virtual"
        config = client_config(workers, signature_version="s3v4", s3={"addressing_style": addressing})
        client, executor = await open_client("s3", config, workers)
        return cls(bucket, client, executor)

    @property
    def bucket(self) -> str:
        return self._bucket

    async def _run(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except RuntimeError as closed:  # the executor was shut down: the store is closed
            raise Unavailable("blob store is closed") from closed
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in TRANSIENT:
                raise Unavailable(f"S3 {operation}: {code}") from error
            raise
        except BotoCoreError as error:  # connection failures, timeouts, credentials not reachable
            raise Unavailable(f"S3 {operation}: {type(error).__name__}") from error

    # --- the port --------------------------------------------------------------------------------
    async def upload_slot(
        self, chat_id: str, attachment_id: str, content_type: str, size: int, expires_s: int
    ) -> UploadSlot:
        """A presigned `POST`: exactly this key, this Content-Type, exactly `size` bytes and the
        pending tag, or S3 refuses the upload."""
        key = blob_key(chat_id, attachment_id)
        expires_at_ms = now_ms() + expires_s * 1000
        fields = {"Content-Type": content_type, "tagging": PENDING_TAGGING}
        conditions: list[Any] = [
            {"Content-Type": content_type},
            {"tagging": PENDING_TAGGING},
            ["content-length-range", size, size],
        ]
        # boto3 adds the bucket and exact-key conditions itself; signing is local, but finding
        # the credentials may call the container's credential endpoint: off the event loop
        post = await self._run(
            "presign POST",
            functools.partial(
                self._client.generate_presigned_post,
                self._bucket,
                key,
                Fields=fields,
                Conditions=conditions,
                ExpiresIn=expires_s,
            ),
        )
        return UploadSlot("POST", post["url"], {k: str(v) for k, v in post["fields"].items()}, {}, expires_at_ms)

    async def stat(self, chat_id: str, attachment_id: str) -> BlobInfo | None:
        key = blob_key(chat_id, attachment_id)
        try:
            head = await self._run(
                "HeadObject", functools.partial(self._client.head_object, Bucket=self._bucket, Key=key)
            )
        except ClientError as error:
            if _code(error) in MISSING:
                return None
            raise
        return BlobInfo(int(head["ContentLength"]), head.get("ContentType") or "application/octet-stream")

    async def read_head(self, chat_id: str, attachment_id: str, n: int) -> bytes:
        key = blob_key(chat_id, attachment_id)

        def ranged_get() -> bytes:
            answer = self._client.get_object(Bucket=self._bucket, Key=key, Range=f"bytes=0-{max(0, n - 1)}")
            with answer["Body"] as body:
                return body.read(n)

        try:
            return await self._run("GetObject", ranged_get)
        except ClientError as error:
            if _code(error) in MISSING:
                raise NotFound("the attachment's file has not arrived") from None
            if _code(error) == "InvalidRange":  # an empty object
                return b""
            raise

    async def claim(self, chat_id: str, attachment_id: str) -> None:
        key = blob_key(chat_id, attachment_id)
        try:
            await self._run(
                "DeleteObjectTagging",
                functools.partial(self._client.delete_object_tagging, Bucket=self._bucket, Key=key),
            )
        except ClientError as error:
            if _code(error) in MISSING:
                raise NotFound("the attachment's file has not arrived") from None
            raise

    async def delete(self, chat_id: str, attachment_id: str) -> None:
        key = blob_key(chat_id, attachment_id)
        await self._run("DeleteObject", functools.partial(self._client.delete_object, Bucket=self._bucket, Key=key))

    async def download(self, chat_id: str, attachment_id: str, name: str, content_type: str) -> Download:
        """A presigned GET valid DOWNLOAD_URL_TTL_S that answers `content_type`, names the file
        `name` (inline for checked images) and may be cached privately. No request to S3."""
        params = {
            "Bucket": self._bucket,
            "Key": blob_key(chat_id, attachment_id),
            "ResponseContentType": content_type,
            "ResponseContentDisposition": content_disposition(name, content_type),
            "ResponseCacheControl": f"private, max-age={DOWNLOAD_URL_TTL_S}",
        }
        url = await self._run(
            "presign GET",
            functools.partial(
                self._client.generate_presigned_url, "get_object", Params=params, ExpiresIn=DOWNLOAD_URL_TTL_S
            ),
        )
        return DownloadRedirect(url)

    async def remove_stale_pending(self, older_than_ms: int) -> int:
        """Nothing to do: the bucket's lifecycle rule expires pending objects."""
        return 0

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._client.close)
        self._executor.shutdown(wait=True)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


if TYPE_CHECKING:
    _: BlobStore = S3BlobStore("bucket", boto3.client("s3"), ThreadPoolExecutor())
