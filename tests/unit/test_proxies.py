"""Whose X-Forwarded-Proto/-For the engine believes (chat_core/engine/proxies.py)."""

from __future__ import annotations

import pytest

from chat_core.config import load_settings
from chat_core.engine.proxies import TrustedProxies
from chat_core.errors import Invalid

FORWARDED = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7, 10.0.1.5"}


def test_an_untrusted_peer_cannot_claim_https_or_another_address() -> None:
    assert TrustedProxies("").resolve("198.51.100.1", FORWARDED, False) == ("198.51.100.1", False)
    assert TrustedProxies("10.0.0.0/16").resolve("198.51.100.1", FORWARDED, False) == ("198.51.100.1", False)


def test_a_trusted_proxy_gives_the_scheme_and_the_nearest_untrusted_address() -> None:
    proxies = TrustedProxies("10.0.0.0/16, 127.0.0.1")
    assert proxies.resolve("10.0.2.9", FORWARDED, False) == ("203.0.113.7", True)
    assert proxies.resolve("127.0.0.1", {"x-forwarded-proto": "http"}, True) == ("127.0.0.1", False)
    assert proxies.resolve("10.0.2.9", {"x-forwarded-proto": "gopher"}, False) == ("10.0.2.9", False)
    assert TrustedProxies("*").trusts("2001:db8::1") and not TrustedProxies("*").trusts(None)


def test_a_bad_list_is_refused_with_the_variable_name() -> None:
    with pytest.raises(Invalid, match="CHAT_TRUSTED_PROXIES"):
        load_settings({"CHAT_TRUSTED_PROXIES": "10.0.0.0/99"})
    with pytest.raises(Invalid, match="CHAT_METRICS_PORT"):
        load_settings({"CHAT_METRICS_PORT": "70000"})
    assert load_settings({"CHAT_TRUSTED_PROXIES": " 10.0.0.0/16 "}).trusted_proxies == "10.0.0.0/16"
