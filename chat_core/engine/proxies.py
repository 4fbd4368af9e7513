"""Which peers may tell us the client's scheme and address (X-Forwarded-Proto/-For): a load
balancer in front of the node. Anyone else's forwarded headers are ignored, so a client cannot
pass an `https://` page's origin check by claiming it came over TLS.

The same list configures uvicorn's proxy-headers handling of ASGI requests (the HTTP API and
long-polling); this module does it for the WebSocket upgrades that reach the engine directly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, spec: str = "") -> None:
        """spec: comma-separated addresses and networks (`10.0.0.0/16, 127.0.0.1`), `*` for any
        peer, empty for none."""
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.any = "*" in items
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in items if item != "*"
        )

    def __bool__(self) -> bool:
        return self.any or bool(self.networks)

    def trusts(self, host: str | None) -> bool:
        if not host:
            return False
        if self.any:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def resolve(self, peer: str, headers: Mapping[str, str], secure: bool) -> tuple[str, bool]:
        """(client address, secure) for a request from `peer` with lower-case `headers`."""
        if not self.trusts(peer):
            return peer, secure
        proto = headers.get("x-forwarded-proto", "").strip().lower()
        if proto in ("https", "wss"):
            secure = True
        elif proto in ("http", "ws"):
            secure = False
        client = peer
        # the nearest address a trusted proxy did not add is the client (as uvicorn does)
        for hop in reversed([h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]):
            client = hop
            if not self.trusts(hop):
                break
        return client, secure
