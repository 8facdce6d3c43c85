"""`FakeAnamAPI`: the store and the fault schedule behind a real aiohttp server.

Routing, 404 and 405 (with ``Allow``) come from ``web.Application``; one middleware runs the
pipeline the package docstring lists (record, hooks, gates, fault, latency, answer, response
hooks); the route handlers check the bearer key and the Content-Type and hand the rest to
`ShareLinkStore.answer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from anam_async._validate import check_int

from ._faults import (
    DelayFault,
    DropFault,
    Fault,
    FaultSchedule,
    MalformedFault,
    Operation,
    StatusFault,
    check_delay,
    fault_answer,
)
from ._http import Handler, drop, error_response, operation_of, recorded_response, routed
from ._observe import Observer
from ._records import RecordedRequest
from ._store import ShareLinkStore, copy_link, requested_page

__all__ = ["FakeAnamAPI"]

_COLLECTION_PATH: Final = "/v1/share-links"
_ITEM_PATH: Final = "/v1/share-links/{id}"
_ROUTES: Final[tuple[tuple[str, str, Operation], ...]] = (
    ("GET", _COLLECTION_PATH, "list"),
    ("POST", _COLLECTION_PATH, "create"),
    ("GET", _ITEM_PATH, "get"),
    ("PUT", _ITEM_PATH, "update"),
    ("DELETE", _ITEM_PATH, "delete"),
)
_RECORD: Final = web.RequestKey("anam_record", RecordedRequest)
_SHUTDOWN_TIMEOUT: Final = 0.5


class FakeAnamAPI(Observer):
    """An in-process fake of the Anam share-links API, on a real socket, for tests.

    See the package docstring for the order in which requests are handled, what ``search``
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
        for name, value, low in (
            ("links", links, 0),
            ("personas", personas, 1),
            ("max_recorded_requests", max_recorded_requests, 0),
        ):
            check_int(name, value, low)
        if api_key is not None and (not api_key or api_key != api_key.strip()):
            raise ValueError("api_key is invalid: must be non-empty without surrounding spaces")
        check_delay("latency", latency)
        super().__init__(max_recorded_requests)
        self._seed = seed
        self._api_key = api_key if api_key is not None else f"anam_test_{secrets.token_hex(16)}"
        self._latency = float(latency)
        self._host = host
        self._port = port
        self._store = ShareLinkStore(
            links=links,
            personas=personas,
            seed=seed,
            clock=clock if clock is not None else (lambda: datetime.now(UTC)),
        )
        self._faults = FaultSchedule(seed)
        self._handler_tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
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
        runner = web.AppRunner(
            self._application(),
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
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

    def _application(self) -> web.Application:
        @web.middleware
        async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._pipeline(request, handler)

        app = web.Application(middlewares=[pipeline])
        for method, path, operation in _ROUTES:
            app.router.add_route(method, path, self._operation, name=operation)
        return app

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
        check_delay("latency", value)
        self._latency = float(value)

    @property
    def personas(self) -> list[dict[str, str]]:
        """The seeded personas: dicts with ``id``, ``name`` and ``organizationId``."""
        return self._store.personas

    @property
    def links(self) -> list[dict[str, Any]]:
        """A copy of every link, in listing order, in the wire (camelCase) shape.

        Built afresh on each access, O(links): over 10 s at a million; page through the
        API, or use `get_link`, on a listing that large.
        """
        return [copy_link(link) for link in self._store.ordered()]

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
        return self._store.get_link(link_id)

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
        return self._store.insert_links(n, persona)

    def delete_links(self, target: int | Iterable[str | uuid.UUID]) -> list[str]:
        """Delete links: the ``target`` newest ones (an int), or the given ids.

        Args:
            target: A count of links to delete from the head of the listing, or link ids.

        Returns:
            The deleted ids.

        Raises:
            KeyError: An id names no link (nothing is deleted then).
        """
        return self._store.delete_links(target)

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
        self._faults.add(
            fault, operation=operation, page=page, request_number=request_number, times=times
        )

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
        self._faults.set_rate(rate, faults, seed=seed, operations=operations)

    def clear_faults(self) -> None:
        """Forget every scripted fault and turn random faults off."""
        self._faults.clear()

    # ----------------------------------------------------------------- request handling

    async def _pipeline(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handler_tasks.add(task)
        self._entered()
        disconnected = dropped = False
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                message = f"The request body is larger than {request.client_max_size} bytes"
                return error_response(413, message)
            record = self._record(request, body)
            request[_RECORD] = record
            response, dropped, fault = await self._answer(request, record, handler)
            if self._response_hooks:
                await self._run_response_hooks(recorded_response(record, response, fault))
            return response
        except asyncio.CancelledError:
            disconnected = not self._closing and not dropped
            raise
        finally:
            self._left(disconnected=disconnected)
            if task is not None:
                self._handler_tasks.discard(task)

    def _record(self, request: web.Request, body: bytes) -> RecordedRequest:
        operation = operation_of(request)
        record = RecordedRequest(
            number=self._next_number(),
            method=request.method,
            path=request.path,
            query={name: request.query[name] for name in request.query},
            query_string=request.rel_url.raw_query_string,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
            operation=operation,
            page=requested_page(request.query) if operation == "list" else None,
        )
        self._arrived(record)
        return record

    async def _answer(
        self, request: web.Request, record: RecordedRequest, handler: Handler
    ) -> tuple[web.StreamResponse, bool, Fault | None]:
        failed = await self._run_request_hooks(record)
        if failed is not None:
            return error_response(500, f"on_request hook failed: {failed!r}"), False, None
        await self._park(record)
        fault = self._faults.pick(record)
        delay = self._latency
        if isinstance(fault, DelayFault):
            delay += fault.seconds
        elif fault is not None:
            delay += fault.delay
        if delay > 0:
            await asyncio.sleep(delay)
        if isinstance(fault, StatusFault | MalformedFault):
            status, headers, body = fault_answer(fault)
            return web.Response(status=status, body=body or None, headers=headers), False, fault
        response = await routed(request, handler)
        if isinstance(fault, DropFault):
            partial = await drop(request, response, after_headers=fault.after_headers)
            return partial, True, fault
        return response, False, fault

    async def _operation(self, request: web.Request) -> web.Response:
        record = request[_RECORD]
        if request.headers.get("Authorization") != f"Bearer {self._api_key}":
            return error_response(401, "Invalid or missing API key")
        if record.body and request.content_type != "application/json":
            # As a JSON body parser does: a body not labelled JSON is not read at all.
            message = "Unsupported Media Type: the request body must be application/json"
            return error_response(415, message)
        assert record.operation is not None
        reply = self._store.answer(
            record.operation, request.match_info.get("id"), request.query, record.body
        )
        return web.Response(status=reply.status, body=reply.body, content_type="application/json")

    def __repr__(self) -> str:
        """Show where the server listens, never the key.

        Returns:
            The representation.
        """
        where = self._url if self._url is not None else "not started"
        return f"FakeAnamAPI({where}, links={len(self._store)}, seed={self._seed})"
