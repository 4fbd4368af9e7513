"""`python -m tests.attachments.s3_server HOST PORT`: moto's server with S3's browser-upload rules.

moto stores a presigned POST upload without looking at its policy and ignores its `tagging`
field. S3 does both (docs: "Creating a POST policy", "POST Object"), and the attachment store
relies on it: the policy's exact key, Content-Type and `content-length-range` are what refuse a
wrong upload, the tag is what the lifecycle rule expires. This WSGI layer in front of moto
enforces them as S3 documents:

- the policy is signed (SigV4 over the base64 policy, with the dummy secret `testing`): else
  403 SignatureDoesNotMatch; it has not expired: else 403 AccessDenied;
- every condition holds (`{"field": value}`, `["eq", "$field", value]`,
  `["starts-with", "$field", prefix]`, `["content-length-range", min, max]` on the file's size):
  else 403 AccessDenied, or 400 EntityTooLarge / EntityTooSmall for the size;
- every form field but `policy`, `x-amz-signature`, `file` and `x-ignore-*` is covered by a
  condition: else 403 AccessDenied;
- then moto stores the object, and the `tagging` field's tags are set on it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from werkzeug.wrappers import Request

from tests.support.moto_serial import Serialized

SECRET_KEY = "testing"
UNCOVERED_OK = {"policy", "x-amz-signature", "file"}


def _error(status: str, code: str, message: str) -> tuple[str, bytes]:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return status, body.encode()


def _signature(policy_b64: str, credential: str) -> str:
    _, date, region, service, _ = credential.split("/")
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


def check_post(bucket: str, form: dict[str, str], file_size: int | None, now: datetime) -> tuple[str, bytes] | None:
    """None when S3 would accept this form upload, else the (status, XML body) it answers."""
    fields = {k.lower(): v for k, v in form.items()}
    policy_b64 = fields.get("policy")
    if policy_b64 is None or file_size is None:
        return _error("400 Bad Request", "InvalidArgument", "POST requires a policy and a file")
    if not hmac.compare_digest(
        _signature(policy_b64, fields.get("x-amz-credential", "////")), fields.get("x-amz-signature", "")
    ):
        return _error("403 Forbidden", "SignatureDoesNotMatch", "The request signature we calculated does not match")
    policy = orjson.loads(base64.b64decode(policy_b64))
    if datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) <= now:
        return _error("403 Forbidden", "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = {**fields, "bucket": bucket}
    covered: set[str] = set()
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            ((name, expected),) = condition.items()
            operator, name = "eq", name.lower()
        elif condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if file_size > high:
                return _error(
                    "400 Bad Request", "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                )
            if file_size < low:
                return _error(
                    "400 Bad Request", "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
                )
            continue
        else:
            operator, name, expected = condition[0], condition[1].lstrip("$").lower(), condition[2]
        covered.add(name)
        actual = values.get(name)
        holds = actual == expected if operator == "eq" else actual is not None and actual.startswith(expected)
        if not holds:
            return _error(
                "403 Forbidden", "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {condition}"
            )
    for name in fields:
        if name not in covered and name not in UNCOVERED_OK and not name.startswith("x-ignore-"):
            return _error("403 Forbidden", "AccessDenied", f"Invalid according to Policy: Extra input fields: {name}")
    return None


def _tags(tagging_xml: str) -> dict[str, str]:
    root = ET.fromstring(tagging_xml)
    return {tag.findtext("Key", ""): tag.findtext("Value", "") for tag in root.iter("Tag")}


class PostPolicy:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        is_form = environ.get("CONTENT_TYPE", "").startswith("multipart/form-data")
        if environ["REQUEST_METHOD"] != "POST" or not is_form:
            return self._app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = Request({**environ, "wsgi.input": io.BytesIO(raw)})
        form = dict(request.form.items())
        upload = request.files.get("file")
        size = len(upload.read()) if upload is not None else None
        bucket = environ["PATH_INFO"].strip("/").split("/")[0]
        refusal = check_post(bucket, form, size, datetime.now(UTC))
        if refusal is not None:
            status, body = refusal
            start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
            return [body]
        environ["wsgi.input"] = io.BytesIO(raw)
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.append(status)
            return start_response(status, headers, exc_info)

        result = list(self._app(environ, capture))
        tagging = {k.lower(): v for k, v in form.items()}.get("tagging")
        if answer and answer[0].startswith("2") and tagging:
            from moto.core.models import DEFAULT_ACCOUNT_ID
            from moto.s3.models import s3_backends

            backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
            stored = backend.get_object(bucket, form["key"])
            if stored is not None:
                backend.put_object_tagging(stored, _tags(tagging))
        return result


def main() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, Serialized(PostPolicy(app)), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
