"""chat_core.attachments.signing: links that expire, cannot be altered and bind what they grant."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from chat_core.attachments.signing import UrlSigner
from chat_core.errors import Forbidden

SECRET = b"0123456789abcdef-url-secret"
NOW_MS = 1_790_000_000_123


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))


def test_a_download_link_grants_the_file_under_its_name_and_type_until_it_expires() -> None:
    signer = UrlSigner(SECRET, download_ttl_s=43200)
    url = signer.download_url("g_chat", "a_file", NOW_MS, name="rapport d'été.pdf", content_type="application/pdf")
    path, query = split(url)
    assert path == "/v1/attachments/g_chat/a_file" and url.startswith("/v1/")
    assert set(query) == {"n", "t", "exp", "sig"}
    exp = int(query["exp"])
    assert NOW_MS / 1000 + 43200 <= exp <= NOW_MS / 1000 + 43200 + 3600
    grant = signer.verify_download("g_chat", "a_file", query, NOW_MS)
    assert (grant.name, grant.content_type, grant.expires_at_s) == ("rapport d'été.pdf", "application/pdf", exp)
    assert signer.verify_download("g_chat", "a_file", query, exp * 1000 - 1).name == "rapport d'été.pdf"
    with pytest.raises(Forbidden, match="link expired"):
        signer.verify_download("g_chat", "a_file", query, exp * 1000)


def test_the_link_of_a_file_stays_the_same_for_a_while_so_browsers_can_cache_it() -> None:
    signer = UrlSigner(SECRET, download_ttl_s=43200)
    first = signer.download_url("g_c", "a_f", NOW_MS, name="x.png", content_type="image/png")
    hour_start = (NOW_MS // 3_600_000) * 3_600_000
    assert signer.download_url("g_c", "a_f", hour_start + 1, name="x.png", content_type="image/png") == first
    later = signer.download_url("g_c", "a_f", hour_start + 3_600_001, name="x.png", content_type="image/png")
    assert later != first


@pytest.mark.parametrize(
    ("chat", "attachment", "change"),
    [
        ("g_other", "a_file", {}),  # another chat in the path
        ("g_chat", "a_other", {}),  # another attachment
        ("g_chat", "a_file", {"n": "evil.html"}),
        ("g_chat", "a_file", {"t": "text/html"}),
        ("g_chat", "a_file", {"exp": "99999999999"}),  # a longer life
        ("g_chat", "a_file", {"sig": "A" * 43}),
        ("g_chat", "a_file", {"sig": ""}),
        ("g_chat", "a_file", {"exp": "-5"}),
        ("g_chat", "a_file", {"exp": "\uff11\uff12\uff13"}),  # digits, but not ASCII
    ],
)
def test_any_change_to_a_download_link_is_refused(chat: str, attachment: str, change: dict[str, str]) -> None:
    signer = UrlSigner(SECRET)
    _, query = split(signer.download_url("g_chat", "a_file", NOW_MS, name="a.png", content_type="image/png"))
    with pytest.raises(Forbidden, match="invalid link"):
        signer.verify_download(chat, attachment, {**query, **change}, NOW_MS)


@pytest.mark.parametrize("missing", ["n", "t", "exp", "sig"])
def test_a_link_missing_a_parameter_is_refused(missing: str) -> None:
    signer = UrlSigner(SECRET)
    _, query = split(signer.download_url("g_chat", "a_file", NOW_MS, name="a.png", content_type="image/png"))
    del query[missing]
    with pytest.raises(Forbidden, match="invalid link"):
        signer.verify_download("g_chat", "a_file", query, NOW_MS)


def test_another_secret_signs_other_links() -> None:
    mine, theirs = UrlSigner(SECRET), UrlSigner(SECRET + b"!")
    _, query = split(theirs.download_url("g_chat", "a_file", NOW_MS, name="a.png", content_type="image/png"))
    with pytest.raises(Forbidden, match="invalid link signature"):
        mine.verify_download("g_chat", "a_file", query, NOW_MS)


def test_an_upload_url_binds_chat_size_and_type_and_is_no_download_link() -> None:
    signer = UrlSigner(SECRET, public_url="https://chat.example.com")
    exp = NOW_MS // 1000 + 900
    url = signer.upload_url("d_chat", "a_file", "image/png", 1234, exp)
    assert url.startswith("https://chat.example.com/v1/uploads/a_file?")
    _, query = split(url)
    grant = signer.verify_upload("a_file", query, NOW_MS)
    assert (grant.chat_id, grant.attachment_id, grant.content_type, grant.size) == (
        "d_chat",
        "a_file",
        "image/png",
        1234,
    )
    for change in ({"size": "1235"}, {"type": "text/html"}, {"chat": "d_other"}):
        with pytest.raises(Forbidden, match="invalid link signature"):
            signer.verify_upload("a_file", {**query, **change}, NOW_MS)
    with pytest.raises(Forbidden, match="invalid link signature"):
        signer.verify_upload("a_other", query, NOW_MS)
    with pytest.raises(Forbidden, match="link expired"):
        signer.verify_upload("a_file", query, exp * 1000)
    # the same signature never opens a download: the purpose is signed too
    with pytest.raises(Forbidden):
        forged = {"n": "x", "t": "image/png", "exp": str(exp), "sig": query["sig"]}
        signer.verify_download("d_chat", "a_file", forged, NOW_MS)


def test_public_url_makes_links_absolute_and_parameters_are_encoded() -> None:
    signer = UrlSigner(SECRET, public_url="https://chat.example.com/base/")
    url = signer.download_url("g_c", "a_f", NOW_MS, name="a&b=c d/é.txt", content_type="text/plain")
    assert url.startswith(
        "https://chat.example.com/base/v1/attachments/g_c/a_f?n=a%26b%3Dc%20d%2F%C3%A9.txt&t=text%2Fplain&"
    )
    _, query = split(url)
    assert signer.verify_download("g_c", "a_f", query, NOW_MS).name == "a&b=c d/é.txt"


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        UrlSigner(b"short")
