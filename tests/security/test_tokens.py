"""Tokens: algorithms pinned, exp required, aud/iss checked when configured, RS256/ES256 through a
JWKS served from 127.0.0.1, HS256 signed with the public key refused, expiry and auth_refresh."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import socketio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.clients import Recorder, unique
from tests.support.server import DEFAULT_SECRET, ServerProcess

from .conftest import OPEN_LIMITS
from .helpers import assert_no_traceback, fresh_round_trip, round_trip

SERVER_ENV = {"CHAT_JWT_AUDIENCE": "chat-api", "CHAT_JWT_ISSUER": "https://issuer.test"}
AUD, ISS = "chat-api", "https://issuer.test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(key: bytes, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """HS256 without PyJWT's guard (it refuses a PEM key as an HMAC secret): what an attacker does."""
    head = _b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def claims(user: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + 600, "aud": AUD, "iss": ISS, **extra}


def bad_hs256_tokens(user: str) -> dict[str, str]:
    now = int(time.time())
    good = claims(user)
    no_exp = {k: v for k, v in good.items() if k != "exp"}
    return {
        "expired": jwt.encode({**good, "exp": now - 60}, DEFAULT_SECRET, algorithm="HS256"),
        "no_exp": jwt.encode(no_exp, DEFAULT_SECRET, algorithm="HS256"),
        "no_aud": jwt.encode(
            {k: v for k, v in good.items() if k != "aud"}, DEFAULT_SECRET, algorithm="HS256"
        ),
        "wrong_aud": jwt.encode({**good, "aud": "other-api"}, DEFAULT_SECRET, algorithm="HS256"),
        "no_iss": jwt.encode(
            {k: v for k, v in good.items() if k != "iss"}, DEFAULT_SECRET, algorithm="HS256"
        ),
        "wrong_iss": jwt.encode({**good, "iss": "https://evil.test"}, DEFAULT_SECRET, algorithm="HS256"),
        "wrong_secret": jwt.encode(good, "not-the-secret-0123456789abcdef0123", algorithm="HS256"),
        "alg_none": jwt.encode(good, None, algorithm="none"),
        "hs512": jwt.encode(good, DEFAULT_SECRET + "x" * 40, algorithm="HS512"),
        "bad_sub": jwt.encode({**good, "sub": "no spaces allowed"}, DEFAULT_SECRET, algorithm="HS256"),
        "huge": "a" * 9000,
        "garbage": "not.a.jwt",
        "rs256_without_jwks": jwt.encode(good, rsa.generate_private_key(65537, 2048), algorithm="RS256"),
    }


def good_hs256(user: str, ttl: int = 600) -> str:
    return jwt.encode(claims(user, exp=int(time.time()) + ttl), DEFAULT_SECRET, algorithm="HS256")


async def refused(server: ServerProcess, token: Any, name: str = "") -> Any:
    client = Recorder(server.url, None)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError) as raised:
            await client.sio.connect(
                server.url, auth={"token": token}, transports=["websocket"], wait_timeout=5
            )
        assert client.connect_errors, f"{name}: no connect_error ({raised.value!r})"
        return client.connect_errors[-1]
    finally:
        await client.disconnect()


async def test_bad_hs256_tokens_are_refused_at_connect_and_on_http(server: ServerProcess) -> None:
    user = unique("t")
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        for name, token in bad_hs256_tokens(user).items():
            error = await refused(server, token, name)
            assert error["data"]["code"] == "UNAUTHORIZED", (name, error)
            response = await http.get("/v1/chats", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (name, response.text)
    client = await Recorder(server.url, good_hs256(user)).connect()
    await round_trip(client)
    await client.disconnect()


async def test_token_expiry_disconnects_and_auth_refresh_keeps_the_socket(server: ServerProcess) -> None:
    user = unique("exp")
    expiring = await Recorder(server.url, good_hs256(user, ttl=2)).connect()
    first_token = good_hs256(user, ttl=2)
    first_exp = jwt.decode(first_token, options={"verify_signature": False})["exp"]
    refreshed = await Recorder(server.url, first_token).connect()
    try:
        other = await refreshed.call("auth_refresh", {"token": good_hs256(unique("other"), ttl=600)})
        assert other["ok"] is False and other["error"]["code"] == "UNAUTHORIZED"
        for bad in (None, {}, {"token": 5}, {"token": bad_hs256_tokens(user)["expired"]}):
            ack = await refreshed.call("auth_refresh", bad)
            assert ack["ok"] is False and ack["error"]["code"] == "UNAUTHORIZED", (bad, ack)
        ack = await refreshed.ok("auth_refresh", {"token": good_hs256(user, ttl=600)})
        assert ack["expiresAt"].endswith("Z")
        error = await expiring.wait_for("chat_error", timeout=6)
        assert error == {"event": "auth", "code": "UNAUTHORIZED", "message": "token expired"}
        await expiring.wait_for("__disconnect", timeout=3)
        # past the refreshed socket's first expiry (a real timer), then a round trip on it: an
        # expiry timer that still ran would have sent chat_error before the answer
        await asyncio.sleep(max(0.0, first_exp - time.time()) + 0.1)
        await refreshed.barrier()
        assert refreshed.sio.connected and not refreshed.of("chat_error")
    finally:
        await expiring.disconnect()
        await refreshed.disconnect()


# --- JWKS (RS256 / ES256) ---------------------------------------------------------------------


class _Jwks:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(65537, 2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        self.document = json.dumps(
            {
                "keys": [
                    {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                    {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
                ]
            }
        ).encode()
        self.rsa_public_pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[_Jwks, str]]:
    keys = _Jwks()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(keys.document)))
            self.end_headers()
            self.wfile.write(keys.document)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield keys, f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("with_secret", [False, True], ids=["jwks-only", "jwks-and-secret"])
async def test_jwks_rs256_es256_and_the_key_confusion_attack(
    jwks: tuple[_Jwks, str], with_secret: bool
) -> None:
    keys, url = jwks
    env = {**OPEN_LIMITS, **SERVER_ENV, "CHAT_JWKS_URL": url}
    server = ServerProcess(env, secret=DEFAULT_SECRET if with_secret else None)
    server.start()
    try:
        user = unique("jw")
        rs = jwt.encode(claims(user), keys.rsa, algorithm="RS256", headers={"kid": "rsa-1"})
        es = jwt.encode(claims(user), keys.ec, algorithm="ES256", headers={"kid": "ec-1"})
        for token in (rs, es):
            client = await Recorder(server.url, token).connect()
            await round_trip(client)
            await client.disconnect()
        attacks = {
            "hs256_with_public_key": hs256_by_hand(
                keys.rsa_public_pem, claims(user), {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
            ),
            "wrong_aud": jwt.encode(
                claims(user, aud="other"), keys.rsa, algorithm="RS256", headers={"kid": "rsa-1"}
            ),
            "wrong_iss": jwt.encode(
                claims(user, iss="https://evil"), keys.rsa, algorithm="RS256", headers={"kid": "rsa-1"}
            ),
            "no_exp": jwt.encode(
                {k: v for k, v in claims(user).items() if k != "exp"},
                keys.rsa,
                algorithm="RS256",
                headers={"kid": "rsa-1"},
            ),
            "expired": jwt.encode(
                claims(user, exp=int(time.time()) - 60), keys.rsa, algorithm="RS256", headers={"kid": "rsa-1"}
            ),
            "unknown_kid": jwt.encode(claims(user), keys.rsa, algorithm="RS256", headers={"kid": "nope"}),
            "other_key": jwt.encode(
                claims(user),
                rsa.generate_private_key(65537, 2048),
                algorithm="RS256",
                headers={"kid": "rsa-1"},
            ),
            "es_key_as_rs": jwt.encode(claims(user), keys.ec, algorithm="ES256", headers={"kid": "rsa-1"}),
            "ps256": jwt.encode(claims(user), keys.rsa, algorithm="PS256", headers={"kid": "rsa-1"}),
            "alg_none": jwt.encode(claims(user), None, algorithm="none", headers={"kid": "rsa-1"}),
        }
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            for name, token in attacks.items():
                error = await refused(server, token, name)
                assert error["data"]["code"] == "UNAUTHORIZED", (name, error)
                response = await http.get("/v1/chats", headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 401, (name, response.text)
            ok = await http.get("/v1/chats", headers={"Authorization": f"Bearer {rs}"})
            assert ok.status_code == 200
        if with_secret:
            client = await Recorder(server.url, good_hs256(user)).connect()
            await round_trip(client)
            await client.disconnect()
        await asyncio.sleep(0)
    finally:
        server.stop()
        log = server.log_text()
        server.close()
    assert_no_traceback(log)


async def test_refused_connects_leave_the_server_serving(server: ServerProcess) -> None:
    """A burst of refused connects (every kind of bad token, concurrently) is answered
    UNAUTHORIZED each time, and the server then serves a good client as before."""
    bad = list(bad_hs256_tokens(unique("r")).values())
    errors = await asyncio.gather(*(refused(server, bad[i % len(bad)], f"burst {i}") for i in range(40)))
    assert [e["data"]["code"] for e in errors] == ["UNAUTHORIZED"] * 40
    await fresh_round_trip_aud(server)


async def fresh_round_trip_aud(server: ServerProcess) -> None:
    me = unique("ok")
    client = await Recorder(server.url, good_hs256(me)).connect()
    try:
        chat = (await client.ok("join_chat", {"recipientId": unique("p")}))["chat"]["id"]
        await client.ok("send_message", {"chatId": chat, "content": "hi", "clientMessageId": "c"})
    finally:
        await client.disconnect()


_ = fresh_round_trip  # the module's server requires aud/iss: its own round trip is above
