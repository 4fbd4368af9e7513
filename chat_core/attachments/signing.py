"""Signed, expiring URLs: the attachment download link that messages carry, and the embedded
mode's upload URL. Whoever holds such a URL may use it until it expires; no token is needed, so
only members are ever given one.

    GET /v1/attachments/{chatId}/{attachmentId}?n={name}&t={contentType}&exp={s}&sig={sig}
    PUT /v1/uploads/{attachmentId}?chat={chatId}&size={bytes}&type={contentType}&exp={s}&sig={sig}

`exp` is in epoch seconds; the link works while now < exp. `sig` is HMAC-SHA256 (base64url,
no padding) over the purpose (download, upload), `exp` and every bound parameter, the ids
included: change any of them and the signature no longer matches. The download link binds the
name and type the file is served with, so the route needs no store read (on Lambda it is a
redirect and nothing else). A forged, altered or expired link is `Forbidden` (HTTP 403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import orjson

from ..errors import Forbidden
from .blobs import blob_key

DOWNLOAD = "download"
UPLOAD = "upload"
DEFAULT_DOWNLOAD_TTL_S = 12 * 3600
MIN_SECRET_BYTES = 16


@dataclass(frozen=True, slots=True)
class DownloadGrant:
    """What a valid download link allows: the file, served under this name and type."""

    chat_id: str
    attachment_id: str
    name: str
    content_type: str
    expires_at_s: int


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """What a valid upload URL allows: exactly `size` bytes of `content_type` for the attachment."""

    chat_id: str
    attachment_id: str
    content_type: str
    size: int
    expires_at_s: int


class UrlSigner:
    def __init__(
        self,
        secret: bytes,
        *,
        public_url: str | None = None,
        download_ttl_s: int = DEFAULT_DOWNLOAD_TTL_S,
    ) -> None:
        """`public_url` (e.g. `https://chat.example.com`, no trailing slash): URLs are absolute
        under it; None: relative (`/v1/...`). `download_ttl_s`: download links stay valid at
        least this long."""
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the URL secret must have at least {MIN_SECRET_BYTES} bytes")
        if download_ttl_s < 1:
            raise ValueError("download_ttl_s must be at least 1")
        # a key of its own, derived: the JWT secret (the fallback) never signs URLs directly
        self._key = hmac.new(secret, b"chat-url-signing-v1", hashlib.sha256).digest()
        self._base = (public_url or "").rstrip("/")
        self._ttl_s = download_ttl_s
        # expiries are rounded up to this step, so the link of a file stays the same for a
        # while and browsers can cache it: valid at least the TTL, at most TTL + step
        self._step_s = max(1, min(3600, download_ttl_s // 12))

    # --- the download link ---------------------------------------------------------------------
    def download_url(self, chat_id: str, attachment_id: str, now_ms: int, *, name: str, content_type: str) -> str:
        """The signed link to an attachment's file, served as `name` with `content_type`."""
        blob_key(chat_id, attachment_id)  # ids that are safe path components only
        exp = math.ceil((now_ms / 1000 + self._ttl_s) / self._step_s) * self._step_s
        query = self._signed_query(
            DOWNLOAD, {"chat": chat_id, "id": attachment_id, "n": name, "t": content_type}, exp, ("n", "t")
        )
        return f"{self._base}/v1/attachments/{chat_id}/{attachment_id}?{query}"

    def verify_download(self, chat_id: str, attachment_id: str, query: Mapping[str, str], now_ms: int) -> DownloadGrant:
        """The grant of a download link whose path named these ids and whose query is `query`;
        Forbidden when it is forged, altered or expired."""
        values = self._verify(DOWNLOAD, {"chat": chat_id, "id": attachment_id}, query, ("n", "t"), now_ms)
        return DownloadGrant(chat_id, attachment_id, values["n"], values["t"], int(query["exp"]))

    # --- the embedded mode's upload URL ------------------------------------------------------------
    def upload_url(self, chat_id: str, attachment_id: str, content_type: str, size: int, expires_at_s: int) -> str:
        """The signed `PUT` URL that accepts exactly `size` bytes of `content_type` for the
        attachment until `expires_at_s`."""
        blob_key(chat_id, attachment_id)
        bound = {"id": attachment_id, "chat": chat_id, "size": str(size), "type": content_type}
        query = self._signed_query(UPLOAD, bound, expires_at_s, ("chat", "size", "type"))
        return f"{self._base}/v1/uploads/{attachment_id}?{query}"

    def verify_upload(self, attachment_id: str, query: Mapping[str, str], now_ms: int) -> UploadGrant:
        """The grant of an upload URL whose path named this attachment; Forbidden when it is
        forged, altered or expired."""
        values = self._verify(UPLOAD, {"id": attachment_id}, query, ("chat", "size", "type"), now_ms)
        if not values["size"].isdigit():  # signed by us, so never; but never trust a parse
            raise Forbidden("invalid link")
        return UploadGrant(values["chat"], attachment_id, values["type"], int(values["size"]), int(query["exp"]))

    # --- plumbing ----------------------------------------------------------------------------------
    def _signature(self, purpose: str, bound: Mapping[str, str], exp: int) -> str:
        # JSON of the sorted pairs: unambiguous whatever the values contain
        message = orjson.dumps([purpose, exp, sorted(bound.items())])
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def _signed_query(self, purpose: str, bound: Mapping[str, str], exp: int, in_query: tuple[str, ...]) -> str:
        params = {name: bound[name] for name in in_query}
        params["exp"] = str(exp)
        params["sig"] = self._signature(purpose, bound, exp)
        return urlencode(params, quote_via=quote, safe="")

    def _verify(
        self,
        purpose: str,
        from_path: Mapping[str, str],
        query: Mapping[str, str],
        in_query: tuple[str, ...],
        now_ms: int,
    ) -> dict[str, str]:
        raw_exp, sig = query.get("exp", ""), query.get("sig", "")
        if not raw_exp.isascii() or not raw_exp.isdigit() or len(raw_exp) > 12 or not sig:
            raise Forbidden("invalid link")
        values = dict(from_path)
        for name in in_query:
            value = query.get(name)
            if value is None:
                raise Forbidden("invalid link")
            values[name] = value
        exp = int(raw_exp)
        expected = self._signature(purpose, values, exp)
        if not hmac.compare_digest(expected.encode("ascii"), sig.encode("utf-8", "replace")):
            raise Forbidden("invalid link signature")
        if now_ms >= exp * 1000:  # after the signature: an altered exp says "invalid", not "expired"
            raise Forbidden("link expired")
        return values
