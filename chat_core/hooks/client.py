"""The one way the hooks talk HTTP: a signed JSON POST on an httpx client of their own, the
answer read only as far as a small limit (a platform that answers a megabyte costs us nothing)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .signing import sign

USER_AGENT = "chat-core-hooks/1"
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    """At most `MAX_ANSWER_BYTES`; `truncated` says when there was more."""
    truncated: bool


def new_client(timeout_s: float) -> httpx.AsyncClient:
    """`timeout_s` bounds each phase (connect, write, read); callers bound the whole call too.
    Redirects are not followed: a signed request goes where it was configured to, or fails."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


async def post_signed(client: httpx.AsyncClient, url: str, secret: str, body: bytes) -> Answer:
    """POST `body` (JSON) with a fresh signature. Raises httpx.HTTPError on network failures."""
    headers = {"Content-Type": "application/json", **sign(secret, body)}
    async with client.stream("POST", url, content=body, headers=headers) as response:
        chunks: list[bytes] = []
        size = 0
        truncated = False
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                truncated = True
                break
        return Answer(response.status_code, response.headers, b"".join(chunks)[:MAX_ANSWER_BYTES], truncated)
