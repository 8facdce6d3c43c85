"""The faults the fake injects, and the schedule that picks one for each request.

Sans-I/O: a fault is data, and `FaultSchedule.pick` decides which (if any) shapes a request;
`fault_answer` turns a `StatusFault` or `MalformedFault` into the status, headers and body to
send. The server in `_server` does the sending, the sleeping and the dropping.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

import msgspec

if TYPE_CHECKING:
    from ._records import RecordedRequest

__all__ = [
    "OPERATIONS",
    "DelayFault",
    "DropFault",
    "Fault",
    "FaultSchedule",
    "MalformedFault",
    "Operation",
    "StatusFault",
    "check_delay",
    "check_operation",
    "error_body",
    "fault_answer",
]

Operation: TypeAlias = Literal["list", "get", "create", "update", "delete"]
"""The name of a share-links operation, as used to match faults, gates and records."""

OPERATIONS: Final[tuple[Operation, ...]] = ("list", "get", "create", "update", "delete")

_encode = msgspec.json.Encoder().encode


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
        check_delay("delay", self.delay)


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
        check_delay("delay", self.delay)


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
        check_delay("delay", self.delay)


@dataclass(frozen=True)
class DelayFault:
    """Wait, then answer normally (a slow response, e.g. to trip a client timeout).

    Args:
        seconds: How long to wait, on top of the server's latency.
    """

    seconds: float

    def __post_init__(self) -> None:
        check_delay("seconds", self.seconds)


Fault: TypeAlias = StatusFault | MalformedFault | DropFault | DelayFault
"""Any fault kind accepted by ``FakeAnamAPI.add_fault`` and ``FakeAnamAPI.set_error_rate``."""

FAULT_TYPES: Final = (StatusFault, MalformedFault, DropFault, DelayFault)


def check_delay(name: str, value: float) -> None:
    """Refuse a delay that is not a finite number of seconds >= 0, naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{name}={value!r} is invalid: must be a number of seconds >= 0")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is invalid: must be finite")


def check_operation(operation: str | None) -> None:
    """Refuse a name that is not one of `OPERATIONS` (None means any and is accepted)."""
    if operation is not None and operation not in OPERATIONS:
        raise ValueError(f"operation={operation!r} is invalid: must be one of {OPERATIONS}")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(status: int, message: str) -> bytes:
    """The real API's error body: ``{"message", "error", "statusCode"}``."""
    return _encode({"message": message, "error": _phrase(status), "statusCode": status})


def _number_header(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def fault_answer(fault: StatusFault | MalformedFault) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body a `StatusFault` or `MalformedFault` answers with."""
    if isinstance(fault, MalformedFault):
        return fault.status, {"Content-Type": fault.content_type}, fault.body
    headers = dict(fault.headers or {})
    if fault.retry_after is not None:
        retry_after = fault.retry_after
        value = retry_after if isinstance(retry_after, str) else _number_header(retry_after)
        headers["Retry-After"] = value
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = _number_header(fault.retry_after_ms)
    body = fault.body
    if fault.status in (204, 304) or fault.status < 200:
        return fault.status, headers, b""
    if body is None:
        payload = error_body(fault.status, f"Injected fault: {_phrase(fault.status)}")
        content_type = "application/json"
    elif isinstance(body, bytes):
        payload, content_type = body, "application/json"
    elif isinstance(body, str):
        payload, content_type = body.encode(), "text/plain; charset=utf-8"
    else:
        payload, content_type = _encode(body), "application/json"
    headers["Content-Type"] = fault.content_type or content_type
    return fault.status, headers, payload


@dataclass
class _Scheduled:
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
    operations: frozenset[str] | None


class FaultSchedule:
    """Scripted faults, tried in the order added, then an optional random error rate."""

    def __init__(self, seed: int) -> None:
        """Create an empty schedule; ``seed`` seeds the random faults by default."""
        self._seed = seed
        self._scripted: list[_Scheduled] = []
        self._rate: _ErrorRate | None = None

    def add(
        self,
        fault: Fault,
        *,
        operation: Operation | None,
        page: int | None,
        request_number: int | None,
        times: int | None,
    ) -> None:
        """Queue a fault; see `FakeAnamAPI.add_fault`."""
        if not isinstance(fault, FAULT_TYPES):
            raise TypeError(f"fault={fault!r} is not a fault")
        check_operation(operation)
        if times is not None and times < 1:
            raise ValueError(f"times={times!r} is invalid: must be >= 1 or None")
        self._scripted.append(_Scheduled(fault, operation, page, request_number, times))

    def set_rate(
        self,
        rate: float,
        faults: Iterable[Fault] | None,
        *,
        seed: int | None,
        operations: Iterable[Operation] | None,
    ) -> None:
        """Fail a random share of requests; see `FakeAnamAPI.set_error_rate`."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate!r} is invalid: must be in 0..1")
        chosen = tuple(faults) if faults is not None else (StatusFault(500),)
        if not chosen or not all(isinstance(fault, FAULT_TYPES) for fault in chosen):
            raise ValueError("faults must be a non-empty list of faults")
        names: frozenset[str] | None = None
        if operations is not None:
            names = frozenset(operations)
            for name in names:
                check_operation(name)
        if rate == 0.0:
            self._rate = None
            return
        rng = random.Random(self._seed if seed is None else seed)
        self._rate = _ErrorRate(rate, chosen, rng, names)

    def clear(self) -> None:
        """Forget every scripted fault and turn random faults off."""
        self._scripted.clear()
        self._rate = None

    def pick(self, record: RecordedRequest) -> Fault | None:
        """The fault for this request (counting a scripted one down), or None."""
        for scheduled in self._scripted:
            if scheduled.matches(record):
                if scheduled.remaining is not None:
                    scheduled.remaining -= 1
                    if scheduled.remaining == 0:
                        self._scripted.remove(scheduled)
                return scheduled.fault
        rate = self._rate
        if rate is None or record.operation is None:
            return None
        if rate.operations is not None and record.operation not in rate.operations:
            return None
        if rate.rng.random() < rate.rate:
            return rate.rng.choice(rate.faults)
        return None
