"""The inbox cursor both stores hand out: a position (last activity, chat id) in the caller's own
newest-first list, base64url JSON. It names no other user's data, so tampering reveals nothing."""

from __future__ import annotations

import base64
import binascii
import json

from ..errors import Invalid


def encode_inbox_cursor(last_activity_ms: int, chat_id: str) -> str:
    raw = json.dumps([last_activity_ms, chat_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_inbox_cursor(cursor: str) -> tuple[int, str]:
    """(last activity, chat id), or Invalid for anything this module did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        activity, chat_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise Invalid("cursor is not valid") from None
    if type(activity) is not int or not isinstance(chat_id, str):
        raise Invalid("cursor is not valid")
    return activity, chat_id
