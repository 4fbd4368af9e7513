from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chat_core.auth import TokenVerifier, issue_token
from chat_core.errors import Unauthorized

SECRET = "test-secret-with-enough-length-for-hs256"


def hs(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_a_valid_token_names_the_user() -> None:
    identity = await TokenVerifier(SECRET).verify(issue_token(SECRET, "alice", name="Alice"))
    assert (identity.user_id, identity.name) == ("alice", "Alice")


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        hs({"sub": "alice", "exp": int(time.time()) - 3600}),
        hs({"sub": "alice", "exp": int(time.time()) + 60}, secret="another-secret-of-enough-length-for-hs256"),
        hs({"sub": "alice"}),
        hs({"exp": int(time.time()) + 60}),
        hs({"sub": "not a valid id!", "exp": int(time.time()) + 60}),
        jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none"),
    ],
    ids=["missing", "empty", "garbage", "expired", "forged", "no-exp", "no-sub", "bad-sub", "alg-none"],
)
async def test_bad_tokens_are_unauthorized(token: object) -> None:
    with pytest.raises(Unauthorized):
        await TokenVerifier(SECRET).verify(token)


async def test_audience_and_issuer_are_checked_when_configured() -> None:
    verifier = TokenVerifier(SECRET, audience="chat", issuer="https://idp")
    exp = int(time.time()) + 60
    good = hs({"sub": "a", "exp": exp, "aud": "chat", "iss": "https://idp"})
    assert (await verifier.verify(good)).user_id == "a"
    for claims in ({"sub": "a", "exp": exp, "aud": "other", "iss": "https://idp"}, {"sub": "a", "exp": exp}):
        with pytest.raises(Unauthorized):
            await verifier.verify(hs(claims))


async def test_a_public_key_used_as_an_hmac_secret_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "alice", "exp": int(time.time()) + 60}).encode())
    signature = b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    # a server configured only for JWKS (asymmetric) must not accept HS256 at all
    verifier = TokenVerifier(None, jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(Unauthorized):
        await verifier.verify(f"{header}.{body}.{signature}")
