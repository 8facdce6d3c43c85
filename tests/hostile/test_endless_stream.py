"""A lying server cannot hold a stream forever: three pages of nothing new end it.

The server answers every page with the same item, its ``currentPage`` the page asked for
and ``lastPage`` 10**12, so neither the page-number check nor the end of the listing
stops the stream; only the guard on pages that bring nothing new does.

The bound: the stream consumes page 1 (one new item) and pages 2..4 (nothing new), then
raises at page 4. Beyond those four pages, at most ``concurrency`` more were already asked
for (the engine's lookahead while page 4 is held); they are cancelled. So the server sees
between 4 and ``4 + concurrency`` requests: 4..5 at ``concurrency=1``, 4..8 at 4. In
general, ``k`` useful pages followed by lies cost at most ``k + 3 + concurrency`` requests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

from anam_async import AnamClient, APIResponseValidationError
from anam_async._paging import STALE_PAGES_LIMIT
from anam_async.testing import FakeAnamAPI, RecordedRequest

ITEM = {
    "id": str(uuid.UUID(int=7)),
    "token": "sh_same",
    "type": "LINK",
    "createdAt": "2026-04-20T10:00:00.000Z",
    "personaId": str(uuid.UUID(int=8)),
}


class LyingServer:
    """Every page holds ``ITEM``, except pages 2..``fresh_pages``: one new item each."""

    def __init__(self, *, fresh_pages: int = 1) -> None:
        self.requests = 0
        self.fresh_pages = fresh_pages

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        page = int(request.query.get("page", "1"))
        data: list[dict[str, Any]] = [ITEM]
        if 1 < page <= self.fresh_pages:
            data = [{**ITEM, "id": str(uuid.UUID(int=1000 + page))}]
        meta = {"total": 10**14, "lastPage": 10**12, "currentPage": page, "perPage": 1}
        meta |= {"prev": page - 1 or None, "next": page + 1}
        return web.Response(
            body=msgspec.json.encode({"data": data, "meta": meta}),
            content_type="application/json",
        )


@pytest.fixture
async def lying() -> AsyncIterator[tuple[LyingServer, str]]:
    server = LyingServer()
    app = web.Application()
    app.router.add_get("/v1/share-links", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_the_guard_is_three_pages() -> None:
    assert STALE_PAGES_LIMIT == 3


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("limit", [None, 5])
async def test_stream_ends_after_three_pages_that_bring_nothing_new(
    lying: tuple[LyingServer, str], concurrency: int, limit: int | None
) -> None:
    server, url = lying
    got: list[uuid.UUID] = []

    async def consume(client: AnamClient) -> None:
        stream = client.share_links.stream(per_page=1, concurrency=concurrency, limit=limit)
        async for link in stream:
            got.append(link.id)

    async with AnamClient("k", base_url=url) as client:
        with pytest.raises(APIResponseValidationError, match="3 pages in a row") as caught:
            await consume(client)
    assert got == [uuid.UUID(int=7)]
    message = str(caught.value)
    assert "pages 2..4" in message
    assert "only items already yielded" in message
    assert caught.value.status == 200
    # Page 1, then pages 2..4 of repeats; at most `concurrency` more were already asked for.
    assert 4 <= server.requests <= 4 + concurrency
    print(f"\nlying stream, concurrency={concurrency}, limit={limit}: {server.requests} requests")


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("limit", [None, 5])
async def test_pages_end_the_same_way(
    lying: tuple[LyingServer, str], concurrency: int, limit: int | None
) -> None:
    server, url = lying
    sizes: list[int] = []

    async def consume(client: AnamClient) -> None:
        pages = client.share_links.pages(per_page=1, concurrency=concurrency, limit=limit)
        async for page in pages:
            sizes.append(len(page.data))

    async with AnamClient("k", base_url=url) as client:
        with pytest.raises(APIResponseValidationError, match=r"pages 2\.\.4"):
            await consume(client)
    # The emptied pages 2 and 3 are still yielded; page 4 raises instead.
    assert sizes == [1, 0, 0]
    assert 4 <= server.requests <= 4 + concurrency
    print(f"\nlying pages, concurrency={concurrency}, limit={limit}: {server.requests} requests")


async def test_a_limit_reached_first_ends_the_pages_normally(
    lying: tuple[LyingServer, str],
) -> None:
    _, url = lying
    async with AnamClient("k", base_url=url) as client:
        sizes = [len(p.data) async for p in client.share_links.pages(per_page=1, limit=3)]
    assert sizes == [1, 0, 0]


async def test_fresh_items_start_the_count_over(lying: tuple[LyingServer, str]) -> None:
    """Pages 2..6 bring new items, then the lies begin: pages 7..9 end the stream."""
    server, url = lying
    server.fresh_pages = 6
    got: list[uuid.UUID] = []

    async def consume(client: AnamClient) -> None:
        async for link in client.share_links.stream(per_page=1, concurrency=2):
            got.append(link.id)

    async with AnamClient("k", base_url=url) as client:
        with pytest.raises(APIResponseValidationError, match=r"pages 7\.\.9"):
            await consume(client)
    assert got == [uuid.UUID(int=7), *(uuid.UUID(int=1000 + n) for n in range(2, 7))]
    assert server.requests <= 9 + 2


async def test_a_repeat_now_and_then_is_not_an_endless_stream(
    lying: tuple[LyingServer, str],
) -> None:
    """Every page from 2 on brings a new item: the stream runs to its limit."""
    server, url = lying
    server.fresh_pages = 10**12
    async with AnamClient("k", base_url=url) as client:
        got = [link.id async for link in client.share_links.stream(per_page=1, limit=20)]
    assert len(got) == 20
    assert len(set(got)) == 20


@pytest.mark.parametrize("shift_pages", [1, 2])
async def test_a_real_drift_that_repeats_pages_still_works(shift_pages: int) -> None:
    """Items inserted ahead push whole pages back: one or two stale pages, then on.

    Before page 3 is answered, ``shift_pages`` pages' worth of links are inserted at the
    front, so page 3 (and page 4 for a shift of 2) holds only links yielded already. The
    stream drops them, goes on, and yields every original link exactly once.
    """
    per_page = 10
    async with FakeAnamAPI(links=60) as api:
        original = [uuid.UUID(link["id"]) for link in api.links]
        inserted = False

        def shift(record: RecordedRequest) -> None:
            nonlocal inserted
            if record.operation == "list" and record.page == 3 and not inserted:
                inserted = True
                api.insert_links(per_page * shift_pages)

        api.on_request(shift)
        async with AnamClient(api.api_key, base_url=api.url) as client:
            pages = client.share_links.pages(per_page=per_page, concurrency=1)
            sizes = [len(page.data) async for page in pages]
            api.remove_request_hook(shift)
            inserted = True  # no more shifts
            got = [link.id async for link in client.share_links.stream(per_page=per_page)]
    assert sizes == [10, 10] + [0] * shift_pages + [10, 10, 10, 10]
    # The second run sees the grown listing, all of it, once.
    assert len(got) == len(set(got)) == 60 + per_page * shift_pages
    assert set(original) <= set(got)


async def test_a_real_drift_under_concurrency_raises_nothing() -> None:
    """Same drift with pages fetched concurrently: no error, no link twice."""
    async with FakeAnamAPI(links=60) as api:
        inserted = False

        def shift(record: RecordedRequest) -> None:
            nonlocal inserted
            if record.operation == "list" and record.page == 3 and not inserted:
                inserted = True
                api.insert_links(10)

        api.on_request(shift)
        async with AnamClient(api.api_key, base_url=api.url) as client:
            got = [link.id async for link in client.share_links.stream(per_page=10, concurrency=4)]
    assert len(got) == len(set(got))
    assert len(got) >= 50
