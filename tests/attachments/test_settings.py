"""The attachment settings in chat_core.config, and the adapters chat_core.attachments.assembly
builds from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_core.attachments.assembly import open_blob_store, url_signer
from chat_core.attachments.local_blobs import LocalBlobStore
from chat_core.attachments.s3_blobs import S3BlobStore
from chat_core.config import DEFAULT_ATTACHMENT_TYPES, load_settings
from chat_core.errors import Invalid
from tests.support.moto_server import use_dummy_aws

SECRET = "a-jwt-secret-of-enough-bytes-0123456789"


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.attachment_max_bytes == 10 * 1024 * 1024
    assert (
        settings.attachment_types
        == DEFAULT_ATTACHMENT_TYPES
        == (
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
        )
    )
    assert settings.attachment_url_ttl_s == 43200 and settings.edit_window_s is None
    assert settings.public_url is None and settings.attachment_bucket is None and settings.url_secret is None
    assert settings.attachment_dir == "./chat-attachments" and settings.attachments_enabled


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "CHAT_ATTACHMENT_MAX_BYTES": "2048",
            "CHAT_ATTACHMENT_TYPES": " Image/PNG , application/pdf,image/png,",
            "CHAT_ATTACHMENT_URL_TTL_S": "600",
            "CHAT_PUBLIC_URL": "https://chat.example.com/",
            "CHAT_ATTACHMENT_BUCKET": "my-bucket",
            "CHAT_ATTACHMENT_DIR": "/var/lib/chat/files",
            "CHAT_URL_SECRET": "u" * 16,
            "CHAT_JWT_SECRET": SECRET,
            "CHAT_EDIT_WINDOW_S": "900",
        }
    )
    assert settings.attachment_max_bytes == 2048
    assert settings.attachment_types == ("image/png", "application/pdf")
    assert settings.attachment_url_ttl_s == 600 and settings.edit_window_s == 900.0
    assert settings.public_url == "https://chat.example.com" and settings.attachment_bucket == "my-bucket"
    assert settings.attachment_dir == "/var/lib/chat/files" and settings.url_secret == "u" * 16


@pytest.mark.parametrize(
    ("sqlite_path", "directory"),
    [
        ("/data/chat.db", "/data/chat-attachments"),
        ("rooms.sqlite3", "./rooms-attachments"),
        (":memory:", "./chat-attachments"),
    ],
)
def test_the_directory_defaults_to_beside_the_database(sqlite_path: str, directory: str) -> None:
    assert load_settings({"CHAT_SQLITE_PATH": sqlite_path}).attachment_dir == directory


def test_the_url_secret_falls_back_to_the_token_secret() -> None:
    assert load_settings({"CHAT_JWT_SECRET": SECRET}).url_secret == SECRET
    assert load_settings({"CHAT_JWT_SECRET": SECRET, "CHAT_URL_SECRET": "x" * 20}).url_secret == "x" * 20
    dev = load_settings({"CHAT_DEV": "1"})
    assert dev.url_secret == dev.jwt_secret is not None  # the dev server's random secret
    assert load_settings({"CHAT_JWKS_URL": "https://idp.example.com/jwks.json"}).url_secret is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHAT_URL_SECRET": "short"}, "CHAT_URL_SECRET must have at least 16 bytes"),
        ({"CHAT_ATTACHMENT_TYPES": "image/*"}, "CHAT_ATTACHMENT_TYPES must list media types"),
        ({"CHAT_ATTACHMENT_TYPES": "png"}, "CHAT_ATTACHMENT_TYPES must list media types"),
        ({"CHAT_PUBLIC_URL": "chat.example.com"}, "CHAT_PUBLIC_URL must be an http"),
        ({"CHAT_PUBLIC_URL": "https://chat.example.com/?a=b"}, "CHAT_PUBLIC_URL must be an http"),
        ({"CHAT_ATTACHMENT_MAX_BYTES": "lots"}, "CHAT_ATTACHMENT_MAX_BYTES must be a number"),
        ({"CHAT_EDIT_WINDOW_S": "-1"}, "CHAT_EDIT_WINDOW_S must not be negative"),
    ],
)
def test_bad_values_name_their_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        load_settings(env)


def test_attachments_are_off_with_no_types_or_no_bytes() -> None:
    assert not load_settings({"CHAT_ATTACHMENT_TYPES": ""}).attachments_enabled
    assert not load_settings({"CHAT_ATTACHMENT_MAX_BYTES": "0"}).attachments_enabled


async def test_without_a_secret_attachments_refuse_to_start(tmp_path: Path) -> None:
    settings = load_settings(
        {"CHAT_JWKS_URL": "https://idp.example.com/jwks.json", "CHAT_ATTACHMENT_DIR": str(tmp_path)}
    )
    with pytest.raises(Invalid, match="set CHAT_URL_SECRET"):
        url_signer(settings)
    with pytest.raises(Invalid, match="set CHAT_URL_SECRET"):
        await open_blob_store(settings)
    short = load_settings({"CHAT_JWT_SECRET": "tiny", "CHAT_ATTACHMENT_DIR": str(tmp_path)})
    with pytest.raises(Invalid, match="at least 16 bytes"):
        url_signer(short)


async def test_the_store_is_local_by_default_and_s3_with_a_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "CHAT_JWT_SECRET": SECRET,
        "CHAT_ATTACHMENT_DIR": str(tmp_path / "files"),
        "CHAT_PUBLIC_URL": "https://c.example",
    }
    local = await open_blob_store(load_settings(env))
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "files"
    slot = await local.upload_slot("g_chat", "a_one", "text/plain", 3, 60)
    assert slot.url.startswith("https://c.example/v1/uploads/a_one?")
    assert (
        url_signer(load_settings(env))
        .download_url("g_c", "a_f", 0, name="n", content_type="text/plain")
        .startswith("https://c.example/v1/attachments/g_c/a_f?")
    )
    use_dummy_aws(monkeypatch)
    s3 = await open_blob_store(load_settings({**env, "CHAT_ATTACHMENT_BUCKET": "the-bucket"}))
    assert isinstance(s3, S3BlobStore) and s3.bucket == "the-bucket"
    await s3.close()
