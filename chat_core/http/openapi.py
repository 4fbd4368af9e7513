"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json."""

from __future__ import annotations

from typing import Any, get_args

from ..errors import ErrorCode
from ..payloads import (
    MAX_ADDED_AT_ONCE,
    MAX_ADMINS,
    MAX_ATTACHMENTS,
    MAX_CLIENT_MESSAGE_ID_CHARS,
    MAX_CONTENT_CHARS,
    MAX_CONTENT_TYPE_CHARS,
    MAX_EMOJI_CHARS,
    MAX_FILE_NAME_CHARS,
    MAX_GROUP_MEMBERS,
    MAX_PAGE,
    MAX_TITLE_CHARS,
    MAX_TOPIC_CHARS,
)

_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,128}$"}
_SEQ = {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}
_TIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "INVALID",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN (browser origin not allowed, or not allowed to the caller), BLOCKED",
        404: "NOT_FOUND",
        413: "TOO_LARGE",
        429: "RATE_LIMITED",
        503: "UNAVAILABLE",
    }
    responses = {str(s): {"description": text[s], **_json(_ref("Error"))} for s in statuses}
    if "429" in responses:
        responses["429"]["headers"] = {
            "Retry-After": {
                "description": "seconds until the rate limit lets the request through",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return responses


def _param(name: str, where: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema}


_CHAT_ID = _param("chatId", "path", {"type": "string"}, required=True)
_MESSAGE_ID = _param("messageId", "path", {"type": "string"}, required=True)
_AUTH_ERRORS = (400, 401, 403, 404, 429, 503)


def _changes() -> dict[str, Any]:
    """Errors of a message change: 403 is also an edit or delete by someone other than the sender."""
    return _errors(*_AUTH_ERRORS, 413)


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "enum": list(get_args(ErrorCode)),
                    },
                    "message": {"type": "string"},
                },
            }
        },
    },
    "Message": {
        "type": "object",
        "required": ["id", "chatId", "seq", "senderId", "content", "clientMessageId", "createdAt"],
        "properties": {
            "id": {"type": "string"},
            "chatId": {"type": "string"},
            "seq": {"type": "integer", "minimum": 1},
            "senderId": _ID,
            "content": {"type": "string"},
            "clientMessageId": {"type": "string"},
            "createdAt": _TIME,
            "changeSeq": {"type": "integer", "minimum": 1, "description": "seq of the latest change"},
            "editedAt": {"type": ["string", "null"], "format": "date-time"},
            "deleted": {"type": "boolean"},
            "replyTo": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["id", "senderId", "snippet"],
                        "properties": {"id": {"type": "string"}, "senderId": _ID, "snippet": {"type": "string"}},
                    },
                    {"type": "null"},
                ]
            },
            "reactions": {"type": "array", "items": _ref("Reaction")},
            "attachments": {"type": "array", "items": _ref("Attachment")},
        },
    },
    "Reaction": {
        "type": "object",
        "required": ["emoji", "count", "userIds"],
        "properties": {
            "emoji": {"type": "string"},
            "count": {"type": "integer", "minimum": 1},
            "userIds": {"type": "array", "items": _ID, "maxItems": 20},
            "mine": {"type": "boolean"},
        },
    },
    "Attachment": {
        "type": "object",
        "required": ["id", "name", "contentType", "size", "url"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "contentType": {"type": "string"},
            "size": {"type": "integer", "minimum": 1},
            "width": {"type": "integer", "minimum": 1},
            "height": {"type": "integer", "minimum": 1},
            "url": {"type": ["string", "null"], "description": "signed, expiring; members only"},
        },
    },
    "UploadOffer": {
        "type": "object",
        "required": ["attachmentId", "upload", "expiresAt"],
        "properties": {
            "attachmentId": {"type": "string"},
            "upload": {
                "type": "object",
                "required": ["method", "url", "fields", "headers"],
                "properties": {
                    "method": {"type": "string", "enum": ["PUT", "POST"]},
                    "url": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "expiresAt": _TIME,
        },
    },
    "Chat": {
        "type": "object",
        "required": ["id", "type", "title", "members", "createdAt", "lastSeq", "lastMessage", "unreadCount"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string", "enum": ["direct", "group"]},
            "title": {"type": ["string", "null"]},
            "members": {"type": "array", "items": _ID},
            "createdAt": _TIME,
            "lastSeq": {"type": "integer", "minimum": 0},
            "lastMessage": {"oneOf": [_ref("Message"), {"type": "null"}]},
            "unreadCount": {"type": "integer", "minimum": 0},
            "lastActivityAt": _TIME,
            "readSeqs": {"type": "object", "additionalProperties": {"type": "integer"}},
            "topic": {"type": ["string", "null"], "description": "direct chats: the subject they are about"},
            "admins": {"type": "array", "items": _ID, "description": "groups: who may change it"},
            "blocked": {"type": "boolean", "description": "direct chats: one of the two blocks the other"},
            "version": {"type": "integer", "minimum": 0, "description": "rises with every membership change"},
        },
    },
    "MessagePage": {
        "type": "object",
        "required": ["messages", "hasMore"],
        "properties": {
            "messages": {"type": "array", "items": _ref("Message")},
            "updates": {
                "type": "array",
                "items": _ref("Message"),
                "description": "with afterSeq: the current state of older messages changed after it",
            },
            "hasMore": {"type": "boolean"},
        },
    },
}


def openapi_document(*, dev: bool = False) -> dict[str, Any]:
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Liveness (503 while the node drains)",
                "security": [],
                "responses": {
                    "200": {"description": "ok", **_json({"type": "object"})},
                    "503": {"description": "draining", **_json({"type": "object"})},
                },
            }
        },
        "/v1/chats": {
            "get": {
                "summary": "The caller's chats, newest activity first",
                "security": secured,
                "parameters": [
                    _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100}),
                    _param("cursor", "query", {"type": "string"}),
                ],
                "responses": {
                    "200": {
                        "description": "a page of chats",
                        **_json(
                            {
                                "type": "object",
                                "required": ["chats", "nextCursor"],
                                "properties": {
                                    "chats": {"type": "array", "items": _ref("Chat")},
                                    "nextCursor": {"type": ["string", "null"]},
                                },
                            }
                        ),
                    },
                    **_errors(*_AUTH_ERRORS),
                },
            },
            "post": {
                "summary": "Create a group, or open the direct chat with a user",
                "security": secured,
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["type", "members"],
                                    "properties": {
                                        "type": {"const": "group"},
                                        "title": {"type": ["string", "null"], "maxLength": MAX_TITLE_CHARS},
                                        "members": {
                                            "type": "array",
                                            "items": _ID,
                                            "minItems": 1,
                                            "maxItems": MAX_GROUP_MEMBERS,
                                        },
                                    },
                                },
                                {
                                    "type": "object",
                                    "required": ["type", "recipientId"],
                                    "properties": {
                                        "type": {"const": "direct"},
                                        "recipientId": _ID,
                                        "topic": {
                                            "type": ["string", "null"],
                                            "minLength": 1,
                                            "maxLength": MAX_TOPIC_CHARS,
                                        },
                                    },
                                },
                            ]
                        }
                    ),
                },
                "responses": {
                    "201": {"description": "created", **_json(_ref("Chat"))},
                    "200": {"description": "the direct chat existed", **_json(_ref("Chat"))},
                    **_errors(*_AUTH_ERRORS, 413),
                },
            },
        },
        "/v1/chats/{chatId}": {
            "get": {
                "summary": "One chat of the caller",
                "security": secured,
                "parameters": [_CHAT_ID],
                "responses": {"200": {"description": "the chat", **_json(_ref("Chat"))}, **_errors(*_AUTH_ERRORS)},
            },
            "patch": {
                "summary": "Rename a group or set its admins (admins only)",
                "security": secured,
                "parameters": [_CHAT_ID],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "minProperties": 1,
                            "properties": {
                                "title": {"type": ["string", "null"], "maxLength": MAX_TITLE_CHARS},
                                "admins": {"type": "array", "items": _ID, "minItems": 1, "maxItems": MAX_ADMINS},
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {"description": "the chat now", **_json(_ref("Chat"))},
                    **_errors(*_AUTH_ERRORS, 413),
                },
            },
        },
        "/v1/chats/{chatId}/members": {
            "post": {
                "summary": "Add members to a group (admins only)",
                "security": secured,
                "parameters": [_CHAT_ID],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["userIds"],
                            "properties": {
                                "userIds": {"type": "array", "items": _ID, "minItems": 1, "maxItems": MAX_ADDED_AT_ONCE}
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {"description": "the chat now", **_json(_ref("Chat"))},
                    **_errors(*_AUTH_ERRORS, 413),
                },
            }
        },
        "/v1/chats/{chatId}/members/{userId}": {
            "delete": {
                "summary": "Remove a member (admins only); the caller's own id leaves the group",
                "security": secured,
                "parameters": [_CHAT_ID, _param("userId", "path", _ID, required=True)],
                "responses": {
                    "200": {"description": "the chat now", **_json(_ref("Chat"))},
                    "204": {"description": "the caller left the group"},
                    **_errors(*_AUTH_ERRORS),
                },
            }
        },
        "/v1/blocks": {
            "get": {
                "summary": "Whom the caller blocks",
                "security": secured,
                "responses": {
                    "200": {
                        "description": "user ids",
                        **_json(
                            {
                                "type": "object",
                                "required": ["userIds"],
                                "properties": {"userIds": {"type": "array", "items": _ID}},
                            }
                        ),
                    },
                    **_errors(*_AUTH_ERRORS),
                },
            }
        },
        "/v1/blocks/{userId}": {
            method: {
                "summary": summary,
                "security": secured,
                "parameters": [_param("userId", "path", _ID, required=True)],
                "responses": {"204": {"description": "done (also when it was so already)"}, **_errors(*_AUTH_ERRORS)},
            }
            for method, summary in (("put", "Block a user"), ("delete", "Unblock a user"))
        },
        "/v1/chats/{chatId}/messages": {
            "get": {
                "summary": "History, oldest first",
                "security": secured,
                "parameters": [
                    _CHAT_ID,
                    _param("beforeSeq", "query", _SEQ),
                    _param("afterSeq", "query", _SEQ),
                    _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
                ],
                "responses": {
                    "200": {"description": "a page", **_json(_ref("MessagePage"))},
                    **_errors(*_AUTH_ERRORS),
                },
            },
            "post": {
                "summary": "Send a message (idempotent on clientMessageId)",
                "security": secured,
                "parameters": [_CHAT_ID],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["content", "clientMessageId"],
                            "properties": {
                                "content": {
                                    "type": "string",
                                    "maxLength": MAX_CONTENT_CHARS,
                                    "description": "1 or more code points, not blank; may be empty with attachments",
                                },
                                "clientMessageId": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_CLIENT_MESSAGE_ID_CHARS,
                                },
                                "replyTo": _ID,
                                "attachmentIds": {
                                    "type": "array",
                                    "items": _ID,
                                    "minItems": 1,
                                    "maxItems": MAX_ATTACHMENTS,
                                },
                            },
                        }
                    ),
                },
                "responses": {
                    "201": {"description": "stored and delivered", **_json(_ref("Message"))},
                    "200": {"description": "a replay: the first message", **_json(_ref("Message"))},
                    **_errors(*_AUTH_ERRORS, 413),
                },
            },
        },
        "/v1/chats/{chatId}/messages/{messageId}": {
            "patch": {
                "summary": "Edit a message (its sender only)",
                "security": secured,
                "parameters": [_CHAT_ID, _MESSAGE_ID],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["content"],
                            "properties": {
                                "content": {"type": "string", "minLength": 1, "maxLength": MAX_CONTENT_CHARS}
                            },
                        }
                    ),
                },
                "responses": {"200": {"description": "the message now", **_json(_ref("Message"))}, **_changes()},
            },
            "delete": {
                "summary": "Delete a message (its sender only): a tombstone stays",
                "security": secured,
                "parameters": [_CHAT_ID, _MESSAGE_ID],
                "responses": {"200": {"description": "the tombstone", **_json(_ref("Message"))}, **_changes()},
            },
        },
        "/v1/chats/{chatId}/messages/{messageId}/reactions/{emoji}": {
            method: {
                "summary": summary,
                "security": secured,
                "parameters": [
                    _CHAT_ID,
                    _MESSAGE_ID,
                    _param("emoji", "path", {"type": "string", "maxLength": MAX_EMOJI_CHARS}, required=True),
                ],
                "responses": {"200": {"description": "the message now", **_json(_ref("Message"))}, **_changes()},
            }
            for method, summary in (("put", "Add the caller's reaction"), ("delete", "Remove the caller's reaction"))
        },
        "/v1/chats/{chatId}/attachments": {
            "post": {
                "summary": "An upload slot for a file to attach to a message",
                "security": secured,
                "parameters": [_CHAT_ID],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["fileName", "contentType", "size"],
                            "properties": {
                                "fileName": {"type": "string", "minLength": 1, "maxLength": MAX_FILE_NAME_CHARS},
                                "contentType": {"type": "string", "minLength": 1, "maxLength": MAX_CONTENT_TYPE_CHARS},
                                "size": {"type": "integer", "minimum": 1},
                            },
                        }
                    ),
                },
                "responses": {
                    "201": {"description": "the upload slot", **_json(_ref("UploadOffer"))},
                    **_errors(*_AUTH_ERRORS, 413),
                },
            }
        },
        "/v1/uploads/{attachmentId}": {
            "put": {
                "summary": "Embedded mode: the file's bytes, to the signed URL of its upload slot",
                "security": [],
                "parameters": [_param("attachmentId", "path", {"type": "string"}, required=True)],
                "requestBody": {
                    "required": True,
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {"204": {"description": "stored"}, **_errors(400, 403, 404, 413)},
            }
        },
        "/v1/attachments/{chatId}/{attachmentId}": {
            "get": {
                "summary": "A file, through the signed URL a message carries",
                "security": [],
                "parameters": [_CHAT_ID, _param("attachmentId", "path", {"type": "string"}, required=True)],
                "responses": {
                    "200": {"description": "the file (embedded mode)"},
                    "302": {"description": "to a short-lived storage URL (S3)"},
                    **_errors(400, 403, 404),
                },
            }
        },
        "/v1/chats/{chatId}/read": {
            "post": {
                "summary": "Raise the caller's read mark",
                "security": secured,
                "parameters": [_CHAT_ID],
                "requestBody": {
                    "required": False,
                    **_json({"type": "object", "properties": {"upToSeq": _SEQ}}),
                },
                "responses": {
                    "200": {
                        "description": "the read mark now stored",
                        **_json(
                            {
                                "type": "object",
                                "required": ["chatId", "readSeq", "unreadCount"],
                                "properties": {
                                    "chatId": {"type": "string"},
                                    "readSeq": {"type": "integer"},
                                    "unreadCount": {"type": "integer"},
                                },
                            }
                        ),
                    },
                    **_errors(*_AUTH_ERRORS, 413),
                },
            }
        },
    }
    if dev:
        paths["/dev/token"] = {
            "post": {
                "summary": "Dev mode only: a token for any user",
                "security": [],
                "requestBody": {
                    "required": True,
                    **_json({"type": "object", "required": ["userId"], "properties": {"userId": _ID}}),
                },
                "responses": {
                    "200": {
                        "description": "a token",
                        **_json({"type": "object", "properties": {"token": {"type": "string"}}}),
                    },
                    **_errors(400, 413),
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chat HTTP API", "version": "1.1.0"},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": secured,
        "paths": paths,
    }
