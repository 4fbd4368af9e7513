"""Which browser origins may talk to the server: its own (judged from Host) and the allow-list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class OriginPolicy:
    def __init__(self, allowed: Sequence[str]) -> None:
        self._allowed = frozenset(o.rstrip("/").lower() for o in allowed)

    def allows(self, origin: str | None, scheme: str, host: str | None) -> bool:
        """No Origin (servers, native apps) passes; a browser origin must be ours or listed.

        X-Forwarded-Host is ignored on purpose: a client can set it to anything.
        """
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        if origin in self._allowed:
            return True
        if host:
            own_scheme = "https" if scheme in ("https", "wss") else "http"
            return origin == f"{own_scheme}://{host.lower()}"
        return False

    def for_engineio(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        """The callable form python-engineio's cors_allowed_origins accepts."""
        return self.allows(origin, str(environ.get("wsgi.url_scheme", "http")), environ.get("HTTP_HOST"))
