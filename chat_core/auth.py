"""JWT verification: HS256 with a shared secret, RS256/ES256 through a JWKS URL. Algorithms pinned."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import jwt

from . import payloads
from .config import Settings
from .errors import Invalid, Unauthorized

LEEWAY_S = 10
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
TOKEN_MAX_CHARS = 8192


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    name: str | None
    expires_at: float


class TokenVerifier:
    def __init__(
        self,
        secret: str | None,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        if secret is None and jwks_url is None:
            raise ValueError("a JWT secret or a JWKS URL is required")
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._audience = audience
        self._issuer = issuer

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        return cls(settings.jwt_secret, settings.jwks_url, settings.jwt_audience, settings.jwt_issuer)

    async def verify(self, token: object) -> Identity:
        """The identity in a valid token, or Unauthorized (never anything else)."""
        if not isinstance(token, str) or not token or len(token) > TOKEN_MAX_CHARS:
            raise Unauthorized("a bearer token is required")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("token is malformed") from None
        algorithm = header.get("alg")
        if algorithm == "HS256" and self._secret is not None:
            key: object = self._secret
            algorithms = ["HS256"]
        elif algorithm in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            try:
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWTError:
                raise Unauthorized("token signing key is unknown") from None
            if signing_key.algorithm_name != algorithm:  # e.g. alg ES256 naming an RSA key's kid
                raise Unauthorized("token algorithm does not match its key")
            key = signing_key.key
            algorithms = [str(algorithm)]
        else:
            raise Unauthorized("token algorithm is not accepted")
        return self._decode(token, key, algorithms)

    def _decode(self, token: str, key: object, algorithms: list[str]) -> Identity:
        required = ["exp", "sub"]
        if self._audience:
            required.append("aud")
        if self._issuer:
            required.append("iss")
        try:
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired") from None
        except (jwt.PyJWTError, TypeError, ValueError):  # PyJWT raises TypeError for a key of the wrong type
            raise Unauthorized("token is not valid") from None
        try:
            user_id = payloads.user_id(claims.get("sub"), "sub")
        except Invalid:
            raise Unauthorized("token subject is not a valid user id") from None
        name = claims.get("name")
        return Identity(user_id, name if isinstance(name, str) else None, float(claims["exp"]))


def issue_token(secret: str, user_id: str, *, ttl_s: int = 3600, name: str | None = None) -> str:
    """An HS256 token for a user (the CLI's `chat token`, dev mode's /dev/token, tests)."""
    payloads.user_id(user_id)
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl_s}
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")
