"""Minimal python-socketio reference server for the benchmark: in memory, no auth, no persistence.

The same hot-path events as the chat server (join_chat, send_message with ack, new_message to the
room except the sender) on uvicorn + uvloop, so the gap to it is what durability, auth and
bookkeeping cost. The websocket implementation and per-message deflate are switchable, which is
how docs/benchmarks.md measures those two uvicorn settings:

    PORT=3101 REF_WS=websockets-sansio REF_DEFLATE=0 python bench/reference/python_ref.py
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from typing import Any

import socketio
import uvicorn


def build_app() -> Any:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=[],
        ping_interval=float(os.environ.get("REF_PING_INTERVAL_S", "25")),
        ping_timeout=float(os.environ.get("REF_PING_TIMEOUT_S", "20")),
        logger=False,
        engineio_logger=False,
    )
    last_seq: dict[str, int] = {}
    ids = itertools.count(1)

    @sio.on("join_chat")  # type: ignore[untyped-decorator]
    async def join_chat(sid: str, data: Any) -> dict[str, Any]:
        chat_id = data.get("chatId") if isinstance(data, dict) else None
        if not isinstance(chat_id, str):
            return {"ok": False, "error": {"code": "INVALID", "message": "chatId"}}
        await sio.enter_room(sid, chat_id)
        return {"ok": True, "chat": {"id": chat_id}, "messages": [], "hasMore": False}

    @sio.on("send_message")  # type: ignore[untyped-decorator]
    async def send_message(sid: str, data: Any) -> dict[str, Any]:
        chat_id = data.get("chatId") if isinstance(data, dict) else None
        if not isinstance(chat_id, str) or not isinstance(data.get("content"), str):
            return {"ok": False, "error": {"code": "INVALID", "message": "payload"}}
        seq = last_seq.get(chat_id, 0) + 1
        last_seq[chat_id] = seq
        message = {
            "id": str(next(ids)),
            "chatId": chat_id,
            "seq": seq,
            "senderId": sid,
            "content": data["content"],
            "clientMessageId": data.get("clientMessageId"),
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        await sio.emit("new_message", message, to=chat_id, skip_sid=sid)
        return {"ok": True, "message": message}

    async def health(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"status":"ok"}'})

    return socketio.ASGIApp(sio, other_asgi_app=health)


def main() -> None:
    ws = os.environ.get("REF_WS", "websockets-sansio")
    deflate = os.environ.get("REF_DEFLATE", "0") == "1"
    uvicorn.run(
        build_app(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "3101")),
        loop="uvloop",
        ws=ws,
        ws_per_message_deflate=deflate,
        lifespan="off",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
