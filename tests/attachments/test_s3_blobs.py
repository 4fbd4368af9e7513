"""chat_core.attachments.s3_blobs against a moto server process that enforces S3's POST rules
(s3_server.py), with real HTTP uploads and downloads."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest
from botocore.exceptions import ClientError

from chat_core.attachments.blobs import BlobInfo, DownloadRedirect, UploadSlot
from chat_core.attachments.s3_blobs import PENDING_TAGGING, S3BlobStore
from chat_core.errors import NotFound, Unavailable
from tests.support.moto_server import use_dummy_aws
from tests.support.server import free_port

from . import imagebytes
from .conftest import S3Endpoint

PNG = imagebytes.png(40, 30)


async def post(slot: UploadSlot, data: bytes, fields: dict[str, str | None] | None = None) -> httpx.Response:
    """A browser's form upload: the slot's fields first, then the file."""
    form = {k: v for k, v in {**slot.fields, **(fields or {})}.items() if v is not None}
    async with httpx.AsyncClient() as http:
        return await http.post(slot.url, data=form, files={"file": ("photo.png", data, "application/octet-stream")})


def tags(endpoint: S3Endpoint, bucket: str, key: str) -> list[Any]:
    return list(endpoint.client().get_object_tagging(Bucket=bucket, Key=key)["TagSet"])


def keys(endpoint: S3Endpoint, bucket: str) -> list[str]:
    return [o["Key"] for o in endpoint.client().list_objects_v2(Bucket=bucket).get("Contents", [])]


async def test_an_upload_arrives_pending_and_claim_removes_the_pending_tag(
    s3_store: S3BlobStore, s3_endpoint: S3Endpoint, bucket: str
) -> None:
    slot = await s3_store.upload_slot("g_chat", "a_one", "image/png", len(PNG), 900)
    assert slot.method == "POST" and slot.url == f"{s3_endpoint.endpoint}/{bucket}" and slot.headers == {}
    assert slot.fields["key"] == "attachments/g_chat/a_one" and slot.fields["Content-Type"] == "image/png"
    conditions = orjson.loads(base64.b64decode(slot.fields["policy"]))["conditions"]
    assert ["content-length-range", len(PNG), len(PNG)] in conditions
    assert {"tagging": PENDING_TAGGING} in conditions and {"key": "attachments/g_chat/a_one"} in conditions
    assert await s3_store.stat("g_chat", "a_one") is None

    answer = await post(slot, PNG)
    assert answer.status_code == 204, answer.text
    assert await s3_store.stat("g_chat", "a_one") == BlobInfo(len(PNG), "image/png")
    assert await s3_store.read_head("g_chat", "a_one", 8) == PNG[:8]
    assert await s3_store.read_head("g_chat", "a_one", 10**6) == PNG
    assert tags(s3_endpoint, bucket, "attachments/g_chat/a_one") == [{"Key": "chat-state", "Value": "pending"}]

    await s3_store.claim("g_chat", "a_one")
    await s3_store.claim("g_chat", "a_one")
    assert tags(s3_endpoint, bucket, "attachments/g_chat/a_one") == []
    assert await s3_store.stat("g_chat", "a_one") == BlobInfo(len(PNG), "image/png")


@pytest.mark.parametrize(
    ("data", "fields", "status", "code"),
    [
        (PNG + b"!", {}, 400, "EntityTooLarge"),
        (PNG[:-1], {}, 400, "EntityTooSmall"),
        (PNG, {"Content-Type": "text/html"}, 403, "AccessDenied"),
        (PNG, {"key": "attachments/g_chat/a_other"}, 403, "AccessDenied"),
        (PNG, {"tagging": None}, 403, "AccessDenied"),  # skipping the pending tag
        (PNG, {"x-amz-meta-extra": "1"}, 403, "AccessDenied"),
        (
            PNG,
            {"policy": base64.b64encode(b'{"expiration": "2099-01-01T00:00:00Z", "conditions": []}').decode()},
            403,
            "SignatureDoesNotMatch",
        ),
    ],
    ids=["one-byte-more", "one-byte-less", "other-type", "other-key", "no-tag", "extra-field", "forged-policy"],
)
async def test_an_upload_outside_the_slot_is_refused(
    s3_store: S3BlobStore,
    s3_endpoint: S3Endpoint,
    bucket: str,
    data: bytes,
    fields: dict[str, str | None],
    status: int,
    code: str,
) -> None:
    slot = await s3_store.upload_slot("g_chat", "a_one", "image/png", len(PNG), 900)
    answer = await post(slot, data, fields)
    assert answer.status_code == status and f"<Code>{code}</Code>" in answer.text
    assert keys(s3_endpoint, bucket) == []


async def test_an_expired_slot_is_refused(s3_store: S3BlobStore, s3_endpoint: S3Endpoint, bucket: str) -> None:
    slot = await s3_store.upload_slot("g_chat", "a_one", "image/png", len(PNG), -1)
    answer = await post(slot, PNG)
    assert answer.status_code == 403 and "Policy expired" in answer.text
    assert keys(s3_endpoint, bucket) == []


async def test_the_download_is_a_short_lived_url_that_serves_the_file_as_named(s3_store: S3BlobStore) -> None:
    slot = await s3_store.upload_slot("g_chat", "a_doc", "application/pdf", 9, 900)
    assert (await post(slot, b"%PDF-1.7\n")).status_code == 204
    await s3_store.claim("g_chat", "a_doc")
    found = await s3_store.download("g_chat", "a_doc", "rapport été.pdf", "application/pdf")
    assert isinstance(found, DownloadRedirect) and "X-Amz-Expires=300" in found.url
    async with httpx.AsyncClient() as http:
        answer = await http.get(found.url)
    assert answer.status_code == 200 and answer.content == b"%PDF-1.7\n"
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        "attachment; filename=\"rapport _t_.pdf\"; filename*=UTF-8''rapport%20%C3%A9t%C3%A9.pdf"
    )


async def test_missing_files_and_deletes(s3_store: S3BlobStore, s3_endpoint: S3Endpoint, bucket: str) -> None:
    with pytest.raises(NotFound):
        await s3_store.read_head("g_chat", "a_none", 10)
    # (claiming a missing key: moto answers 500 where S3 answers NoSuchKey; see the stub test below)
    await s3_store.delete("g_chat", "a_none")  # nothing there is fine
    slot = await s3_store.upload_slot("g_chat", "a_one", "text/plain", 2, 900)
    assert (await post(slot, b"hi")).status_code == 204
    await s3_store.delete("g_chat", "a_one")
    await s3_store.delete("g_chat", "a_one")
    assert await s3_store.stat("g_chat", "a_one") is None and keys(s3_endpoint, bucket) == []
    assert await s3_store.remove_stale_pending(10**15) == 0  # the lifecycle rule's job


async def test_an_unreachable_endpoint_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    use_dummy_aws(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = await S3BlobStore.open("bucket")
    try:
        with pytest.raises(Unavailable, match="S3 HeadObject: EndpointConnectionError"):
            await store.stat("g_chat", "a_one")
    finally:
        await store.close()
    with pytest.raises(Unavailable, match="closed"):
        await store.stat("g_chat", "a_one")


class _Refusing:
    """A client whose every call gets this S3 error code (what botocore raises after retries)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __getattr__(self, operation: str) -> Any:
        def refuse(**kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, operation)

        return refuse

    def close(self) -> None:
        return None


async def test_a_missing_key_is_none_or_not_found() -> None:
    for code in ("404", "NoSuchKey"):
        store = S3BlobStore("bucket", _Refusing(code), ThreadPoolExecutor(1))  # type: ignore[arg-type]
        assert await store.stat("g_chat", "a_one") is None
        with pytest.raises(NotFound):
            await store.claim("g_chat", "a_one")
        with pytest.raises(NotFound):
            await store.read_head("g_chat", "a_one", 10)
        await store.close()


@pytest.mark.parametrize("code", ["SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"])
async def test_throttling_and_server_errors_are_unavailable(code: str) -> None:
    store = S3BlobStore("bucket", _Refusing(code), ThreadPoolExecutor(1))  # type: ignore[arg-type]
    with pytest.raises(Unavailable, match=f"S3 HeadObject: {code}"):
        await store.stat("g_chat", "a_one")
    await store.close()


async def test_other_errors_are_not_hidden() -> None:
    store = S3BlobStore("bucket", _Refusing("AccessDenied"), ThreadPoolExecutor(1))  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="AccessDenied"):
        await store.stat("g_chat", "a_one")
    await store.close()
