"""The JWT secret for Lambda: read once per cold start from Secrets Manager (never kept in the
function's configuration); CHAT_JWT_SECRET still wins where it is set (tests, local runs)."""

from __future__ import annotations

import os
from collections.abc import Mapping


def lambda_environment() -> Mapping[str, str]:
    arn = os.environ.get("CHAT_JWT_SECRET_ARN")
    if not arn or os.environ.get("CHAT_JWT_SECRET"):
        return os.environ
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(arn)
    if not isinstance(secret, str) or not secret:
        raise RuntimeError("the JWT secret in Secrets Manager must be a non-empty string")
    return {**os.environ, "CHAT_JWT_SECRET": secret}
