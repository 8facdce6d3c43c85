"""Test helpers: `FakeAnamAPI`, an in-process fake of the Anam share-links API.

The fake is a real aiohttp server on a real socket (``127.0.0.1`` and a free port by
default), so the code under test runs its whole HTTP stack. It implements the four
share-links operations of the wire spec (list, get, create, update) over one in-memory
state seeded deterministically, checks the bearer key, validates input like the real API
(a JSON ``400`` whose ``message`` names the parameter) and injects faults on demand.

Example:

```python
import aiohttp
from anam_async.testing import FakeAnamAPI, StatusFault

async def test_first_page() -> None:
    async with FakeAnamAPI(links=45) as api, aiohttp.ClientSession() as http:
        api.add_fault(StatusFault(429, retry_after=0), operation="list", page=2)
        headers = {"Authorization": f"Bearer {api.api_key}"}
        async with http.get(f"{api.url}/v1/share-links", headers=headers) as resp:
            page = await resp.json()
        assert page["meta"]["total"] == 45
        assert api.requests[0].page == 1
```

What the fake does, in the order it does it, for every request:

1. records it (`FakeAnamAPI.requests`, numbered from 1);
2. calls the `on_request` hooks, in registration order;
3. parks it at every matching `hold` gate until that gate is released;
4. picks a fault: the first scripted one (`add_fault`) that matches,
   else a random one (`set_error_rate`);
5. sleeps `latency` plus the fault's own delay;
6. answers with the fault, or normally: unknown path ``404``, wrong method ``405``, bad or
   missing ``Authorization: Bearer <key>`` ``401``, a body not labelled JSON ``415``, invalid
   input ``400``, then the operation;
7. calls the `on_response` hooks with the answer (a `RecordedResponse`), then sends it.

Data and ordering:

- Listing order is newest ``createdAt`` first, ties broken by ``id`` ascending. A link created
  through the API or `insert_links` is always strictly newest (its
  ``createdAt`` is the clock's time, or 1 ms after the newest link if the clock is behind).
- ``search`` keeps the links whose ``personaName`` or ``token`` contains the search term,
  compared after ``str.casefold()``; an empty term keeps everything. ``personaId`` keeps the
  links of that persona. Both together must both match.
- ``meta.lastPage`` is ``ceil(total / perPage)``, so an empty listing reports ``total`` 0 and
  ``lastPage`` 0; ``prev`` is ``page - 1`` (null on page 1) and ``next`` is ``page + 1`` (null
  once ``page >= lastPage``). A page past the end has empty ``data`` and the same rules.
- ``POST`` with a ``personaId`` that names no persona answers ``404``, as the spec documents.
  ``usageLimit`` must be a whole number in 1..2147483647 (``10.0`` is accepted),
  ``expiresInHours`` any positive finite number whose expiry is a valid date.
- Request bodies are read only when labelled ``Content-Type: application/json`` (a body
  labelled otherwise gets ``415``, as a JSON API's body parser would ignore it); a body that
  is not JSON, not an object, nested too deeply, or breaks a field's rule gets ``400`` with a
  message naming the field; a body over 1 MiB gets ``413``. Unknown fields are ignored;
  ``null`` is not a number.
- ``DELETE`` removes the link and answers ``200`` with ``{"message": ...}``; an unknown id
  answers ``404``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import random
import re
import secrets
import threading
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, TypeAlias, cast

import msgspec
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "DelayFault",
    "DropFault",
    "FakeAnamAPI",
    "Fault",
    "HoldGate",
    "MalformedFault",
    "Operation",
    "RecordedRequest",
    "RecordedResponse",
    "RequestHook",
    "ResponseHook",
    "StatusFault",
]

Operation: TypeAlias = Literal["list", "get", "create", "update", "delete"]
"""The name of a share-links operation, as used to match faults, gates and records."""

_OPERATIONS: Final[tuple[Operation, ...]] = ("list", "get", "create", "update", "delete")

_COLLECTION_PATH: Final = "/v1/share-links"
_ITEM_PATH: Final = re.compile(r"/v1/share-links/([^/]+)")
# The spec's "format: uuid": the 36-character hyphenated form, any case (RFC 4122's string
# representation, as JSON Schema's format checkers read it); 32 bare hex digits are refused.
_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_DIGITS_RE: Final = re.compile(r"[0-9]{1,20}")
_URL_SAFE: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# The real API runs on JavaScript numbers: a larger page cannot be represented exactly.
_MAX_PAGE: Final = 2**53 - 1
# usageLimit is a Postgres int column upstream.
_MAX_USAGE_LIMIT: Final = 2**31 - 1
_DEFAULT_EXPIRES_IN_HOURS: Final = 168
_DEFAULT_USAGE_LIMIT: Final = 10
_PERSONA_NAMES: Final = ("Cara", "Leo", "Maya", "Noah", "Iris", "Theo", "Zara", "Finn")
_ORIGINS: Final = (
    "https://example.com",
    "https://app.example.org",
    "https://shop.example.net",
    "http://localhost:3000",
)
_SEED_EPOCH: Final = datetime(2025, 1, 1, tzinfo=UTC)
_PERSONA_KEYS: Final = frozenset({"personaId", "personaName", "organizationId"})
_SHUTDOWN_TIMEOUT: Final = 0.5

_encode = msgspec.json.Encoder().encode


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class StatusFault:
    """Answer with an HTTP status (and optional body and headers) instead of the real response.

    Args:
        status: The HTTP status code, 100..599.
        body: The body. None sends ``{"message", "error", "statusCode"}`` like the real API;
            bytes are sent as they are; a str as text; anything else is JSON-encoded.
        headers: Extra response headers.
        retry_after: Sent as the ``Retry-After`` header: seconds (a number) or an HTTP date
            (a str, sent as given).
        retry_after_ms: Sent as the ``retry-after-ms`` header, in milliseconds.
        content_type: The Content-Type; None picks ``application/json`` (``text/plain`` for
            a str body).
        delay: Seconds to wait before answering, on top of the server's latency.
    """

    status: int
    _: KW_ONLY
    body: object = None
    headers: Mapping[str, str] | None = None
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    content_type: str | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ValueError(f"status={self.status!r} is invalid: must be in 100..599")
        _check_delay("delay", self.delay)


@dataclass(frozen=True)
class MalformedFault:
    """Answer with a body the client should refuse to decode (HTML, cut JSON, wrong types).

    Args:
        body: The exact bytes to send, e.g. ``b"<html>oops</html>"``, ``b'{"data": [{'``,
            ``b'{"data": null}'``.
        status: The HTTP status, 200 by default.
        content_type: The Content-Type header, sent as given.
        delay: Seconds to wait before answering, on top of the server's latency.
    """

    body: bytes
    _: KW_ONLY
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 599:
            raise ValueError(f"status={self.status!r} is invalid: must be in 200..599")
        _check_delay("delay", self.delay)


@dataclass(frozen=True)
class DropFault:
    """Close the connection instead of answering.

    With ``after_headers=False`` nothing is sent: aiohttp's client raises
    ``ServerDisconnectedError``. With ``after_headers=True`` the real status, headers (with
    the full ``Content-Length``) and half of the real body are sent, then the connection is
    closed: a body cut short, which aiohttp's client raises as ``ClientPayloadError``.

    Recent aiohttp clients silently resend an idempotent request (GET, PUT) once
    when the connection closes before any response byte: queue the fault ``times=2`` to make
    such a request fail, and keep that resend in mind when counting requests.

    Args:
        after_headers: Send the headers and part of the body before closing.
        delay: Seconds to wait before dropping, on top of the server's latency.
    """

    _: KW_ONLY
    after_headers: bool = False
    delay: float = 0.0

    def __post_init__(self) -> None:
        _check_delay("delay", self.delay)


@dataclass(frozen=True)
class DelayFault:
    """Wait, then answer normally (a slow response, e.g. to trip a client timeout).

    Args:
        seconds: How long to wait, on top of the server's latency.
    """

    seconds: float

    def __post_init__(self) -> None:
        _check_delay("seconds", self.seconds)


Fault: TypeAlias = StatusFault | MalformedFault | DropFault | DelayFault
"""Any fault kind accepted by ``FakeAnamAPI.add_fault`` and ``FakeAnamAPI.set_error_rate``."""

_FAULT_TYPES: Final = (StatusFault, MalformedFault, DropFault, DelayFault)


def _check_delay(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{name}={value!r} is invalid: must be a number of seconds >= 0")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is invalid: must be finite")


def _check_operation(operation: str | None) -> None:
    if operation is not None and operation not in _OPERATIONS:
        raise ValueError(f"operation={operation!r} is invalid: must be one of {_OPERATIONS}")


class _Waiters:
    """Futures resolved when their predicate turns true; notified synchronously.

    Not an asyncio.Condition: notifying must work from a cancelled handler without awaiting.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[asyncio.Future[None], Callable[[], bool]]] = []

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        if predicate():
            return
        future = asyncio.get_running_loop().create_future()
        entry = (future, predicate)
        self._pending.append(entry)
        try:
            await future
        finally:
            self._pending.remove(entry)

    def notify(self) -> None:
        for future, predicate in list(self._pending):
            if not future.done() and predicate():
                future.set_result(None)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it.

    Args:
        number: Its arrival number, from 1 (restarts at 1 after ``reset_requests()``).
        method: The HTTP method, e.g. ``"GET"``.
        path: The decoded URL path, e.g. ``"/v1/share-links"``.
        query: The query parameters, the first value of each name.
        query_string: The raw query string (repeated names and encoding visible here).
        headers: The request headers, a case-insensitive mapping.
        body: The raw request body (``b""`` when none).
        operation: ``"list"``, ``"get"``, ``"create"``, ``"update"`` or ``"delete"``; None
            when the path or method matches no operation.
        page: For a list request, the page asked for (1 when absent); None when the
            ``page`` parameter is invalid or the request is not a list.
    """

    number: int
    method: str
    path: str
    query: Mapping[str, str]
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    operation: Operation | None
    page: int | None

    def json(self) -> Any:
        """Decode the body as JSON.

        Returns:
            The decoded body.

        Raises:
            msgspec.DecodeError: The body is not JSON.
        """
        return msgspec.json.decode(self.body)


RequestHook: TypeAlias = Callable[[RecordedRequest], Awaitable[None] | None]
"""A callback for `FakeAnamAPI.on_request`: sync or async, given the recorded request."""


@dataclass(frozen=True)
class RecordedResponse:
    """One answer as the fake decided it, given to the `FakeAnamAPI.on_response` hooks.

    Args:
        request: The request it answers.
        status: The HTTP status, e.g. ``200``.
        headers: The response headers, a case-insensitive mapping (``Content-Type`` included
            when there is a body).
        body: The whole body (``b""`` when none). Under a `DropFault` the client gets only
            part of it, or nothing; one that drops after the headers records ``b""``.
        fault: The injected fault that shaped this exchange (a `StatusFault`,
            `MalformedFault`, `DropFault` or `DelayFault`), None for a normal answer.
    """

    request: RecordedRequest
    status: int
    headers: Mapping[str, str]
    body: bytes
    fault: Fault | None

    @property
    def fault_injected(self) -> bool:
        """Whether a fault was injected into this exchange (`fault` is not None)."""
        return self.fault is not None

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header, ``""`` when there is none."""
        return self.headers.get("Content-Type", "")


ResponseHook: TypeAlias = Callable[[RecordedResponse], Awaitable[None] | None]
"""A callback for `FakeAnamAPI.on_response`: sync or async, given the recorded response."""


class HoldGate:
    """A gate that parks matching requests before they are answered, until released.

    Created by `FakeAnamAPI.hold`. Usable as ``async with api.hold() as gate:``, which
    releases on exit. A released gate parks nothing more.

    Attributes:
        operation: The operation whose requests it parks (None: any).
        page: The list page whose requests it parks (None: any).
    """

    def __init__(self, api: FakeAnamAPI, *, operation: Operation | None, page: int | None) -> None:
        """Create a gate; use `FakeAnamAPI.hold` instead.

        Args:
            api: The server the gate belongs to.
            operation: Only park requests of this operation (None: any).
            page: Only park list requests for this page (None: any).
        """
        self._api = api
        self.operation = operation
        self.page = page
        self._opened = asyncio.Event()
        self._changed = _Waiters()
        self._waiting = 0
        self._held = 0

    @property
    def waiting(self) -> int:
        """How many requests are parked at this gate now."""
        return self._waiting

    @property
    def held(self) -> int:
        """How many requests this gate has parked in total."""
        return self._held

    @property
    def released(self) -> bool:
        """Whether `release` was called."""
        return self._opened.is_set()

    def release(self) -> None:
        """Let every parked request go on, and stop parking new ones. Idempotent."""
        self._opened.set()
        self._api._remove_gate(self)

    async def wait_for_waiting(self, n: int = 1) -> None:
        """Return once at least ``n`` requests are parked at this gate.

        Wrap it in ``asyncio.timeout()`` to bound the wait.

        Args:
            n: The number of parked requests to wait for.
        """
        await self._changed.wait_until(lambda: self._waiting >= n)

    def _matches(self, record: RecordedRequest) -> bool:
        if self.operation is not None and record.operation != self.operation:
            return False
        return self.page is None or (record.operation == "list" and record.page == self.page)

    async def _park(self) -> None:
        self._waiting += 1
        self._held += 1
        try:
            self._changed.notify()
            await self._opened.wait()
        finally:
            self._waiting -= 1
            self._changed.notify()

    async def __aenter__(self) -> HoldGate:
        """Enter the gate's context.

        Returns:
            The gate itself.
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release the gate."""
        self.release()

    def __repr__(self) -> str:
        """Show the gate's filter and state.

        Returns:
            The representation.
        """
        return (
            f"HoldGate(operation={self.operation!r}, page={self.page!r}, "
            f"waiting={self._waiting}, released={self.released})"
        )


@dataclass
class _ScheduledFault:
    fault: Fault
    operation: Operation | None
    page: int | None
    request_number: int | None
    remaining: int | None

    def matches(self, record: RecordedRequest) -> bool:
        if self.operation is not None and record.operation != self.operation:
            return False
        if self.page is not None and (record.operation != "list" or record.page != self.page):
            return False
        return self.request_number is None or record.number == self.request_number


@dataclass
class _ErrorRate:
    rate: float
    faults: tuple[Fault, ...]
    rng: random.Random
    operations: frozenset[str] | None = field(default=None)


class _Route(NamedTuple):
    operation: Operation | None
    link_id: str | None
    allowed: tuple[str, ...]


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- helpers


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _canonical_uuid(text: str) -> str | None:
    if not _UUID_RE.fullmatch(text):
        return None
    return str(uuid.UUID(text))


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _nanoid(rng: random.Random, size: int = 21) -> str:
    return "".join(rng.choice(_URL_SAFE) for _ in range(size))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = {"message": message, "error": _phrase(status), "statusCode": status}
    return web.Response(
        status=status, body=_encode(body), content_type="application/json", headers=headers
    )


def _json_response(status: int, payload: object) -> web.Response:
    return web.Response(status=status, body=_encode(payload), content_type="application/json")


def _number_header(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _share_link_view(link: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in link.items() if key not in _PERSONA_KEYS}


def _copy_link(link: Mapping[str, Any]) -> dict[str, Any]:
    copied = dict(link)
    copied["allowedOrigins"] = list(link["allowedOrigins"])
    return copied


def _positive_number(payload: Mapping[str, Any], name: str) -> float | int | None:
    if name not in payload:
        return None
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadRequest(f"{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _BadRequest(f"{name} must be a finite number")
    if value <= 0:
        raise _BadRequest(f"{name} must be a positive number")
    return value


def _usage_limit(payload: Mapping[str, Any]) -> int | None:
    value = _positive_number(payload, "usageLimit")
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise _BadRequest("usageLimit must be a whole number")
    if value > _MAX_USAGE_LIMIT:
        raise _BadRequest(f"usageLimit must not be greater than {_MAX_USAGE_LIMIT}")
    return int(value)


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise _BadRequest("A JSON object body is required")
    try:
        payload = msgspec.json.decode(body)
    except msgspec.MsgspecError:
        raise _BadRequest("The request body is not valid JSON") from None
    except RecursionError:
        raise _BadRequest("The request body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise _BadRequest("The request body must be a JSON object")
    return payload


# --------------------------------------------------------------------------- the server


class FakeAnamAPI:
    """An in-process fake of the Anam share-links API, on a real socket, for tests.

    See the module docstring for the order in which requests are handled, what ``search``
    matches and the listing order.

    Args:
        links: How many share links to seed.
        personas: How many personas to seed (at least 1); links are spread over them.
        seed: Seed of the data and of the random faults: the same seed gives the same data.
        api_key: The bearer key to accept; None generates one like ``"anam_test_<hex>"``.
        latency: Seconds added before every response (settable later).
        host: The interface to listen on.
        port: The port; 0 picks a free one.
        clock: Returns the current time (timezone-aware) for created and updated links;
            None uses the system clock.
        max_recorded_requests: How many of the latest requests `requests` keeps (a ring
            buffer: older ones are forgotten, so a long-running server does not grow with
            its traffic). Counting (``wait_for_requests``, ``RecordedRequest.number``) covers
            every request all the same.
    """

    def __init__(
        self,
        *,
        links: int = 120,
        personas: int = 5,
        seed: int = 0,
        api_key: str | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
        max_recorded_requests: int = 10_000,
    ) -> None:
        """Create the server (not started); see the class docstring for the arguments."""
        if isinstance(links, bool) or not isinstance(links, int) or links < 0:
            raise ValueError(f"links={links!r} is invalid: must be an int >= 0")
        if isinstance(personas, bool) or not isinstance(personas, int) or personas < 1:
            raise ValueError(f"personas={personas!r} is invalid: must be an int >= 1")
        if (
            isinstance(max_recorded_requests, bool)
            or not isinstance(max_recorded_requests, int)
            or max_recorded_requests < 0
        ):
            raise ValueError(
                f"max_recorded_requests={max_recorded_requests!r} is invalid: must be an int >= 0"
            )
        if api_key is not None and (not api_key or api_key != api_key.strip()):
            raise ValueError("api_key is invalid: must be non-empty without surrounding spaces")
        _check_delay("latency", latency)
        self._seed = seed
        self._api_key = api_key if api_key is not None else f"anam_test_{secrets.token_hex(16)}"
        self._latency = float(latency)
        self._host = host
        self._port = port
        self._clock = clock if clock is not None else (lambda: datetime.now(UTC))

        self._data_rng = random.Random(seed)
        self._runtime_rng = random.Random(f"anam-fake-runtime-{seed}")
        self._personas: list[dict[str, str]] = []
        self._links: dict[str, dict[str, Any]] = {}
        self._ordered: list[dict[str, Any]] | None = None
        self._newest: datetime = _SEED_EPOCH
        self._seed_data(links, personas)

        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded_requests)
        # Arrivals since start or reset, per operation (None: no operation): what the waits
        # count, since the log itself forgets.
        self._arrivals: Counter[Operation | None] = Counter()
        self._state_changed = _Waiters()
        self._hooks: list[RequestHook] = []
        self._hook_errors: list[BaseException] = []
        self._response_hooks: list[ResponseHook] = []
        self._gates: list[HoldGate] = []
        self._faults: list[_ScheduledFault] = []
        self._error_rate: _ErrorRate | None = None
        self._in_flight = 0
        self._max_in_flight = 0
        self._disconnects = 0
        self._handler_tasks: set[asyncio.Task[Any]] = set()

        self._runner: web.ServerRunner | None = None
        self._url: str | None = None
        self._closing = False
        self._closed = False

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start listening. Idempotent while running.

        Raises:
            RuntimeError: The server was closed; a closed fake cannot restart.
        """
        if self._closed:
            raise RuntimeError("this FakeAnamAPI is closed; create a new one")
        if self._runner is not None:
            return
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._url = f"http://{host}:{self._port}"

    async def close(self) -> None:
        """Stop the server, dropping requests still being handled (parked ones included).

        Idempotent. Leaves no task and no connection behind.

        Raises:
            Exception: The first exception an ``on_request`` hook (whose request was
                answered ``500``) or an ``on_response`` hook raised, if any, so a broken hook
                cannot go unnoticed.
        """
        if self._closed:
            return
        self._closed = True
        self._closing = True
        runner, self._runner = self._runner, None
        tasks = [task for task in self._handler_tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if runner is not None:
            await runner.cleanup()
        for gate in list(self._gates):
            gate.release()
        if self._hook_errors:
            raise self._hook_errors[0]

    async def __aenter__(self) -> FakeAnamAPI:
        """Start the server.

        Returns:
            The started server.
        """
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server."""
        await self.close()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[FakeAnamAPI]:
        """Serve from a background thread with its own event loop, for synchronous tests.

        Configure faults and data before entering, or between requests: the fake's methods
        are not thread-safe while a request is being handled. The async waiting helpers
        (``wait_for_requests``, gates) belong to the server's loop and are not usable here.

        Returns:
            A context manager giving the started server, closed on exit.
        """
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="FakeAnamAPI", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
            try:
                yield self
            finally:
                asyncio.run_coroutine_threadsafe(self.close(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # ----------------------------------------------------------------- properties

    @property
    def url(self) -> str:
        """The base URL, e.g. ``"http://127.0.0.1:54321"`` (no trailing slash).

        Raises:
            RuntimeError: The server is not started.
        """
        if self._url is None:
            raise RuntimeError("FakeAnamAPI is not started: use `async with` or start()")
        return self._url

    @property
    def api_key(self) -> str:
        """The bearer key the server accepts."""
        return self._api_key

    @property
    def seed(self) -> int:
        """The seed of the data and of the default fault randomness."""
        return self._seed

    @property
    def latency(self) -> float:
        """Seconds added before every response; settable at any time."""
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        _check_delay("latency", value)
        self._latency = float(value)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the latest requests received (``max_recorded_requests``), oldest first."""
        return list(self._requests)

    @property
    def in_flight(self) -> int:
        """How many requests are being handled now (parked ones included)."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The peak of `in_flight` since start or the last ``reset_requests()``."""
        return self._max_in_flight

    @property
    def disconnects(self) -> int:
        """How many requests were abandoned by their client before the answer was sent.

        Counted when the client closed the connection while the request was being handled
        (the handler was cancelled); drops injected by ``DropFault`` and ``close()`` do not
        count.
        """
        return self._disconnects

    @property
    def personas(self) -> list[dict[str, str]]:
        """The seeded personas: dicts with ``id``, ``name`` and ``organizationId``."""
        return [dict(persona) for persona in self._personas]

    @property
    def links(self) -> list[dict[str, Any]]:
        """A copy of every link, in listing order, in the wire (camelCase) shape."""
        return [_copy_link(link) for link in self._ordered_links()]

    # ----------------------------------------------------------------- data

    def get_link(self, link_id: str | uuid.UUID) -> dict[str, Any]:
        """Return a copy of one link in the wire shape.

        Args:
            link_id: The link's id.

        Returns:
            The link as a dict.

        Raises:
            KeyError: No such link.
        """
        return _copy_link(self._links[str(uuid.UUID(str(link_id)))])

    def insert_links(
        self, n: int = 1, *, persona: str | uuid.UUID | None = None
    ) -> list[dict[str, Any]]:
        """Add ``n`` links that are newer than every existing one (so they list first).

        The last one inserted is the newest, so it comes first in the listing.

        Args:
            n: How many links to add.
            persona: The persona id to attach them to; None spreads them over the personas.

        Returns:
            Copies of the new links, in insertion order.

        Raises:
            KeyError: ``persona`` names no persona.
        """
        if n < 0:
            raise ValueError(f"n={n!r} is invalid: must be >= 0")
        chosen: dict[str, str] | None = None
        if persona is not None:
            chosen = self._persona(str(uuid.UUID(str(persona))))
            if chosen is None:
                raise KeyError(str(persona))
        inserted = []
        for _ in range(n):
            owner = chosen if chosen is not None else self._runtime_rng.choice(self._personas)
            link = self._random_link(self._runtime_rng, owner, self._next_created_at())
            link["isPrimary"] = False
            self._store(link)
            inserted.append(_copy_link(link))
        return inserted

    def delete_links(self, target: int | Iterable[str | uuid.UUID]) -> list[str]:
        """Delete links: the ``target`` newest ones (an int), or the given ids.

        Args:
            target: A count of links to delete from the head of the listing, or link ids.

        Returns:
            The deleted ids.

        Raises:
            KeyError: An id names no link (nothing is deleted then).
        """
        if isinstance(target, int):
            if target < 0:
                raise ValueError(f"target={target!r} is invalid: must be >= 0")
            ids = [link["id"] for link in self._ordered_links()[:target]]
        else:
            ids = [str(uuid.UUID(str(link_id))) for link_id in target]
            missing = [link_id for link_id in ids if link_id not in self._links]
            if missing:
                raise KeyError(missing[0])
        for link_id in ids:
            self._links.pop(link_id, None)
        self._ordered = None
        return ids

    # ----------------------------------------------------------------- faults

    def add_fault(
        self,
        fault: Fault,
        *,
        operation: Operation | None = None,
        page: int | None = None,
        request_number: int | None = None,
        times: int | None = 1,
    ) -> None:
        """Queue a fault for the next matching requests.

        Scripted faults are tried in the order they were added; the first that matches a
        request is used (and counted down), before any random fault.

        Args:
            fault: What to do instead of (or before) the normal answer.
            operation: Only requests of this operation (None: any request, unknown paths too).
            page: Only list requests for this page (1 matches a list without ``page``).
            request_number: Only the request with this arrival number (see ``requests``).
            times: How many matching requests get the fault; None means every one, until
                ``clear_faults()``.
        """
        if not isinstance(fault, _FAULT_TYPES):
            raise TypeError(f"fault={fault!r} is not a fault")
        _check_operation(operation)
        if times is not None and times < 1:
            raise ValueError(f"times={times!r} is invalid: must be >= 1 or None")
        self._faults.append(_ScheduledFault(fault, operation, page, request_number, times))

    def set_error_rate(
        self,
        rate: float,
        faults: Iterable[Fault] | None = None,
        *,
        seed: int | None = None,
        operations: Iterable[Operation] | None = None,
    ) -> None:
        """Fail a random share of requests, reproducibly.

        Each request of the chosen operations that no scripted fault matched draws from a
        generator seeded with ``seed``: with probability ``rate`` it gets a fault chosen
        uniformly from ``faults``. The same seed and the same sequence of requests give the
        same faults. Requests matching no operation never draw.

        Args:
            rate: The probability of a fault, 0..1; 0 turns random faults off.
            faults: The faults to choose from; None means ``[StatusFault(500)]``.
            seed: The generator's seed; None uses the server's ``seed``.
            operations: The operations concerned; None means all four.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate!r} is invalid: must be in 0..1")
        chosen = tuple(faults) if faults is not None else (StatusFault(500),)
        if not chosen or not all(isinstance(fault, _FAULT_TYPES) for fault in chosen):
            raise ValueError("faults must be a non-empty list of faults")
        names: frozenset[str] | None = None
        if operations is not None:
            names = frozenset(operations)
            for name in names:
                _check_operation(name)
        if rate == 0.0:
            self._error_rate = None
            return
        rng = random.Random(self._seed if seed is None else seed)
        self._error_rate = _ErrorRate(rate, chosen, rng, names)

    def clear_faults(self) -> None:
        """Forget every scripted fault and turn random faults off."""
        self._faults.clear()
        self._error_rate = None

    # ----------------------------------------------------------------- observation

    def on_request(self, callback: RequestHook) -> RequestHook:
        """Call ``callback(record)`` for every request, before it is answered.

        Hooks run in registration order, after the request is recorded and before gates
        and faults, so a hook may change the data or add a fault for this very request.
        A hook that raises gets its request answered ``500``; ``close()`` re-raises the
        exception. Usable as a decorator.

        Args:
            callback: A function or coroutine function taking a ``RecordedRequest``.

        Returns:
            The callback, unchanged.
        """
        self._hooks.append(callback)
        return callback

    def remove_request_hook(self, callback: RequestHook) -> None:
        """Unregister a hook added with `on_request`.

        Args:
            callback: The hook to remove.

        Raises:
            ValueError: It was not registered.
        """
        self._hooks.remove(callback)

    def on_response(self, callback: ResponseHook) -> ResponseHook:
        """Call ``callback(response)`` for every answer, once it is decided and before it is sent.

        The callback gets a `RecordedResponse`: the `RecordedRequest`, the status, headers
        and body, and the injected fault, if any. Hooks run in registration order, for every
        recorded request that gets an answer (a request dropped before it is answered, by a
        client that went away or by `close()`, gets none). A hook cannot change the answer;
        one that raises leaves it as it was, and ``close()`` re-raises the exception.
        Usable as a decorator, e.g. to check every exchange against the wire spec.

        Args:
            callback: A function or coroutine function taking a ``RecordedResponse``.

        Returns:
            The callback, unchanged.
        """
        self._response_hooks.append(callback)
        return callback

    def remove_response_hook(self, callback: ResponseHook) -> None:
        """Unregister a hook added with `on_response`.

        Args:
            callback: The hook to remove.

        Raises:
            ValueError: It was not registered.
        """
        self._response_hooks.remove(callback)

    async def _run_response_hooks(
        self, record: RecordedRequest, response: web.StreamResponse, fault: Fault | None
    ) -> None:
        if not self._response_hooks:
            return
        body = response.body if isinstance(response, web.Response) else None
        recorded = RecordedResponse(
            request=record,
            status=response.status,
            headers=CIMultiDictProxy(CIMultiDict(response.headers)),
            body=body if isinstance(body, bytes) else b"",
            fault=fault,
        )
        for hook in list(self._response_hooks):
            try:
                result = hook(recorded)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._hook_errors.append(exc)

    def reset_requests(self) -> None:
        """Forget the recorded requests and restart numbering at 1.

        Also resets ``max_in_flight`` to the current ``in_flight`` and ``disconnects`` to 0.
        """
        self._requests.clear()
        self._arrivals.clear()
        self._max_in_flight = self._in_flight
        self._disconnects = 0

    async def wait_for_requests(
        self, n: int, *, operation: Operation | None = None
    ) -> list[RecordedRequest]:
        """Return once at least ``n`` requests (of ``operation``, if given) have arrived.

        Requests count from the start or the last ``reset_requests()``; they have arrived,
        not necessarily been answered. Wrap it in ``asyncio.timeout()`` to bound the wait.

        Args:
            n: The number of requests to wait for.
            operation: Only count requests of this operation.

        Returns:
            The matching requests still in the log (the latest ``max_recorded_requests``).
        """
        _check_operation(operation)

        def arrived() -> int:
            if operation is None:
                return sum(self._arrivals.values())
            return self._arrivals[operation]

        await self._state_changed.wait_until(lambda: arrived() >= n)
        return [r for r in self._requests if operation is None or r.operation == operation]

    async def wait_for_disconnects(self, n: int = 1) -> None:
        """Return once `disconnects` is at least ``n``.

        Use it to prove that a client's cancellation reached the server. Wrap it in
        ``asyncio.timeout()`` to bound the wait.

        Args:
            n: The number of disconnects to wait for.
        """
        await self._state_changed.wait_until(lambda: self._disconnects >= n)

    async def wait_for_idle(self) -> None:
        """Return once no request is being handled (`in_flight` is 0)."""
        await self._state_changed.wait_until(lambda: self._in_flight == 0)

    def hold(self, *, operation: Operation | None = None, page: int | None = None) -> HoldGate:
        """Park matching requests before they are answered, until the gate is released.

        Args:
            operation: Only requests of this operation (None: any).
            page: Only list requests for this page.

        Returns:
            The gate; ``gate.release()`` lets them go (``async with`` does it on exit).
        """
        _check_operation(operation)
        gate = HoldGate(self, operation=operation, page=page)
        self._gates.append(gate)
        return gate

    def _remove_gate(self, gate: HoldGate) -> None:
        with contextlib.suppress(ValueError):
            self._gates.remove(gate)

    # ----------------------------------------------------------------- seeding

    def _seed_data(self, links: int, personas: int) -> None:
        rng = self._data_rng
        organizations = [_uuid4(rng), _nanoid(rng)]
        for index in range(personas):
            name = _PERSONA_NAMES[index % len(_PERSONA_NAMES)]
            if index >= len(_PERSONA_NAMES):
                name = f"{name} {index // len(_PERSONA_NAMES) + 1}"
            self._personas.append(
                {"id": _uuid4(rng), "name": name, "organizationId": organizations[index % 2]}
            )
        created: list[datetime] = []
        span_ms = 300 * 24 * 3600 * 1000
        for index in range(links):
            if index and rng.random() < 0.05:
                # Equal createdAt on purpose: the listing must break ties by id.
                created.append(created[-1])
            else:
                created.append(_SEED_EPOCH + timedelta(milliseconds=rng.randrange(span_ms)))
        for moment in sorted(created):
            link = self._random_link(rng, rng.choice(self._personas), moment)
            self._store(link)
        for persona in self._personas:
            own = [link for link in self._links.values() if link["personaId"] == persona["id"]]
            if own and rng.random() < 0.8:
                rng.choice(own)["isPrimary"] = True

    def _random_link(
        self, rng: random.Random, persona: Mapping[str, str], created_at: datetime
    ) -> dict[str, Any]:
        kind = rng.choices(["LINK", "PLAYER_EMBED", "ORB_EMBED"], weights=[70, 15, 15])[0]
        expires_at = None
        if rng.random() >= 0.35:
            expires_at = _iso(created_at + timedelta(hours=rng.randrange(24, 24 * 90)))
        usage_limit = None if rng.random() < 0.3 else rng.choice([1, 5, 10, 25, 100, 1000])
        usage_count = rng.randrange(0, (usage_limit if usage_limit is not None else 200) + 1)
        allow_all = rng.random() < 0.15
        origins = [] if rng.random() < 0.5 else rng.sample(_ORIGINS, rng.randrange(1, 4))
        return {
            "id": _uuid4(rng),
            "token": "sh_" + _nanoid(rng),
            "type": kind,
            "expiresAt": expires_at,
            "usageLimit": usage_limit,
            "usageCount": usage_count,
            "allowedOrigins": origins,
            "allowAllOrigins": allow_all,
            "removeWatermark": rng.random() < 0.2,
            "enabled": rng.random() < 0.85,
            "isPrimary": False,
            "createdAt": _iso(created_at),
            "personaId": persona["id"],
            "personaName": persona["name"],
            "organizationId": persona["organizationId"],
        }

    def _store(self, link: dict[str, Any]) -> None:
        self._links[link["id"]] = link
        self._newest = max(self._newest, _parse_iso(link["createdAt"]))
        self._ordered = None

    def _next_created_at(self) -> datetime:
        now = self._clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        return max(now, self._newest + timedelta(milliseconds=1))

    def _ordered_links(self) -> list[dict[str, Any]]:
        if self._ordered is None:
            by_id = sorted(self._links.values(), key=lambda link: link["id"])
            # Stable sort: equal createdAt keeps the id order from the first pass.
            self._ordered = sorted(by_id, key=lambda link: link["createdAt"], reverse=True)
        return self._ordered

    def _persona(self, persona_id: str) -> dict[str, str] | None:
        return next((p for p in self._personas if p["id"] == persona_id), None)

    # ----------------------------------------------------------------- request handling

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handler_tasks.add(task)
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        dropped = False
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return _error_response(
                    413, f"The request body is larger than {request.client_max_size} bytes"
                )
            route = self._route(request.method, request.path)
            record = RecordedRequest(
                number=sum(self._arrivals.values()) + 1,
                method=request.method,
                path=request.path,
                query={name: request.query[name] for name in request.query},
                query_string=request.rel_url.raw_query_string,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                body=body,
                operation=route.operation,
                page=self._requested_page(route, request),
            )
            self._requests.append(record)
            self._arrivals[route.operation] += 1
            self._state_changed.notify()
            response, dropped, fault = await self._answer(request, record, route)
            await self._run_response_hooks(record, response, fault)
            return response
        except asyncio.CancelledError:
            if not self._closing and not dropped:
                self._disconnects += 1
                self._state_changed.notify()
            raise
        finally:
            self._in_flight -= 1
            self._state_changed.notify()
            if task is not None:
                self._handler_tasks.discard(task)

    async def _answer(
        self, request: web.BaseRequest, record: RecordedRequest, route: _Route
    ) -> tuple[web.StreamResponse, bool, Fault | None]:
        for hook in list(self._hooks):
            try:
                result = hook(record)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._hook_errors.append(exc)
                return _error_response(500, f"on_request hook failed: {exc!r}"), False, None
        for gate in [gate for gate in self._gates if gate._matches(record)]:
            await gate._park()
        fault = self._pick_fault(record)
        delay = self._latency
        if isinstance(fault, DelayFault):
            delay += fault.seconds
        elif fault is not None:
            delay += fault.delay
        if delay > 0:
            await asyncio.sleep(delay)
        if isinstance(fault, StatusFault):
            return self._status_fault_response(fault), False, fault
        if isinstance(fault, MalformedFault):
            headers = {"Content-Type": fault.content_type}
            response = web.Response(status=fault.status, body=fault.body, headers=headers)
            return response, False, fault
        response = self._respond(request, record, route)
        if isinstance(fault, DropFault):
            partial = await self._drop(request, response, after_headers=fault.after_headers)
            return partial, True, fault
        return response, False, fault

    def _pick_fault(self, record: RecordedRequest) -> Fault | None:
        for scheduled in self._faults:
            if scheduled.matches(record):
                if scheduled.remaining is not None:
                    scheduled.remaining -= 1
                    if scheduled.remaining == 0:
                        self._faults.remove(scheduled)
                return scheduled.fault
        rate = self._error_rate
        if rate is None or record.operation is None:
            return None
        if rate.operations is not None and record.operation not in rate.operations:
            return None
        if rate.rng.random() < rate.rate:
            return rate.rng.choice(rate.faults)
        return None

    def _status_fault_response(self, fault: StatusFault) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict(fault.headers or {})
        if fault.retry_after is not None:
            retry_after = fault.retry_after
            value = retry_after if isinstance(retry_after, str) else _number_header(retry_after)
            headers["Retry-After"] = value
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = _number_header(fault.retry_after_ms)
        body = fault.body
        if fault.status in (204, 304) or fault.status < 200:
            return web.Response(status=fault.status, headers=headers)
        if body is None:
            phrase = _phrase(fault.status)
            message = f"Injected fault: {phrase}"
            payload: bytes = _encode(
                {"message": message, "error": phrase, "statusCode": fault.status}
            )
            content_type = "application/json"
        elif isinstance(body, bytes):
            payload, content_type = body, "application/json"
        elif isinstance(body, str):
            payload, content_type = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = _encode(body), "application/json"
        headers["Content-Type"] = fault.content_type or content_type
        return web.Response(status=fault.status, body=payload, headers=headers)

    async def _drop(
        self, request: web.BaseRequest, response: web.Response, *, after_headers: bool
    ) -> web.StreamResponse:
        transport = request.transport
        if not after_headers:
            if transport is not None:
                transport.close()
            # Writing this to the closed transport makes aiohttp end the connection quietly.
            return response
        body = cast(bytes, response.body)
        partial = web.StreamResponse(status=response.status)
        partial.content_type = response.content_type
        partial.content_length = len(body)
        await partial.prepare(request)
        await partial.write(body[: len(body) // 2])
        if transport is not None:
            # close(), not abort(): the partial body must be flushed before the FIN.
            transport.close()
        return partial

    def _route(self, method: str, path: str) -> _Route:
        if path == _COLLECTION_PATH:
            allowed: tuple[str, ...] = ("GET", "POST")
            operations: dict[str, Operation] = {"GET": "list", "POST": "create"}
            return _Route(operations.get(method), None, allowed)
        match = _ITEM_PATH.fullmatch(path)
        if match:
            allowed = ("GET", "PUT", "DELETE")
            operations = {"GET": "get", "PUT": "update", "DELETE": "delete"}
            return _Route(operations.get(method), match.group(1), allowed)
        return _Route(None, None, ())

    @staticmethod
    def _requested_page(route: _Route, request: web.BaseRequest) -> int | None:
        if route.operation != "list":
            return None
        values = request.query.getall("page", [])
        if not values:
            return 1
        if len(values) == 1 and _DIGITS_RE.fullmatch(values[0]):
            return int(values[0])
        return None

    def _respond(
        self, request: web.BaseRequest, record: RecordedRequest, route: _Route
    ) -> web.Response:
        if not route.allowed:
            return _error_response(404, f"Cannot {record.method} {record.path}")
        if route.operation is None:
            return _error_response(
                405,
                f"Method {record.method} is not allowed on {record.path}",
                headers={"Allow": ", ".join(route.allowed)},
            )
        if request.headers.get("Authorization") != f"Bearer {self._api_key}":
            return _error_response(401, "Invalid or missing API key")
        if record.body and request.content_type != "application/json":
            # As a JSON body parser does: a body not labelled JSON is not read at all.
            return _error_response(
                415, "Unsupported Media Type: the request body must be application/json"
            )
        try:
            if route.operation == "list":
                return self._list(request)
            link_id = route.link_id
            if route.operation == "create":
                return self._create(record.body)
            assert link_id is not None
            if route.operation == "get":
                return self._get(link_id)
            if route.operation == "delete":
                return self._delete(link_id)
            return self._update(link_id, record.body)
        except _BadRequest as exc:
            return _error_response(400, exc.message)

    def _list(self, request: web.BaseRequest) -> web.Response:
        query = request.query
        for name in ("page", "perPage", "search", "personaId"):
            if len(query.getall(name, [])) > 1:
                raise _BadRequest(f"{name} must be given at most once")
        page = self._int_param(query.get("page"), "page", 1, _MAX_PAGE, default=1)
        per_page = self._int_param(query.get("perPage"), "perPage", 1, 100, default=20)
        persona_id: str | None = None
        if "personaId" in query:
            persona_id = _canonical_uuid(query["personaId"])
            if persona_id is None:
                raise _BadRequest("personaId must be a UUID")
        needle = query.get("search", "").casefold()
        selected = [
            link
            for link in self._ordered_links()
            if (persona_id is None or link["personaId"] == persona_id)
            and (
                not needle
                or needle in link["personaName"].casefold()
                or needle in link["token"].casefold()
            )
        ]
        total = len(selected)
        last_page = math.ceil(total / per_page)
        start = (page - 1) * per_page
        meta = {
            "total": total,
            "lastPage": last_page,
            "currentPage": page,
            "perPage": per_page,
            "prev": page - 1 if page > 1 else None,
            "next": page + 1 if page < last_page else None,
        }
        return _json_response(200, {"data": selected[start : start + per_page], "meta": meta})

    @staticmethod
    def _int_param(raw: str | None, name: str, low: int, high: int, *, default: int) -> int:
        if raw is None:
            return default
        if _DIGITS_RE.fullmatch(raw) and low <= int(raw) <= high:
            return int(raw)
        raise _BadRequest(f"{name} must be an integer in {low}..{high}, got {raw[:40]!r}")

    def _link_for(self, raw_id: str) -> str:
        link_id = _canonical_uuid(raw_id)
        if link_id is None:
            raise _BadRequest(f"id must be a UUID, got {raw_id[:40]!r}")
        return link_id

    def _get(self, raw_id: str) -> web.Response:
        link_id = self._link_for(raw_id)
        link = self._links.get(link_id)
        if link is None:
            return _error_response(404, f"Share link {link_id} not found")
        return _json_response(200, link)

    def _delete(self, raw_id: str) -> web.Response:
        link_id = self._link_for(raw_id)
        if link_id not in self._links:
            return _error_response(404, f"Share link {link_id} not found")
        self.delete_links([link_id])
        return _json_response(200, {"message": "Share link deleted successfully"})

    def _create(self, body: bytes) -> web.Response:
        payload = _json_object(body)
        raw_persona = payload.get("personaId")
        if raw_persona is None:
            raise _BadRequest("personaId is required")
        persona_id = _canonical_uuid(raw_persona) if isinstance(raw_persona, str) else None
        if persona_id is None:
            raise _BadRequest("personaId must be a UUID")
        hours = _positive_number(payload, "expiresInHours")
        usage_limit = _usage_limit(payload)
        persona = self._persona(persona_id)
        if persona is None:
            return _error_response(404, f"Persona {persona_id} not found")
        created_at = self._next_created_at()
        expires_at = self._expires_at(hours if hours is not None else _DEFAULT_EXPIRES_IN_HOURS)
        link: dict[str, Any] = {
            "id": _uuid4(self._runtime_rng),
            "token": "sh_" + _nanoid(self._runtime_rng),
            "type": "LINK",
            "expiresAt": expires_at,
            "usageLimit": usage_limit if usage_limit is not None else _DEFAULT_USAGE_LIMIT,
            "usageCount": 0,
            "allowedOrigins": [],
            "allowAllOrigins": False,
            "removeWatermark": False,
            "enabled": True,
            "isPrimary": False,
            "createdAt": _iso(created_at),
            "personaId": persona["id"],
            "personaName": persona["name"],
            "organizationId": persona["organizationId"],
        }
        self._store(link)
        return _json_response(201, _share_link_view(link))

    def _update(self, raw_id: str, body: bytes) -> web.Response:
        link_id = self._link_for(raw_id)
        payload = _json_object(body)
        hours = _positive_number(payload, "expiresInHours")
        usage_limit = _usage_limit(payload)
        expires_at = self._expires_at(hours) if hours is not None else None
        link = self._links.get(link_id)
        if link is None:
            return _error_response(404, f"Share link {link_id} not found")
        if expires_at is not None:
            link["expiresAt"] = expires_at
        if usage_limit is not None:
            link["usageLimit"] = usage_limit
        return _json_response(200, _share_link_view(link))

    def _expires_at(self, hours: float) -> str:
        try:
            return _iso(self._clock().astimezone(UTC) + timedelta(hours=hours))
        except (OverflowError, ValueError):
            raise _BadRequest("expiresInHours is too large") from None

    def __repr__(self) -> str:
        """Show where the server listens, never the key.

        Returns:
            The representation.
        """
        where = self._url if self._url is not None else "not started"
        return f"FakeAnamAPI({where}, links={len(self._links)}, seed={self._seed})"
