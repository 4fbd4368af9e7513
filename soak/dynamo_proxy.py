"""An HTTP proxy in front of a DynamoDB endpoint (moto) that injects what DynamoDB does under
stress: throttling (400 ThrottlingException, before the request reaches the table), latency, and
lost answers (the request is applied, then the client gets 500 InternalServerError, so it cannot
know whether its write happened).

    python -m soak.dynamo_proxy PORT TARGET_URL SEED

The runner sets the faults with `POST /__soak/faults {"throttle": p, "lost": p, "latency_ms":
[lo, hi]}` (all optional; an empty object heals) and reads counts with `GET /__soak/faults`.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import asdict, dataclass, field

import aiohttp
from aiohttp import web

THROTTLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
    "message": "Rate of requests exceeds the allowed throughput.",
}
LOST = {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "Internal server error"}
#: hop-by-hop and length headers the proxy must not copy from one side to the other
DROPPED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


@dataclass(slots=True)
class Faults:
    throttle: float = 0.0
    lost: float = 0.0
    latency_ms: tuple[float, float] = (0.0, 0.0)


@dataclass(slots=True)
class Counts:
    forwarded: int = 0
    throttled: int = 0
    lost: int = 0
    delayed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class FaultProxy:
    def __init__(self, target: str, seed: int) -> None:
        self.target = target.rstrip("/")
        self.random = random.Random(seed)
        self.faults = Faults()
        self.counts = Counts()
        self.session: aiohttp.ClientSession | None = None

    async def start(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))

    async def stop(self, app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    async def set_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        low, high = body.get("latency_ms", [0, 0])
        self.faults = Faults(float(body.get("throttle", 0)), float(body.get("lost", 0)), (float(low), float(high)))
        return web.json_response(asdict(self.faults))

    async def get_counts(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.counts))

    async def forward(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        faults = self.faults
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2] or request.method
        if faults.latency_ms[1] > 0:
            self.counts.delayed += 1
            await asyncio.sleep(self.random.uniform(*faults.latency_ms) / 1000)
        if faults.throttle and self.random.random() < faults.throttle:
            self.counts.throttled += 1
            self._count(f"throttled:{operation}")
            return _error(400, THROTTLED)
        try:
            body = await request.read()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_HEADERS}
            async with self.session.request(
                request.method, self.target + request.path_qs, data=body, headers=headers
            ) as upstream:
                payload = await upstream.read()
                answer_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in DROPPED_HEADERS}
                status = upstream.status
        except (ConnectionError, aiohttp.ClientError):
            # the node went away mid-request (killed by the run), or moto did: nobody to tell
            return web.Response(status=502)
        self.counts.forwarded += 1
        if faults.lost and status < 300 and self.random.random() < faults.lost:
            self.counts.lost += 1
            self._count(f"lost:{operation}")
            return _error(500, LOST)
        return web.Response(status=status, body=payload, headers=answer_headers)

    def _count(self, key: str) -> None:
        self.counts.by_kind[key] = self.counts.by_kind.get(key, 0) + 1


def _error(status: int, body: dict[str, str]) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body),
        headers={"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "soak-fault"},
    )


def build_app(target: str, seed: int) -> web.Application:
    proxy = FaultProxy(target, seed)
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.on_startup.append(proxy.start)
    app.on_cleanup.append(proxy.stop)
    app.router.add_post("/__soak/faults", proxy.set_faults)
    app.router.add_get("/__soak/faults", proxy.get_counts)
    app.router.add_route("*", "/{tail:.*}", proxy.forward)
    return app


def main(argv: list[str]) -> None:
    port, target, seed = int(argv[0]), argv[1], int(argv[2])
    web.run_app(build_app(target, seed), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(sys.argv[1:])
