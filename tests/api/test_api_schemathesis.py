"""Schemathesis against the app's own OpenAPI: no server error, no response that breaks the schema.

Every operation is fuzzed with generated parameters and bodies, as three callers
(a caseworker, oversight, a taxpayer), with generated and with meaningful purposes.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from access_world import World, make_world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
CALLERS = [("cw-alice", "collection"), ("ovs-privacy", "oversight_review"), ("taxpayer", "self_service")]


def test_schemathesis_finds_no_server_error_nor_schema_violation(db_engine: Engine) -> None:
    world: World = make_world(db_engine)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result  # every operation of our own schema must load
            operations.append(result.ok())
        assert len(operations) >= 15
        statuses: dict[int, int] = {}
        for operation in operations:

            @given(case=operation.as_strategy(), who=st.sampled_from(CALLERS), fix_purpose=st.booleans())
            @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case: schemathesis.Case[Any], who: tuple[str, str], fix_purpose: bool) -> None:
                principal, purpose = who
                headers = dict(case.headers or {})
                headers["Authorization"] = f"Bearer {world.tokens[principal]}"
                if fix_purpose or "Purpose-Of-Use" not in headers:
                    headers["Purpose-Of-Use"] = purpose
                case.headers = CaseInsensitiveDict(headers)
                response = case.call_and_validate(checks=CHECKS)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            run()
        # the fuzzing reached real answers, not only refusals
        assert statuses.get(200, 0) > 0 and statuses.get(403, 0) > 0 and statuses.get(422, 0) > 0, statuses
        assert not any(code >= 500 for code in statuses), statuses
    finally:
        world.audit.close()
