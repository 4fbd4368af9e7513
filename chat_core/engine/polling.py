"""HTTP long-polling, as an ASGI handler: the handshake, GET (wait for frames), POST (packets in),
OPTIONS (CORS preflight). Every refusal is answered with the status and body the spec gives."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from . import eio_packets as eio
from .eio_session import POLLING, TRANSPORT_ERROR
from .errors import BAD_HANDSHAKE_METHOD, BAD_REQUEST, FORBIDDEN, UNKNOWN_SID, RequestError
from .handshake import Handshake, parse_query

if TYPE_CHECKING:
    from .connection import Connection
    from .server import Server

log = logging.getLogger("chat.engine")

TEXT_PLAIN = (b"content-type", b"text/plain; charset=UTF-8")
TEXT_HTML = (b"content-type", b"text/html")
JSON = (b"content-type", b"application/json")


def request_handshake(scope: Scope) -> Handshake:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        headers[name.decode("latin-1").lower()] = value.decode("latin-1")
    client = scope.get("client")
    return Handshake(
        headers=headers,
        query=parse_query(scope.get("query_string", b"")),
        address=client[0] if client else "",
        secure=scope.get("scheme") in ("https", "wss"),
    )


async def respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def handle(server: Server, scope: Scope, receive: Receive, send: Send) -> None:
    request = request_handshake(scope)
    method = scope["method"]
    cors = server.cors_headers(request)
    try:
        if cors is None:
            raise RequestError(FORBIDDEN, 403)
        if method == "OPTIONS":
            await respond(send, 204, b"", [*cors, *preflight_headers(request)])
            return
        server.check_query(request, POLLING)
        sid = request.query.get("sid")
        if sid is None:
            if method != "GET":
                raise RequestError(BAD_HANDSHAKE_METHOD)
            opened = server.open_connection(POLLING, request)
            await respond(send, 200, opened.session.open_frame(), [TEXT_PLAIN, *cors])
            return
        conn = server.connections.get(sid)
        if conn is not None and conn.session.overdue(server.now_ms()):
            conn.close_overdue()  # its timer has not run yet (a busy event loop): as if it had
            conn = None
        if conn is None:
            raise RequestError(UNKNOWN_SID)
        if conn.session.transport != POLLING:
            raise RequestError(BAD_REQUEST)
        if method == "GET":
            await _poll(conn, send, cors)
        elif method == "POST":
            await _push(server, conn, receive, send, cors)
        else:
            raise RequestError(BAD_REQUEST)
    except RequestError as refusal:
        await respond(send, refusal.status, refusal.body(), [JSON, *(cors or [])])


def preflight_headers(request: Handshake) -> list[tuple[bytes, bytes]]:
    asked = request.headers.get("access-control-request-headers")
    headers = [(b"access-control-allow-methods", b"GET, POST, OPTIONS"), (b"access-control-max-age", b"600")]
    if asked:
        headers.append((b"access-control-allow-headers", asked.encode("latin-1")))
    return headers


async def _poll(conn: Connection, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
    if conn.waiter is not None and not conn.waiter.done():
        log.info("overlapping polls from one client; closing", extra={"eio_sid": conn.sid})
        conn.close(TRANSPORT_ERROR, notify=True)
        raise RequestError(BAD_REQUEST)
    session = conn.session
    if not session.buffer and not session.closed:
        waiter = conn.server.loop.create_future()
        conn.waiter = waiter
        try:
            await waiter
        finally:
            if conn.waiter is waiter:
                conn.waiter = None
    frames = session.take_buffer()
    await respond(send, 200, eio.encode_payload(frames) if frames else b"6", [TEXT_PLAIN, *cors])


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The body, or None when it is larger than limit (reading stops there)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _push(
    server: Server, conn: Connection, receive: Receive, send: Send, cors: list[tuple[bytes, bytes]]
) -> None:
    body = await _read_body(receive, server.options.max_payload)
    if body is None:
        log.info("polling body over maxPayload; closing", extra={"eio_sid": conn.sid})
        conn.close(TRANSPORT_ERROR, notify=True)
        await respond(send, 413, b"", [TEXT_HTML, *cors])
        return
    try:
        packets = eio.decode_payload(body, server.options.max_polling_packets)
    except eio.PacketError as error:
        conn.fail(str(error))
        raise RequestError(BAD_REQUEST) from None
    now_ms = server.now_ms()
    for kind, data in packets:
        if conn.closed:
            break
        conn.receive_packet(kind, data, now_ms)
    await respond(send, 200, b"ok", [TEXT_HTML, *cors])
