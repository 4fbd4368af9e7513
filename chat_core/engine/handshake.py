"""What a client's first request said: headers, query, address. Kept for the connection's life."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl


@dataclass(frozen=True, slots=True)
class Handshake:
    #: lower-case names; a repeated header keeps its last value
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    address: str = ""
    secure: bool = False
    #: milliseconds since the epoch
    issued_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")

    @property
    def host(self) -> str | None:
        return self.headers.get("host")

    @property
    def scheme(self) -> str:
        return "https" if self.secure else "http"


def parse_query(raw: bytes | str) -> dict[str, str]:
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return dict(parse_qsl(text, keep_blank_values=True))
