"""Who may start a chat with whom: the platform is asked before a new direct chat or group is
created (never on the send path).

    POST <CHAT_POLICY_URL>             (signed: chat_core.hooks.signing)
    {"type": "chat.create", "kind": "direct" | "group", "userId": "<who asks>",
     "others": ["<the recipient, or the other members>"], "topic": "<subject>" | null}
    -> 2xx {"allow": true | false}

The whole call, connecting included, has a budget (`timeout_s`, 2 s by default): a user is
waiting. A timeout, a network error, a non-2xx answer or a body that is not `{"allow": <bool>}`
answers `on_error` ("deny" by default: a platform that cannot say yes has not said yes; "allow"
keeps chats opening while the platform is down) and logs a warning on "chat.hooks".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Literal

import httpx
import orjson

from ..config import PolicyOnError, Settings
from .client import new_client, post_signed

log = logging.getLogger("chat.hooks")

ChatKind = Literal["direct", "group"]
DEFAULT_TIMEOUT_S = 2.0


class PolicyCheck:
    def __init__(
        self, url: str, secret: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, on_error: PolicyOnError = "deny"
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be more than 0")
        if on_error not in ("deny", "allow"):
            raise ValueError(f"on_error must be deny or allow, got {on_error!r}")
        self.url = url
        self._secret = secret
        self._timeout_s = timeout_s
        self.on_error: PolicyOnError = on_error
        self.allowed = 0
        self.denied = 0
        self.errors = 0
        """Calls answered with `on_error` (also counted in allowed or denied)."""
        self._client = new_client(timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyCheck | None:
        """The check the settings ask for; None without CHAT_POLICY_URL (everyone may)."""
        if settings.policy_url is None or settings.webhook_secret is None:
            return None
        return cls(
            settings.policy_url,
            settings.webhook_secret,
            timeout_s=settings.policy_timeout_s,
            on_error=settings.policy_on_error,
        )

    async def allow(self, kind: ChatKind, user_id: str, others: Sequence[str], topic: str | None = None) -> bool:
        """Whether `user_id` may create the chat. Never raises (but lets cancellation through)."""
        body = orjson.dumps(
            {"type": "chat.create", "kind": kind, "userId": user_id, "others": list(others), "topic": topic}
        )
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await post_signed(self._client, self.url, self._secret, body)
        except TimeoutError:
            return self._failed(f"no answer within {self._timeout_s:g} s", kind, user_id)
        except httpx.HTTPError as error:
            return self._failed(f"{type(error).__name__}: {error}", kind, user_id)
        if not 200 <= answer.status < 300:
            return self._failed(f"HTTP {answer.status}", kind, user_id)
        try:
            decision = None if answer.truncated else orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            decision = None
        verdict = decision.get("allow") if isinstance(decision, dict) else None
        if isinstance(verdict, bool):
            self._count(verdict)
            return verdict
        return self._failed('the answer is not {"allow": true|false}', kind, user_id)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _failed(self, reason: str, kind: ChatKind, user_id: str) -> bool:
        verdict = self.on_error == "allow"
        self.errors += 1
        self._count(verdict)
        log.warning(
            "chat policy check failed",
            extra={"reason": reason, "kind": kind, "user_id": user_id, "answered": self.on_error},
        )
        return verdict

    def _count(self, verdict: bool) -> None:
        if verdict:
            self.allowed += 1
        else:
            self.denied += 1
