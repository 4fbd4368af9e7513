"""The HTTP API (PROTOCOL.md "HTTP API"): parse, call the service, shape JSON. No Socket.IO here,
so the Lambda handler imports it without the realtime server."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import payloads, wire
from ..attachments.local_blobs import LocalBlobStore
from ..attachments.routes import download_response, upload_response
from ..auth import Identity, TokenVerifier, issue_token
from ..clock import now_ms
from ..config import Settings
from ..errors import (
    HTTP_STATUS,
    ChatError,
    Forbidden,
    Internal,
    Invalid,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
)
from ..service import ChatService
from .openapi import openapi_document
from .origins import OriginPolicy

log = logging.getLogger("chat.http")

WEB_DIST = Path(__file__).resolve().parent.parent / "web_dist"

ServiceProvider = Callable[[], Awaitable[ChatService]]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: ChatError) -> JSONResponse:
    headers = None
    if isinstance(error, RateLimited) and error.retry_after_s is not None:
        # whole seconds (RFC 9110), rounded up: a client that waits this long gets a token
        headers = {"retry-after": str(max(1, math.ceil(error.retry_after_s)))}
    return JSONResponse({"error": error.to_wire()}, status_code=HTTP_STATUS[error.code], headers=headers)


class OriginGuard:
    """Refuses browser requests from origins outside the policy and answers CORS for the rest."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if not self.policy.allows(origin, scope.get("scheme", "http"), headers.get("host")):
            await error_response(Forbidden("origin not allowed"))(scope, receive, send)
            return
        cors = (
            {
                "access-control-allow-origin": origin,
                "access-control-allow-credentials": "true",
                "vary": "Origin",
            }
            if origin
            else {}
        )
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            preflight = Response(
                status_code=204,
                headers={
                    **cors,
                    "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
                    "access-control-allow-headers": "authorization, content-type",
                    "access-control-max-age": "600",
                },
            )
            await preflight(scope, receive, send)
            return

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start" and cors:
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.encode(), v.encode()) for k, v in cors.items()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)


class HttpApi:
    def __init__(
        self,
        service: ServiceProvider,
        verifier: TokenVerifier,
        settings: Settings,
        *,
        hooks_budget_s: float | None = None,
    ) -> None:
        """`hooks_budget_s`: a process frozen between requests (Lambda) waits this long, at most,
        for a sent message's webhook deliveries before answering; None (a node): it never waits."""
        self._service = service
        self._verifier = verifier
        self._settings = settings
        self._hooks_budget_s = hooks_budget_s
        self.draining = False

    async def _identity(self, request: Request) -> Identity:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: Bearer <token> is required")
        return await self._verifier.verify(token.strip())

    async def _body(self, request: Request) -> object:
        declared = request.headers.get("content-length")
        limit = self._settings.max_http_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"body is larger than {limit} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"body is larger than {limit} bytes")
        if not body:
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise Invalid("body must be JSON") from None

    async def healthz(self, request: Request) -> Response:
        if self.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def list_chats(self, request: Request) -> Response:
        who = await self._identity(request)
        limit = payloads.limit_param(request.query_params.get("limit"), payloads.INBOX_PAGE, payloads.MAX_PAGE)
        cursor = payloads.cursor_value(request.query_params.get("cursor") or None)
        service = await self._service()
        page = await service.list_chats(who.user_id, limit, cursor)
        return JSONResponse(
            {"chats": [service.chat_json(c, who.user_id) for c in page.chats], "nextCursor": page.next_cursor}
        )

    async def create_chat(self, request: Request) -> Response:
        who = await self._identity(request)
        parsed = payloads.create_chat(await self._body(request))
        service = await self._service()
        chat, created = await service.create_chat(who.user_id, parsed)
        return JSONResponse(service.chat_json(chat, who.user_id), status_code=201 if created else 200)

    async def get_chat(self, request: Request) -> Response:
        who = await self._identity(request)
        chat_id = payloads.chat_id(request.path_params["chat_id"])
        service = await self._service()
        chat = await service.get_chat(who.user_id, chat_id)
        return JSONResponse(service.chat_json(chat, who.user_id))

    async def get_messages(self, request: Request) -> Response:
        who = await self._identity(request)
        query = request.query_params
        parsed = payloads.GetMessages(
            chat_id=payloads.chat_id(request.path_params["chat_id"]),
            before_seq=payloads.seq_param(query.get("beforeSeq"), "beforeSeq"),
            after_seq=payloads.seq_param(query.get("afterSeq"), "afterSeq"),
            limit=payloads.limit_param(query.get("limit")),
        )
        service = await self._service()
        page = await service.get_messages(who.user_id, parsed)
        return JSONResponse(service.page_json(page, who.user_id))

    async def send_message(self, request: Request) -> Response:
        who = await self._identity(request)
        chat_id = payloads.chat_id(request.path_params["chat_id"])
        parsed = payloads.send_message(await self._body(request), chat=chat_id)
        service = await self._service()
        result = await service.send_message(who.user_id, parsed, None)
        if self._hooks_budget_s is not None:
            await service.flush_hooks(self._hooks_budget_s)
        shaped = service.message_json(result.message, who.user_id)
        return JSONResponse(shaped, status_code=201 if result.created else 200)

    async def edit_message(self, request: Request) -> Response:
        who = await self._identity(request)
        chat_id = payloads.chat_id(request.path_params["chat_id"])
        message_id = payloads.message_id(request.path_params["message_id"])
        parsed = payloads.edit_message(await self._body(request), chat=chat_id, message=message_id)
        service = await self._service()
        result = await service.edit_message(who.user_id, parsed)
        return JSONResponse(service.message_json(result.message, who.user_id))

    async def delete_message(self, request: Request) -> Response:
        who = await self._identity(request)
        ref = payloads.MessageRef(
            payloads.chat_id(request.path_params["chat_id"]), payloads.message_id(request.path_params["message_id"])
        )
        service = await self._service()
        result = await service.delete_message(who.user_id, ref)
        return JSONResponse(service.message_json(result.message, who.user_id))

    async def react(self, request: Request) -> Response:
        who = await self._identity(request)
        parsed = payloads.React(
            payloads.chat_id(request.path_params["chat_id"]),
            payloads.message_id(request.path_params["message_id"]),
            payloads.emoji(request.path_params["emoji"]),
            add=request.method == "PUT",
        )
        service = await self._service()
        result = await service.react(who.user_id, parsed)
        return JSONResponse(service.message_json(result.message, who.user_id))

    async def add_members(self, request: Request) -> Response:
        who = await self._identity(request)
        chat_id = payloads.chat_id(request.path_params["chat_id"])
        parsed = payloads.add_members(await self._body(request), chat=chat_id)
        service = await self._service()
        chat = await service.add_members(who.user_id, parsed)
        return JSONResponse(service.chat_json((await service.views(who.user_id, [chat]))[0], who.user_id))

    async def remove_member(self, request: Request) -> Response:
        """An admin removes a member; the caller's own id: they leave the group (204)."""
        who = await self._identity(request)
        parsed = payloads.MemberRef(
            payloads.chat_id(request.path_params["chat_id"]), payloads.user_id(request.path_params["user_id"])
        )
        service = await self._service()
        chat = await service.remove_member(who.user_id, parsed)
        if parsed.user_id == who.user_id:
            return Response(status_code=204)
        return JSONResponse(service.chat_json((await service.views(who.user_id, [chat]))[0], who.user_id))

    async def update_chat(self, request: Request) -> Response:
        who = await self._identity(request)
        chat_id = payloads.chat_id(request.path_params["chat_id"])
        parsed = payloads.update_chat(await self._body(request), chat=chat_id)
        service = await self._service()
        chat = await service.update_chat(who.user_id, parsed)
        return JSONResponse(service.chat_json((await service.views(who.user_id, [chat]))[0], who.user_id))

    async def block(self, request: Request) -> Response:
        who = await self._identity(request)
        other = payloads.user_id(request.path_params["user_id"])
        await (await self._service()).block_user(who.user_id, other, blocking=request.method == "PUT")
        return Response(status_code=204)

    async def list_blocks(self, request: Request) -> Response:
        who = await self._identity(request)
        return JSONResponse({"userIds": await (await self._service()).blocked_users(who.user_id)})

    async def request_upload(self, request: Request) -> Response:
        who = await self._identity(request)
        chat_id = payloads.chat_id(request.path_params["chat_id"])
        parsed = payloads.request_upload(await self._body(request), chat=chat_id)
        offer = await (await self._service()).request_upload(who.user_id, parsed)
        return JSONResponse(wire.upload_offer(offer.attachment.id, offer.slot), status_code=201)

    async def mark_read(self, request: Request) -> Response:
        who = await self._identity(request)
        chat_id = payloads.chat_id(request.path_params["chat_id"])
        parsed = payloads.mark_read(await self._body(request), chat=chat_id)
        result = await (await self._service()).mark_read(who.user_id, parsed)
        return JSONResponse(
            {"chatId": result.chat_id, "readSeq": result.read_seq, "unreadCount": result.unread_count}
        )

    async def download(self, request: Request) -> Response:
        uploads = (await self._service()).uploads
        if uploads is None:
            raise NotFound("attachments are not enabled on this server")
        return await download_response(request, uploads.blobs, uploads.signer, now_ms())

    async def upload(self, request: Request) -> Response:
        uploads = (await self._service()).uploads
        if uploads is None or not isinstance(uploads.blobs, LocalBlobStore):
            raise NotFound("no such route")  # on S3 files go to the bucket, not here
        return await upload_response(request, uploads.blobs, uploads.signer, now_ms())

    async def dev_token(self, request: Request) -> Response:
        if not self._settings.dev or self._settings.jwt_secret is None:
            raise NotFound("not found")
        body = await self._body(request)
        if not isinstance(body, dict):
            raise Invalid("body must be an object")
        user_id = payloads.user_id(body.get("userId"))
        return JSONResponse({"token": issue_token(self._settings.jwt_secret, user_id, ttl_s=12 * 3600)})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(dev=self._settings.dev))


async def _chat_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ChatError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound("no such route"))
    if exc.status_code == 405:
        return JSONResponse(
            {"error": {"code": "INVALID", "message": "method not allowed"}}, status_code=405
        )
    return error_response(Invalid(str(exc.detail)))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("request failed", exc_info=exc, extra={"path": request.url.path})
    return error_response(Internal())


def create_http_app(
    service: ServiceProvider,
    verifier: TokenVerifier,
    settings: Settings,
    *,
    metrics: Callable[[], bytes] | None = None,
    hooks_budget_s: float | None = None,
) -> tuple[Starlette, HttpApi]:
    api = HttpApi(service, verifier, settings, hooks_budget_s=hooks_budget_s)
    routes: list[Route | Mount] = []
    if metrics is not None:
        render = metrics

        async def metrics_route(request: Request) -> Response:
            return Response(render(), media_type="text/plain; version=0.0.4; charset=utf-8")

        routes.append(Route("/metrics", metrics_route, methods=["GET"]))
    routes += [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
        Route("/v1/chats", api.list_chats, methods=["GET"]),
        Route("/v1/chats", api.create_chat, methods=["POST"]),
        Route("/v1/chats/{chat_id}", api.get_chat, methods=["GET"]),
        Route("/v1/chats/{chat_id}/messages", api.get_messages, methods=["GET"]),
        Route("/v1/chats/{chat_id}/messages", api.send_message, methods=["POST"]),
        Route("/v1/chats/{chat_id}/read", api.mark_read, methods=["POST"]),
        Route("/v1/chats/{chat_id}/messages/{message_id}", api.edit_message, methods=["PATCH"]),
        Route("/v1/chats/{chat_id}/messages/{message_id}", api.delete_message, methods=["DELETE"]),
        Route("/v1/chats/{chat_id}/messages/{message_id}/reactions/{emoji}", api.react, methods=["PUT", "DELETE"]),
        Route("/v1/chats/{chat_id}/attachments", api.request_upload, methods=["POST"]),
        Route("/v1/chats/{chat_id}", api.update_chat, methods=["PATCH"]),
        Route("/v1/chats/{chat_id}/members", api.add_members, methods=["POST"]),
        Route("/v1/chats/{chat_id}/members/{user_id}", api.remove_member, methods=["DELETE"]),
        Route("/v1/blocks", api.list_blocks, methods=["GET"]),
        Route("/v1/blocks/{user_id}", api.block, methods=["PUT", "DELETE"]),
        Route("/v1/uploads/{attachment_id}", api.upload, methods=["PUT"]),
        Route("/v1/attachments/{chat_id}/{attachment_id}", api.download, methods=["GET"]),
        Route("/dev/token", api.dev_token, methods=["POST"]),
    ]
    if (WEB_DIST / "index.html").is_file():
        routes.append(Mount("/", app=StaticFiles(directory=WEB_DIST, html=True), name="web"))
    else:
        routes.append(Route("/", _no_demo, methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(OriginGuard, policy=OriginPolicy(settings.cors_origins))],
        exception_handlers={ChatError: _chat_error, HTTPException: _http_error, Exception: _unexpected},
    )
    return app, api


async def _no_demo(request: Request) -> Response:
    index = WEB_DIST / "index.html"
    if index.is_file():  # built after start-up
        return FileResponse(index)
    return JSONResponse(
        {
            "service": "chat",
            "status": "ok",
            "demo": "not built: run `make web` (needs Node.js) and restart to get the demo page here",
        }
    )
