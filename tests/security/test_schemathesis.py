"""schemathesis against /openapi.json of a real server: every operation, generated cases, no 5xx,
answers as documented. (Driven through schemathesis's strategies: its pytest plugin does not load
under pytest 9.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.server import ServerProcess

from .helpers import bearer

pytestmark = pytest.mark.slow


def test_openapi_operations_never_5xx(server: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    checks = [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_schema_conformance,
    ]
    tried = 0
    for operation in operations:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            nonlocal tried
            tried += 1
            response = case.call(
                headers={**(case.headers or {}), **bearer(server, "schemathesis")}, timeout=10
            )
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                response.status_code,
                response.text,
            )
            if response.status_code != 204:  # "No Content" has no type
                assert "json" in str(response.headers.get("content-type")), response.headers
            case.validate_response(response, checks=checks)

        run()
    assert tried >= 6 * 10
