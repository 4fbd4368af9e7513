"""Engine.IO's HTTP error answers: a status and the JSON body the Node reference sends."""

from __future__ import annotations

import orjson

UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
FORBIDDEN = 4
UNSUPPORTED_PROTOCOL_VERSION = 5

MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


class RequestError(Exception):
    def __init__(self, code: int, status: int = 400) -> None:
        super().__init__(MESSAGES[code])
        self.code = code
        self.status = status

    def body(self) -> bytes:
        return orjson.dumps({"code": self.code, "message": MESSAGES[self.code]})
