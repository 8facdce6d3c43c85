"""The fake server against the wire spec: schemathesis finds no non-conformance.

The spec is the repository's copy, ``tests/spec/share-links.openapi.yaml`` (kept equal to the
shared one by ``test_spec_copy.py``), or the file named by the ``ANAM_SPEC_PATH`` environment
variable. A missing spec fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from anam_async.testing import FakeAnamAPI, MalformedFault

DEFAULT_SPEC = Path(__file__).parent / "spec" / "share-links.openapi.yaml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 50


def spec_path() -> Path:
    override = os.environ.get("ANAM_SPEC_PATH")
    path = Path(override) if override else DEFAULT_SPEC
    if not path.is_file():
        source = "ANAM_SPEC_PATH" if override else "the default location"
        pytest.fail(f"OpenAPI spec not found at {path} ({source}); set ANAM_SPEC_PATH to it")
    return path


def steer_towards_known_ids(case: Any, api: FakeAnamAPI, index: int) -> None:
    """Point about half the generated cases at existing data, so success paths get checked."""
    if case.path_parameters and "id" in case.path_parameters:
        links = api.links
        case.path_parameters["id"] = links[index % len(links)]["id"]
    if case.method.upper() == "POST" and isinstance(case.body, dict):
        personas = api.personas
        case.body["personaId"] = personas[index % len(personas)]["id"]


class Run:
    """What one schemathesis run saw."""

    def __init__(self) -> None:
        self.operations = 0
        self.cases = 0
        self.failures: list[str] = []
        self.statuses: dict[str, set[int]] = {}

    def summary(self) -> str:
        return (
            f"schemathesis: {self.operations} operations, {self.cases} cases, "
            f"{len(self.failures)} failures"
        )


def run_schemathesis(api: FakeAnamAPI, *, max_examples: int, only: str | None = None) -> Run:
    """Send positive cases of every operation (or only the one labelled ``only``) to ``api``.

    Positive cases only: the fake deliberately ignores unknown query parameters, which
    schemathesis's negative mode counts as accepting invalid data.
    """
    schema = schemathesis.openapi.from_path(spec_path())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5, [operation.label for operation in operations]
    headers = {"Authorization": f"Bearer {api.api_key}"}
    run = Run()
    for operation in operations:
        if only is not None and operation.label != only:
            continue
        run.operations += 1

        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(),
            known=st.booleans(),
            index=st.integers(min_value=0, max_value=10_000),
        )
        def check(case: Any, known: bool, index: int) -> None:
            run.cases += 1
            if known:
                steer_towards_known_ids(case, api, index)
            response = case.call(base_url=api.url, headers=headers)
            run.statuses.setdefault(case.operation.label, set()).add(response.status_code)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        # Collect every operation's failure, so one run reports them all. A FailureGroup
        # (several distinct failures) is a BaseExceptionGroup, not an Exception.
        except (Exception, FailureGroup) as exc:
            run.failures.append(f"{operation.label}: {exc}")
    return run


def test_fake_server_conforms_to_the_spec() -> None:
    with FakeAnamAPI(links=60).run_in_thread() as api:
        run = run_schemathesis(api, max_examples=EXAMPLES_PER_OPERATION)
    print("\n" + run.summary())
    assert not run.failures, "\n\n".join(run.failures)
    # The success paths were exercised too, not only the 400/404 answers to random ids.
    assert {label: min(codes) for label, codes in run.statuses.items()} == {
        "GET /v1/share-links": 200,
        "POST /v1/share-links": 201,
        "GET /v1/share-links/{id}": 200,
        "PUT /v1/share-links/{id}": 200,
        "DELETE /v1/share-links/{id}": 200,
    }


def test_the_checks_catch_a_non_conforming_answer() -> None:
    """Guards the test above against passing vacuously."""
    api = FakeAnamAPI(links=5)
    api.set_error_rate(1.0, [MalformedFault(b'{"data": 5, "meta": null}')])
    with api.run_in_thread():
        run = run_schemathesis(api, max_examples=3, only="GET /v1/share-links")
    assert len(run.failures) == 1
    assert "GET /v1/share-links" in run.failures[0]


def test_a_missing_spec_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANAM_SPEC_PATH", "/nonexistent/share-links.openapi.yaml")
    with pytest.raises(pytest.fail.Exception, match="OpenAPI spec not found"):
        spec_path()
