"""uvicorn's HTTP/1.1 protocol, with a response's head (status line and headers) written together
with its first body chunk: one write, so one segment on the wire, instead of two.

uvicorn writes the head on `http.response.start` and the body on `http.response.body`, and uvloop
sends each write at once. A client that reads the head and acts before the body is in sees a
response cut in two whenever this process is preempted between the writes (a busy machine).
python-engineio's client does exactly that on a refused polling handshake: it closes its HTTP
session on the error status and then reads the body, and reported "Connection closed." instead of
the 403 and its Engine.IO error. Every small response is also one system call instead of two.

A response whose body does not follow in the same turn of the event loop (a stream) gets its head
at the end of that turn, as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class _HeadWithFirstChunk:
    """The transport of one request-response cycle: holds the head until the next write."""

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._held: bytes | None = None
        self._head_written = False

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif not self._head_written and self._cycle.response_started:
            # uvicorn's write right after it marked the response started is the head (a
            # "100 Continue" is written before that, and goes out at once)
            self._head_written = True
            self._held = data
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """For uvicorn.Config(http=...): uvicorn's httptools protocol, each response's head sent with
    its first body chunk."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not before:  # not an upgrade: a new cycle, not started yet
            cycle.transport = _HeadWithFirstChunk(self.transport, cycle)  # type: ignore[assignment]
