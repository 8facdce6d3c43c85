"""What the fake remembers and how tests wait on it: records, hooks' types, hold gates."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias

import msgspec

from ._faults import Fault, Operation

__all__ = [
    "HoldGate",
    "RecordedRequest",
    "RecordedResponse",
    "RequestHook",
    "ResponseHook",
    "Waiters",
]


class Waiters:
    """Futures resolved when their predicate turns true; notified synchronously.

    Not an asyncio.Condition: notifying must work from a cancelled handler without awaiting.
    """

    def __init__(self) -> None:
        """Start with nobody waiting."""
        self._pending: list[tuple[asyncio.Future[None], Callable[[], bool]]] = []

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true, checked now and at every `notify`."""
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
        """Wake every waiter whose predicate is now true."""
        for future, predicate in list(self._pending):
            if not future.done() and predicate():
                future.set_result(None)


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

    def __init__(
        self,
        on_release: Callable[[HoldGate], None],
        *,
        operation: Operation | None,
        page: int | None,
    ) -> None:
        """Create a gate; use `FakeAnamAPI.hold` instead.

        Args:
            on_release: Called with the gate when it is released (the server forgets it).
            operation: Only park requests of this operation (None: any).
            page: Only park list requests for this page (None: any).
        """
        self._on_release = on_release
        self.operation = operation
        self.page = page
        self._opened = asyncio.Event()
        self._changed = Waiters()
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
        self._on_release(self)

    async def wait_for_waiting(self, n: int = 1) -> None:
        """Return once at least ``n`` requests are parked at this gate.

        Wrap it in ``asyncio.timeout()`` to bound the wait.

        Args:
            n: The number of parked requests to wait for.
        """
        await self._changed.wait_until(lambda: self._waiting >= n)

    def matches(self, record: RecordedRequest) -> bool:
        """Whether this gate parks ``record`` (the server asks, before answering it)."""
        if self.operation is not None and record.operation != self.operation:
            return False
        return self.page is None or (record.operation == "list" and record.page == self.page)

    async def park(self) -> None:
        """Wait here until the gate is released (the server calls it for each match)."""
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
