"""stream(), pages() and get_many() end to end over FakeAnamAPI on a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import TypeVar

import aiohttp
import pytest

from anam_async import (
    AnamClient,
    AnamError,
    AnamValidationError,
    APIError,
    BadRequestError,
    NotFoundError,
    PersonaShareLink,
    _ordered,
    _paging,
)
from anam_async.testing import DropFault, FakeAnamAPI, MalformedFault, RecordedRequest, StatusFault

from .conftest import SleepRecorder

T = TypeVar("T")


async def drain(items: AsyncIterator[T], into: list[T]) -> None:
    """Append every item to ``into`` (so a test can see what came out before an error)."""
    async for item in items:
        into.append(item)


def ids_of(api: FakeAnamAPI) -> list[uuid.UUID]:
    """The listing's ids in server order, straight from the fake's state."""
    return [uuid.UUID(link["id"]) for link in api.links]


def _is_server_task(task: asyncio.Task[object]) -> bool:
    # The fake server shares the test's loop; its connection handlers are not the client's.
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    return "/aiohttp/web_" in filename or "/anam_async/testing/" in filename


class ClientSide:
    """Counts the client's requests as aiohttp's client sees them (a TraceConfig).

    What the client started and how many it had in flight at most, measured on the client
    side of the socket, so a bound holds or fails whatever the server has received yet.
    """

    def __init__(self) -> None:
        self.started = 0
        self.in_flight = 0
        self.peak = 0
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._start)
        self.config.on_request_end.append(self._end)
        self.config.on_request_exception.append(self._end)

    async def _start(self, *_: object) -> None:
        self.started += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    async def _end(self, *_: object) -> None:
        self.in_flight -= 1


@contextlib.asynccontextmanager
async def traced_client(api: FakeAnamAPI) -> AsyncIterator[tuple[AnamClient, ClientSide]]:
    """A client on a borrowed session whose requests ``ClientSide`` counts."""
    side = ClientSide()
    async with (
        aiohttp.ClientSession(trace_configs=[side.config]) as session,
        AnamClient(api.api_key, base_url=api.url, session=session) as client,
    ):
        yield client, side


def other_tasks() -> set[asyncio.Task[object]]:
    """The client's tasks still pending, besides the test's own."""
    return {
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and not _is_server_task(task)
    }


# -- order and completeness ------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3, 8])
async def test_stream_yields_every_link_once_in_server_order(
    api: FakeAnamAPI, client: AnamClient, concurrency: int
) -> None:
    got = [link.id async for link in client.share_links.stream(per_page=7, concurrency=concurrency)]
    assert got == ids_of(api)


async def test_stream_requests_no_page_past_the_end(api: FakeAnamAPI, client: AnamClient) -> None:
    # 120 links at 10 a page: pages 1..12, and the first wave (1..4) is inside the listing.
    [_ async for _ in client.share_links.stream(per_page=10, concurrency=4)]
    assert sorted(r.page for r in api.requests if r.page is not None) == list(range(1, 13))


async def test_pages_flatten_to_stream(api: FakeAnamAPI, client: AnamClient) -> None:
    pages = [page async for page in client.share_links.pages(per_page=25, concurrency=3)]
    assert [page.meta.current_page for page in pages] == [1, 2, 3, 4, 5]
    assert [link.id for page in pages for link in page.data] == ids_of(api)


async def test_stream_with_filters(api: FakeAnamAPI, client: AnamClient) -> None:
    persona = api.personas[0]["id"]
    got = [link async for link in client.share_links.stream(per_page=5, persona_id=persona)]
    expected = [uuid.UUID(link["id"]) for link in api.links if link["personaId"] == persona]
    assert [link.id for link in got] == expected
    assert all(r.query.get("personaId") == persona for r in api.requests)


async def test_empty_listing_ends_after_one_page(api: FakeAnamAPI, client: AnamClient) -> None:
    got = [link async for link in client.share_links.stream(search="no such term", concurrency=1)]
    assert got == []
    assert len(api.requests) == 1


async def test_start_page_resumes_where_a_run_stopped(api: FakeAnamAPI, client: AnamClient) -> None:
    got = [link.id async for link in client.share_links.stream(per_page=10, start_page=5)]
    assert got == ids_of(api)[40:]


async def test_limit_counts_items(api: FakeAnamAPI, client: AnamClient) -> None:
    got = [link.id async for link in client.share_links.stream(per_page=10, limit=25)]
    assert got == ids_of(api)[:25]
    assert other_tasks() == set()


async def test_limit_counts_pages_for_pages(api: FakeAnamAPI, client: AnamClient) -> None:
    pages = [p async for p in client.share_links.pages(per_page=10, limit=2, concurrency=4)]
    assert [p.meta.current_page for p in pages] == [1, 2]
    assert other_tasks() == set()


# -- bounds ----------------------------------------------------------------------------------


async def test_at_most_concurrency_requests_in_flight(api: FakeAnamAPI) -> None:
    async with traced_client(api) as (client, side):
        gate = api.hold(operation="list")
        stream = client.share_links.stream(per_page=5, concurrency=3)
        first = asyncio.ensure_future(anext(stream))
        await gate.wait_for_waiting(3)
        # The client's own count: three started and none answered, so the window is full.
        assert (side.started, side.in_flight) == (3, 3)
        gate.release()
        await first
        links = [first.result(), *[link async for link in stream]]
        # Measured on the client side over the whole run: never a fourth at once.
        assert side.peak == 3
        assert len(links) == len(api.links)
        assert api.max_in_flight <= 3


async def lookahead_violations(api: FakeAnamAPI, concurrency: int, slack: int) -> list[int]:
    """Stream everything, checking each request as the client starts it.

    At each start the consumer holds an item of page ``holding`` (or waits for the next
    item, which belongs to the next page once a page is used up); a request for a page
    beyond ``holding + concurrency - slack`` is returned. The consumer keeps each item over
    a few loop turns, so that an engine that read ahead would have the chance to.
    """
    per_page, consumed, waiting = 5, 0, False
    violations: list[int] = []
    trace = aiohttp.TraceConfig()

    async def on_start(_: object, __: object, params: aiohttp.TraceRequestStartParams) -> None:
        page = int(params.url.query.get("page", "1"))
        holding = -(-(consumed + waiting) // per_page)
        if page > holding + concurrency - slack:
            violations.append(page)

    trace.on_request_start.append(on_start)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        AnamClient(api.api_key, base_url=api.url, session=session) as client,
    ):
        stream = client.share_links.stream(per_page=per_page, concurrency=concurrency)
        async with contextlib.aclosing(stream):
            while True:
                waiting = True
                try:
                    await anext(stream)
                except StopAsyncIteration:
                    break
                waiting = False
                consumed += 1
                for _ in range(5):
                    await asyncio.sleep(0)  # hold the item while the engine runs
    assert consumed == len(api.links)
    return violations


async def test_lookahead_is_bounded_while_consumer_holds_an_item(api: FakeAnamAPI) -> None:
    assert await lookahead_violations(api, concurrency=4, slack=0) == []


async def test_the_lookahead_check_sees_a_window_one_page_too_wide(api: FakeAnamAPI) -> None:
    """The check above can fail: held to one page less, the engine's real window breaks it."""
    assert await lookahead_violations(api, concurrency=4, slack=1) != []


async def test_concurrency_one_is_sequential(api: FakeAnamAPI, client: AnamClient) -> None:
    api.latency = 0.001
    [_ async for _ in client.share_links.stream(per_page=20, concurrency=1)]
    assert api.max_in_flight == 1
    assert [r.page for r in api.requests] == [1, 2, 3, 4, 5, 6]


# -- early exit ------------------------------------------------------------------------------


async def test_aclose_cancels_in_flight_requests(api: FakeAnamAPI, client: AnamClient) -> None:
    gate = api.hold(operation="list", page=2)
    stream = client.share_links.stream(per_page=5, concurrency=4)
    await anext(stream)
    await gate.wait_for_waiting(1)
    await stream.aclose()
    assert other_tasks() == set()
    gate.release()


async def test_break_inside_aclosing_leaves_nothing_pending(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    async with contextlib.aclosing(client.share_links.stream(per_page=3, concurrency=8)) as stream:
        async for _ in stream:
            break
    assert other_tasks() == set()


async def test_cancelling_the_consumer_cancels_requests(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    gate = api.hold(operation="list")

    async def consume() -> None:
        async for _ in client.share_links.stream(per_page=5, concurrency=4):
            pass

    consumer = asyncio.ensure_future(consume())
    await gate.wait_for_waiting(4)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert other_tasks() == set()
    gate.release()


async def test_error_raises_at_its_page_position(
    api: FakeAnamAPI, client: AnamClient, sleeps: SleepRecorder
) -> None:
    api.add_fault(StatusFault(400), operation="list", page=3)
    got: list[PersonaShareLink] = []
    with pytest.raises(BadRequestError):
        await drain(client.share_links.stream(per_page=10, concurrency=4), got)
    assert [link.id for link in got] == ids_of(api)[:20]
    assert other_tasks() == set()


async def test_stream_survives_transient_faults(
    api: FakeAnamAPI, client: AnamClient, sleeps: SleepRecorder
) -> None:
    api.add_fault(StatusFault(503), operation="list", page=2)
    api.add_fault(DropFault(), operation="list", page=4)
    got = [link.id async for link in client.share_links.stream(per_page=10, concurrency=4)]
    assert got == ids_of(api)


async def test_overload_lowers_the_streams_concurrency(
    api: FakeAnamAPI, client: AnamClient, sleeps: SleepRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiters: list[_ordered.Limiter] = []

    class RecordingLimiter(_ordered.Limiter):
        def __init__(self, maximum: int) -> None:
            super().__init__(maximum)
            self.overloads = 0
            limiters.append(self)

        def on_overload(self) -> None:
            self.overloads += 1
            super().on_overload()

    monkeypatch.setattr(_paging, "Limiter", RecordingLimiter)
    api.add_fault(StatusFault(429, retry_after=0), operation="list", page=2)
    api.add_fault(StatusFault(503), operation="list", page=3)
    [_ async for _ in client.share_links.stream(per_page=10, concurrency=8)]
    [limiter] = limiters
    assert limiter.overloads == 2


# -- drift -----------------------------------------------------------------------------------


async def test_links_inserted_mid_stream_never_come_out_twice(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    before = ids_of(api)

    def insert_after_page_2(record: RecordedRequest) -> None:
        if record.page == 3:
            api.insert_links(4)

    api.on_request(insert_after_page_2)
    got = [link.id async for link in client.share_links.stream(per_page=10, concurrency=1)]
    assert len(got) == len(set(got))
    assert got == before  # every original link once, in order; the new ones were listed first


async def test_pages_drop_already_yielded_items(api: FakeAnamAPI, client: AnamClient) -> None:
    def insert_before_page_2(record: RecordedRequest) -> None:
        if record.page == 2:
            api.insert_links(10)

    api.on_request(insert_before_page_2)
    pages = [p async for p in client.share_links.pages(per_page=10, concurrency=1, limit=2)]
    # Page 2 now holds exactly page 1's links again: emptied, still yielded, counted.
    assert len(pages) == 2
    assert pages[1].data == []


async def test_links_removed_mid_stream_end_the_stream_cleanly(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    def delete_after_page_1(record: RecordedRequest) -> None:
        if record.page == 2:
            api.delete_links(50)

    api.on_request(delete_after_page_1)
    got = [link.id async for link in client.share_links.stream(per_page=10, concurrency=1)]
    assert len(got) == len(set(got))
    assert len(got) == 120 - 50 + 10 - 10  # page 1 read before, the rest shifted left by 50
    assert other_tasks() == set()


async def test_listing_that_grows_keeps_going(api: FakeAnamAPI, client: AnamClient) -> None:
    def grow_on_last_page(record: RecordedRequest) -> None:
        if record.page == 12 and len(api.links) == 120:
            api.insert_links(15)

    api.on_request(grow_on_last_page)
    got = [link.id async for link in client.share_links.stream(per_page=10, concurrency=2)]
    assert len(got) == len(set(got)) == 120
    assert max(r.page or 0 for r in api.requests) >= 13


# -- validation at call time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"per_page": 0}, "per_page"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 65}, "concurrency"),
        ({"limit": 0}, "limit"),
        ({"start_page": 0}, "start_page"),
        ({"persona_id": "nope"}, "persona_id"),
        ({"search": b"bytes"}, "search"),
    ],
)
@pytest.mark.parametrize("method", ["stream", "pages"])
async def test_stream_arguments_are_checked_at_call(
    api: FakeAnamAPI, client: AnamClient, method: str, kwargs: dict[str, object], parameter: str
) -> None:
    with pytest.raises(AnamValidationError, match=rf"^{parameter}="):
        getattr(client.share_links, method)(**kwargs)
    assert api.requests == []


async def test_stream_on_closed_client_raises_at_call(api: FakeAnamAPI) -> None:
    client = AnamClient(api.api_key, base_url=api.url)
    await client.close()
    with pytest.raises(AnamError, match="closed"):
        client.share_links.stream()


async def test_stream_does_no_io_until_iterated(api: FakeAnamAPI) -> None:
    async with traced_client(api) as (client, side):
        before = other_tasks()
        stream = client.share_links.stream()
        # Nothing can send a request: no task was started, and the generator's body runs
        # only when it is iterated; the client's own count agrees.
        assert other_tasks() == before
        assert side.started == 0
        await stream.aclose()
        assert side.started == 0
    assert api.requests == []


# -- 1,000 pages with faults -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
async def test_thousand_pages_with_ten_percent_faults_come_out_complete(
    seed: int, sleeps: SleepRecorder
) -> None:
    faults = [
        StatusFault(500),
        StatusFault(503),
        StatusFault(429, retry_after=0),
        DropFault(),
        DropFault(after_headers=True),
    ]
    async with FakeAnamAPI(links=1000, seed=seed) as api:
        api.set_error_rate(0.1, faults, seed=seed, operations=["list"])
        async with AnamClient(api.api_key, base_url=api.url, max_retries=5) as anam:
            got = [link.id async for link in anam.share_links.stream(per_page=1, concurrency=8)]
        assert got == ids_of(api)
        assert len({r.page for r in api.requests}) == 1000


# -- get_many --------------------------------------------------------------------------------


async def test_get_many_yields_in_input_order(api: FakeAnamAPI, client: AnamClient) -> None:
    wanted = ids_of(api)[::7]
    got = [link.id async for link in client.share_links.get_many(wanted, concurrency=4)]
    assert got == wanted


async def test_get_many_takes_an_async_iterable(api: FakeAnamAPI, client: AnamClient) -> None:
    wanted = ids_of(api)[:5]

    async def produce() -> AsyncIterator[str]:
        for link_id in wanted:
            yield str(link_id)

    got = [link.id async for link in client.share_links.get_many(produce())]
    assert got == wanted


async def test_get_many_raises_first_failure_at_its_position(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    wanted = [*ids_of(api)[:3], uuid.uuid4(), *ids_of(api)[3:6]]
    got: list[PersonaShareLink] = []
    with pytest.raises(NotFoundError):
        await drain(client.share_links.get_many(wanted, concurrency=3), got)
    assert [link.id for link in got] == wanted[:3]
    assert other_tasks() == set()


async def test_get_many_can_yield_errors_in_place(api: FakeAnamAPI, client: AnamClient) -> None:
    missing = uuid.uuid4()
    wanted = [ids_of(api)[0], missing, ids_of(api)[1]]
    got = [item async for item in client.share_links.get_many(wanted, return_exceptions=True)]
    assert isinstance(got[1], NotFoundError)
    assert [getattr(item, "id", None) for item in got] == [wanted[0], None, wanted[2]]
    assert all(isinstance(item, PersonaShareLink | APIError) for item in got)


async def test_get_many_invalid_id_raises_at_its_position_before_its_request(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    wanted: list[object] = [ids_of(api)[0], "not-an-id", ids_of(api)[1]]
    got: list[PersonaShareLink | APIError] = []
    results = client.share_links.get_many(wanted, return_exceptions=True)  # type: ignore[arg-type]
    with pytest.raises(AnamValidationError, match=r"^share_link_id='not-an-id'"):
        await drain(results, got)
    assert len(got) == 1
    assert [r.path.rsplit("/", 1)[-1] for r in api.requests] == [str(wanted[0])]


async def test_get_many_refuses_a_bare_string(api: FakeAnamAPI, client: AnamClient) -> None:
    with pytest.raises(AnamValidationError, match=r"^share_link_ids="):
        client.share_links.get_many(str(ids_of(api)[0]))


async def test_get_many_bounds_requests_in_flight(api: FakeAnamAPI) -> None:
    async with traced_client(api) as (client, side):
        gate = api.hold(operation="get")
        results = client.share_links.get_many(ids_of(api)[:20], concurrency=5)
        first = asyncio.ensure_future(anext(results))
        await gate.wait_for_waiting(5)
        assert (side.started, side.in_flight) == (5, 5)
        gate.release()
        await first
        rest = [link async for link in results]
        assert side.peak == 5
        assert side.started == 20
        assert len(rest) == 19
        assert other_tasks() == set()


async def test_an_id_repeated_within_one_page_comes_out_once(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    first, second = api.links[:2]
    body = {
        "data": [first, first, second],
        "meta": {
            "total": 3,
            "lastPage": 1,
            "currentPage": 1,
            "perPage": 3,
            "prev": None,
            "next": None,
        },
    }
    api.add_fault(MalformedFault(json.dumps(body).encode()), operation="list", times=2)
    got = [link.id async for link in client.share_links.stream(per_page=3, concurrency=1)]
    assert got == [uuid.UUID(first["id"]), uuid.UUID(second["id"])]
    [page] = [page async for page in client.share_links.pages(per_page=3, concurrency=1)]
    assert [link.id for link in page.data] == got


LEAVE_POINTS = sorted(random.Random(20261128).sample(range(1, 120), 6))


def acquired_connections(client: AnamClient) -> int:
    """Connections the client's pool has handed out and not got back (aiohttp internals)."""
    assert client._session is not None
    connector = client._session.connector
    assert connector is not None
    return len(connector._acquired)  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["aclose", "cancel"])
@pytest.mark.parametrize("after", LEAVE_POINTS)
async def test_leaving_early_at_any_point_leaves_nothing_behind(
    api: FakeAnamAPI, client: AnamClient, after: int, how: str
) -> None:
    """Leave after ``after`` items, by aclose() or by cancelling the consumer mid-request."""
    api.latency = 0.001  # keep requests in flight when the consumer leaves
    stream = client.share_links.stream(per_page=7, concurrency=6)
    if how == "aclose":
        got = [await anext(stream) for _ in range(after)]
        await stream.aclose()
    else:
        got = []
        taken, never = asyncio.Event(), asyncio.Event()

        async def consume() -> None:
            async with contextlib.aclosing(stream):
                async for link in stream:
                    got.append(link)
                    if len(got) == after:
                        taken.set()
                        await never.wait()  # holds the item until cancelled

        consumer = asyncio.ensure_future(consume())
        await taken.wait()
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
    assert [link.id for link in got[:after]] == ids_of(api)[:after]
    assert other_tasks() == set()
    assert acquired_connections(client) == 0


async def test_bare_break_cleans_up_once_the_generator_is_finalised(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    gate = api.hold(operation="list", page=3)
    stream = client.share_links.stream(per_page=5, concurrency=4)
    async for _ in stream:
        break
    await gate.wait_for_waiting(1)
    assert other_tasks() != set()  # still running: nothing has finalised the generator yet
    del stream
    gc.collect()
    # The loop's async-generator finaliser schedules aclose(); let it run to completion.
    for _ in range(50):
        if not other_tasks():
            break
        await asyncio.sleep(0)
    assert other_tasks() == set()
    gate.release()
