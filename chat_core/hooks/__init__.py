"""Platform hooks (docs/conversations.md, "Platform hooks"): the signed offline-message webhook
and the check of who may start a chat with whom. Each hook object owns its HTTP client and is
closed with `aclose()`; neither is ever on the send path."""

from __future__ import annotations

from .offline import OfflineNotifier, PresenceLookup
from .policy import ChatKind, PolicyCheck
from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signature, verify

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ChatKind",
    "OfflineNotifier",
    "PolicyCheck",
    "PresenceLookup",
    "sign",
    "signature",
    "verify",
]
