"""Schemathesis over the published OpenAPI schema, against the real app and database.

Every operation gets a bounded number of schema-valid (positive) and schema-breaking
(negative) requests with a valid device token and the device's own site; none may be
answered with a 5xx. The counts are printed (``pytest -s``) for the closing note.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.sync.hub.hubkit import Api

EXAMPLES_PER_OPERATION_AND_MODE = 25


def _fuzz_operation(
    operation: Any, mode: GenerationMode, api: Api, tally: Counter[str], failures: list[str]
) -> None:
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters={"site": api.site}, headers=api.auth()
    ).map(lambda case: _as_this_device(case, api))

    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call()
        tally["requests"] += 1
        tally[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{str(case.body)[:300]} {case.query}"
            )

    try:
        run()
    except Unsatisfiable:
        # Nothing to break: an operation without parameters or body has no negative cases.
        assert mode is GenerationMode.NEGATIVE, operation.label
        tally["operations without negative cases"] += 1


def _as_this_device(case: Any, api: Api) -> Any:
    """A random device_id is always 403: use ours, so pushes reach the entry handlers."""
    if isinstance(case.body, dict) and "device_id" in case.body:
        case.body["device_id"] = api.device_id
    return case


@pytest.mark.slow
def test_fuzzing_the_openapi_schema_never_gets_a_5xx(api: Api) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    tally: Counter[str] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    # Deregistering revokes the device whose token every request carries: last, or every
    # operation after it would only be told the device is revoked.
    operations.sort(key=lambda operation: operation.path.endswith("/deregister"))
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, api, tally, failures)
    print(
        f"\nschemathesis: {len(operations)} operations, {tally['requests']} requests, "
        f"{len(failures)} failures (5xx); {dict(sorted(tally.items()))}"
    )
    assert len(operations) >= 10
    assert tally["requests"] >= len(operations) * EXAMPLES_PER_OPERATION_AND_MODE
    assert failures == []
