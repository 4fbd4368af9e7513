"""What a server is configured with, in the spec's units (milliseconds, bytes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .proxies import TrustedProxies

#: origin (None when the request has none), scheme ("http"/"https"), Host header -> allowed?
OriginCheck = Callable[[str | None, str, str | None], bool]


def any_origin(origin: str | None, scheme: str, host: str | None) -> bool:
    return True


@dataclass(frozen=True)
class EngineOptions:
    path: str = "/socket.io/"
    ping_interval_ms: int = 25_000
    ping_timeout_ms: int = 20_000
    #: largest WebSocket frame and polling body a client may send (the handshake's maxPayload)
    max_payload: int = 1_000_000
    #: an Engine.IO connection that joins no namespace in this time is closed (0: never)
    connect_timeout_ms: int = 45_000
    #: most Engine.IO packets in one polling POST
    max_polling_packets: int = 256
    #: most binary attachments of one Socket.IO packet
    max_attachments: int = 10
    #: a client that lets this many frames pile up is dropped as a slow consumer: frames waiting
    #: for a polling GET, or frames written to a WebSocket while its transport buffer is over the
    #: high-water mark (the kernel's and the transport's buffers hold what comes before)
    max_buffered_frames: int = 1_000
    #: a WebSocket whose unsent bytes pass this is dropped as a slow consumer, whatever the count
    max_buffered_bytes: int = 4 << 20
    transports: tuple[str, ...] = ("polling", "websocket")
    allow_origin: OriginCheck = any_origin
    #: answer CORS with Access-Control-Allow-Credentials (cookies, e.g. a load balancer's stickiness)
    cors_credentials: bool = True
    #: peers whose X-Forwarded-Proto/-For are believed on WebSocket upgrades (ASGI requests: uvicorn's
    #: proxy_headers with the same list)
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)
