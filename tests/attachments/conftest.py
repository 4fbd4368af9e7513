from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from chat_core.attachments.s3_blobs import S3BlobStore
from chat_core.attachments.signing import UrlSigner
from tests.support.clock import Clock
from tests.support.moto_server import use_dummy_aws
from tests.support.s3_endpoint import S3Endpoint

SECRET = b"attachments-test-secret-0123456789"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(SECRET)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[S3Endpoint]:
    server = S3Endpoint().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def bucket(s3_endpoint: S3Endpoint) -> str:
    """A new, empty bucket of its own for each test."""
    name = f"attachments-{uuid.uuid4().hex[:12]}"
    s3_endpoint.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
async def s3_store(s3_endpoint: S3Endpoint, bucket: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[S3BlobStore]:
    """The store as production opens it: endpoint, region and credentials from the environment."""
    use_dummy_aws(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint.endpoint)
    store = await S3BlobStore.open(bucket)
    yield store
    await store.close()
