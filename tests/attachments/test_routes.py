"""chat_core.attachments.routes in a tiny Starlette app, over httpx's ASGI transport (and, for
S3, on to the moto server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from chat_core.attachments.local_blobs import LocalBlobStore
from chat_core.attachments.routes import attachment_routes
from chat_core.attachments.s3_blobs import S3BlobStore
from chat_core.attachments.signing import UrlSigner
from tests.support.clock import Clock

from . import imagebytes

PNG = imagebytes.png(4, 3)


@pytest.fixture
def local(tmp_path: Path, signer: UrlSigner, clock: Clock) -> LocalBlobStore:
    return LocalBlobStore(tmp_path, signer, clock=clock)


@pytest.fixture
async def http(local: LocalBlobStore, signer: UrlSigner, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=attachment_routes(local, signer, clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as client:
        yield client


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query)), **changes}
    return parts.path + "?" + urlencode(query)


async def upload(http: httpx.AsyncClient, local: LocalBlobStore, data: bytes, content_type: str, name: str) -> str:
    """Upload through the route, claim as a message would, and answer the download link."""
    slot = await local.upload_slot("g_chat", name, content_type, len(data), 900)
    answer = await http.put(slot.url, content=data, headers=slot.headers)
    assert answer.status_code == 204, answer.text
    await local.claim("g_chat", name)
    return name


async def test_an_uploaded_image_is_served_inline_and_safely(
    http: httpx.AsyncClient, local: LocalBlobStore, signer: UrlSigner, clock: Clock
) -> None:
    await upload(http, local, PNG, "image/png", "a_img")
    url = signer.download_url("g_chat", "a_img", clock.now, name="cat.png", content_type="image/png")
    answer = await http.get(url)
    assert answer.status_code == 200 and answer.content == PNG
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["content-disposition"] == "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == "sandbox"
    assert answer.headers["cache-control"] == "private, max-age=3600"


async def test_other_files_are_downloads_and_the_cache_ends_with_the_link(
    http: httpx.AsyncClient, local: LocalBlobStore, signer: UrlSigner, clock: Clock
) -> None:
    await upload(http, local, b"<script>alert(1)</script>", "text/plain", "a_txt")
    url = signer.download_url("g_chat", "a_txt", clock.now, name="notes.txt", content_type="text/plain")
    exp_ms = int(dict(parse_qsl(urlsplit(url).query))["exp"]) * 1000
    clock.now = exp_ms - 90_500
    answer = await http.get(url)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["content-disposition"].startswith('attachment; filename="notes.txt"')
    assert answer.headers["cache-control"] == "private, max-age=90"


async def test_a_forged_or_expired_link_is_forbidden_and_a_deleted_file_is_gone(
    http: httpx.AsyncClient, local: LocalBlobStore, signer: UrlSigner, clock: Clock
) -> None:
    await upload(http, local, PNG, "image/png", "a_img")
    url = signer.download_url("g_chat", "a_img", clock.now, name="cat.png", content_type="image/png")
    for forged in (with_query(url, t="text/html"), with_query(url, sig="x"), url.replace("a_img", "a_imh")):
        answer = await http.get(forged)
        assert answer.status_code == 403
        assert answer.json() == {"error": {"code": "FORBIDDEN", "message": "invalid link signature"}}
    no_sig = await http.get(urlsplit(url).path)
    assert no_sig.json() == {"error": {"code": "FORBIDDEN", "message": "invalid link"}}
    clock.now = int(dict(parse_qsl(urlsplit(url).query))["exp"]) * 1000
    expired = await http.get(url)
    assert expired.status_code == 403 and expired.json()["error"]["message"] == "link expired"
    clock.now -= 1
    await local.delete("g_chat", "a_img")
    gone = await http.get(url)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"


async def test_a_file_no_message_refers_to_is_not_served(
    http: httpx.AsyncClient, local: LocalBlobStore, signer: UrlSigner, clock: Clock
) -> None:
    slot = await local.upload_slot("g_chat", "a_img", "image/png", len(PNG), 900)
    assert (await http.put(slot.url, content=PNG, headers=slot.headers)).status_code == 204
    url = signer.download_url("g_chat", "a_img", clock.now, name="cat.png", content_type="image/png")
    assert (await http.get(url)).status_code == 404


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (PNG + b"!", {}, 413, "TOO_LARGE"),  # Content-Length says it at once
        (PNG[:-1], {}, 400, "INVALID"),
        ("chunked-more", {}, 413, "TOO_LARGE"),  # no Content-Length: counted while streaming
        ("chunked-less", {}, 400, "INVALID"),
        (PNG, {"Content-Type": "text/html"}, 400, "INVALID"),
    ],
    ids=["more", "fewer", "chunked-more", "chunked-fewer", "other-type"],
)
async def test_an_upload_outside_its_slot_is_refused_and_nothing_is_kept(
    http: httpx.AsyncClient, local: LocalBlobStore, body: object, headers: dict[str, str], status: int, code: str
) -> None:
    slot = await local.upload_slot("g_chat", "a_img", "image/png", len(PNG), 900)
    content: bytes | AsyncIterator[bytes]
    if body == "chunked-more":
        content = _chunks(PNG[:10], PNG[10:], b"!")
    elif body == "chunked-less":
        content = _chunks(PNG[:10], PNG[10:-1])
    else:
        assert isinstance(body, bytes)
        content = body
    answer = await http.put(slot.url, content=content, headers={**slot.headers, **headers})
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert await local.stat("g_chat", "a_img") is None


async def test_an_altered_expired_or_used_upload_url_is_forbidden(
    http: httpx.AsyncClient, local: LocalBlobStore, clock: Clock
) -> None:
    slot = await local.upload_slot("g_chat", "a_img", "image/png", len(PNG), 900)
    bigger = with_query(slot.url, size=str(len(PNG) + 1))
    assert (await http.put(bigger, content=PNG + b"!", headers=slot.headers)).status_code == 403
    other_chat = with_query(slot.url, chat="g_other")
    assert (await http.put(other_chat, content=PNG, headers=slot.headers)).status_code == 403
    clock.advance(900_000)
    expired = await http.put(slot.url, content=PNG, headers=slot.headers)
    assert expired.status_code == 403 and expired.json()["error"]["message"] == "link expired"
    assert await local.stat("g_chat", "a_img") is None
    clock.advance(-1)
    assert (await http.put(slot.url, content=PNG, headers=slot.headers)).status_code == 204
    await local.claim("g_chat", "a_img")
    again = await http.put(slot.url, content=PNG, headers=slot.headers)
    assert again.status_code == 403 and "already in a message" in again.json()["error"]["message"]


async def test_on_s3_the_link_redirects_to_the_bucket_and_there_is_no_upload_route(
    s3_store: S3BlobStore, signer: UrlSigner, clock: Clock
) -> None:
    app = Starlette(routes=attachment_routes(s3_store, signer, clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as node:
        assert [r.path for r in app.routes] == ["/v1/attachments/{chat_id}/{attachment_id}"]  # type: ignore[attr-defined]
        slot = await s3_store.upload_slot("g_chat", "a_img", "image/png", len(PNG), 900)
        async with httpx.AsyncClient() as browser:
            assert (await browser.post(slot.url, data=slot.fields, files={"file": ("x", PNG)})).status_code == 204
        await s3_store.claim("g_chat", "a_img")
        url = signer.download_url("g_chat", "a_img", clock.now, name="cat.png", content_type="image/png")
        answer = await node.get(url)
        assert answer.status_code == 302 and answer.headers["cache-control"] == "private, max-age=240"
        async with httpx.AsyncClient() as browser:
            fetched = await browser.get(answer.headers["location"])
        assert fetched.status_code == 200 and fetched.content == PNG
        assert fetched.headers["content-disposition"].startswith('inline; filename="cat.png"')
        assert (await node.get(with_query(url, sig="x"))).status_code == 403
