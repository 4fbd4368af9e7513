"""`python -m tests.support.stub_dynamo_server HOST PORT`: StubDynamoClient (dynamo_stub.py) behind
DynamoDB's JSON protocol over HTTP, as an endpoint for processes (`AWS_ENDPOINT_URL_DYNAMODB`).

Why: a long soak needs a DynamoDB endpoint that stays fast. moto_server answers one request at a
time and reads a whole table for each index Query, so its answers slow down as a run's table
grows (a 30-minute, 100-user soak reached seconds per request and 1.8 GB), and the clients'
timeouts then measure moto, not the chat. The stub answers the requests DynamoStore sends with
DynamoDB's semantics (tests/unit/test_dynamo_stub.py holds it to moto's answers on the tricky
cases) in well under a millisecond, whatever the table size; each request is atomic, as in
DynamoDB. The end-to-end suites keep moto; `make soak` picks the stub with SOAK_DYNAMODB=stub.

The wire: POST / with `X-Amz-Target: DynamoDB_20120810.<Operation>` and a JSON body of the
operation's parameters; the answer is the operation's JSON, or HTTP 400 with
`{"__type": "...#<Code>", "message": ..., <the error's fields: Item, CancellationReasons>}`,
which botocore turns into the same ClientError the stub raises in process. TTL and backup
settings are accepted and ignored (nothing expires, as with moto).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from botocore.exceptions import ClientError, ParamValidationError

from .dynamo_stub import StubDynamoClient
from .moto_server import MotoServer

CONTENT_TYPE = "application/x-amz-json-1.0"
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
IGNORED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "UpdateTimeToLive": lambda p: {"TimeToLiveSpecification": p.get("TimeToLiveSpecification", {})},
    "UpdateContinuousBackups": lambda p: {"ContinuousBackupsDescription": {"ContinuousBackupsStatus": "ENABLED"}},
}


def method_name(operation: str) -> str:
    """PutItem -> put_item."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=CONTENT_TYPE)


def _error(code: str, message: str, **fields: Any) -> web.Response:
    return _json({"__type": ERROR_PREFIX + code, "message": message, **fields}, status=400)


def answer(stub: StubDynamoClient, operation: str, params: dict[str, Any]) -> web.Response:
    """One request, answered as DynamoDB answers it over HTTP."""
    if operation in IGNORED:
        return _json(IGNORED[operation](params))
    method = getattr(stub, method_name(operation), None) if operation[:1].isupper() else None
    if method is None:
        return _error("UnknownOperationException", f"the stub endpoint does not know {operation!r}")
    try:
        result: dict[str, Any] = method(**params)
    except ClientError as error:
        response: dict[str, Any] = dict(error.response)
        details: dict[str, Any] = response.pop("Error", {})
        response.pop("ResponseMetadata", None)
        for member in ("message", "Message"):
            response.pop(member, None)
        return _error(str(details.get("Code", "InternalServerError")), str(details.get("Message", "")), **response)
    except ParamValidationError as error:
        return _error("ValidationException", str(error))
    except TypeError as error:  # a parameter the stub's signature does not take
        return _error("ValidationException", str(error))
    result.pop("ResponseMetadata", None)
    return _json(result)


def make_app(stub: StubDynamoClient) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        try:
            params = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError:
            return _error("SerializationException", "the body is not JSON")
        if not isinstance(params, dict):
            return _error("SerializationException", "the body is not a JSON object")
        return answer(stub, operation, params)

    async def alive(request: web.Request) -> web.Response:
        return web.Response(text="stub dynamodb")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/", handle)
    app.router.add_get("/", alive)
    return app


class StubDynamoServer(MotoServer):
    """This module as a process: MotoServer's interface (start, create_table, env, close)."""

    module = "tests.support.stub_dynamo_server"
    ready_path = "/"
    what = "the stub DynamoDB endpoint"


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    web.run_app(make_app(StubDynamoClient(latency_s=0)), host=host, port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
