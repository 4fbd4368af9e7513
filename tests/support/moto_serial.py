"""`python -m tests.support.moto_serial HOST PORT`: moto's server app, one request at a time.

DynamoDB applies each request to an item atomically (two concurrent `SET lastSeq = lastSeq + 1`
hand out two seqs); moto's own `moto_server` is threaded without a lock, so the same two requests
can both read the old value and hand out one seq twice. The store relies on DynamoDB's behaviour,
so the tests' endpoint must have it: connections are still accepted concurrently, requests run
one after another (moto is CPU-bound under the GIL anyway).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class Serialized:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            # the whole body is produced under the lock: moto computes it during the call
            return list(self._app(environ, start_response))


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, Serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
