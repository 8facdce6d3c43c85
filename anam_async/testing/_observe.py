"""The server's memory and the tests' handles on it: the request log, the counters, the
hooks, the waits and the hold gates. `FakeAnamAPI` is an `Observer`; this half knows nothing
of HTTP or of the data.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import Counter, deque

from ._faults import Operation, check_operation
from ._records import (
    HoldGate,
    RecordedRequest,
    RecordedResponse,
    RequestHook,
    ResponseHook,
    Waiters,
)

__all__ = ["Observer"]


class Observer:
    """What a `FakeAnamAPI` records and lets a test wait on (see `FakeAnamAPI`)."""

    def __init__(self, max_recorded_requests: int) -> None:
        """Start with an empty log that keeps the latest ``max_recorded_requests``."""
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded_requests)
        # Arrivals since start or reset, per operation (None: no operation): what the waits
        # count, since the log itself forgets.
        self._arrivals: Counter[Operation | None] = Counter()
        self._state_changed = Waiters()
        self._hooks: list[RequestHook] = []
        self._hook_errors: list[BaseException] = []
        self._response_hooks: list[ResponseHook] = []
        self._gates: list[HoldGate] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._disconnects = 0

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

    async def _run_response_hooks(self, recorded: RecordedResponse) -> None:
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
        check_operation(operation)

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
        check_operation(operation)
        gate = HoldGate(self._remove_gate, operation=operation, page=page)
        self._gates.append(gate)
        return gate

    def _remove_gate(self, gate: HoldGate) -> None:
        with contextlib.suppress(ValueError):
            self._gates.remove(gate)

    # ----------------------------------------------------------------- for the server

    def _arrived(self, record: RecordedRequest) -> None:
        self._requests.append(record)
        self._arrivals[record.operation] += 1
        self._state_changed.notify()

    def _next_number(self) -> int:
        return sum(self._arrivals.values()) + 1

    def _entered(self) -> None:
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _left(self, *, disconnected: bool) -> None:
        if disconnected:
            self._disconnects += 1
        self._in_flight -= 1
        self._state_changed.notify()

    async def _run_request_hooks(self, record: RecordedRequest) -> Exception | None:
        for hook in list(self._hooks):
            try:
                result = hook(record)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._hook_errors.append(exc)
                return exc
        return None

    async def _park(self, record: RecordedRequest) -> None:
        for gate in [gate for gate in self._gates if gate.matches(record)]:
            await gate.park()
