"""Settings, read once from the environment into one frozen object."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .errors import Invalid
from .limits import Rate

StoreKind = Literal["sqlite", "dynamodb"]
PolicyOnError = Literal["deny", "allow"]
GroupHistory = Literal["joined", "all"]

DEFAULT_CORS_ORIGINS = ("http://localhost:5173", "http://localhost:3000")
DEFAULT_ATTACHMENT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
)
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3001
    dev: bool = False
    jwt_secret: str | None = None
    jwt_secret_is_random: bool = False
    jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    store: StoreKind = "sqlite"
    sqlite_path: str = "./chat.db"
    dynamodb_table: str = "chat"
    redis_url: str | None = None
    presence_grace_s: float = 5.0
    presence_ttl_s: float = 60.0
    cleanup_interval_s: float = 30.0
    ping_interval_s: float = 25.0
    ping_timeout_s: float = 20.0
    connect_timeout_s: float = 45.0
    drain_timeout_s: float = 20.0
    send_order_timeout_s: float = 5.0
    trusted_proxies: str = ""
    """Peers (addresses, networks, `*`) whose X-Forwarded-Proto/-For are believed."""
    metrics_port: int | None = None
    """Serve /metrics on this port only (not on the public one); None: on the public port."""
    emf_service: str | None = None
    """Write the node's connection count as a CloudWatch EMF record every minute, dimensioned
    by this service name (the ECS service scales on it); None: no records."""
    emf_namespace: str = "Chat"
    reconnect_after_ms: int = 1000
    max_frame_bytes: int = 64 * 1024
    max_http_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    send_rate: float = 10.0
    send_burst: float = 30.0
    join_rate: float = 5.0
    join_burst: float = 30.0
    typing_rate: float = 3.0
    typing_burst: float = 10.0
    query_rate: float = 20.0
    query_burst: float = 60.0
    change_rate: float = 5.0
    change_burst: float = 30.0
    upload_rate: float = 1.0
    upload_burst: float = 10.0
    max_connections_per_user: int = 20
    max_socket_queue: int = 1000
    max_decode_packets: int = 256
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_types: tuple[str, ...] = DEFAULT_ATTACHMENT_TYPES
    """Content types a file may be uploaded as; empty: attachments are off."""
    attachment_url_ttl_s: int = 12 * 3600
    """Download links in messages stay valid at least this long."""
    public_url: str | None = None
    """Base of the URLs handed to clients (`https://chat.example.com`); None: relative URLs."""
    attachment_bucket: str | None = None
    """S3 bucket of attachment files; None: files on this node's disk in `attachment_dir`."""
    attachment_dir: str = "./chat-attachments"
    url_secret: str | None = None
    """Signs attachment URLs: CHAT_URL_SECRET, else the HS256 token secret; None: neither is set."""
    edit_window_s: float | None = None
    """Messages may be edited this long after sending; None: always."""
    group_history: GroupHistory = "joined"
    """What a member added to a group sees: the history from when they joined, or all of it."""
    webhook_url: str | None = None
    """Offline recipients of each message are posted here (chat_core.hooks); None: no webhook."""
    webhook_secret: str | None = None
    """Signs the webhook and policy requests; set whenever either URL is."""
    webhook_dead_letter: str | None = None
    """A JSON-lines file that deliveries given up on are appended to; None: the log only."""
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 5
    policy_url: str | None = None
    """Asked whether a user may start a direct chat or group; None: everyone may."""
    policy_timeout_s: float = 2.0
    policy_on_error: PolicyOnError = "deny"
    """The answer when the policy endpoint fails or does not answer in time."""
    node_id: str = field(default_factory=lambda: "node-" + secrets.token_hex(6))

    @property
    def auth_configured(self) -> bool:
        return self.jwt_secret is not None or self.jwks_url is not None

    @property
    def attachments_enabled(self) -> bool:
        return bool(self.attachment_types) and self.attachment_max_bytes > 0

    def rates(self) -> dict[str, Rate]:
        return {
            "send": Rate(self.send_rate, self.send_burst),
            "join": Rate(self.join_rate, self.join_burst),
            "typing": Rate(self.typing_rate, self.typing_burst),
            "query": Rate(self.query_rate, self.query_burst),
            "change": Rate(self.change_rate, self.change_burst),
            "upload": Rate(self.upload_rate, self.upload_burst),
        }


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise Invalid(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise Invalid(f"{name} must not be negative")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _origins(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_CORS_ORIGINS
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if "*" in origins:
        raise Invalid("CHAT_CORS_ORIGINS must list origins; '*' is not allowed")
    return origins


def _trusted_proxies(raw: str) -> str:
    from .engine.proxies import TrustedProxies

    try:
        TrustedProxies(raw)
    except ValueError as bad:
        raise Invalid(f"CHAT_TRUSTED_PROXIES must list addresses or networks: {bad}") from None
    return raw.strip()


def _metrics_port(raw: str | None) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    port = int(_number({"CHAT_METRICS_PORT": raw}, "CHAT_METRICS_PORT", 0))
    if not 0 < port < 65536:
        raise Invalid("CHAT_METRICS_PORT must be between 1 and 65535")
    return port


def _attachment_types(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_ATTACHMENT_TYPES
    types = tuple(dict.fromkeys(t.strip().lower() for t in raw.split(",") if t.strip()))
    for media_type in types:
        if not _MEDIA_TYPE.fullmatch(media_type):
            raise Invalid(f"CHAT_ATTACHMENT_TYPES must list media types such as image/png, got {media_type!r}")
    return types


def _public_url(raw: str | None) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    url = raw.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", url):
        raise Invalid("CHAT_PUBLIC_URL must be an http(s) URL without query, e.g. https://chat.example.com")
    return url


def _hook_url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"https?://[^/?#\s]+([/?][^#\s]*)?", raw):
        raise Invalid(f"{name} must be an http(s) URL, e.g. https://platform.example.com/chat-hooks")
    return raw


def _hook_secret(env: Mapping[str, str], webhook_url: str | None, policy_url: str | None) -> str | None:
    """The platform checks every hook request's signature, so a URL without a secret is refused."""
    secret = env.get("CHAT_WEBHOOK_SECRET") or None
    for name, url in (("CHAT_WEBHOOK_URL", webhook_url), ("CHAT_POLICY_URL", policy_url)):
        if url is not None and secret is None:
            raise Invalid(f"CHAT_WEBHOOK_SECRET must be set when {name} is (it signs the requests)")
    if secret is not None and len(secret.encode()) < 16:
        raise Invalid("CHAT_WEBHOOK_SECRET must have at least 16 bytes")
    return secret


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if value <= 0:
        raise Invalid(f"{name} must be more than 0")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise Invalid(f"{name} must be {' or '.join(choices)}, got {value!r}")
    return value


def _beside_database(sqlite_path: str) -> str:
    """The attachment directory's default: `chat-attachments` beside `chat.db`."""
    if sqlite_path in ("", ":memory:") or sqlite_path.startswith("file:"):
        return "./chat-attachments"
    head, tail = os.path.split(sqlite_path)
    stem = tail.rsplit(".", 1)[0] if "." in tail.lstrip(".") else tail
    return os.path.join(head or ".", f"{stem or 'chat'}-attachments")


def _url_secret(env: Mapping[str, str], jwt_secret: str | None) -> str | None:
    explicit = env.get("CHAT_URL_SECRET") or None
    if explicit is not None and len(explicit.encode()) < 16:
        raise Invalid("CHAT_URL_SECRET must have at least 16 bytes")
    return explicit or jwt_secret


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting once. Raises Invalid with the variable's name on a bad value."""
    env = os.environ if env is None else env
    dev = _flag(env, "CHAT_DEV")
    secret = env.get("CHAT_JWT_SECRET") or None
    jwks_url = env.get("CHAT_JWKS_URL") or None
    random_secret = False
    if dev and secret is None and jwks_url is None:
        secret = secrets.token_urlsafe(32)
        random_secret = True
    store = env.get("CHAT_STORE", "sqlite").strip().lower()
    if store not in ("sqlite", "dynamodb"):
        raise Invalid(f"CHAT_STORE must be sqlite or dynamodb, got {store!r}")
    port = int(_number(env, "PORT", 3001))
    if not 0 < port < 65536:
        raise Invalid("PORT must be between 1 and 65535")
    edit_window = env.get("CHAT_EDIT_WINDOW_S", "").strip()
    sqlite_path = env.get("CHAT_SQLITE_PATH", "./chat.db")
    webhook_url = _hook_url(env, "CHAT_WEBHOOK_URL")
    policy_url = _hook_url(env, "CHAT_POLICY_URL")
    webhook_attempts = int(_number(env, "CHAT_WEBHOOK_ATTEMPTS", 5))
    if webhook_attempts < 1:
        raise Invalid("CHAT_WEBHOOK_ATTEMPTS must be at least 1")
    kwargs: dict[str, object] = {}
    if env.get("CHAT_NODE_ID"):
        kwargs["node_id"] = env["CHAT_NODE_ID"]
    return Settings(
        host=env.get("HOST", "127.0.0.1"),
        port=port,
        dev=dev,
        jwt_secret=secret,
        jwt_secret_is_random=random_secret,
        jwks_url=jwks_url,
        jwt_audience=env.get("CHAT_JWT_AUDIENCE") or None,
        jwt_issuer=env.get("CHAT_JWT_ISSUER") or None,
        cors_origins=_origins(env.get("CHAT_CORS_ORIGINS")),
        store=store,  # type: ignore[arg-type]
        sqlite_path=sqlite_path,
        dynamodb_table=env.get("CHAT_DYNAMODB_TABLE", "chat"),
        redis_url=env.get("CHAT_REDIS_URL") or None,
        presence_grace_s=_number(env, "CHAT_PRESENCE_GRACE_S", 5.0),
        presence_ttl_s=_number(env, "CHAT_PRESENCE_TTL_S", 60.0),
        cleanup_interval_s=_number(env, "CHAT_CLEANUP_INTERVAL_S", 30.0),
        ping_interval_s=_number(env, "CHAT_PING_INTERVAL_S", 25.0),
        ping_timeout_s=_number(env, "CHAT_PING_TIMEOUT_S", 20.0),
        connect_timeout_s=_number(env, "CHAT_CONNECT_TIMEOUT_S", 45.0),
        drain_timeout_s=_number(env, "CHAT_DRAIN_TIMEOUT_S", 20.0),
        send_order_timeout_s=_number(env, "CHAT_SEND_ORDER_TIMEOUT_S", 5.0),
        trusted_proxies=_trusted_proxies(env.get("CHAT_TRUSTED_PROXIES", "")),
        metrics_port=_metrics_port(env.get("CHAT_METRICS_PORT")),
        emf_service=env.get("CHAT_EMF_SERVICE") or None,
        emf_namespace=env.get("CHAT_EMF_NAMESPACE") or "Chat",
        reconnect_after_ms=int(_number(env, "CHAT_RECONNECT_AFTER_MS", 1000)),
        max_frame_bytes=int(_number(env, "CHAT_MAX_FRAME_BYTES", 64 * 1024)),
        max_http_body_bytes=int(_number(env, "CHAT_MAX_HTTP_BODY_BYTES", 64 * 1024)),
        log_level=env.get("CHAT_LOG_LEVEL", "INFO").upper(),
        send_rate=_number(env, "CHAT_SEND_RATE", 10.0),
        send_burst=max(1.0, _number(env, "CHAT_SEND_BURST", 30.0)),
        join_rate=_number(env, "CHAT_JOIN_RATE", 5.0),
        join_burst=max(1.0, _number(env, "CHAT_JOIN_BURST", 30.0)),
        typing_rate=_number(env, "CHAT_TYPING_RATE", 3.0),
        typing_burst=max(1.0, _number(env, "CHAT_TYPING_BURST", 10.0)),
        query_rate=_number(env, "CHAT_QUERY_RATE", 20.0),
        query_burst=max(1.0, _number(env, "CHAT_QUERY_BURST", 60.0)),
        change_rate=_number(env, "CHAT_CHANGE_RATE", 5.0),
        change_burst=max(1.0, _number(env, "CHAT_CHANGE_BURST", 30.0)),
        upload_rate=_number(env, "CHAT_UPLOAD_RATE", 1.0),
        upload_burst=max(1.0, _number(env, "CHAT_UPLOAD_BURST", 10.0)),
        max_connections_per_user=max(1, int(_number(env, "CHAT_MAX_CONNECTIONS_PER_USER", 20))),
        max_socket_queue=max(16, int(_number(env, "CHAT_MAX_SOCKET_QUEUE", 1000))),
        max_decode_packets=max(1, int(_number(env, "CHAT_MAX_DECODE_PACKETS", 256))),
        attachment_max_bytes=int(_number(env, "CHAT_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)),
        attachment_types=_attachment_types(env.get("CHAT_ATTACHMENT_TYPES")),
        attachment_url_ttl_s=max(60, int(_number(env, "CHAT_ATTACHMENT_URL_TTL_S", 12 * 3600))),
        public_url=_public_url(env.get("CHAT_PUBLIC_URL")),
        attachment_bucket=env.get("CHAT_ATTACHMENT_BUCKET", "").strip() or None,
        attachment_dir=env.get("CHAT_ATTACHMENT_DIR") or _beside_database(sqlite_path),
        url_secret=_url_secret(env, secret),
        edit_window_s=_number(env, "CHAT_EDIT_WINDOW_S", 0.0) if edit_window else None,
        group_history=_choice(env, "CHAT_GROUP_HISTORY", ("joined", "all")),  # type: ignore[arg-type]
        webhook_url=webhook_url,
        webhook_secret=_hook_secret(env, webhook_url, policy_url),
        webhook_dead_letter=env.get("CHAT_WEBHOOK_DEAD_LETTER", "").strip() or None,
        webhook_timeout_s=_positive(env, "CHAT_WEBHOOK_TIMEOUT_S", 5.0),
        webhook_attempts=webhook_attempts,
        policy_url=policy_url,
        policy_timeout_s=_positive(env, "CHAT_POLICY_TIMEOUT_S", 2.0),
        policy_on_error=_choice(env, "CHAT_POLICY_ON_ERROR", ("deny", "allow")),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )
