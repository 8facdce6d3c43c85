"""The wire spec as an oracle on the project's own traffic.

Every exchange a `FakeAnamAPI` answers during the tests is checked by openapi-core (a
third-party OpenAPI 3.1 validator, built on jsonschema with format checking) against
``tests/spec/share-links.openapi.yaml``, through the fake's public ``on_response`` hook:

- a request the spec accepts must get a status the spec documents for its operation (or
  one of `UNDOCUMENTED_FOR_VALID`), and that response must validate (status, content type,
  body schema, formats);
- a request the spec rejects (bad query, path id, body, content type, missing key, a path
  or method the spec does not have) must get a 4xx: a 2xx (or a 5xx) there is a fake bug,
  since the fake is meant to be as strict on input as the spec. That 4xx must be
  documented for the operation, or be one of `UNDOCUMENTED_REJECTIONS`;
- an exchange shaped by an injected fault (`StatusFault`, `MalformedFault`, `DropFault`), or
  answered 500 because a test's own ``on_request`` hook raised, is deliberately off-spec
  and skipped; a `DelayFault` only delays a normal answer, which is
  checked like any other.

`SpecOracle` holds the parsed spec and the session's counts; `OracleWatch` collects the
violations of one test (the autouse fixture in ``tests/conftest.py`` fails that test with
them at teardown).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl

from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from werkzeug.datastructures import ImmutableMultiDict

from anam_async.testing import DelayFault, FakeAnamAPI, RecordedRequest, RecordedResponse

SPEC_PATH: Final = Path(__file__).parent / "spec" / "share-links.openapi.yaml"
OPENAPI_CORE_VERSION: Final = version("openapi-core")

# The spec's own server: the fake's paths are matched as if they were sent there.
_SPEC_SERVER: Final = "https://api.anam.ai"

# Statuses the spec does not document but the fake legitimately gives a request the spec
# rejects. Anything else undocumented is a violation. (401 needs no entry: the spec
# documents it on every operation. 429 and 5xx come only from injected faults, which are
# skipped; a 5xx to a request the spec rejects is a violation.)
UNDOCUMENTED_REJECTIONS: Final[dict[int, str]] = {
    404: "a path the spec does not have: no operation exists to document a status",
    405: "a method the spec does not define on a path it has (the fake sends Allow)",
    413: "a body over the fake's size bound: the spec sets no limit, a server must",
    415: "a body not labelled application/json, the only media type the spec documents",
}

# Statuses the spec does not document but the fake may give a request the spec accepts.
UNDOCUMENTED_FOR_VALID: Final[dict[int, str]] = {
    413: "a body the spec accepts can still exceed the fake's size bound",
}

# Parameters whose empty value (``name=``) is not checked by the spec. openapi-core applies
# OpenAPI 3.0's ``allowEmptyValue: false`` default and rejects ``search=``, but API.md
# makes ``search=""`` a valid search term (sent as ``search=``, keeping every link), and
# OpenAPI 3.1 deprecates allowEmptyValue; so an empty ``search`` is dropped before
# validation (as if omitted, which is what it means to the API).
_EMPTY_ALLOWED: Final = frozenset({"search"})


@dataclass(frozen=True)
class Violation:
    """One exchange the spec disagrees with."""

    method: str
    path: str
    query_string: str
    status: int
    message: str

    def __str__(self) -> str:
        target = self.path + (f"?{self.query_string}" if self.query_string else "")
        return f"{self.method} {target} -> {self.status}: {self.message}"


@dataclass
class OracleStats:
    """Counts over a test session."""

    requests: int = 0
    """Requests validated against the spec (accepted and rejected ones)."""
    rejected: int = 0
    """Of those, the requests the spec rejects (answered with a 4xx, or a violation)."""
    responses: int = 0
    """Responses validated against the spec (status, content type, schema)."""
    skipped: int = 0
    """Exchanges not checked because an off-spec fault was injected."""
    violations: int = 0


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return f"{type(exc).__name__}: {text}"


def _spec_request(record: RecordedRequest) -> MockRequest:
    pairs = parse_qsl(record.query_string, keep_blank_values=True)
    pairs = [(k, v) for k, v in pairs if v or k not in _EMPTY_ALLOWED]
    request = MockRequest(
        _SPEC_SERVER,
        record.method,
        record.path,
        headers=dict(record.headers.items()),
        data=record.body,
        content_type=record.headers.get("Content-Type", "").lower(),
    )
    # A multi-dict, so that a repeated name reaches openapi-core as it was sent.
    request.parameters.query = ImmutableMultiDict(pairs)
    return request


def _spec_response(exchange: RecordedResponse) -> MockResponse:
    return MockResponse(
        exchange.body,
        status_code=exchange.status,
        headers=dict(exchange.headers.items()),
        content_type=exchange.content_type.lower(),
    )


class SpecOracle:
    """The spec, parsed once, and the counts of what it checked."""

    def __init__(self, spec_path: Path = SPEC_PATH) -> None:
        self._spec = OpenAPI.from_file_path(str(spec_path))
        self._lock = threading.Lock()
        self.stats = OracleStats()

    def check(self, exchange: RecordedResponse) -> Violation | None:
        """Check one exchange; return what is wrong with it, None when it conforms."""
        deliberate = exchange.status == 500 and b"on_request hook failed" in exchange.body
        if deliberate or (
            exchange.fault is not None and not isinstance(exchange.fault, DelayFault)
        ):
            with self._lock:
                self.stats.skipped += 1
            return None
        problem, responses, rejected = self._check(exchange)
        with self._lock:
            self.stats.requests += 1
            self.stats.responses += responses
            self.stats.rejected += rejected
            self.stats.violations += problem is not None
        if problem is None:
            return None
        record = exchange.request
        return Violation(record.method, record.path, record.query_string, exchange.status, problem)

    def _check(self, exchange: RecordedResponse) -> tuple[str | None, int, int]:
        """Return (violation message or None, responses validated, requests rejected)."""
        request = _spec_request(exchange.request)
        status = exchange.status
        try:
            self._spec.validate_request(request)
        except RecursionError:
            # A body nested too deeply for the validator's JSON parser: no spec schema takes
            # it (each field is a uuid string or a number), so it must be refused with a 4xx.
            if 400 <= status < 500:
                return None, 0, 1
            return "a body nested this deeply must get a 4xx", 0, 1
        except PathNotFound as exc:  # OperationNotFound is not one of these
            if status == 404:
                return None, 0, 1
            return f"a path the spec does not have must get 404 ({_describe(exc)})", 0, 1
        except OperationNotFound as exc:
            if status == 405:
                return None, 0, 1
            return f"a method the spec does not define must get 405 ({_describe(exc)})", 0, 1
        except OpenAPIError as exc:
            reason = _describe(exc)
            if not 400 <= status < 500:
                return f"the spec rejects this request, the fake must answer 4xx: {reason}", 0, 1
            try:
                self._spec.validate_response(request, _spec_response(exchange))
            except ResponseNotFound:
                if status in UNDOCUMENTED_REJECTIONS:
                    return None, 1, 1
                return (
                    f"{status} is not documented for this operation (the spec rejects the "
                    f"request: {reason})",
                    1,
                    1,
                )
            except OpenAPIError as response_exc:
                return f"response does not match the spec: {_describe(response_exc)}", 1, 1
            return None, 1, 1
        if status in UNDOCUMENTED_FOR_VALID:
            return None, 0, 0
        try:
            self._spec.validate_response(request, _spec_response(exchange))
        except ResponseNotFound as exc:
            return f"the spec accepts this request, but {_describe(exc)}", 1, 0
        except OpenAPIError as exc:
            return f"response does not match the spec: {_describe(exc)}", 1, 0
        return None, 1, 0

    def summary(self) -> str:
        """The line for the end of the test session."""
        stats = self.stats
        return (
            f"spec oracle (openapi-core {OPENAPI_CORE_VERSION}): {stats.requests} requests and "
            f"{stats.responses} responses validated ({stats.rejected} requests rejected by the "
            f"spec and answered 4xx or flagged), {stats.skipped} skipped (faults), "
            f"{stats.violations} violations"
        )


@dataclass
class OracleWatch:
    """Attaches the oracle to fake servers and collects one test's violations."""

    oracle: SpecOracle
    violations: list[Violation] = field(default_factory=list)

    def attach(self, api: FakeAnamAPI) -> None:
        """Check every exchange ``api`` answers from now on."""
        api.on_response(self.observe)

    def observe(self, exchange: RecordedResponse) -> None:
        """The ``on_response`` hook: check the exchange, keep a violation."""
        violation = self.oracle.check(exchange)
        if violation is not None:
            self.violations.append(violation)

    def report(self) -> str | None:
        """The failure message for the collected violations, None when there are none."""
        if not self.violations:
            return None
        lines = [f"  {violation}" for violation in self.violations[:20]]
        if len(self.violations) > 20:
            lines.append(f"  ... and {len(self.violations) - 20} more")
        head = (
            f"spec oracle (openapi-core {OPENAPI_CORE_VERSION}): {len(self.violations)} "
            f"exchange(s) with FakeAnamAPI disagree with {SPEC_PATH.name}:"
        )
        return "\n".join([head, *lines])
