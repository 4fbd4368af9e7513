"""The two HTTP routes of attachments; a signed URL is the only credential either takes.

    PUT /v1/uploads/{attachmentId}?chat=&size=&type=&exp=&sig=      (embedded mode only)
        the raw bytes, `Content-Type` as signed -> 204; 403 forged/expired, 400 wrong type or
        too few bytes, 413 too many, 403 once a message refers to the attachment
    GET /v1/attachments/{chatId}/{attachmentId}?n=&t=&exp=&sig=
        the file (embedded mode) or a 302 to a presigned S3 URL; 403 forged/expired, 404 gone

Errors are the HTTP API's `{"error": {code, message}}` (chat_core.http.app.error_response).
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ..clock import now_ms
from ..errors import ChatError, Invalid, NotFound, TooLarge
from .blobs import BlobStore, DownloadFile
from .disposition import content_disposition
from .local_blobs import LocalBlobStore
from .signing import UrlSigner

REDIRECT_MAX_AGE_S = 240
"""Under the presigned URL's 5 minutes: a browser that reuses the cached redirect still gets in."""
FILE_MAX_AGE_S = 3600


def attachment_routes(blobs: BlobStore, signer: UrlSigner, *, clock: Callable[[], int] = now_ms) -> list[Route]:
    """The download route, and the upload route when `blobs` is the local store (on S3 clients
    upload to the bucket). Mount them in the HTTP app before any catch-all mount."""
    download = _download_endpoint(blobs, signer, clock)
    routes = [Route("/v1/attachments/{chat_id}/{attachment_id}", download, methods=["GET"])]
    if isinstance(blobs, LocalBlobStore):
        routes.append(Route("/v1/uploads/{attachment_id}", _upload_endpoint(blobs, signer, clock), methods=["PUT"]))
    return routes


def _error(error: ChatError) -> Response:
    from ..http.app import error_response  # on use: app.py mounts these routes

    return error_response(error)


def _download_endpoint(
    blobs: BlobStore, signer: UrlSigner, clock: Callable[[], int]
) -> Callable[[Request], Awaitable[Response]]:
    async def download(request: Request) -> Response:
        return await download_response(request, blobs, signer, clock())

    return download


def _upload_endpoint(
    blobs: LocalBlobStore, signer: UrlSigner, clock: Callable[[], int]
) -> Callable[[Request], Awaitable[Response]]:
    async def upload(request: Request) -> Response:
        return await upload_response(request, blobs, signer, clock())

    return upload


async def download_response(request: Request, blobs: BlobStore, signer: UrlSigner, now: int) -> Response:
    """GET /v1/attachments/{chat_id}/{attachment_id}: the file, or a redirect to it."""
    try:
        grant = signer.verify_download(
            request.path_params["chat_id"], request.path_params["attachment_id"], request.query_params, now
        )
        found = await blobs.download(grant.chat_id, grant.attachment_id, grant.name, grant.content_type)
    except ChatError as error:
        return _error(error)
    if not isinstance(found, DownloadFile):
        return RedirectResponse(
            found.url, status_code=302, headers={"Cache-Control": f"private, max-age={REDIRECT_MAX_AGE_S}"}
        )
    # opened here and read from the open file: a delete of the message meanwhile (its file
    # removed in the background) answers 404 or the whole file, never half of one or a 500
    try:
        handle: BinaryIO = await asyncio.to_thread(open, found.path, "rb")
    except FileNotFoundError:
        return _error(NotFound("attachment not found"))
    size = os.fstat(handle.fileno()).st_size
    # the link's URL is stable for a while (signing.py): cache until it expires, at most an hour
    max_age = max(0, min(FILE_MAX_AGE_S, math.floor(grant.expires_at_s - now / 1000)))
    return StreamingResponse(
        _chunks(handle),
        media_type=grant.content_type,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": content_disposition(grant.name, grant.content_type),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": f"private, max-age={max_age}",
        },
    )


async def _chunks(handle: BinaryIO, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk
    finally:
        handle.close()


async def upload_response(request: Request, blobs: LocalBlobStore, signer: UrlSigner, now: int) -> Response:
    """PUT /v1/uploads/{attachment_id} (embedded mode): the raw bytes of the file."""
    try:
        grant = signer.verify_upload(request.path_params["attachment_id"], request.query_params, now)
        sent_type = request.headers.get("content-type", "")
        if sent_type.strip().lower() != grant.content_type.lower():
            raise Invalid(f"Content-Type must be {grant.content_type}, as in the upload slot")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > grant.size:
                raise TooLarge(f"the file is larger than the {grant.size} bytes declared")
            if int(declared) < grant.size:
                raise Invalid(f"the file is shorter than the {grant.size} bytes declared")
        await blobs.receive(grant.chat_id, grant.attachment_id, grant.content_type, grant.size, request.stream())
    except ChatError as error:
        return _error(error)
    return Response(status_code=204)
